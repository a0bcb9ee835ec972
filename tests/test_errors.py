"""Score-error models: exact L2 sizes against Monte Carlo, the executor adds
exactly the modelled field, time-dependent sizes, integrated errors, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scorelab.errors import (
    Bias,
    Concentrated,
    FourierField,
    InterpScale,
    InverseSigmaScale,
    Linear,
    Misspecified,
    PowerScale,
    Sum,
    equal_l2_bias,
    integrated_l2_error,
    monte_carlo_l2_error,
)
from scorelab.exact import exact_law
from scorelab.grids import grid
from scorelab.processes import OU, VE, VP
from scorelab.sample import sample
from scorelab.targets import Gaussian, GaussianMixture

MIX = GaussianMixture([0.3, 0.7], [[1.0, 0.0], [-1.0, 2.0]], [0.5, 0.2], "spherical")


def _mc_l2(err_fn, p, n=200000, seed=0):
    """Independent Monte Carlo oracle: E|e(Y)|^2 with its standard error."""
    x = p.sample(n, seed)
    e = err_fn(x)
    v = np.einsum("ij,ij->i", e, e)
    return v.mean(), v.std(ddof=1) / np.sqrt(n)


def test_linear_and_bias_l2_exact():
    proc = VP()
    A = np.array([[0.2, -0.1], [0.0, 0.3]])
    t = 0.3
    p = MIX.noised(proc, t)
    got, se = Linear(A).l2_error(MIX, proc, t)
    mc, mse = _mc_l2(lambda x: x @ A.T, p)
    assert se == 0.0 and abs(got - mc) < 4 * mse
    assert Bias([0.3, 0.4], scale=2.0).l2_error(MIX, proc, t) == (
        pytest.approx(1.0),
        0.0,
    )
    got, _ = Linear(0.5).l2_error(MIX, proc, t)
    mc, mse = _mc_l2(lambda x: 0.5 * x, p)
    assert abs(got - mc) < 4 * mse


def test_fourier_field_l2_exact_and_executor_consistent():
    proc = VP()
    target = GaussianMixture(
        [0.5, 0.5], [[-1.0, 0.0], [1.0, 0.5]], [0.3, 0.6], "spherical"
    )
    ff = FourierField(0.5, n_features=16, bandwidth=0.7, seed=3)
    t = 0.2
    p = target.noised(proc, t)
    w, phi, a = ff.features(2)

    def field(x):
        return 0.5 * np.cos(x @ w.T + phi) @ a

    got, se = ff.l2_error(target, proc, t)
    mc, mse = _mc_l2(field, p)
    assert se == 0.0 and abs(got - mc) < 4 * mse
    # the executor adds exactly this field: a one-step Euler probe isolates it
    g = np.array([t, t - 1e-3])
    x0 = p.sample(50, 1)
    base = sample(target, proc, "euler", g, 50, init=x0)
    pert = sample(target, proc, "euler", g, 50, init=x0, score_error=ff)
    h = g[0] - g[1]
    np.testing.assert_allclose(
        (pert - base) / (0.5 * h * proc.g2(t)), field(x0), rtol=1e-9
    )


def test_sum_with_fourier_and_affine_parts_exact():
    """E|A y + b + field|^2 in closed form (cross terms via the characteristic
    function) against Monte Carlo."""
    proc = VE()
    A = np.array([[0.3, 0.1], [-0.2, 0.05]])
    model = Linear(A) + Bias([0.2, -0.4]) + FourierField(0.8, 12, 0.5, seed=4)
    t = 0.05
    got, se = model.l2_error(MIX, proc, t)
    p = MIX.noised(proc, t)
    mc, mse = _mc_l2(lambda x: model.error_field(MIX, proc, t, x), p)
    assert se == 0.0 and abs(got - mc) < 4 * mse
    # and the cross terms matter here (not just the sum of the parts)
    parts = sum(m.l2_error(MIX, proc, t)[0] for m in model.models)
    assert abs(parts - got) > 10 * mse


def test_error_field_is_what_the_executor_adds():
    """For a sum of all model kinds, one Euler step reveals the executor's error."""
    proc = VP()
    other = GaussianMixture(
        [0.5, 0.5], [[1.2, 0.0], [-1.0, 1.5]], [0.4, 0.3], "spherical"
    )
    model = Sum(
        Misspecified(other),
        Bias(lambda t: np.stack([t, -t], axis=1), scale=PowerScale(2.0, -0.5)),
        Linear([[0.1, 0.0], [0.2, -0.1]], scale=InterpScale([0.0, 1.0], [1.0, 3.0])),
        FourierField(0.3, 8, 0.6, seed=1),
    )
    t = 0.35
    g = np.array([t, t - 1e-3])
    x0 = MIX.noised(proc, t).sample(40, 2)
    base = sample(MIX, proc, "euler", g, 40, init=x0)
    pert = sample(MIX, proc, "euler", g, 40, init=x0, score_error=model)
    e = (pert - base) / (0.5 * (g[0] - g[1]) * proc.g2(t))
    np.testing.assert_allclose(e, model.error_field(MIX, proc, t, x0), rtol=1e-8)


def test_misspecified_exact_for_gaussians_monte_carlo_for_mixtures():
    proc = VP()
    target = Gaussian([0.0, 0.0], np.diag([1.0, 0.5]))
    other = Gaussian([0.5, -0.2], np.diag([1.2, 0.4]))
    t = 0.5
    m = Misspecified(other)
    got, se = m.l2_error(target, proc, t)
    p, q = target.noised(proc, t), other.noised(proc, t)
    mc, mse = _mc_l2(lambda x: q.score(x) - p.score(x), p)
    assert se == 0.0 and abs(got - mc) < 4 * mse
    g = grid("uniform", 30, process=proc)
    law = exact_law(target, proc, "ei-ode", g, score_error=m)
    law_other = exact_law(other, proc, "ei-ode", g)
    np.testing.assert_allclose(law.mean, law_other.mean, rtol=1e-12, atol=1e-12)
    # mixtures: Monte Carlo with a standard error, checked by an independent run
    shifted = GaussianMixture(
        MIX.weights, MIX.means + 0.3, MIX.covariances, "spherical"
    )
    val, se = Misspecified(shifted).l2_error(MIX, proc, 0.2, n=40000, seed=1)
    pm, qm = MIX.noised(proc, 0.2), shifted.noised(proc, 0.2)
    mc, mse = _mc_l2(lambda x: qm.score(x) - pm.score(x), pm, n=40000, seed=9)
    assert se > 0 and abs(val - mc) < 4 * np.hypot(se, mse)
    with pytest.raises(ValueError, match="dimension"):
        sample(
            target,
            proc,
            "ei-sde",
            g,
            10,
            score_error=Misspecified(Gaussian([0.0], [[1.0]])),
        )


def test_linear_error_keeps_exact_law_exact():
    proc = VP()
    target = Gaussian([0.5, -0.5], [[1.0, 0.3], [0.3, 0.6]])
    g = grid("uniform", 15, process=proc)
    err = Linear([[0.2, 0.1], [0.0, -0.3]], scale=PowerScale(0.5, 1.0)) + Bias(
        [0.1, 0.2]
    )
    law = exact_law(target, proc, "ei-sde", g, score_error=err)
    n = 40000
    x = sample(target, proc, "ei-sde", g, n, seed=4, score_error=err)
    se = np.sqrt(np.diag(law.cov) / n)
    assert np.all(np.abs(x.mean(0) - law.mean) < 4 * se)
    v = np.diag(law.cov)
    assert np.all(np.abs(x.var(0, ddof=1) - v) < 4 * np.sqrt(2 / (n - 1)) * v)
    base = exact_law(target, proc, "ei-sde", g)
    assert np.max(np.abs(law.mean - base.mean)) > 20 * np.max(se)


def test_time_dependent_scales():
    proc = VP()
    t = np.array([0.1, 0.5, 1.0])
    np.testing.assert_allclose(PowerScale(2.0, -0.5)(t), 2.0 * t**-0.5)
    np.testing.assert_allclose(PowerScale(1.0, 2.0, t_ref=0.5)(t), (t / 0.5) ** 2)
    np.testing.assert_allclose(InverseSigmaScale(proc, 0.1)(t), 0.1 / proc.sigma(t))
    np.testing.assert_allclose(
        InterpScale([0.0, 1.0], [1.0, 3.0])(np.array([-1.0, 0.25, 2.0])),
        [1.0, 1.5, 3.0],
    )
    # an eps-prediction error of size eps is a score error of size eps / sigma
    b = Bias([0.6, 0.8], scale=InverseSigmaScale(proc, 0.1))
    assert b.l2_error(MIX, proc, 0.3)[0] == pytest.approx(0.01 / proc.sigma2(0.3))
    terms = b.stage_terms(MIX, proc, t, 2)
    np.testing.assert_allclose(terms.bias, (0.1 / proc.sigma(t))[:, None] * [0.6, 0.8])
    with pytest.raises(ValueError, match="t_ref"):
        PowerScale(1.0, 1.0, t_ref=0.0)
    with pytest.raises(ValueError, match="increasing"):
        InterpScale([1.0, 0.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        Bias([1.0, 0.0], scale=PowerScale(1.0, -1.0)).stage_terms(
            MIX, proc, np.array([0.0]), 2
        )


def test_integrated_error():
    proc = VP()
    target = Gaussian([0.0], [[1.0]])
    g = grid("uniform", 10, process=proc)
    tot, se = integrated_l2_error(Bias([0.1]), target, proc, g)
    assert se == 0.0 and tot == pytest.approx(0.01 * (g[0] - g[-1]))
    # time-dependent size, left end points (where the EI freezes the score)
    ps = PowerScale(0.2, -1.0)
    tot, _ = Bias([1.0], scale=ps).integrated_l2_error(target, proc, g)
    h = g[:-1] - g[1:]
    assert tot == pytest.approx(np.sum(h * ps(g[:-1]) ** 2))
    tot, _ = Bias([1.0]).integrated_l2_error(target, proc, g, weight=proc.g2)
    assert tot == pytest.approx(np.sum(h * proc.g2(g[:-1])))
    # Monte Carlo terms carry a standard error
    shifted = GaussianMixture(
        MIX.weights, MIX.means + 0.3, MIX.covariances, "spherical"
    )
    g3 = grid("uniform", 3, process=proc, delta=0.1)
    tot, se = Misspecified(shifted).integrated_l2_error(MIX, proc, g3, n=5000, seed=2)
    vals = [
        monte_carlo_l2_error(Misspecified(shifted), MIX, proc, tk, n=5000, seed=2)
        for tk in g3[:-1]
    ]
    assert se > 0 and tot > 0
    assert abs(tot - sum(hk * v[0] for hk, v in zip(g3[:-1] - g3[1:], vals))) < 8 * se


def test_bad_input_and_nonaffine_exact_law_refused():
    proc = VP()
    target = Gaussian([0.0], [[1.0]])
    g = grid("uniform", 10, process=proc)
    with pytest.raises(ValueError, match="affine"):
        exact_law(target, proc, "ei-sde", g, score_error=FourierField(0.1))
    with pytest.raises(ValueError, match="bandwidth"):
        FourierField(0.1, bandwidth=0.0)
    with pytest.raises(ValueError, match="eps"):
        FourierField(float("nan"))
    with pytest.raises(ValueError, match="Fourier"):
        (FourierField(0.1) + FourierField(0.2)).stage_terms(
            target, proc, np.array([0.5]), 1
        )
    with pytest.raises(ValueError, match="shape"):
        Bias([1.0, 2.0]).l2_error(target, proc, 0.5)
    with pytest.raises(ValueError, match="square"):
        Linear(np.ones((2, 3)))
    with pytest.raises(TypeError, match="ScoreError"):
        Sum(Bias([1.0]), 3.0)
    with pytest.raises(TypeError, match="score_error"):
        sample(target, proc, "ei-sde", g, 10, score_error=0.1)
    with pytest.raises(TypeError, match="ScoreError"):
        integrated_l2_error(0.1, target, proc, g)


def _quad_l2_1d(model, target, proc, t):
    """Oracle: E_{p_t}|e|^2 in 1-D by the trapezoid rule on a fine grid."""
    y = np.linspace(-14.0, 14.0, 280001)[:, None]
    e = model.error_field(target, proc, t, y)[:, 0]
    return float(np.trapezoid(target.noised(proc, t).pdf(y) * e * e, y[:, 0]))


def test_concentrated_error_l2_by_importance_sampling_against_quadrature():
    tg = Gaussian(np.zeros(1), np.eye(1))
    mix = GaussianMixture([0.6, 0.4], [[-1.0], [1.5]], [0.3, 0.5], "spherical")
    proc = OU(T=8.0)
    for target, center in ((tg, [4.0]), (mix, [-4.5])):
        m = Concentrated(center, 0.01, 0.3)
        q = m.score_target(target)
        assert q.n_components == target.n_components + 1
        assert q.weights[-1] == pytest.approx(0.01)
        for t in (1e-3, 0.1, 0.7, 2.0):
            got, se = m.l2_error(target, proc, t, n=40000, seed=3)
            want = _quad_l2_1d(m, target, proc, t)
            assert se > 0 and abs(got - want) < 4 * se, (t, got, want, se)
            assert se < 0.2 * got  # bounded weights: a small relative error


def test_concentrated_error_is_large_in_sup_norm_and_small_in_the_bulk():
    tg = Gaussian(np.zeros(1), np.eye(1))
    proc = OU(T=8.0)
    m = Concentrated([4.0], 0.01, 0.3)
    t = 1e-3
    l2 = math.sqrt(_quad_l2_1d(m, tg, proc, t))
    y = np.linspace(-6.0, 6.0, 12001)[:, None]
    e = np.abs(m.error_field(tg, proc, t, y)[:, 0])
    assert e.max() > 20 * l2  # concentrated: sup norm >> L2 size
    bulk = np.abs(y[:, 0]) < 2.0
    assert e[bulk].max() < 1e-3 * l2  # negligible where p_t has its mass
    # the error sits where p_t is small: |y - 4| < 1 holds < 1e-3 of p_t's mass
    assert abs(y[np.argmax(e), 0] - 4.0) < 1.0


def test_equal_l2_bias_matches_the_size_at_every_time():
    tg = Gaussian(np.zeros(2), np.eye(2))
    proc = OU(T=4.0)
    m = Concentrated([3.0, 3.0], 0.02, 0.4)
    times = np.array([2.0, 0.5, 0.01])
    b, sizes, se = equal_l2_bias(m, tg, proc, times, n=4000, seed=1)
    assert sizes.shape == se.shape == (3,) and np.all(se > 0)
    # the bias reproduces the model's estimated size at each time, exactly
    for ti, s in zip(np.sort(times), sizes):
        v, vse = b.l2_error(tg, proc, ti)
        assert vse == 0.0 and v == pytest.approx(s * s, rel=1e-12)
    # linear interpolation of the size in between
    mid = 0.5 * (0.5 + 2.0)
    assert b.l2_error(tg, proc, mid)[0] == pytest.approx(
        (0.5 * (sizes[1] + sizes[2])) ** 2
    )
    # a closed-form model is matched exactly (no Monte Carlo)
    b2, s2, se2 = equal_l2_bias(Linear(0.3), tg, proc, [1.0], direction=[1.0, 0.0])
    assert se2[0] == 0.0
    assert b2.l2_error(tg, proc, 1.0)[0] == pytest.approx(
        Linear(0.3).l2_error(tg, proc, 1.0)[0]
    )


def test_concentrated_and_equal_l2_bias_bad_input():
    tg = Gaussian(np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="weight"):
        Concentrated([3.0, 0.0], 1.0, 0.3)
    with pytest.raises(ValueError, match="weight"):
        Concentrated([3.0, 0.0], 0.0, 0.3)
    with pytest.raises(ValueError, match="width"):
        Concentrated([3.0, 0.0], 0.1, -1.0)
    with pytest.raises(ValueError, match="center must have dimension 2"):
        Concentrated([3.0], 0.1, 0.3).score_target(tg)
    with pytest.raises(TypeError, match="ScoreError"):
        equal_l2_bias("bias", tg, OU(), [1.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-zero"):
        equal_l2_bias(Linear(0.1), tg, OU(), [1.0], direction=[0.0, 0.0])
