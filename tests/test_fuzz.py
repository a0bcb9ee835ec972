"""Hostile inputs at the public boundary: every call succeeds with finite output or
raises ValueError/TypeError naming the argument — never a crash or a silent NaN."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorelab.exact import exact_law
from scorelab.grids import grid
from scorelab.metrics_gaussian import w2_gaussian
from scorelab.processes import VE, VP
from scorelab.sample import sample
from scorelab.targets import Gaussian, GaussianMixture

_DTYPES = [np.float64, np.float32, np.int64, np.int32, np.complex128, object, bool]


def _variants(a: np.ndarray, draw) -> np.ndarray:
    """The same values as another dtype, Fortran order, a strided view or read-only."""
    kind = draw(st.sampled_from(["plain", "dtype", "fortran", "strided", "readonly"]))
    if kind == "dtype":
        dt = draw(st.sampled_from(_DTYPES))
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # 1e150 -> float32 is inf
                return a.astype(dt)
        except (TypeError, ValueError):
            return a
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "strided" and a.ndim >= 1:
        big = np.repeat(a, 2, axis=-1)
        return big[..., ::2]
    if kind == "readonly":
        b = a.copy()
        b.setflags(write=False)
        return b
    return a


@settings(max_examples=60)
@given(data=st.data())
def test_score_boundary(data):
    d = data.draw(st.integers(1, 6))
    K = data.draw(st.integers(1, 4))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    gm = GaussianMixture(
        np.full(K, 1 / K),
        rng.normal(size=(K, d)),
        rng.uniform(0.1, 2, size=(K, d)),
        "diag",
    )
    n = data.draw(st.integers(0, 5))
    x = rng.normal(size=(n, d)) * data.draw(st.sampled_from([1.0, 1e3, 1e-300, 1e150]))
    if data.draw(st.booleans()) and x.size:
        x.flat[0] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    x = _variants(x, data.draw)
    try:
        s = gm.score(x)
    except (ValueError, TypeError) as exc:
        assert "x" in str(exc)
        return
    assert s.shape == (n, d) and np.all(np.isfinite(s))


@settings(max_examples=40)
@given(data=st.data())
def test_sample_boundary(data):
    d = data.draw(st.integers(1, 4))
    target = Gaussian(np.zeros(d), np.eye(d))
    proc = data.draw(st.sampled_from([VP(), VE()]))
    steps = data.draw(st.integers(1, 8))
    g = grid("uniform", steps, process=proc)
    g = _variants(g, data.draw)
    n = data.draw(st.sampled_from([1, 3, 17]))
    threads = data.draw(st.sampled_from([1, 2]))
    try:
        x = sample(target, proc, "ei-sde", g, n, seed=1, threads=threads)
    except (ValueError, TypeError) as exc:
        assert "grid" in str(exc) or "t" in str(exc)
        return
    assert x.shape == (n, d) and np.all(np.isfinite(x))


@settings(max_examples=40)
@given(data=st.data())
def test_w2_boundary(data):
    d = data.draw(st.integers(1, 5))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    A = rng.normal(size=(d, d))
    S = _variants(A @ A.T + np.eye(d), data.draw)
    m = _variants(rng.normal(size=d), data.draw)
    try:
        w = w2_gaussian(m, S, np.zeros(d), np.eye(d))
    except (ValueError, TypeError) as exc:
        assert any(k in str(exc) for k in ("m1", "S1"))
        return
    assert np.isfinite(w) and w >= 0


@pytest.mark.parametrize("d, K", [(512, 1), (8, 256)])
def test_large_dimension_and_many_components(d, K):
    rng = np.random.default_rng(0)
    gm = GaussianMixture(
        np.full(K, 1 / K), rng.normal(size=(K, d)), np.ones(K), "spherical"
    )
    proc = VP()
    x = sample(gm, proc, "ei-sde", grid("uniform", 3, process=proc), 4, seed=0)
    assert x.shape == (4, d) and np.all(np.isfinite(x))


def test_tiny_weights_and_far_points():
    gm = GaussianMixture([1e-300, 1 - 1e-300], [[0.0], [5.0]], [1.0, 1.0], "spherical")
    s = gm.score(np.array([[-1e3], [1e3], [0.0]]))
    assert np.all(np.isfinite(s))


def test_large_T_and_small_delta():
    """alpha_T underflows towards 1e-300 on a long OU horizon; delta tiny."""
    from scorelab.processes import OU

    proc = OU(T=600.0)
    target = Gaussian([1.0], [[2.0]])
    g = grid("uniform", 600, process=proc, delta=1e-8)
    law = exact_law(target, proc, "ei-sde", g)
    assert np.all(np.isfinite(law.mean)) and np.all(np.isfinite(law.cov))
    x = sample(target, proc, "ei-sde", g, 1000, seed=0)
    assert np.all(np.isfinite(x))


def test_ve_huge_sigma_max():
    proc = VE(sigma_max=1e4)
    target = Gaussian([0.5, -0.5], np.diag([0.3, 2.0]))
    errs = []
    for steps in (400, 800):
        g = grid("logsnr", steps, process=proc)
        law = exact_law(target, proc, "ei-ode", g, init="exact")
        ref = target.noised(proc, g[-1])
        errs.append(w2_gaussian(law.mean, law.cov, ref.mean, ref.cov))
    # first order: doubling the steps halves the error, even from sigma = 1e4
    assert np.all(np.isfinite(errs)) and 1.8 < errs[0] / errs[1] < 2.2, errs


def test_memory_estimate_refuses_impossible_requests():
    target = Gaussian(np.zeros(2), np.eye(2))
    proc = VP()
    g = grid("uniform", 2, process=proc)
    with pytest.raises(MemoryError, match="particle_offset"):
        sample(target, proc, "ei-sde", g, 10**15, seed=0)


def test_concurrent_calls_equal_sequential():
    import threading

    gm = GaussianMixture([0.4, 0.6], [[-1.0, 0.0], [1.0, 1.0]], [0.3, 0.5], "spherical")
    proc = VP()
    g = grid("uniform", 30, process=proc)
    seq = [sample(gm, proc, "ei-sde", g, 3000, seed=s, threads=2) for s in range(4)]
    out: dict[int, np.ndarray] = {}

    def work(s: int) -> None:
        out[s] = sample(gm, proc, "ei-sde", g, 3000, seed=s, threads=2)

    ts = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for s in range(4):
        assert np.array_equal(out[s], seq[s])


def test_nearly_singular_covariance():
    """Condition number 1e12: scores stay finite and match the exact linear solve."""
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    lam = np.array([1e-12, 1e-6, 1.0, 1.0])
    S = Q @ np.diag(lam) @ Q.T
    S = 0.5 * (S + S.T)
    target = Gaussian(np.zeros(4), S)
    x = 1e-7 * rng.normal(size=(5, 4))
    ref = -(x @ Q) / lam @ Q.T
    got = target.score(x)
    assert np.all(np.isfinite(got))
    # relative accuracy ~ cond * eps = 1e12 * 2.2e-16 in the stiffest direction
    np.testing.assert_allclose(got, ref, rtol=1e-3)
    # the noised law at delta is well conditioned: exact law stays accurate
    proc = VP()
    errs = []
    for steps in (200, 400):
        g = grid("uniform", steps, process=proc, delta=1e-3)
        law = exact_law(target, proc, "ei-ode", g, init="exact")
        ref_law = target.noised(proc, g[-1])
        errs.append(w2_gaussian(law.mean, law.cov, ref_law.mean, ref_law.cov))
    assert 1.7 < errs[0] / errs[1] < 2.3, errs
