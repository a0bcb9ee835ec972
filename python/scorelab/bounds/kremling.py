"""Paper 3: M. Kremling, F. Iafrate, M. Taheri, J. Lederer, "Non-asymptotic error
bounds for probability flow ODEs under weak log-concavity", arXiv:2510.17608.

W2 of the probability-flow-ODE exponential integrator: the certified one-step
recursion (:func:`certified_pfode_w2`), the paper's structure with our constants
(:func:`kremling_w2_bound`) and the rate of change of the score along the flow
(:func:`pfode_local_rate`). The weak-convexity profile and the regime-shift time
are in :mod:`scorelab.bounds.regularity`. Formulas and provenance tags:
``docs/papers.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from .._runtime import child_seeds
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
from ._common import (
    LOCAL_NODES,
    SCALAR_ONLY,
    Bound,
    FloatArray,
    GridLike,
    _alpha,
    _arr,
    _g2,
    _init_w2,
    _leggauss01,
    _profile_fn,
    _resolve_grid,
    _split_recursion,
)
from .regularity import (
    _mixture_derivs,
    _noised_components,
    _profile,
    _second_moment,
    _tied,
)

__all__ = [
    "certified_pfode_w2",
    "kremling_w2_bound",
    "pfode_local_rate",
]


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
    kids = child_seeds(seed, times.size)
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
    target = check_target(target)
    process = check_process(process, scalar=SCALAR_ONLY)
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
    integrator (paper 3's setting; ``docs/papers.md``, "certified, computable
    analogue").

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
    process = check_process(process, scalar=SCALAR_ONLY)
    target = check_target(target)
    nodes = check_int(nodes, "nodes", 2)
    Mv = check_nonnegative(M, "M")
    times = _resolve_grid(grid, process, check_positive(delta, "delta"))
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
        "certified one-step recursion of docs/papers.md",
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
        provenance="derived",
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
    structure its abstract describes, with constants from :mod:`scorelab.bounds`.

    We could read only paper 3's abstract (``docs/papers.md``): W2 bounds under
    weak log-concavity and Lipschitz scores with explicit initialisation, score
    and EI-discretisation terms. This function implements that structure as a
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
    process = check_process(process, scalar=SCALAR_ONLY)
    kf = _profile_fn(kappa, "kappa")
    Lf = _profile_fn(L, "L")
    tf = _profile_fn(third, "third")
    d = check_int(d, "d", 1)
    e0 = check_nonnegative(init_w2, "init_w2")
    Mv = check_nonnegative(M, "M")
    C = check_positive(C, "C")
    nodes = check_int(nodes, "nodes", 2)
    times = _resolve_grid(grid, process, check_positive(delta, "delta"))
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
        provenance="recall",
    )
