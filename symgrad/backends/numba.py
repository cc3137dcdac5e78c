"""The numba backend: compiled CPU code through numba, with no C compiler and no LLVM work per
function.

Compiling straight-line code with numba is slow (the depth-200 chain gradient, 3,000
statements, took 7.4 s to compile here, then ran in 6 µs), so this backend compiles its
interpreters once (``cache=True``: once per machine, about 2 s) and turns each function into
programs for them, arrays of instructions ``(opcode, destination, operands)`` over registers,
as CasADi's SX virtual machine does:

- **Scalar functions** (every value a float64 or bool scalar, every op in ``TABLE``) run
  wholly on the *tape* interpreter: the depth-200 chain gradient takes 13 µs a call (CasADi
  SX: 21 µs; the NumPy backend's Python floats: 85 µs) and compiles in 0.1 s, a linear pass
  over the graph.  Called with arrays for its scalars, the same tape runs entry by entry.
- **Array functions** are the NumPy backend's statements, except that each *region* (a
  maximal group of elementwise nodes of one shape with cheap ops, ``FUSED``) becomes one pass
  of the *block* interpreter, which runs the region's instructions on blocks of ``BLOCK``
  entries held in cache: the region reads its inputs and writes its outputs once
  (``d*a*(1-a)`` on 10^6 entries: 1.0 ms against NumPy's 2.1 ms).  Transcendental ops stay
  NumPy calls and split regions: NumPy's vectorised exp beats numba's libm calls 3 to 1 (a
  fused sigmoid: 6.9 ms against NumPy's 2.3 ms).  A region is fused where that pays (see
  ``_Region.worth``).
- **Loops** (``sg.scan``, ``sg.while_loop``) whose step has scalars or small arrays of
  fixed shapes: the step is written entry by entry into one tape (matrix products as sums
  of products, moves of entries as moves of registers, as CasADi's SX expands matrices)
  and the whole loop is one call of the tape interpreter's loop (``run_scan``,
  ``run_while``): RK4 on a 10-state ODE, 1,000 steps and back, 7.5 ms against 61 ms as
  NumPy calls.  Other steps run as array functions in a Python loop.

Values are NumPy's: the interpreters use numba's NumPy error model (``1/0`` is ``inf``,
``log(0)`` is ``-inf``, never an exception or a warning), bools are held as 0.0 and 1.0, and
ops whose libm and NumPy results may differ beyond rounding (cbrt, SciPy's functions) are
left to NumPy.
"""
from __future__ import annotations

import math
import weakref
from types import SimpleNamespace

import numba
import numpy as np

from .. import runtime
from ..compile import _EmitContext, _literal
from ..op import REGISTRY
from ..scalar_math import MATH
from . import Backend

BLOCK = 512  # entries per block of the block interpreter: its registers stay in L1/L2
# the block interpreter takes a region's arrays as a tuple padded to 4, 8, 16 or 32 entries:
# numba compiles it once per length (2.5 s each, then cached), and a region with more arrays
# stays NumPy
BUCKETS = (4, 8, 16, 32)
# a fused call costs about 3 µs more than a NumPy call: on arrays smaller than SMALL entries
# it pays with MANY ops or more (measured: 2 ops on 1,000 entries, 3.9 µs against NumPy's
# 3.2; 8 ops, 5.0 against 5.3; 2 ops on 10^6 entries, 1.1 ms against 2.7)
SMALL, MANY = 4096, 8

# op: its value in numba from the operands {0} {1} {2} (float64; a bool is 0.0 or 1.0): the
# scalar-math templates (symgrad.scalar_math, which match NumPy's values) and these
TABLE = {name: template for name, template in MATH.items()
         if name not in ("int_power", "name", "stop_gradient")}  # see _key
TABLE.update({
    "copy": "{0}", "truth": "{0} != 0.0", "reciprocal": "1.0 / {0}",
    "floor": "np.floor({0})", "ceil": "np.ceil({0})", "exp2": "np.exp2({0})", "mod": "{0} % {1}",
    "clip": "_minimum(_maximum({0}, {1}), {2})", "logaddexp": "_logaddexp({0}, {1})",
    "logical_and": "{0} != 0.0 and {1} != 0.0", "logical_or": "{0} != 0.0 or {1} != 0.0",
    "logical_xor": "({0} != 0.0) != ({1} != 0.0)", "logical_not": "{0} == 0.0",
    "xlogy": "(0.0 if {0} == 0.0 else {0} * math.log({1}))",  # as runtime.xlogy
    "xlog1py": "(0.0 if {0} == 0.0 and {1} == {1} else {0} * math.log1p({1}))",  # as SciPy's
})
BOOLS = {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "truth",
         "logical_and", "logical_or", "logical_xor", "logical_not"}  # stored as 1.0 if ... else 0.0
# cheap ops (a few vector instructions each): a region of them is fused; the others (libm
# calls, slower in numba than NumPy's vectorised loops) stay NumPy calls on arrays
FUSED = BOOLS | {"add", "sub", "mul", "div", "neg", "square", "abs", "sqrt", "reciprocal",
                 "maximum", "minimum", "relu", "sign", "where", "clip", "floor", "ceil", "copy"}
OPCODE = {name: code for code, name in enumerate(TABLE)}
_FLOATS = (np.dtype(np.float64), np.dtype(bool))  # the dtypes the interpreters hold


def _kernels_source() -> str:
    """The two interpreters, one branch per op of TABLE (the block one for FUSED only)."""
    tape, block = [], []
    for name, code in OPCODE.items():
        scalar = TABLE[name].format("x", "r[code[k, 3]]", "r[code[k, 4]]")  # loaded if used
        entry = TABLE[name].format("x[i]", "y[i]", "z[i]")
        if name in BOOLS:
            scalar, entry = f"1.0 if {scalar} else 0.0", f"1.0 if {entry} else 0.0"
        branch = "elif" if tape else "if"
        tape.append(f"        {branch} op == {code}:\n            v = {scalar}")
        if name in FUSED:
            block.append(f"            {'elif' if block else 'if'} op == {code}:\n"
                         f"                for i in range(m):\n                    d[i] = {entry}")
    return _KERNELS.format(tape="\n".join(tape), block="\n".join(block), BLOCK=BLOCK)


_KERNELS = '''
def _maximum(x, y):
    return x if x > y or x != x else y


def _minimum(x, y):
    return x if x < y or x != x else y


def _logaddexp(x, y):
    if x == y:  # NumPy's npy_logaddexp: equal infinities give no NaN
        return x + 0.6931471805599453
    t = x - y
    if t > 0.0:
        return x + math.log1p(math.exp(-t))
    if t <= 0.0:
        return y + math.log1p(math.exp(t))
    return t


def run_code(code, r):
    """Run the tape's instructions on the registers ``r``, in place."""
    for k in range(code.shape[0]):
        op = code[k, 0]
        x = r[code[k, 2]]
{tape}
        else:
            v = math.nan
        r[code[k, 1]] = v


def run_tape(code, init, args, n_in, outs):
    """Run the tape on ``init`` (the registers: constants placed) with the inputs ``args``
    (input-major, n entries each); returns the outputs, output-major."""
    n = args.size // n_in if n_in else 1
    r = init.copy()
    res = np.empty(outs.size * n)
    for j in range(n):
        for i in range(n_in):
            r[i] = args[i * n + j]
        run_code(code, r)
        for o in range(outs.size):
            res[o * n + j] = r[outs[o]]
    return res


def run_scan(code, init, outs, start, xs, closure, reverse):
    """A loop of the tape (``sg.scan`` of a scalar step): its registers are the carries
    (from ``start``), one entry of each row of ``xs`` per step, then ``closure``; its
    outputs ``outs`` the new carries, then the step's outputs.  Returns the final carries,
    the outputs per step and the carries each step started from."""
    nc, nx = start.size, xs.shape[0]
    length = xs.shape[1]
    r = init.copy()
    r[nc + nx:nc + nx + closure.size] = closure
    ys = np.empty((outs.size - nc, length))
    carries_in = np.empty((nc, length))
    c = start.copy()
    for s in range(length):
        t = length - 1 - s if reverse else s
        for i in range(nc):
            r[i] = c[i]
            carries_in[i, t] = c[i]
        for i in range(nx):
            r[nc + i] = xs[i, t]
        run_code(code, r)
        for i in range(nc):
            c[i] = r[outs[i]]
        for j in range(outs.size - nc):
            ys[j, t] = r[outs[nc + j]]
    return c, ys, carries_in


def run_while(test, test_init, test_out, step, step_init, step_outs, start, closure):
    """``sg.while_loop`` of tapes: ``step`` (registers: the carries, then ``closure``;
    outputs ``step_outs``) while ``test`` (the same registers; output ``test_out``) holds."""
    nc = start.size
    t, r = test_init.copy(), step_init.copy()
    t[nc:nc + closure.size] = closure
    r[nc:nc + closure.size] = closure
    c = start.copy()
    while True:
        t[:nc] = c
        run_code(test, t)
        if t[test_out] == 0.0:
            return c
        r[:nc] = c
        run_code(step, r)
        for i in range(nc):
            c[i] = r[step_outs[i]]


def run_block(code, values, arrays, n_regs):
    """Run a fused region on 1-D ``arrays`` (inputs then outputs, of one size) block by
    block: operand slots below len(arrays) are arrays, the others registers (``values``
    first: constants and scalars, filled once)."""
    na = len(arrays)
    n = arrays[0].size
    R = np.empty((n_regs, max(1, min(n, {BLOCK}))))
    for s in range(values.size):
        R[s, :] = values[s]
    for start in range(0, n, {BLOCK}):
        m = min({BLOCK}, n - start)
        stop = start + m
        for k in range(code.shape[0]):
            op = code[k, 0]
            s = code[k, 1]
            d = arrays[s][start:stop] if s < na else R[s - na, :m]
            s = code[k, 2]
            x = arrays[s][start:stop] if s < na else R[s - na, :m]
            s = code[k, 3]
            y = arrays[s][start:stop] if s < na else R[s - na, :m]
            s = code[k, 4]
            z = arrays[s][start:stop] if s < na else R[s - na, :m]
{block}
    return n
'''


def _compile_kernels() -> dict:
    """The interpreters, compiled by numba on first use.  Their source is generated from this
    file's tables and compiled under this file's name, so numba's cache (keyed by the file)
    keeps them across processes and drops them when this file changes."""
    namespace = {"__name__": __name__, "math": math, "np": np}
    exec(compile(_kernels_source(), __file__, "exec"), namespace)  # our own source, see above
    for name in ("_maximum", "_minimum", "_logaddexp", "run_code", "run_tape", "run_scan",
                 "run_while", "run_block"):
        try:
            namespace[name] = numba.njit(cache=True, error_model="numpy")(namespace[name])
        except RuntimeError:  # no cache directory numba can write: compile in each process
            namespace[name] = numba.njit(error_model="numpy")(namespace[name])
    return namespace


_K = _compile_kernels()
_run_tape, _run_scan, _run_while, _run_block = (
    _K[name] for name in ("run_tape", "run_scan", "run_while", "run_block"))
_NONE = np.empty(0)


def _key(g, node):
    """``(TABLE name, constant operands)`` of a node, or None when TABLE has no such op."""
    attrs = g[node]
    op, params = attrs["op"], dict(attrs["params"])
    if op in ("name", "stop_gradient"):
        return "copy", ()
    if op == "int_power":  # as runtime.int_power: x * x, 1 / x, else pow
        n = params["n"]
        return ("square", ()) if n == 2 else ("reciprocal", ()) if n == -1 else \
            ("power", (float(n),))
    if op == "cast":
        dtype = np.dtype(params["dtype"])
        return (("truth" if dtype == bool else "copy"), ()) if dtype in _FLOATS else None
    return (op, ()) if op in TABLE and not params else None


def _assemble(steps: list, slot: dict, first: int, keep) -> tuple:
    """The instruction rows of ``steps`` (``(node, name, operands)``, operands being keys of
    ``slot``: nodes, or an int_power's exponent) with registers from ``first`` on,
    each reused once its value is dead (never as an operand of its own instruction, so a
    block's loops never alias); ``keep``: nodes whose registers stay live.  Returns
    ``(rows, number of slots)``; ``slot`` gains every node."""
    last = {}
    for k, (_, _, operands) in enumerate(steps):
        for a in operands:
            last[a] = k
    for node in keep:
        last[node] = len(steps)
    free, top, rows = [], first, []
    for k, (node, name, operands) in enumerate(steps):
        args = [slot[a] for a in operands]
        if free:
            slot[node] = free.pop()
        else:
            slot[node], top = top, top + 1
        rows.append([OPCODE[name], slot[node], *args] + [0] * (3 - len(args)))
        for a in set(operands):
            if last[a] == k and slot[a] >= first:
                free.append(slot[a])
    return rows, top


def _code(rows: list) -> np.ndarray:
    return np.array(rows, np.int32).reshape(-1, 5)


class Tape:
    """A scalar function compiled for the tape interpreter: called with its inputs (floats or
    NumPy scalars) it returns its outputs in an array (bools as 0.0 and 1.0); called with
    arrays for them, a list of arrays of their broadcast shape, computed element by element."""

    __slots__ = ("code", "registers", "outs", "n_in")

    def __init__(self, code: np.ndarray, registers: np.ndarray, outs: list, n_in: int) -> None:
        self.code, self.registers, self.n_in = code, registers, n_in
        self.outs = np.array(outs, np.int64)

    def __call__(self, *args):
        try:
            x = np.array(args, np.float64)
        except ValueError:  # arrays of different shapes
            x = None
        if x is not None and x.ndim == 1:
            return _run_tape(self.code, self.registers, x, self.n_in, self.outs)
        arrays = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in args))
        x = np.array(arrays, np.float64).reshape(-1)
        r = _run_tape(self.code, self.registers, x, self.n_in, self.outs)
        return list(r.reshape((len(self.outs), *arrays[0].shape)))


class Fused:
    """A fused region compiled for the block interpreter: ``k((inputs..., outputs...),
    *scalars)`` writes the outputs; the arrays all have the region's shape, the scalars are
    0-d values.  The interpreter sees each array flattened in C order (a copy where it is not
    contiguous, written back for an output)."""

    __slots__ = ("code", "consts", "n_regs", "padding", "first_output")

    def __init__(self, code: np.ndarray, consts: list, n_regs: int, n_inputs: int,
                 n_outputs: int) -> None:
        self.code, self.consts, self.n_regs = code, np.array(consts, np.float64), n_regs
        self.padding = (_NONE,) * (_bucket(n_inputs + n_outputs) - n_inputs - n_outputs)
        self.first_output = n_inputs

    def __call__(self, arrays: tuple, *scalars) -> None:
        values = np.concatenate((self.consts, scalars)) if scalars else self.consts
        flat = tuple([a.ravel() for a in arrays])
        _run_block(self.code, values, flat + self.padding, self.n_regs)
        for k in range(self.first_output, len(arrays)):
            if not arrays[k].flags.c_contiguous:  # its ravel was a copy: write it back
                arrays[k][...] = flat[k].reshape(arrays[k].shape)


def _bucket(n: int) -> int:
    """The length of the padded tuple of ``n`` arrays (0 when too many)."""
    return next((b for b in BUCKETS if n <= b), 0)


def _scalar(g, node) -> bool:
    attrs = g[node]
    return attrs["shape"] == () and attrs["dtype"] in _FLOATS


def _tape(plan) -> Tape | None:
    """The Tape of a function whose every value is a float64 or bool scalar computed by an
    op of TABLE, else None.  Registers: the inputs, the constants,
    then the temporaries."""
    g = plan.g
    if not all(_scalar(g, x.node) for x in plan.inputs):
        return None
    slot = {x.node: i for i, x in enumerate(plan.inputs)}
    values = [0.0] * len(slot)
    steps = []
    for node in plan.order:
        if not _scalar(g, node):
            return None
        attrs = g[node]
        if attrs["op"] == "constant":
            slot[node] = len(values)
            values.append(float(attrs["value"]))
            continue
        key = _key(g, node)
        if key is None:
            return None
        name, extra = key
        for v in extra:  # the exponent of int_power
            slot[node, v] = len(values)
            values.append(v)
        steps.append((node, name, list(attrs["args"]) + [(node, v) for v in extra]))
    outs = [e.node for e in plan.outputs]
    rows, n = _assemble(steps, slot, len(values), outs)
    registers = np.zeros(n)
    registers[:len(values)] = values
    return Tape(_code(rows), registers, [slot[o] for o in outs], len(plan.inputs))


def _fusable(g, node) -> bool:
    """Whether a node may join a fused region: a FUSED op on arrays of its own shape or
    scalars, computing float64 (or bool, held as 0.0 and 1.0)."""
    attrs = g[node]
    shape = attrs["shape"]
    if shape == () or attrs["dtype"] not in _FLOATS:
        return False
    key = _key(g, node)
    return key is not None and key[0] in FUSED and all(
        g[a]["shape"] in (shape, ()) and g[a]["dtype"].kind in "biuf" for a in attrs["args"])


def _regions(g, order: list, out_nodes: set) -> list:
    """The groups of fusable nodes, ``[(members, outputs)]`` each in order.  A node joins the
    open regions of its arguments (merging them); a region closes once a node outside it
    reads one of its members, so each region can run as one pass where its last member is
    (everything it reads is computed before, everything reading it comes after) and regions
    never depend on each other both ways.  Outputs: members read outside or returned."""
    region, parent, closed = {}, [], set()

    def find(r: int) -> int:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    for node in order:
        args = g[node]["args"]
        mine = None
        if _fusable(g, node):
            near = {find(region[a]) for a in args if a in region} - closed
            mine = min(near) if near else len(parent)
            if not near:
                parent.append(mine)
            for r in near:
                parent[r] = mine
            region[node] = mine
        for a in args:
            if a in region and find(region[a]) != mine:
                closed.add(find(region[a]))
    groups: dict = {}
    outputs = out_nodes & region.keys()
    for node in order:
        mine = find(region[node]) if node in region else None
        if mine is not None:
            groups.setdefault(mine, []).append(node)
        outputs.update(a for a in g[node]["args"] if a in region and find(region[a]) != mine)
    return [(members, [m for m in members if m in outputs]) for members in groups.values()]


class _Region:
    """A group of fusable nodes: its members and outputs (in order), the arrays, constants
    and scalars it reads from outside, and (once compiled) its program; a group of
    symgrad.compile._body, which places its call."""

    def __init__(self, g, members: list, outputs: list, backend: Backend) -> None:
        self.g, self.backend = g, backend
        self.members, self.outputs = members, outputs
        inside = set(members)
        outside = dict.fromkeys(a for m in members for a in g[m]["args"] if a not in inside)
        self.arrays = [a for a in outside if g[a]["shape"]]
        self.consts = [a for a in outside if not g[a]["shape"] and g[a]["op"] == "constant"]
        self.scalars = [a for a in outside if not g[a]["shape"] and g[a]["op"] != "constant"]
        self.inputs = self.arrays + self.scalars  # what the body reads
        self.program, self.name = None, ""  # set by compile and lower

    def lines(self, names: dict, ctx) -> list:
        """The members as comments (NumPy's statements), then the call of the program,
        ``k0((inputs..., outputs...), scalars...)``."""
        lines = [f"    # one numba pass over {len(self.members)} elementwise ops:"]
        for m in self.members:
            op, args = REGISTRY[self.g[m]["op"]], [names[a] for a in self.g[m]["args"]]
            code = self.backend.emit(op, args, dict(self.g[m]["params"]), ctx, None)
            lines.append(f"    #   {names[m]} = {code}")
        arrays = ", ".join(names[a] for a in self.arrays + self.outputs)  # two at least
        scalars = "".join(f", {names[a]}" for a in self.scalars)
        return lines + [f"    {self.name}(({arrays}){scalars})"]

    def worth(self, g) -> bool:
        """The rule: fuse where a pass over memory is saved and the call's fixed cost repaid:
        at least MANY ops, or at least two on arrays not known to be smaller than SMALL
        entries; its arrays (inputs and outputs) float64, at most BUCKETS[-1] of them."""
        shape = g[self.members[0]]["shape"]
        small = all(isinstance(d, int) for d in shape) and math.prod(shape) < SMALL
        n = len(self.members)
        return (n >= MANY or n >= 2 and not small) and \
            bool(_bucket(len(self.arrays) + len(self.outputs))) and \
            all(g[a]["dtype"] == np.float64 for a in self.arrays + self.outputs)

    def compile(self, g) -> None:
        """The block program: slots below the padded number of arrays are the arrays (inputs,
        then outputs), then the registers: constants, scalars, temporaries.  The outputs are
        stored at the end, so an output may be written into an input's buffer."""
        na = _bucket(len(self.arrays) + len(self.outputs))
        slot = {a: i for i, a in enumerate(self.arrays)}
        slot.update((a, na + i) for i, a in enumerate(self.consts + self.scalars))
        steps = [(m, _key(g, m)[0], list(g[m]["args"])) for m in self.members]
        rows, n = _assemble(steps, slot, na + len(self.consts) + len(self.scalars), self.outputs)
        first = len(self.arrays)
        rows += [[OPCODE["copy"], first + j, slot[o], 0, 0] for j, o in enumerate(self.outputs)]
        self.program = Fused(_code(rows), [float(g[c]["value"]) for c in self.consts], n - na,
                             first, len(self.outputs))


class NumbaBackend(Backend):
    """Numba: scalar functions on the tape interpreter, array functions as NumPy calls with
    their cheap elementwise regions fused into block-interpreter passes (module docstring).

    >>> sg.function([x], [sg.sin(x) * x], backend="numba")
    """

    quiet_numpy = True  # the NumPy calls of array functions
    numpy_scalars = True

    def lower(self, plan) -> list:
        tape = _tape(plan)
        if tape is not None:
            return self._tape_body(plan, tape)
        out_nodes = {e.node for e in plan.outputs}
        regions = [r for r in (_Region(plan.g, m, o, self) for m, o in
                               _regions(plan.g, plan.order, out_nodes)) if r.worth(plan.g)]
        for k, r in enumerate(regions):
            r.compile(plan.g)
            r.name = f"k{k}"
            plan.namespace[r.name] = r.program
        return plan.generic(self, groups=regions)

    def _tape_body(self, plan, tape: Tape) -> list:
        """``return tape(a0, ...)``, after the tape's statements as comments."""
        plan.namespace["tape"] = tape
        names = {x.node: f"a{i}" for i, x in enumerate(plan.inputs)}
        ctx = _EmitContext(plan.dim_vars, plan.namespace)
        listing = []
        for node in plan.order:
            attrs = plan.g[node]
            if attrs["op"] == "constant":
                names[node] = _literal(attrs["value"])
                continue
            names[node] = f"t{node}"
            op = REGISTRY[attrs["op"]]
            emit = op.emitters.get("math") or op.emitters["numpy"]
            args = [names[a] for a in attrs["args"]]
            listing.append(f"    #   t{node} = {emit(args, dict(attrs['params']), ctx)}")
        results = ", ".join(names[e.node] for e in plan.outputs)
        values = [f"r[{k}]" + (" != 0.0" if plan.g[e.node]["dtype"] == bool else "")
                  for k, e in enumerate(plan.outputs)]
        return [f"    # numba tape: {len(tape.code)} instructions over {len(tape.registers)} "
                "registers computing"] + listing + [
            f"    #   -> ({results})",
            f"    r = tape({', '.join(f'a{i}' for i in range(len(plan.inputs)))})",
            f"    return ({', '.join(values)}{',' if len(values) == 1 else ''})"]


# -- loops: a step written entry by entry into one tape, the whole loop one call ------------
ENTRY_COST = 300  # tape instructions a loop's step may take per node: about one NumPy call's time
# ops whose NumPy implementation, run on arrays of entries, writes their value: moves of
# entries, and sums of products (an entry's arithmetic writes instructions)
ENTRYWISE = ("getitem", "transpose", "reshape", "broadcast_to", "concatenate", "scatter",
             "diagonal", "sum", "matmul")


class _TooLong(Exception):
    """A step longer than its tape may be."""


class _Writer:
    """A tape being written: registers for the inputs' entries, then constants as met;
    ``steps`` as :func:`_assemble` takes them, each result an :class:`_Entry`."""

    def __init__(self, limit: int) -> None:
        self.limit, self.steps, self.slot, self.values = limit, [], {}, []

    def inputs(self, shape: tuple) -> np.ndarray:
        """An array of new input entries."""
        entries = np.empty(shape, object)
        for index in np.ndindex(shape):
            entries[index] = entry = _Entry(self)
            self.slot[entry] = len(self.values)
            self.values.append(0.0)
        return entries

    def operand(self, x):
        """An entry as it is, a number as its constant register's key."""
        if isinstance(x, _Entry):
            return x
        key = ("constant", float(x))
        if key not in self.slot:
            self.slot[key] = len(self.values)
            self.values.append(float(x))
        return key

    def write(self, name: str, *operands) -> "_Entry":
        if len(self.steps) >= self.limit:
            raise _TooLong
        entry = _Entry(self)
        self.steps.append((entry, name, [self.operand(x) for x in operands]))
        return entry


class _Entry:
    """One entry of a value written into a tape: its arithmetic writes instructions, so
    NumPy's functions on arrays of entries (``matmul``, ``sum``) write sums of products."""

    __slots__ = ("tape",)

    def __init__(self, tape: _Writer) -> None:
        self.tape = tape

    def __neg__(self):
        return self.tape.write("neg", self)


def _arithmetic(name: str, swapped: bool):
    def method(self, other):
        return self.tape.write(name, *((other, self) if swapped else (self, other)))
    return method


for _dunder, _name in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div")):
    setattr(_Entry, f"__{_dunder}__", _arithmetic(_name, False))
    setattr(_Entry, f"__r{_dunder}__", _arithmetic(_name, True))


def _entrywise(g, inputs: list, outputs: list) -> Tape | None:
    """The tape computing ``outputs`` from ``inputs`` (a loop's step) with every array
    written entry by entry, as CasADi's SX expands matrices: TABLE's elementwise ops per
    entry, the ops of ENTRYWISE by their NumPy implementation on arrays of entries.  None
    when a value has a named size or a dtype the tape does not hold, an op is neither, or
    the tape would be longer than ENTRY_COST instructions per node."""
    mark = {x.node for x in inputs}
    order = sorted(g.ancestors([e.node for e in outputs], stop=mark) - mark)
    ends = [x.dims for x in inputs + outputs]
    if not all(isinstance(d, int) for shape in ends + [g[n]["shape"] for n in order]
               for d in shape):
        return None
    limit = ENTRY_COST * max(len(order), 1)
    if sum(math.prod(shape) for shape in ends) > limit:
        return None
    writer = _Writer(limit)
    value = {x.node: writer.inputs(x.dims) for x in inputs}
    try:
        for node in order:
            attrs = g[node]
            args = [value[a] for a in attrs["args"]]
            if attrs["op"] == "constant":
                value[node] = attrs["value"]
            elif attrs["dtype"] not in _FLOATS:
                return None
            elif (key := _key(g, node)) is not None:
                name, extra = key
                value[node] = args[0] if name == "copy" else np.asarray(np.frompyfunc(
                    lambda *xs: writer.write(name, *xs, *extra), len(args), 1)(*args), object)
            elif attrs["op"] in ENTRYWISE:
                value[node] = np.asarray(REGISTRY[attrs["op"]].impl(*args, **dict(attrs["params"])),
                                         object)
            else:
                return None
            if np.shape(value[node]) != attrs["shape"]:
                return None
    except (_TooLong, TypeError, ValueError):  # too long, or an implementation refused entries
        return None
    outs = [writer.operand(x) for e in outputs for x in np.asarray(value[e.node], object).flat]
    rows, n = _assemble(writer.steps, writer.slot, len(writer.values), outs)
    registers = np.zeros(n)
    registers[:len(writer.values)] = writer.values
    return Tape(_code(rows), registers, [writer.slot[o] for o in outs],
                sum(math.prod(x.dims) for x in inputs))


_LOOP_TAPES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _loop_tape(step) -> Tape | None:
    """A loop's compiled step (a Function) as one tape, or None (see :func:`_entrywise`)."""
    if step not in _LOOP_TAPES:
        _LOOP_TAPES[step] = _entrywise(step.inputs[0].g, step.inputs, step.outputs)
    return _LOOP_TAPES[step]


def _flat(arrays) -> np.ndarray:
    """The arrays' entries one after another, as float64."""
    return np.concatenate([np.ravel(a) for a in arrays] + [np.empty(0)]).astype(np.float64)


def _cut(values: np.ndarray, exprs: list) -> list:
    """``values`` (entries along the first axis, steps along the second if there is one) as
    arrays of the expressions' shapes and dtypes, steps in front (a bool was 0.0 or 1.0)."""
    out, start = [], 0
    for e in exprs:
        part = values[start:start + math.prod(e.dims)]
        start += len(part)
        part = part.reshape(e.dims) if part.ndim == 1 else part.T.reshape((-1, *e.dims))
        out.append(part.astype(e.dtype) if part.ndim else e.dtype.type(part[()]))
    return out


def scan(step, nc: int, nx: int, length: int, reverse: bool, stacks: tuple, *args) -> tuple:
    """``runtime.scan``: one compiled call of the tape interpreter's loop where the step is
    a tape (small arrays of fixed shapes, see :func:`_entrywise`), else the Python loop."""
    tape = _loop_tape(step)
    if tape is None or length < 1:
        return runtime.scan(step, nc, nx, length, reverse, stacks, *args)
    xs = np.concatenate([np.reshape(x, (length, -1)) for x in args[nc:nc + nx]]
                        + [np.empty((length, 0))], axis=1)
    final, ys, carries_in = _run_scan(tape.code, tape.registers, tape.outs, _flat(args[:nc]),
                                      np.ascontiguousarray(xs.T, np.float64),
                                      _flat(args[nc + nx:]), reverse)
    new = step.outputs  # the new carries, then the outputs
    return (*_cut(final, new[:nc]), *_cut(ys, new[nc:]), *_cut(carries_in, new[:nc]))


def while_loop(test, step, nc: int, *args) -> tuple:
    """``runtime.while_loop``: one compiled call where ``test`` and ``step`` are tapes."""
    t, s = _loop_tape(test), _loop_tape(step)
    if t is None or s is None:
        return runtime.while_loop(test, step, nc, *args)
    final = _run_while(t.code, t.registers, t.outs[0], s.code, s.registers, s.outs,
                       _flat(args[:nc]), _flat(args[nc:]))
    return tuple(_cut(final, step.outputs))


# the generated code's ``rt``: symgrad.runtime, with loops of small steps compiled
RUNTIME = SimpleNamespace(**{**vars(runtime), "scan": scan, "while_loop": while_loop})
BACKEND = NumbaBackend("numba", {"np": np, "rt": RUNTIME})
