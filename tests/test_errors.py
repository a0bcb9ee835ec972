"""Score-error models: exact L2 sizes against Monte Carlo, and their effect."""

from __future__ import annotations

import numpy as np
import pytest

from scorelab.errors import (
    Bias,
    FourierField,
    Linear,
    Misspecified,
    integrated_l2_error,
)
from scorelab.exact import exact_law
from scorelab.grids import grid
from scorelab.processes import VP
from scorelab.sample import sample
from scorelab.targets import Gaussian, GaussianMixture


def _mc_l2(err_fn, p, n=200000, seed=0):
    x = p.sample(n, seed)
    e = err_fn(x)
    v = np.einsum("ij,ij->i", e, e)
    return v.mean(), v.std(ddof=1) / np.sqrt(n)


def test_linear_and_bias_l2_exact():
    proc = VP()
    target = GaussianMixture(
        [0.3, 0.7], [[1.0, 0.0], [-1.0, 2.0]], [0.5, 0.2], "spherical"
    )
    A = np.array([[0.2, -0.1], [0.0, 0.3]])
    t = 0.3
    p = target.noised(proc, t)
    got, _ = Linear(A).l2_error(target, proc, t)
    mc, se = _mc_l2(lambda x: x @ A.T, p)
    assert abs(got - mc) < 4 * se
    assert Bias([0.3, 0.4], scale=2.0).l2_error(target, proc, t)[0] == pytest.approx(
        1.0
    )


def test_fourier_field_l2_exact_and_executor_consistent():
    proc = VP()
    target = GaussianMixture(
        [0.5, 0.5], [[-1.0, 0.0], [1.0, 0.5]], [0.3, 0.6], "spherical"
    )
    ff = FourierField(0.5, n_features=16, bandwidth=0.7, seed=3)
    t = 0.2
    p = target.noised(proc, t)
    w, phi, a = ff.features(2)
    field = lambda x: 0.5 * np.cos(x @ w.T + phi) @ a  # noqa: E731
    got, _ = ff.l2_error(target, proc, t)
    mc, se = _mc_l2(field, p)
    assert abs(got - mc) < 4 * se
    # the executor adds exactly this field: a one-step Euler probe isolates it
    g = np.array([t, t - 1e-3])
    x0 = p.sample(50, 1)
    base = sample(target, proc, "euler", g, 50, init=x0)
    pert = sample(target, proc, "euler", g, 50, init=x0, score_error=ff)
    h = g[0] - g[1]
    np.testing.assert_allclose(
        (pert - base) / (0.5 * h * proc.g2(t)), field(x0), rtol=1e-9
    )


def test_misspecified_gaussian_exact_and_in_sampler():
    proc = VP()
    target = Gaussian([0.0, 0.0], np.diag([1.0, 0.5]))
    other = Gaussian([0.5, -0.2], np.diag([1.2, 0.4]))
    t = 0.5
    m = Misspecified(other)
    got, _ = m.l2_error(target, proc, t)
    p, q = target.noised(proc, t), other.noised(proc, t)
    mc, se = _mc_l2(lambda x: q.score(x) - p.score(x), p)
    assert abs(got - mc) < 4 * se
    g = grid("uniform", 30, process=proc)
    law = exact_law(target, proc, "ei-ode", g, score_error=m)
    law_other = exact_law(other, proc, "ei-ode", g)
    np.testing.assert_allclose(law.mean, law_other.mean, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="dimension"):
        sample(
            target,
            proc,
            "ei-sde",
            g,
            10,
            score_error=Misspecified(Gaussian([0.0], [[1.0]])),
        )


def test_integrated_error_and_nonaffine_exact_law_refused():
    proc = VP()
    target = Gaussian([0.0], [[1.0]])
    g = grid("uniform", 10, process=proc)
    tot = integrated_l2_error(Bias([0.1]), target, proc, g)
    assert tot == pytest.approx(0.01 * (g[0] - g[-1]))
    with pytest.raises(ValueError, match="affine"):
        exact_law(target, proc, "ei-sde", g, score_error=FourierField(0.1))
    with pytest.raises(ValueError, match="bandwidth"):
        FourierField(0.1, bandwidth=0.0)
