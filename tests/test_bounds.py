"""Tests for scorelab.bounds: constants, the three papers' bounds, complexities.

Oracles: exact output laws on Gaussian targets (scorelab.exact.exact_law and the
closed per-direction recursion), finite-difference Hessians of the exact mixture
score, closed forms derived in the docstrings (regime shift of a symmetric
mixture, paper 2's first-order Gaussian lower bound sqrt(d) eta / 2 for OU).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scorelab.bounds import (
    Bound,
    certified_pfode_w2,
    chen_cld_path_kl_lower_bound,
    chen_cld_tv_bound,
    chen_iteration_complexity,
    chen_kl_bound,
    chen_tv_bound,
    gao_gaussian_lower_bound,
    gao_iteration_complexity,
    gao_steps_needed,
    gao_w2_bound,
    gaussian_constants,
    gaussian_ei_w2,
    kremling_w2_bound,
    log_concavity_profile,
    mixture_constants,
    regime_shift_time,
    weak_convexity_profile,
)
from scorelab.bounds.regularity import _mixture_derivs, _numerical_kappa
from scorelab.exact import exact_law
from scorelab.grids import grid
from scorelab.metrics_gaussian import w2_gaussian
from scorelab.processes import (
    OU,
    VE,
    VP,
    SubVP,
    VELinear,
    VEPower,
    VEQuadratic,
    VPConstant,
    VPPolynomial,
)
from scorelab.targets import Gaussian, GaussianMixture


def _gauss(d: int = 3, seed: int = 0) -> Gaussian:
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    lam = np.linspace(0.3, 2.0, d)
    return Gaussian(rng.normal(size=d) * 0.5, Q @ np.diag(lam) @ Q.T)


def _neg_hess_fd(target: GaussianMixture, x: np.ndarray, e: float = 1e-5) -> np.ndarray:
    d = target.dim
    cols = [
        (target.score(x + e * np.eye(d)[i]) - target.score(x - e * np.eye(d)[i]))
        / (2 * e)
        for i in range(d)
    ]
    H = np.stack(cols, axis=-1)
    return -0.5 * (H + H.T)


# ---------------------------------------------------------------------------
# constants
# ---------------------------------------------------------------------------


def test_gaussian_constants() -> None:
    tg = Gaussian(np.array([1.0, 2.0]), np.diag([0.5, 4.0]))
    c = gaussian_constants(tg)
    assert c.m == pytest.approx(0.25)
    assert c.L == pytest.approx(2.0)
    assert c.second_moment == pytest.approx(math.sqrt(5.0 + 4.5))
    assert c.d == 2
    with pytest.raises(TypeError, match="target"):
        gaussian_constants(tg.as_mixture())  # type: ignore[arg-type]


def test_mixture_derivatives_match_finite_differences() -> None:
    rng = np.random.default_rng(1)
    d, K = 3, 3
    A = rng.normal(size=(K, d, d))
    covs = A @ A.transpose(0, 2, 1) + 0.5 * np.eye(d)
    tg = GaussianMixture([0.2, 0.3, 0.5], rng.normal(size=(K, d)), covs)
    x = rng.normal(size=(4, d))
    s, H, gl = _mixture_derivs(x, tg.weights, tg.means, covs)
    np.testing.assert_allclose(s, tg.score(x), atol=1e-12)
    for i in range(4):
        np.testing.assert_allclose(-H[i], _neg_hess_fd(tg, x[i]), atol=1e-7)

    def lap(y: np.ndarray) -> np.ndarray:
        return np.trace(
            _mixture_derivs(y, tg.weights, tg.means, covs)[1], axis1=1, axis2=2
        )

    e = 1e-5
    fd = np.stack(
        [
            (lap(x + e * np.eye(d)[i]) - lap(x - e * np.eye(d)[i])) / (2 * e)
            for i in range(d)
        ],
        axis=1,
    )
    np.testing.assert_allclose(gl, fd, atol=1e-6)


def test_mixture_constants_gaussian_is_exact() -> None:
    tg = _gauss()
    p = VP()
    fc = mixture_constants(tg, p, 0.3)
    a2, s2 = float(p.alpha(0.3)) ** 2, float(p.sigma2(0.3))
    lam = np.linalg.eigvalsh(tg.cov)
    assert fc.method == "exact" and fc.certified
    assert fc.kappa == pytest.approx(1 / (a2 * lam[-1] + s2))
    assert fc.L == pytest.approx(1 / (a2 * lam[0] + s2))


def test_tied_bound_is_attained_for_a_symmetric_pair() -> None:
    # p_0 = (N(-a, s2) + N(a, s2))/2: -d2 log p_t at 0 equals 1/v - alpha^2 a^2/v^2
    a, s2 = 2.0, 0.25
    tg = GaussianMixture([0.5, 0.5], [[-a], [a]], [s2, s2], covariance_type="spherical")
    p = VP()
    for t in (0.05, 0.2, 0.5):
        fc = mixture_constants(tg, p, t)
        pt = tg.noised(p, t)
        exact_at_0 = float(_neg_hess_fd(pt, np.zeros(1))[0, 0])
        assert fc.method == "tied-bound"
        assert fc.kappa == pytest.approx(exact_at_0, rel=1e-6, abs=1e-7)
        # and it is a lower bound everywhere
        xs = np.linspace(-4, 4, 41)[:, None]
        _, H, _ = _mixture_derivs(xs, pt.weights, pt.means, pt.full_covariances())
        assert np.all(-H[:, 0, 0] >= fc.kappa - 1e-10)
        assert np.all(-H[:, 0, 0] <= fc.L + 1e-10)


def test_numerical_kappa_finds_the_tied_minimum() -> None:
    tg = GaussianMixture(
        [0.5, 0.5], [[-1.5, 0.0], [1.5, 0.0]], [0.3, 0.3], covariance_type="spherical"
    )
    p = VP()
    fc = mixture_constants(tg, p, 0.1)
    num = _numerical_kappa(tg, p, 0.1, 2048, 0)
    assert num == pytest.approx(fc.kappa, rel=1e-4)


def test_general_mixture_profile_is_numerical_and_bounded() -> None:
    tg = GaussianMixture(
        [0.5, 0.5],
        [[-1.0, 0.0], [1.0, 0.5]],
        [[[0.3, 0.1], [0.1, 0.2]], [[0.5, 0.0], [0.0, 0.4]]],
    )
    kap, L, method = log_concavity_profile(tg, VP(), np.array([0.05, 0.5]), n=512)
    assert method == "numerical"
    assert np.all(kap <= L)
    assert kap[1] > kap[0]  # noise makes it more log-concave


def test_regime_shift_closed_form_and_bisection_agree() -> None:
    a, s2 = 2.0, 0.25
    tg = GaussianMixture([0.5, 0.5], [[-a], [a]], [s2, s2], covariance_type="spherical")
    for p in (VP(), OU(), VE()):
        ts = regime_shift_time(tg, p)
        # D^2/4 - s^2 = a^2 - s2 = sigma^2/alpha^2 at t*
        a2, s2t = float(p.alpha(ts)) ** 2, float(p.sigma2(ts))
        assert s2t / a2 == pytest.approx(a * a - s2, rel=1e-8)
        k_before = mixture_constants(tg, p, 0.99 * ts).kappa
        k_after = mixture_constants(tg, p, 1.01 * ts).kappa
        assert k_before < 0.0 < k_after
    # diagonal (tied, not spherical) covariance: bisection path
    tg2 = GaussianMixture(
        [0.5, 0.5],
        [[-a, 0.0], [a, 0.0]],
        [[s2, 1.0], [s2, 1.0]],
        covariance_type="diag",
    )
    ts2 = regime_shift_time(tg2, VP())
    assert ts2 == pytest.approx(regime_shift_time(tg, VP()), rel=1e-6)
    assert regime_shift_time(_gauss(), VP()) == 0.0


# ---------------------------------------------------------------------------
# paper 1
# ---------------------------------------------------------------------------


def test_chen_tv_terms_and_validity() -> None:
    b = chen_tv_bound(L=2.0, d=10, m2=3.0, h=0.01, T=5.0, eps_score=0.1, kl_init=4.0)
    assert isinstance(b, Bound) and b.metric == "TV"
    assert b.initialisation == pytest.approx(2.0 * math.exp(-5.0))
    assert b.discretisation == pytest.approx(
        (2 * math.sqrt(0.1) + 2 * 3 * 0.01) * math.sqrt(5)
    )
    assert b.score == pytest.approx(0.1 * math.sqrt(5.0))
    assert b.total == pytest.approx(b.initialisation + b.discretisation + b.score)
    assert b.valid
    assert not chen_tv_bound(2.0, 10, 3.0, 0.9, 5.0, 0.1, 4.0).valid  # h > 1/L
    b2 = chen_tv_bound(2.0, 10, 3.0, 0.01, 5.0, 0.1, 4.0, C=3.0)
    assert b2.total == pytest.approx(3.0 * b.total)
    with pytest.raises(ValueError, match="h"):
        chen_tv_bound(2.0, 10, 3.0, -0.01, 5.0, 0.1, 4.0)


def test_chen_kl_bound_scales_like_dhT() -> None:
    k1 = chen_kl_bound(1.0, 10, 0.0, 0.01, 5.0, 0.0, 1.0)
    k2 = chen_kl_bound(1.0, 20, 0.0, 0.02, 10.0, 0.0, 1.0)
    assert k2.discretisation == pytest.approx(8.0 * k1.discretisation)
    assert k1.initialisation == pytest.approx(math.exp(-10.0))


def test_chen_cld_tv_bound_terms_and_measured_tv() -> None:
    """Theorem 6 reduces to Theorem 2's terms at FI = 0, c = 1, and stays above
    the TV of the exact CLD output law (upper estimate) on a Gaussian target."""
    from scorelab.cld import CLD
    from scorelab.metrics import kl_gaussian, tv_gaussian_bounds

    b = chen_cld_tv_bound(2.0, 10, 3.0, 0.01, 5.0, 0.1, 4.0, fi_init=0.0)
    assert b.total == pytest.approx(
        chen_tv_bound(2.0, 10, 3.0, 0.01, 5.0, 0.1, 4.0).total
    )
    b5 = chen_cld_tv_bound(2.0, 10, 3.0, 0.01, 5.0, 0.1, 4.0, fi_init=5.0, c=0.5)
    assert b5.initialisation == pytest.approx(3.0 * math.exp(-2.5))
    with pytest.raises(ValueError, match="fi_init"):
        chen_cld_tv_bound(2.0, 10, 3.0, 0.01, 5.0, 0.1, 4.0, fi_init=-1.0)
    rng = np.random.default_rng(0)
    d = 4
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    S = Q @ np.diag([0.5, 0.8, 1.2, 2.0]) @ Q.T
    m = np.full(d, 0.3)
    proc = CLD()
    kl = float(kl_gaussian(m, S, np.zeros(d), np.eye(d)))
    fi = float(m @ m + np.trace(S - 2 * np.eye(d) + np.linalg.inv(S)))
    m2 = float(np.sqrt(m @ m + np.trace(S)))
    for N in (25, 100, 400):
        g = grid("uniform", N, process=proc)
        law = exact_law(Gaussian(m, S), proc, "ei-sde", g)
        tv_up = tv_gaussian_bounds(law.mean, law.cov, m, S)[1]
        bound = chen_cld_tv_bound(2.0, d, m2, (g[0] - g[-1]) / N, g[0], 0.0, kl, fi)
        assert tv_up < bound.total


def test_chen_cld_path_kl_lower_bound_is_dhT() -> None:
    lo = chen_cld_path_kl_lower_bound(d=10, h=0.01, T=5.0)
    assert lo.metric == "KL" and lo.total == pytest.approx(0.5) == lo.discretisation
    assert chen_cld_path_kl_lower_bound(20, 0.02, 10.0, C=0.5).total == pytest.approx(
        2.0
    )
    with pytest.raises(ValueError, match="h"):
        chen_cld_path_kl_lower_bound(10, 0.0, 5.0)


def test_chen_iteration_complexity_meets_eps_and_scales_with_d() -> None:
    c = chen_iteration_complexity(L=1.0, d=50, m2=5.0, eps=0.1, kl_init=2.0)
    b = chen_tv_bound(1.0, 50, 5.0, c.step_size, c.T, c.score_error, 2.0)
    assert b.total <= 0.1 * (1 + 1e-9)
    c4 = chen_iteration_complexity(L=1.0, d=200, m2=5.0 * 2, eps=0.1, kl_init=2.0)
    assert 3.0 < c4.steps / c.steps < 5.0  # ~ d (m2 grows like sqrt d)


# ---------------------------------------------------------------------------
# paper 2
# ---------------------------------------------------------------------------


def test_gaussian_ei_w2_matches_exact_law() -> None:
    tg = _gauss(3)
    for p in (VP(T=1.5), VE(), OU(T=4.0)):
        g = grid("uniform", 25, T=p.T, delta=1e-3)
        ref = tg.noised(p, 1e-3)
        for scheme, ode in (("ei-sde", False), ("ei-ode", True)):
            law = exact_law(tg, p, scheme, g, init="zero-data")
            ex = w2_gaussian(law.mean, law.cov, ref.mean, ref.cov)
            assert gaussian_ei_w2(tg, p, g, ode=ode) == pytest.approx(ex, rel=1e-9)


def test_gao_recursion_bookkeeping() -> None:
    tg = _gauss(3)
    p = VP(T=2.0)
    g = grid("uniform", 64, T=2.0, delta=1e-3)
    b = gao_w2_bound(p, g, target=tg, M=0.05)
    assert b.total == pytest.approx(b.trace["e"][-1], rel=1e-12)
    assert b.total == pytest.approx(b.initialisation + b.discretisation + b.score)
    assert b.score > 0 and b.discretisation > 0
    # (eta, T) form gives the same grid
    b2 = gao_w2_bound(p, ((2.0 - 1e-3) / 64, 2.0), target=tg, M=0.05)
    assert b2.total == pytest.approx(b.total, rel=1e-12)
    # constants only (J <= dL, F <= dL^2) is looser than the exact Gaussian J, F
    c = gaussian_constants(tg)
    b3 = gao_w2_bound(p, g, m0=c.m, L0=c.L, d=c.d, m2=c.second_moment, M=0.05)
    assert b3.discretisation >= b.discretisation
    with pytest.raises(ValueError, match="m0"):
        gao_w2_bound(p, g, L0=1.0, d=2, m2=1.0)


@pytest.mark.parametrize("proc", [VP(T=2.0), OU(T=6.0), VE(), VEPower(rho=2.0)])
def test_gao_bound_dominates_the_exact_error_with_score_bias(proc) -> None:  # type: ignore[no-untyped-def]
    # a constant score bias b has L2 error exactly |b| = M along any iterates
    tg = _gauss(3, seed=2)
    b = np.array([0.05, -0.02, 0.03])
    M = float(np.linalg.norm(b))
    for N in (16, 64, 256):
        g = grid("uniform", N, T=proc.T, delta=1e-3)
        ex = gaussian_ei_w2(tg, proc, g, bias=b)
        ub = gao_w2_bound(proc, g, target=tg, M=M).total
        assert ex <= ub, (N, ex, ub)


def test_gao_lower_bound_closed_form_for_ou() -> None:
    # paper 1's OU, Sigma = I, T large, delta small: LB -> sqrt(d) eta / 2
    d = 16
    tg = Gaussian(np.zeros(d), np.eye(d))
    p = OU(T=12.0)
    for N in (240, 960):
        g = grid("uniform", N, T=12.0, delta=1e-6)
        eta = (12.0 - 1e-6) / N
        lb = gao_gaussian_lower_bound(p, g, tg).total
        assert lb == pytest.approx(math.sqrt(d) * eta / 2, rel=2 * eta)
        ex = gaussian_ei_w2(tg, p, g)
        assert lb <= ex <= lb * (1 + 2 * eta)
    with pytest.raises(ValueError, match="OU, VP-type and VE-type"):
        gao_gaussian_lower_bound(SubVP(), grid("uniform", 10, T=1.0), tg)


@pytest.mark.parametrize("proc", [VE(), VEQuadratic()], ids=lambda p: p.name)
def test_gao_lower_bound_ve_is_the_perfect_start_error_to_first_order(proc) -> None:  # type: ignore[no-untyped-def]
    # the VE form is exact up to the transport factor: the chain started at the
    # exact p_T has variance error sum_k D_k^2/v_hi (v_delta/v_lo)^2; the bound
    # replaces v_lo by v_hi, so it is below and the ratio -> 1 as eta -> 0
    tg = Gaussian(np.zeros(3), np.diag([0.3, 1.0, 2.0]))
    lam = np.diag(tg.cov)
    ratios = []
    for N in (50, 200, 800):
        g = grid("uniform", N, T=proc.T, delta=1e-3)
        r, c, n = (np.asarray(x) for x in proc.ei_coefficients(g[:-1], g[1:]))
        P = lam + float(proc.sigma2(g[0]))  # exact start
        for k in range(N):
            v = lam + float(proc.sigma2(g[k]))
            a = r[k] - c[k] / v
            P = a * a * P + n[k]
        vd = lam + float(proc.sigma2(g[-1]))
        eps_lb = gao_gaussian_lower_bound(proc, g, tg).trace["eps"]
        assert np.all(eps_lb > 0) and np.all(eps_lb <= P - vd)
        ratios.append(float(np.max((P - vd) / eps_lb)))
    assert ratios[0] > ratios[1] > ratios[2]
    # relative gap O(eta): a 4x finer grid cuts it by about 4
    assert ratios[2] - 1.0 < 0.4 * (ratios[1] - 1.0)


def test_gao_iteration_complexity_table_and_ranking() -> None:
    d, eps = 100, 0.01
    K = {
        f: gao_iteration_complexity(f, d, eps, rho=5.0).steps
        for f in ("vp-polynomial", "vp", "ou", "ve-linear", "vp-exponential")
    }
    lg = math.log(d / eps)
    assert K["vp"] == pytest.approx(d * math.sqrt(lg) / eps**2)
    assert K["vp-polynomial"] <= K["vp"] <= K["ou"] < K["ve-linear"] / 10
    assert K["vp-exponential"] <= K["vp"]
    # the paper's "exponential <= polynomial" is asymptotic: log log x exceeds
    # (log x)^{1/6} for every practical x (here d/eps = 1e4)
    assert K["vp-exponential"] > K["vp-polynomial"]
    assert gao_iteration_complexity(VPConstant(), d, eps).steps == K["ou"]
    assert (
        gao_iteration_complexity(VPPolynomial(rho=5.0), d, eps).steps
        == K["vp-polynomial"]
    )
    c = gao_iteration_complexity(VEPower(rho=2.0), d, eps)
    assert c.steps == pytest.approx(d ** (1 + 1 / 8) / eps ** (2 + 1 / 4))
    c3 = gao_iteration_complexity(VEPower(rho=2.0), d, eps, C=3.0)
    assert c3.steps == pytest.approx(3.0 * c.steps)
    assert c3.step_size == c.step_size
    with pytest.raises(ValueError, match="family"):
        gao_iteration_complexity("nope", d, eps)
    with pytest.raises(ValueError, match="rho"):
        gao_iteration_complexity("vp-polynomial", d, eps)


def test_gao_steps_needed_meets_eps() -> None:
    tg = _gauss(2, seed=3)
    p = VP()
    c = gao_steps_needed(p, 0.2, target=tg, exact=True)
    g = grid("uniform", int(c.steps), T=c.T, delta=1e-3)
    p2 = VP(T=c.T)
    assert gaussian_ei_w2(tg, p2, g) <= 0.2
    g1 = grid("uniform", int(c.steps) - 1, T=c.T, delta=1e-3)
    assert gaussian_ei_w2(tg, p2, g1) > 0.2
    cb = gao_steps_needed(p, 0.5, target=tg)
    assert cb.steps > c.steps  # the bound (slope 1/2) needs more steps


# ---------------------------------------------------------------------------
# paper 3
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("proc", [VP(), OU(T=5.0), VE(), VELinear()])
def test_certified_pfode_dominates_exact_ode_error(proc) -> None:  # type: ignore[no-untyped-def]
    tg = _gauss(3, seed=4)
    for N in (8, 32, 128):
        g = grid("uniform", N, T=proc.T, delta=1e-3)
        ex = gaussian_ei_w2(tg, proc, g, ode=True, init="prior")
        b = certified_pfode_w2(proc, g, tg)
        assert ex <= b.total, (N, ex, b.total)
        assert b.valid
    # first order: the discretisation term shrinks about 4x per 4x steps
    d1 = certified_pfode_w2(proc, grid("uniform", 256, T=proc.T), tg).discretisation
    d2 = certified_pfode_w2(proc, grid("uniform", 1024, T=proc.T), tg).discretisation
    assert 3.0 < d1 / d2 < 5.0


def test_certified_pfode_on_a_mixture_reports_monte_carlo() -> None:
    tg = GaussianMixture([0.5, 0.5], [[-1.5], [1.5]], [0.2, 0.2], "spherical")
    p = VP()
    b = certified_pfode_w2(
        p, grid("uniform", 50, T=1.0), tg, M=0.01, n_mc=512, profile_points=16
    )
    assert b.constants["rho_rel_se"] < 0.1
    assert np.any(b.trace["kappa"] < 0)  # weakly log-concave near t = 0
    assert np.all(
        b.trace["kappa"][b.trace["times"][:-1] > regime_shift_time(tg, p)] > 0
    )
    assert b.score > 0


def test_kremling_bound_runs_and_dominates_on_gaussians() -> None:
    tg = _gauss(3, seed=5)
    p = VP()
    c = gaussian_constants(tg)
    lam = c.eigenvalues

    def kap(t):  # type: ignore[no-untyped-def]
        return 1 / (np.asarray(p.alpha(t)) ** 2 * lam[-1] + np.asarray(p.sigma2(t)))

    def Lp(t):  # type: ignore[no-untyped-def]
        return 1 / (np.asarray(p.alpha(t)) ** 2 * lam[0] + np.asarray(p.sigma2(t)))

    for N in (16, 64, 256):
        g = grid("uniform", N, T=1.0, delta=1e-3)
        cert = certified_pfode_w2(p, g, tg)
        kb = kremling_w2_bound(
            p, g, kappa=kap, L=Lp, d=3, init_w2=cert.constants["init_w2"]
        )
        ex = gaussian_ei_w2(tg, p, g, ode=True, init="prior")
        assert ex <= kb.total
        assert kb.total >= cert.total  # constants-only local terms are looser


def test_weak_convexity_profile() -> None:
    r = np.array([0.05, 0.3, 1.0, 3.0, 10.0])
    # Gaussian: constant profile 1/(alpha^2 lambda_max + sigma^2)
    g = Gaussian(np.zeros(2), np.diag([0.5, 2.0]))
    lo, est = weak_convexity_profile(g, VP(), 0.1, r)
    k = 1.0 / (float(VP().alpha(0.1)) ** 2 * 2.0 + float(VP().sigma2(0.1)))
    np.testing.assert_allclose(lo, k, rtol=1e-12)
    assert np.all(est >= lo - 1e-12) and np.all(est <= 1.01 * lo)
    # symmetric pair: negative at small r before t*, attained at the midpoint;
    # certified lower <= numerical estimate; tends to 1/v at large r
    tg = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [0.3, 0.3], "spherical")
    p = VP()
    ts = regime_shift_time(tg, p)
    for t in (1e-3, 0.5 * ts, 2.0 * ts):
        lo, est = weak_convexity_profile(tg, p, t, r)
        assert np.all(lo <= est + 1e-9), (t, lo, est)
        kap = mixture_constants(tg, p, t).kappa
        assert est[0] == pytest.approx(kap, abs=0.02 * abs(kap) + 1e-3)
        v = float(p.alpha(t)) ** 2 * 0.3 + float(p.sigma2(t))
        assert est[-1] <= 1.0 / v + 1e-9 and lo[-1] >= 1.0 / v - 0.2 / v
        assert (est[0] < 0) == (t < ts)
    assert np.all(np.diff(weak_convexity_profile(tg, p, 1e-3, r)[1]) > 0)
