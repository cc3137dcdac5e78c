"""Linear algebra beyond the registry's samples: values against NumPy and SciPy, closed-form
derivatives, the symmetric gradients of cholesky and eigh, triangle-only gradients of
solve_triangular, norms at 0, leading batch axes, shape errors, Hessians through the
Gaussian-process likelihood, and the SymPy and LaTeX forms."""
from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
from symgrad.ops import linalg as L
from symgrad.ops.decompositions import positive_definite, separated_spectrum, well_conditioned
from symgrad.runtime import triangular_solve

from conftest import check_grads

la = sg.linalg


def _gp(K, y, route: str):
    """The Gaussian-process negative log-likelihood ``½ yᵀK⁻¹y + ½ log det K`` (no constant)."""
    if route == "cholesky":
        Lk = la.cholesky(K)
        z = la.solve_triangular(Lk, y, lower=True)
        return 0.5 * sg.sum(z * z) + sg.sum(sg.log(la.diagonal(Lk)))
    return 0.5 * (y @ la.solve(K, y)) + 0.5 * la.slogdet(K).logabsdet


# -- values ----------------------------------------------------------------------------------------
def test_values_match_numpy(rng):
    A = sg.tensor("A", (2, 3, 3))
    b, B = sg.vector("b", 3), sg.tensor("B", (2, 3, 2))
    va, vb = well_conditioned(rng, (2, 3, 3)), rng.standard_normal(3)
    vB = rng.standard_normal((2, 3, 2))
    vs = positive_definite(rng, (2, 3, 3))
    outs = [la.solve(A, b), la.solve(A, B), la.inv(A), la.det(A), *la.slogdet(A),
            la.trace(A, 1), la.diagonal(A, -1)]
    got = sg.function([A, b, B], outs)(va, vb, vB)
    expected = [np.linalg.solve(va, vb), np.linalg.solve(va, vB), np.linalg.inv(va),
                np.linalg.det(va), *np.linalg.slogdet(va), np.trace(va, 1, -2, -1),
                np.diagonal(va, -1, -2, -1)]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
    sym = sg.function([A], [la.cholesky(A), *la.eigh(A)])(vs)  # symmetric inputs
    for g, e in zip(sym, [np.linalg.cholesky(vs), *np.linalg.eigh(vs)]):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)


def test_slogdet_and_eigh_return_named_tuples(rng):
    A = sg.matrix("A", (3, 3))
    value = -well_conditioned(rng, (3, 3))  # det < 0
    result = la.slogdet(A)
    assert result.sign.dims == () and result.logabsdet.dims == ()
    sign, logdet = sg.function([A], list(result))(value)
    assert sign == -1.0 and logdet == pytest.approx(np.log(-np.linalg.det(value)))
    w, V = la.eigh(A)
    assert la.eigh(A).eigenvalues == w and w.dims == (3,) and V.dims == (3, 3)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("trans", [0, 1, "T"])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular_matches_scipy(lower, trans, unit, rng):
    """Block substitution (n = 150 spans three blocks) against LAPACK's trsm, also for
    leading axes on a and a vector or a stack of matrices b."""
    sl = pytest.importorskip("scipy.linalg")
    n = 150
    a = rng.uniform(-1, 1, (2, n, n)) / n + np.eye(n)
    for b in (rng.standard_normal(n), rng.standard_normal((n, 4)), rng.standard_normal((2, n, 70))):
        x = triangular_solve(a, b, lower, 1 if trans else 0, unit)
        rhs = [b[i] if b.ndim == 3 else b for i in range(2)]
        ref = np.stack([sl.solve_triangular(a[i], rhs[i], trans=trans, lower=lower,
                                            unit_diagonal=unit) for i in range(2)])
        np.testing.assert_allclose(x, ref, rtol=1e-11, atol=1e-13)
    A, B = sg.matrix("A", (n, n)), sg.matrix("B", (n, 4))
    out = la.solve_triangular(A, B, trans=trans, lower=lower, unit_diagonal=unit)
    np.testing.assert_allclose(sg.function([A, B], out)(a[0], b[0, :, :4]),
                               sl.solve_triangular(a[0], b[0, :, :4], trans=trans, lower=lower,
                                                   unit_diagonal=unit), rtol=1e-11, atol=1e-13)


def test_cholesky_adjoint_by_blocks_equals_the_formula(rng):
    """The block recursion (n = 150: three blocks) against ``sym(L⁻ᵀ Φ(Lᵀ G) L⁻¹)`` with
    dense inverses, over leading axes; only the lower triangles of L and G are read."""
    from symgrad.runtime import cholesky_adjoint
    n = 150
    l = np.linalg.cholesky(positive_definite(rng, (2, n, n)))
    g = rng.standard_normal((n, n))
    phi = np.tril(np.swapaxes(l, -1, -2) @ g)
    phi[..., np.arange(n), np.arange(n)] *= 0.5
    inverse = np.linalg.inv(l)
    s = np.swapaxes(inverse, -1, -2) @ phi @ inverse
    expected = 0.5 * (s + np.swapaxes(s, -1, -2))
    junk = np.triu(rng.standard_normal((n, n)), 1)
    np.testing.assert_allclose(cholesky_adjoint(l + junk, g + junk), expected, rtol=1e-10,
                               atol=1e-12 * np.abs(expected).max())


def test_generated_code_reads_as_numpy():
    A, b = sg.matrix("A", (3, 3)), sg.vector("b", 3)
    f = la.solve(A, b) * la.slogdet(A).logabsdet + la.cholesky(A) @ b + L.einsum("ij,j->i", A, b)
    source = sg.function([A, b], f).source
    for code in ("np.linalg.solve(a0, a1)", "np.stack(np.linalg.slogdet(a0), axis=-1)",
                 "np.linalg.cholesky(0.5 * (a0 + np.swapaxes(a0, -1, -2)))",
                 "np.einsum('ab,b->a', a0, a1, optimize=True)"):
        assert code in source


# -- top-level array functions ---------------------------------------------------------------------
EINSUMS = [("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,ij->", [(2, 3), (2, 3)]),
           ("ij,jk,kl->li", [(2, 3), (3, 4), (4, 2)]), ("i,j->ij", [(3,), (2,)]),
           ("...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 2)]), ("ii->", [(3, 3)]),
           ("iij->ji", [(3, 3, 2)]), ("ijk->kj", [(2, 3, 4)]), ("ij,jk->", [(1, 3), (3, 2)]),
           ("bij,bjk->bik", [(2, 3, 3), (2, 3, 1)]), ("ij,kj->ik", [(2, 3), (1, 3)])]


@pytest.mark.parametrize("spec, shapes", EINSUMS, ids=[s for s, _ in EINSUMS])
def test_einsum(spec, shapes, rng):
    xs = [sg.tensor(f"x{i}", s) for i, s in enumerate(shapes)]
    values = [rng.standard_normal(s) for s in shapes]
    out = L.einsum(spec, *xs)
    np.testing.assert_allclose(sg.function(xs, out)(*values), np.einsum(spec, *values),
                               rtol=1e-12, atol=1e-14)
    check_grads(out, xs, dict(zip(xs, values)))


def test_einsum_adjoint_is_an_einsum():
    A, B = sg.matrix("A", (2, 3)), sg.matrix("B", (3, 4))
    gA, gB = sg.grad(sg.sum(L.einsum("ij,jk->ik", A, B) * sg.matrix("W", (2, 4))), [A, B])
    assert gA.op == "einsum" and gB.op == "einsum"
    assert L.einsum("ab,bc->ac", A, B) == L.einsum("xy,yz->xz", A, B)  # one canonical node


@pytest.mark.parametrize("a, b, axes", [((2, 3, 4), (3, 4, 5), 2), ((2, 3), (3, 2), 1),
                                        ((2, 3, 4), (4, 2), ([0, 2], [1, 0])), ((3,), (2,), 0)])
def test_tensordot(a, b, axes, rng):
    x, y = sg.tensor("x", a), sg.tensor("y", b)
    va, vb = rng.standard_normal(a), rng.standard_normal(b)
    out = L.tensordot(x, y, axes)
    np.testing.assert_allclose(out.eval({x: va, y: vb}), np.tensordot(va, vb, axes), rtol=1e-12)
    check_grads(out, [x, y], {x: va, y: vb})


@pytest.mark.parametrize("shape, offset, axis1, axis2", [((3, 3), 0, 0, 1), ((3, 5), 2, 0, 1),
                                                         ((4, 3), -2, 0, 1), ((2, 3, 4), 1, 2, 1),
                                                         ((3, 2, 3), -1, -1, 0)])
def test_trace_and_diagonal(shape, offset, axis1, axis2, rng):
    x = sg.tensor("x", shape)
    value = rng.standard_normal(shape)
    d, t = L.diagonal(x, offset, axis1, axis2), L.trace(x, offset, axis1, axis2)
    np.testing.assert_array_equal(d.eval({x: value}), np.diagonal(value, offset, axis1, axis2))
    np.testing.assert_allclose(t.eval({x: value}), np.trace(value, offset, axis1, axis2))
    assert x.trace(offset, axis1, axis2) == t and x.diagonal(offset, axis1, axis2) == d
    check_grads(sg.sin(d), x, {x: value})
    check_grads(t * t, x, {x: value})


def test_linalg_trace_and_diagonal_use_the_last_axes(rng):
    x = sg.tensor("x", (2, 3, 3))
    value = rng.standard_normal((2, 3, 3))
    np.testing.assert_allclose(la.trace(x, offset=1).eval({x: value}),
                               np.linalg.trace(value, offset=1))
    np.testing.assert_array_equal(la.diagonal(x).eval({x: value}), np.linalg.diagonal(value))
    g = sg.grad(sg.sum(la.trace(x)), x).eval({x: value})
    np.testing.assert_array_equal(g, np.broadcast_to(np.eye(3), (2, 3, 3)))


@pytest.mark.parametrize("k", [0, 2, -1])
def test_diag_triu_tril(k, rng):
    v, M = sg.vector("v", 3), sg.matrix("M", (3, 4))
    vv, vm = rng.standard_normal(3), rng.standard_normal((3, 4))
    cases = [(L.diag(v, k), np.diag(vv, k)), (L.diag(M, k), np.diag(vm, k)),
             (L.triu(M, k), np.triu(vm, k)), (L.tril(M, k), np.tril(vm, k)),
             (L.triu(v, k), np.triu(vv, k))]
    for out, expected in cases:
        np.testing.assert_array_equal(sg.function([v, M], out)(vv, vm), expected)
        check_grads(sg.sin(out), [v, M], {v: vv, M: vm})


@pytest.mark.parametrize("a, b, axis", [((3,), (3,), -1), ((2, 3), (3,), -1), ((3, 2), (3, 1), 0)])
def test_cross(a, b, axis, rng):
    x, y = sg.tensor("x", a), sg.tensor("y", b)
    va, vb = rng.standard_normal(a), rng.standard_normal(b)
    out = L.cross(x, y, axis)
    np.testing.assert_allclose(out.eval({x: va, y: vb}), np.cross(va, vb, axis=axis), rtol=1e-13)
    check_grads(out, [x, y], {x: va, y: vb})


@pytest.mark.parametrize("a, b", [((2, 3), (3, 2)), ((3,), (2,)), ((2,), (2, 2)),
                                  ((2, 1, 2), (3, 2))])
def test_kron(a, b, rng):
    x, y = sg.tensor("x", a), sg.tensor("y", b)
    va, vb = rng.standard_normal(a), rng.standard_normal(b)
    out = L.kron(x, y)
    np.testing.assert_allclose(out.eval({x: va, y: vb}), np.kron(va, vb), rtol=1e-13)
    check_grads(out, [x, y], {x: va, y: vb})


# -- closed-form derivatives -----------------------------------------------------------------------
def test_log_abs_det_gradient_is_inverse_transpose(rng):
    """d/dA log|det A| = A⁻ᵀ, also where det A < 0 (the sign has derivative 0)."""
    A = sg.matrix("A", (4, 4))
    sign, logdet = la.slogdet(A)
    fn = sg.function([A], [sg.grad(logdet, A), sg.grad(sign, A), sg.grad(la.det(A), A)])
    for value in (well_conditioned(rng, (4, 4)), well_conditioned(rng, (4, 4))[[1, 0, 2, 3]]):
        g_logdet, g_sign, g_det = fn(value)
        inverse_t = np.linalg.inv(value).T
        np.testing.assert_allclose(g_logdet, inverse_t, rtol=1e-12)
        np.testing.assert_array_equal(g_sign, np.zeros((4, 4)))
        np.testing.assert_allclose(g_det, np.linalg.det(value) * inverse_t, rtol=1e-12)


def test_trace_of_inverse_product_gradient(rng):
    """d/dA tr(A⁻¹ B) = -(A⁻¹ B A⁻¹)ᵀ, d/dB tr(A⁻¹ B) = A⁻ᵀ."""
    A, B = sg.matrix("A", (3, 3)), sg.matrix("B", (3, 3))
    va, vb = well_conditioned(rng, (3, 3)), rng.standard_normal((3, 3))
    f = la.trace(la.inv(A) @ B)
    gA, gB = sg.function([A, B], sg.grad(f, [A, B]))(va, vb)
    inv = np.linalg.inv(va)
    np.testing.assert_allclose(gA, -(inv @ vb @ inv).T, rtol=1e-12)
    np.testing.assert_allclose(gB, inv.T, rtol=1e-12)
    check_grads(f, [A, B], {A: va, B: vb})


def test_quadratic_form_with_solve(rng):
    """f = yᵀ A⁻¹ y: ∂f/∂y = (A⁻¹ + A⁻ᵀ) y, ∂f/∂A = -A⁻ᵀ y yᵀ A⁻ᵀ, no inverse formed."""
    A, y = sg.matrix("A", (3, 3)), sg.vector("y", 3)
    va, vy = well_conditioned(rng, (3, 3)), rng.standard_normal(3)
    f = y @ la.solve(A, y)
    gA, gy = sg.grad(f, [A, y])
    inv = np.linalg.inv(va)
    got_a, got_y = sg.function([A, y], [gA, gy])(va, vy)
    np.testing.assert_allclose(got_y, (inv + inv.T) @ vy, rtol=1e-12)
    np.testing.assert_allclose(got_a, -np.outer(inv.T @ vy, inv @ vy), rtol=1e-12)
    assert "np.linalg.inv" not in sg.function([A, y], [gA, gy]).source
    check_grads(f, [A, y], {A: va, y: vy})


def test_inverse_derivatives(rng):
    """(A⁻¹)˙ = -A⁻¹ Ȧ A⁻¹."""
    A, V = sg.matrix("A", (3, 3)), sg.matrix("V", (3, 3))
    va, vv = well_conditioned(rng, (3, 3)), rng.standard_normal((3, 3))
    inv = np.linalg.inv(va)
    np.testing.assert_allclose(sg.jvp(la.inv(A), A, V).eval({A: va, V: vv}), -inv @ vv @ inv,
                               rtol=1e-12)


# -- symmetric inputs: cholesky and eigh -----------------------------------------------------------
def test_cholesky_reads_the_symmetric_part_and_has_symmetric_gradients(rng):
    A, W = sg.matrix("A", (4, 4)), sg.matrix("W", (4, 4))
    spd = positive_definite(rng, (4, 4))
    skew = rng.standard_normal((4, 4))
    skew -= skew.T
    Lk = la.cholesky(A)
    # the skew part of the input is ignored: the factor of the symmetric part
    np.testing.assert_allclose(Lk.eval({A: spd + 0.1 * skew}), np.linalg.cholesky(spd), rtol=1e-12)
    g = sg.grad(sg.sum(Lk * W), A).eval({A: spd, W: rng.standard_normal((4, 4))})
    np.testing.assert_allclose(g, g.T, rtol=1e-12, atol=1e-14)
    # L Lᵀ = A: the gradient of sum((L Lᵀ) * S) for symmetric S is S itself
    S = rng.standard_normal((4, 4))
    S += S.T
    np.testing.assert_allclose(sg.grad(sg.sum((Lk @ Lk.T) * S), A).eval({A: spd}), S, rtol=1e-11)


def test_eigh_gradients_are_symmetric_and_closed_form(rng):
    """∂wₖ/∂A = vₖ vₖᵀ; gradients are symmetric; eigenvectors satisfy A V = V diag(w)."""
    A = sg.matrix("A", (3, 3))
    value = separated_spectrum(rng, (3, 3))
    w, V = la.eigh(A)
    vw, vV = sg.function([A], [w, V])(value)
    np.testing.assert_allclose(value @ vV, vV * vw, atol=1e-12)
    for k in range(3):
        g = sg.grad(w[k], A).eval({A: value})
        np.testing.assert_allclose(g, np.outer(vV[:, k], vV[:, k]), atol=1e-12)
    weights = rng.standard_normal((3, 3))
    g = sg.grad(sg.sum(V * weights) + sg.sum(w ** 2), A).eval({A: value})
    np.testing.assert_allclose(g, g.T, atol=1e-12)
    check_grads(sg.sum(V ** 3) * w[0], A, {A: value})


def test_eigh_with_equal_eigenvalues_keeps_eigenvalue_gradients_finite():
    """At a repeated eigenvalue the coupling 1/(wⱼ - wᵢ) is taken as 0: derivatives of
    functions of the eigenvalues stay right (d/dA Σ wₖ² = 2A)."""
    A = sg.matrix("A", (3, 3))
    value = np.diag([2.0, 2.0, 5.0])
    w, V = la.eigh(A)
    g, h = sg.function([A], [sg.grad(sg.sum(w ** 2), A), sg.grad(sg.sum(V), A)])(value)
    np.testing.assert_allclose(g, 2 * value, atol=1e-12)
    assert np.all(np.isfinite(h))


# -- triangular solves read one triangle -----------------------------------------------------------
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("trans", [0, 1])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular_gradient_lies_in_its_triangle(lower, trans, unit, rng):
    A, b = sg.matrix("A", (4, 4)), sg.matrix("b", (4, 2))
    va, vb = well_conditioned(rng, (4, 4)), rng.standard_normal((4, 2))
    x = la.solve_triangular(A, b, trans=trans, lower=lower, unit_diagonal=unit)
    g = sg.grad(sg.sum(sg.sin(x)), A).eval({A: va, b: vb})
    read = np.tril(np.ones((4, 4)), -unit) if lower else np.triu(np.ones((4, 4)), unit)
    assert np.all(g[read == 0] == 0) and np.all(g[read == 1] != 0)
    check_grads(x, [A, b], {A: va, b: vb})


# -- norms -----------------------------------------------------------------------------------------
NORMS = [((4,), {}), ((4,), dict(ord=1)), ((4,), dict(ord=np.inf)), ((4,), dict(ord=-np.inf)),
         ((4,), dict(ord=3)), ((3, 4), {}), ((3, 4), dict(ord="fro")), ((3, 4), dict(ord=1)),
         ((3, 4), dict(ord=-np.inf)), ((3, 4), dict(axis=1)), ((3, 4), dict(axis=0, keepdims=True)),
         ((2, 3, 4), {}), ((2, 3, 4), dict(axis=(2, 0), ord=np.inf)),
         ((2, 3, 4), dict(axis=-2, ord=1))]


@pytest.mark.parametrize("shape, kwargs", NORMS, ids=[f"{s}-{k}" for s, k in NORMS])
def test_norm(shape, kwargs, rng):
    x = sg.tensor("x", shape)
    value = rng.standard_normal(shape)
    out = la.norm(x, **kwargs)
    expected = np.linalg.norm(value, **kwargs)
    assert out.dims == np.shape(expected)
    np.testing.assert_allclose(out.eval({x: value}), expected, rtol=1e-13)
    check_grads(out, x, {x: value})


@pytest.mark.parametrize("ord", [None, 1, 2, np.inf, -np.inf, 3])
def test_norm_at_zero_has_zero_gradient(ord):
    """As abs at 0: the gradient (and the Hessian) at the zero vector is 0, never NaN."""
    x = sg.vector("x", 3)
    n = la.norm(x, ord=ord)
    value, g, h = sg.function([x], [n, sg.grad(n, x), sg.hessian(n, x)])(np.zeros(3))
    assert value == 0.0
    np.testing.assert_array_equal(g, np.zeros(3))
    assert np.all(np.isfinite(h))


def test_norm_counts_nonzeros_and_accepts_integers():
    x = sg.vector("x", 4)
    assert la.norm(x, ord=0).eval({x: np.array([0.0, 2.0, 0.0, -1.0])}) == 2.0
    k = sg.vector("k", 2, dtype="int64")
    assert la.norm(k).eval({k: np.array([3, 4])}) == 5.0


# -- leading batch axes ----------------------------------------------------------------------------
def test_batched_decompositions(rng):
    """(2, 3, 3) stacks, against a loop over the matrices, with derivatives of order 2."""
    A, b = sg.tensor("A", (2, 3, 3)), sg.vector("b", 3)
    spd = positive_definite(rng, (2, 3, 3))
    vb = rng.standard_normal(3)
    outs = {"solve": la.solve(A, b), "inv": la.inv(A), "logdet": la.slogdet(A).logabsdet,
            "cholesky": la.cholesky(A), "eigvals": la.eigh(A).eigenvalues,
            "tri": la.solve_triangular(A, b, lower=True)}
    fn = sg.function([A, b], list(outs.values()))
    loops = {"solve": lambda m: np.linalg.solve(m, vb), "inv": np.linalg.inv,
             "logdet": lambda m: np.linalg.slogdet(m)[1], "cholesky": np.linalg.cholesky,
             "eigvals": np.linalg.eigvalsh, "tri": lambda m: np.linalg.solve(np.tril(m), vb)}
    for got, name in zip(fn(spd, vb), outs):
        np.testing.assert_allclose(got, np.stack([loops[name](m) for m in spd]), rtol=1e-12)
        check_grads(outs[name], [A, b] if name in ("solve", "tri") else A, {A: spd, b: vb})


def test_vectorized_gp_likelihood(rng):
    """sg.vectorize over a batch of kernels equals one likelihood per kernel."""
    K, y = sg.matrix("K", (3, 3)), sg.vector("y", 3)
    f = _gp(K, y, "cholesky")
    Ks = sg.tensor("Ks", (4, 3, 3))
    values = positive_definite(rng, (4, 3, 3))
    vy = rng.standard_normal(3)
    batched = sg.function([Ks, y], sg.vectorize(sg.grad(f, K), {K: Ks}))(values, vy)
    single = sg.function([K, y], sg.grad(f, K))
    np.testing.assert_allclose(batched, np.stack([single(v, vy) for v in values]), rtol=1e-12)


# -- Hessians: the Gaussian-process likelihood -----------------------------------------------------
@pytest.mark.parametrize("route", ["cholesky", "slogdet"])
def test_gp_likelihood_value_gradient_and_hessian(route, rng):
    K, y = sg.matrix("K", (4, 4)), sg.vector("y", 4)
    vk, vy = positive_definite(rng, (4, 4)), rng.standard_normal(4)
    f = _gp(K, y, route)
    inv = np.linalg.inv(vk)
    alpha = inv @ vy
    value, gK, gy = sg.function([K, y], [f, *sg.grad(f, [K, y])])(vk, vy)
    assert value == pytest.approx(0.5 * vy @ alpha + 0.5 * np.linalg.slogdet(vk)[1], rel=1e-12)
    np.testing.assert_allclose(gK, 0.5 * (inv - np.outer(alpha, alpha)), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(gy, alpha, rtol=1e-12)
    check_grads(f, [K, y], {K: vk, y: vy})


def test_gp_with_named_dimensions(rng):
    K, y = sg.matrix("K", ("n", "n")), sg.vector("y", "n")
    for route in ("cholesky", "slogdet"):
        f = _gp(K, y, route)
        for n in (2, 5):
            check_grads(f, [K, y], {K: positive_definite(rng, (n, n)), y: rng.standard_normal(n)})


# -- errors ----------------------------------------------------------------------------------------
def test_shape_errors():
    A, R, b = sg.matrix("A", (3, 3)), sg.matrix("R", (2, 3)), sg.vector("b", 4)
    cases = [
        (lambda: la.solve(R, b), sg.ShapeError, r"solve: needs a square matrix .* got \(2, 3\)"),
        (lambda: la.solve(A, b), sg.ShapeError,
         r"solve: b must have shape \(n,\) or \(\.\.\., n, k\)"),
        (lambda: la.solve(A, sg.matrix("B", (4, 2))), sg.ShapeError, r"got \(4, 2\)"),
        (lambda: la.cholesky(R), sg.ShapeError, r"cholesky: needs a square matrix"),
        (lambda: la.eigh(b), sg.ShapeError, r"eigh: needs a square matrix .* got \(4,\)"),
        (lambda: la.inv(sg.tensor("T", (2, 3, 2))), sg.ShapeError, r"inv: .* got \(2, 3, 2\)"),
        (lambda: la.solve_triangular(A, b[:3], trans="X"), sg.ShapeError, r"trans must be"),
        (lambda: la.norm(A, ord="nuc"), sg.UnsupportedError, r"'nuc' need singular values"),
        (lambda: la.norm(b, ord=0.5), sg.UnsupportedError, r"vector norm ord=0.5"),
        (lambda: la.norm(sg.tensor("T", (2, 2, 2)), ord=1), sg.ShapeError, r"1-d or 2-d"),
        (lambda: la.norm(A, axis=(0, 1, 1)), sg.ShapeError, r"repeated axis"),
        (lambda: L.einsum("ij,jk", A, R), sg.UnsupportedError, r"implicit form"),
        (lambda: L.einsum("ij,jk->ik", A, R), sg.ShapeError,
         r"axis 'j' has size 2 in operand 1 but 3 elsewhere"),
        (lambda: L.einsum("ij->ik", A), sg.ShapeError, r"output subscripts 'ik'"),
        (lambda: L.einsum("ijk->i", A), sg.ShapeError, r"name 3 axes, but it has shape \(3, 3\)"),
        (lambda: L.einsum("ii->i", R), sg.ShapeError, r"repeated subscript 'i'"),
        (lambda: L.einsum("i1->", b), sg.ShapeError, r"subscripts are letters"),
        (lambda: L.tensordot(A, R, axes=([0], [0])), sg.ShapeError, r"tensordot: the summed axes"),
        (lambda: L.trace(b), sg.ShapeError, r"trace: needs an operand of at least two dimensions"),
        (lambda: L.diagonal(A, 0, 1, -1), sg.ShapeError, r"axis1 and axis2 cannot be the same"),
        (lambda: L.diagonal(A, 0, 0, 2), sg.ShapeError, r"axis 2 is out of range"),
        (lambda: L.cross(A, R), sg.ShapeError, r"cross: shapes do not broadcast"),
        (lambda: L.cross(A, R.T), sg.ShapeError, r"cross: needs 3-vectors along axis -1, got "
                                                  r"shapes \(3, 3\) and \(3, 2\)"),
        (lambda: L.diag(sg.tensor("T", (2, 2, 2))), sg.ShapeError,
         r"diag: needs a vector or a matrix"),
        (lambda: L.triu(sg.scalar("s")), sg.ShapeError, r"triu: needs an operand of at least two"),
        (lambda: L.diagonal(sg.matrix("N", ("n", "m"))), sg.UnsupportedError,
         r"known only at run time"),
    ]
    for build, error, message in cases:
        with pytest.raises(error, match=message):
            build()


# -- SymPy and LaTeX -------------------------------------------------------------------------------
def test_matrix_forms():
    sympy = pytest.importorskip("sympy")
    K, A, y = sg.matrix("K", ("n", "n")), sg.matrix("A", ("n", "n")), sg.vector("y", "n")
    Ks = sympy.MatrixSymbol("K", *[sympy.Symbol("n", integer=True, positive=True)] * 2)
    assert sg.to_sympy(la.inv(K), form="matrix") == sympy.Inverse(Ks)
    assert sg.to_sympy(la.det(K), form="matrix") == sympy.Determinant(Ks)
    assert sg.to_sympy(la.trace(K), form="matrix") == sympy.Trace(Ks)
    assert sg.latex(la.inv(K), form="matrix") == "K^{-1}"
    assert sg.latex(la.solve(K, y), form="matrix") == "K^{-1} y"
    assert sg.latex(la.trace(A @ K), form="matrix") == r"\operatorname{tr}\left(A K \right)"
    assert sg.latex(L.einsum("ij,ji->", A, K), form="matrix") == \
        r"\operatorname{tr}\left(A K \right)"
    assert sg.latex(L.einsum("ij,jk,k->i", A, K, y), form="matrix") == "A K y"
    assert r"\log{" in sg.latex(la.slogdet(K).logabsdet, form="matrix")


def test_gp_gradient_reads_as_a_formula():
    """The derivative of the likelihood with respect to a kernel parameter t, K(t) = K + t A:
    ½ tr(K⁻¹ A) - ½ yᵀ K⁻¹ A K⁻¹ y."""
    K, A = sg.matrix("K", ("n", "n")), sg.matrix("A", ("n", "n"))
    y, t = sg.vector("y", "n"), sg.scalar("t")
    text = sg.latex(sg.grad(_gp(K + t * A, y, "slogdet"), t), form="matrix")
    assert r"\operatorname{tr}\left(\left(t A + K\right)^{-1} A \right)" in text
    assert r"\left(t A + K\right)^{-1}" in text
    gradient = sg.latex(sg.grad(_gp(K, y, "slogdet"), K), form="matrix")
    assert "^{-1}" in gradient and "y y^{T}" in gradient


def test_element_forms():
    sympy = pytest.importorskip("sympy")
    K, y = sg.matrix("K", (2, 2)), sg.vector("y", 2)
    entries = sympy.Matrix(2, 2, lambda i, j: sympy.IndexedBase("K", real=True)[i, j])
    inverse = sg.to_sympy(la.inv(K), form="elements")
    assert sympy.simplify(inverse - entries.inv()) == sympy.zeros(2, 2)
    assert sympy.expand(sg.to_sympy(la.det(K), form="elements") - entries.det()) == 0
    assert sg.to_sympy(la.trace(K), form="elements") == entries.trace()
    x = sg.to_sympy(la.solve(K, y), form="elements")
    Y = sympy.Matrix([sympy.IndexedBase("y", real=True)[i] for i in range(2)])
    assert sympy.simplify(entries * sympy.Matrix(list(x)) - Y) == sympy.zeros(2, 1)
    Lk = sg.to_sympy(la.cholesky(K), form="elements")
    assert Lk[0, 1] == 0 and Lk[0, 0] == sympy.sqrt(entries[0, 0])
    with pytest.raises(sg.UnsupportedError, match="eigh has no closed form"):
        sg.to_sympy(la.eigh(K).eigenvalues, form="elements")
