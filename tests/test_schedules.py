"""Tests of scorelab.schedules.optimize_grid."""

from __future__ import annotations

import numpy as np
import pytest

import scorelab as sl
from scorelab.schedules import _Param, optimize_grid


def _w2(target, process, scheme, g, delta):
    law = sl.exact_law(target, process, scheme, g)
    return float(sl.w2_gaussian(law, target.noised(process, delta)))


def test_parametrisation_round_trip_and_monotone():
    p = sl.VP()
    g = sl.grid("karras", 7, process=p, delta=1e-3)
    par = _Param(p, p.T, 1e-3, 7)
    np.testing.assert_allclose(par.grid(par.logits(g)), g, rtol=1e-9)
    z = np.random.default_rng(0).normal(size=7) * 3
    assert np.all(np.diff(par.grid(z)) < 0)


def test_one_free_knot_reaches_brute_force_optimum():
    # oracle: dense brute-force search over the single interior knot (in log-SNR)
    target = sl.Gaussian.from_spectrum(np.array([0.3]))
    p, scheme, delta = sl.VP(), "ddim", 1e-2
    res = optimize_grid(target, p, scheme, 2, delta=delta)
    lam = np.linspace(float(p.log_snr(p.T)), float(p.log_snr(delta)), 4001)[1:-1]
    ts = np.asarray(p.t_from_log_snr(lam))
    vals = [_w2(target, p, scheme, np.array([p.T, t, delta]), delta) for t in ts]
    best = min(vals)
    assert res.error_after <= best * (1 + 1e-3) + 1e-14


def test_two_free_knots_reach_brute_force_optimum():
    target = sl.Gaussian.from_spectrum(np.array([2.0]))
    p, scheme, delta = sl.VP(), "ei-ode", 1e-2
    res = optimize_grid(target, p, scheme, 3, delta=delta)
    a, b = float(p.log_snr(p.T)), float(p.log_snr(delta))
    lam = np.linspace(a, b, 121)[1:-1]
    best = np.inf
    for i, l1 in enumerate(lam):
        for l2 in lam[i + 1:]:
            t = np.asarray(p.t_from_log_snr(np.array([l1, l2])))
            best = min(best, _w2(target, p, scheme, np.array([p.T, *t, delta]), delta))
    # the continuous optimum is at most the grid-search one (up to its resolution)
    assert res.error_after <= best * (1 + 1e-2)


def test_three_free_knots_reach_brute_force_optimum():
    # oracle: exhaustive search over 3 interior knots on a 26-point log-SNR lattice
    from itertools import combinations

    target = sl.Gaussian.from_spectrum(np.array([0.5]))
    p, scheme, delta = sl.VP(), "ddim", 1e-2
    res = optimize_grid(target, p, scheme, 4, delta=delta)
    a, b = float(p.log_snr(p.T)), float(p.log_snr(delta))
    ts = np.asarray(p.t_from_log_snr(np.linspace(a, b, 28)[1:-1]))
    best = min(
        _w2(target, p, scheme, np.array([p.T, *ts[list(c)], delta]), delta)
        for c in combinations(range(ts.size), 3)
    )
    assert res.gradient.startswith("adjoint")
    assert np.all(np.diff(res.grid) < 0)
    assert res.error_after <= best * (1 + 1e-2)


@pytest.mark.parametrize(
    ("scheme", "metric"),
    [("dpm-solver++-2m", "w2"), ("dpm-solver++-3m", "w2"), ("ei-sde", "kl"),
     ("ddpm", "w2"), ("heun", "kl")],
)
def test_decreasing_and_never_worse(scheme, metric):
    target = sl.Gaussian.from_spectrum(np.geomspace(0.05, 5.0, 4))
    res = optimize_grid(target, sl.VP(), scheme, 6, metric=metric, maxiter=15)
    g = res.grid
    assert g.shape == (7,) and g[0] == sl.VP().T and g[-1] == 1e-3
    assert np.all(np.diff(g) < 0)
    assert res.error_after <= res.error_before
    law = sl.exact_law(target, sl.VP(), scheme, g)
    fn = sl.w2_gaussian if metric == "w2" else sl.kl_gaussian
    ref = target.noised(sl.VP(), 1e-3)
    assert float(fn(law, ref)) == pytest.approx(res.error_after, rel=1e-12)


def test_best_start_is_never_worse_than_every_family():
    target = sl.Gaussian.from_spectrum(np.geomspace(0.01, 10.0, 10))
    res = optimize_grid(target, sl.VP(), "ddim", 5, start="best", maxiter=10)
    assert res.family_errors
    assert res.error_after <= min(res.family_errors.values())
    assert res.error_before == min(res.family_errors.values())


def test_profile_objective_runs():
    target = sl.Gaussian.from_spectrum(np.geomspace(0.1, 3.0, 3))
    res = optimize_grid(target, sl.VP(), "ddim", 4, objective="profile", maxiter=5)
    assert res.error_after <= res.error_before


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"steps": 0}, "steps"), ({"delta": 0.0}, "delta"), ({"delta": 5.0}, "delta"),
     ({"start": "nope"}, "logsnr"), ({"metric": "tv"}, "w2"),
     ({"objective": "x"}, "final"), ({"gradient": "exact"}, "adjoint")],
)
def test_bad_arguments(kw, match):
    target = sl.Gaussian.from_spectrum(np.array([1.0]))
    args = {"steps": 3, **kw}
    steps = args.pop("steps")
    with pytest.raises(ValueError, match=match):
        optimize_grid(target, sl.VP(), "ddim", steps, **args)


@pytest.mark.parametrize(
    ("scheme", "metric"),
    [("ddim", "w2"), ("dpm-solver++-2m", "w2"), ("ei-sde", "kl"),
     ("dpm-solver++-3m", "kl")],
)
def test_gradient_matches_richardson_differences(scheme, metric):
    # The optimiser's gradient (central differences, h = 1e-6, over the logits)
    # against an independent 4th-order Richardson extrapolation of central
    # differences at h = 2e-3 and 1e-3.
    from scorelab.schedules import _fd_gradient, _make_objective

    target = sl.Gaussian.from_spectrum(np.geomspace(0.05, 5.0, 5))
    p, delta, steps = sl.VP(), 1e-3, 6
    f = _make_objective([target], p, scheme, delta, metric, "final", None, None, {})
    par = _Param(p, p.T, delta, steps)
    z = par.logits(sl.grid("logsnr", steps, process=p, delta=delta))
    z = z + np.random.default_rng(1).normal(scale=0.2, size=z.size)

    def fz(x):
        return f(par.grid(x))

    g = _fd_gradient(fz, z, 1e-6)
    g1, g2 = _fd_gradient(fz, z, 2e-3), _fd_gradient(fz, z, 1e-3)
    rich = (4 * g2 - g1) / 3
    assert np.max(np.abs(g - rich)) <= 1e-6 * np.max(np.abs(rich))


def test_cancellation_final_only_versus_robust():
    # 10-D Gaussian, VP, dpm-solver++-2m, 10 steps: the final-only optimum is
    # tuned to this spectrum; the worst-case-over-spectra optimum is robust.
    ev = np.geomspace(0.01, 10.0, 10)
    p, s = sl.VP(), "dpm-solver++-2m"
    target = sl.Gaussian.from_spectrum(ev)
    fam = [sl.Gaussian.from_spectrum(ev * c) for c in (0.5, 2.0)]
    final = optimize_grid(target, p, s, 10, start="best")
    robust = optimize_grid(target, p, s, 10, start="best", spectra=fam)
    nominal = (final.error_after, _w2(target, p, s, robust.grid, 1e-3))
    shifted = [_w2(fam[1], p, s, r.grid, 1e-3) for r in (final, robust)]
    assert nominal[0] < nominal[1] / 2  # measured 5.6e-5 vs 6.2e-4
    assert shifted[0] > 5 * shifted[1]  # measured 1.9e-2 vs 6.2e-4
    # the minimax (epigraph) optimum equalises the three spectra's errors
    worst = [_w2(t, p, s, robust.grid, 1e-3) for t in (target, *fam)]
    assert max(worst) == pytest.approx(robust.error_after, rel=1e-12)
    assert min(worst) > 0.9 * max(worst)  # measured equal to 1e-7


def test_extreme_logits_keep_times_apart():
    # ei-sde, N = 10 from the uniform grid drove two times near delta into one float
    tg = sl.Gaussian.from_spectrum(np.geomspace(0.01, 10, 10))
    r = optimize_grid(tg, sl.VP(), "ei-sde", 10, start="uniform", maxiter=40)
    assert np.all(np.diff(r.grid) < 0)
    assert r.error_after < r.error_before


# ---------------------------------------------------------------------------
# exact (adjoint) gradients
# ---------------------------------------------------------------------------
def _adjoint_vs_fd(scheme, metric, objective, spectra=(), score_error=None,
                   process=None, steps=7, **opts):
    """The adjoint gradient over the logits against central differences of the
    objective (h = 1e-5, every logit), at a perturbed log-SNR grid."""
    from scorelab.schedules import (
        _Adjoint,
        _fd_gradient,
        _make_objective,
        _u_to_z_grad,
    )

    p = sl.VP() if process is None else process
    target = sl.Gaussian.from_spectrum(np.geomspace(0.02, 8.0, 6),
                                       mean=np.linspace(-1.0, 1.0, 6))
    targets = [target, *spectra]
    delta = 1e-3
    par = _Param(p, p.T, delta, steps)
    z = par.logits(sl.grid("logsnr", steps, process=p, delta=delta))
    z = z + np.random.default_rng(3).normal(scale=0.3, size=z.size)
    f = _make_objective(targets, p, scheme, delta, metric, objective, None,
                        score_error, opts)
    adj = _Adjoint(targets, p, scheme, delta, metric, objective, None, score_error,
                   opts, par)
    v, gu = adj.value_grad_u(par.u(z))
    g = _u_to_z_grad(par, z, gu)
    fd = _fd_gradient(lambda x: f(par.grid(x)), z, 1e-5)
    assert v == pytest.approx(f(par.grid(z)), rel=1e-12)
    return g, fd


@pytest.mark.parametrize(
    ("scheme", "metric", "objective"),
    [("ei-sde", "w2", "final"), ("ddim", "kl", "final"),
     ("dpm-solver++-2m", "w2", "final"), ("dpm-solver++-3m", "kl", "final"),
     ("heun", "w2", "profile"), ("ddpm", "w2", "profile-max"),
     ("rk4", "w2", "final"), ("euler-maruyama", "kl", "final"),
     ("dpm-solver++-2m", "w2", "profile")],
)
def test_adjoint_gradient_matches_central_differences(scheme, metric, objective):
    g, fd = _adjoint_vs_fd(scheme, metric, objective)
    # measured agreement 1e-11 .. 1e-8 (the differences' own error)
    assert np.max(np.abs(g - fd)) <= 1e-6 * np.max(np.abs(fd))


@pytest.mark.parametrize("scheme", sl.schemes.scheme_names())
def test_adjoint_gradient_every_scheme(scheme):
    # every registered scheme, default options (measured 8e-11 .. 1.1e-7)
    g, fd = _adjoint_vs_fd(scheme, "w2", "final")
    assert np.max(np.abs(g - fd)) <= 1e-6 * np.max(np.abs(fd))


@pytest.mark.parametrize(("scheme", "opts"), [("ddim", {"eta": 1.0}),
                                              ("heun", {"s_churn": 1.0})])
def test_adjoint_gradient_stochastic_options(scheme, opts):
    g, fd = _adjoint_vs_fd(scheme, "kl", "final", **opts)
    assert np.max(np.abs(g - fd)) <= 1e-6 * np.max(np.abs(fd))


def test_adjoint_gradient_with_score_error_and_spectra():
    from scorelab.errors import Bias

    e = Bias(np.full(6, 0.05))
    g, fd = _adjoint_vs_fd("ddim", "w2", "final", score_error=e)
    assert np.max(np.abs(g - fd)) <= 1e-6 * np.max(np.abs(fd))
    fam = [sl.Gaussian.from_spectrum(np.geomspace(0.02, 8.0, 6) * 3.0)]
    g, fd = _adjoint_vs_fd("dpm-solver++-2m", "w2", "final", spectra=fam)
    assert np.max(np.abs(g - fd)) <= 1e-6 * np.max(np.abs(fd))


def test_adjoint_gradient_other_processes():
    for proc in (sl.VE(), sl.SubVP()):
        g, fd = _adjoint_vs_fd("ddim", "w2", "final", process=proc)
        assert np.max(np.abs(g - fd)) <= 1e-6 * np.max(np.abs(fd))


def test_gradient_choice_is_recorded_and_checked():
    spec = sl.Gaussian.from_spectrum(np.geomspace(0.1, 2.0, 3))
    r = optimize_grid(spec, sl.VP(), "ddim", 4, maxiter=3)
    assert r.gradient.startswith("adjoint")
    r = optimize_grid(spec, sl.VP(), "ddim", 4, maxiter=3, gradient="fd")
    assert r.gradient.startswith("central")
    # a dense Gaussian with a non-diagonal covariance: no spectral recursion
    dense = sl.Gaussian(np.zeros(2), np.array([[1.0, 0.4], [0.4, 0.5]]))
    r = optimize_grid(dense, sl.VP(), "ddim", 3, maxiter=3)
    assert r.gradient.startswith("central")
    with pytest.raises(ValueError, match="spectral"):
        optimize_grid(dense, sl.VP(), "ddim", 3, gradient="adjoint")


def test_adjoint_and_fd_optimisations_agree_on_a_smooth_problem():
    # one free knot: both gradients lead to the same optimum
    target = sl.Gaussian.from_spectrum(np.array([0.3, 2.0]))
    a = optimize_grid(target, sl.VP(), "ddim", 2, delta=1e-2)
    b = optimize_grid(target, sl.VP(), "ddim", 2, delta=1e-2, gradient="fd")
    assert a.error_after == pytest.approx(b.error_after, rel=1e-6)
    np.testing.assert_allclose(a.grid, b.grid, rtol=1e-4)


def test_adjoint_failure_mid_run_restarts_with_differences(monkeypatch):
    from scorelab import schedules

    real = schedules._Adjoint.components
    calls = [0]

    def flaky(self, u):
        calls[0] += 1
        if calls[0] == 3:
            raise schedules._NoAdjoint("the table's structure changed with the grid")
        return real(self, u)

    monkeypatch.setattr(schedules._Adjoint, "components", flaky)
    target = sl.Gaussian.from_spectrum(np.geomspace(0.1, 2.0, 3))
    r = optimize_grid(target, sl.VP(), "ddim", 4, maxiter=10)
    assert "after the adjoint stopped" in r.gradient
    assert r.error_after <= r.error_before
    calls[0] = 0
    with pytest.raises(ValueError, match="structure changed"):
        optimize_grid(target, sl.VP(), "ddim", 4, maxiter=10, gradient="adjoint")
