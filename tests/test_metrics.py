"""Tests for scorelab.metrics: empirical estimators with standard errors, TV.

Oracles: closed forms (Bures W2 between Gaussians, sliced W2 of Gaussians per
direction, shifted laws where W2 = |shift|, Gaussian-kernel MMD in closed form,
erf for equal-scale TV), brute-force quadrature (1-D W2 and TV), SciPy's
assignment solver (exact OT between equal-size clouds) and POT's 1-D W2.

Coverage tests: over R replicates with independent seeds, the fraction of
``|estimate - truth| <= 2 SE`` must be at least 0.8 (nominal about 0.95; the
threshold leaves room for the first-order SEs and for R = 40 binomial noise:
P(fraction < 0.8 | p = 0.95) < 1e-3), and the mean of the estimates must be
within 4 standard errors of the mean of the truth (bias check), and the spread of
the estimates must agree with the mean reported SE within a factor 2.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize
from scipy.optimize import linear_sum_assignment
from scipy.stats import norm

import scorelab.metrics_gaussian as mg
from scorelab.metrics import (
    gelbrich_w2,
    kl_gaussian,
    mixture_cdf_1d,
    mixture_quantile_1d,
    mmd,
    sliced_w2,
    tv_gaussian_1d,
    tv_gaussian_bounds,
    w2_1d,
    w2_empirical,
    w2_gaussian,
    w2_gaussian_squared,
)
from scorelab.targets import Gaussian, GaussianMixture

R = 40  # replicates of the coverage tests


def _coverage(est: np.ndarray, se: np.ndarray, truth: np.ndarray | float) -> None:
    truth = np.broadcast_to(np.asarray(truth, dtype=float), est.shape)
    covered = np.abs(est - truth) <= 2.0 * se
    assert covered.mean() >= 0.8, (covered.mean(), est, se, truth)
    # bias: mean estimate within 4 SE of the mean truth
    sem = np.std(est - truth, ddof=1) / math.sqrt(est.size)
    assert abs(np.mean(est - truth)) <= 4.0 * sem + 1e-12, (np.mean(est - truth), sem)
    # the SE is neither much too small nor much too large (a 10x SE would pass
    # the coverage check trivially)
    ratio = np.std(est - truth, ddof=1) / np.mean(se)
    assert 0.5 <= ratio <= 2.0, ratio


def _mix1d() -> GaussianMixture:
    return GaussianMixture(
        [0.3, 0.7], [[-2.0], [1.0]], [0.5, 0.2], covariance_type="spherical"
    )


# ---------------------------------------------------------------------------
# re-exports and validation
# ---------------------------------------------------------------------------


def test_reexports_are_the_gaussian_closed_forms() -> None:
    assert w2_gaussian is mg.w2_gaussian
    assert w2_gaussian_squared is mg.w2_gaussian_squared
    assert kl_gaussian is mg.kl_gaussian


def test_validation_names_the_argument() -> None:
    tg = Gaussian(np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="samples"):
        sliced_w2(np.zeros((10, 3)), tg)
    with pytest.raises(TypeError, match="target"):
        gelbrich_w2(np.zeros((10, 2)), "not a target")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bandwidth"):
        mmd(np.zeros((10, 2)), tg, bandwidth=-1.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        w2_1d(np.zeros(10), tg)
    with pytest.raises(ValueError, match="samples"):
        gelbrich_w2(np.zeros((10, 2)), tg, groups=32)
    with pytest.raises(ValueError, match="s1"):
        tv_gaussian_1d(0.0, -1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="q"):
        mixture_quantile_1d(np.array([0.0, 0.5]), [1.0], [0.0], [1.0])


# ---------------------------------------------------------------------------
# 1-D machinery
# ---------------------------------------------------------------------------


@settings(max_examples=25)
@given(
    st.lists(st.floats(0.05, 1.0), min_size=1, max_size=4),
    st.integers(0, 2**31 - 1),
)
def test_mixture_quantile_inverts_the_cdf(raw_w: list[float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    K = len(raw_w)
    w = np.array(raw_w) / np.sum(raw_w)
    m = rng.normal(0.0, 10.0, K)
    s = np.exp(rng.uniform(np.log(1e-2), np.log(10.0), K))
    q = np.concatenate(([1e-12, 1e-6], rng.uniform(0, 1, 50), [1 - 1e-6, 1 - 1e-12]))
    y = mixture_quantile_1d(q, w, m, s)
    F = mixture_cdf_1d(y, w, m, s)
    # absolute accuracy in probability, relative in the lower tail
    np.testing.assert_allclose(F, q, rtol=1e-9, atol=1e-13)
    assert np.all(np.diff(y[np.argsort(q)]) >= 0)


def test_w2_1d_matches_brute_force_quadrature() -> None:
    tg = _mix1d()
    x = np.random.default_rng(1).normal(0.2, 1.3, size=12)
    est2, _ = w2_1d(x, tg, squared=True)
    xs = np.sort(x)
    n = xs.size
    w, m, s = tg.weights, tg.means[:, 0], np.sqrt(tg.covariances)

    def qf(q: float) -> float:
        return float(mixture_quantile_1d(np.array([q]), w, m, s)[0])

    ref = sum(
        integrate.quad(
            lambda q, i=i: (xs[i] - qf(q)) ** 2,
            i / n,
            (i + 1) / n,
            limit=200,
            epsabs=1e-13,
        )[0]
        for i in range(n)
    )
    assert est2 == pytest.approx(ref, rel=1e-8)


def test_w2_1d_matches_pot_against_a_fine_quantile_cloud() -> None:
    ot = pytest.importorskip("ot")
    tg = _mix1d()
    x = tg.sample(3000, seed=2)[:, 0] * 1.1 + 0.3
    est2, _ = w2_1d(x, tg, squared=True)
    M = 300_000
    q = (np.arange(M) + 0.5) / M
    ref_pts = mixture_quantile_1d(
        q, tg.weights, tg.means[:, 0], np.sqrt(tg.covariances)
    )
    ref = float(ot.wasserstein_1d(x, ref_pts, p=2))
    # the quantile cloud discretises Q at resolution 1/M: agreement to ~1e-4
    assert est2 == pytest.approx(ref, rel=2e-3)


def test_w2_1d_coverage_on_a_shifted_mixture() -> None:
    tg = _mix1d()
    shift = 0.4
    est, se = np.empty(R), np.empty(R)
    for i in range(R):
        x = tg.sample(2000, seed=100 + i)[:, 0] + shift
        est[i], se[i] = w2_1d(x, tg)
    _coverage(est, se, shift)


def test_w2_1d_scipy_gives_w1_not_w2() -> None:
    # guard against the tempting but wrong oracle: scipy's distance is W1
    from scipy.stats import wasserstein_distance

    a = np.array([0.0, 0.0, 3.0])
    b = np.array([0.0, 1.0, 2.0])
    w1 = wasserstein_distance(a, b)
    assert w1 == pytest.approx(2.0 / 3.0)
    w2 = math.sqrt(np.mean((np.sort(a) - np.sort(b)) ** 2))
    assert w2 == pytest.approx(math.sqrt(2.0 / 3.0))


# ---------------------------------------------------------------------------
# sliced W2
# ---------------------------------------------------------------------------


def _directions(P: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    U = rng.standard_normal((P, d))
    return U / np.linalg.norm(U, axis=1, keepdims=True)


def test_sliced_w2_per_direction_closed_form_for_gaussians() -> None:
    # N(m1, S1) samples vs the exact N(m2, S2): given the directions, the truth is
    # mean_u (u.(m1 - m2))^2 + (sqrt(u'S1u) - sqrt(u'S2u))^2
    rng = np.random.default_rng(5)
    d, P = 4, 24
    A = rng.normal(size=(d, d))
    S1 = A @ A.T / d + 0.3 * np.eye(d)
    S2 = np.diag([0.5, 1.0, 1.5, 2.0])
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    x = Gaussian(m1, S1).sample(100_000, seed=6)
    est2, se2 = sliced_w2(x, Gaussian(m2, S2), P, seed=7, squared=True)
    U = _directions(P, d, 7)
    truth = np.mean(
        (U @ (m1 - m2)) ** 2
        + (
            np.sqrt(np.einsum("pi,ij,pj->p", U, S1, U))
            - np.sqrt(np.einsum("pi,ij,pj->p", U, S2, U))
        )
        ** 2
    )
    # conditional on the directions the error is sampling noise only
    assert abs(est2 - truth) <= 4.0 * se2
    assert abs(est2 - truth) <= 0.02 * truth


def test_sliced_w2_coverage_gaussian_shift() -> None:
    d = 3
    S = np.diag([0.5, 1.0, 2.0])
    delta = np.array([0.6, -0.3, 0.4])
    truth = math.sqrt(float(delta @ delta) / d)  # E_u (u.delta)^2 = |delta|^2/d
    tg = Gaussian(np.zeros(d), S)
    est, se = np.empty(R), np.empty(R)
    for i in range(R):
        x = tg.sample(1500, seed=200 + i) + delta
        est[i], se[i] = sliced_w2(x, tg, 16, seed=300 + i)
    _coverage(est, se, truth)


def test_sliced_w2_coverage_shifted_mixture() -> None:
    d = 2
    tg = GaussianMixture(
        [0.4, 0.6],
        [[-1.5, 0.0], [1.5, 0.5]],
        [[0.3, 0.2], [0.2, 0.4]],
        covariance_type="diag",
    )
    delta = np.array([0.5, 0.3])
    truth2 = float(delta @ delta) / d  # translation: per direction W2 = |u.delta|
    est, se = np.empty(R), np.empty(R)
    for i in range(R):
        x = tg.sample(1500, seed=400 + i) + delta
        est[i], se[i] = sliced_w2(x, tg, 16, seed=500 + i, squared=True)
    _coverage(est, se, truth2)


# ---------------------------------------------------------------------------
# Gelbrich
# ---------------------------------------------------------------------------


def test_gelbrich_coverage() -> None:
    rng = np.random.default_rng(8)
    d = 3
    A = rng.normal(size=(d, d))
    S1 = A @ A.T / d + 0.5 * np.eye(d)
    S2 = np.diag([1.0, 0.7, 1.3])
    m1, m2 = np.array([0.3, 0.0, -0.2]), np.zeros(d)
    truth2 = float(w2_gaussian_squared(m1, S1, m2, S2))
    tg = Gaussian(m2, S2)
    n = 400
    est, se = np.empty(R), np.empty(R)
    for i in range(R):
        x = Gaussian(m1, S1).sample(n, seed=600 + i)
        est[i], se[i] = gelbrich_w2(x, tg, squared=True)
    _coverage(est, se, truth2)


def test_gelbrich_jackknife_removes_the_plug_in_bias_at_zero() -> None:
    # P = Q: truth 0; the plug-in W2^2 of the moments is biased upwards by
    # E|mean - m|^2 + (Bures curvature) = O(tr S / n), the jackknife is not
    d, n = 3, 200
    S = np.diag([1.0, 0.7, 1.3])
    tg = Gaussian(np.zeros(d), S)
    est, se, plug = np.empty(R), np.empty(R), np.empty(R)
    for i in range(R):
        x = tg.sample(n, seed=900 + i)
        est[i], se[i] = gelbrich_w2(x, tg, squared=True)
        plug[i] = w2_gaussian_squared(x.mean(0), np.cov(x.T), np.zeros(d), S)
    sem_plug = np.std(plug, ddof=1) / math.sqrt(R)
    assert np.mean(plug) > 0.5 * np.trace(S) / n
    assert np.mean(plug) > 6 * sem_plug
    _coverage(est, se, 0.0)


def test_gelbrich_is_a_lower_bound_for_a_mixture() -> None:
    tg = _mix1d()
    x = tg.sample(20_000, seed=9) + 0.2
    g, _ = gelbrich_w2(x, tg)
    w, _ = w2_1d(x, tg)
    assert g <= w
    assert g == pytest.approx(0.2, abs=0.03)  # moments differ only by the shift


# ---------------------------------------------------------------------------
# MMD
# ---------------------------------------------------------------------------


def _gauss_kernel_mean(m1, S1, m2, S2, h):  # type: ignore[no-untyped-def]
    d = m1.shape[0]
    C = h * h * np.eye(d) + S1 + S2
    diff = m1 - m2
    return (
        h**d
        / math.sqrt(np.linalg.det(C))
        * math.exp(-0.5 * diff @ np.linalg.solve(C, diff))
    )


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_mmd_coverage_gaussians(shift: float) -> None:
    d, h = 2, 1.0
    S1 = np.array([[1.0, 0.3], [0.3, 0.8]])
    S2 = np.eye(d)
    m1 = np.array([shift, 0.0])
    m2 = np.zeros(d)
    truth = (
        _gauss_kernel_mean(m1, S1, m1, S1, h)
        - 2 * _gauss_kernel_mean(m1, S1, m2, S2, h)
        + _gauss_kernel_mean(m2, S2, m2, S2, h)
    )
    if shift == 0.0:
        S1 = S2  # the null case P = Q (degenerate U-statistic)
        truth = 0.0
    tg = Gaussian(m2, S2)
    est, se = np.empty(R), np.empty(R)
    for i in range(R):
        x = Gaussian(m1, S1).sample(300, seed=700 + i)
        est[i], se[i] = mmd(x, tg, bandwidth=h, block=128)
    _coverage(est, se, truth)


def test_mmd_target_terms_match_monte_carlo() -> None:
    tg = GaussianMixture(
        [0.5, 0.5],
        [[-1.0, 0.0], [1.0, 1.0]],
        [[[0.5, 0.1], [0.1, 0.4]], [[0.3, 0.0], [0.0, 0.6]]],
    )
    y = tg.sample(400, seed=10)
    # MMD^2 of an exact sample of Q: unbiased, so centred at 0
    est, se = mmd(y, tg, bandwidth=0.7)
    assert abs(est) <= 4 * se
    # a sample of another law gives a clearly positive value
    est2, se2 = mmd(y + 1.0, tg, bandwidth=0.7)
    assert est2 > 10 * se2


# ---------------------------------------------------------------------------
# exact OT (POT)
# ---------------------------------------------------------------------------


def test_w2_empirical_matches_assignment() -> None:
    pytest.importorskip("ot")
    rng = np.random.default_rng(11)
    a = rng.normal(size=(60, 3))
    b = rng.normal(size=(60, 3)) + 0.5
    est2, se2 = w2_empirical(a, b, squared=True)
    C = ((a[:, None, :] - b[None]) ** 2).sum(-1)
    r, c = linear_sum_assignment(C)
    assert est2 == pytest.approx(C[r, c].mean(), rel=1e-10)
    assert se2 > 0
    est, _ = w2_empirical(a, b)
    assert est == pytest.approx(math.sqrt(est2))


def test_w2_empirical_coverage_shifted_1d() -> None:
    pytest.importorskip("ot")
    est, se = np.empty(R), np.empty(R)
    for i in range(R):
        rng = np.random.default_rng(800 + i)
        a = rng.normal(size=(300, 1)) + 1.0
        b = rng.normal(size=(300, 1))
        est[i], se[i] = w2_empirical(a, b, squared=True)
    # truth 1.0; the two-sample bias is O(log n / n), far below the SE
    _coverage(est, se, 1.0)


def test_w2_empirical_without_pot_says_how_to_install(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "ot", None)
    with pytest.raises(ImportError, match="pip install pot"):
        w2_empirical(np.zeros((3, 1)), np.ones((3, 1)))


# ---------------------------------------------------------------------------
# total variation
# ---------------------------------------------------------------------------


@settings(max_examples=40)
@given(st.floats(-5, 5), st.floats(0.05, 5), st.floats(-5, 5), st.floats(0.05, 5))
@example(0.0, 0.16796875, 0.0, 1.75)  # the kinks must be given to quad
def test_tv_1d_matches_quadrature(m1: float, s1: float, m2: float, s2: float) -> None:
    tv = tv_gaussian_1d(m1, s1, m2, s2)
    lo = min(m1 - 12 * s1, m2 - 12 * s2)
    hi = max(m1 + 12 * s1, m2 + 12 * s2)
    # the integrand's kinks (where the densities cross), found numerically: quad
    # misses a kink it is not told of by ~1e-6
    def diff(x: float) -> float:
        return float(norm.pdf(x, m1, s1) - norm.pdf(x, m2, s2))

    xs = np.linspace(lo, hi, 4001)
    dv = norm.pdf(xs, m1, s1) - norm.pdf(xs, m2, s2)
    kinks = [
        optimize.brentq(diff, xs[i], xs[i + 1], xtol=1e-14)
        for i in np.flatnonzero(np.sign(dv[:-1]) * np.sign(dv[1:]) < 0)
    ]
    pts = sorted({m1, m2, m1 - s1, m1 + s1, m2 - s2, m2 + s2, *kinks})
    ref = (
        0.5
        * integrate.quad(
            lambda x: abs(diff(x)),
            lo,
            hi,
            points=pts,
            limit=400,
            epsabs=1e-12,
        )[0]
    )
    assert tv == pytest.approx(ref, abs=1e-8)
    assert tv == pytest.approx(tv_gaussian_1d(m2, s2, m1, s1), abs=1e-14)


def test_tv_1d_equal_scales_closed_form() -> None:
    assert tv_gaussian_1d(0.0, 2.0, 1.0, 2.0) == pytest.approx(
        2 * norm.cdf(0.25) - 1, abs=1e-15
    )
    assert tv_gaussian_1d(1.0, 1.0, 1.0, 1.0) == 0.0


@settings(max_examples=40)
@given(st.floats(0.05, 20.0))
def test_dmr_constants_hold_in_one_dimension(ratio: float) -> None:
    # same mean: 1/100 <= TV / min(1, |s2^2/s1^2 - 1|) <= 3/2  (DMR Theorem 1.1)
    tv = tv_gaussian_1d(0.0, 1.0, 0.0, math.sqrt(ratio))
    lam = abs(ratio - 1.0)
    if lam == 0.0:
        return
    q = tv / min(1.0, lam)
    assert 1.0 / 100.0 <= q <= 1.5


def _tv_mc(m1, S1, m2, S2, n, seed):  # type: ignore[no-untyped-def]
    # TV = E_P[(1 - q/p)_+]
    from scipy.stats import multivariate_normal as mvn

    x = mvn(m1, S1).rvs(n, random_state=seed)
    lr = mvn(m2, S2).logpdf(x) - mvn(m1, S1).logpdf(x)
    v = np.maximum(1.0 - np.exp(np.minimum(lr, 50.0)), 0.0)
    return v.mean(), v.std(ddof=1) / math.sqrt(n)


@pytest.mark.parametrize(
    "case",
    [
        (np.zeros(3), np.eye(3), np.zeros(3), np.diag([1.2, 0.9, 1.0])),
        (np.zeros(2), np.eye(2), np.array([0.3, -0.2]), np.eye(2)),
        (np.zeros(2), np.eye(2), np.array([0.5, 0.0]), np.diag([2.0, 0.5])),
        (np.zeros(4), np.eye(4), np.full(4, 0.05), np.diag([1.05, 1.0, 0.97, 1.1])),
    ],
)
@pytest.mark.parametrize("dmr", [True, False])
def test_tv_bounds_bracket_monte_carlo(case, dmr) -> None:  # type: ignore[no-untyped-def]
    m1, S1, m2, S2 = case
    lo, hi = tv_gaussian_bounds(m1, S1, m2, S2, dmr=dmr)
    tv, se = _tv_mc(m1, S1, m2, S2, 200_000, 12)
    assert 0.0 <= lo <= hi <= 1.0
    assert lo <= tv + 4 * se
    assert hi >= tv - 4 * se


def test_tv_bounds_are_exact_in_one_dimension_and_shift_only() -> None:
    lo, hi = tv_gaussian_bounds([0.0], [[1.0]], [1.0], [[4.0]])
    assert lo == hi == pytest.approx(tv_gaussian_1d(0.0, 1.0, 1.0, 2.0))
    # equal covariances: the Fisher projection gives the exact value
    lo, hi = tv_gaussian_bounds(np.zeros(2), np.eye(2), np.array([0.6, 0.8]), np.eye(2))
    assert lo == pytest.approx(2 * norm.cdf(0.5) - 1, abs=1e-12)
    assert hi >= lo


# ---------------------------------------------------------------------------
# rate: the standard error and the actual error shrink like 1/sqrt(n)
# ---------------------------------------------------------------------------


def test_standard_errors_shrink_at_the_root_n_rate() -> None:
    # non-degenerate cases (truth > 0): estimator - truth = O_P(n^-1/2); a 4x
    # larger sample must halve both the reported SE and the RMS error
    tg1 = _mix1d()
    tg3 = Gaussian(np.zeros(3), np.diag([1.0, 0.7, 1.3]))
    S1 = np.diag([0.8, 0.9, 1.1])
    m1 = np.array([0.3, 0.0, -0.2])
    g_truth = float(w2_gaussian_squared(m1, S1, tg3.mean, tg3.cov))
    cases = {
        "w2_1d": (lambda n, s: w2_1d(tg1.sample(n, seed=s)[:, 0] + 0.4, tg1), 0.4),
        "gelbrich": (
            lambda n, s: gelbrich_w2(
                Gaussian(m1, S1).sample(n, seed=s), tg3, squared=True
            ),
            g_truth,
        ),
    }
    reps = 24
    for name, (fn, truth) in cases.items():
        se_mean, rms = [], []
        for n in (400, 1600):
            res = np.array([fn(n, 9000 + 31 * i + n) for i in range(reps)])
            se_mean.append(float(np.mean(res[:, 1])))
            rms.append(float(np.sqrt(np.mean((res[:, 0] - truth) ** 2))))
        assert 1.7 <= se_mean[0] / se_mean[1] <= 2.3, (name, se_mean)
        assert 1.3 <= rms[0] / rms[1] <= 3.0, (name, rms)
