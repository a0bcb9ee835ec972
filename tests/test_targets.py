"""Targets: exact scores and log-densities against closed forms and SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import multivariate_normal
from strategies import gaussians, mixtures

from scorelab.processes import VE, VP
from scorelab.targets import Gaussian, GaussianMixture


def _scipy_mixture_logpdf(w, mu, covs, x):
    dens = [
        np.log(wk) + multivariate_normal(m, c).logpdf(x)
        for wk, m, c in zip(w, mu, covs)
    ]
    return np.logaddexp.reduce(
        np.atleast_2d(np.array(dens)).reshape(len(w), -1), axis=0
    )


@given(mixtures(max_d=4, max_k=4, covariance_type="full"), st.integers(0, 2**31))
def test_mixture_logpdf_matches_scipy(mix, seed):
    w, mu, covs = mix
    gm = GaussianMixture(w, mu, covs)
    x = np.random.default_rng(seed).normal(size=(7, mu.shape[1])) * 3
    np.testing.assert_allclose(
        gm.logpdf(x), _scipy_mixture_logpdf(w, mu, covs, x), rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize("ctype", ["full", "diag", "spherical"])
@given(data=st.data())
def test_score_is_gradient_of_logpdf(ctype, data):
    w, mu, covs = data.draw(
        mixtures(max_d=3, max_k=3, covariance_type=ctype, cond_max=50)
    )
    gm = GaussianMixture(w, mu, covs, covariance_type=ctype)
    d = mu.shape[1]
    x = mu[0] + 0.5
    h = 1e-5
    fd = np.array(
        [(gm.logpdf(x + h * e) - gm.logpdf(x - h * e)) / (2 * h) for e in np.eye(d)]
    )
    np.testing.assert_allclose(
        gm.score(x), fd, rtol=1e-5, atol=1e-5 * (1 + np.abs(fd).max())
    )


@given(gaussians(max_d=5))
def test_k1_mixture_equals_gaussian(g):
    m, S = g
    x = m + np.linspace(-1, 1, m.shape[0])
    G = Gaussian(m, S)
    M = GaussianMixture([1.0], m[None], S[None])
    np.testing.assert_allclose(G.score(x), M.score(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        G.score(x), -np.linalg.solve(S, x - m), rtol=1e-8, atol=1e-8
    )
    assert G.logpdf(x) == pytest.approx(multivariate_normal(m, S).logpdf(x), rel=1e-10)


def test_diag_and_spherical_equal_full():
    rng = np.random.default_rng(1)
    w = np.array([0.2, 0.8])
    mu = rng.normal(size=(2, 3))
    v = rng.uniform(0.5, 2, size=(2, 3))
    x = rng.normal(size=(10, 3))
    full = GaussianMixture(w, mu, np.stack([np.diag(r) for r in v]))
    diag = GaussianMixture(w, mu, v, covariance_type="diag")
    np.testing.assert_allclose(full.score(x), diag.score(x), rtol=1e-12)
    sph = GaussianMixture(w, mu, v[:, 0], covariance_type="spherical")
    full2 = GaussianMixture(w, mu, v[:, 0, None, None] * np.eye(3))
    np.testing.assert_allclose(full2.logpdf(x), sph.logpdf(x), rtol=1e-12)


def test_far_points_are_finite():
    gm = GaussianMixture(
        [0.5, 0.5], [[-1.0, 0.0], [1.0, 0.0]], [[0.01, 0.01], [0.01, 0.01]], "diag"
    )
    x = np.array([[50.0 * 0.1 * 100, 0.0], [-500.0, 500.0]])
    s = gm.score(x)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(gm.logpdf(x)))
    # far to the right only the right component matters
    np.testing.assert_allclose(s[0], -(x[0] - [1.0, 0.0]) / 0.01, rtol=1e-12)


@pytest.mark.parametrize("proc", [VP(), VE()])
def test_noised_moments(proc):
    rng = np.random.default_rng(2)
    w = np.array([0.3, 0.7])
    mu = rng.normal(size=(2, 2))
    covs = np.array([np.eye(2) * 0.5, [[1.0, 0.3], [0.3, 0.4]]])
    gm = GaussianMixture(w, mu, covs)
    t = 0.4
    a, s2 = proc.alpha(t), proc.sigma2(t)
    nt = gm.noised(proc, t)
    np.testing.assert_allclose(nt.mean, a * gm.mean, rtol=1e-12)
    np.testing.assert_allclose(nt.cov, a * a * gm.cov + s2 * np.eye(2), rtol=1e-12)
    g = Gaussian(mu[0], covs[1]).noised(proc, t)
    np.testing.assert_allclose(g.cov, a * a * covs[1] + s2 * np.eye(2), rtol=1e-12)


def test_sample_moments_within_standard_errors():
    gm = GaussianMixture([0.25, 0.75], [[-2.0], [1.0]], [0.5, 0.2], "spherical")
    x = gm.sample(40000, seed=3)
    se = np.sqrt(gm.cov[0, 0] / x.shape[0])
    assert abs(x.mean() - gm.mean[0]) < 4 * se
    assert np.array_equal(x, gm.sample(40000, seed=3))


def test_from_sklearn_all_types():
    sk = pytest.importorskip("sklearn.mixture")
    x = np.random.default_rng(0).normal(size=(300, 2))
    x[:150] += 4
    for ct in ("full", "tied", "diag", "spherical"):
        model = sk.GaussianMixture(2, covariance_type=ct, random_state=0).fit(x)
        gm = GaussianMixture.from_sklearn(model)
        np.testing.assert_allclose(
            gm.logpdf(x[:20]), model.score_samples(x[:20]), rtol=1e-8
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(weights=[0.5, 0.6], means=[[0.0], [1.0]], covs=[1.0, 1.0]), "sum to 1"),
        (
            dict(weights=[-0.5, 1.5], means=[[0.0], [1.0]], covs=[1.0, 1.0]),
            "non-negative",
        ),
        (dict(weights=[0.5, 0.5], means=[[0.0], [np.nan]], covs=[1.0, 1.0]), "means"),
        (dict(weights=[0.5, 0.5], means=[[0.0], [1.0]], covs=[1.0, -1.0]), "covs"),
        (
            dict(
                weights=[1.0],
                means=[[0.0, 0.0]],
                covs=[[[1.0, 2.0], [2.0, 1.0]]],
                covariance_type="full",
            ),
            "covs",
        ),
        (
            dict(
                weights=[1.0],
                means=[[0.0, 0.0]],
                covs=[[[1.0, 0.5], [0.0, 1.0]]],
                covariance_type="full",
            ),
            "symmetric",
        ),
        (
            dict(weights=[1.0], means=[[0.0]], covs=[1.0], covariance_type="tied"),
            "covariance_type",
        ),
    ],
)
def test_bad_input(kwargs, match):
    kwargs.setdefault("covariance_type", "spherical")
    with pytest.raises(ValueError, match=match):
        GaussianMixture(**kwargs)


def test_bad_x_and_types():
    g = Gaussian([0.0, 0.0], np.eye(2))
    with pytest.raises(ValueError, match="x"):
        g.score(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="x"):
        g.score([np.nan, 0.0])
    with pytest.raises(TypeError, match="x"):
        g.score(np.zeros(2, complex))
    with pytest.raises(ValueError, match="n"):
        g.sample(0)
