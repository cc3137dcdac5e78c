"""The jax backend: symgrad's code written with ``jax.numpy`` and compiled by ``jax.jit``.

The source is NumPy's emission with ``np`` bound to ``jax.numpy`` (see
symgrad.backends.array_api), without buffers; the runtime's updates become ``.at[...]``
and named sizes are static arguments of the jitted function, so each new size traces and
compiles once more (as any ``jax.jit`` of a new shape).  Calls take JAX arrays of the
declared dtype and shape straight to the jitted function; anything else takes the checked
path, and NumPy values go to the device as the jitted function's arguments.  Results are
JAX arrays on JAX's default device (a GPU or TPU where JAX has one, or the device of the
arguments).  Called on tracers, inside the user's ``jax.jit`` or ``jax.grad``, the function
traces into the user's computation.

Dtypes are kept as declared: tracing, compiling, running and casting arguments happen
inside ``jax.enable_x64(True)``, so float64 symbols give float64 results whatever the
process-wide setting.  PyTensor's JAX backend instead sets ``jax_enable_x64`` for the whole
process when it loads (when its floatX is float64); the scope here leaves the user's other
JAX code as it was (its arrays keep JAX's 32-bit defaults) and costs about 1 µs per call.
JAX code of the user's that computes on float64 results without x64 mode truncates them to
float32 (JAX warns): enable x64 there too to keep them.
"""
from __future__ import annotations

import marshal
import weakref

import jax
import jax.numpy as jnp
import jax.scipy.linalg
import jax.scipy.special
import numpy as np

from .array_api import ArrayBackend, Runtime


class JaxRuntime(Runtime):
    """The runtime for ``jax.numpy``: arrays are immutable, so updates return new arrays,
    and Python implementations run as host callbacks."""

    def _write(self, x, index, value):
        return x.at[index].set(value)

    def _add_at(self, x, index, value):
        return x.at[index].add(value)

    def argsort(self, x, axis):
        return jnp.argsort(x, axis=axis, stable=True)

    def while_loop(self, test, step, nc, *args):
        """``lax.while_loop`` over the carries (the closure read as it is)."""
        closure = args[nc:]
        return jax.lax.while_loop(lambda c: test(*c, *closure)[0],
                                  lambda c: tuple(step(*c, *closure)),
                                  tuple(jnp.asarray(a) for a in args[:nc]))

    def cond(self, pred, true_fn, false_fn, *args):
        """``lax.cond``: one branch runs on the device."""
        return jax.lax.cond(pred, lambda a: tuple(true_fn(*a)), lambda a: tuple(false_fn(*a)), args)

    def scan(self, step, nc, nx, length, reverse, stacks, *args):
        """The loop as ``lax.scan``, one compiled loop; the carries each step starts from
        are stacked as outputs (what reverse mode reads); XLA drops the stacks the function
        does not read (``stacks``: see ``runtime.scan``)."""
        carries, xs, closure = args[:nc], args[nc:nc + nx], args[nc + nx:]

        def body(carry, x):
            out = step(*carry, *x, *closure)
            return tuple(out[:nc]), (tuple(out[nc:]), carry)
        final, (ys, carries_in) = jax.lax.scan(body, tuple(jnp.asarray(c) for c in carries),
                                               tuple(xs), length=length, reverse=reverse)
        return (*final, *ys, *carries_in)

    def triangular_solve(self, a, b, lower=False, trans=0, unit_diagonal=False):
        """A triangular solve (XLA's), batch axes of ``a`` and ``b`` broadcast."""
        vector = b.ndim == 1
        if vector:
            b = b[:, None]
        batch = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        x = jax.scipy.linalg.solve_triangular(
            jnp.broadcast_to(a, batch + a.shape[-2:]), jnp.broadcast_to(b, batch + b.shape[-2:]),
            trans=trans, lower=lower, unit_diagonal=unit_diagonal)
        return x[..., 0] if vector else x

    def callback(self, fn, dtype, *args, **params):
        """``fn`` (a NumPy function of the host arrays ``args``) as ``jax.pure_callback``."""
        shape = jnp.broadcast_shapes(*(jnp.shape(a) for a in args))
        return jax.pure_callback(lambda *xs: np.asarray(fn(*xs, **params), dtype),
                                 jax.ShapeDtypeStruct(shape, dtype), *args,
                                 vmap_method="broadcast_all")


_JITTED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # body key -> jax.jit


def _body_key(fn, sizes: int) -> tuple:
    """What a generated body computes: its code with its own names erased, and the values
    of the globals it reads (constants by value; modules and functions themselves)."""
    code = fn.__code__
    names = fn.__globals__
    bound = tuple(_value_key(names[n]) for n in code.co_names if n in names)
    return marshal.dumps(code.replace(co_name="", co_qualname="", co_filename="")), sizes, bound


def _value_key(value):
    if isinstance(value, jax.Array):
        host = np.asarray(value)
        return host.dtype.str, host.shape, host.tobytes()
    return value


class JaxBackend(ArrayBackend):
    """``jax.numpy`` source, ``jax.jit`` compiled, run with 64-bit types enabled."""

    def __init__(self) -> None:
        super().__init__("jax", jnp, JaxRuntime(jnp, jax.scipy.special),
                         array_type=type(jnp.zeros(())), buffers=False)

    def load(self, fn, sizes: int):
        """``jax.jit`` of the generated function (the sizes static), called with 64-bit
        types enabled; the first call of each new shape traces and compiles.  Functions
        alive at once that compute the same thing share one jitted function (and what it
        compiled).  The jitted function is the wrapper's ``__wrapped__``."""
        key = _body_key(fn, sizes)
        jitted = _JITTED.get(key)
        if jitted is None:
            n = fn.__code__.co_argcount
            jitted = _JITTED[key] = jax.jit(fn, static_argnums=tuple(range(n - sizes, n)))
        x64 = jax.enable_x64

        def run(*args):
            with x64(True):
                return jitted(*args)
        run.__wrapped__ = jitted
        return run

    def asarray(self, value):
        """JAX arrays and tracers (a function called inside the user's ``jax.jit``) as they
        are; anything else as a NumPy array, which the jitted function takes onto the device
        itself (three times faster than ``jnp.asarray`` first), keeping its dtype: a Python
        float becomes a float64 array, never one of JAX's weakly typed scalars."""
        return value if isinstance(value, jax.Array) else np.asarray(value)

    def astype(self, array, dtype):
        with jax.enable_x64(True):
            return array.astype(dtype)

    def constant(self, value: np.ndarray):
        """A JAX array of the constant's dtype (``jax.jit`` embeds it in the compiled code)."""
        with jax.enable_x64(True):
            return jnp.asarray(value)


BACKEND = JaxBackend()
