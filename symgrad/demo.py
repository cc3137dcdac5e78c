"""``python -m symgrad demo``: the (x + y) z circuit, then a small network trained with
its compiled gradient."""
from __future__ import annotations

import numpy as np

from . import autodiff, compile as compile_
from .expr import Expr
from .graph import Graph
from .leaves import matrix, scalars, vector
from .ops.elementwise import sigmoid
from .ops.reduce import sum as sum_
from .viz import node_label


def _describe(e: Expr) -> str:
    args = ", ".join(f"n{a.node}" for a in e.args)
    kind = "gradient" if e.is_gradient else "forward "
    return f"  n{e.node:<3} {kind}  {node_label(e)}" + (f"({args})" if args else "")


def circuit() -> None:
    """f = (x + y) z at x=-2, y=5, z=-4: forward and gradient nodes, values checked."""
    with Graph() as g:
        x, y, z = scalars("x y z")
        q = x + y
        f = q * z
        grads = autodiff.grad(f, [x, y, z])
        print("The circuit f = (x + y) * z, recorded as a graph; grad adds the gradient nodes:")
        for node in sorted(g.ancestors([f.node] + [e.node for e in grads])):
            print(_describe(Expr(g, node)))
        for wrt, gr in zip("xyz", grads):
            print(f"  df/d{wrt} is node n{gr.node} ({node_label(gr)}): the local gradients "
                  "multiplied along the path, simplified")
        fn = compile_.function([x, y, z], [q, f, *grads])
        qv, fv, gx, gy, gz = fn(-2.0, 5.0, -4.0)
        print(f"At x=-2, y=5, z=-4: q = {qv:g}, f = {fv:g}, "
              f"(df/dx, df/dy, df/dz) = ({gx:g}, {gy:g}, {gz:g})")
        # By hand: q = 3, f = 3 * -4; df/dx = df/dq * dq/dx = z, df/dz = q.
        assert (qv, fv, gx, gy, gz) == (3.0, -12.0, -4.0, -4.0, 3.0), "circuit values differ"
        print("Checked against the chain rule by hand: -12; (-4, -4, 3).\n")


def train(steps: int = 300, seed: int = 0) -> list:
    """A 4-16-3 sigmoid network learns a random teacher network by gradient descent."""
    rng = np.random.default_rng(seed)
    with Graph():
        X, Y = matrix("X", ("n", 4)), matrix("Y", ("n", 3))
        W1, b1 = matrix("W1", (4, 16)), vector("b1", 16)
        W2, b2 = matrix("W2", (16, 3)), vector("b2", 3)
        a1 = sigmoid(X @ W1 + b1)
        a2 = sigmoid(a1 @ W2 + b2)
        C = 0.5 * sum_((a2 - Y) ** 2) / X.shape[0]
        params = [W1, b1, W2, b2]
        step = compile_.function([X, Y, *params], [C, *autodiff.grad(C, params)])
        teacher = [rng.normal(size=s) for s in [(4, 8), (8,), (8, 3), (3,)]]
        data = rng.normal(size=(256, 4))
        hidden = 1 / (1 + np.exp(-(data @ teacher[0] + teacher[1])))
        target = 1 / (1 + np.exp(-(hidden @ teacher[2] + teacher[3])))
        values = [rng.normal(scale=0.5, size=s) for s in [(4, 16), (16,), (16, 3), (3,)]]
        losses = []
        print(f"Training a 4-16-3 sigmoid network on a random teacher ({steps} steps):")
        for i in range(steps):
            cost, *grads = step(data, target, *values)
            values = [v - 2.0 * gv for v, gv in zip(values, grads)]
            losses.append(float(cost))
            if i % 50 == 0 or i == steps - 1:
                print(f"  step {i:4d}   loss {cost:.6f}")
        print(f"Loss fell from {losses[0]:.4f} to {losses[-1]:.4f}.")
        return losses


def main() -> None:
    circuit()
    losses = train()
    assert losses[-1] < 0.5 * losses[0], "training did not reduce the loss"
