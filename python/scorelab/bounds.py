r"""The three papers' error bounds as functions of (process, grid, constants).

Every bound returns a frozen :class:`Bound` record with named terms
(``initialisation``, ``discretisation``, ``score``) and their ``total``; every
iteration-complexity statement returns a :class:`Complexity` record. Helpers
compute the constants for scorelab's targets (:func:`gaussian_constants`,
:func:`mixture_constants`, :func:`log_concavity_profile`,
:func:`weak_convexity_profile`, :func:`regime_shift_time`).

Papers (formulas and provenance tags in ``PAPERS.md``; we could not consult the
PDFs, so every statement marked [recall] there is implemented in the form written
here and documented as such):

1. S. Chen, S. Chewi, J. Li, Y. Li, A. Salim, A. R. Zhang, "Sampling is as easy
   as learning the score", arXiv:2209.11215 (ICLR 2023):
   :func:`chen_tv_bound`, :func:`chen_kl_bound`, :func:`chen_iteration_complexity`.
2. X. Gao, H. M. Nguyen, L. Zhu, "Wasserstein convergence guarantees for a
   general class of score-based generative models", arXiv:2311.11003 (JMLR 2025):
   :func:`gao_w2_bound`, :func:`gao_gaussian_lower_bound`,
   :func:`gao_iteration_complexity`, :func:`gao_horizon`,
   :func:`gao_steps_needed`.
3. M. Kremling, F. Iafrate, M. Taheri, J. Lederer, "Non-asymptotic error bounds
   for probability flow ODEs under weak log-concavity", arXiv:2510.17608:
   :func:`certified_pfode_w2` (certified one-step recursion),
   :func:`kremling_w2_bound` (the paper's structure, constants ours),
   :func:`regime_shift_time`, :func:`weak_convexity_profile`.

Conventions: forward SDE :math:`dX = -f X dt + g dB`, :math:`X_t = \alpha_t X_0 +
\sigma_t Z`; reverse grid :math:`T = t_0 > \dots > t_N = \delta`; one reverse
exponential-integrator step from :math:`t_{hi}` to :math:`t_{lo}` is
:math:`y' = r y + c\, \hat s(y, t_{hi}) + \sqrt n \xi` (SDE) or
:math:`y' = r y + \frac c2 \hat s(y, t_{hi})` (probability-flow ODE), with the
coefficients of :meth:`~scorelab.processes.Process.ei_coefficients`.

The W2 recursions all rest on one synchronous-coupling argument (derived here,
[derived]): with :math:`X` the exact reverse process (:math:`X_{t} \sim p_t`) and
:math:`Y` the scheme driven by the same Brownian increments,

.. math::

    Y_{lo} - X_{lo} = \underbrace{r(Y_{hi} - X_{hi}) + c\,(s(Y_{hi}) -
    s(X_{hi}))}_{\text{Lipschitz } \rho_k} + c\,(\hat s - s)(Y_{hi})
    + \underbrace{\int_{lo}^{hi} \tfrac{\alpha_{lo}}{\alpha_u} g(u)^2
    (s(X_{hi}, t_{hi}) - s(X_u, u))\, du}_{\text{local error } \delta_k},

so by Minkowski :math:`e_{k+1} \le \rho_k e_k + \lVert\delta_k\rVert_{L^2} + c_k M`
with :math:`e_k = \lVert Y_{t_k} - X_{t_k}\rVert_{L^2} \ge W_2` and
:math:`\rho_k = \max(|r - c\kappa_{hi}|, |r - cL_{hi}|)` when
:math:`\kappa_t I \preceq -\nabla^2\log p_t \preceq L_t I` (the ODE uses
:math:`c/2`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from ._validate import as_float_array, check_int
from .grids import grid as make_grid
from .grids import validate_grid
from .metrics_gaussian import w2_gaussian
from .processes import Process
from .targets import Gaussian, GaussianMixture, Target, as_seed

__all__ = [
    "Bound",
    "Complexity",
    "FlowConstants",
    "GaussianConstants",
    "certified_pfode_w2",
    "chen_cld_path_kl_lower_bound",
    "chen_cld_tv_bound",
    "chen_iteration_complexity",
    "chen_kl_bound",
    "chen_tv_bound",
    "gao_gaussian_lower_bound",
    "gao_iteration_complexity",
    "gao_horizon",
    "gao_steps_needed",
    "gao_w2_bound",
    "gaussian_constants",
    "gaussian_ei_w2",
    "kremling_w2_bound",
    "log_concavity_profile",
    "mixture_constants",
    "pfode_local_rate",
    "regime_shift_time",
    "weak_convexity_profile",
]

FloatArray = npt.NDArray[np.float64]
GridLike = Union[npt.ArrayLike, tuple[float, ...]]

#: Gauss-Legendre nodes per step used by the local-error quadratures.
LOCAL_NODES = 8


# ---------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """A bound with its named terms.

    Attributes
    ----------
    metric : str
        ``"TV"``, ``"KL"`` or ``"W2"``.
    initialisation, discretisation, score : float
        The terms; ``total`` is their sum (for recursions the terms are the
        exact linear split of the final error bound).
    total : float
        The bound.
    paper : str
        Which paper and statement.
    form : str
        The exact form implemented (and what is [recall] or [derived]).
    constants : Mapping[str, float]
        The constants used.
    valid : bool
        Whether the hypotheses that can be checked numerically hold (e.g.
        paper 1's step-size condition ``h <= 1/L``).
    trace : Mapping[str, numpy.ndarray]
        Per-step arrays of recursions (``e``, ``rho``, ``local``, ...).
    """

    metric: str
    initialisation: float
    discretisation: float
    score: float
    total: float
    paper: str
    form: str
    constants: Mapping[str, float] = field(default_factory=dict)
    valid: bool = True
    trace: Mapping[str, FloatArray] = field(default_factory=dict, repr=False)

    @classmethod
    def of_terms(
        cls,
        metric: str,
        initialisation: float,
        discretisation: float,
        score: float,
        **rest: Any,
    ) -> Bound:
        """The bound whose total is the sum of its three terms (in that order)."""
        total = initialisation + discretisation + score
        return cls(metric, initialisation, discretisation, score, total, **rest)


@dataclass(frozen=True)
class Complexity:
    """Steps needed for a target accuracy.

    Attributes
    ----------
    steps : float
        Number of steps K (N); for tables stated up to constants and
        logarithms, the value of the table's expression with unit constants.
    step_size : float
        Step size (eta or h).
    T : float
        Horizon (``nan`` when the statement does not fix it).
    score_error : float
        Largest admissible score error (L2) for the accuracy.
    formula : str
        The expression evaluated.
    paper : str
        Source.
    """

    steps: float
    step_size: float
    T: float
    score_error: float
    formula: str
    paper: str


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
# small helpers
# ---------------------------------------------------------------------------


def _pos(value: Any, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number, got {value!r}") from exc
    ok = v >= 0.0 if allow_zero else v > 0.0
    if not (math.isfinite(v) and ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return v


def _check_process(process: Any) -> Process:
    if not isinstance(process, Process):
        raise TypeError(
            f"process must be a scorelab Process, got {type(process).__name__}"
        )
    if getattr(process, "m", 1) != 1:
        raise ValueError(
            "the bounds need a scalar process (m = 1), not a phase-space one"
        )
    return process


def _check_target(target: Any) -> Target:
    if not isinstance(target, Target):
        raise TypeError(
            "target must be a scorelab Gaussian or GaussianMixture, got "
            f"{type(target).__name__}"
        )
    return target


def _resolve_grid(grid: GridLike, process: Process, delta: float) -> FloatArray:
    """An explicit decreasing grid, or ``(eta, T)`` / ``(eta, T, delta)``."""
    if isinstance(grid, tuple) and len(grid) in (2, 3):
        eta = _pos(grid[0], "eta")
        T = _pos(grid[1], "T")
        dl = _pos(grid[2], "delta") if len(grid) == 3 else delta
        steps = max(1, math.ceil((T - dl) / eta - 1e-9))
        return make_grid("uniform", steps, T=T, delta=dl, process=process)
    return validate_grid(grid, process)


def _leggauss01(n: int) -> tuple[FloatArray, FloatArray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (x + 1.0), 0.5 * w


def _arr(x: Any) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _alpha(process: Process, t: FloatArray) -> FloatArray:
    return _arr(process.alpha(t))


def _g2(process: Process, t: FloatArray) -> FloatArray:
    return _arr(process.g(t)) ** 2


def _profile_fn(value: Any, name: str) -> Callable[[FloatArray], FloatArray]:
    """A constant or a callable of time arrays, as a callable."""
    if callable(value):

        def fn(t: FloatArray) -> FloatArray:
            out = np.asarray(value(t), dtype=np.float64)
            return np.broadcast_to(out, np.shape(t)).astype(np.float64)

        return fn
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number or a callable, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number or a callable") from exc
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return lambda t: np.full(np.shape(t), v)


def _split_recursion(
    rho: FloatArray, e0: float, disc: FloatArray, score: FloatArray
) -> tuple[float, float, float, FloatArray]:
    """Terms of e_N for e_{k+1} = rho_k e_k + disc_k + score_k (and the e_k)."""
    N = rho.shape[0]
    tail = np.ones(N + 1)  # tail[k] = prod_{j >= k} rho_j
    for k in range(N - 1, -1, -1):
        tail[k] = tail[k + 1] * rho[k]
    init = float(tail[0] * e0)
    dterm = float(np.sum(tail[1:] * disc))
    sterm = float(np.sum(tail[1:] * score))
    e = np.empty(N + 1)
    e[0] = e0
    for k in range(N):
        e[k + 1] = rho[k] * e[k] + disc[k] + score[k]
    return init, dterm, sterm, e


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
    pts = [target.noised(process, t).sample(n, seed)]  # type: ignore[attr-defined]
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
      PAPERS.md's :math:`1/v - \alpha^2 D^2/(4v^2)`, :math:`v = \alpha^2 s^2 +
      \sigma^2`, attained for a symmetric two-component mixture at the midpoint.
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
    target = _check_target(target)
    process = _check_process(process)
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
    target = _check_target(target)
    process = _check_process(process)
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
    process = _check_process(process)
    target = _check_target(target)
    rr = np.atleast_1d(as_float_array(r, "r"))
    if np.any(rr <= 0) or not np.all(np.isfinite(rr)):
        raise ValueError("r must be finite and > 0")
    t = _pos(t, "t", allow_zero=True)
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
    target = _check_target(target)
    process = _check_process(process)
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
    hi = float(process.T) if t_hi is None else _pos(t_hi, "t_hi")
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


# ---------------------------------------------------------------------------
# paper 1: Chen et al.
# ---------------------------------------------------------------------------


def _chen_constants(
    L: float,
    d: int,
    m2: float,
    h: float,
    T: float,
    eps_score: float,
    kl_init: float,
    C: float,
) -> dict[str, Any]:
    """Paper 1's constants, validated, in the order of the bounds' signatures."""
    return {
        "L": _pos(L, "L"),
        "d": check_int(d, "d", 1),
        "m2": _pos(m2, "m2", allow_zero=True),
        "h": _pos(h, "h"),
        "T": _pos(T, "T"),
        "eps_score": _pos(eps_score, "eps_score", allow_zero=True),
        "kl_init": _pos(kl_init, "kl_init", allow_zero=True),
        "C": _pos(C, "C"),
    }


def chen_tv_bound(
    L: float,
    d: int,
    m2: float,
    h: float,
    T: float,
    eps_score: float,
    kl_init: float,
    C: float = 1.0,
) -> Bound:
    r"""Paper 1, Theorem 2: TV error of the exponential-integrator DDPM on OU.

    .. math::

        \mathrm{TV}(p_T, q) \le C\Big(\sqrt{\mathrm{KL}(q\|N(0,I))}\,e^{-T}
        + (L\sqrt{d h} + L m_2 h)\sqrt T + \varepsilon_{score}\sqrt T\Big),

    for the OU process :math:`dX = -X dt + \sqrt2 dB` (``scorelab.OU()``), the
    score-frozen EI with constant step h, N = T/h steps, started at
    :math:`N(0, I)` without early stopping [read]. Hypotheses: the score of
    every :math:`q_t` is L-Lipschitz with :math:`L \ge 1`; :math:`m_2^2 =
    E|X_0|^2`; :math:`E_{q_{kh}}|s_{kh} - \nabla\log q_{kh}|^2 \le
    \varepsilon_{score}^2`; :math:`h \lesssim 1/L`. The paper states the
    bound up to a universal constant that it does not give: ``C`` (default 1)
    multiplies every term. ``valid`` is ``h * L <= 1`` and ``L >= 1``.

    Parameters
    ----------
    L : float
        Lipschitz constant of the scores along the flow (>= 1 in the paper).
    d : int
        Dimension.
    m2 : float
        :math:`m_2 = \sqrt{E|X_0|^2}`.
    h : float
        Step size.
    T : float
        Horizon.
    eps_score : float
        L2 score error.
    kl_init : float
        :math:`\mathrm{KL}(q \| N(0, I))`.
    C : float, default 1
        Universal constant.

    Returns
    -------
    Bound
        ``metric="TV"``; terms initialisation, discretisation, score.
    """
    k = _chen_constants(L, d, m2, h, T, eps_score, kl_init, C)
    L, d, m2, h, T, eps, kl, C = k.values()
    init = C * math.sqrt(kl) * math.exp(-T)
    disc = C * (L * math.sqrt(d * h) + L * m2 * h) * math.sqrt(T)
    score = C * eps * math.sqrt(T)
    return Bound.of_terms(
        metric="TV",
        initialisation=init,
        discretisation=disc,
        score=score,
        paper="Chen et al. 2023 (arXiv:2209.11215), Theorem 2",
        form="C (sqrt(KL) e^-T + (L sqrt(dh) + L m2 h) sqrt(T) + eps sqrt(T)) "
        "[read; universal constant C not given in the paper]",
        constants=k,
        valid=bool(h * L <= 1.0 and L >= 1.0),
    )


def chen_kl_bound(
    L: float,
    d: int,
    m2: float,
    h: float,
    T: float,
    eps_score: float,
    kl_init: float,
    C: float = 1.0,
) -> Bound:
    r"""Paper 1, path-space version (Girsanov, Theorem 9 form): KL of the output.

    .. math::

        \mathrm{KL}(q \| p_T) \le \mathrm{KL}(q\|N(0,I))\,e^{-2T}
        + C(L^2 d h + L^2 m_2^2 h^2)\,T + C\varepsilon_{score}^2 T.

    The last two terms bound the KL between the path measures of the exact
    reverse process and of the sampler started at the same point [read, up to
    the universal constant C, default 1]; the first is the KL of the
    initialisation, which contracts as :math:`e^{-2T}` under OU (log-Sobolev
    constant 1 of N(0, I)), and the chain rule for KL adds them. Hypotheses as
    in :func:`chen_tv_bound`.

    Returns
    -------
    Bound
        ``metric="KL"``.
    """
    k = _chen_constants(L, d, m2, h, T, eps_score, kl_init, C)
    L, d, m2, h, T, eps, kl, C = k.values()
    init = kl * math.exp(-2.0 * T)
    disc = C * (L * L * d * h + L * L * m2 * m2 * h * h) * T
    score = C * eps * eps * T
    return Bound.of_terms(
        metric="KL",
        initialisation=init,
        discretisation=disc,
        score=score,
        paper="Chen et al. 2023 (arXiv:2209.11215), path-space KL (Girsanov)",
        form="KL e^{-2T} + C (L^2 d h + L^2 m2^2 h^2) T + C eps^2 T "
        "[read up to C; the e^{-2T} initialisation term derived]",
        constants=k,
        valid=bool(h * L <= 1.0 and L >= 1.0),
    )


def chen_cld_tv_bound(
    L: float,
    d: int,
    m2: float,
    h: float,
    T: float,
    eps_score: float,
    kl_init: float,
    fi_init: float,
    c: float = 1.0,
    C: float = 1.0,
) -> Bound:
    r"""Paper 1, Theorem 6: TV of the critically damped Langevin (CLD) sampler.

        .. math::

            \mathrm{TV}(p_T, q) \lesssim \sqrt{\mathrm{KL}(q\|N(0,I)) + \mathrm{FI}(q\|
            N(0,I))}\;e^{-cT} + (L\sqrt{d h} + L m_2 h)\sqrt T
            + arepsilon_{score}\sqrt T,

        the three terms of :func:`chen_tv_bound` with the initialisation term
        carrying the relative Fisher information :math:`\mathrm{FI}(q\|N(0,I)) =
        E_q|
    abla\log q -
    abla\log\gamma|^2` (for :math:`q = N(m, S)`:
        :math:`|m|^2 + \mathrm{tr}(S - 2I + S^{-1})`) and a decay rate c: CLD is not
        better than DDPM in this bound [read]. The rate c and the factor C are
        universal constants the paper does not give [read]; both are parameters
        (default 1). ``eps_score`` bounds the L2 error of the *velocity* score, the
        only one the reverse CLD uses. Hypotheses as in :func:`chen_tv_bound`.

        Returns
        -------
        Bound
            ``metric="TV"``; terms initialisation, discretisation, score.
    """
    k = _chen_constants(L, d, m2, h, T, eps_score, kl_init, C)
    L, d, m2, h, T, eps, kl, C = k.values()
    fi = _pos(fi_init, "fi_init", allow_zero=True)
    c = _pos(c, "c")
    init = C * math.sqrt(kl + fi) * math.exp(-c * T)
    disc = C * (L * math.sqrt(d * h) + L * m2 * h) * math.sqrt(T)
    score = C * eps * math.sqrt(T)
    return Bound.of_terms(
        metric="TV",
        initialisation=init,
        discretisation=disc,
        score=score,
        paper="Chen et al. 2023 (arXiv:2209.11215), Theorem 6 (CLD)",
        form="C (sqrt(KL + FI) e^{-cT} + (L sqrt(dh) + L m2 h) sqrt(T) + eps sqrt(T)) "
        "[read; universal constants c and C not given in the paper]",
        constants={**k, "fi_init": fi, "c": c},
        valid=bool(h * L <= 1.0 and L >= 1.0),
    )


def chen_cld_path_kl_lower_bound(d: int, h: float, T: float, C: float = 1.0) -> Bound:
    r"""Paper 1, Theorem 7: the path-space KL of CLD's sampler is at least ~ d h T.

    .. math::

        \mathrm{KL}(	ext{exact reverse path} \,\|\, 	ext{sampler path})
        \gtrsim d\,h\,T,

    even with the exact score, i.e. CLD's discretisation term in the
    path-space analysis is no smaller than DDPM's (:func:`chen_kl_bound`), which
    is why the paper conjectures no improvement in the dimension dependence
    [read]. The universal constant C is not given [read]; a parameter (default
    1). A lower bound: its value is in ``total`` (and ``discretisation``).

    Returns
    -------
    Bound
        ``metric="KL"``; only the discretisation term is non-zero.
    """
    d = check_int(d, "d", 1)
    h = _pos(h, "h")
    T = _pos(T, "T")
    C = _pos(C, "C")
    disc = C * d * h * T
    return Bound(
        metric="KL",
        initialisation=0.0,
        discretisation=disc,
        score=0.0,
        total=disc,
        paper="Chen et al. 2023 (arXiv:2209.11215), Theorem 7 (CLD lower bound)",
        form="C d h T [read up to C; a LOWER bound on the path KL]",
        constants={"d": d, "h": h, "T": T, "C": C},
        valid=True,
    )


def chen_iteration_complexity(
    L: float, d: int, m2: float, eps: float, kl_init: float, C: float = 1.0
) -> Complexity:
    r"""Steps for :math:`\mathrm{TV} \le \varepsilon` from :func:`chen_tv_bound`.

    Splits :math:`\varepsilon` in thirds: :math:`T = \log(3C\sqrt{\mathrm{KL}}/
    \varepsilon)` (at least 0), the largest h with :math:`C(L\sqrt{dh} +
    L m_2 h)\sqrt T \le \varepsilon/3` (a quadratic in :math:`\sqrt h`, capped
    at :math:`1/L`), N = ceil(T/h), and score error at most
    :math:`\varepsilon/(3C\sqrt T)`. To leading order
    :math:`N = \tilde\Theta(L^2 d/\varepsilon^2)` [read].
    """
    L = _pos(L, "L")
    d = check_int(d, "d", 1)
    m2 = _pos(m2, "m2", allow_zero=True)
    eps = _pos(eps, "eps")
    kl = _pos(kl_init, "kl_init", allow_zero=True)
    C = _pos(C, "C")
    T = max(math.log(3.0 * C * math.sqrt(kl) / eps), 1e-12) if kl > 0 else 1e-12
    rhs = eps / (3.0 * C * math.sqrt(T))
    a, b = L * m2, L * math.sqrt(d)
    x = (-b + math.sqrt(b * b + 4.0 * a * rhs)) / (2.0 * a) if a > 0 else rhs / b
    h = min(x * x, 1.0 / L)
    N = math.ceil(T / h)
    return Complexity(
        steps=float(N),
        step_size=h,
        T=T,
        score_error=rhs,
        formula="T = log(3C sqrt(KL)/eps); C(L sqrt(dh) + L m2 h) sqrt(T) = eps/3; "
        "N = T/h ~ L^2 d T^2 / eps^2",
        paper="Chen et al. 2023, Theorem 2 / Corollary",
    )


# ---------------------------------------------------------------------------
# paper 2: Gao, Nguyen, Zhu
# ---------------------------------------------------------------------------


def _sde_local(
    process: Process,
    hi: FloatArray,
    lo: FloatArray,
    lam: FloatArray,
    mult: FloatArray,
    nodes: int,
    chunk: int = 8192,
) -> FloatArray:
    r"""Upper bound of :math:`\lVert\delta_k\rVert_{L^2}` for the reverse SDE.

    :math:`N_t = \alpha_t \nabla\log p_t(X_t)` is a martingale in reverse time
    (:math:`\nabla\log p_t(x) = \frac{\alpha_s}{\alpha_t}E[\nabla\log p_s(X_s)
    | X_t = x]` for s < t), with quadratic-variation rate
    :math:`\alpha_t^2 g_t^2 \lVert\nabla^2\log p_t\rVert_F^2`. Hence, exactly,
    :math:`E|s(X_{hi}, t_{hi}) - s(X_u, u)|^2 = (1 - \alpha_{hi}/\alpha_u)^2
    J_{hi} + \alpha_u^{-2}\int_u^{hi}\alpha_t^2 g_t^2 F_t\, dt` with Fisher
    information :math:`J_t = E|\nabla\log p_t|^2` and :math:`F_t =
    E\lVert\nabla^2\log p_t\rVert_F^2`, and by Minkowski
    :math:`\lVert\delta_k\rVert \le \int_{lo}^{hi}\frac{\alpha_{lo}}{\alpha_u}
    g_u^2 \lVert s(X_{hi}) - s(X_u)\rVert du`.

    Here :math:`J_t = \sum_i m_i / v_i(t)` and :math:`F_t = \sum_i m_i /
    v_i(t)^2` with :math:`v_i = \alpha_t^2\lambda_i + \sigma_t^2` (exact for a
    Gaussian with eigenvalues :math:`\lambda_i` of multiplicities
    :math:`m_i`; an upper bound :math:`J \le dL_t`, :math:`F \le dL_t^2` with
    one "eigenvalue" :math:`1/L_0` of multiplicity d in general). Then
    :math:`\frac{d}{dt}\frac{\alpha^2}{v} = -\frac{\alpha^2 g^2}{v^2}` gives
    the inner integral in closed form, :math:`\sum_i m_i(\alpha_u^2/v_i(u) -
    \alpha_{hi}^2/v_i(hi))`. The outer integral uses the substitution
    :math:`u = hi - (hi - lo)\xi^2` (removing the square-root endpoint
    behaviour) and ``nodes``-point Gauss--Legendre in :math:`\xi`.
    """
    xs, ws = _leggauss01(nodes)
    out = np.empty(hi.shape[0])
    for i0 in range(0, hi.shape[0], chunk):
        h_ = hi[i0 : i0 + chunk]
        l_ = lo[i0 : i0 + chunk]
        h = (h_ - l_)[:, None]
        u = h_[:, None] - h * xs[None, :] ** 2  # (n, q)
        du = 2.0 * h * xs[None, :] * ws[None, :]
        a_u = _alpha(process, u)
        s2_u = _arr(process.sigma2(u))
        a_hi = _alpha(process, h_)
        s2_hi = _arr(process.sigma2(h_))
        a_lo = _alpha(process, l_)[:, None]
        v_hi = a_hi[:, None] ** 2 * lam[None, :] + s2_hi[:, None]  # (n, r)
        J_hi = np.sum(mult / v_hi, axis=-1)
        G_hi = a_hi**2 * J_hi
        v_u = a_u[..., None] ** 2 * lam + s2_u[..., None]  # (n, q, r)
        G_u = a_u**2 * np.sum(mult / v_u, axis=-1)
        inner = np.maximum(G_u - G_hi[:, None], 0.0)
        var = (1.0 - a_hi[:, None] / a_u) ** 2 * J_hi[:, None] + inner / a_u**2
        integrand = (a_lo / a_u) * _g2(process, u) * np.sqrt(np.maximum(var, 0.0))
        out[i0 : i0 + chunk] = np.sum(du * integrand, axis=1)
    return out


def _init_w2(
    init: Any,
    process: Process,
    T: float,
    m2: float,
    d: int,
    target: Target | None,
) -> float:
    """W2(initial law, p_T): exact for Gaussians, coupling bound otherwise."""
    if not isinstance(init, str) and init is not None:
        return _pos(init, "init", allow_zero=True)
    if init not in (None, "zero-data", "prior"):
        raise ValueError(
            f"init must be 'zero-data', 'prior', None or a W2 value, got {init!r}"
        )
    sT = math.sqrt(float(process.sigma2(T)))
    aT = float(process.alpha(T))
    s0 = sT if init == "zero-data" else math.sqrt(process.prior_var)
    if isinstance(target, Gaussian):
        pT = target.noised(process, T)
        return float(w2_gaussian(np.zeros(d), s0 * s0 * np.eye(d), pT.mean, pT.cov))
    return math.sqrt(aT * aT * m2 * m2 + d * (sT - s0) ** 2)


def gao_w2_bound(
    process: Process,
    grid: GridLike,
    *,
    m0: float | None = None,
    L0: float | None = None,
    d: int | None = None,
    m2: float | None = None,
    M: float = 0.0,
    target: Gaussian | None = None,
    init: Any = "zero-data",
    delta: float = 1e-3,
    nodes: int = LOCAL_NODES,
) -> Bound:
    r"""Paper 2: W2 error of the score-frozen EI of the reverse SDE, as a
    certified one-step recursion.

    Form implemented (structure of the paper's theorem [recall], constants
    [derived] here; see the module docstring for the coupling):

    .. math::

        e_{k+1} \le \rho_k e_k + \ell_k + c_k M,\qquad
        W_2(\mathcal L(Y_N), p_\delta) \le e_N,

    - contraction :math:`\rho_k = \max(|r_k - c_k a(t_k)|, |r_k - c_k
      L(t_k)|)` with :math:`a(t) = 1/(\alpha^2/m_0 + \sigma^2)` and
      :math:`L(t) = 1/(\alpha^2/L_0 + \sigma^2)` (strong log-concavity and
      smoothness of :math:`p_t` when :math:`m_0 I \preceq -\nabla^2\log p_0
      \preceq L_0 I`, by Brascamp--Lieb and Cramér--Rao); its product is the
      discrete analogue of the paper's :math:`\exp(-\int\mu)`,
      :math:`\mu = g^2 a - f`, whose closed form :math:`\frac{\alpha_T
      V_\delta}{\alpha_\delta V_T}` (:math:`V = \alpha^2/m_0 + \sigma^2`) is
      reported as ``constants["contraction_continuous"]``;
    - local error :math:`\ell_k` (the paper's :math:`O(\eta^{3/2}\sqrt d)`
      term): the exact martingale identity of ``_sde_local`` with
      :math:`J_t \le d L(t)` and :math:`F_t \le d L(t)^2`, which gives, for
      small steps, :math:`\ell_k \approx \frac23 g^3 L\sqrt d\,\eta^{3/2}` —
      no unknown constant (with a Gaussian ``target`` the exact
      :math:`J_t = \sum_i 1/v_i`, :math:`F_t = \sum_i 1/v_i^2` are used);
    - score term :math:`c_k M`, :math:`M` the L2 score error along the
      iterates (the paper's assumption), :math:`c_k \approx \int g^2`;
    - initialisation :math:`e_0 = W_2(\hat p_T, p_T)`: for paper 2's
      :math:`\hat p_T = N(0, \sigma_T^2 I)` (``init="zero-data"``) at most
      :math:`\alpha_T m_2` (coupling), exact Bures distance for a Gaussian
      ``target``.

    Parameters
    ----------
    process : Process
        Scalar forward process (any f, g).
    grid : array_like or tuple
        Decreasing times, or ``(eta, T)`` / ``(eta, T, delta)`` for a uniform
        grid with step close to eta.
    m0, L0 : float
        Strong log-concavity and smoothness of :math:`p_0` (from ``target`` if
        omitted).
    d : int
        Dimension (from ``target`` if omitted).
    m2 : float
        :math:`\sqrt{E|X_0|^2}` (from ``target`` if omitted).
    M : float, default 0
        L2 score error.
    target : Gaussian, optional
        Gaussian data: supplies the constants and exact J, F and init W2.
    init : "zero-data", "prior", None or float
        Initial law (paper 2: ``"zero-data"``), or W2(initial, p_T) itself.
    delta : float, default 1e-3
        Early-stopping time for the ``(eta, T)`` form.
    nodes : int, default 8
        Quadrature nodes per step.

    Returns
    -------
    Bound
        ``metric="W2"``; ``trace`` holds ``e``, ``rho``, ``local``, ``times``.
    """
    process = _check_process(process)
    nodes = check_int(nodes, "nodes", 2)
    if target is not None:
        gc = gaussian_constants(target)
        m0 = gc.m if m0 is None else m0
        L0 = gc.L if L0 is None else L0
        d = gc.d if d is None else d
        m2 = gc.second_moment if m2 is None else m2
    if m0 is None or L0 is None or d is None or m2 is None:
        raise ValueError(
            "m0, L0, d and m2 are required unless a Gaussian target is given"
        )
    m0 = _pos(m0, "m0")
    L0 = _pos(L0, "L0")
    if L0 < m0:
        raise ValueError(f"L0 must be >= m0, got L0={L0!r} < m0={m0!r}")
    d = check_int(d, "d", 1)
    m2 = _pos(m2, "m2", allow_zero=True)
    Mv = _pos(M, "M", allow_zero=True)
    times = _resolve_grid(grid, process, _pos(delta, "delta"))
    hi, lo = times[:-1], times[1:]
    r, c, _ = (np.atleast_1d(_arr(v)) for v in process.ei_coefficients(hi, lo))
    a2h = _alpha(process, hi) ** 2
    s2h = _arr(process.sigma2(hi))
    a_t = 1.0 / (a2h / m0 + s2h)
    L_t = 1.0 / (a2h / L0 + s2h)
    rho = np.maximum(np.abs(r - c * a_t), np.abs(r - c * L_t))
    if target is not None:
        lam_u, counts = np.unique(
            gaussian_constants(target).eigenvalues, return_counts=True
        )
    else:
        lam_u, counts = np.array([1.0 / L0]), np.array([d])
    mult = np.asarray(counts, dtype=np.float64)
    local = _sde_local(process, hi, lo, lam_u, mult, nodes)
    score = c * Mv
    T = float(times[0])
    e0 = _init_w2(init, process, T, m2, d, target)
    ini, disc, sc, e = _split_recursion(rho, e0, local, score)
    dl = float(times[-1])
    V = lambda t: float(process.alpha(t)) ** 2 / m0 + float(process.sigma2(t))  # noqa: E731
    contr = float(process.alpha(T)) * V(dl) / (float(process.alpha(dl)) * V(T))
    return Bound.of_terms(
        metric="W2",
        initialisation=ini,
        discretisation=disc,
        score=sc,
        paper="Gao, Nguyen, Zhu 2025 (arXiv:2311.11003), main theorem (W2, EI)",
        form="e_{k+1} <= rho_k e_k + l_k + c_k M; rho_k = max|r - c lambda|, "
        "lambda in [a(t), L(t)]; l_k from the reverse-martingale identity "
        "(J <= d L, F <= d L^2; exact for a Gaussian target) [derived]",
        constants={
            "m0": m0,
            "L0": L0,
            "d": float(d),
            "m2": m2,
            "M": Mv,
            "T": T,
            "delta": dl,
            "steps": float(hi.size),
            "init_w2": e0,
            "contraction": float(np.prod(rho)),
            "contraction_continuous": contr,
        },
        valid=True,
        trace={"times": times, "e": e, "rho": rho, "local": local, "c": c},
    )


def gaussian_ei_w2(
    target: Gaussian,
    process: Process,
    grid: GridLike,
    *,
    ode: bool = False,
    init: Any = "zero-data",
    bias: npt.ArrayLike | None = None,
    delta: float = 1e-3,
) -> float:
    r"""Exact W2 between the EI output and :math:`p_\delta` for Gaussian data.

    A fast equivalent of ``w2_gaussian(exact_law(...), target.noised(process,
    delta))`` for the two exponential integrators (``"ei-sde"``, ``ode=False``;
    ``"ei-ode"``, ``ode=True``): in the eigenbasis of :math:`\Sigma` every
    direction is an independent scalar recursion (PAPERS.md, "Closed forms"),
    :math:`m' = a m + (c'/v)\alpha_{hi}\mu + c' b`, :math:`P' = a^2 P + n'`,
    :math:`a = r - c'/v`, with :math:`c' = c, n' = n` (SDE) or
    :math:`c' = c/2, n' = 0` (ODE), :math:`v = \alpha_{hi}^2\lambda +
    \sigma_{hi}^2`, and an optional constant score bias b. Cost O(N d).

    Parameters
    ----------
    target : Gaussian
    process : Process
    grid : array_like or (eta, T[, delta])
    ode : bool, default False
    init : "zero-data", "prior" or None
        :math:`N(0, \sigma_T^2 I)` or the process prior.
    bias : array_like (d,), optional
        Constant score bias.
    delta : float, default 1e-3
        Early stopping for the ``(eta, T)`` form.

    Returns
    -------
    float
    """
    if not isinstance(target, Gaussian):
        raise TypeError(
            f"target must be a scorelab Gaussian, got {type(target).__name__}"
        )
    process = _check_process(process)
    times = _resolve_grid(grid, process, _pos(delta, "delta"))
    lam, Q = np.linalg.eigh(target.cov)
    mu = Q.T @ target.mean
    b = (
        np.zeros_like(mu)
        if bias is None
        else Q.T @ as_float_array(bias, "bias", shape=(target.dim,))
    )
    hi, lo = times[:-1], times[1:]
    r, c, n = (np.atleast_1d(_arr(v)) for v in process.ei_coefficients(hi, lo))
    if ode:
        c = 0.5 * c
        n = np.zeros_like(n)
    a_hi = _alpha(process, hi)
    s2_hi = _arr(process.sigma2(hi))
    T = float(times[0])
    if init in (None, "prior"):
        P = np.full_like(lam, process.prior_var)
    elif init == "zero-data":
        P = np.full_like(lam, float(process.sigma2(T)))
    else:
        raise ValueError(f"init must be 'zero-data', 'prior' or None, got {init!r}")
    m = np.zeros_like(mu)
    for k in range(hi.size):
        v = a_hi[k] ** 2 * lam + s2_hi[k]
        a = r[k] - c[k] / v
        m = a * m + (c[k] / v) * a_hi[k] * mu + c[k] * b
        P = a * a * P + n[k]
    dl = float(times[-1])
    ad, s2d = float(process.alpha(dl)), float(process.sigma2(dl))
    vd = ad * ad * lam + s2d
    w2sq = float(np.sum((m - ad * mu) ** 2) + np.sum((np.sqrt(P) - np.sqrt(vd)) ** 2))
    return math.sqrt(max(w2sq, 0.0))


def gao_gaussian_lower_bound(
    process: Process,
    grid: GridLike,
    target: Gaussian,
    delta: float = 1e-3,
) -> Bound:
    r"""Paper 2's Gaussian lower bound, :math:`W_2 \gtrsim c\sqrt d\,\eta`, for
    OU-, VP- and VE-type processes (first-order forms derived here).

    Form [derived, checked numerically]: VP-type processes are OU
    (:math:`f = 1, g^2 = 2`) in the time :math:`\tau = B(t)/2`; OU with
    :math:`(\alpha_0, \sigma_0)` is the standard one in :math:`\tau = \alpha_0
    t` and units of :math:`s^2 = \sigma_0^2/(2\alpha_0)`. In these units a
    direction with data variance :math:`\lambda` has :math:`v(\tau) = 1 +
    (\lambda - 1)e^{-2\tau}`, and one EI-SDE step of size h adds to the
    variance of the iterate the local error
    :math:`\ell = 2h^2(2 - v)/v + O(h^3)`, transported by :math:`a_k^2`
    (:math:`a = r - c/v`). The first-order variance error is
    :math:`\varepsilon = \sum_k \ell_k \prod_{j>k} a_j^2` (start error 0, i.e.
    :math:`T \to \infty`), and the bound is the covariance part of the W2,
    :math:`\big(\sum_i (\sqrt{v_{\delta,i} + \varepsilon_i} -
    \sqrt{v_{\delta,i}})^2\big)^{1/2} \le W_2` to first order. Closed form for a
    uniform OU grid and :math:`T = \infty`: :math:`\varepsilon_i = \alpha_0
    \eta s^2` for *every* :math:`\lambda_i` (the kernel integrates to 1), so

    .. math::

        W_2 \ge \frac{\alpha_0 s^2 \eta}{2}\sqrt{\operatorname{tr}
        \Sigma_\delta^{-1}}\,(1 + O(\eta)) = \frac{\sqrt d\,\eta}{2}
        \quad (\text{paper 1's OU}, \Sigma = I, \delta \to 0).

    Numerically the exact error exceeds this first-order value and their ratio
    tends to 1 from above as :math:`\eta \to 0` (tests). It is a lower bound
    only once T is large enough that the initialisation error (of the opposite
    sign for ``init="zero-data"``) is negligible.

    VE-type processes (f = 0; any g) [derived here, checked numerically]: with
    :math:`D_k = \sigma_{hi}^2 - \sigma_{lo}^2` (= c = n of the step) and
    :math:`v_k = \lambda + \sigma^2(t_k)`, one EI-SDE step from the exact
    variance adds exactly :math:`D_k^2/v_{hi}` to the variance of the iterate
    (:math:`2n - 2rc + c^2/v` for a general step), and variance errors are
    transported by :math:`a = v_{lo}/v_{hi}`, so the variance error of the
    chain started at the exact :math:`p_T` is :math:`\sum_k (D_k^2/v_{hi,k})
    (v_\delta/v_{lo,k})^2`. The bound uses :math:`\varepsilon = \sum_k
    D_k^2 v_\delta^2/v_{hi,k}^3` (the local error transported from the start
    of its step instead of its end), smaller by a relative :math:`O(\eta)`
    — the margin that keeps it below the exact error when the (opposite-sign,
    :math:`O((v_\delta/v_T)^2)`) initialisation error of ``init="zero-data"``
    is present. Same covariance-part W2 as above; no closed form in
    :math:`\eta` (the step in :math:`\sigma^2` is not uniform).

    Parameters
    ----------
    process : OU, VP-type or VE-type process
    grid : array_like or (eta, T[, delta])
    target : Gaussian
    delta : float, default 1e-3

    Returns
    -------
    Bound
        ``metric="W2"``, all of it in ``discretisation``.
    """
    process = _check_process(process)
    if not isinstance(target, Gaussian):
        raise TypeError(
            f"target must be a scorelab Gaussian, got {type(target).__name__}"
        )
    times = _resolve_grid(grid, process, _pos(delta, "delta"))
    lam = np.linalg.eigvalsh(target.cov)
    dl = float(times[-1])
    if process.kind == "ve":
        s2t = _arr(process.sigma2(times))
        D = s2t[:-1] - s2t[1:]
        vd_ve = lam + float(process.sigma2(dl))
        v_hi = lam[None, :] + s2t[:-1, None]
        eps = np.sum(D[:, None] ** 2 * vd_ve[None, :] ** 2 / v_hi**3, axis=0)
        per = np.sqrt(vd_ve + eps) - np.sqrt(vd_ve)
        lb = float(np.sqrt(np.sum(per**2)))
        return Bound(
            metric="W2",
            initialisation=0.0,
            discretisation=lb,
            score=0.0,
            total=lb,
            paper="Gao, Nguyen, Zhu 2025, Gaussian lower bound (statement [recall]); "
            "VE form derived here",
            form="VE: eps = sum_k D_k^2 v_delta^2 / v_hi^3, D = sigma_hi^2 - "
            "sigma_lo^2; covariance part of W2 [derived]",
            constants={"T": float(times[0]), "delta": dl, "steps": float(D.size)},
            valid=True,
            trace={"eps": eps},
        )
    if process.kind == "ou":
        s2 = process.sigma0**2 / (2.0 * process.alpha0)  # type: ignore[attr-defined]
        tau = process.alpha0 * times  # type: ignore[attr-defined]
    elif process.kind == "vp" and hasattr(process, "integrated_beta"):
        s2 = 1.0
        tau = 0.5 * _arr(process.integrated_beta(times))
    else:
        raise ValueError(
            "gao_gaussian_lower_bound is derived for OU, VP-type and VE-type "
            f"processes, got {process.name!r}"
        )
    hi, lo = times[:-1], times[1:]
    r, c, _ = (np.atleast_1d(_arr(v)) for v in process.ei_coefficients(hi, lo))
    h = tau[:-1] - tau[1:]
    a2h = _alpha(process, hi) ** 2
    s2h = _arr(process.sigma2(hi))
    eps = np.zeros_like(lam)
    for k in range(hi.size):
        v = a2h[k] * lam + s2h[k]
        vt = v / s2
        a = r[k] - c[k] / v
        eps = a * a * eps + 2.0 * h[k] ** 2 * (2.0 - vt) / vt
    eps *= s2
    vd = float(process.alpha(dl)) ** 2 * lam + float(process.sigma2(dl))
    per = np.sqrt(np.maximum(vd + eps, 0.0)) - np.sqrt(vd)
    lb = float(np.sqrt(np.sum(per**2)))
    return Bound(
        metric="W2",
        initialisation=0.0,
        discretisation=lb,
        score=0.0,
        total=lb,
        paper="Gao, Nguyen, Zhu 2025, Gaussian lower bound (statement [recall])",
        form="first-order variance error of the EI-SDE, eps = sum_k 2h_k^2 (2-v)/v "
        "prod a^2 (OU time/units); covariance part of W2 [derived]",
        constants={"T": float(times[0]), "delta": dl, "steps": float(hi.size)},
        valid=True,
        trace={"eps": eps},
    )


_GAO_TABLE: dict[str, tuple[str, str, str]] = {
    "ve": ("d log(d/eps) / eps^2", "eps / log(1/eps)", "eps^2 / d"),
    "ve-linear": (
        "d^{3/2} log(d/eps) / eps^3",
        "eps / sqrt(log(d/eps))",
        "eps^2 / (d log(d/eps))",
    ),
    "ve-quadratic": ("d^{5/4} / eps^{5/2}", "eps^{3/2}", "eps^2 / d"),
    "ve-power": (
        "d^{1 + 1/(2(2c+1))} / eps^{2 + 1/(2c+1)}",
        "eps^{1 + 2c/(2c+1)}",
        "eps^2 / d",
    ),
    "ou": ("d log(d/eps) / eps^2", "eps", "eps^2 / d"),
    "vp": ("d sqrt(log(d/eps)) / eps^2", "eps", "eps^2 / d"),
    "vp-polynomial": ("d log(d/eps)^{1/(rho+1)} / eps^2", "eps", "eps^2 / d"),
    "vp-exponential": ("d log(log(d/eps)) / eps^2", "eps", "eps^2 / d"),
}


def gao_iteration_complexity(
    family: str | Process,
    d: int,
    eps: float,
    *,
    c: float | None = None,
    rho: float | None = None,
    C: float = 1.0,
) -> Complexity:
    r"""Paper 2's iteration-complexity table: steps K for :math:`W_2 \le
    \varepsilon` [read], up to a constant factor ``C`` (default 1).

    The table states K, M and :math:`\eta` in O-notation only (their constants
    depend on the data and the schedule's parameters and are not tabulated),
    so ``C`` multiplies K and is left to the caller; rankings between rows are
    meaningful only asymptotically (see the note on logarithms below).

    ==============  =================================  ====================
    family          K                                  M (score error)
    ==============  =================================  ====================
    ve (a e^{bt})   d log(d/eps)/eps^2                 eps/log(1/eps)
    ve-linear (a)   d^{3/2} log(d/eps)/eps^3           eps/sqrt(log(d/eps))
    ve-quadratic    d^{5/4}/eps^{5/2}                  eps^{3/2}
    ve-power (c)    d^{1+1/(2(2c+1))}/eps^{2+1/(2c+1)} eps^{1+2c/(2c+1)}
    ou, vp-const.   d log(d/eps)/eps^2                 eps
    vp (linear)     d sqrt(log(d/eps))/eps^2           eps
    vp-polynomial   d log(d/eps)^{1/(rho+1)}/eps^2     eps
    vp-exponential  d log log(d/eps)/eps^2             eps
    ==============  =================================  ====================

    The step size is :math:`\eta = \varepsilon^2/d` in every row except
    ve-linear, :math:`\varepsilon^2/(d\log(d/\varepsilon))`.

    Logarithms are natural and clamped below at 1 (``log(x)`` means
    ``max(log x, 1)``), so the expressions are positive at moderate d/eps.
    Note: :math:`\log\log x \le (\log x)^{1/6}` only for :math:`\log x`
    beyond about :math:`10^{8}`, so at any practical :math:`d/\varepsilon` the
    table's own values rank polynomial (rho = 5) before exponential; the
    paper's ranking is asymptotic.

    Parameters
    ----------
    family : str or Process
        A key above, or a scorelab process (``VE``, ``VELinear``,
        ``VEQuadratic``, ``VEPower`` [c = rho - 1/2], ``OU``, ``VPConstant``,
        ``VP``, ``VPPolynomial``, ``VPExponential``).
    d : int
        Dimension.
    eps : float
        Accuracy, 0 < eps < 1.
    c, rho : float, optional
        Exponents of the ``ve-power`` and ``vp-polynomial`` rows.
    C : float, default 1
        Constant multiplying K (the table is an O-statement).

    Returns
    -------
    Complexity
    """
    if isinstance(family, Process):
        name = family.name
        if name == "ve-power":
            c = float(family.rho) - 0.5  # type: ignore[attr-defined]
        if name == "vp-polynomial":
            rho = float(family.rho)  # type: ignore[attr-defined]
        if name == "vp-constant":
            name = "ou"
        fam = name
    elif isinstance(family, str):
        fam = "ou" if family == "vp-constant" else family
    else:
        raise TypeError(
            f"family must be a string or a Process, got {type(family).__name__}"
        )
    if fam not in _GAO_TABLE:
        raise ValueError(
            f"family must be one of {sorted([*_GAO_TABLE, 'vp-constant'])}, "
            f"got {family!r}"
        )
    d = check_int(d, "d", 1)
    eps = _pos(eps, "eps")
    Cv = _pos(C, "C")
    if eps >= 1.0:
        raise ValueError(f"eps must be < 1, got {eps!r}")
    lg = max(math.log(d / eps), 1.0)
    lg1 = max(math.log(1.0 / eps), 1.0)
    if fam == "ve":
        K, Mv, eta = d * lg / eps**2, eps / lg1, eps**2 / d
    elif fam == "ve-linear":
        K, Mv, eta = d**1.5 * lg / eps**3, eps / math.sqrt(lg), eps**2 / (d * lg)
    elif fam == "ve-quadratic":
        K, Mv, eta = d**1.25 / eps**2.5, eps**1.5, eps**2 / d
    elif fam == "ve-power":
        if c is None:
            raise ValueError("c is required for the 've-power' row")
        cc = _pos(c, "c")
        q = 2.0 * cc + 1.0
        K = d ** (1.0 + 1.0 / (2.0 * q)) / eps ** (2.0 + 1.0 / q)
        Mv, eta = eps ** (1.0 + 2.0 * cc / q), eps**2 / d
    elif fam == "ou":
        K, Mv, eta = d * lg / eps**2, eps, eps**2 / d
    elif fam == "vp":
        K, Mv, eta = d * math.sqrt(lg) / eps**2, eps, eps**2 / d
    elif fam == "vp-polynomial":
        if rho is None:
            raise ValueError("rho is required for the 'vp-polynomial' row")
        rr = _pos(rho, "rho")
        K, Mv, eta = d * lg ** (1.0 / (rr + 1.0)) / eps**2, eps, eps**2 / d
    else:  # vp-exponential
        K, Mv, eta = d * max(math.log(lg), 1.0) / eps**2, eps, eps**2 / d
    return Complexity(
        steps=float(Cv * K),
        step_size=float(eta),
        T=math.nan,
        score_error=float(Mv),
        formula=_GAO_TABLE[fam][0],
        paper="Gao, Nguyen, Zhu 2025, iteration-complexity table [read]",
    )


def _with_T(process: Process, T: float) -> Process:
    params = dict(process.params())
    params["T"] = T
    return type(process)(**params)


def _rule_T(
    init_term: Callable[[float], float], eps: float, delta: float, T0: float
) -> float:
    """Smallest T (bisection) with init_term(T) <= eps / 2; inf if above 1e4."""
    lo_T, hi_T = 2.0 * delta, T0
    while init_term(hi_T) > eps / 2.0:
        lo_T, hi_T = hi_T, 2.0 * hi_T
        if hi_T > 1e4:
            return math.inf
    if init_term(lo_T) <= eps / 2.0:
        return lo_T
    for _ in range(50):
        if hi_T - lo_T <= 1e-6 * hi_T:
            break
        mid = 0.5 * (lo_T + hi_T)
        if init_term(mid) <= eps / 2.0:
            hi_T = mid
        else:
            lo_T = mid
    return hi_T


def gao_horizon(
    process: Process,
    eps: float,
    *,
    target: Gaussian | None = None,
    m0: float | None = None,
    d: int | None = None,
    m2: float | None = None,
    delta: float = 1e-3,
) -> float:
    r"""Paper 2's rule for the horizon: the smallest T with initialisation term
    :math:`\le \varepsilon/2`.

    The term is the continuous-time one, :math:`W_2(\hat p_T, p_T)\,\alpha_T
    V_\delta/(\alpha_\delta V_T)` with :math:`V = \alpha^2/m_0 + \sigma^2`
    and :math:`\hat p_T = N(0, \sigma_T^2 I)` (exact Bures distance for a
    Gaussian ``target``, the coupling bound :math:`\alpha_T m_2` otherwise);
    found by doubling and bisection (relative accuracy 1e-6). The process keeps
    its schedule as a function of t (for VP-type and VE-type families the
    schedule defined on [0, 1] is continued beyond 1 by the same formula).

    Returns
    -------
    float
        T, or ``inf`` if above 1e4.
    """
    process = _check_process(process)
    eps = _pos(eps, "eps")
    if target is not None:
        gc = gaussian_constants(target)
        m0 = gc.m if m0 is None else m0
        d = gc.d if d is None else d
        m2 = gc.second_moment if m2 is None else m2
    if m0 is None or d is None or m2 is None:
        raise ValueError("m0, d and m2 are required unless a Gaussian target is given")
    m0v = _pos(m0, "m0")
    dl = _pos(delta, "delta")

    def init_term(T: float) -> float:
        p = _with_T(process, T)
        V = lambda t: float(p.alpha(t)) ** 2 / m0v + float(p.sigma2(t))  # noqa: E731
        w = _init_w2("zero-data", p, T, float(m2), int(d), target)
        return w * float(p.alpha(T)) * V(dl) / (float(p.alpha(dl)) * V(T))

    return _rule_T(init_term, eps, dl, float(process.T))


def gao_steps_needed(
    process: Process,
    eps: float,
    *,
    target: Gaussian | None = None,
    m0: float | None = None,
    L0: float | None = None,
    d: int | None = None,
    m2: float | None = None,
    delta: float = 1e-3,
    exact: bool = False,
    max_steps: int = 2**20,
    rtol: float = 0.01,
    T: float | None = None,
) -> Complexity:
    r"""Steps needed for :math:`W_2 \le \varepsilon` by :func:`gao_w2_bound`
    (or, with ``exact=True`` and a Gaussian target, by the exact error).

    T follows the paper's rule: the smallest T with continuous initialisation
    term :math:`W_2(\hat p_T, p_T)\,\alpha_T V_\delta/(\alpha_\delta V_T) \le
    \varepsilon/2` (bisection in T; :math:`V = \alpha^2/m_0 + \sigma^2`); then
    the smallest number of uniform steps N with bound (or exact error)
    :math:`\le \varepsilon` is found by doubling and bisection, to a relative
    accuracy ``rtol`` (assumes the error decreases with N, true here in
    practice). With ``T`` given, the rule is skipped and that horizon used
    (fixed-horizon scaling studies). One bound evaluation costs O(N); the bound needs
    :math:`N \propto \varepsilon^{-2}` steps (slope 1/2), so small eps are slow.

    Returns
    -------
    Complexity
        ``steps = N`` (``inf`` if above ``max_steps``), ``T``, step size
        :math:`(T - \delta)/N`.
    """
    process = _check_process(process)
    eps = _pos(eps, "eps")
    if target is not None:
        gc = gaussian_constants(target)
        m0 = gc.m if m0 is None else m0
        L0 = gc.L if L0 is None else L0
        d = gc.d if d is None else d
        m2 = gc.second_moment if m2 is None else m2
    if exact and target is None:
        raise ValueError("exact=True needs a Gaussian target")
    if m0 is None or L0 is None or d is None or m2 is None:
        raise ValueError(
            "m0, L0, d and m2 are required unless a Gaussian target is given"
        )
    if T is not None:
        T = _pos(T, "T")
    else:
        T = gao_horizon(process, eps, target=target, m0=m0, d=d, m2=m2, delta=delta)
    if not math.isfinite(T):
        return Complexity(
            math.inf, math.nan, math.inf, math.nan, "T not found", "gao_steps_needed"
        )
    p = _with_T(process, T)

    def err(N: int) -> float:
        g = make_grid("uniform", N, T=T, delta=delta, process=p)
        with np.errstate(over="ignore", invalid="ignore"):
            if exact:
                assert target is not None
                v = gaussian_ei_w2(target, p, g)
            else:
                v = gao_w2_bound(p, g, m0=m0, L0=L0, d=d, m2=m2, target=target).total
        return v if math.isfinite(v) else math.inf

    N = 1
    while err(N) > eps:
        N *= 2
        if N > max_steps:
            return Complexity(
                math.inf, math.nan, T, math.nan, "N > max_steps", "gao_steps_needed"
            )
    lo_N, hi_N = N // 2, N
    rt = _pos(rtol, "rtol", allow_zero=True)
    while hi_N - lo_N > max(1.0, rt * hi_N):
        mid = (lo_N + hi_N) // 2
        if err(mid) <= eps:
            hi_N = mid
        else:
            lo_N = mid
    return Complexity(
        steps=float(hi_N),
        step_size=(T - delta) / hi_N,
        T=T,
        score_error=0.0,
        formula="exact Gaussian W2" if exact else "gao_w2_bound",
        paper="Gao, Nguyen, Zhu 2025 (T rule: initialisation term <= eps/2)",
    )


# ---------------------------------------------------------------------------
# paper 3: Kremling, Iafrate, Taheri, Lederer
# ---------------------------------------------------------------------------


def _ode_local(
    process: Process,
    hi: FloatArray,
    lo: FloatArray,
    rho_fn: Callable[[FloatArray], FloatArray],
    nodes: int,
) -> FloatArray:
    r""":math:`\int_{lo}^{hi}\varrho(v)\, c(lo \to v)/2\, dv` (Gauss--Legendre)."""
    xs, ws = _leggauss01(nodes)
    h = (hi - lo)[:, None]
    v = lo[:, None] + h * xs[None, :]
    lo_b = np.broadcast_to(lo[:, None], v.shape)
    _, cv, _ = process.ei_coefficients(v, lo_b)
    return np.asarray(np.sum(h * ws[None, :] * rho_fn(v) * 0.5 * _arr(cv), axis=1))


def _rho_gaussian(
    process: Process, lam: FloatArray
) -> Callable[[FloatArray], FloatArray]:
    r"""Exact :math:`\lVert \frac{d}{d\tau}s(x_\tau)\rVert_{L^2(p_t)}`, Gaussian data:
    the square root of :math:`\sum_i (f - g^2/(2v_i))^2/v_i`."""

    def fn(t: FloatArray) -> FloatArray:
        a2 = _alpha(process, t) ** 2
        v = a2[..., None] * lam + _arr(process.sigma2(t))[..., None]
        f = _arr(process.f(t))[..., None]
        g2 = _g2(process, t)[..., None]
        return np.asarray(np.sqrt(np.sum((f - g2 / (2.0 * v)) ** 2 / v, axis=-1)))

    return fn


def _rho_mixture_mc(
    target: Target,
    process: Process,
    times: FloatArray,
    n: int,
    seed: Any,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Monte Carlo :math:`\varrho(t) = \lVert -f s - \frac{g^2}{2}(H s +
    \nabla\Delta\log p_t)\rVert_{L^2(p_t)}`, its relative SE and
    :math:`\lVert\nabla\Delta\log p_t\rVert_{L^2(p_t)}`, per time.

    Defensive importance sampling: the proposal is :math:`\frac12 p_t +
    \frac12 N(m_t, S_t)` (:math:`m_t, S_t` the moments of :math:`p_t`), so
    the weights are at most 2 and the regions between components, where
    :math:`|\dot s|` is large but :math:`p_t` small, are well sampled.
    """
    kids = as_seed(seed).spawn(times.size)
    rho = np.empty(times.size)
    rel = np.empty(times.size)
    third = np.empty(times.size)
    for i, t in enumerate(times):
        w, mu, C = _noised_components(target, process, float(t))
        pt = GaussianMixture(w, mu, C, "full")
        q = GaussianMixture(
            np.concatenate([0.5 * w, [0.5]]),
            np.vstack([mu, pt.mean[None]]),
            np.concatenate([C, pt.cov[None]]),
            "full",
        )
        x = q.sample(n, kids[i])
        wt = np.exp(np.asarray(pt.logpdf(x)) - np.asarray(q.logpdf(x)))
        s, H, gl = _mixture_derivs(x, w, mu, C)
        f = float(process.f(float(t)))
        g2 = float(process.g(float(t))) ** 2
        sd = -f * s - 0.5 * g2 * (np.einsum("nij,nj->ni", H, s) + gl)
        v = wt * np.sum(sd * sd, axis=1)
        mq = float(v.mean())
        rho[i] = math.sqrt(mq)
        rel[i] = float(v.std(ddof=1) / math.sqrt(n)) / (2.0 * mq) if mq > 0 else 0.0
        third[i] = math.sqrt(float(np.mean(wt * np.sum(gl * gl, axis=1))))
    return rho, rel, third


def pfode_local_rate(
    target: Target,
    process: Process,
    times: npt.ArrayLike,
    n: int = 2048,
    seed: Any = 0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Rate of change of the score along the probability-flow ODE.

    Along the reverse PF-ODE :math:`\dot x = f x + \frac{g^2}{2}\nabla\log
    p_t(x)` (reverse time :math:`\tau`), the Fokker--Planck equation gives

    .. math::

        \frac{d}{d\tau}\nabla\log p_t(x_\tau) = -f\,s - \frac{g^2}{2}
        \big(\nabla^2\log p_t\; s + \nabla\Delta\log p_t\big),

    and this returns :math:`\varrho(t) = \lVert\cdot\rVert_{L^2(p_t)}` (the
    local-error rate of :func:`certified_pfode_w2`), its relative standard
    error, and :math:`\lVert\nabla\Delta\log p_t\rVert_{L^2(p_t)}` (the
    ``third`` constant of :func:`kremling_w2_bound`). Exact for a Gaussian
    (third = 0); Monte Carlo with defensive importance sampling
    (:math:`\frac12 p_t + \frac12 N(m_t, S_t)`) for mixtures.

    Parameters
    ----------
    target : Gaussian or GaussianMixture
    process : Process
    times : array_like, shape (m,)
    n : int, default 2048
        Samples per time (mixtures).
    seed : int or SeedSequence, default 0

    Returns
    -------
    rho, rel_se, third : numpy.ndarray, shape (m,)
    """
    target = _check_target(target)
    process = _check_process(process)
    t = as_float_array(times, "times", ndim=1)
    if isinstance(target, Gaussian) or target.n_components == 1:
        lam = np.linalg.eigvalsh(target.full_covariances()[0])
        return _rho_gaussian(process, lam)(t), np.zeros_like(t), np.zeros_like(t)
    return _rho_mixture_mc(target, process, t, check_int(n, "n", 2), seed)


def certified_pfode_w2(
    process: Process,
    grid: GridLike,
    target: Target,
    M: float = 0.0,
    *,
    init: Any = None,
    delta: float = 1e-3,
    n_mc: int = 2048,
    profile_points: int = 48,
    seed: Any = 0,
    nodes: int = LOCAL_NODES,
) -> Bound:
    r"""Certified one-step recursion for the probability-flow ODE exponential
    integrator (paper 3's setting; PAPERS.md "certified, computable analogue").

    With :math:`\kappa_t I \preceq -\nabla^2\log p_t \preceq L_t I`
    (:func:`mixture_constants`; :math:`\kappa_t` may be negative before the
    regime shift) and the deterministic flow coupling (:math:`X_{t_k}` the
    exact PF-ODE from :math:`X_T \sim p_T` optimally coupled to
    :math:`Y_0`):

    .. math::

        e_{k+1} \le \mathrm{Lip}_k e_k + \ell_k + \tfrac{c_k}{2} M, \quad
        \mathrm{Lip}_k = \max(|r_k - \tfrac{c_k}{2}\kappa_{t_k}|,
        |r_k - \tfrac{c_k}{2} L_{t_k}|)

    (to first order :math:`\exp\int(f - g^2\kappa/2)`, the flow's separation
    rate), and the local error of the frozen score along the flow,
    :math:`\ell_k \le \int_{lo}^{hi}\varrho(v)\,\frac{c(lo\to v)}{2}\,dv`,
    :math:`\varrho(v) = \lVert\frac{d}{d\tau}s(x_\tau, \tau)\rVert_{L^2(p_v)}`
    with, along the reverse PF-ODE, :math:`\frac{d}{d\tau}s = -f s -
    \frac{g^2}{2}(\nabla^2\log p\; s + \nabla\Delta\log p)` (from the
    Fokker--Planck equation; [derived]) — the flow pushes :math:`p_{hi}` to
    :math:`p_v`, so the norms are under the exact marginals.

    What is certified: for a Gaussian target everything (:math:`\kappa, L,
    \varrho` in closed form, init W2 exact). For mixtures: :math:`L_t` always,
    :math:`\kappa_t` when the components share one covariance (the tied bound),
    numerically otherwise; :math:`\varrho` is a Monte Carlo estimate (``n_mc``
    samples — defensive importance sampling from :math:`\frac12 p_t +
    \frac12 N(m_t, S_t)` — at ``profile_points`` times uniform in log-SNR,
    interpolated linearly in :math:`\log\varrho`), whose largest relative SE
    is reported as ``constants["rho_rel_se"]``; ``valid`` is False when it
    exceeds 5% or :math:`\kappa` is numerical.

    Parameters
    ----------
    process : Process
    grid : array_like or (eta, T[, delta])
    target : Gaussian or GaussianMixture
    M : float, default 0
        L2 score error along the iterates.
    init : None, "zero-data", "prior" or float
        Initial law (None: the process prior) or W2(initial, p_T). For mixtures
        the W2 of the initialisation is the coupling bound
        :math:`\sqrt{\alpha_T^2 m_2^2 + d(\sigma_T - s_0)^2}`.
    delta : float, default 1e-3
    n_mc, profile_points, seed :
        Monte Carlo settings (mixtures only).
    nodes : int, default 8
        Quadrature nodes per step.

    Returns
    -------
    Bound
        ``trace`` holds ``e``, ``lip``, ``local``, ``kappa``, ``times``.
    """
    process = _check_process(process)
    target = _check_target(target)
    nodes = check_int(nodes, "nodes", 2)
    Mv = _pos(M, "M", allow_zero=True)
    times = _resolve_grid(grid, process, _pos(delta, "delta"))
    hi, lo = times[:-1], times[1:]
    r, c, _ = (np.atleast_1d(_arr(v)) for v in process.ei_coefficients(hi, lo))
    is_gauss = isinstance(target, Gaussian) or target.n_components == 1
    if is_gauss or _tied(target) is not None:
        kap, L, method, cert = _profile(target, process, hi, seed=seed)
    else:
        # numerical kappa: on a log-SNR profile, interpolated (not certified)
        P0 = check_int(profile_points, "profile_points", 2)
        lam_h = _arr(process.log_snr(hi))
        lam_p = np.linspace(float(lam_h.min()), float(lam_h.max()), P0)
        tp0 = _arr(process.t_from_log_snr(lam_p))
        kp, Lp, method, cert = _profile(target, process, tp0, n=n_mc, seed=seed)
        kap = np.interp(lam_h, lam_p, kp)
        L = np.interp(lam_h, lam_p, Lp)
    lip = np.maximum(np.abs(r - 0.5 * c * kap), np.abs(r - 0.5 * c * L))
    rel_se = 0.0
    if is_gauss:
        lam = np.linalg.eigvalsh(target.full_covariances()[0])
        rho_fn = _rho_gaussian(process, lam)
    else:
        P = check_int(profile_points, "profile_points", 2)
        lam_T = float(process.log_snr(float(times[0])))
        lam_d = float(process.log_snr(float(times[-1])))
        lam_grid = np.linspace(lam_T, lam_d, P)
        tp = _arr(process.t_from_log_snr(lam_grid))
        tp[0], tp[-1] = times[0], times[-1]
        rho_p, rel, _ = _rho_mixture_mc(
            target, process, tp, check_int(n_mc, "n_mc", 2), seed
        )
        rel_se = float(rel.max())
        log_rho = np.log(np.maximum(rho_p, 1e-300))

        def rho_fn(t: FloatArray) -> FloatArray:
            lam_t = _arr(process.log_snr(t))
            return np.asarray(np.exp(np.interp(lam_t, lam_grid, log_rho)))

    local = _ode_local(process, hi, lo, rho_fn, nodes)
    score = 0.5 * c * Mv
    T = float(times[0])
    m2 = _second_moment(target)
    e0 = _init_w2(init, process, T, m2, target.dim, target)
    ini, disc, sc, e = _split_recursion(lip, e0, local, score)
    return Bound.of_terms(
        metric="W2",
        initialisation=ini,
        discretisation=disc,
        score=sc,
        paper="Kremling, Iafrate, Taheri, Lederer 2025 (arXiv:2510.17608) setting; "
        "certified one-step recursion of PAPERS.md",
        form="e_{k+1} <= Lip_k e_k + l_k + (c_k/2) M; Lip_k = max|r - (c/2) lambda|, "
        "lambda in [kappa, L]; l_k = int rho(v) c(lo->v)/2 dv [derived]",
        constants={
            "M": Mv,
            "T": T,
            "delta": float(times[-1]),
            "steps": float(hi.size),
            "init_w2": e0,
            "kappa_method": {"exact": 0.0, "tied-bound": 1.0, "numerical": 2.0}[method],
            "rho_rel_se": rel_se,
        },
        valid=bool(cert and rel_se < 0.05),
        trace={
            "times": times,
            "e": e,
            "lip": lip,
            "local": local,
            "kappa": kap,
            "L": L,
        },
    )


def kremling_w2_bound(
    process: Process,
    grid: GridLike,
    *,
    kappa: float | Callable[[FloatArray], FloatArray],
    L: float | Callable[[FloatArray], FloatArray],
    d: int,
    init_w2: float,
    M: float = 0.0,
    third: float | Callable[[FloatArray], FloatArray] = 0.0,
    C: float = 1.0,
    delta: float = 1e-3,
    nodes: int = LOCAL_NODES,
) -> Bound:
    r"""Paper 3's W2 bound for the PF-ODE exponential integrator, in the
    structure its abstract describes, with constants from this module.

    We could read only paper 3's abstract (PAPERS.md): W2 bounds under weak
    log-concavity and Lipschitz scores with explicit initialisation, score and
    EI-discretisation terms. This function implements that structure as a
    Grönwall bound with the *continuous* separation rate of the flow [recall]:

    .. math::

        W_2 \le \Lambda_{0} W_2(\hat p_T, p_T)
        + \sum_k \Lambda_{k+1}\big(C\bar\ell_k + \tfrac{c_k}{2}M\big),\quad
        \Lambda_k = \exp\int_\delta^{t_k}\big(f - \tfrac{g^2}{2}\kappa\big),

    with the constants-only local term :math:`\bar\ell_k = \int_{lo}^{hi}
    \bar\varrho(v)\,c(lo\to v)/2\,dv`, :math:`\bar\varrho = (|f| +
    \frac{g^2}{2}\max(L, |\kappa|))\sqrt{dL} + \frac{g^2}{2}\,\mathrm{third}`
    (:math:`J \le dL`; ``third`` bounds :math:`\lVert\nabla\Delta\log
    p_t\rVert_{L^2}`, 0 for Gaussians). The universal constant ``C`` (default
    1) is exposed. Differences from :func:`certified_pfode_w2`: the flow's
    exponential rate instead of the EI step's Lipschitz constant (an
    assumption-level argument: it needs the local error uniformly, not under
    :math:`p_t`), and constants instead of exact local norms.

    Parameters
    ----------
    process : Process
    grid : array_like or (eta, T[, delta])
    kappa, L : float or callable
        Weak-convexity (may be negative) and smoothness profiles of
        :math:`-\log p_t` (e.g. from :func:`log_concavity_profile`).
    d : int
    init_w2 : float
        :math:`W_2(\hat p_T, p_T)`.
    M : float, default 0
    third : float or callable, default 0
    C : float, default 1
    delta : float, default 1e-3
    nodes : int, default 8

    Returns
    -------
    Bound
    """
    process = _check_process(process)
    kf = _profile_fn(kappa, "kappa")
    Lf = _profile_fn(L, "L")
    tf = _profile_fn(third, "third")
    d = check_int(d, "d", 1)
    e0 = _pos(init_w2, "init_w2", allow_zero=True)
    Mv = _pos(M, "M", allow_zero=True)
    C = _pos(C, "C")
    nodes = check_int(nodes, "nodes", 2)
    times = _resolve_grid(grid, process, _pos(delta, "delta"))
    hi, lo = times[:-1], times[1:]
    _, c, _ = (np.atleast_1d(_arr(v)) for v in process.ei_coefficients(hi, lo))
    xs, ws = _leggauss01(nodes)
    h = (hi - lo)[:, None]
    u = lo[:, None] + h * xs[None, :]
    rate = _arr(process.f(u)) - 0.5 * _g2(process, u) * kf(u)
    step_log = np.sum(h * ws[None, :] * rate, axis=1)
    rho_step = np.exp(step_log)

    def rho_bar(t: FloatArray) -> FloatArray:
        Lt = np.maximum(Lf(t), 0.0)
        g2 = _g2(process, t)
        return np.asarray(
            (np.abs(_arr(process.f(t))) + 0.5 * g2 * np.maximum(Lt, np.abs(kf(t))))
            * np.sqrt(d * Lt)
            + 0.5 * g2 * tf(t)
        )

    local = C * _ode_local(process, hi, lo, rho_bar, nodes)
    score = 0.5 * c * Mv
    ini, disc, sc, e = _split_recursion(rho_step, e0, local, score)
    return Bound.of_terms(
        metric="W2",
        initialisation=ini,
        discretisation=disc,
        score=sc,
        paper="Kremling, Iafrate, Taheri, Lederer 2025 (arXiv:2510.17608), "
        "structure from the abstract [recall]",
        form="Groenwall with exp int (f - g^2 kappa/2); local C int rho_bar c/2; "
        "score (c/2) M; universal constant C exposed",
        constants={
            "d": float(d),
            "M": Mv,
            "C": C,
            "init_w2": e0,
            "T": float(times[0]),
            "delta": float(times[-1]),
            "steps": float(hi.size),
        },
        valid=True,
        trace={"times": times, "e": e, "rate": rho_step, "local": local},
    )
