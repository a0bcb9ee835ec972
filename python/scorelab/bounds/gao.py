"""Paper 2: X. Gao, H. M. Nguyen, L. Zhu, "Wasserstein convergence guarantees for
a general class of score-based generative models", arXiv:2311.11003 (JMLR 2025).

W2 of the reverse-SDE exponential integrator for general processes as a
certified one-step recursion derived here in the structure of the paper's
theorem (:func:`certified_sde_w2`, formerly ``gao_w2_bound``, still importable
under that name; the coupling argument is in the :mod:`scorelab.bounds`
docstring), the Gaussian lower bound
(:func:`gao_gaussian_lower_bound`), the iteration-complexity table
(:func:`gao_iteration_complexity`), the horizon rule (:func:`gao_horizon`) and
the steps needed for an accuracy (:func:`gao_steps_needed`), with the exact W2
of the exponential integrators on Gaussian data (:func:`gaussian_ei_w2`).
Formulas and provenance tags: ``docs/papers.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from .._validate import (
    as_float_array,
    check_int,
    check_nonnegative,
    check_positive,
    check_process,
)
from ..grids import grid as make_grid
from ..processes import Process
from ..targets import Gaussian
from ._common import (
    LOCAL_NODES,
    SCALAR_ONLY,
    Bound,
    Complexity,
    FloatArray,
    GridLike,
    _alpha,
    _arr,
    _g2,
    _init_w2,
    _leggauss01,
    _resolve_grid,
    _split_recursion,
)
from .regularity import gaussian_constants

__all__ = [
    "certified_sde_w2",
    "gao_gaussian_lower_bound",
    "gao_horizon",
    "gao_iteration_complexity",
    "gao_steps_needed",
    "gao_w2_bound",
    "gaussian_ei_w2",
]


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


def certified_sde_w2(
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
    r"""W2 error of the score-frozen EI of the reverse SDE, as a certified
    one-step recursion [derived] in the setting of paper 2.

    Not the paper's theorem: the recursion, its local term and all constants
    are derived here (see the :mod:`scorelab.bounds` docstring for the
    coupling); only its structure (contraction, :math:`O(\eta^{3/2}\sqrt d)`
    local error, score term) follows paper 2's main theorem as recalled
    [recall]. The record's ``provenance`` is ``"derived"``. Formerly
    ``gao_w2_bound`` (that name remains an alias).

    Form implemented:

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
    process = check_process(process, scalar=SCALAR_ONLY)
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
    m0 = check_positive(m0, "m0")
    L0 = check_positive(L0, "L0")
    if L0 < m0:
        raise ValueError(f"L0 must be >= m0, got L0={L0!r} < m0={m0!r}")
    d = check_int(d, "d", 1)
    m2 = check_nonnegative(m2, "m2")
    Mv = check_nonnegative(M, "M")
    times = _resolve_grid(grid, process, check_positive(delta, "delta"))
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
        paper="derived here: certified one-step recursion in the setting and "
        "structure of Gao, Nguyen, Zhu 2025 (arXiv:2311.11003), W2 of the EI "
        "(not the paper's statement or constants)",
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
        provenance="derived",
    )


#: Former name of :func:`certified_sde_w2` (kept for existing code and studies).
gao_w2_bound = certified_sde_w2


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
    direction is an independent scalar recursion (``docs/papers.md``, "Closed
    forms"), :math:`m' = a m + (c'/v)\alpha_{hi}\mu + c' b`, :math:`P' = a^2 P + n'`,
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
    process = check_process(process, scalar=SCALAR_ONLY)
    times = _resolve_grid(grid, process, check_positive(delta, "delta"))
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
    process = check_process(process, scalar=SCALAR_ONLY)
    if not isinstance(target, Gaussian):
        raise TypeError(
            f"target must be a scorelab Gaussian, got {type(target).__name__}"
        )
    times = _resolve_grid(grid, process, check_positive(delta, "delta"))
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
            provenance="derived",
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
        provenance="derived",
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

    ==============  ==================================  ====================
    family          K                                   M (score error)
    ==============  ==================================  ====================
    ve (a e^{bt})   d log(d/eps)/eps^2                  eps/log(1/eps)
    ve-linear (a)   d^{3/2} log(d/eps)/eps^3            eps/sqrt(log(d/eps))
    ve-quadratic    d^{5/4}/eps^{5/2}                   eps^{3/2}
    ve-power (c)    d^{1+1/(2(2c+1))}/eps^{2+1/(2c+1)}  eps^{1+2c/(2c+1)}
    ou, vp-const.   d log(d/eps)/eps^2                  eps
    vp (linear)     d sqrt(log(d/eps))/eps^2            eps
    vp-polynomial   d log(d/eps)^{1/(rho+1)}/eps^2      eps
    vp-exponential  d log log(d/eps)/eps^2              eps
    ==============  ==================================  ====================

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
    eps = check_positive(eps, "eps")
    Cv = check_positive(C, "C")
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
        cc = check_positive(c, "c")
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
        rr = check_positive(rho, "rho")
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
        provenance="read",
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
    process = check_process(process, scalar=SCALAR_ONLY)
    eps = check_positive(eps, "eps")
    if target is not None:
        gc = gaussian_constants(target)
        m0 = gc.m if m0 is None else m0
        d = gc.d if d is None else d
        m2 = gc.second_moment if m2 is None else m2
    if m0 is None or d is None or m2 is None:
        raise ValueError("m0, d and m2 are required unless a Gaussian target is given")
    m0v = check_positive(m0, "m0")
    dl = check_positive(delta, "delta")

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
    r"""Steps needed for :math:`W_2 \le \varepsilon` by :func:`certified_sde_w2`
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
    process = check_process(process, scalar=SCALAR_ONLY)
    eps = check_positive(eps, "eps")
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
        T = check_positive(T, "T")
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
                v = certified_sde_w2(
                    p, g, m0=m0, L0=L0, d=d, m2=m2, target=target
                ).total
        return v if math.isfinite(v) else math.inf

    N = 1
    while err(N) > eps:
        N *= 2
        if N > max_steps:
            return Complexity(
                math.inf, math.nan, T, math.nan, "N > max_steps", "gao_steps_needed"
            )
    lo_N, hi_N = N // 2, N
    rt = check_nonnegative(rtol, "rtol")
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
        formula="exact Gaussian W2" if exact else "certified_sde_w2",
        paper="Gao, Nguyen, Zhu 2025 (T rule: initialisation term <= eps/2)",
    )
