"""CLD: closed forms vs matrix exponentials and quadrature, the executors' hooks,
exact law vs sampling, score errors in phase space, bad parameters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

from scorelab.cld import CLD
from scorelab.errors import Bias, FourierField, Misspecified, monte_carlo_l2_error
from scorelab.exact import exact_law
from scorelab.grids import grid
from scorelab.metrics_gaussian import w2_gaussian
from scorelab.sample import sample
from scorelab.schemes import compile_scheme
from scorelab.targets import Gaussian, GaussianMixture

PARAMS = [
    CLD(),
    CLD("dockhorn"),
    CLD("dockhorn", beta=2.5, Gamma=0.6, M=0.09, gamma=0.5),
]
PIDS = ["normalized", "dockhorn", "dockhorn-custom"]


def _gl(h: float, n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * h * (x + 1), 0.5 * h * w


def _quad_ei(p: CLD, h: float):
    """Reference r, c, n: scipy expm and 80-node Gauss-Legendre quadrature of
    the defining integrals (entire integrands, so the rule is exact to
    rounding for the step sizes used here)."""
    A = -p.F
    u, w = _gl(h)
    E = expm(A[None] * u[:, None, None])  # batched matrix exponentials
    c = np.einsum("n,nij->ij", w, E) @ p.GG
    n = np.einsum("n,nij,jk,nlk->il", w, E, p.GG, E)
    return expm(A * h), c, n


def _quad_marginal(p: CLD, t: float):
    u, w = _gl(t)
    E = expm(p.F[None] * u[:, None, None])
    return expm(p.F * t), np.einsum("n,nij,jk,nlk->il", w, E, p.GG, E)


def test_normalized_closed_forms_of_papers_md():
    """docs/papers.md, paper 1: exp(Ah), score coefficient and I0, I1, I2 noise."""
    p = CLD()
    for h in (0.37, 2.5):
        r, c, n = p.ei_coefficients(1.0 + h, 1.0)
        e = np.exp(h)
        np.testing.assert_allclose(
            r[0], e * np.array([[1 - h, -h], [h, 1 + h]]), rtol=1e-13
        )
        np.testing.assert_allclose(
            c[0], 4 * np.array([[0, -(e * (h - 1) + 1)], [0, h * e]]), rtol=1e-12
        )
        i0 = (e**2 - 1) / 2
        i1 = e**2 * (h / 2 - 0.25) + 0.25
        i2 = e**2 * (h * h / 2 - h / 2 + 0.25) - 0.25
        np.testing.assert_allclose(
            n[0],
            4 * np.array([[i2, -(i1 + i2)], [-(i1 + i2), i0 + 2 * i1 + i2]]),
            rtol=1e-11,
        )
    t = 0.8
    Phi, Nc = p.marginal_maps(t)
    np.testing.assert_allclose(
        Phi[0], np.exp(-t) * np.array([[1 + t, t], [-t, 1 - t]]), rtol=1e-14
    )
    np.testing.assert_allclose(Nc[0], np.eye(2) - Phi[0] @ Phi[0].T, atol=1e-14)
    np.testing.assert_allclose(p.stationary, np.eye(2))
    assert p.v0_var == 1.0 and p.m == 2


@pytest.mark.parametrize("p", PARAMS, ids=PIDS)
@pytest.mark.parametrize("h", [1e-6, 0.01, 0.4, 3.0])
def test_ei_blocks_against_expm_and_quadrature(p, h):
    """Series (small h) and closed forms (large h) vs Van Loan + quadrature."""
    r, c, n = p.ei_coefficients(h / p.kappa, 0.0)  # t_lo = 0: h exact
    rr, cr, nr = _quad_ei(p, h / p.kappa)
    np.testing.assert_allclose(r[0], rr, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(c[0], cr, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(n[0], nr, rtol=1e-10, atol=1e-300)
    # only the velocity score enters: the x-column of c is exactly zero
    assert np.all(c[:, :, 0] == 0.0)
    # n is the exact noise of the frozen-score step: r N_hi r^T - N_lo
    _, N_hi = p.marginal_maps(h / p.kappa)
    np.testing.assert_allclose(n[0], r[0] @ N_hi[0] @ r[0].T, rtol=1e-9)
    assert np.all(np.linalg.eigvalsh(n[0]) > 0)


@pytest.mark.parametrize("p", PARAMS, ids=PIDS)
def test_marginal_maps_against_expm_and_quadrature(p):
    S = p.stationary
    np.testing.assert_allclose(p.F @ S + S @ p.F.T + p.GG, 0, atol=1e-12)
    for s in (1e-5, 0.05, 0.7, 4.0):  # in units of the rate kappa
        t = s / p.kappa
        Phi, Nc = p.marginal_maps(t)
        Phi_ref, ref = _quad_marginal(p, t)
        np.testing.assert_allclose(Phi[0], Phi_ref, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(Nc[0], ref, rtol=1e-10, atol=1e-15)
    _, Nc = p.marginal_maps(np.array([0.0, 200.0]))
    np.testing.assert_allclose(Nc[0], 0.0, atol=0)
    np.testing.assert_allclose(Nc[1], S, rtol=1e-12)


def test_dockhorn_constants_and_hooks():
    p = CLD("dockhorn")
    np.testing.assert_allclose(p.stationary, np.diag([1.0, 0.25]))
    assert p.v0_var == pytest.approx(0.01) and p.kappa == pytest.approx(8.0)
    assert p.T == 1.0 and CLD().T == 5.0
    assert p == CLD(**p.params()) and hash(p) == hash(CLD(**p.params()))
    target = GaussianMixture(
        [0.4, 0.6], [[1.0, 0.0], [-1.0, 2.0]], [[0.3, 0.5], [1.0, 0.2]], "diag"
    )
    ph = p.phase_space_target(target)
    assert ph.dim == 4 and ph.covariance_type == "full"
    np.testing.assert_allclose(ph.full_covariances()[1][2:, 2:], 0.01 * np.eye(2))
    np.testing.assert_allclose(ph.means[:, 2:], 0.0)
    mean, cov = p.prior(3)
    np.testing.assert_allclose(cov, np.kron(np.diag([1.0, 0.25]), np.eye(3)))
    mean, cov = p.prior(2, init="zero-data", T=0.5)
    Phi, Nc = p.marginal_maps(0.5)
    blk = Phi[0] @ np.diag([0.0, 0.01]) @ Phi[0].T + Nc[0]
    np.testing.assert_allclose(cov, np.kron(blk, np.eye(2)), rtol=1e-12)
    # marginal: a mixture stays a mixture in phase space; Gaussians stay Gaussian
    mt = p.marginal(target, 0.3)
    assert isinstance(mt, GaussianMixture) and mt.dim == 4
    g = Gaussian([0.5, -0.5], np.diag([2.0, 0.3]))
    assert isinstance(p.marginal(g, 0.3), Gaussian)
    z = mt.sample(5, seed=0)
    np.testing.assert_allclose(p.score(target, 0.3, z), mt.score(z))


def test_executor_uses_the_phase_space_mixture_score():
    """One EI-ODE step equals r z + (c/2) s(z, t) with the NumPy mixture score."""
    p = CLD("dockhorn")
    target = GaussianMixture(
        [0.3, 0.7], [[1.0, 0.0], [-1.0, 0.5]], [[0.3, 0.2], [0.6, 0.1]], "diag"
    )
    g = np.array([0.4, 0.38])
    z0 = p.marginal(target, 0.4).sample(40, seed=3)
    out = sample(target, p, "ei-ode", g, 40, init=z0, return_state=True)
    r, c, _ = p.ei_coefficients(0.4, 0.38)
    R, C = np.kron(r[0], np.eye(2)), np.kron(c[0], np.eye(2))
    ref = z0 @ R.T + 0.5 * p.score(target, 0.4, z0) @ C.T
    np.testing.assert_allclose(out, ref, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("param", ["normalized", "dockhorn"])
@pytest.mark.parametrize("scheme", ["ei-sde", "ei-ode"])
def test_exact_law_matches_sampling(param, scheme):
    p = CLD(param)
    target = Gaussian([1.0, -1.0], [[0.5, 0.1], [0.1, 2.0]])
    g = grid("uniform", 30, process=p, delta=1e-3)
    law = exact_law(target, p, scheme, g, return_state=True)
    n = 20000
    z = sample(target, p, scheme, g, n, seed=3, return_state=True)
    assert z.shape == (n, 4)
    se = np.sqrt(np.diag(law.cov) / n)
    assert np.all(np.abs(z.mean(0) - law.mean) < 4 * se)
    v = np.diag(law.cov)
    assert np.all(np.abs(z.var(0, ddof=1) - v) < 4 * np.sqrt(2 / (n - 1)) * v)
    x = sample(target, p, scheme, g, 10, seed=3)
    assert x.shape == (10, 2)
    np.testing.assert_allclose(x, z[:10, :2])  # output = position block


@pytest.mark.parametrize("scheme", ["ei-sde", "ei-ode"])
def test_first_order_convergence_from_exact_init(scheme):
    p = CLD()
    target = Gaussian([0.5, 0.0, -0.5], np.diag([0.2, 1.0, 3.0]))
    steps = [40, 80, 160, 320]
    errs = []
    for N in steps:
        g = grid("uniform", N, process=p, delta=1e-2)
        law = exact_law(target, p, scheme, g, init="exact", return_state=True)
        ref = p.marginal(target, g[-1])
        errs.append(w2_gaussian(law.mean, law.cov, ref.mean, ref.cov))
    slope = -np.polyfit(np.log(steps), np.log(errs), 1)[0]
    assert abs(slope - compile_scheme(scheme, p, g).order) <= 0.25, (errs, slope)


@pytest.mark.parametrize("scheme, order", [("ei-sde", 2.0), ("ei-ode", 1.0)])
def test_position_block_order(scheme, order):
    """Measured: with the reverse SDE the *position* marginal converges at
    second order (its O(h) error sits in the velocity); with the ODE at first
    order (Dockhorn CLD, Gaussian target, exact init, 80..640 uniform steps)."""
    p = CLD("dockhorn")
    target = Gaussian([0.5, 0.0, -0.5], np.diag([0.2, 1.0, 3.0]))
    steps = [80, 160, 320, 640]
    errs = []
    for N in steps:
        g = grid("uniform", N, process=p, delta=1e-2)
        law = exact_law(target, p, scheme, g, init="exact")
        ref = p.marginal(target, g[-1])
        errs.append(w2_gaussian(law.mean, law.cov, ref.mean[:3], ref.cov[:3, :3]))
    slope = -np.polyfit(np.log(steps), np.log(errs), 1)[0]
    assert abs(slope - order) <= 0.25, (errs, slope)


def test_only_the_velocity_score_matters():
    """A bias in the position score changes nothing; in the velocity score it does."""
    p = CLD("dockhorn")
    target = Gaussian([0.5, -0.5], np.diag([1.0, 0.3]))
    g = grid("uniform", 20, process=p)
    base = exact_law(target, p, "ei-sde", g)
    bx = exact_law(target, p, "ei-sde", g, score_error=Bias([3.0, -2.0, 0.0, 0.0]))
    bv = exact_law(target, p, "ei-sde", g, score_error=Bias([0.0, 0.0, 0.3, 0.0]))
    np.testing.assert_array_equal(bx.mean, base.mean)
    np.testing.assert_array_equal(bx.cov, base.cov)
    assert abs(bv.mean[0] - base.mean[0]) > 1e-3
    np.testing.assert_allclose(bv.cov, base.cov, rtol=1e-12)


def test_score_errors_in_phase_space():
    p = CLD()
    target = Gaussian([0.5, -0.5], np.diag([1.0, 0.3]))
    other = Gaussian([0.7, -0.5], np.diag([1.2, 0.3]))
    t = 0.4
    # misspecification by a Gaussian is affine: closed form vs Monte Carlo
    m = Misspecified(other)
    val, se = m.l2_error(target, p, t)
    assert se == 0.0
    mc, mse = monte_carlo_l2_error(m, target, p, t, n=100000, seed=1)
    assert abs(val - mc) < 4 * mse
    g = grid("uniform", 15, process=p)
    law = exact_law(target, p, "ei-ode", g, score_error=m)
    np.testing.assert_allclose(law.mean, exact_law(other, p, "ei-ode", g).mean)
    # a Fourier field lives in the 2d phase space
    ff = FourierField(0.3, n_features=8, bandwidth=0.8, seed=1)
    val, se = ff.l2_error(target, p, t)
    mc, mse = monte_carlo_l2_error(ff, target, p, t, n=100000, seed=2)
    assert se == 0.0 and abs(val - mc) < 4 * mse
    x = sample(target, p, "ei-sde", g, 500, seed=0, score_error=ff)
    assert x.shape == (500, 2) and np.all(np.isfinite(x))


def test_bad_parameters_and_scalar_interface():
    with pytest.raises(ValueError, match="param"):
        CLD("other")
    for kw, word in [
        ({"gamma": 0.0}, "gamma"),
        ({"gamma": -1.0}, "gamma"),
        ({"M": -1.0}, "M"),
        ({"M": 0.0}, "M"),
        ({"M": 0.5}, "critically damped"),
        ({"Gamma": 2.0}, "critically damped"),
        ({"beta": float("inf")}, "beta"),
    ]:
        with pytest.raises(ValueError, match=word):
            CLD("dockhorn", **kw)
    with pytest.raises(ValueError, match="normalized"):
        CLD("normalized", M=0.25)
    with pytest.raises(TypeError, match="real number"):
        CLD("dockhorn", M="a")
    p = CLD()
    with pytest.raises(TypeError, match="phase-space"):
        p.alpha(0.5)
    with pytest.raises(TypeError, match="phase-space"):
        grid("logsnr", 5, process=p)
    with pytest.raises(ValueError, match="t_lo must be < t_hi"):
        p.ei_coefficients(0.5, 0.5)
    with pytest.raises(ValueError, match=">= 0"):
        p.marginal_maps(-1.0)
    with pytest.raises(ValueError, match="init"):
        p.prior(2, init="uniform")
    g = grid("uniform", 5, process=p)
    with pytest.raises(ValueError, match="scalar"):
        sample(Gaussian([0.0], [[1.0]]), p, "ddim", g, 10)
