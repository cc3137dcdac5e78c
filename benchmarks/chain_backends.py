"""The deep scalar chain on every backend beside CasADi SX, and fused elementwise chains.

1. The gradient (value and derivative) of ``x <- sin(x)·x + 0.5·exp(-x²)`` at depths 200,
   2,000 and 20,000 on the backends numpy, numba and jax (those of ``sg.backends.available()``)
   beside CasADi SX (build, ``gradient``, ``ca.Function``) and, where installed, SymEngine's
   LLVM ``Lambdify`` and PyTensor's C backend (those three at depth 200 only: their compilers
   take minutes beyond, see UP_TO): per call (interleaved, least of the repeats) and compile time (build + derivative
   + compile, and the first call apart).  Targets for numba: at most 25 µs per call and 2 s
   to compile at depth 200 (its interpreters loaded from numba's cache; the first use on a
   machine, with an empty cache, is printed too).
2. Value and gradient of elementwise chains on 10^6 entries: a polynomial one
   (``y <- 3.9·y·(1 - y)``, 8 steps) and a transcendental one (the chain above, 4 steps), on
   the numba and numpy backends (and jax, its arrays waited for) beside the same written by
   hand with NumPy (forward keeping what the backward sweep needs, in place).
   Targets for numba: faster than numpy on the polynomial chain (fusion wins), no slower
   (ratio at most 1.05) on the transcendental one (NumPy's own loops kept).

    python benchmarks/chain_backends.py [depth ...]
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import _harness as H  # first: pins the thread count before NumPy loads

import numpy as np

import symgrad as sg
from chain import chain_function

DEPTHS = {200: 3, 2_000: 2, 20_000: 1}  # depth: compile repeats (the least time is reported)
# contenders timed only up to a depth: beyond it their compilers take minutes (measured here:
# PyTensor's C 6 s at depth 200; the jax backend's XLA more than 300 s at depth 2,000)
UP_TO = {"symgrad jax": 200, "SymEngine LLVM": 200, "PyTensor C": 200}
BACKENDS = []  # the symgrad backends among numpy, numba and jax that work here (main)
X0 = 0.3
N = 10**6


# -- part 1: the scalar chain -------------------------------------------------------------
def timed(build):
    """``(the function build() makes, seconds to make it, seconds of its first call)``."""
    start = time.perf_counter()
    fn = build()
    compiled = time.perf_counter()
    fn(X0)
    return fn, compiled - start, time.perf_counter() - compiled


def symgrad_chain(depth: int, backend: str):
    """The chain's value and derivative compiled for ``backend`` in a fresh graph, timed."""
    return timed(lambda: chain_function(depth, backend))


def unrolled(lib, x0, depth: int):
    """The chain written with a peer's ``sin`` and ``exp``."""
    x = x0
    for _ in range(depth):
        x = lib.sin(x) * x + 0.5 * lib.exp(-x * x)
    return x


def casadi_chain(depth: int):
    import casadi as ca
    x0 = ca.SX.sym("x")
    return timed(lambda: ca.Function("f", [x0], [x := unrolled(ca, x0, depth),
                                                  ca.gradient(x, x0)]))


def symengine_chain(depth: int):
    import symengine as se
    x0 = se.Symbol("x")
    return timed(lambda: se.Lambdify([x0], [x := unrolled(se, x0, depth), x.diff(x0)],
                                     backend="llvm", cse=True))


def pytensor_chain(depth: int):
    import pytensor
    import pytensor.tensor as pt
    x0 = pt.dscalar("x")
    return timed(lambda: pytensor.function([x0], [x := unrolled(pt, x0, depth),
                                                  pytensor.grad(x, x0)]))


def peers(depth: int) -> dict:
    """The installed peers that run at ``depth``: ``{name: builder}``."""
    found = {}
    for name, module, build in [("CasADi SX", "casadi", casadi_chain),
                                ("SymEngine LLVM", "symengine", symengine_chain),
                                ("PyTensor C", "pytensor", pytensor_chain)]:
        try:
            __import__(module)
        except ImportError:
            print(f"  ({name} is not installed: left out)")
            continue
        found[name] = build
    return found


def first_use_seconds(depth: int) -> float | None:
    """Derive + compile + first call of the numba chain in a fresh process whose numba cache
    is empty: the one-time cost of compiling the interpreters on a machine."""
    code = ("import time, sys; sys.path.insert(0, 'benchmarks'); import chain_backends as C; "
            f"t = time.perf_counter(); C.symgrad_chain({depth}, 'numba'); "
            "print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return float(run.stdout.split()[-1]) if run.returncode == 0 else None


def values(fn) -> np.ndarray:
    """A contender's value and derivative at X0 as one flat array (CasADi gives DMs)."""
    return np.concatenate([np.asarray(v, np.float64).ravel() for v in fn(X0)])


def verdict(ok: bool, number: str) -> str:
    return f"met ({number})" if ok else f"MISSED ({number})"


def chain_part(depths: list) -> None:
    print(f"part 1: gradient of the chain x <- sin(x)*x + 0.5*exp(-x^2) at x = {X0}; "
          f"symgrad backends {', '.join(BACKENDS)}")
    first_process = True  # the first numba function of the process: its numbers are kept
    for depth in depths:
        contenders = {f"symgrad {b}": (lambda d, b=b: symgrad_chain(d, b)) for b in BACKENDS}
        contenders.update(peers(depth))
        left = [name for name in contenders if depth > UP_TO.get(name, depth)]
        if left:
            print(f"  depth {depth}: left out (compile takes minutes): {', '.join(left)}")
        contenders = {name: build for name, build in contenders.items() if name not in left}
        fns, derive, first = {}, {}, {}
        for r in range(DEPTHS.get(depth, 1)):
            for name, build in (contenders.items() if r % 2 == 0 else reversed(contenders.items())):
                fn, t_derive, t_first = build(depth)
                if first_process is True and name == "symgrad numba":
                    first_process = (t_derive, t_first)
                    print(f"  depth {depth}: the first numba function of the process (its "
                          f"interpreters loaded from numba's cache): derive + compile "
                          f"{t_derive:.3f} s, first call {t_first:.3f} s")
                fns[name] = fn
                derive[name] = min(derive.get(name, np.inf), t_derive)
                first[name] = min(first.get(name, np.inf), t_first)
        reference = values(fns["CasADi SX"]) if "CasADi SX" in fns else None
        for name, fn in fns.items():
            got = values(fn)
            if reference is not None and not np.allclose(got, reference, rtol=1e-9,
                                                               atol=1e-12 * np.abs(reference).max()):
                raise SystemExit(f"depth {depth}: {name} gives {got}, CasADi {reference}")
        repeats, budget = (7, 0.05) if depth <= 2_000 else (3, 0.2)
        times = H.per_call({name: (lambda fn=fn: ready(fn(X0))) for name, fn in fns.items()},
                           repeats=repeats, budget=budget)
        base = times.get("CasADi SX", (None,))[0]
        base_compile = derive.get("CasADi SX")
        print(f"  depth {depth}: per call (least of {repeats}), derive + compile (least of "
              f"{DEPTHS.get(depth, 1)}), first call; ratios against CasADi SX")
        for name in fns:
            call = times[name][0]
            ratio = f" ({call / base:5.2f}x)" if base else ""
            ratio_c = f" ({derive[name] / base_compile:5.2f}x)" if base_compile else ""
            print(f"    {name:16s} per call {call * 1e6:10.1f} µs{ratio}   derive + compile "
                  f"{derive[name]:8.3f} s{ratio_c}   first call {first[name] * 1e3:8.1f} ms")
        if "symgrad numba" in fns and depth == 200:
            call = times["symgrad numba"][0]
            total = sum(first_process) if isinstance(first_process, tuple) else \
                derive["symgrad numba"] + first["symgrad numba"]
            print(f"  numba at depth 200: per call <= 25 µs: "
                  f"{verdict(call <= 25e-6, f'{call * 1e6:.1f} µs')}; derive + compile + first "
                  f"call in the process <= 2 s: {verdict(total <= 2, f'{total:.3f} s')}")
            cold = first_use_seconds(depth)
            if cold is not None:
                print(f"  numba's first use on a machine (empty cache: its two interpreters "
                      f"compiled by LLVM, once): derive + compile + first call {cold:.2f} s")


# -- part 2: elementwise chains on 10^6 entries --------------------------------------------
def polynomial(y, lib=None):
    for _ in range(8):
        y = 3.9 * y * (1 - y)
    return y


def transcendental(y, lib=sg):
    for _ in range(4):
        y = lib.sin(y) * y + 0.5 * lib.exp(-y * y)
    return y


def polynomial_numpy(x):
    """Hand-written forward (keeping each step's input) and backward sweep, in place."""
    ys, y = [], x
    for _ in range(8):
        ys.append(y)
        t = np.subtract(1.0, y)
        t *= y
        t *= 3.9
        y = t
    value, g = y, np.ones_like(x)
    for y in reversed(ys):  # d/dy 3.9 y (1 - y) = 3.9 (1 - 2 y)
        d = np.multiply(y, -7.8)
        d += 3.9
        g *= d
    return value, g


def transcendental_numpy(x):
    """Forward keeping sin(y) and exp(-y^2) of each step, backward sweep, in place."""
    steps, y = [], x
    for _ in range(4):
        e = np.multiply(y, y)
        np.negative(e, out=e)
        np.exp(e, out=e)
        s = np.sin(y)
        steps.append((y, s, e))
        nxt = np.multiply(s, y)
        nxt += 0.5 * e
        y = nxt
    value, g = y, np.ones_like(x)
    for y, s, e in reversed(steps):  # d/dy = cos(y) y + sin(y) - y exp(-y^2)
        d = np.cos(y)
        d *= y
        d += s
        e *= y
        d -= e
        g *= d
    return value, g


def ready(results):
    """``results`` computed (JAX dispatches asynchronously: wait for its arrays)."""
    for r in results:
        getattr(r, "block_until_ready", lambda: None)()
    return results


def array_part() -> None:
    print(f"part 2: value and gradient of elementwise chains on {N:,} float64 entries, "
          f"named size n; symgrad backends {', '.join(BACKENDS)} and hand-written NumPy")
    x = np.random.default_rng(0).uniform(0.1, 0.9, N)
    for label, step, hand in [("polynomial (8 x 3.9 y (1 - y))", polynomial, polynomial_numpy),
                              ("transcendental (4 x sin(y) y + 0.5 exp(-y^2))", transcendental,
                               transcendental_numpy)]:
        fns, setup = {}, {}
        for b in BACKENDS:
            start = time.perf_counter()
            X = sg.vector("X", "n")
            y = step(X)
            fns[f"symgrad {b}"] = fn = sg.function([X], [y, sg.grad(sg.sum(y), X)], backend=b)
            fn(x)
            setup[f"symgrad {b}"] = time.perf_counter() - start
        fns["hand NumPy"] = hand
        want = hand(x)
        for name, fn in fns.items():
            if not all(np.allclose(np.asarray(a), b, rtol=1e-9, atol=1e-9 * np.abs(b).max())
                       for a, b in zip(fn(x), want)):
                raise SystemExit(f"{label}: {name} disagrees with the hand-written NumPy")
        times = H.per_call({name: (lambda fn=fn: ready(fn(x))) for name, fn in fns.items()},
                           repeats=7, budget=0.2)
        numpy = times["symgrad numpy"][0]
        print(f"  {label}: per call (least of 7); ratio against symgrad numpy")
        for name in fns:
            t = times[name][0]
            extra = f"   build + compile + first call {setup[name]:.2f} s" if name in setup else ""
            print(f"    {name:14s} {t * 1e3:9.2f} ms ({t / numpy:5.2f}x){extra}")
        if "symgrad numba" in fns:
            ratio = times["symgrad numba"][0] / numpy
            target = "< 1 (fusion wins)" if step is polynomial else "<= 1.05 (no slower)"
            ok = ratio < 1 if step is polynomial else ratio <= 1.05
            print(f"  numba / numpy {target}: {verdict(ok, f'{ratio:.2f}')}")


def main() -> None:
    print(H.environment())
    print(H.threads())
    start = time.perf_counter()
    try:
        sg.backends.resolve("numba")
        print(f"import of the numba backend (numba itself included): "
              f"{time.perf_counter() - start:.3f} s")
    except sg.UnsupportedError as err:
        print(f"no numba backend: {err}")
    BACKENDS.extend(b for b in ("numpy", "numba", "jax") if b in sg.backends.available())
    depths = [int(d) for d in sys.argv[1:]] or list(DEPTHS)
    chain_part(depths)
    array_part()


if __name__ == "__main__":
    main()
