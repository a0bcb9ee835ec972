r"""Regularity constants of scorelab's targets along the forward flow.

Log-concavity and smoothness of the Gaussian and Gaussian-mixture targets and of
their noised marginals :math:`p_t`, shared by the papers' bounds:
:func:`gaussian_constants` (:math:`m, L` of a Gaussian), :func:`mixture_constants`
and :func:`log_concavity_profile` (:math:`\kappa_t I \preceq -\nabla^2\log p_t
\preceq L_t I`), :func:`weak_convexity_profile` (paper 3's weak-convexity
profile) and :func:`regime_shift_time` (when :math:`p_t` becomes strongly
log-concave). Formulas and provenance tags: ``docs/papers.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from .._runtime import as_seed
from .._validate import (
    as_float_array,
    check_int,
    check_nonnegative,
    check_positive,
    check_process,
    check_target,
)
from ..processes import Process
from ..targets import Gaussian, GaussianMixture, Target
from ._common import SCALAR_ONLY, FloatArray, _alpha, _arr

__all__ = [
    "FlowConstants",
    "GaussianConstants",
    "gaussian_constants",
    "log_concavity_profile",
    "mixture_constants",
    "regime_shift_time",
    "weak_convexity_profile",
]


# ---------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GaussianConstants:
    r"""Constants of a Gaussian :math:`N(\mu, \Sigma)`.

    ``m = 1/lambda_max(Sigma)`` and ``L = 1/lambda_min(Sigma)`` (so
    :math:`m I \preceq -\nabla^2 \log p \preceq L I`), ``second_moment`` is
    :math:`\sqrt{E|X|^2} = \sqrt{|\mu|^2 + \operatorname{tr}\Sigma}`, ``d`` the
    dimension, ``eigenvalues`` the spectrum of :math:`\Sigma` (ascending).
    """

    m: float
    L: float
    second_moment: float
    d: int
    eigenvalues: FloatArray = field(repr=False)


@dataclass(frozen=True)
class FlowConstants:
    r"""Bounds :math:`\kappa I \preceq -\nabla^2 \log p_t \preceq L I` at time t.

    ``kappa`` may be negative (weak log-concavity); ``method`` says how they were
    obtained (``"exact"``, ``"tied-bound"``, ``"numerical"``) and ``certified``
    whether they are rigorous.
    """

    t: float
    kappa: float
    L: float
    method: str
    certified: bool


# ---------------------------------------------------------------------------
# constants of targets
# ---------------------------------------------------------------------------


def gaussian_constants(target: Gaussian) -> GaussianConstants:
    r"""Log-concavity constants of a Gaussian target.

    Parameters
    ----------
    target : Gaussian
        :math:`N(\mu, \Sigma)`.

    Returns
    -------
    GaussianConstants
        ``m = 1/lambda_max``, ``L = 1/lambda_min`` (eigenvalues of
        :math:`\Sigma`), the root second moment and the dimension.
    """
    if not isinstance(target, Gaussian):
        raise TypeError(
            f"target must be a scorelab Gaussian, got {type(target).__name__}"
        )
    lam = np.asarray(np.linalg.eigvalsh(target.cov), dtype=np.float64)
    m2 = math.sqrt(float(target.mean @ target.mean) + float(np.sum(lam)))
    return GaussianConstants(
        m=float(1.0 / lam[-1]),
        L=float(1.0 / lam[0]),
        second_moment=m2,
        d=target.dim,
        eigenvalues=lam,
    )


def _second_moment(target: Target) -> float:
    """sqrt(E|X|^2) of a mixture."""
    covs = target.full_covariances()
    tr = np.trace(covs, axis1=1, axis2=2)
    return math.sqrt(float(target.weights @ (np.sum(target.means**2, axis=1) + tr)))


def _tied(target: Target) -> FloatArray | None:
    """The common covariance if all components share it, else None."""
    covs = target.full_covariances()
    S = covs[0]
    scale = float(np.max(np.abs(S)))
    if all(np.allclose(C, S, rtol=1e-12, atol=1e-12 * scale) for C in covs[1:]):
        return S
    return None


def _noised_components(
    target: Target, process: Process, t: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    a = float(process.alpha(t))
    s2 = float(process.sigma2(t))
    covs = a * a * target.full_covariances() + s2 * np.eye(target.dim)[None]
    return target.weights, a * target.means, covs


def _mixture_derivs(
    x: FloatArray, w: FloatArray, means: FloatArray, covs: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Score, Hessian of log p and :math:`\nabla\Delta\log p` of a mixture.

    With :math:`s_j = -P_j(x - m_j)`, :math:`P_j = C_j^{-1}`, responsibilities
    :math:`r_j` and :math:`s = \sum r_j s_j`:

    .. math::

        H = -\sum_j r_j P_j + \sum_j r_j s_j s_j^\top - s s^\top,\qquad
        \nabla\Delta\log p = \sum_j r_j (s_j - s)(|s_j|^2 - \operatorname{tr} P_j)
        - 2\sum_j r_j P_j s_j - 2 H s.

    Returns ``s`` (n, d), ``H`` (n, d, d), ``grad_lap`` (n, d).
    """
    L = np.linalg.cholesky(covs)
    P = np.linalg.inv(covs)
    P = 0.5 * (P + np.swapaxes(P, 1, 2))
    diff = x[:, None, :] - means[None]  # (n, K, d)
    z = np.linalg.solve(L[None], diff[..., None])[..., 0]
    logdet = 2.0 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
    logp = -0.5 * np.sum(z * z, axis=-1) - 0.5 * logdet + np.log(w)
    logp -= logp.max(axis=1, keepdims=True)
    r = np.exp(logp)
    r /= r.sum(axis=1, keepdims=True)
    sj = -np.einsum("kij,nkj->nki", P, diff)
    s = np.einsum("nk,nki->ni", r, sj)
    H = -np.einsum("nk,kij->nij", r, P)
    H += np.einsum("nk,nki,nkj->nij", r, sj, sj) - np.einsum("ni,nj->nij", s, s)
    trP = np.trace(P, axis1=1, axis2=2)
    ns2 = np.sum(sj * sj, axis=-1)
    Psj = np.einsum("kij,nkj->nki", P, sj)
    gl = np.einsum("nk,nki->ni", r * (ns2 - trP[None]), sj - s[:, None, :])
    gl -= 2.0 * np.einsum("nk,nki->ni", r, Psj)
    gl -= 2.0 * np.einsum("nij,nj->ni", H, s)
    return s, H, gl


def _neg_hess_eigs(
    x: FloatArray, w: FloatArray, means: FloatArray, covs: FloatArray
) -> FloatArray:
    _, H, _ = _mixture_derivs(x, w, means, covs)
    return np.asarray(np.linalg.eigvalsh(-H))


def _numerical_kappa(
    target: Target, process: Process, t: float, n: int, seed: Any
) -> float:
    """min_x lambda_min(-hess log p_t(x)), numerically (see mixture_constants)."""
    w, mu, C = _noised_components(target, process, t)
    K, d = mu.shape
    pts = [process.marginal(target, t).sample(n, seed)]
    pts.append(mu)
    lin = np.linspace(0.0, 1.0, 11)[1:-1]
    for i in range(K):
        for j in range(i + 1, K):
            pts.append(mu[i] + lin[:, None] * (mu[j] - mu[i]))
    X = np.concatenate(pts)
    lam = _neg_hess_eigs(X, w, mu, C)[:, 0]
    best = float(lam.min())
    order = np.argsort(lam)[:5]

    def fun(y: FloatArray) -> float:
        return float(_neg_hess_eigs(y[None], w, mu, C)[0, 0])

    for i in order:
        res = minimize(fun, X[i], method="Nelder-Mead", options={"maxiter": 200 * d})
        best = min(best, float(res.fun))
    return best


def mixture_constants(
    target: Target, process: Process, t: float, n: int = 4096, seed: Any = 0
) -> FlowConstants:
    r"""Bounds :math:`\kappa_t I \preceq -\nabla^2\log p_t \preceq L_t I` of the
    noised target :math:`p_t`.

    Methods, in order of preference:

    - Gaussian :math:`N(\mu, \Sigma)` (exact): :math:`\kappa_t =
      1/(\alpha_t^2\lambda_{max} + \sigma_t^2)`, :math:`L_t = 1/(\alpha_t^2
      \lambda_{min} + \sigma_t^2)`.
    - Mixture whose components share one covariance :math:`\Sigma` ("tied",
      certified): with :math:`C = \alpha^2\Sigma + \sigma^2 I`,
      :math:`-\nabla^2\log p_t = C^{-1} - \mathrm{Cov}_r(\alpha C^{-1}\mu_j)`
      the covariance lives on :math:`\Pi`, the span of the
      :math:`C^{-1}(\mu_j - \mu_1)`, and a law supported on a set of
      diameter D has variances at most :math:`D^2/4`, so :math:`\kappa_t =
      \lambda_{min}(C^{-1} - \frac{\alpha^2 D_C^2}{4}\Pi)`,
      :math:`D_C = \operatorname{diam}\{C^{-1}\mu_j\}`, and
      :math:`L_t = \lambda_{max}(C^{-1})`. For :math:`\Sigma = s^2 I` this is
      the :math:`1/v - \alpha^2 D^2/(4v^2)` of ``docs/papers.md``,
      :math:`v = \alpha^2 s^2 + \sigma^2`, attained for a symmetric
      two-component mixture at the midpoint.
    - General mixtures (numerical, not certified): :math:`L_t = \max_j
      \lambda_{max}(C_j^{-1})` (certified, since :math:`-\nabla^2\log p =
      \sum_j r_j C_j^{-1} - \mathrm{Cov}_r(\cdot)`), and :math:`\kappa_t` is the
      minimum of :math:`\lambda_{min}(-\nabla^2\log p_t(x))` over ``n`` samples of
      :math:`p_t`, the component means and 9 points on each segment between
      means, refined by Nelder--Mead from the 5 worst points.

    Parameters
    ----------
    target : Gaussian or GaussianMixture
        Data distribution :math:`p_0`.
    process : Process
        Scalar forward process.
    t : float
        Time (> 0 unless :math:`p_0` has full-rank covariances).
    n : int, default 4096
        Samples for the numerical method.
    seed : int or SeedSequence, default 0
        Seed for the numerical method.

    Returns
    -------
    FlowConstants
    """
    target = check_target(target)
    process = check_process(process, scalar=SCALAR_ONLY)
    tt = float(as_float_array(t, "t", ndim=0))
    kap, L, method, cert = _profile(target, process, np.array([tt]), n, seed)
    return FlowConstants(tt, float(kap[0]), float(L[0]), method, cert)


def _profile(
    target: Target, process: Process, times: FloatArray, n: int = 4096, seed: Any = 0
) -> tuple[FloatArray, FloatArray, str, bool]:
    t = np.asarray(times, dtype=np.float64)
    a2 = _alpha(process, t) ** 2
    s2 = _arr(process.sigma2(t))
    if isinstance(target, Gaussian) or target.n_components == 1:
        lam = np.linalg.eigvalsh(target.full_covariances()[0])
        return 1.0 / (a2 * lam[-1] + s2), 1.0 / (a2 * lam[0] + s2), "exact", True
    S = _tied(target)
    if S is not None:
        lam, V = np.linalg.eigh(S)
        kap = np.empty_like(t)
        L = np.empty_like(t)
        mu_e = target.means @ V  # means in the eigenbasis
        K = mu_e.shape[0]
        for i in range(t.size):
            cinv = 1.0 / (a2.flat[i] * lam + s2.flat[i])
            pm = mu_e * cinv  # C^{-1} mu_j in the eigenbasis
            diam2 = max(
                float(np.sum((pm[j] - pm[k]) ** 2)) for j in range(K) for k in range(K)
            )
            # projector onto span{C^{-1}(mu_j - mu_0)}
            Bm = (pm[1:] - pm[0]).T
            Uq, sv, _ = np.linalg.svd(Bm, full_matrices=False)
            Uq = Uq[:, sv > 1e-12 * max(float(sv.max(initial=0.0)), 1e-300)]
            Mq = np.diag(cinv) - (a2.flat[i] * diam2 / 4.0) * (Uq @ Uq.T)
            kap.flat[i] = float(np.linalg.eigvalsh(Mq)[0])
            L.flat[i] = cinv.max()
        return kap, L, "tied-bound", True
    covs = target.full_covariances()
    lam_min = np.array([np.linalg.eigvalsh(C)[0] for C in covs])
    kap = np.empty_like(t)
    L = np.empty_like(t)
    for i in range(t.size):
        L.flat[i] = float(np.max(1.0 / (a2.flat[i] * lam_min + s2.flat[i])))
        kap.flat[i] = _numerical_kappa(target, process, float(t.flat[i]), n, seed)
    return kap, L, "numerical", False


def log_concavity_profile(
    target: Target,
    process: Process,
    times: npt.ArrayLike,
    n: int = 4096,
    seed: Any = 0,
) -> tuple[FloatArray, FloatArray, str]:
    r"""Vectorised :func:`mixture_constants`: :math:`\kappa_t` and :math:`L_t`.

    Parameters
    ----------
    target, process :
        As in :func:`mixture_constants`.
    times : array_like, shape (m,)
        Times.
    n, seed :
        For the numerical method.

    Returns
    -------
    kappa, L : numpy.ndarray, shape (m,)
    method : str
    """
    target = check_target(target)
    process = check_process(process, scalar=SCALAR_ONLY)
    t = as_float_array(times, "times", ndim=1)
    kap, L, method, _ = _profile(target, process, t, n, seed)
    return kap, L, method


def weak_convexity_profile(
    target: Target,
    process: Process,
    t: float,
    r: npt.ArrayLike,
    *,
    n: int = 2048,
    seed: Any = 0,
) -> tuple[FloatArray, FloatArray]:
    r"""Weak-convexity profile of :math:`U = -\log p_t` (paper 3's setting):
    :math:`\kappa_U(r) = \inf_{|x-y|=r}\langle\nabla U(x) - \nabla U(y),
    x - y\rangle / r^2`.

    U is :math:`(\alpha, M)`-weakly convex when :math:`\kappa_U(r) \ge \alpha -
    f_M(r)/r` [recall]; a Gaussian-mixture :math:`p_t` is of this type: its
    profile is negative at small r when :math:`p_t` is not log-concave and
    tends to the curvature of the components as r grows.

    Two arrays are returned:

    - ``lower`` (certified where a method exists): Gaussian, exact
      :math:`1/(\alpha^2\lambda_{max} + \sigma^2)` for every r; mixture
      with one shared covariance, :math:`C = \alpha^2\Sigma + \sigma^2 I`,
      :math:`\nabla U(x) = C^{-1}x - \alpha C^{-1}m(x)` with :math:`m(x)`
      a convex combination of the means, hence [derived]
      :math:`\kappa_U(r) \ge \max\big(\kappa_t,\ \lambda_{min}(C^{-1}) -
      \alpha D_C / r\big)`, :math:`D_C = \operatorname{diam}\{C^{-1}
      \mu_j\}` and :math:`\kappa_t` the Hessian bound of
      :func:`mixture_constants` (an (alpha, M) form with :math:`f(r) =
      \min(r(\lambda_{min}(C^{-1}) - \kappa_t), \alpha D_C)`); other mixtures,
      :math:`\kappa_t` of :func:`mixture_constants` (numerical there);
    - ``estimate`` (numerical): the minimum of the quotient over pairs
      :math:`(x, x + r u)`, x from ``n`` samples of :math:`p_t` (centred
      on the segment so that both ends are typical) and at the component
      means' midpoints, u random unit vectors and the directions between
      means. It is an upper estimate of the infimum (a minimum over finitely
      many pairs); exact in 1-D up to the sampling of x.

    Parameters
    ----------
    target : Gaussian or GaussianMixture
    process : Process
    t : float
        Time (> 0 unless the covariances are full rank).
    r : array_like
        Distances > 0.
    n : int, default 2048
        Sampled base points.
    seed : int or SeedSequence, default 0

    Returns
    -------
    (lower, estimate) : tuple of ndarray, shape of r
    """
    process = check_process(process, scalar=SCALAR_ONLY)
    target = check_target(target)
    rr = np.atleast_1d(as_float_array(r, "r"))
    if np.any(rr <= 0) or not np.all(np.isfinite(rr)):
        raise ValueError("r must be finite and > 0")
    t = check_nonnegative(t, "t")
    n = check_int(n, "n", 1)
    fc = mixture_constants(target, process, t)
    a = float(process.alpha(t))
    w, means, covs = _noised_components(target, process, t)
    d = target.dim
    if isinstance(target, Gaussian):
        lower = np.full(rr.shape, fc.kappa)
    else:
        S = _tied(target)
        if S is not None:
            Ci = np.linalg.inv(covs[0])
            lam_min = float(np.linalg.eigvalsh(Ci)[0])
            pts = (Ci @ target.means.T).T
            diff = pts[:, None, :] - pts[None, :, :]
            D_C = float(np.sqrt(np.max(np.sum(diff**2, axis=-1))))
            lower = np.maximum(fc.kappa, lam_min - a * D_C / rr)
        else:
            lower = np.full(rr.shape, fc.kappa)
    if not isinstance(target, (Gaussian, GaussianMixture)):
        raise TypeError(f"unsupported target type {type(target).__name__}")
    pt = target.noised(process, t)
    rng = np.random.default_rng(as_seed(seed))
    base = pt.sample(n, seed=rng.integers(2**32))
    mids = 0.5 * (means[:, None, :] + means[None, :, :]).reshape(-1, d)
    base = np.concatenate([base, mids, means], axis=0)
    dirs = [rng.normal(size=(8, d))]
    if means.shape[0] > 1:
        md = (means[:, None, :] - means[None, :, :]).reshape(-1, d)
        md = md[np.linalg.norm(md, axis=1) > 0]
        dirs.append(md)
    U = np.concatenate(dirs, axis=0)
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    est = np.empty(rr.shape)
    for i, ri in enumerate(rr):
        x = (base[:, None, :] - 0.5 * ri * U[None, :, :]).reshape(-1, d)
        y = x + ri * np.repeat(U[None, :, :], base.shape[0], axis=0).reshape(-1, d)
        gx, gy = -pt.score(x), -pt.score(y)
        q = np.sum((gy - gx) * (y - x), axis=1) / (ri * ri)
        est[i] = float(np.min(q))
    shape = np.shape(r)
    return lower.reshape(shape), est.reshape(shape)


def regime_shift_time(
    target: Target,
    process: Process,
    n: int = 2048,
    seed: Any = 0,
    t_hi: float | None = None,
) -> float:
    r"""First time after which :math:`p_t` is strongly log-concave (by our bounds).

    The regime shift of paper 3: a weakly log-concave :math:`p_0` becomes
    strongly log-concave along the forward flow. Returns the smallest
    :math:`t^*` with :math:`\kappa_t > 0` for :math:`t > t^*` (0 if
    :math:`p_0` itself is strongly log-concave), with :math:`\kappa_t` from
    :func:`mixture_constants`:

    - Gaussian: 0.
    - components sharing :math:`\Sigma = s^2 I` with means of diameter D, closed
      form: :math:`\kappa_t > 0 \iff \sigma_t^2/\alpha_t^2 > D^2/4 - s^2`, i.e.
      :math:`\lambda(t^*) = -\tfrac12\log(D^2/4 - s^2)` (log-SNR), mapped back
      with :meth:`~scorelab.processes.Process.t_from_log_snr`. Sufficient in
      general, exact for a symmetric two-component mixture.
    - other tied or general mixtures: bisection on :math:`\kappa_t` (assumes a
      single sign change, which holds for the tied bound since it increases
      with the noise level).

    Parameters
    ----------
    target : Gaussian or GaussianMixture
    process : Process
    n, seed :
        For the numerical method.
    t_hi : float, optional
        Upper end of the bisection (default: doubled from ``process.T`` until
        :math:`\kappa > 0`).

    Returns
    -------
    float
        :math:`t^*` (``inf`` if not found below 1e6 or ``process.t_max``).
    """
    target = check_target(target)
    process = check_process(process, scalar=SCALAR_ONLY)
    if isinstance(target, Gaussian) or target.n_components == 1:
        return 0.0
    S = _tied(target)
    if S is not None:
        lam = np.linalg.eigvalsh(S)
        if np.allclose(lam, lam[0], rtol=1e-12):
            mu = target.means
            D2 = max(float(np.sum((a - b) ** 2)) for a in mu for b in mu)
            gap = D2 / 4.0 - float(lam[0])
            if gap <= 0.0:
                return 0.0
            return float(process.t_from_log_snr(-0.5 * math.log(gap)))

    def kap(t: float) -> float:
        return float(_profile(target, process, np.array([t]), n, seed)[0][0])

    lo = 1e-9
    if kap(lo) > 0.0:
        return 0.0
    hi = float(process.T) if t_hi is None else check_positive(t_hi, "t_hi")
    while kap(hi) <= 0.0:
        hi *= 2.0
        if hi > min(1e6, process.t_max):
            return math.inf
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if kap(mid) > 0.0:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-10 * hi:
            break
    return hi
