"""Tests for scorelab.metrics_gaussian (Bures W2, KL) and scorelab._validate.

Oracles (docs/papers.md, "Closed forms for tests"): W2(N, N) = 0; symmetry; triangle
inequality; the commuting case ``sum (sqrt l1 - sqrt l2)^2``; the 1-D form
``(m1 - m2)^2 + (s1 - s2)^2``; rank-one covariances ``|a|^2 + |b|^2 - 2|a.b|``;
POT's ``bures_wasserstein_distance``; KL against ``inv``/``slogdet``.

Tolerances are absolute and scaled by ``|m1 - m2|^2 + tr S1 + tr S2`` (the size
of the terms that cancel in W2^2), because W2^2 near 0 suffers cancellation of
order ``eps * tr S`` whatever the algorithm.
"""

from __future__ import annotations

from decimal import Decimal, getcontext, localcontext

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    dims,
    gaussians,
    means,
    orthogonal_matrices,
    psd_matrices,
    spd_matrices,
    spectra,
)

from scorelab._validate import (
    as_float_array,
    check_int,
    check_psd,
    check_spd,
    check_spd_cholesky,
)
from scorelab.metrics_gaussian import kl_gaussian, w2_gaussian, w2_gaussian_squared

Gaussian = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


@st.composite
def gaussian_tuples(
    draw: st.DrawFn, n: int, max_d: int = 6, cond_max: float = 1e3
) -> list[Gaussian]:
    """``n`` Gaussians of a common drawn dimension."""
    d = draw(dims(max_d))
    return [draw(gaussians(d=d, cond_max=cond_max)) for _ in range(n)]


Batch = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


def stack(gs: list[Gaussian]) -> Batch:
    """Stack Gaussians as ``(n, d)`` means and ``(n, d, d)`` covariances."""
    return np.stack([g[0] for g in gs]), np.stack([g[1] for g in gs])


@st.composite
def gaussian_batches(
    draw: st.DrawFn, max_n: int = 5, max_d: int = 5, n_batches: int = 1
) -> list[Batch]:
    """``n_batches`` batches of Gaussians of a common dimension, each stacked."""
    d = draw(dims(max_d))
    out = []
    for _ in range(n_batches):
        n = draw(st.integers(min_value=1, max_value=max_n))
        out.append(stack([draw(gaussians(d=d)) for _ in range(n)]))
    return out


def scale(*gs: Gaussian) -> float:
    """Size of the terms that cancel in W2^2: sum of |m|^2 + tr S."""
    return float(sum(np.sum(m**2) + np.trace(S) for m, S in gs))


def w2sq_reference(m1, S1, m2, S2) -> float:
    """Textbook formula with a symmetric eigen square root of S2."""
    w, V = np.linalg.eigh(S2)
    R = (V * np.sqrt(np.maximum(w, 0.0))) @ V.T
    M = R @ S1 @ R
    cross = np.sum(np.sqrt(np.maximum(np.linalg.eigvalsh(0.5 * (M + M.T)), 0.0)))
    return float(np.sum((m1 - m2) ** 2) + np.trace(S1) + np.trace(S2) - 2 * cross)


def kl_reference(m1, S1, m2, S2) -> float:
    """Direct KL formula with ``inv`` and ``slogdet``."""
    d = m1.shape[-1]
    P2 = np.linalg.inv(S2)
    dm = m2 - m1
    _, ld1 = np.linalg.slogdet(S1)
    _, ld2 = np.linalg.slogdet(S2)
    return float(0.5 * (np.trace(P2 @ S1) + dm @ P2 @ dm - d + ld2 - ld1))


# --------------------------------------------------------------------------- W2


@given(gaussians(max_d=8))
def test_w2_self_is_zero(g: Gaussian) -> None:
    m, S = g
    sq = w2_gaussian_squared(m, S, m, S)
    assert isinstance(sq, float)
    # Cancellation floor: W2^2 ~ eps * cond * tr S; observed <= 1.2e-14 tr S.
    assert 0.0 <= sq <= 1e-12 * np.trace(S)
    assert w2_gaussian(m, S, m, S) <= 1e-6 * np.sqrt(np.trace(S))


@given(gaussian_tuples(2))
def test_w2_symmetric(gs: list[Gaussian]) -> None:
    (m1, S1), (m2, S2) = gs
    a = w2_gaussian_squared(m1, S1, m2, S2)
    b = w2_gaussian_squared(m2, S2, m1, S1)
    assert a >= 0.0
    assert abs(a - b) <= 1e-12 * scale(*gs)


@given(gaussian_tuples(3))
def test_w2_triangle_inequality(gs: list[Gaussian]) -> None:
    (ma, Sa), (mb, Sb), (mc, Sc) = gs
    ac = w2_gaussian(ma, Sa, mc, Sc)
    ab = w2_gaussian(ma, Sa, mb, Sb)
    bc = w2_gaussian(mb, Sb, mc, Sc)
    assert ac <= ab + bc + 1e-9 * np.sqrt(scale(*gs))


@given(st.data(), dims(8))
def test_w2_commuting_closed_form(data: st.DataObject, d: int) -> None:
    q = data.draw(orthogonal_matrices(d))
    l1 = data.draw(spectra(d))
    l2 = data.draw(spectra(d))
    m1, m2 = data.draw(means(d)), data.draw(means(d))
    S1 = (q * l1) @ q.T
    S2 = (q * l2) @ q.T
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(l1) - np.sqrt(l2)) ** 2)
    got = w2_gaussian_squared(m1, S1, m2, S2)
    assert got == pytest.approx(expected, rel=0, abs=1e-12 * scale((m1, S1), (m2, S2)))


positive = st.floats(min_value=0.0, max_value=1e4)
reals = st.floats(min_value=-100.0, max_value=100.0)


@given(reals, reals, positive, positive)
def test_w2_one_dimensional(m1: float, m2: float, v1: float, v2: float) -> None:
    expected = (m1 - m2) ** 2 + (np.sqrt(v1) - np.sqrt(v2)) ** 2
    got = w2_gaussian_squared([m1], [[v1]], [m2], [[v2]])
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert w2_gaussian([m1], [[v1]], [m2], [[v2]]) == pytest.approx(
        np.sqrt(expected), rel=1e-12, abs=1e-300
    )
    # The general (d >= 2) path agrees with the d == 1 fast path.
    emb = w2_gaussian_squared(
        [m1, 0.0], np.diag([v1, 1.0]), [m2, 0.0], np.diag([v2, 1])
    )
    assert emb == pytest.approx(expected, rel=0, abs=1e-12 * (v1 + v2 + 2 + expected))


def test_w2_examples() -> None:
    assert w2_gaussian([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(np.sqrt(10))
    assert w2_gaussian_squared(np.zeros(3), np.eye(3), np.ones(3), 4 * np.eye(3)) == (
        pytest.approx(6.0)
    )
    assert w2_gaussian([1, 2], np.eye(2, dtype=int), [1, 2], np.eye(2)) == 0.0


@given(gaussian_tuples(2))
def test_w2_matches_pot(gs: list[Gaussian]) -> None:
    ot = pytest.importorskip("ot")
    (m1, S1), (m2, S2) = gs
    ref = float(ot.gaussian.bures_wasserstein_distance(m1, m2, S1, S2))
    got = w2_gaussian(m1, S1, m2, S2)
    assert abs(got**2 - ref**2) <= 1e-8 * scale(*gs)
    assert got == pytest.approx(ref, rel=1e-8, abs=1e-6 * np.sqrt(scale(*gs)))


@settings(max_examples=25)
@given(gaussian_batches(n_batches=2))
def test_w2_matches_pot_all_pairs(batches: list[Batch]) -> None:
    ot = pytest.importorskip("ot")
    (ma, Sa), (mb, Sb) = batches
    ref = np.asarray(ot.gaussian.bures_wasserstein_distance(ma, mb, Sa, Sb))
    got = w2_gaussian(ma[:, None], Sa[:, None], mb[None], Sb[None])
    assert got.shape == (ma.shape[0], mb.shape[0])
    s = np.trace(Sa, axis1=1, axis2=2)[:, None] + np.trace(Sb, axis1=1, axis2=2)
    s = s + np.sum(ma**2, -1)[:, None] + np.sum(mb**2, -1)[None]
    assert np.all(np.abs(got**2 - ref**2) <= 1e-8 * s)


@settings(max_examples=25)
@given(st.data(), dims(5), st.integers(1, 5))
def test_batched_equals_loop(data: st.DataObject, d: int, n: int) -> None:
    m1, S1 = stack([data.draw(gaussians(d=d)) for _ in range(n)])
    m2, S2 = stack([data.draw(gaussians(d=d)) for _ in range(n)])
    w2 = w2_gaussian(m1, S1, m2, S2)
    kl = kl_gaussian(m1, S1, m2, S2)
    assert isinstance(w2, np.ndarray) and w2.shape == (n,)
    assert isinstance(kl, np.ndarray) and kl.shape == (n,)
    for i in range(n):
        s = scale((m1[i], S1[i]), (m2[i], S2[i]))
        w = w2_gaussian(m1[i], S1[i], m2[i], S2[i])
        assert w2[i] ** 2 == pytest.approx(w**2, rel=1e-12, abs=1e-13 * s)
        assert kl[i] == pytest.approx(
            kl_gaussian(m1[i], S1[i], m2[i], S2[i]), rel=1e-12, abs=1e-12
        )


@settings(max_examples=25)
@given(gaussian_batches(max_n=6), st.data())
def test_broadcast_one_reference_against_many(
    batches: list[Batch], data: st.DataObject
) -> None:
    ((m1, S1),) = batches
    n, d = m1.shape
    m2, S2 = data.draw(gaussians(d=d))
    got = w2_gaussian_squared(m1, S1, m2, S2)
    assert isinstance(got, np.ndarray) and got.shape == (n,)
    # Reversed order, reshaped batch (n,) -> (n, 1), and shared covariance.
    rev = w2_gaussian_squared(m2, S2, m1[:, None], S1[:, None])
    assert rev.shape == (n, 1)
    shared = w2_gaussian_squared(m1, S2, m2, S2)
    kl = kl_gaussian(m1, S1, m2, S2)
    assert kl.shape == (n,)
    for i in range(n):
        s = scale((m1[i], S1[i]), (m2, S2))
        assert got[i] == pytest.approx(w2gs(m1[i], S1[i], m2, S2), abs=1e-12 * s)
        assert rev[i, 0] == pytest.approx(got[i], abs=1e-12 * s)
        assert shared[i] == pytest.approx(np.sum((m1[i] - m2) ** 2), abs=1e-12 * s)
        assert kl[i] == pytest.approx(kl_gaussian(m1[i], S1[i], m2, S2), rel=1e-12)


def w2gs(m1, S1, m2, S2) -> float:
    out = w2_gaussian_squared(m1, S1, m2, S2)
    assert isinstance(out, float)
    return out


def test_broadcast_batch_shapes() -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((2, 1, 3, 3))
    S1 = A @ np.swapaxes(A, -1, -2) + np.eye(3)
    m2 = rng.standard_normal((4, 3))
    out = w2_gaussian(np.zeros(3), S1, m2, np.eye(3))
    assert out.shape == (2, 4)
    assert w2_gaussian(np.zeros((0, 3)), np.eye(3), np.zeros(3), np.eye(3)).shape == (
        0,
    )


# ------------------------------------------------------------ PSD / singular


@given(st.data(), dims(6))
def test_w2_singular_commuting(data: st.DataObject, d: int) -> None:
    q = data.draw(orthogonal_matrices(d))
    r1 = data.draw(st.integers(0, d))
    r2 = data.draw(st.integers(0, d - 1))
    l1 = np.zeros(d)
    l2 = np.zeros(d)
    if r1:
        l1[:r1] = data.draw(spectra(r1))
    if r2:
        l2[d - r2 :] = data.draw(spectra(r2))
    m1, m2 = data.draw(means(d)), data.draw(means(d))
    S1 = 0.5 * ((q * l1) @ q.T + ((q * l1) @ q.T).T)
    S2 = 0.5 * ((q * l2) @ q.T + ((q * l2) @ q.T).T)
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(l1) - np.sqrt(l2)) ** 2)
    # sqrt is not Lipschitz at 0: rounding of size eps * |S| moves W2^2 by
    # ~ sqrt(eps) * |S|, hence the looser tolerance for singular inputs.
    s = scale((m1, S1), (m2, S2))
    assert w2gs(m1, S1, m2, S2) == pytest.approx(expected, rel=0, abs=1e-7 * s)
    assert w2gs(m2, S2, m1, S1) == pytest.approx(expected, rel=0, abs=1e-7 * s)


@given(st.data(), dims(6, min_d=2))
def test_w2_rank_one_closed_form(data: st.DataObject, d: int) -> None:
    a, b = data.draw(means(d)), data.draw(means(d))
    m1, m2 = data.draw(means(d)), data.draw(means(d))
    S1, S2 = np.outer(a, a), np.outer(b, b)
    expected = np.sum((m1 - m2) ** 2) + a @ a + b @ b - 2 * abs(a @ b)
    s = scale((m1, S1), (m2, S2))
    assert w2gs(m1, S1, m2, S2) == pytest.approx(expected, rel=0, abs=1e-7 * s)


@given(gaussians(max_d=6), st.data())
def test_w2_zero_covariance(g: Gaussian, data: st.DataObject) -> None:
    m1, S1 = g
    d = m1.shape[0]
    m2 = data.draw(means(d))
    Z = np.zeros((d, d))
    expected = np.sum((m1 - m2) ** 2) + np.trace(S1)
    s = scale(g, (m2, Z))
    assert w2gs(m1, S1, m2, Z) == pytest.approx(expected, rel=0, abs=1e-12 * s)
    assert w2gs(m2, Z, m1, S1) == pytest.approx(expected, rel=0, abs=1e-12 * s)
    assert w2gs(m1, Z, m2, Z) == pytest.approx(np.sum((m1 - m2) ** 2), rel=1e-12)


@given(st.data(), dims(6, min_d=2))
def test_w2_singular_matches_reference(data: st.DataObject, d: int) -> None:
    S1 = data.draw(psd_matrices(d))
    S2 = data.draw(psd_matrices(d))
    m1, m2 = data.draw(means(d)), data.draw(means(d))
    s = scale((m1, S1), (m2, S2))
    got = w2gs(m1, S1, m2, S2)
    assert got == pytest.approx(w2sq_reference(m1, S1, m2, S2), rel=0, abs=1e-7 * s)
    assert got == pytest.approx(w2gs(m2, S2, m1, S1), rel=0, abs=1e-7 * s)


# --------------------------------------------------------------------------- KL


@given(gaussians(max_d=8))
def test_kl_self_is_zero(g: Gaussian) -> None:
    m, S = g
    kl = kl_gaussian(m, S, m, S)
    assert isinstance(kl, float)
    assert 0.0 <= kl <= 1e-10 * m.shape[0]


@given(reals, reals, st.floats(1e-3, 1e3), st.floats(1e-3, 1e3))
def test_kl_one_dimensional(m1: float, m2: float, v1: float, v2: float) -> None:
    expected = 0.5 * (v1 / v2 + (m2 - m1) ** 2 / v2 - 1 + np.log(v2 / v1))
    got = kl_gaussian([m1], [[v1]], [m2], [[v2]])
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


@given(gaussian_tuples(2))
def test_kl_matches_direct_formula(gs: list[Gaussian]) -> None:
    (m1, S1), (m2, S2) = gs
    got = kl_gaussian(m1, S1, m2, S2)
    assert got >= 0.0
    ref = kl_reference(m1, S1, m2, S2)
    d = m1.shape[0]
    assert got == pytest.approx(ref, rel=1e-7, abs=1e-9 * d)


@given(gaussian_tuples(2, cond_max=10.0))
def test_kl_nonnegative_and_asymmetric_pairs(gs: list[Gaussian]) -> None:
    (m1, S1), (m2, S2) = gs
    fwd = kl_gaussian(m1, S1, m2, S2)
    rev = kl_gaussian(m2, S2, m1, S1)
    assert fwd >= 0.0 and rev >= 0.0
    assert rev == pytest.approx(kl_reference(m2, S2, m1, S1), rel=1e-8, abs=1e-9)


def test_kl_example() -> None:
    assert kl_gaussian([0.0], [[1.0]], [1.0], [[1.0]]) == pytest.approx(0.5)
    # KL(N(0, I) || N(0, 2I)) in d = 3: (3/2 - 3 + 3 log 2) / 2.
    expected = 0.5 * (1.5 - 3 + 3 * np.log(2))
    assert kl_gaussian(np.zeros(3), np.eye(3), np.zeros(3), 2 * np.eye(3)) == (
        pytest.approx(expected, rel=1e-14)
    )


def test_kl_requires_positive_definite() -> None:
    S = np.diag([1.0, 0.0])
    with pytest.raises(ValueError, match=r"S2 .*not positive definite"):
        kl_gaussian(np.zeros(2), np.eye(2), np.zeros(2), S)
    with pytest.raises(ValueError, match=r"S1 .*not positive definite"):
        kl_gaussian(np.zeros(2), S, np.zeros(2), np.eye(2))
    # W2 accepts the same PSD matrix.
    assert w2_gaussian(np.zeros(2), S, np.zeros(2), np.eye(2)) == pytest.approx(1.0)


# ----------------------------------------------- near-equal pairs (no cancellation)
#
# The trace form loses W2 below ~ sqrt(eps tr S) ~ 1e-8 sqrt(tr S) and KL below
# ~ eps d. The data of these tests are exact in float64 (the differences S2 - S1
# are what they are meant to be): a random rotation of A = Q diag(a) Q^T rounded
# to 8-bit mantissas, with B = (1 + e) A exactly for e = 2^-k (so A and B commute
# exactly); or Sylvester-Hadamard rotations H diag(a) H^T / n of integer spectra,
# exact sums; or any float64 pair against a 60-digit Decimal reference. (A random
# rotation of two nearby spectra rounded to float64 moves W2 by ~ 1e-16 sqrt(tr S),
# i.e. by 1e-3 relative at W2 = 1e-13 sqrt(tr S): no reference for the test.)

_KS = list(range(7, 44, 3))  # e = 2^-k: 8e-3 ... 1.1e-13


def _quantize(x: npt.NDArray[np.float64], bits: int = 8) -> npt.NDArray[np.float64]:
    f, e = np.frexp(x)
    return np.ldexp(np.round(np.ldexp(f, bits)), e - bits)


def _rotated_spd(rng: np.random.Generator, d: int) -> npt.NDArray[np.float64]:
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = _quantize((q * rng.uniform(0.5, 2.0, d)) @ q.T)
    return np.minimum(A, A.T)  # symmetric, entries of 8 bits


def _hadamard(rng: np.random.Generator, d: int) -> npt.NDArray[np.float64]:
    """A random signed, permuted Sylvester-Hadamard matrix (entries +-1), d = 2^j."""
    H = np.ones((1, 1))
    while H.shape[0] < d:
        H = np.kron(H, np.array([[1.0, 1.0], [1.0, -1.0]]))
    H = H[rng.permutation(d)][:, rng.permutation(d)]
    return H * rng.choice([-1.0, 1.0], d)[:, None] * rng.choice([-1.0, 1.0], d)


def _hadamard_pair(rng: np.random.Generator, d: int, eps: float):
    """Exactly commuting ``(A, B, a, b)``: ``H diag(a) H^T / d``, b ~ a (1 + eps u)."""
    H = _hadamard(rng, d)
    a = rng.integers(2**44, 2**45, d).astype(np.float64)
    delta = np.round(a * eps * rng.uniform(-1.0, 1.0, d))
    delta[delta == 0] = 1.0
    b = a + delta
    scale = 2.0**-44
    A = (H * a) @ H.T / d * scale  # integer sums below 2^53: exact
    B = (H * b) @ H.T / d * scale
    return A, B, a * scale, b * scale


def _dec(x: object) -> list[list[Decimal]]:
    return [[Decimal(float(v)) for v in row] for row in np.atleast_2d(x)]


def _jacobi(A: list[list[Decimal]]) -> tuple[list[Decimal], list[list[Decimal]]]:
    """Eigenvalues, eigenvectors (columns) of a symmetric Decimal matrix (Jacobi)."""
    n = len(A)
    A = [row[:] for row in A]
    V = [[Decimal(int(i == j)) for j in range(n)] for i in range(n)]
    tiny = sum(abs(x) for row in A for x in row) * Decimal(10) ** -(
        getcontext().prec + 5
    )
    for _ in range(100):
        if sum(abs(A[i][j]) for i in range(n) for j in range(n) if i != j) <= tiny:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                if abs(A[p][q]) <= tiny:
                    continue
                th = (A[q][q] - A[p][p]) / (2 * A[p][q])
                t = (1 if th >= 0 else -1) / (abs(th) + (th * th + 1).sqrt())
                c = 1 / (t * t + 1).sqrt()
                s = t * c
                for M in (A, V):  # columns p, q
                    for k in range(n):
                        x, y = M[k][p], M[k][q]
                        M[k][p], M[k][q] = c * x - s * y, s * x + c * y
                for k in range(n):  # rows p, q
                    x, y = A[p][k], A[q][k]
                    A[p][k], A[q][k] = c * x - s * y, s * x + c * y
    return [A[i][i] for i in range(n)], V


def _mm(A: list[list[Decimal]], B: list[list[Decimal]]) -> list[list[Decimal]]:
    return [[sum(a * b for a, b in zip(r, c)) for c in zip(*B)] for r in A]


def _dsqrt(x: Decimal) -> Decimal:
    return max(x, Decimal(0)).sqrt()


def w2_decimal(m1, S1, m2, S2, prec: int = 60) -> float:
    """W2 of the float64 data by the trace form in ``prec``-digit Decimal arithmetic."""
    with localcontext() as ctx:
        ctx.prec = prec
        A, B = _dec(S1), _dec(S2)
        n = len(A)
        w, V = _jacobi(A)
        R = [[sum(V[i][k] * _dsqrt(w[k]) * V[j][k] for k in range(n)) for j in range(n)]
             for i in range(n)]  # fmt: skip
        C = _mm(_mm(R, B), R)
        c, _ = _jacobi([[(C[i][j] + C[j][i]) / 2 for j in range(n)] for i in range(n)])
        dm = sum((x - y) ** 2 for x, y in zip(_dec(m1)[0], _dec(m2)[0]))
        tr = sum(A[i][i] + B[i][i] for i in range(n))
        return float(_dsqrt(dm + tr - 2 * sum(_dsqrt(x) for x in c)))


def _dchol(A: list[list[Decimal]]) -> list[list[Decimal]]:
    n = len(A)
    L = [[Decimal(0)] * n for _ in range(n)]
    for j in range(n):
        L[j][j] = (A[j][j] - sum(L[j][k] ** 2 for k in range(j))).sqrt()
        for i in range(j + 1, n):
            L[i][j] = (A[i][j] - sum(L[i][k] * L[j][k] for k in range(j))) / L[j][j]
    return L


def _dsolve_lower(L: list[list[Decimal]], b: list[Decimal]) -> list[Decimal]:
    x: list[Decimal] = []
    for i, row in enumerate(L):
        x.append((b[i] - sum(row[k] * x[k] for k in range(i))) / row[i])
    return x


def kl_decimal(m1, S1, m2, S2, prec: int = 60) -> float:
    """KL of the float64 data by the trace/log-det form in Decimal arithmetic."""
    with localcontext() as ctx:
        ctx.prec = prec
        A, B = _dec(S1), _dec(S2)
        n = len(A)
        L1, L2 = _dchol(A), _dchol(B)
        # tr(S2^-1 S1) = |L2^-1 L1|_F^2
        cols = [_dsolve_lower(L2, [L1[i][j] for i in range(n)]) for j in range(n)]
        tr = sum(x * x for col in cols for x in col)
        z = _dsolve_lower(L2, [y - x for x, y in zip(_dec(m1)[0], _dec(m2)[0])])
        logdet = 2 * sum((L2[i][i] / L1[i][i]).ln() for i in range(n))
        return float((tr + sum(x * x for x in z) - n + logdet) / 2)


def _near_noncommuting(rng: np.random.Generator, d: int, n: int):
    """``n`` float64 pairs S2 = S1 + eps_i (E_i + E_i^T), eps from 1e-2 to 1e-13."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    S = (q * rng.uniform(0.3, 3.0, d)) @ q.T
    S = 0.5 * (S + S.T)
    E = rng.standard_normal((n, d, d))
    eps = np.geomspace(1e-2, 1e-13, n)
    S2 = S + eps[:, None, None] * (E + np.swapaxes(E, 1, 2))
    m1 = np.zeros((n, d))
    m2 = m1 + 1e-14 * rng.standard_normal((n, d))
    return m1, np.broadcast_to(S, S2.shape), m2, S2


def _both_paths(f, m1, S1, m2, S2) -> tuple[npt.NDArray[np.float64], ...]:
    """Batched call (native core for d > 1) and pair-by-pair calls (NumPy path)."""
    batched = np.asarray(f(m1, S1, m2, S2))
    single = np.array([f(m1[i], S1[i], m2[i], S2[i]) for i in range(len(S1))])
    return batched, single


@pytest.mark.parametrize("d", [1, 3, 16])
def test_w2_near_equal_commuting_proportional(d: int) -> None:
    rng = np.random.default_rng(100 + d)
    A = _rotated_spd(rng, d)
    e = 2.0 ** -np.array(_KS, dtype=np.float64)
    S1 = np.broadcast_to(A, (len(e), d, d))
    S2 = A * (1.0 + e)[:, None, None]
    assert np.all(S2 - S1 == A * e[:, None, None])  # exact data
    m = np.broadcast_to(rng.standard_normal(d), (len(e), d))
    # (sqrt(1 + e) - 1) sqrt(a_i) per eigenvalue, without cancellation
    ref = e / (np.sqrt(1.0 + e) + 1.0) * np.sqrt(np.trace(A))
    for got in (*_both_paths(w2_gaussian, m, S1, m, S2), w2_gaussian(m, S2, m, S1)):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=0)
    sq = w2_gaussian_squared(m, S1, m, S2)
    np.testing.assert_allclose(sq, ref**2, rtol=2e-10, atol=0)


@pytest.mark.parametrize("d", [2, 4, 16])
def test_w2_near_equal_commuting_spectra(d: int) -> None:
    rng = np.random.default_rng(200 + d)
    pairs = [_hadamard_pair(rng, d, 2.0**-k) for k in _KS]
    S1 = np.stack([p[0] for p in pairs])
    S2 = np.stack([p[1] for p in pairs])
    ref = np.array(
        [np.linalg.norm((b - a) / (np.sqrt(a) + np.sqrt(b))) for _, _, a, b in pairs]
    )
    m = np.zeros((len(pairs), d))
    for got in _both_paths(w2_gaussian, m, S1, m, S2):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=0)
    assert ref.min() < 1e-13 * np.sqrt(np.trace(S1[0]))


@pytest.mark.parametrize("d", [2, 3, 16])
def test_w2_near_equal_noncommuting_decimal(d: int) -> None:
    m1, S1, m2, S2 = _near_noncommuting(np.random.default_rng(300 + d), d, 9)
    ref = np.array([w2_decimal(m1[i], S1[i], m2[i], S2[i]) for i in range(9)])
    for got in (*_both_paths(w2_gaussian, m1, S1, m2, S2), w2_gaussian(m2, S2, m1, S1)):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=0)


@pytest.mark.parametrize("d", [1, 3, 16])
def test_kl_near_equal_commuting_proportional(d: int) -> None:
    rng = np.random.default_rng(400 + d)
    A = _rotated_spd(rng, d)
    ks = _KS + [44]
    S1 = np.broadcast_to(A, (len(ks), d, d))
    S2 = np.stack([A * (1.0 + 2.0**-k) for k in ks])
    m = np.zeros((len(ks), d))
    with localcontext() as ctx:
        ctx.prec = 50
        # KL(N(A) || N((1 + e) A)) = d/2 (t - log(1 + t)), t = 1/(1 + e) - 1
        ts = [1 / (1 + Decimal(2.0**-k)) - 1 for k in ks]
        fwd = np.array([float(d * (t - (1 + t).ln()) / 2) for t in ts])
        ts = [Decimal(2.0**-k) for k in ks]
        rev = np.array([float(d * (t - (1 + t).ln()) / 2) for t in ts])
    assert fwd.min() < 1e-26 * d
    np.testing.assert_allclose(kl_gaussian(m, S1, m, S2), fwd, rtol=1e-10, atol=0)
    np.testing.assert_allclose(kl_gaussian(m, S2, m, S1), rev, rtol=1e-10, atol=0)
    single = [kl_gaussian(m[i], S1[i], m[i], S2[i]) for i in range(len(ks))]
    np.testing.assert_allclose(single, fwd, rtol=1e-10, atol=0)


@pytest.mark.parametrize("d", [2, 16])
def test_kl_near_equal_commuting_spectra(d: int) -> None:
    rng = np.random.default_rng(500 + d)
    pairs = [_hadamard_pair(rng, d, 2.0**-k) for k in _KS]
    S1 = np.stack([p[0] for p in pairs])
    S2 = np.stack([p[1] for p in pairs])
    ref = []
    with localcontext() as ctx:
        ctx.prec = 50
        for _, _, a, b in pairs:  # eigenvalues of S2^-1 S1: a / b
            t = [(Decimal(x) - Decimal(y)) / Decimal(y) for x, y in zip(a, b)]
            ref.append(float(sum(u - (1 + u).ln() for u in t) / 2))
    m = np.zeros((len(pairs), d))
    np.testing.assert_allclose(kl_gaussian(m, S1, m, S2), ref, rtol=1e-10, atol=0)


@pytest.mark.parametrize("d", [2, 3, 16])
def test_kl_near_equal_noncommuting_decimal(d: int) -> None:
    m1, S1, m2, S2 = _near_noncommuting(np.random.default_rng(600 + d), d, 6)
    ref = np.array([kl_decimal(m1[i], S1[i], m2[i], S2[i]) for i in range(6)])
    np.testing.assert_allclose(kl_gaussian(m1, S1, m2, S2), ref, rtol=1e-10, atol=0)
    rev = np.array([kl_decimal(m2[i], S2[i], m1[i], S1[i]) for i in range(6)])
    np.testing.assert_allclose(kl_gaussian(m2, S2, m1, S1), rev, rtol=1e-10, atol=0)


# ------------------------------------------------------------------ bad inputs

I2 = np.eye(2)
Z2 = np.zeros(2)


@pytest.mark.parametrize("func", [w2_gaussian, w2_gaussian_squared, kl_gaussian])
@pytest.mark.parametrize(
    ("args", "exc", "match"),
    [
        (([np.nan, 0.0], I2, Z2, I2), ValueError, r"^m1 .*finite"),
        ((Z2, I2, [0.0, np.inf], I2), ValueError, r"^m2 .*finite"),
        ((Z2, [[1.0, np.nan], [np.nan, 1.0]], Z2, I2), ValueError, r"^S1 .*finite"),
        ((Z2, I2, np.zeros(3), I2), ValueError, r"^m2 must have shape \(\.\.\., 2\)"),
        ((np.zeros(3), I2, Z2, I2), ValueError, r"^m1 must have shape \(\.\.\., 2\)"),
        ((Z2, I2, Z2, np.eye(3)), ValueError, r"^S2 must have shape \(\.\.\., 2, 2\)"),
        ((Z2, np.ones((2, 3)), Z2, I2), ValueError, r"^S1 must be a square"),
        ((Z2, np.ones(2), Z2, I2), ValueError, r"^S1 must have at least 2"),
        ((1.0, I2, Z2, I2), ValueError, r"^m1 must have at least 1"),
        ((Z2, [[1.0, 0.5], [0.0, 1.0]], Z2, I2), ValueError, r"^S1 .*not symmetric"),
        ((Z2, I2, Z2, [[1.0, 0.0], [1e-3, 1.0]]), ValueError, r"^S2 .*not symmetric"),
        ((Z2, I2, Z2, np.diag([1.0, -1.0])), ValueError, r"^S2 .*not positive"),
        ((Z2, -I2, Z2, I2), ValueError, r"^S1 .*not positive"),
        ((Z2 + 0j, I2, Z2, I2), TypeError, r"^m1 .*complex"),
        ((Z2, I2 + 0j, Z2, I2), TypeError, r"^S1 .*complex"),
        ((Z2, I2, Z2, I2.astype(bool)), TypeError, r"^S2 .*boolean"),
        ((np.array(["a", "b"]), I2, Z2, I2), TypeError, r"^m1 .*real numbers"),
        ((Z2, I2, np.array([0.0, None]), I2), TypeError, r"^m2 .*real numbers"),
        ((Z2, [[1.0, 0.0], [0.0]], Z2, I2), ValueError, r"^S1 .*rectangular"),
        ((np.zeros((2, 2)), I2, np.zeros((3, 2)), I2), ValueError, r"do not broadcast"),
        ((np.zeros(0), np.zeros((0, 0)), Z2, I2), ValueError, r"^S1 .*d >= 1"),
    ],
)
def test_bad_inputs(func, args, exc, match) -> None:
    with pytest.raises(exc, match=match):
        func(*args)


def test_batched_error_names_index() -> None:
    S = np.stack([np.eye(2), np.diag([1.0, -1.0])])
    with pytest.raises(ValueError, match=r"S2 .*batch index \(1,\)"):
        w2_gaussian(Z2, I2, Z2, S)
    with pytest.raises(ValueError, match=r"S1 .*not positive definite at batch index"):
        kl_gaussian(Z2, S, Z2, I2)


def test_tiny_negative_eigenvalue_and_asymmetry_accepted() -> None:
    S = np.diag([1.0, -1e-13])
    assert w2_gaussian(Z2, S, Z2, S) == pytest.approx(0.0, abs=1e-12)
    A = np.array([[2.0, 1.0], [1.0 + 1e-12, 2.0]])
    assert w2_gaussian(Z2, A, Z2, A) == pytest.approx(0.0, abs=1e-7)


def test_inputs_not_modified() -> None:
    A = np.array([[2.0, 1.0], [1.0 + 1e-12, 2.0]])
    A0 = A.copy()
    m = np.array([1.0, 2.0])
    w2_gaussian(m, A, Z2, A)
    kl_gaussian(m, A, Z2, A)
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(m, [1.0, 2.0])


# ---------------------------------------------------------- validation helpers


def test_as_float_array_conversions() -> None:
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    out = as_float_array(x, "x")
    assert out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, x)
    y = np.ones((3, 2), dtype=np.float64)
    assert as_float_array(y, "y") is y  # no copy when not needed
    t = as_float_array(y.T, "y")
    assert t.flags.c_contiguous and not np.shares_memory(t, y)
    assert as_float_array(np.float32(1.5), "s").dtype == np.float64
    assert as_float_array([[1, 2]], "z", shape=(None, 2)).shape == (1, 2)
    assert as_float_array(np.zeros((0, 2)), "e", allow_empty=True).shape == (0, 2)


@pytest.mark.parametrize(
    ("kwargs", "value", "exc", "match"),
    [
        ({}, np.array([True]), TypeError, r"^arg .*boolean"),
        ({}, np.array([1j]), TypeError, r"^arg .*complex"),
        ({}, np.array([object()]), TypeError, r"^arg .*real numbers"),
        ({}, [np.inf], ValueError, r"^arg .*finite"),
        ({}, [], ValueError, r"^arg must not be empty"),
        ({"ndim": 2}, [1.0], ValueError, r"^arg must have 2 dimension"),
        ({"shape": (None, 3)}, np.ones((2, 2)), ValueError, r"^arg .*shape \(:, 3\)"),
        ({"min_ndim": 2}, [1.0], ValueError, r"^arg must have at least 2"),
    ],
)
def test_as_float_array_errors(kwargs, value, exc, match) -> None:
    with pytest.raises(exc, match=match):
        as_float_array(value, "arg", **kwargs)


def test_check_int() -> None:
    assert check_int(3, "n", 1) == 3
    assert check_int(np.int64(0), "n", 0) == 0
    assert isinstance(check_int(np.uint8(5), "n"), int)
    for bad in (True, np.bool_(False), 3.0, "3", None, np.float64(2)):
        with pytest.raises(TypeError, match=r"^n must be an integer"):
            check_int(bad, "n", 0)
    with pytest.raises(ValueError, match=r"^n must be >= 1, got 0"):
        check_int(0, "n", 1)


@given(st.data(), dims(5))
def test_check_spd_and_psd(data: st.DataObject, d: int) -> None:
    S = data.draw(spd_matrices(d))
    np.testing.assert_array_equal(check_spd(S, "S"), S)
    sym, L = check_spd_cholesky(S, "S")
    np.testing.assert_allclose(L @ L.T, S, rtol=0, atol=1e-12 * np.abs(S).max())
    np.testing.assert_array_equal(check_psd(S, "S"), S)
    check_psd(data.draw(psd_matrices(d)), "P")
    P = np.zeros((d, d))
    P[0, 0] = 1.0 if d > 1 else 0.0
    with pytest.raises(ValueError, match=r"^P must be symmetric positive definite"):
        check_spd(P, "P")
    with pytest.raises(ValueError, match=r"^S must be symmetric positive semi-defin"):
        check_psd(-S, "S")


# ------------------------------------------------------------ native batched path


def _numpy_w2sq(m1, S1, m2, S2):
    """One pair at a time (below the native batch threshold: the NumPy path)."""
    return np.array([w2gs(m1[i], S1[i], m2[i], S2[i]) for i in range(len(m1))])


@pytest.mark.parametrize("d", [2, 3, 16, 40])
def test_native_batch_equals_numpy_path(d: int) -> None:
    rng = np.random.default_rng(d)
    n = 33
    A = rng.standard_normal((2, n, d, d))
    S1, S2 = A @ np.swapaxes(A, -1, -2) / d
    # singular S1 and S2 (rank d - 1 and rank 1), and a zero S2
    v = rng.standard_normal((n, d, d - 1))
    S1[3] = v[3] @ v[3].T
    S2[4] = np.outer(v[4, :, 0], v[4, :, 0])
    S2[5] = 0.0
    S1[6], S2[6] = S2[6], S2[6]  # identical pair
    m1, m2 = rng.standard_normal((2, n, d))
    got = w2_gaussian_squared(m1, S1, m2, S2)
    ref = _numpy_w2sq(m1, S1, m2, S2)
    s = np.trace(S1, axis1=1, axis2=2) + np.trace(S2, axis1=1, axis2=2) + 1
    # singular pairs: an eigenvalue near 0 of L^T S1 L is only known to eps |S|,
    # its square root to sqrt(eps |S|) (in both paths)
    tol = np.where(np.isin(np.arange(n), [3, 4, 5]), 1e-7, 1e-11) * s.max()
    assert np.all(np.abs(got - ref) <= tol)
    # one reference broadcast against the batch, reshaped batch
    one = w2_gaussian_squared(m1, S1, m2[0], S2[0])
    ref1 = np.array([w2gs(m1[i], S1[i], m2[0], S2[0]) for i in range(n)])
    tol1 = np.where(np.arange(n) == 3, 1e-7, 1e-11) * s.max()
    assert np.all(np.abs(one - ref1) <= tol1)
    resh = w2_gaussian_squared(
        m1.reshape(3, 11, d), S1.reshape(3, 11, d, d), m2[0], S2[0]
    )
    np.testing.assert_array_equal(resh.reshape(-1), one)


def test_native_batch_errors_match_numpy_path() -> None:
    rng = np.random.default_rng(0)
    n, d = 12, 4
    A = rng.standard_normal((n, d, d))
    S = A @ np.swapaxes(A, -1, -2)
    m = np.zeros((n, d))
    bad = S.copy()
    bad[7] = -np.eye(d)
    with pytest.raises(ValueError, match="S1 must be .*not positive semi-definite"):
        w2_gaussian(m, bad, m, S)
    with pytest.raises(ValueError, match="S2 must be .*not positive semi-definite"):
        w2_gaussian(m, S, m, bad)
    asym = S.copy()
    asym[2, 0, 1] += 1.0
    with pytest.raises(ValueError, match="S2 must be .*not symmetric"):
        w2_gaussian(m, S, m, asym)
    # a tiny negative eigenvalue (within the PSD tolerance) is accepted
    w, V = np.linalg.eigh(S[0])
    w[0] = -1e-13 * w[-1]
    ok = S.copy()
    ok[0] = V @ np.diag(w) @ V.T
    ok[0] = 0.5 * (ok[0] + ok[0].T)
    got = w2_gaussian_squared(m, ok, m, S)
    assert got[0] == pytest.approx(w2gs(m[0], ok[0], m[0], S[0]), rel=1e-10)
