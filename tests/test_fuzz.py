"""Hostile inputs at the public boundary: every call succeeds with finite output or
raises ValueError/TypeError naming the argument — never a crash or a silent NaN."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, settings
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
            with np.errstate(
                over="ignore", invalid="ignore"
            ):  # 1e150 -> float32 is inf
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


# ===========================================================================
# Every public entry point, with oracles where they are cheap
# ===========================================================================
import math  # noqa: E402
import re  # noqa: E402

import scipy.linalg  # noqa: E402
import scipy.special  # noqa: E402
import scipy.stats  # noqa: E402
from strategies import (  # noqa: E402
    MAGNITUDES,
    array_variant,
    hostile_scalars,
    is_real_dtype,
    spd_matrices,
    spectra,
)

import scorelab as sl  # noqa: E402
from scorelab import errors as E  # noqa: E402

ARG_ERRORS = (ValueError, TypeError)


def _names_arg(exc: BaseException, *names: str) -> None:
    try:
        event(f"rejected with {type(exc).__name__}")  # --hypothesis-show-statistics
    except Exception:
        pass
    msg = str(exc)
    assert any(n in msg for n in names), (
        f"{type(exc).__name__} {msg!r} names none of {names}"
    )


def _ref_mixture(w, mus, covs, x):
    """NumPy/SciPy log-density and score of sum_k w_k N(mu_k, C_k) (full covs)."""
    K, d = mus.shape
    logs = np.empty((x.shape[0], K))
    scores = np.empty((K, x.shape[0], d))
    for k in range(K):
        c = scipy.linalg.cho_factor(covs[k], lower=True)
        diff = x - mus[k]
        sol = scipy.linalg.cho_solve(c, diff.T).T
        logdet = 2 * np.sum(np.log(np.diag(c[0])))
        logs[:, k] = (
            np.log(w[k])
            - 0.5 * np.sum(diff * sol, axis=1)
            - 0.5 * logdet
            - 0.5 * d * math.log(2 * math.pi)
        )
        scores[k] = -sol
    lp = scipy.special.logsumexp(logs, axis=1)
    r = np.exp(logs - lp[:, None])
    return lp, np.einsum("nk,knd->nd", r, scores)


def _full(ct, covs, K, d):
    if ct == "full":
        return np.asarray(covs, dtype=float)
    if ct == "diag":
        return np.stack([np.diag(c) for c in np.asarray(covs, dtype=float)])
    return np.asarray(covs, dtype=float)[:, None, None] * np.eye(d)


@settings(max_examples=40)
@given(data=st.data())
def test_gaussian_logpdf_score_match_scipy(data):
    """Gaussian score = -Sigma^{-1}(x - mu), logpdf = scipy's, for hostile x."""
    d = data.draw(st.integers(1, 6))
    S = data.draw(spd_matrices(d, cond_max=1e4))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    mu = rng.normal(size=d)
    g = Gaussian(mu, S)
    n = data.draw(st.integers(0, 4))
    scale = data.draw(st.sampled_from([1.0, 1e3, 1e-3]))
    x = mu + scale * rng.normal(size=(n, d))
    single = data.draw(st.booleans()) and n == 1
    xin = x[0] if single else x
    xin = array_variant(data.draw, np.asarray(xin))
    try:
        s, lp = g.score(xin), g.logpdf(xin)
    except ARG_ERRORS as exc:
        _names_arg(exc, "x")
        # rejected: not real, or the shape was lost (an empty list is shape (0,))
        assert not is_real_dtype(xin) or np.shape(xin)[-1:] != (d,)
        return
    assert is_real_dtype(xin), "a non-real x was accepted"
    xf = np.asarray(xin, dtype=float).reshape(-1, d)
    ref_s = -np.linalg.solve(S, (xf - mu).T).T
    ref_lp = scipy.stats.multivariate_normal(mu, S).logpdf(xf).reshape(-1)
    np.testing.assert_allclose(np.reshape(s, (-1, d)), ref_s, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.reshape(lp, -1), ref_lp, rtol=1e-9, atol=1e-9)
    if single:
        assert np.shape(s) == (d,) and isinstance(lp, float)


@settings(max_examples=40)
@given(data=st.data())
def test_mixture_logpdf_score_match_reference(data):
    """All covariance types against a NumPy log-sum-exp reference."""
    ct = data.draw(st.sampled_from(["full", "diag", "spherical"]))
    d = data.draw(st.integers(1, 5))
    K = data.draw(st.integers(1, 5))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    w = rng.dirichlet(np.ones(K))
    mus = 3 * rng.normal(size=(K, d))
    if ct == "full":
        covs = np.stack([data.draw(spd_matrices(d, cond_max=100)) for _ in range(K)])
    elif ct == "diag":
        covs = np.stack([data.draw(spectra(d, cond_max=100)) for _ in range(K)])
    else:
        covs = rng.uniform(0.05, 5.0, size=K)
    gm = GaussianMixture(w, mus, covs, ct)
    mag = data.draw(st.sampled_from([1.0, 10.0, 1e3]))
    x = mag * rng.normal(size=(data.draw(st.integers(1, 6)), d))
    lp, s = gm.logpdf(x), gm.score(x)
    ref_lp, ref_s = _ref_mixture(w, mus, _full(ct, covs, K, d), x)
    np.testing.assert_allclose(lp, ref_lp, rtol=1e-9, atol=1e-8)
    err = np.abs(s - ref_s)
    assert np.all(err <= 1e-6 * (1 + np.abs(ref_s))), np.max(err)
    assert np.all(np.isfinite(s))


@settings(max_examples=60)
@given(data=st.data())
def test_mixture_constructor_boundary(data):
    """Hostile weights/means/covs: accepted values are stored exactly as float64."""
    ct = data.draw(
        st.sampled_from(["full", "diag", "spherical"] * 4 + ["tied", 3, None])
    )
    K = data.draw(st.sampled_from([1, 2, 3, 1, 2, 3, 0]))
    d = data.draw(st.sampled_from([1, 2, 3, 1, 2, 3, 0]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    w = rng.dirichlet(np.ones(max(K, 1)))[:K] if K else np.zeros(0)
    mus = rng.normal(size=(K, d)) * data.draw(st.sampled_from(MAGNITUDES))
    if ct == "full":
        covs = (
            np.stack([np.eye(d) * (1 + k) for k in range(K)])
            if K
            else np.zeros((0, d, d))
        )
    elif ct == "diag":
        covs = rng.uniform(0.5, 2, size=(K, d))
    else:
        covs = rng.uniform(0.5, 2, size=K)
    which = data.draw(st.sampled_from(["weights", "means", "covs", "none"]))
    if data.draw(st.booleans()):
        poison = data.draw(st.sampled_from([np.nan, np.inf, -1.0, 0.0]))
        arr = {"weights": w, "means": mus, "covs": covs}.get(which)
        if arr is not None and arr.size:
            arr = arr.copy()
            arr.flat[0] = poison
            if which == "weights":
                w = arr
            elif which == "means":
                mus = arr
            else:
                covs = arr
    args = {"weights": w, "means": mus, "covs": covs}
    if which in args:
        args[which] = array_variant(data.draw, np.asarray(args[which]))
    try:
        gm = GaussianMixture(args["weights"], args["means"], args["covs"], ct)
    except ARG_ERRORS as exc:
        _names_arg(exc, "weights", "means", "covs", "covariance_type")
        return
    assert ct in ("full", "diag", "spherical") and K >= 1 and d >= 1
    for name, got in (
        ("weights", gm.weights),
        ("means", gm.means),
        ("covs", gm.covariances),
    ):
        src = np.asarray(args[name], dtype=float)
        assert (
            got.dtype == np.float64
            and got.flags.c_contiguous
            and np.all(np.isfinite(got))
        )
        np.testing.assert_allclose(
            got, src if name != "weights" else src / src.sum(), rtol=1e-12, err_msg=name
        )
    if isinstance(args["means"], np.ndarray) and args["means"].flags.writeable:
        args["means"].flat[0] = 12345.0  # the target keeps its own copy
        assert gm.means.flat[0] != 12345.0


@settings(max_examples=30)
@given(data=st.data())
def test_gaussian_constructor_and_noised(data):
    d = data.draw(st.integers(1, 4))
    S = data.draw(spd_matrices(d, cond_max=1e3))
    mu = np.arange(d, dtype=float)
    Sin = array_variant(data.draw, S)
    muin = array_variant(data.draw, mu)
    try:
        g = Gaussian(muin, Sin)
    except ARG_ERRORS as exc:
        _names_arg(exc, "mean", "cov")
        lossy = is_real_dtype(Sin) and not np.array_equal(np.asarray(Sin, float), S)
        assert not (is_real_dtype(Sin) and is_real_dtype(muin)) or lossy
        return
    S = np.asarray(Sin, dtype=float)  # the values actually passed (float32, ints)
    assert np.array_equal(g.cov, 0.5 * (S + S.T))
    proc = data.draw(
        st.sampled_from([VP(), VE(), sl.OU(), sl.SubVP(), sl.CosineVP(), "VP"])
    )
    t = data.draw(st.one_of(hostile_scalars(), st.floats(0, 1)))
    try:
        nz = g.noised(proc, t)
    except ARG_ERRORS as exc:
        _names_arg(exc, "t", "process")
        return
    tt = float(t)  # accepted: a real number in [0, t_max]
    a, s2 = float(proc.alpha(tt)), float(proc.sigma2(tt))
    np.testing.assert_allclose(nz.mean, a * mu, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(nz.cov, a * a * S + s2 * np.eye(d), rtol=1e-12)


def test_from_sklearn_matches_score_samples():
    from sklearn.mixture import GaussianMixture as SkGM

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-2, 1, (150, 3)), rng.normal(2, 0.5, (150, 3))])
    for ct in ("full", "diag", "spherical", "tied"):
        sk = SkGM(2, covariance_type=ct, random_state=0).fit(X)
        gm = GaussianMixture.from_sklearn(sk)
        np.testing.assert_allclose(
            gm.logpdf(X[:20]), sk.score_samples(X[:20]), rtol=1e-8
        )
    with pytest.raises(TypeError, match="model"):
        GaussianMixture.from_sklearn(SkGM(2))  # not fitted


@settings(max_examples=20)
@given(data=st.data())
def test_target_sample_boundary_and_moments(data):
    gm = GaussianMixture(
        [0.3, 0.7], [[-1.0, 0.0], [2.0, 1.0]], [[0.5, 1.0], [1.0, 0.2]], "diag"
    )
    n = data.draw(
        st.one_of(st.integers(-2, 3), st.sampled_from([2000, 2.0, None, "3"]))
    )
    seed = data.draw(
        st.one_of(
            st.integers(-1, 3), st.sampled_from([None, 1.5, np.random.SeedSequence(4)])
        )
    )
    try:
        x = gm.sample(n, seed)
    except ARG_ERRORS as exc:
        _names_arg(exc, "n", "seed")
        return
    assert x.shape == (n, 2) and np.all(np.isfinite(x))
    assert np.array_equal(x, gm.sample(n, seed))
    if n >= 1000:
        se = np.sqrt(np.diag(gm.cov) / n)
        assert np.all(np.abs(x.mean(0) - gm.mean) < 5 * se)


@settings(max_examples=60)
@given(data=st.data())
def test_grid_boundary(data):
    proc = data.draw(st.sampled_from([VP(), VE(), sl.OU(T=8.0), None]))
    kind = data.draw(st.sampled_from(sl.GRID_KINDS))
    steps = data.draw(st.integers(1, 40))
    T = data.draw(st.one_of(st.none(), st.floats(0.01, 1.0)))
    delta = data.draw(st.sampled_from([1e-3, 1e-8, 1e-300]))
    rho = (
        data.draw(st.sampled_from([None, 1.5, 3.0]))
        if kind in ("karras", "power")
        else None
    )
    if proc is None and (T is None or kind in sl.grids._NEEDS_PROCESS):
        proc = VP()
    # at most one hostile argument per example, so that most examples are valid
    bad = data.draw(
        st.sampled_from([None, None, "proc", "kind", "steps", "T", "delta", "rho"])
    )
    if bad == "proc":
        proc = data.draw(st.sampled_from(["VP", 3]))
    elif bad == "kind":
        kind = data.draw(st.sampled_from(["nope", 3, None]))
    elif bad == "steps":
        steps = data.draw(
            st.one_of(st.integers(-1, 0), st.sampled_from([None, 2.0, True, 10**7]))
        )
    elif bad == "T":
        T = data.draw(st.one_of(hostile_scalars(), st.floats(1.0, 1e3)))
    elif bad == "delta":
        delta = data.draw(hostile_scalars())
    elif bad == "rho":
        rho = data.draw(hostile_scalars())
    try:
        t = sl.grid(kind, steps, T=T, delta=delta, process=proc, rho=rho)
    except ARG_ERRORS as exc:
        _names_arg(exc, "kind", "steps", "T", "delta", "rho", "process", "t_max")
        event(f"rejected: bad={bad}")
        return
    assert t.dtype == np.float64 and t.shape == (steps + 1,)
    assert np.all(np.isfinite(t)) and np.all(np.diff(t) < 0)
    T_ref = proc.T if T is None else float(T)
    assert t[0] == T_ref and t[-1] == float(delta)
    if kind == "uniform":
        np.testing.assert_allclose(
            t,
            np.linspace(T_ref, float(delta), steps + 1),
            rtol=1e-12,
            atol=4e-16 * T_ref,
        )


@settings(max_examples=30)
@given(data=st.data())
def test_explicit_grid_boundary(data):
    g = np.array([1.0, 0.5, 0.25, 1e-3])
    if data.draw(st.booleans()):
        g[data.draw(st.integers(0, 3))] = data.draw(
            st.sampled_from([np.nan, np.inf, -1.0, 0.0, 0.5, 2.0])
        )
    gin = array_variant(data.draw, g)
    try:
        out = sl.grid(gin, process=VP())
    except ARG_ERRORS as exc:
        _names_arg(exc, "t")
        return
    np.testing.assert_array_equal(out, np.asarray(gin, dtype=float))
    assert np.all(np.diff(out) < 0) and out[-1] > 0


_PROCESS_PARAMS = {
    VP: ("beta_min", "beta_max", "T"),
    VE: ("sigma_min", "sigma_max", "T"),
    sl.OU: ("T",),
    sl.VPConstant: ("beta", "T"),
    sl.SubVP: ("beta_min", "beta_max", "T"),
    sl.CosineVP: ("s", "T"),
}


@settings(max_examples=60)
@given(data=st.data())
def test_process_constructors_boundary(data):
    cls = data.draw(st.sampled_from(sorted(_PROCESS_PARAMS, key=lambda c: c.__name__)))
    name = data.draw(st.sampled_from(_PROCESS_PARAMS[cls]))
    value = data.draw(st.one_of(hostile_scalars(), st.floats(1e-3, 50.0)))
    try:
        proc = cls(**{name: value})
    except ARG_ERRORS as exc:
        _names_arg(exc, name, "t_max", "sigma_min", "sigma_max", "beta_min", "beta_max")
        return
    assert math.isfinite(float(value))
    t = np.linspace(0, proc.T, 9)
    a, s2 = np.asarray(proc.alpha(t)), np.asarray(proc.sigma2(t))
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(s2))
    # alpha may underflow to 0 only where exp(log alpha) does
    assert np.all((a >= 0) & (a <= 1 + 1e-12)) and np.all(s2 >= 0)
    assert np.all(np.isfinite(np.asarray(proc.log_alpha(t))))
    if float(proc.log_alpha(t[4])) < -5:  # the trapezoid oracle is too coarse there
        return
    np.testing.assert_allclose(a[0], 1.0)
    np.testing.assert_allclose(s2[0], 0.0, atol=1e-12)
    # sigma^2 = alpha^2 int_0^t g^2 / alpha^2 (design notes, section 2), by quadrature
    tt = float(t[4])
    if tt > 0:
        u = np.linspace(0, tt, 4001)
        integrand = np.asarray(proc.g2(u)) / np.asarray(proc.alpha(u)) ** 2
        quad = float(a[4]) ** 2 * np.trapezoid(integrand, u)
        np.testing.assert_allclose(s2[4], quad, rtol=2e-3)


def test_cld_constructor_boundary():
    for kw in ({"beta": -1.0}, {"beta": "x"}, {"T": np.nan}, {"param": "nope"}):
        with pytest.raises(ARG_ERRORS) as info:
            sl.CLD(**kw)
        _names_arg(info.value, *kw)
    proc = sl.CLD()
    g = grid("uniform", 20, process=proc)
    target = Gaussian([1.0, -1.0], [[1.0, 0.2], [0.2, 0.5]])
    law = exact_law(target, proc, "ei-sde", g, init="exact")
    x = sample(target, proc, "ei-sde", g, 4000, seed=3, init="exact")
    se = np.sqrt(np.diag(law.cov) / 4000)
    assert np.all(np.abs(x.mean(0) - law.mean) < 5 * se)


def _law_check(target, proc, scheme, g, x, **opts):
    """Sample moments within 5 standard errors of the exact law."""
    law = exact_law(target, proc, scheme, g, **opts)
    n = x.shape[0]
    var = np.diag(law.cov)
    # Monte Carlo: 5 standard errors; plus float64 rounding at the scale of the mean
    # (a bias of 1e13 is legal and shifts every particle by ~1e13)
    rnd = 1e-12 * len(g) * np.abs(law.mean)
    err = np.abs(x.mean(0) - law.mean)
    assert np.all(err < 5 * np.sqrt(var / n) + rnd), (x.mean(0), law.mean)
    se_var = var * math.sqrt(2.0 / (n - 1))
    err_var = np.abs(x.var(0, ddof=1) - var)
    assert np.all(err_var < 5 * se_var + 1e-12 + rnd**2), (x.var(0), var)


_OPTION_CASES = [
    (
        "ddim",
        "eta",
        st.one_of(st.floats(-1, 2), st.sampled_from([np.nan, np.inf, 0, 1])),
    ),
    ("heun", "s_churn", st.one_of(hostile_scalars(), st.floats(0, 50))),
    # s_noise > ~1e154 overflows in schemes.py: see test_heun_huge_s_noise_names_it
    (
        "heun",
        "s_noise",
        st.one_of(hostile_scalars(), st.floats(0, 2)).filter(
            lambda v: not (isinstance(v, float) and abs(v) > 1e150)
        ),
    ),
    ("pc", "corrector_steps", st.one_of(hostile_scalars(), st.integers(0, 3))),
    (
        "pc",
        "snr",
        st.one_of(hostile_scalars(), st.floats(0, 0.3)).filter(
            lambda v: not (isinstance(v, float) and abs(v) > 1e150)
        ),  # see test_pc_huge_snr_names_it
    ),
    ("pc", "predictor", st.sampled_from(["ddim", "heun", "pc", "nope", 3, "ei-ode"])),
    ("unipc-2", "solver_type", st.sampled_from(["bh1", "bh2", "bh3", None])),
    ("ei-sde", "eta", st.just(0.5)),
]


@settings(max_examples=50)
@given(data=st.data())
def test_scheme_options_boundary_and_exact_law(data):
    scheme, opt, values = data.draw(st.sampled_from(_OPTION_CASES))
    value = data.draw(values)
    opts = {opt: value}
    if scheme == "heun" and opt == "s_noise":
        opts["s_churn"] = 2.0
    proc = data.draw(st.sampled_from([VP(), VE()]))
    target = Gaussian([1.0, -0.5], [[0.6, 0.1], [0.1, 0.3]])
    g = grid("uniform", 12, process=proc)
    try:
        tab = sl.compile_scheme(scheme, proc, g, **opts)
    except ARG_ERRORS as exc:
        _names_arg(exc, opt)
        return
    assert (
        np.all(np.isfinite(tab.Y))
        and np.all(np.isfinite(tab.B))
        and np.all(np.isfinite(tab.C))
    )
    try:
        x = sample(target, proc, tab, g, 3000, seed=11, threads=1)
    except FloatingPointError as exc:  # e.g. s_noise = 1e153: loud, never silent
        assert re.search(r"non-finite; the first at step \d+ \(from t=", str(exc))
        event("diverged (FloatingPointError)")
        return
    assert np.all(np.isfinite(x))
    _law_check(target, proc, tab, g, x)


def test_heun_huge_s_noise_names_it():
    proc = VP()
    with pytest.raises(ARG_ERRORS, match="s_noise"):
        sl.compile_scheme(
            "heun", proc, grid("uniform", 3, process=proc), s_churn=2.0, s_noise=1e155
        )


def test_pc_huge_snr_names_it():
    proc = VP()
    with pytest.raises(ARG_ERRORS, match="snr"):
        sl.compile_scheme("pc", proc, grid("uniform", 3, process=proc), snr=1e155)


@pytest.mark.parametrize("eta", ["x", None, np.array([1.0, 2.0])])
def test_ddim_eta_non_numeric_names_eta(eta):
    proc = VP()
    with pytest.raises(ARG_ERRORS, match="eta"):
        sl.compile_scheme("ddim", proc, grid("uniform", 3, process=proc), eta=eta)


@settings(max_examples=50)
@given(data=st.data())
def test_score_error_models_boundary(data):
    d = 2
    target = Gaussian([0.5, -0.5], [[1.0, 0.3], [0.3, 0.8]])
    proc = VP()
    g = grid("uniform", 8, process=proc)
    kind = data.draw(
        st.sampled_from(["bias", "linear", "fourier", "misspecified", "sum"])
    )
    v = data.draw(hostile_scalars())
    try:
        if kind == "bias":
            vec = array_variant(data.draw, np.array([0.3, -0.2]))
            model = E.Bias(vec, scale=v)
        elif kind == "linear":
            mat = array_variant(data.draw, np.array([[0.1, 0.0], [0.05, -0.2]]))
            model = E.Linear(mat, scale=v)
        elif kind == "fourier":
            model = E.FourierField(0.1, bandwidth=v, n_features=8)
        elif kind == "misspecified":
            model = E.Misspecified(
                data.draw(
                    st.sampled_from(
                        [Gaussian([0.0, 0.0], np.eye(2)), Gaussian([0.0], [[1.0]]), 3]
                    )
                )
            )
        else:
            model = E.Sum(
                E.Bias([0.1, 0.1]), data.draw(st.sampled_from([E.Linear(0.1), 3]))
            )
        x = sample(target, proc, "ei-sde", g, 2000, seed=5, score_error=model)
    except FloatingPointError as exc:  # a bias of 1e153 diverges, loudly
        assert re.search(r"non-finite; the first at step \d+ \(from t=", str(exc))
        assert abs(float(v)) > 1e3  # only a large error may diverge
        return
    except ARG_ERRORS as exc:
        _names_arg(
            exc,
            "scale",
            "vector",
            "matrix",
            "bandwidth",
            "other",
            "ScoreError",
            "dimension",
        )
        return
    assert x.shape == (2000, d) and np.all(np.isfinite(x))
    if kind != "fourier":
        _law_check(target, proc, "ei-sde", g, x, score_error=model)


@settings(max_examples=50)
@given(data=st.data())
def test_sample_arguments_boundary(data):
    target = data.draw(
        st.sampled_from(
            [
                Gaussian([0.0, 1.0], [[1.0, 0.2], [0.2, 0.5]]),
                GaussianMixture(
                    [0.5, 0.5], [[-1.0, 0.0], [1.0, 0.0]], [0.3, 0.3], "spherical"
                ),
            ]
        )
    )
    proc = VP()
    g = grid("uniform", 6, process=proc)
    kw = {}
    for name, values in (
        ("n", st.one_of(st.integers(-1, 5), st.sampled_from([2.0, None, np.int32(3)]))),
        ("seed", st.one_of(st.integers(-1, 2**70), st.sampled_from([None, 1.5, "s"]))),
        ("threads", st.one_of(st.none(), st.integers(-1, 3), st.just(2.0))),
        ("block", st.one_of(st.none(), st.integers(-1, 70))),
        ("dtype", st.sampled_from(["float64", "float32", "float16", np.float64, None])),
        ("on_nonfinite", st.sampled_from(["raise", "warn", "ignore", "nope"])),
        (
            "particle_offset",
            st.one_of(st.integers(-1, 10), st.just(2**64 - 2), st.just(1.0)),
        ),
        (
            "init",
            st.sampled_from(
                [None, "zero-data", "exact", "nope", 3, "array", "badarray"]
            ),
        ),
    ):
        if data.draw(st.booleans()):
            kw[name] = data.draw(values)
    n = kw.pop("n", 4)
    if kw.get("init") in ("array", "badarray"):
        nn = n if isinstance(n, int) and n > 0 else 1
        arr = np.zeros((nn, 2))
        if kw["init"] == "badarray":
            arr[0, 0] = np.nan
        kw["init"] = array_variant(data.draw, arr)
    try:
        x = sample(target, proc, "ei-sde", g, n, **kw)
    except ARG_ERRORS as exc:
        _names_arg(
            exc,
            "n",
            "seed",
            "threads",
            "block",
            "dtype",
            "on_nonfinite",
            "particle_offset",
            "init",
        )
        return
    assert x.shape == (n, 2) and np.all(np.isfinite(x))
    assert x.dtype == (np.float32 if kw.get("dtype") == "float32" else np.float64)


@settings(max_examples=30)
@given(data=st.data())
def test_exact_law_and_compile_boundary(data):
    good_target = Gaussian([0.0, 1.0], [[1.0, 0.2], [0.2, 0.5]])
    proc = data.draw(st.sampled_from([VP(), VE(), VP(), VE(), 3]))
    target = data.draw(
        st.sampled_from(
            [good_target] * 4
            + [
                GaussianMixture([1.0], [[0.0, 1.0]], [0.5], "spherical"),
                "target",
            ]
        )
    )
    scheme = data.draw(
        st.sampled_from(["ei-sde", "dpm-solver++-2m", "heun", "ddpm", "nope", 3])
    )
    init = data.draw(
        st.sampled_from(
            [None, "exact", "zero-data", None, "bad", np.zeros((1, 2)), [[0.0, 0.0]]]
        )
    )
    g = grid("uniform", 5, process=VP())
    try:
        law = exact_law(target, proc, scheme, g, init=init)
    except ARG_ERRORS as exc:
        _names_arg(exc, "target", "process", "scheme", "init")
        return
    assert np.all(np.isfinite(law.mean)) and np.all(np.isfinite(law.cov))
    assert np.all(np.linalg.eigvalsh(law.cov) > 0)


def _psd_sqrt(M):
    w, V = np.linalg.eigh(0.5 * (M + M.T))
    return (V * np.sqrt(np.maximum(w, 0.0))) @ V.T


def _commuting_pair(data, d, mag):
    Q = np.linalg.qr(
        np.random.default_rng(data.draw(st.integers(0, 2**31))).normal(size=(d, d))
    )[0]
    l1 = data.draw(spectra(d, cond_max=1e3)) * mag
    l2 = data.draw(spectra(d, cond_max=1e3)) * mag
    S1, S2 = (Q * l1) @ Q.T, (Q * l2) @ Q.T
    return 0.5 * (S1 + S1.T), 0.5 * (S2 + S2.T), l1, l2


@settings(max_examples=50)
@given(data=st.data())
def test_w2_kl_commuting_closed_forms(data):
    """Commuting covariances: W2^2 = |dm|^2 + sum (sqrt l1 - sqrt l2)^2, KL diagonal."""
    d = data.draw(st.integers(1, 6))
    mag = data.draw(st.sampled_from([1.0, 1e-200, 1e200, 1e-6, 1e6]))
    S1, S2, l1, l2 = _commuting_pair(data, d, mag)
    rng = np.random.default_rng(1)
    m1, m2 = rng.normal(size=d) * math.sqrt(mag), rng.normal(size=d) * math.sqrt(mag)
    S1in = array_variant(data.draw, S1)
    lossy = is_real_dtype(S1in) and not np.array_equal(
        np.asarray(S1in, dtype=float), S1
    )  # an int/float32 cast changed the values
    try:
        w2 = sl.w2_gaussian(m1, S1in, m2, S2)
    except ARG_ERRORS as exc:
        _names_arg(exc, "S1")
        # complex/bool/object, or a truncating cast that broke PSD-ness
        assert not is_real_dtype(S1in) or (
            lossy and np.linalg.eigvalsh(np.asarray(S1in, dtype=float)).min() < 0
        )
        return
    assert math.isfinite(w2)
    if lossy:  # generic Bures formula on the values actually passed
        A = np.asarray(S1in, dtype=float) / mag
        r2 = _psd_sqrt(S2 / mag)
        cross = np.trace(_psd_sqrt(r2 @ A @ r2))
        ref2 = np.sum((m1 - m2) ** 2) / mag + np.trace(A) + np.sum(l2) / mag - 2 * cross
        np.testing.assert_allclose(
            w2, math.sqrt(max(ref2, 0.0) * mag), rtol=1e-3, atol=1e-6 * math.sqrt(mag)
        )
        return
    ref = math.sqrt(
        np.sum(((m1 - m2) / math.sqrt(mag)) ** 2)
        + np.sum((np.sqrt(l1 / mag) - np.sqrt(l2 / mag)) ** 2)
    ) * math.sqrt(mag)
    np.testing.assert_allclose(w2, ref, rtol=1e-5)
    if mag == 1.0:
        kl = sl.kl_gaussian(m1, S1, m2, S2)
        ref_kl = 0.5 * (
            np.sum(l1 / l2)
            + float((m2 - m1) @ np.linalg.solve(S2, m2 - m1))
            - d
            + np.sum(np.log(l2))
            - np.sum(np.log(l1))
        )
        np.testing.assert_allclose(kl, ref_kl, rtol=1e-7, atol=1e-10)


@settings(max_examples=40)
@given(data=st.data())
def test_kl_boundary(data):
    d = data.draw(st.integers(1, 4))
    S = data.draw(spd_matrices(d))
    m = np.zeros(d)
    args = [m, S, m + 1.0, 2 * S]
    i = data.draw(st.integers(0, 3))
    a = np.array(args[i], dtype=float)
    if data.draw(st.booleans()) and a.size:
        a.flat[0] = data.draw(st.sampled_from([np.nan, np.inf, -1e3]))
    args[i] = array_variant(data.draw, a)
    try:
        kl = sl.kl_gaussian(*args)
    except ARG_ERRORS as exc:
        _names_arg(exc, ("m1", "S1", "m2", "S2")[i])
        return
    A = [np.asarray(v, dtype=float) for v in args]
    ref = 0.5 * (
        np.trace(np.linalg.solve(A[3], A[1]))
        + (A[2] - A[0]) @ np.linalg.solve(A[3], A[2] - A[0])
        - d
        + np.linalg.slogdet(A[3])[1]
        - np.linalg.slogdet(A[1])[1]
    )
    np.testing.assert_allclose(kl, ref, rtol=1e-7, atol=1e-9)


def test_large_d_and_K_scores_match_reference():
    """d = 512 (full covariance) and K = 256 (full) against the NumPy reference."""
    rng = np.random.default_rng(2)
    d = 512
    A = rng.normal(size=(d, d)) / math.sqrt(d)
    S = A @ A.T + 0.5 * np.eye(d)
    g = Gaussian(rng.normal(size=d), S)
    x = rng.normal(size=(3, d))
    ref = -np.linalg.solve(S, (x - g.mean).T).T
    np.testing.assert_allclose(g.score(x), ref, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(
        g.logpdf(x), scipy.stats.multivariate_normal(g.mean, S).logpdf(x), rtol=1e-10
    )
    K, d = 256, 6
    covs = np.stack([np.eye(d) * rng.uniform(0.2, 2) + 0.1 for _ in range(K)])
    w = rng.dirichlet(np.ones(K))
    mus = 2 * rng.normal(size=(K, d))
    gm = GaussianMixture(w, mus, covs, "full")
    x = 2 * rng.normal(size=(20, d))
    lp, s = _ref_mixture(w, mus, covs, x)
    np.testing.assert_allclose(gm.logpdf(x), lp, rtol=1e-9)
    np.testing.assert_allclose(gm.score(x), s, rtol=1e-6, atol=1e-9)
