"""CLD: closed forms (PAPERS.md), Van Loan vs quadrature, exact law vs sampling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad_vec
from scipy.linalg import expm

from scorelab.cld import CLD
from scorelab.exact import exact_law
from scorelab.grids import grid
from scorelab.metrics_gaussian import w2_gaussian
from scorelab.sample import sample
from scorelab.targets import Gaussian


def test_normalized_closed_forms():
    p = CLD()
    h = 0.37
    r, c, n = p.ei_coefficients(np.array([1.0]), np.array([1.0 - h]))
    e = np.exp(h)
    np.testing.assert_allclose(
        r[0], e * np.array([[1 - h, -h], [h, 1 + h]]), rtol=1e-12
    )
    np.testing.assert_allclose(
        c[0],
        4 * np.array([[0, -(e * (h - 1) + 1)], [0, h * e]]),
        rtol=1e-12,
        atol=1e-14,
    )
    i0 = (e**2 - 1) / 2
    i1 = e**2 * (h / 2 - 0.25) + 0.25
    i2 = e**2 * (h * h / 2 - h / 2 + 0.25) - 0.25
    np.testing.assert_allclose(
        n[0],
        4 * np.array([[i2, -(i1 + i2)], [-(i1 + i2), i0 + 2 * i1 + i2]]),
        rtol=1e-10,
    )
    np.testing.assert_allclose(p.stationary, np.eye(2), atol=1e-12)
    Phi, Nc = p.marginal_maps(np.array([0.8]))
    t = 0.8
    np.testing.assert_allclose(
        Phi[0], np.exp(-t) * np.array([[1 + t, t], [-t, 1 - t]]), rtol=1e-12
    )
    np.testing.assert_allclose(Nc[0], np.eye(2) - Phi[0] @ Phi[0].T, atol=1e-12)
    # only the velocity score enters the reverse dynamics
    assert np.all(c[:, :, 0] == 0)


def test_dockhorn_blocks_against_quadrature():
    p = CLD("dockhorn")
    h = 0.05
    r, c, n = p.ei_coefficients(np.array([0.5]), np.array([0.5 - h]))
    A = -p.F
    np.testing.assert_allclose(r[0], expm(A * h), rtol=1e-12)
    ci, _ = quad_vec(lambda u: expm(A * u), 0, h, epsabs=1e-14)
    np.testing.assert_allclose(c[0], ci @ p.GG, rtol=1e-9, atol=1e-12)
    ni, _ = quad_vec(lambda u: expm(A * u) @ p.GG @ expm(A * u).T, 0, h, epsabs=1e-14)
    np.testing.assert_allclose(n[0], ni, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(p.stationary, np.diag([1.0, 0.25]), atol=1e-12)
    assert p.v0_var == pytest.approx(0.04 * 0.25)


@pytest.mark.parametrize("param", ["normalized", "dockhorn"])
@pytest.mark.parametrize("scheme", ["ei-sde", "ei-ode"])
def test_exact_law_matches_sampling(param, scheme):
    p = CLD(param)
    target = Gaussian([1.0, -1.0], [[0.5, 0.1], [0.1, 2.0]])
    g = grid("uniform", 40, process=p, delta=1e-3)
    law = exact_law(target, p, scheme, g)
    n = 40000
    x = sample(target, p, scheme, g, n, seed=3)
    assert x.shape == (n, 2)
    se = np.sqrt(np.diag(law.cov) / n)
    assert np.all(np.abs(x.mean(0) - law.mean) < 4.5 * se)
    v = np.diag(law.cov)
    assert np.all(np.abs(x.var(0, ddof=1) - v) < 4.5 * np.sqrt(2 / n) * v)
    full = sample(target, p, scheme, g, 10, seed=3, return_state=True)
    assert full.shape == (10, 4)


def test_first_order_convergence_from_exact_init():
    p = CLD()
    target = Gaussian([0.5, 0.0, -0.5], np.diag([0.2, 1.0, 3.0]))
    steps = [40, 80, 160, 320]
    errs = []
    for N in steps:
        g = grid("uniform", N, process=p, delta=1e-2)
        law = exact_law(target, p, "ei-ode", g, init="exact", return_state=True)
        ref = p.marginal(target, g[-1])
        errs.append(w2_gaussian(law.mean, law.cov, ref.mean, ref.cov))
    slope = -np.polyfit(np.log(steps), np.log(errs), 1)[0]
    assert abs(slope - 1.0) <= 0.25, (errs, slope)


def test_bad_parameters_and_scalar_interface():
    with pytest.raises(ValueError, match="param"):
        CLD("other")
    with pytest.raises(ValueError, match="gamma"):
        CLD("dockhorn", gamma=0.0)
    with pytest.raises(ValueError, match="M"):
        CLD("dockhorn", M=-1.0)
    p = CLD()
    with pytest.raises(TypeError, match="phase-space"):
        p.alpha(0.5)
    g = grid("uniform", 5, process=p)
    with pytest.raises(ValueError, match="scalar"):
        sample(Gaussian([0.0], [[1.0]]), p, "ddim", g, 10)
