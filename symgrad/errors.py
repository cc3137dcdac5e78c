"""Errors raised by symgrad: all derive from :class:`SymgradError`."""


class SymgradError(Exception):
    """Base class of every error symgrad raises on purpose."""


class ShapeError(SymgradError, ValueError):
    """Operand shapes do not fit the operation (raised when the expression is built)."""


class GraphMismatchError(SymgradError, ValueError):
    """Expressions from two different graphs were combined."""


class DisconnectedInputError(SymgradError, ValueError):
    """The cost does not depend on a requested ``wrt`` (with ``disconnected="raise"``)."""


class ArgumentError(SymgradError, TypeError):
    """A compiled function was called with the wrong arguments."""


class UnsupportedError(SymgradError, NotImplementedError):
    """The operation or construct is not supported by symgrad."""


class GradientCheckError(SymgradError, AssertionError):
    """``sg.check_grad(..., tol=...)`` found a derivative that differs from finite differences."""
