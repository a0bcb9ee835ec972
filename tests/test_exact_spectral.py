"""Spectral Gaussians and the per-eigenvalue path of exact_law (issue 15)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import scorelab
from scorelab import exact
from scorelab.errors import Bias, Linear, Misspecified
from scorelab.exact import exact_law
from scorelab.grids import grid
from scorelab.metrics_gaussian import kl_gaussian, w2_gaussian
from scorelab.processes import VE, VP
from scorelab.targets import Gaussian

PROCESSES = {"vp": VP(), "ve": VE()}


def _spectral_target(seed: int, zero: bool = True) -> Gaussian:
    rng = np.random.default_rng(seed)
    d = int(rng.integers(5, 21))
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = rng.uniform(0.05, 3.0, d)
    if zero:
        lam[int(rng.integers(d))] = 0.0
    return Gaussian.from_spectrum(lam, Q, rng.standard_normal(d))


def _dense_law(monkeypatch: pytest.MonkeyPatch, *args, **kwargs) -> Gaussian:
    with monkeypatch.context() as m:
        m.setattr(exact, "_SPECTRAL", False)
        return exact_law(*args, **kwargs)


def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-12) -> bool:
    scale = max(float(np.max(np.abs(b))), 1e-300)
    return float(np.max(np.abs(a - b))) <= rtol * scale


@pytest.mark.parametrize("scheme", scorelab.scheme_names())
@pytest.mark.parametrize("proc", sorted(PROCESSES))
@pytest.mark.parametrize("init", [None, "exact", "zero-data"])
@pytest.mark.parametrize("err", ["none", "bias", "linear"])
def test_spectral_equals_dense(monkeypatch, scheme, proc, init, err):
    seed = zlib.crc32(f"{scheme}|{proc}|{init}|{err}".encode())
    target = _spectral_target(seed)
    d = target.dim
    p = PROCESSES[proc]
    # 30 uniform steps: with 12, VP's first step is so large that the dense path
    # itself moves by ~2e-12 relative under a change of eigenbasis (3m schemes)
    g = grid("uniform", 30, process=p)
    rng = np.random.default_rng(seed + 1)
    score_error = {
        "none": None,
        "bias": Bias(0.1 * rng.standard_normal(d)),
        "linear": Linear(0.05),
    }[err]
    law = exact_law(target, p, scheme, g, init=init, score_error=score_error)
    assert law.spectrum is not None  # took the per-eigenvalue path
    ref = _dense_law(
        monkeypatch, target, p, scheme, g, init=init, score_error=score_error
    )
    assert ref.spectrum is None
    assert _close(law.cov, ref.cov)
    assert _close(law.mean, ref.mean)


def test_identity_basis_and_diagonal_linear(monkeypatch):
    rng = np.random.default_rng(3)
    d = 9
    lam = rng.uniform(0.1, 2.0, d)
    lam[4] = 0.0
    target = Gaussian.from_spectrum(lam, mean=rng.standard_normal(d))
    p = VP()
    g = grid("uniform", 30, process=p)
    err = Linear(np.diag(rng.uniform(-0.1, 0.1, d))) + Bias(rng.standard_normal(d))
    for scheme in ("ei-sde", "dpm-solver++-3m", "heun"):
        law = exact_law(target, p, scheme, g, score_error=err, init="exact")
        assert law.spectrum is not None and law.spectrum[1] is None
        ref = _dense_law(
            monkeypatch, target, p, scheme, g, score_error=err, init="exact"
        )
        assert _close(law.cov, ref.cov) and _close(law.mean, ref.mean)


def test_fallbacks_to_dense():
    target = _spectral_target(5, zero=False)
    d = target.dim
    p = VE()
    g = grid("uniform", 10, process=p)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((d, d))
    law = exact_law(target, p, "ddpm", g, score_error=Linear(0.01 * (A + A.T)))
    assert law.spectrum is None  # a linear error not diagonal in the basis
    other = Gaussian(np.zeros(d), np.eye(d) + 0.1 * np.diag(np.arange(d)))
    law = exact_law(target, p, "ddpm", g, init=other)
    assert law.spectrum is None
    law = exact_law(target, p, "ddpm", g, score_error=Misspecified(other))
    assert law.spectrum is None
    # a spectral initial law in the same basis keeps the structure
    lam, Q = target.spectrum
    init = Gaussian.from_spectrum(lam + 1.0, Q)
    assert exact_law(target, p, "ddpm", g, init=init).spectrum is not None


def test_dense_targets_keep_the_dense_path():
    target = Gaussian(np.arange(3.0), np.diag([0.5, 1.0, 2.0]))
    p = VP()
    law = exact_law(target, p, "ei-sde", grid("uniform", 10, process=p))
    assert law.spectrum is None


def test_from_spectrum_validation():
    with pytest.raises(ValueError, match=r"eigenvalues\[1\] = -1.0"):
        Gaussian.from_spectrum([1.0, -1.0, 2.0])
    with pytest.raises(ValueError, match=r"eigenvalues\[0\] = nan"):
        Gaussian.from_spectrum([np.nan, 1.0])
    with pytest.raises(ValueError, match="inf"):
        Gaussian.from_spectrum([1.0, np.inf])
    with pytest.raises(ValueError, match="orthonormal"):
        Gaussian.from_spectrum([1.0, 2.0], [[1.0, 0.1], [0.0, 1.0]])
    with pytest.raises(ValueError, match="shape"):
        Gaussian.from_spectrum([1.0, 2.0], np.eye(3))
    with pytest.raises(ValueError, match="shape"):
        Gaussian.from_spectrum([[1.0, 2.0]])
    with pytest.raises(ValueError, match="mean"):
        Gaussian.from_spectrum([1.0, 2.0], mean=[0.0])


def test_from_spectrum_structure():
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    lam = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    g = Gaussian.from_spectrum(lam, Q, np.ones(6))
    assert g._dense is None  # not densified until asked
    np.testing.assert_allclose(g.cov, (Q * lam) @ Q.T, atol=1e-14)
    np.testing.assert_array_equal(g.mean, np.ones(6))
    assert g.dim == 6 and g.spectrum is not None
    h = Gaussian.from_spectrum(lam)
    np.testing.assert_array_equal(h.cov, np.diag(lam))
    np.testing.assert_array_equal(h.mean, np.zeros(6))
    # noised keeps the structure and equals the dense marginal
    p = VP()
    n = g.noised(p, 0.3)
    assert n.spectrum is not None
    a, s2 = float(p.alpha(0.3)), float(p.sigma2(0.3))
    np.testing.assert_allclose(n.cov, a * a * g.cov + s2 * np.eye(6), atol=1e-14)
    np.testing.assert_allclose(n.mean, a * g.mean)


def test_from_data():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4, 7)) @ rng.standard_normal((7, 7))  # rank 3 < d
    g = Gaussian.from_data(X)
    lam, Q = g.spectrum
    assert np.all(lam >= 0) and np.sum(lam < 1e-10 * lam.max()) == 4
    np.testing.assert_allclose(g.mean, X.mean(axis=0))
    np.testing.assert_allclose(g.cov, np.cov(X, rowvar=False), atol=1e-10)
    with pytest.raises(ValueError):
        Gaussian.from_data(X[:1])


def test_metrics_of_structured_laws():
    rng = np.random.default_rng(4)
    d = 12
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a = rng.uniform(0.1, 2.0, d)
    b = a * (1 + 0.3 * rng.standard_normal(d)) ** 2
    P = Gaussian.from_spectrum(a, Q, rng.standard_normal(d))
    R = Gaussian.from_spectrum(b, Q, rng.standard_normal(d))
    w_ref = w2_gaussian(P.mean, P.cov, R.mean, R.cov)
    k_ref = kl_gaussian(P.mean, P.cov, R.mean, R.cov)
    assert w2_gaussian(P, R) == pytest.approx(w_ref, rel=1e-10)
    assert kl_gaussian(P, R) == pytest.approx(k_ref, rel=1e-10)
    P1 = Gaussian.from_spectrum(a, Q, P.mean)
    R1 = Gaussian.from_spectrum(b, Q, R.mean)
    assert w2_gaussian(P1, R1) == pytest.approx(w_ref, rel=1e-10)
    assert kl_gaussian(P1, R1) == pytest.approx(k_ref, rel=1e-10)
    assert P1._dense is None and R1._dense is None  # not densified
    # near pairs: no cancellation in the per-direction forms
    R2 = Gaussian.from_spectrum(a * (1 + 1e-12), Q, P.mean)
    expect = np.sqrt(np.sum((np.sqrt(a) * (np.sqrt(1 + 1e-12) - 1)) ** 2))
    assert w2_gaussian(P, R2) == pytest.approx(expect, rel=1e-3)
    assert kl_gaussian(P, R2) == pytest.approx(d * 0.25e-24, rel=1e-3)
    # a zero eigenvalue: W2 fine, KL needs positive definite laws
    Z = Gaussian.from_spectrum(np.r_[0.0, a[1:]], Q, P.mean)
    assert w2_gaussian(P, Z) == pytest.approx(np.sqrt(a[0]), rel=1e-12)
    with pytest.raises(ValueError, match="positive definite"):
        kl_gaussian(Z, P)
    # different bases or a dense law: the dense formulas
    D = Gaussian(R.mean, R.cov)
    assert w2_gaussian(P, D) == pytest.approx(w_ref, rel=1e-10)
    assert kl_gaussian(P, D) == pytest.approx(k_ref, rel=1e-10)
    with pytest.raises(TypeError):
        w2_gaussian(P, R.cov)
    with pytest.raises(TypeError):
        kl_gaussian(P.mean, P.cov)
