"""sg.jacobian_sparsity and sg.hessian_sparsity: exact on structured problems (the pattern
equals the nonzeros of the dense derivative at a random point), and clear errors."""
from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg

pytest.importorskip("scipy")


def nonzeros(matrix) -> np.ndarray:
    matrix = np.asarray(matrix)
    return np.abs(matrix) > 1e-12 * np.abs(matrix).max()


def rosenbrock(x):
    return sg.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def arrowhead(x):
    return sg.sum((x[:-1] ** 2 + x[-1] ** 2) ** 2 - 4 * x[:-1] + 3)


def powell(x):  # extended Powell singular function, n a multiple of 4
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    return sg.sum((a + 10 * b) ** 2 + 5 * (c - d) ** 2 + (b - 2 * c) ** 4 + 10 * (a - d) ** 4)


def broyden_tridiagonal(x):  # residuals (3 - 2x_i) x_i - x_{i-1} - 2 x_{i+1} + 1, x_0 = x_{n+1} = 0
    padded = sg.pad(x, (1, 1))
    return (3 - 2 * x) * x - padded[:-2] - 2 * padded[2:] + 1


def broyden_banded(x, lower=5, upper=1):  # x_i (2 + 5 x_i²) + 1 - Σ_{j≠i, |j-i| in band} x_j (1 + x_j)
    n = x.dims[0]
    t = x * (1 + x)
    padded = sg.pad(t, (lower, upper))
    near = sum(padded[lower + k:lower + k + n] for k in range(-lower, upper + 1) if k)
    return x * (2 + 5 * x ** 2) + 1 - near


def brusselator(x, n=4, a=3.4, b=1.0, alpha=10.0):
    """The 2-D Brusselator's right-hand side on an n x n periodic grid, u and v stacked."""
    u, v = sg.reshape(x[:n * n], (n, n)), sg.reshape(x[n * n:], (n, n))
    lap = lambda w: (sg.roll(w, 1, 0) + sg.roll(w, -1, 0) + sg.roll(w, 1, 1)  # noqa: E731
                     + sg.roll(w, -1, 1) - 4 * w)
    du = b + u * u * v - (a + 1) * u + alpha * lap(u)
    dv = a * u - u * u * v + alpha * lap(v)
    return sg.concatenate([sg.reshape(du, (-1,)), sg.reshape(dv, (-1,))])


HESSIANS = {"rosenbrock": (rosenbrock, 12), "arrowhead": (arrowhead, 9), "powell": (powell, 12),
            "sum of squares of broyden residuals": (
                lambda x: sg.sum(broyden_tridiagonal(x) ** 2), 10)}
JACOBIANS = {"broyden tridiagonal": (broyden_tridiagonal, 9), "broyden banded": (broyden_banded, 12),
             "brusselator": (brusselator, 32)}


@pytest.mark.parametrize("name", sorted(HESSIANS))
def test_hessian_sparsity_is_exact(name, rng):
    f, n = HESSIANS[name]
    x = sg.vector("x", n)
    pattern = sg.hessian_sparsity(f(x), x)
    assert pattern.dtype == bool and pattern.shape == (n, n)
    dense = sg.function([x], sg.hessian(f(x), x))(rng.uniform(0.5, 1.5, n))
    np.testing.assert_array_equal(pattern.toarray(), nonzeros(dense))


@pytest.mark.parametrize("name", sorted(JACOBIANS))
def test_jacobian_sparsity_is_exact(name, rng):
    F, n = JACOBIANS[name]
    x = sg.vector("x", n)
    pattern = sg.jacobian_sparsity(F(x), x)
    dense = sg.function([x], sg.jacobian(F(x), x))(rng.uniform(0.5, 1.5, n))
    np.testing.assert_array_equal(pattern.toarray(), nonzeros(dense))


def test_arrowhead_pattern_by_hand():
    x = sg.vector("x", 5)
    want = np.eye(5, dtype=bool)
    want[-1, :] = want[:, -1] = True
    np.testing.assert_array_equal(sg.hessian_sparsity(arrowhead(x), x).toarray(), want)


def test_only_what_reaches_the_output_counts():
    """exp(x)[0] has one second derivative; a stop_gradient, a comparison and a constant
    matrix's zeros hide dependencies; a product joins its two factors."""
    x = sg.vector("x", 4)
    want = np.zeros((4, 4), bool)
    want[0, 0] = True
    np.testing.assert_array_equal(sg.hessian_sparsity(sg.exp(x)[0] + sg.sum(3 * x), x).toarray(),
                                  want)
    f = sg.sum(sg.stop_gradient(x) * x) + sg.sum(sg.where(x > 0, x, 2 * x))
    assert sg.hessian_sparsity(f, x).nnz == 0
    a = np.diag([1.0, 2.0, 0.0, 3.0])
    a[0, 3] = 1.0
    np.testing.assert_array_equal(sg.jacobian_sparsity(sg.constant(a) @ x, x).toarray(), a != 0)
    np.testing.assert_array_equal(sg.hessian_sparsity(x[0] * x[2], x).toarray(),
                                  np.array([[0, 0, 1, 0], [0] * 4, [1, 0, 0, 0], [0] * 4], bool))


def test_running_sums_and_matrices(rng):
    x = sg.matrix("X", (3, 3))
    for f in [sg.sum(sg.cumsum(x, 1) ** 2), sg.trace(x @ x), sg.sum(sg.triu(x) ** 3),
              sg.einsum("ab,bc,ca->", x, x, x), sg.sum(sg.kron(x[0], x[1:]) ** 2),
              sg.sum(sg.tensordot(x, x, axes=([1], [1])) * sg.constant(np.eye(3)))]:
        dense = sg.function([x], sg.hessian(f, x))(rng.uniform(0.5, 1.5, (3, 3)))
        np.testing.assert_array_equal(sg.hessian_sparsity(f, x).toarray(),
                                      nonzeros(dense.reshape(9, 9)))


def test_errors():
    x, m = sg.vector("x", "n"), sg.vector("m", 3)
    with pytest.raises(sg.ShapeError, match="fixed sizes.*'n'"):
        sg.jacobian_sparsity(sg.sin(x), x)
    with pytest.raises(sg.ShapeError, match="scalar"):
        sg.hessian_sparsity(sg.sin(m), m)
    with pytest.raises(sg.ArgumentError, match="symbol"):
        sg.jacobian_sparsity(sg.sin(m), 2 * m)


# -- colorings and compressed evaluation -------------------------------------------------------
def is_star_coloring(pattern, colors) -> bool:
    """Neighbours differ and no path on four vertices is colored with two colors."""
    pattern = pattern.tocsr()
    near = [set(pattern.indices[pattern.indptr[v]:pattern.indptr[v + 1]]) - {v}
            for v in range(pattern.shape[0])]
    for b, around in enumerate(near):
        for c in around:
            if colors[b] == colors[c]:
                return False
            for a in around - {c}:
                if colors[a] == colors[c] and any(colors[d] == colors[b]
                                                  for d in near[c] - {a, b}):
                    return False
    return True


def test_star_coloring_of_random_patterns(rng):
    from scipy import sparse
    from symgrad.sparsity import distance2_coloring, symmetric_coloring
    for _ in range(200):
        n = int(rng.integers(2, 25))
        a = sparse.random(n, n, density=rng.uniform(0.02, 0.4), random_state=rng)
        pattern = ((a + a.T + sparse.eye(n)) != 0).tocsr()
        colors = symmetric_coloring(pattern)
        assert is_star_coloring(pattern, colors)
        assert colors.max() <= distance2_coloring(pattern).max()


@pytest.mark.parametrize("name", sorted(HESSIANS))
def test_sparse_hessian_from_colors(name, rng):
    f, n = HESSIANS[name]
    x = sg.vector("x", n)
    colors = sg.hessian_coloring(f(x), x)
    assert is_star_coloring(sg.hessian_sparsity(f(x), x), colors)
    sparse, lower, dense = sg.function([x], [sg.hessian(f(x), x, sparse=True),
                                             sg.hessian(f(x), x, sparse=True, lower=True),
                                             sg.hessian(f(x), x)])(rng.uniform(0.5, 1.5, n))
    np.testing.assert_allclose(sparse.toarray(), dense, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(lower.toarray(), np.tril(dense), rtol=1e-13, atol=1e-13)
    assert sparse.nnz == np.count_nonzero(nonzeros(dense))


def test_arrowhead_needs_two_colors():
    """A distance-2 coloring needs n colors (the last row is full); a star coloring two."""
    x = sg.vector("x", 1000)
    colors = sg.hessian_coloring(arrowhead(x), x)
    assert colors.max() + 1 == 2


@pytest.mark.parametrize("name", sorted(JACOBIANS))
def test_sparse_jacobian_from_colors(name, rng):
    F, n = JACOBIANS[name]
    x = sg.vector("x", n)
    colors = sg.jacobian_coloring(F(x), x)
    pattern = sg.jacobian_sparsity(F(x), x).toarray()
    for c in range(colors.max() + 1):  # columns of one color share no row
        assert pattern[:, colors == c].sum(axis=1).max() <= 1
    sparse, dense = sg.function([x], [sg.jacobian(F(x), x, sparse=True),
                                      sg.jacobian(F(x), x)])(rng.uniform(0.5, 1.5, n))
    assert sparse.format == "csr" and sparse.shape == (dense.shape[0], n)
    np.testing.assert_allclose(sparse.toarray(), dense, rtol=1e-13, atol=1e-13)


def test_sparse_results_are_compiled_once_and_independent(rng):
    """The colored Hessian's index arrays are constants of the graph: two calls give two
    matrices, and changing one leaves the other."""
    x = sg.vector("x", 7)
    fn = sg.function([x], sg.hessian(arrowhead(x), x, sparse=True))
    first, second = fn(rng.uniform(size=7)), fn(rng.uniform(size=7))
    first.indices[:] = 0
    assert second.has_sorted_indices and second.nnz == 7 + 2 * 6


def test_lower_needs_sparse_and_one_wrt():
    x, y = sg.vector("x", 3), sg.vector("y", 3)
    with pytest.raises(sg.ArgumentError, match="lower=True"):
        sg.hessian(sg.sum(x ** 3), x, lower=True)
    with pytest.raises(sg.ArgumentError, match="lower=True"):
        sg.hessian(sg.sum(x * y), [x, y], sparse=True, lower=True)


def test_named_sizes_between_x_and_the_cost(rng):
    """A batch of named size between a fixed-size x and the cost: no pattern can be read, so
    the sparse Hessian holds the dense one's nonzeros; the pattern and lower=True say why."""
    X, W = sg.matrix("X", ("n", 3)), sg.matrix("W", (3, 4))
    f = sg.sum(sg.tanh(X @ W) ** 2)
    sparse, dense = sg.function([X, W], [sg.hessian(f, W, sparse=True), sg.hessian(f, W)])(
        rng.standard_normal((5, 3)), rng.standard_normal((3, 4)))
    np.testing.assert_array_equal(sparse.toarray(), dense.reshape(12, 12))
    with pytest.raises(sg.ShapeError, match="matmul shape=\\(n, 4\\).*named size 'n'"):
        sg.hessian_sparsity(f, W)
    with pytest.raises(sg.ShapeError, match="lower=True needs fixed sizes"):
        sg.hessian(f, W, sparse=True, lower=True)
