r"""Distances between a sampler's output and the target, with standard errors.

Closed forms between Gaussians (re-exported from
:mod:`scorelab.metrics_gaussian`): :func:`w2_gaussian`,
:func:`w2_gaussian_squared`, :func:`kl_gaussian`; total variation between 1-D
Gaussians in closed form (:func:`tv_gaussian_1d`) and certified two-sided bounds
in any dimension (:func:`tv_gaussian_bounds`).

Empirical estimators compare samples ``(n, d)`` of an unknown law :math:`P` with
an *exact* target :math:`Q` (a :class:`~scorelab.targets.Gaussian` or
:class:`~scorelab.targets.GaussianMixture`) and return ``(estimate,
standard_error)``:

- :func:`gelbrich_w2`: the Gelbrich (Bures) lower bound of :math:`W_2(P, Q)` from
  the moments of :math:`P`, jackknife bias-corrected;
- :func:`sliced_w2`: sliced :math:`W_2` against the exact projected mixture (no
  second sample cloud);
- :func:`w2_1d`: exact :math:`W_2` between the empirical measure and a 1-D target;
- :func:`mmd`: unbiased squared maximum mean discrepancy with a Gaussian kernel
  and closed-form target terms;
- :func:`w2_empirical`: exact optimal transport between two sample clouds (needs
  the optional dependency POT).

What "standard error" covers is stated per function. In short: it is the
first-order (delta-method / U-statistic / jackknife) standard deviation of the
estimator over repetitions of the sampling (and of the random projections for
:func:`sliced_w2`); it is accurate when the estimand is well away from its
boundary (distance much larger than the noise) and is conservative-to-rough
near zero, where the plug-in Wasserstein estimators are dominated by their
positive :math:`O(1/n)`-type bias (documented per function).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from ._runtime import as_seed
from ._validate import (
    as_float_array,
    check_int,
    check_positive,
    check_spd,
    check_target,
)
from .metrics_gaussian import kl_gaussian, w2_gaussian, w2_gaussian_squared
from .targets import Target

__all__ = [
    "check_options",
    "gelbrich_w2",
    "kl_gaussian",
    "mixture_cdf_1d",
    "mixture_quantile_1d",
    "mmd",
    "sliced_w2",
    "tv_gaussian_1d",
    "tv_gaussian_bounds",
    "w2_1d",
    "w2_empirical",
    "w2_gaussian",
    "w2_gaussian_squared",
]

FloatArray = npt.NDArray[np.float64]

_SQRT2PI = math.sqrt(2.0 * math.pi)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _sliced_w2_options(
    n_projections: int = 64, seed: Any = 0, squared: bool = False
) -> tuple[int, np.random.SeedSequence]:
    return check_int(n_projections, "n_projections", 1), as_seed(seed)


def _gelbrich_w2_options(groups: int = 32, squared: bool = False) -> int:
    return check_int(groups, "groups", 2)


def _mmd_options(bandwidth: float, block: int = 1024) -> tuple[float, int]:
    return check_positive(bandwidth, "bandwidth"), check_int(block, "block", 1)


def _w2_empirical_options(num_iter_max: int = 10_000_000) -> int:
    return check_int(num_iter_max, "num_iter_max", 1)


_OPTION_CHECKS: dict[str, Callable[..., Any]] = {
    "sliced_w2": _sliced_w2_options,
    "gelbrich_w2": _gelbrich_w2_options,
    "mmd": _mmd_options,
    "w2_empirical": _w2_empirical_options,
}


def check_options(name: str, options: Mapping[str, Any]) -> None:
    """Check the options of the empirical metric ``name`` before any work.

    The same checks the metric itself applies to them (it calls the same
    helper), so a study can reject a bad option (e.g. ``bandwidth = -1``)
    when it is parsed. Metrics without options, or unknown names, pass.

    Parameters
    ----------
    name : str
        Function name in this module, e.g. ``"mmd"``.
    options : mapping
        Keyword arguments after ``(samples, target)``.

    Raises
    ------
    ValueError, TypeError
        If an option is invalid (the message names it).
    """
    fn = _OPTION_CHECKS.get(name)
    if fn is not None:
        fn(**options)


def _check_samples(samples: npt.ArrayLike, d: int, name: str = "samples") -> FloatArray:
    """Samples as an (n, d) float64 array; a 1-D array is accepted when d == 1."""
    x = as_float_array(samples, name)
    if x.ndim == 1 and d == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"{name} must have shape (n, {d}), got {x.shape}")
    return x


def _sqrt_with_se(est2: float, se2: float) -> tuple[float, float]:
    r"""Map an estimate of a squared distance and its SE to the distance.

    Returns :math:`\sqrt{\max(e, 0)}` and half the width of the image of the
    one-SE interval, :math:`(\sqrt{\max(e + s, s)} - \sqrt{\max(e - s,
    0)})/2`, which is the delta-method :math:`s / (2\sqrt e)` when
    :math:`e \gg s` and :math:`\sqrt s / 2` for :math:`e \le 0` (a negative
    bias-corrected estimate of a squared distance).
    """
    val = math.sqrt(max(est2, 0.0))
    hi = math.sqrt(max(est2 + se2, se2))
    lo = math.sqrt(max(est2 - se2, 0.0))
    return val, 0.5 * (hi - lo)


def _phi(z: FloatArray) -> FloatArray:
    """Standard normal density."""
    return np.asarray(np.exp(-0.5 * z * z) / _SQRT2PI)


def _dPhi(za: FloatArray, zb: FloatArray) -> FloatArray:
    """Phi(zb) - Phi(za) for za <= zb, accurate in both tails."""
    upper = za > 0.0
    return np.asarray(
        np.where(upper, ndtr(-za) - ndtr(-zb), ndtr(zb) - ndtr(za)), dtype=np.float64
    )


# ---------------------------------------------------------------------------
# 1-D mixtures: CDF, quantiles and partial moments
# ---------------------------------------------------------------------------


def mixture_cdf_1d(
    y: npt.ArrayLike, weights: npt.ArrayLike, means: npt.ArrayLike, sds: npt.ArrayLike
) -> FloatArray:
    r"""CDF of the 1-D mixture :math:`\sum_j w_j N(m_j, s_j^2)`, broadcast.

    Parameters
    ----------
    y : array_like, shape (...)
        Points.
    weights, means, sds : array_like, shape (..., K)
        Mixture weights, means and standard deviations; the leading axes
        broadcast with ``y``.

    Returns
    -------
    numpy.ndarray, shape (...)
        :math:`F(y) = \sum_j w_j \Phi((y - m_j)/s_j)`.
    """
    yy = np.asarray(y, dtype=np.float64)[..., None]
    z = (yy - np.asarray(means)) / np.asarray(sds)
    return np.asarray(np.sum(np.asarray(weights) * ndtr(z), axis=-1))


def mixture_quantile_1d(
    q: npt.ArrayLike,
    weights: npt.ArrayLike,
    means: npt.ArrayLike,
    sds: npt.ArrayLike,
    rtol: float = 1e-13,
) -> FloatArray:
    r"""Quantile function of 1-D Gaussian mixtures, vectorised.

    Solves :math:`F(y) = q` for each level by safeguarded Newton iteration
    (bisection whenever a Newton step leaves the current bracket) inside a
    bracket found on a 2049-point grid of the CDF spanning
    :math:`[\min_j(m_j - 40 s_j), \max_j(m_j + 40 s_j)]`; the CDF is monotone so
    the root is unique. Iterates until the bracket or the Newton step is below
    ``rtol`` times the mixture's scale (at most 100 iterations).

    Parameters
    ----------
    q : array_like, shape (P, Q) or (Q,)
        Levels in (0, 1).
    weights, means, sds : array_like, shape (P, K) or (K,)
        One mixture per row (``P`` mixtures); standard deviations > 0.
    rtol : float, default 1e-13
        Relative tolerance.

    Returns
    -------
    numpy.ndarray, shape (P, Q) or (Q,)
        Quantiles.
    """
    qa = np.asarray(q, dtype=np.float64)
    single = qa.ndim == 1 and np.ndim(means) == 1
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    m = np.atleast_2d(np.asarray(means, dtype=np.float64))
    s = np.atleast_2d(np.asarray(sds, dtype=np.float64))
    P = max(w.shape[0], m.shape[0], s.shape[0])
    w, m, s = (np.broadcast_to(a, (P, a.shape[-1])) for a in (w, m, s))
    qa = np.broadcast_to(np.atleast_2d(qa), (P, qa.shape[-1]))
    if np.any(qa <= 0.0) or np.any(qa >= 1.0):
        raise ValueError("q must lie strictly between 0 and 1")
    out = np.empty(qa.shape)
    G = 2049
    for p in range(P):
        lo_y = float(np.min(m[p] - 40.0 * s[p]))
        hi_y = float(np.max(m[p] + 40.0 * s[p]))
        scale = float(np.max(np.abs(m[p])) + np.max(s[p]))
        grid = np.linspace(lo_y, hi_y, G)
        Fg = mixture_cdf_1d(grid, w[p], m[p], s[p])
        qp = qa[p]
        idx = np.clip(np.searchsorted(Fg, qp, side="left"), 1, G - 1)
        a = grid[idx - 1].copy()
        b = grid[idx].copy()
        Fa, Fb = Fg[idx - 1], Fg[idx]
        frac = np.where(Fb > Fa, (qp - Fa) / np.where(Fb > Fa, Fb - Fa, 1.0), 0.5)
        y = a + np.clip(frac, 0.0, 1.0) * (b - a)
        active = np.arange(qp.size)
        tol = rtol * scale
        for _ in range(100):
            ya = y[active]
            z = (ya[:, None] - m[p]) / s[p]
            F = np.sum(w[p] * ndtr(z), axis=-1)
            dens = np.sum(w[p] * _phi(z) / s[p], axis=-1)
            r = F - qp[active]
            # update the bracket
            aa, bb = a[active], b[active]
            aa = np.where(r < 0.0, ya, aa)
            bb = np.where(r > 0.0, ya, bb)
            with np.errstate(divide="ignore", invalid="ignore"):
                step = np.where(dens > 0.0, r / dens, np.inf)
            ynew = ya - step
            bad = ~((ynew >= aa) & (ynew <= bb))
            ynew = np.where(bad, 0.5 * (aa + bb), ynew)
            ynew = np.where(r == 0.0, ya, ynew)
            a[active], b[active] = aa, bb
            y[active] = ynew
            done = (np.abs(ynew - ya) <= tol) | ((bb - aa) <= tol) | (r == 0.0)
            active = active[~done]
            if active.size == 0:
                break
        out[p] = y
    return out[0] if single else out


def _bin_moments(
    edges: FloatArray, w: FloatArray, m: FloatArray, s: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Mass, first and second moments of a 1-D mixture on consecutive bins.

    ``edges`` (Q + 1,) increasing, may start at -inf and end at +inf. Closed
    forms per component, with :math:`z = (y - m)/s`:
    :math:`\int_a^b y\,dN = m\Delta\Phi + s(\phi(z_a) - \phi(z_b))` and
    :math:`\int_a^b y^2 dN = m^2\Delta\Phi + 2 m s(\phi_a - \phi_b) +
    s^2(\Delta\Phi + z_a\phi_a - z_b\phi_b)`.
    """
    z = (edges[:, None] - m[None, :]) / s[None, :]
    zf = np.where(np.isfinite(z), z, 0.0)
    ph = np.where(np.isfinite(z), _phi(zf), 0.0)
    zph = zf * ph
    za, zb = z[:-1], z[1:]
    dP = _dPhi(za, zb)
    dph = ph[:-1] - ph[1:]
    dzph = zph[:-1] - zph[1:]
    M0 = dP @ w
    M1 = (m * dP + s * dph) @ w
    M2 = (m * m * dP + 2.0 * m * s * dph + s * s * (dP + dzph)) @ w
    return M0, M1, M2


def _w2sq_1d_sorted(
    xs: FloatArray, w: FloatArray, m: FloatArray, s: FloatArray
) -> tuple[float, FloatArray]:
    r"""Exact :math:`W_2^2` between the empirical measure of sorted ``xs`` and a
    1-D mixture, and the Kantorovich potential at the atoms (centred).

    The monotone coupling sends atom :math:`x_{(i)}` to the quantile bin
    :math:`(F^{-1}((i-1)/n), F^{-1}(i/n)]`, so
    :math:`W_2^2 = \sum_i \int_{bin_i} (x_{(i)} - y)^2 dF(y)`, integrated in closed
    form. The potential :math:`\varphi` (first variation of :math:`W_2^2` in the
    first argument) satisfies :math:`\varphi' = 2(x - T(x))`; it is integrated
    with the trapezoid rule using the bin conditional means as :math:`T(x_{(i)})`.
    """
    n = xs.shape[0]
    if n == 1:
        inner = np.empty(0)
    else:
        levels = np.arange(1, n, dtype=np.float64) / n
        inner = mixture_quantile_1d(levels, w, m, s)
    edges = np.concatenate(([-np.inf], inner, [np.inf]))
    M0, M1, M2 = _bin_moments(edges, w, m, s)
    M0 = np.maximum(M0, 1e-300)
    c = M1 / M0
    var = np.maximum(M2 / M0 - c * c, 0.0)
    # normalise the mass of each bin to exactly 1/n (root-finding accuracy)
    terms = ((xs - c) ** 2 + var) / n
    w2sq = float(np.sum(terms))
    g = 2.0 * (xs - c)
    pot = np.concatenate(([0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(xs))))
    pot -= pot.mean()
    return w2sq, pot


def _projected_mixture(
    target: Target, U: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Weights, means, sds (P, K) of the 1-D projections u^T X for rows u of U."""
    covs = target.full_covariances()
    means = U @ target.means.T  # (P, K)
    var = np.einsum("pi,kij,pj->pk", U, covs, U)
    sds = np.sqrt(np.maximum(var, 1e-300))
    w = np.broadcast_to(target.weights, means.shape)
    return np.asarray(w), means, sds


# ---------------------------------------------------------------------------
# empirical Wasserstein estimators
# ---------------------------------------------------------------------------


def w2_1d(
    samples: npt.ArrayLike, target: Target, squared: bool = False
) -> tuple[float, float]:
    r"""Exact :math:`W_2` between the empirical measure of 1-D samples and a 1-D
    target, with a standard error.

    .. math::

        W_2^2(P_n, Q) = \int_0^1 (F_n^{-1}(q) - F_Q^{-1}(q))^2 dq
        = \sum_{i=1}^n \int_{F_Q^{-1}((i-1)/n)}^{F_Q^{-1}(i/n)} (x_{(i)} - y)^2
          dF_Q(y),

    computed exactly: the :math:`n - 1` quantiles of the mixture :math:`Q` by
    safeguarded Newton (:func:`mixture_quantile_1d`), the integrals over each
    quantile bin in closed form from the Gaussian partial moments.

    Parameters
    ----------
    samples : array_like, shape (n,) or (n, 1)
        Samples of :math:`P`.
    target : Gaussian or GaussianMixture
        One-dimensional target :math:`Q`.
    squared : bool, default False
        Return :math:`W_2^2` (and its SE) instead of :math:`W_2`.

    Returns
    -------
    estimate, se : float
        :math:`W_2(P_n, Q)` and its standard error.

    Notes
    -----
    *Bias and consistency.* :math:`W_2(P_n, Q) \to W_2(P, Q)` almost surely. The
    squared distance is biased upwards: :math:`E W_2^2(P_n, Q) - W_2^2(P, Q)` is
    :math:`O(1/n)` for :math:`P \ne Q` with smooth densities and, for
    :math:`P = Q` Gaussian, of order :math:`\log\log n / n`.

    *Standard error.* First order (delta method): the influence function of
    :math:`W_2^2(\cdot, Q)` at :math:`P` is the centred Kantorovich potential
    :math:`\varphi` (:math:`\varphi' = 2(x - T(x))`, :math:`T` the monotone
    map), so :math:`\mathrm{SE}^2 = \widehat{\mathrm{Var}}\,\varphi(X)/n`
    (del Barrio & Loubes 2019). It describes the fluctuation of the estimate
    about its mean, not the bias; it vanishes to first order when :math:`P =
    Q`. The SE of :math:`W_2` is the image of the one-SE interval of
    :math:`W_2^2` under the square root.

    Cost: :math:`O(n K)` per Newton iteration (about 5) after an
    :math:`O(n \log n)` sort.

    References
    ----------
    .. [1] E. del Barrio, J.-M. Loubes, "Central limit theorems for empirical
       transportation cost in general dimension", Ann. Probab. 47(2), 2019.
    .. [2] S. Bobkov, M. Ledoux, "One-dimensional empirical measures, order
       statistics, and Kantorovich transport distances", Mem. AMS 261, 2019.
    """
    target = check_target(target)
    if target.dim != 1:
        raise ValueError(f"target must be one-dimensional, got dimension {target.dim}")
    x = _check_samples(samples, 1)[:, 0]
    n = x.shape[0]
    order = np.argsort(x, kind="stable")
    xs = x[order]
    w, m, s = _projected_mixture(target, np.ones((1, 1)))
    w2sq, pot = _w2sq_1d_sorted(xs, w[0], m[0], s[0])
    se2 = float(np.std(pot, ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    if squared:
        return w2sq, se2
    return _sqrt_with_se(w2sq, se2)


def sliced_w2(
    samples: npt.ArrayLike,
    target: Target,
    n_projections: int = 64,
    seed: Any = 0,
    squared: bool = False,
) -> tuple[float, float]:
    r"""Sliced :math:`W_2` between the samples and the exact target, with SE.

    .. math::

        SW_2^2(P_n, Q) = \mathbb E_{u \sim \mathrm{Unif}(S^{d-1})}
        W_2^2(u_\# P_n, u_\# Q),

    estimated with ``n_projections`` random directions. Each projection of a
    mixture :math:`\sum_j w_j N(\mu_j, \Sigma_j)` is the 1-D mixture
    :math:`\sum_j w_j N(u^\top\mu_j, u^\top\Sigma_j u)`, and each 1-D distance
    is computed exactly as in :func:`w2_1d` (exact quantiles, closed-form
    integrals over quantile bins) — no second sample cloud.

    Parameters
    ----------
    samples : array_like, shape (n, d)
        Samples of :math:`P`.
    target : Gaussian or GaussianMixture
        Target :math:`Q` of dimension d.
    n_projections : int, default 64
        Number of random directions (uniform on the sphere).
    seed : int or numpy.random.SeedSequence, default 0
        Seed of the directions.
    squared : bool, default False
        Return :math:`SW_2^2` (and its SE) instead of :math:`SW_2`.

    Returns
    -------
    estimate, se : float

    Notes
    -----
    *Bias and consistency.* Unbiased over the directions for
    :math:`SW_2^2(P_n, Q)`; as an estimate of :math:`SW_2^2(P, Q)` it is
    consistent with the upward :math:`O(1/n)`-type bias of the 1-D plug-in
    estimator (see :func:`w2_1d`).

    *Standard error.* The variance is split by conditioning on the directions
    :math:`U`: :math:`\mathrm{Var} = E[\mathrm{Var}(\cdot|U)] +
    \mathrm{Var}(E[\cdot|U])`. The first (sampling noise at fixed directions,
    the directions sharing the same samples) is estimated to first order by
    :math:`\widehat{\mathrm{Var}}_i\bar\varphi(X_i)/n`, where
    :math:`\bar\varphi = P^{-1}\sum_p \varphi_p(u_p^\top x)` is the average of
    the 1-D Kantorovich potentials (the influence function of the sliced
    distance); the second (direction noise) by the sample variance of the
    per-direction distances over ``n_projections``. The reported SE is the
    square root of their sum; like :func:`w2_1d` it does not include the
    bias, and it is accurate when :math:`SW_2^2 \gg 1/\sqrt n`.

    Cost: ``n_projections`` times :func:`w2_1d` on n points.
    """
    target = check_target(target)
    d = target.dim
    x = _check_samples(samples, d)
    P, ss = _sliced_w2_options(n_projections, seed, squared)
    n = x.shape[0]
    rng = np.random.default_rng(ss)
    U = rng.standard_normal((P, d))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    w, m, s = _projected_mixture(target, U)
    proj = x @ U.T  # (n, P)
    vals = np.empty(P)
    pot_avg = np.zeros(n)
    for p in range(P):
        order = np.argsort(proj[:, p], kind="stable")
        vals[p], pot = _w2sq_1d_sorted(proj[order, p], w[p], m[p], s[p])
        pot_avg[order] += pot / P
    est2 = float(np.mean(vals))
    var_dir = float(np.var(vals, ddof=1) / P) if P > 1 else 0.0
    var_samp = float(np.var(pot_avg, ddof=1) / n) if n > 1 else math.inf
    se2 = math.sqrt(var_dir + var_samp)
    if squared:
        return est2, se2
    return _sqrt_with_se(est2, se2)


def gelbrich_w2(
    samples: npt.ArrayLike,
    target: Target,
    groups: int = 32,
    squared: bool = False,
) -> tuple[float, float]:
    r"""Gelbrich lower bound of :math:`W_2(P, Q)` from sample moments, with SE.

    Gelbrich's bound: for any laws with means :math:`m_P, m_Q` and covariances
    :math:`S_P, S_Q`, :math:`W_2(P, Q) \ge W_2(N(m_P, S_P), N(m_Q, S_Q))` (the
    Bures--Wasserstein distance of the moments), with equality when both are
    Gaussian. Here :math:`m_Q, S_Q` are the target's exact moments and
    :math:`m_P, S_P` are estimated by the sample mean and the unbiased sample
    covariance.

    Parameters
    ----------
    samples : array_like, shape (n, d)
        Samples of :math:`P` (n >= 2 * groups).
    target : Gaussian or GaussianMixture
        Target :math:`Q`.
    groups : int, default 32
        Number of groups of the delete-a-group jackknife (>= 2).
    squared : bool, default False
        Return the squared bound (and its SE).

    Returns
    -------
    estimate, se : float

    Notes
    -----
    *Bias correction.* The plug-in :math:`\theta(\hat m, \hat S)` of the smooth
    function :math:`\theta = W_2^2(N(\cdot,\cdot), N(m_Q, S_Q))` has bias
    :math:`b/n + O(n^{-2})` (mostly :math:`\operatorname{tr} S_P / n` from the
    mean term, plus the curvature of the Bures term). The sample is split into
    ``G = groups`` groups; with :math:`\hat\theta_{(-g)}` the plug-in without
    group g (sample size :math:`n(G-1)/G`), the jackknife estimate
    :math:`G\hat\theta - (G-1)\overline{\hat\theta_{(-g)}}` cancels the
    :math:`1/n` term exactly, and :math:`\mathrm{SE}^2 = \frac{G-1}{G}
    \sum_g (\hat\theta_{(-g)} - \overline{\hat\theta_{(-\cdot)}})^2` (Efron &
    Stein; about G - 1 degrees of freedom). The distance is the square root of
    the (clamped) squared estimate; its SE is the image of the one-SE
    interval. At :math:`P = Q` the corrected squared estimate is centred at 0
    to :math:`O(n^{-2})` and may be negative (reported as 0 for the distance).

    Cost: :math:`O(n d^2)` for the group moments plus ``groups + 1`` Bures
    distances (:math:`O(d^3)` each).

    References
    ----------
    .. [1] M. Gelbrich, "On a formula for the L2 Wasserstein metric between
       measures on Euclidean and Hilbert spaces", Math. Nachr. 147, 1990.
    .. [2] B. Efron, C. Stein, "The jackknife estimate of variance", Ann.
       Statist. 9(3), 1981.
    """
    target = check_target(target)
    d = target.dim
    x = _check_samples(samples, d)
    G = _gelbrich_w2_options(groups, squared)
    n = x.shape[0]
    if n < 2 * G:
        raise ValueError(
            f"samples must have at least 2 * groups = {2 * G} rows, got {n}"
        )
    mQ, SQ = target.mean, target.cov
    labels = np.arange(n) % G
    cnt = np.bincount(labels, minlength=G).astype(np.float64)
    sums = np.zeros((G, d))
    np.add.at(sums, labels, x)
    # centred at the overall mean for numerical stability
    mu = x.mean(axis=0)
    xc = x - mu
    outer = np.zeros((G, d, d))
    for g in range(G):
        xg = xc[labels == g]
        outer[g] = xg.T @ xg
    sums_c = sums - cnt[:, None] * mu

    def theta(k: float, s1: FloatArray, s2: FloatArray) -> float:
        mean_c = s1 / k
        cov = (s2 - k * np.outer(mean_c, mean_c)) / (k - 1.0)
        cov = 0.5 * (cov + cov.T)
        return float(w2_gaussian_squared(mu + mean_c, cov, mQ, SQ))

    tot1, tot2 = sums_c.sum(axis=0), outer.sum(axis=0)
    full = theta(float(n), tot1, tot2)
    loo = np.array(
        [theta(n - cnt[g], tot1 - sums_c[g], tot2 - outer[g]) for g in range(G)]
    )
    est2 = G * full - (G - 1) * float(loo.mean())
    se2 = math.sqrt((G - 1) / G * float(np.sum((loo - loo.mean()) ** 2)))
    if squared:
        return est2, se2
    return _sqrt_with_se(est2, se2)


# ---------------------------------------------------------------------------
# MMD
# ---------------------------------------------------------------------------


def _gauss_conv(
    x: FloatArray, means: FloatArray, covs: FloatArray, weights: FloatArray, h: float
) -> FloatArray:
    r""":math:`\sum_j w_j E\,k(x, Y_j)`, :math:`Y_j \sim N(m_j, S_j)`, for rows x.

    :math:`E k(x, Y) = h^d \det(h^2 I + S)^{-1/2}
    \exp(-\tfrac12 (x - m)^\top (h^2 I + S)^{-1} (x - m))`.
    """
    n, d = x.shape
    out = np.zeros(n)
    eye = np.eye(d)
    for wj, mj, Sj in zip(weights, means, covs):
        L = np.linalg.cholesky(h * h * eye + Sj)
        z = np.linalg.solve(L, (x - mj).T)  # (d, n)
        logc = d * math.log(h) - float(np.sum(np.log(np.diag(L))))
        out += wj * np.exp(logc - 0.5 * np.sum(z * z, axis=0))
    return out


def mmd(
    samples: npt.ArrayLike,
    target: Target,
    bandwidth: float,
    block: int = 1024,
) -> tuple[float, float]:
    r"""Unbiased squared MMD with a Gaussian kernel against the exact target.

    Kernel :math:`k(x, y) = \exp(-|x - y|^2 / (2h^2))`. With
    :math:`g(x) = E_{Y\sim Q} k(x, Y)` and :math:`c = E k(Y, Y')` in closed form
    for the mixture :math:`Q = \sum_j w_j N(m_j, S_j)`,

    .. math::

        g(x) = \sum_j w_j h^d \det(h^2 I + S_j)^{-1/2}
               e^{-\frac12 (x - m_j)^\top (h^2 I + S_j)^{-1} (x - m_j)},\quad
        c = \sum_{j,k} w_j w_k h^d \det(h^2 I + S_j + S_k)^{-1/2}
            e^{-\frac12 (m_j - m_k)^\top (h^2 I + S_j + S_k)^{-1}(m_j - m_k)},

    the estimate is the U-statistic
    :math:`\widehat{\mathrm{MMD}^2} = \frac{1}{n(n-1)} \sum_{i \ne j} H(x_i, x_j)`
    with :math:`H(x, x') = k(x, x') - g(x) - g(x') + c`, which is exactly
    unbiased for :math:`\mathrm{MMD}^2(P, Q)` (it may be negative).

    Parameters
    ----------
    samples : array_like, shape (n, d)
        Samples of :math:`P`, n >= 2.
    target : Gaussian or GaussianMixture
        Target :math:`Q`.
    bandwidth : float
        Kernel bandwidth h > 0.
    block : int, default 1024
        Rows of the kernel matrix formed at once (memory ``block * n * 8``
        bytes).

    Returns
    -------
    mmd2, se : float
        The unbiased estimate of :math:`\mathrm{MMD}^2` and its standard error.

    Notes
    -----
    *Standard error.* Hoeffding's exact variance of a degree-2 U-statistic,
    :math:`\mathrm{Var} = \frac{4(n-2)}{n(n-1)}\zeta_1 + \frac{2}{n(n-1)}
    \zeta_2`, with :math:`\zeta_1 = \mathrm{Var}\,E[H(X, X')|X]` estimated by
    the variance of the leave-one-out row means of :math:`H` and
    :math:`\zeta_2 = \mathrm{Var}\,H(X, X')` by the empirical variance over
    pairs. Both terms are kept, so the SE stays valid at :math:`P = Q`, where
    :math:`\zeta_1 = 0` and the statistic is degenerate (its law is then a
    weighted chi-square, not normal; the SE is still its standard deviation).

    Cost: :math:`O(n^2 d)` time, :math:`O(\text{block}\cdot n)` memory.

    References
    ----------
    .. [1] A. Gretton et al., "A kernel two-sample test", JMLR 13, 2012.
    .. [2] W. Hoeffding, "A class of statistics with asymptotically normal
       distribution", Ann. Math. Statist. 19(3), 1948.
    """
    target = check_target(target)
    d = target.dim
    x = _check_samples(samples, d)
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"samples must have at least 2 rows, got {n}")
    h, blk = _mmd_options(bandwidth, block)
    covs = target.full_covariances()
    wts, mus = target.weights, target.means
    g = _gauss_conv(x, mus, covs, wts, h)
    c = 0.0
    eye = np.eye(d)
    for j in range(len(wts)):
        for k in range(len(wts)):
            L = np.linalg.cholesky(h * h * eye + covs[j] + covs[k])
            z = np.linalg.solve(L, mus[j] - mus[k])
            logc = d * math.log(h) - float(np.sum(np.log(np.diag(L))))
            c += wts[j] * wts[k] * math.exp(logc - 0.5 * float(z @ z))
    sq = np.sum(x * x, axis=1)
    row_H = np.zeros(n)
    sum_H2 = 0.0
    inv = 1.0 / (2.0 * h * h)
    for i0 in range(0, n, blk):
        i1 = min(n, i0 + blk)
        D2 = sq[i0:i1, None] + sq[None, :] - 2.0 * (x[i0:i1] @ x.T)
        np.maximum(D2, 0.0, out=D2)
        K = np.exp(-inv * D2)
        H = K - g[i0:i1, None] - g[None, :] + c
        H[np.arange(i1 - i0), np.arange(i0, i1)] = 0.0
        row_H[i0:i1] = H.sum(axis=1)
        sum_H2 += float(np.sum(H * H))
    npairs = n * (n - 1)
    U = float(row_H.sum() / npairs)
    h1 = row_H / (n - 1)
    zeta1 = float(np.var(h1, ddof=1)) if n > 2 else 0.0
    zeta2 = max(sum_H2 / npairs - U * U, 0.0)
    var = 4.0 * (n - 2) / npairs * zeta1 + 2.0 / npairs * zeta2
    return U, math.sqrt(max(var, 0.0))


# ---------------------------------------------------------------------------
# exact OT between clouds (POT)
# ---------------------------------------------------------------------------


def w2_empirical(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    squared: bool = False,
    num_iter_max: int = 10_000_000,
) -> tuple[float, float]:
    r"""Exact :math:`W_2` between two sample clouds (uniform weights), via POT.

    Solves the discrete optimal transport problem with squared Euclidean cost
    exactly (network simplex, ``ot.emd2``); :math:`O(n^3)`-ish, use for n up to
    a few thousand.

    Parameters
    ----------
    a : array_like, shape (n, d)
        Samples of :math:`P`.
    b : array_like, shape (m, d)
        Samples of :math:`Q`.
    squared : bool, default False
        Return :math:`W_2^2` (and its SE).
    num_iter_max : int, default 10_000_000
        Iteration cap of the network simplex.

    Returns
    -------
    estimate, se : float

    Raises
    ------
    ImportError
        If POT is not installed (``pip install pot`` or
        ``pip install scorelab[ot]``).

    Notes
    -----
    *Bias.* :math:`W_2(P_n, Q_m)` is biased upwards as an estimate of
    :math:`W_2(P, Q)`, by an amount that decays like :math:`n^{-2/d}` in
    dimension :math:`d \ge 5` (curse of dimensionality): in moderate dimension it
    mostly measures the sampling noise.

    *Standard error.* First order, from the dual potentials :math:`(f, g)`
    returned by the solver: :math:`\mathrm{SE}^2 = \widehat{\mathrm{Var}} f(a_i)/n
    + \widehat{\mathrm{Var}} g(b_j)/m` (the CLT of del Barrio & Loubes 2019,
    centred at :math:`E W_2^2(P_n, Q_m)`, not at the true value).

    References
    ----------
    .. [1] R. Flamary et al., "POT: Python Optimal Transport", JMLR 22, 2021.
    """
    try:
        import ot  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "w2_empirical needs the optional dependency POT: "
            "pip install pot  (or: pip install 'scorelab[ot]')"
        ) from exc
    A = as_float_array(a, "a", ndim=2)
    B = as_float_array(b, "b", ndim=2)
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"b must have {A.shape[1]} columns to match a of shape {A.shape}, "
            f"got {B.shape}"
        )
    itmax = _w2_empirical_options(num_iter_max)
    n, m = A.shape[0], B.shape[0]
    wa = np.full(n, 1.0 / n)
    wb = np.full(m, 1.0 / m)
    M = ot.dist(A, B, metric="sqeuclidean")
    cost, log = ot.emd2(wa, wb, M, numItermax=itmax, log=True)
    if log.get("warning") is not None:
        raise RuntimeError(f"ot.emd2 did not converge: {log['warning']}")
    u = np.asarray(log["u"], dtype=np.float64)
    v = np.asarray(log["v"], dtype=np.float64)
    var = 0.0
    if n > 1:
        var += float(np.var(u, ddof=1)) / n
    if m > 1:
        var += float(np.var(v, ddof=1)) / m
    est2 = float(cost)
    se2 = math.sqrt(var)
    if squared:
        return est2, se2
    return _sqrt_with_se(est2, se2)


# ---------------------------------------------------------------------------
# total variation between Gaussians
# ---------------------------------------------------------------------------


def _scalar(x: Any, name: str) -> float:
    v = as_float_array(x, name)
    if v.size != 1:
        raise ValueError(f"{name} must be a scalar, got shape {v.shape}")
    return float(v.reshape(()))


def tv_gaussian_1d(m1: float, s1: float, m2: float, s2: float) -> float:
    r"""Exact total variation between :math:`N(m_1, s_1^2)` and :math:`N(m_2, s_2^2)`.

    ``s1`` and ``s2`` are *standard deviations*. With equal scales,
    :math:`\mathrm{TV} = \operatorname{erf}(|m_1 - m_2| / (2\sqrt2 s))`.
    Otherwise the densities cross at the two roots :math:`r_1 < r_2` of
    :math:`\frac{(x - m_2)^2}{2s_2^2} - \frac{(x - m_1)^2}{2s_1^2} +
    \log\frac{s_2}{s_1} = 0` and :math:`\mathrm{TV} = |[\Phi_1]_{r_1}^{r_2} -
    [\Phi_2]_{r_1}^{r_2}|` (the set where the narrower density is larger is
    :math:`(r_1, r_2)`). Differences of :math:`\Phi` are taken in the tail
    where they do not cancel.

    Parameters
    ----------
    m1, s1, m2, s2 : float
        Means and standard deviations (> 0).

    Returns
    -------
    float
        :math:`\mathrm{TV} = \sup_A |P(A) - Q(A)| \in [0, 1]`.
    """
    a1, b1 = _scalar(m1, "m1"), _scalar(s1, "s1")
    a2, b2 = _scalar(m2, "m2"), _scalar(s2, "s2")
    if b1 <= 0.0:
        raise ValueError(f"s1 must be > 0, got {s1!r}")
    if b2 <= 0.0:
        raise ValueError(f"s2 must be > 0, got {s2!r}")
    if b1 == b2:
        return float(math.erf(abs(a1 - a2) / (2.0 * math.sqrt(2.0) * b1)))
    # quadratic A x^2 + B x + C = 0
    A = 0.5 / b2**2 - 0.5 / b1**2
    B = a1 / b1**2 - a2 / b2**2
    C = 0.5 * a2**2 / b2**2 - 0.5 * a1**2 / b1**2 + math.log(b2 / b1)
    disc = max(B * B - 4.0 * A * C, 0.0)
    sq = math.sqrt(disc)
    qv = -0.5 * (B + math.copysign(sq, B))
    roots = sorted([qv / A, C / qv if qv != 0.0 else qv / A])
    z = np.array([[(r - a1) / b1 for r in roots], [(r - a2) / b2 for r in roots]])
    d1 = float(_dPhi(np.array(z[0, 0]), np.array(z[0, 1])))
    d2 = float(_dPhi(np.array(z[1, 0]), np.array(z[1, 1])))
    return float(min(max(abs(d1 - d2), 0.0), 1.0))


def tv_gaussian_bounds(
    m1: npt.ArrayLike,
    S1: npt.ArrayLike,
    m2: npt.ArrayLike,
    S2: npt.ArrayLike,
    dmr: bool = True,
) -> tuple[float, float]:
    r"""Two-sided bounds on :math:`\mathrm{TV}(N(m_1, S_1), N(m_2, S_2))`.

    Lower bounds (the largest is returned):

    - Hellinger: :math:`\mathrm{TV} \ge 1 - \mathrm{BC}` with the
      Bhattacharyya coefficient :math:`\mathrm{BC} = \frac{\det S_1^{1/4}\det
      S_2^{1/4}}{\det \bar S^{1/2}} e^{-\frac18 \Delta^\top \bar S^{-1}\Delta}`,
      :math:`\bar S = (S_1 + S_2)/2`, :math:`\Delta = m_1 - m_2`;
    - projections (data processing): :math:`\mathrm{TV} \ge
      \mathrm{TV}(u^\top X, u^\top Y)`, exact in 1-D (:func:`tv_gaussian_1d`),
      for :math:`u` the Fisher direction :math:`\bar S^{-1}\Delta`, the mean
      difference and the generalised eigenvectors of :math:`(S_2, S_1)`;
    - Devroye--Mehrabian--Reddad (same mean only, ``dmr=True``):
      :math:`\mathrm{TV} \ge \frac{1}{100}\min(1, \lVert\lambda\rVert_2)`,
      :math:`\lambda` the eigenvalues of :math:`S_1^{-1}S_2 - I`.

    Upper bounds (the smallest is returned): 1; Hellinger
    :math:`\sqrt{1 - \mathrm{BC}^2}`; Pinsker :math:`\sqrt{\mathrm{KL}/2}` and
    Bretagnolle--Huber :math:`\sqrt{1 - e^{-\mathrm{KL}}}` with the smaller of
    the two KL divergences; and (``dmr=True``) the triangle inequality through
    :math:`N(m_2, S_1)`: :math:`\operatorname{erf}(\lVert\Delta\rVert_{S_1}/
    (2\sqrt2)) + \frac32\min(1, \lVert\lambda\rVert_2)` (and with the roles
    swapped).

    In one dimension both bounds equal the exact value.

    Parameters
    ----------
    m1, m2 : array_like, shape (d,)
        Means.
    S1, S2 : array_like, shape (d, d)
        Symmetric positive definite covariances.
    dmr : bool, default True
        Use the Devroye--Mehrabian--Reddad constants 1/100 and 3/2 (Theorem 1.1
        of arXiv:1810.08693, same-mean case; the constants are quoted from
        memory of the paper, [recall]; they are checked against the exact 1-D
        value in the tests). With ``dmr=False`` only classical inequalities with
        exact constants are used.

    Returns
    -------
    lower, upper : float

    References
    ----------
    .. [1] L. Devroye, A. Mehrabian, T. Reddad, "The total variation distance
       between high-dimensional Gaussians with the same mean",
       arXiv:1810.08693.
    .. [2] A. B. Tsybakov, "Introduction to Nonparametric Estimation",
       Springer 2009, Sections 2.4 (Le Cam, Pinsker, Bretagnolle--Huber).
    """
    a1 = as_float_array(m1, "m1", ndim=1)
    d = a1.shape[0]
    A1 = check_spd(as_float_array(S1, "S1", shape=(d, d)), "S1")
    a2 = as_float_array(m2, "m2", shape=(d,))
    A2 = check_spd(as_float_array(S2, "S2", shape=(d, d)), "S2")
    if d == 1:
        tv = tv_gaussian_1d(a1[0], math.sqrt(A1[0, 0]), a2[0], math.sqrt(A2[0, 0]))
        return tv, tv
    delta = a1 - a2
    Sbar = 0.5 * (A1 + A2)
    _, ld1 = np.linalg.slogdet(A1)
    _, ld2 = np.linalg.slogdet(A2)
    _, ldb = np.linalg.slogdet(Sbar)
    maha_bar = float(delta @ np.linalg.solve(Sbar, delta))
    log_bc = 0.25 * (ld1 + ld2) - 0.5 * ldb - 0.125 * maha_bar
    bc = math.exp(min(log_bc, 0.0))
    lower = 1.0 - bc
    upper = math.sqrt(max(1.0 - bc * bc, 0.0))
    kl = min(
        float(kl_gaussian(a1, A1, a2, A2)),
        float(kl_gaussian(a2, A2, a1, A1)),
    )
    upper = min(upper, 1.0, math.sqrt(kl / 2.0), math.sqrt(-math.expm1(-kl)))
    # projections
    dirs = []
    if np.any(delta != 0.0):
        dirs.append(np.linalg.solve(Sbar, delta))
        dirs.append(delta)
    L1 = np.linalg.cholesky(A1)
    Li = np.linalg.inv(L1)
    lam, V = np.linalg.eigh(Li @ A2 @ Li.T)
    gen = Li.T @ V  # generalised eigenvectors of (S2, S1)
    dirs.extend(gen.T)
    for u in dirs:
        nu = float(np.linalg.norm(u))
        if nu == 0.0:
            continue
        u = u / nu
        lower = max(
            lower,
            tv_gaussian_1d(
                float(u @ a1),
                math.sqrt(float(u @ A1 @ u)),
                float(u @ a2),
                math.sqrt(float(u @ A2 @ u)),
            ),
        )
    if dmr:
        lam_norm = min(
            float(np.linalg.norm(lam - 1.0)), float(np.linalg.norm(1.0 / lam - 1.0))
        )
        if not np.any(delta != 0.0):
            lower = max(lower, min(1.0, lam_norm) / 100.0)
        # triangle through N(m2, S1) and through N(m1, S2)
        L2 = np.linalg.cholesky(A2)
        z1 = np.linalg.solve(L1, delta)
        z2 = np.linalg.solve(L2, delta)
        mean_tv1 = math.erf(float(np.linalg.norm(z1)) / (2.0 * math.sqrt(2.0)))
        mean_tv2 = math.erf(float(np.linalg.norm(z2)) / (2.0 * math.sqrt(2.0)))
        cov_tv = 1.5 * min(1.0, lam_norm)
        upper = min(upper, min(mean_tv1, mean_tv2) + cov_tv)
    lower = min(max(lower, 0.0), 1.0)
    upper = max(upper, lower)
    return lower, upper
