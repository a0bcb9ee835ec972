r"""Closed-form distances between Gaussian distributions.

Functions here take means of shape ``(..., d)`` and covariances of shape
``(..., d, d)`` and broadcast over the leading (batch) axes with the usual NumPy
rules, so one reference Gaussian can be compared with a whole batch at once.
Unbatched inputs give a Python ``float``.

- :func:`w2_gaussian`, :func:`w2_gaussian_squared`: 2-Wasserstein distance
  (Bures--Wasserstein), for positive *semi*-definite covariances;
- :func:`kl_gaussian`: Kullback--Leibler divergence, for positive definite
  covariances.

All computations are in ``float64`` with symmetric eigensolvers and Cholesky
factorisations only. Near-equal pairs avoid the cancellation of the textbook
formulas (they work from the difference of the covariances), so W2 and KL keep
their relative accuracy as they tend to 0; the functions' notes state the
precision limits.

References
----------
.. [1] D. C. Dowson and B. V. Landau, "The Fréchet distance between
   multivariate normal distributions", J. Multivariate Anal. 12(3):450-455, 1982.
.. [2] R. Bhatia, T. Jain and Y. Lim, "On the Bures-Wasserstein distance between
   positive definite matrices", Expo. Math. 37(2):165-191, 2019.
.. [3] G. Peyré and M. Cuturi, "Computational Optimal Transport", Found. Trends
   Mach. Learn. 11(5-6), 2019, Remark 2.31.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ._runtime import default_threads
from ._validate import as_float_array, check_psd, check_spd_cholesky, check_square

__all__ = ["kl_gaussian", "w2_gaussian", "w2_gaussian_squared"]

_Float = npt.NDArray[np.float64]


def _as_result(x: _Float) -> _Float | float:
    """Return a Python float for 0-d results, else the array itself."""
    if x.ndim == 0:
        return float(x)
    return x


def _structured(m1: Any, S1: Any, m2: Any, S2: Any, fn: str) -> tuple[Any, Any] | None:
    """The two laws when called as ``fn(law1, law2)`` with scorelab Gaussians.

    Returns None for the array form ``fn(m1, S1, m2, S2)``.
    """
    from .targets import Gaussian

    if not isinstance(m1, Gaussian):
        if m2 is None or S2 is None:
            raise TypeError(
                f"{fn} takes (m1, S1, m2, S2) arrays or two scorelab Gaussians"
            )
        return None
    if not isinstance(S1, Gaussian) or m2 is not None or S2 is not None:
        raise TypeError(f"{fn}(law1, law2) needs two scorelab Gaussians")
    if m1.dim != S1.dim:
        raise ValueError(
            f"{fn}: the laws have dimensions {m1.dim} and {S1.dim}, not equal"
        )
    return m1, S1


def _shared_spectra(P: Any, R: Any) -> tuple[_Float, _Float, Any] | None:
    """Eigenvalues of two spectral Gaussians and their common basis, else None."""
    sp, sr = P.spectrum, R.spectrum
    if sp is None or sr is None:
        return None
    Qp, Qr = sp[1], sr[1]
    if Qp is None or Qr is None:
        if Qp is not None or Qr is not None:
            return None
    elif not (Qp is Qr or np.array_equal(Qp, Qr)):
        return None
    return sp[0], sr[0], Qp


def _scaled_norm(r: _Float) -> Any:
    """Euclidean norm over the last axis without overflow or underflow of the
    squares (a float for a vector, an array for a stack of rows)."""
    s = np.max(np.abs(r), axis=-1, initial=0.0)
    safe = np.where(s > 0.0, s, 1.0)
    out = s * np.sqrt(np.sum((r / safe[..., None]) ** 2, axis=-1))
    return float(out) if out.ndim == 0 else out


def _w2_spectral_rows(dm: _Float, a: _Float, b: _Float) -> Any:
    r"""W2 of Gaussians with a common eigenbasis from their mean difference (in
    any orthonormal coordinates) and variances, per row of (..., d) arrays.

    :math:`W_2^2 = |m_1 - m_2|^2 + \sum_i (\sqrt{a_i} - \sqrt{b_i})^2`, each term
    as :math:`(a_i - b_i) / (\sqrt{a_i} + \sqrt{b_i})` (no cancellation).
    """
    den = np.sqrt(a) + np.sqrt(b)
    cov = np.where(den > 0, (a - b) / np.where(den > 0, den, 1.0), 0.0)
    return _scaled_norm(np.concatenate(np.broadcast_arrays(dm, cov), axis=-1))


def _w2_spectral(P: Any, R: Any, a: _Float, b: _Float) -> float:
    """W2 of two spectral Gaussians with a common eigenbasis, per direction."""
    return float(_w2_spectral_rows(P.mean - R.mean, a, b))


def _kl_spectral(P: Any, R: Any, a: _Float, b: _Float, Q: Any) -> float:
    r"""KL of two Gaussians with a common eigenbasis, per direction.

    :math:`	frac12 \sum_i [arphi(t_i) + z_i^2 / b_i]` with
    :math:`t_i = (a_i - b_i) / b_i`, :math:`arphi(t) = t - \log(1 + t)`
    evaluated stably, and :math:`z = Q^	op (m_2 - m_1)`.
    """
    for lam, name in ((a, "S1"), (b, "S2")):
        if np.any(lam <= 0):
            i = int(np.argmax(lam <= 0))
            raise ValueError(
                f"{name} must be positive definite for KL; eigenvalue {i} is {lam[i]!r}"
            )
    dm = R.mean - P.mean
    z = dm if Q is None else dm @ Q
    kl = 0.5 * float(np.sum(_t_minus_log1p((a - b) / b)) + np.sum(z * z / b))
    return max(kl, 0.0)


def _check_shapes(
    m1: _Float, S1: _Float, m2: _Float, S2: _Float
) -> tuple[int, tuple[int, ...]]:
    """Check that the four arguments describe Gaussians of a common dimension.

    Returns the dimension ``d`` and the broadcast batch shape.
    """
    d = check_square(S1, "S1")
    if d == 0:
        raise ValueError(f"S1 must describe a dimension d >= 1, got shape {S1.shape}")
    check_square(S2, "S2")
    if S2.shape[-1] != d:
        raise ValueError(
            f"S2 must have shape (..., {d}, {d}) to match S1 of shape {S1.shape}, "
            f"got {S2.shape}"
        )
    for m, name, cov in ((m1, "m1", "S1"), (m2, "m2", "S2")):
        if m.ndim < 1 or m.shape[-1] != d:
            raise ValueError(
                f"{name} must have shape (..., {d}) to match {cov} of dimension "
                f"d = {d}, got {m.shape}"
            )
    try:
        batch = np.broadcast_shapes(
            m1.shape[:-1], S1.shape[:-2], m2.shape[:-1], S2.shape[:-2]
        )
    except ValueError as exc:
        raise ValueError(
            "the batch shapes of m1 "
            f"{m1.shape[:-1]}, S1 {S1.shape[:-2]}, m2 {m2.shape[:-1]} and "
            f"S2 {S2.shape[:-2]} do not broadcast together"
        ) from exc
    return d, batch


def _validate(
    m1: npt.ArrayLike, S1: npt.ArrayLike, m2: npt.ArrayLike, S2: npt.ArrayLike
) -> tuple[_Float, _Float, _Float, _Float, int, tuple[int, ...]]:
    """Convert to float64 and check types, finiteness and shapes (not PSD-ness)."""
    m1a = as_float_array(m1, "m1", min_ndim=1, allow_empty=True)
    S1a = as_float_array(S1, "S1", min_ndim=2, allow_empty=True)
    m2a = as_float_array(m2, "m2", min_ndim=1, allow_empty=True)
    S2a = as_float_array(S2, "S2", min_ndim=2, allow_empty=True)
    d, batch = _check_shapes(m1a, S1a, m2a, S2a)
    return m1a, S1a, m2a, S2a, d, batch


def _psd_factor(S: _Float) -> _Float:
    r"""Return ``L`` with ``L @ L^T = S`` for symmetric PSD ``S`` (batched).

    Cholesky when every matrix is numerically positive definite, otherwise the
    eigen factor :math:`L = V \operatorname{diag}(\sqrt{\max(w, 0)})` from
    :math:`S = V \operatorname{diag}(w) V^\top`.
    """
    try:
        return np.asarray(np.linalg.cholesky(S), dtype=np.float64)
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(S)
        return V * np.sqrt(np.maximum(w, 0.0))[..., None, :]


# Near pairs: below this fraction of tr S1 + tr S2 the trace-form covariance part is
# recomputed without cancellation (the value of the native core, kW2NearRatio).
_W2_NEAR_RATIO = 1e-3
# ... provided the reference covariance has an estimated reciprocal condition number
# of at least this (kW2NearMinRcond); else the trace form is kept.
_W2_NEAR_MIN_RCOND = 1e-6


def _w2_cov_near(Rs: _Float, Os: _Float, Rraw: _Float, Oraw: _Float) -> _Float:
    r"""Covariance part of W2^2 without cancellation, stacked ``(n, d, d)``.

    ``Rs``: symmetrised positive definite reference covariance, ``Os``: the other
    (symmetrised), ``Rraw``/``Oraw``: the raw inputs, whose difference
    :math:`D = \operatorname{sym}(O - R)` is exact up to one rounding relative to
    itself. With the eigen factor :math:`L = V \Lambda^{1/2}` of ``R``
    (:math:`G = L^\top L = \Lambda`), :math:`M = L^\top O L = W \operatorname{diag}
    (s^2) W^\top`, :math:`F = L W`, :math:`K' = F^\top D F` and the estimate
    :math:`\tilde X' = \operatorname{diag}(s) - F^\top F` of
    :math:`X' = W^\top (M^{1/2} - G) W`, one step of
    :math:`X'_{ij} = (K'_{ij} + (X'^2)_{ij}) / (s_i + s_j)` and
    :math:`W_{2,\mathrm{cov}}^2 = \lVert \Lambda^{-1/2} W X' \rVert_F^2`
    (derivation in :func:`w2_gaussian_squared`).
    """
    w, V = np.linalg.eigh(Rs)
    L = V * np.sqrt(w)[..., None, :]
    Lt = np.swapaxes(L, -1, -2)
    D = Oraw - Rraw
    D = 0.5 * (D + np.swapaxes(D, -1, -2))
    M = Lt @ Os @ L
    mu, W = np.linalg.eigh(0.5 * (M + np.swapaxes(M, -1, -2)))
    s = np.sqrt(np.maximum(mu, 0.0))
    F = L @ W
    Ft = np.swapaxes(F, -1, -2)
    K = Ft @ D @ F
    Xt = -(Ft @ F)
    idx = np.arange(s.shape[-1])
    Xt[..., idx, idx] += s
    X2 = Xt @ Xt
    den = s[..., :, None] + s[..., None, :]
    guard = 2.0 * np.sqrt(np.sum(Xt * Xt, axis=(-2, -1)))[..., None, None]
    num = 0.5 * (K + np.swapaxes(K, -1, -2)) + 0.5 * (X2 + np.swapaxes(X2, -1, -2))
    use = den > guard
    X = np.where(use, num / np.where(use, den, 1.0), Xt)
    X = 0.5 * (X + np.swapaxes(X, -1, -2))
    Y = (W @ X) / np.sqrt(w)[..., :, None]
    out: _Float = np.sum(Y * Y, axis=(-2, -1))
    return out


def _w2_near_fix(
    cov: _Float,
    S1a: _Float,
    S2a: _Float,
    S1s: _Float,
    S2s: _Float,
    batch: tuple[int, ...],
) -> _Float:
    """Replace the trace-form covariance part of near pairs (see ``_w2_cov_near``).

    The reference is the better conditioned of ``S1``, ``S2`` (W2 is symmetric);
    pairs where neither is positive definite keep the trace form.
    """
    trs = np.trace(S1s, axis1=-2, axis2=-1) + np.trace(S2s, axis1=-2, axis2=-1)
    near = np.broadcast_to(cov < _W2_NEAR_RATIO * trs, batch)
    if not np.any(near):
        return cov
    d = S1a.shape[-1]

    def pick(a: _Float) -> _Float:
        return np.broadcast_to(a, batch + (d, d))[near]

    r1, r2, s1, s2 = pick(S1a), pick(S2a), pick(S1s), pick(S2s)
    w1, w2 = np.linalg.eigvalsh(s1), np.linalg.eigvalsh(s2)
    c1, c2 = w1[:, 0] / w1[:, -1], w2[:, 0] / w2[:, -1]  # eigvalsh: ascending
    one = (c1 >= c2)[:, None, None]
    ok = np.maximum(c1, c2) >= _W2_NEAR_MIN_RCOND
    val = _w2_cov_near(
        np.where(one, s1, s2)[ok],
        np.where(one, s2, s1)[ok],
        np.where(one, r1, r2)[ok],
        np.where(one, r2, r1)[ok],
    )
    out = np.array(np.broadcast_to(cov, batch), dtype=np.float64, copy=True)
    sub = out[near]
    sub[ok] = val
    out[near] = sub
    return out


_NATIVE_MIN_BATCH = 8  # below this the NumPy path is as fast (call overhead)


def _w2_squared_native(
    m1: _Float, S1: _Float, m2: _Float, S2: _Float, d: int, batch: tuple[int, ...]
) -> _Float | None:
    """Batched W2^2 in the compiled core (threads over pairs).

    Same checks and answers as the NumPy path, done in the core: symmetry within
    ``SYMMETRY_RTOL``, positive semi-definiteness by a successful Cholesky
    factorisation, else the eigenvalue test of :func:`check_psd`. Returns None if a
    check fails, so that the NumPy path raises its usual message.
    """
    from ._native import core
    from ._validate import PSD_RTOL, SYMMETRY_RTOL

    N = int(np.prod(batch))

    def stack(a: _Float, tail: tuple[int, ...]) -> _Float:
        return np.ascontiguousarray(np.broadcast_to(a, batch + tail)).reshape(
            (N,) + tail
        )

    S1b, S2b = stack(S1, (d, d)), stack(S2, (d, d))
    out, status = core().w2_squared_batch(
        stack(m1, (d,)),
        S1b,
        stack(m2, (d,)),
        S2b,
        SYMMETRY_RTOL,
        PSD_RTOL,
        default_threads(),
    )
    if np.any(status != 0):
        return None  # a check failed: the NumPy path raises its usual message
    return out.reshape(batch)


def w2_gaussian_squared(
    m1: npt.ArrayLike,
    S1: npt.ArrayLike,
    m2: npt.ArrayLike,
    S2: npt.ArrayLike,
) -> _Float | float:
    r"""Squared 2-Wasserstein (Bures--Wasserstein) distance between Gaussians.

    .. math::

        W_2^2\bigl(\mathcal N(m_1, S_1), \mathcal N(m_2, S_2)\bigr)
        = \lVert m_1 - m_2 \rVert^2 + \operatorname{tr} S_1 + \operatorname{tr} S_2
          - 2 \operatorname{tr}\bigl( (S_2^{1/2} S_1 S_2^{1/2})^{1/2} \bigr).

    The trace term is computed as :math:`\sum_i \sqrt{\lambda_i(L^\top S_1 L)}`
    with :math:`S_2 = L L^\top` (Cholesky factor, or the eigen factor
    :math:`V \operatorname{diag}(\sqrt{w})` when :math:`S_2` is singular), since
    :math:`L^\top S_1 L` and :math:`S_2^{1/2} S_1 S_2^{1/2}` are orthogonally
    similar. Inputs are symmetrised, tiny negative eigenvalues are clamped at 0
    and so is the result. For ``d == 1`` the closed form
    :math:`(m_1 - m_2)^2 + \bigl((S_1 - S_2) / (\sqrt{S_1} + \sqrt{S_2})\bigr)^2`
    is used (no cancellation).

    *Near pairs.* The terms of the trace form are :math:`O(\operatorname{tr} S)`
    and cancel: its covariance part carries an absolute error
    :math:`\sim d\,\epsilon \operatorname{tr} S` (:math:`\epsilon = 2^{-52}`),
    so :math:`W_2` would be lost below :math:`\sim 10^{-8}
    \sqrt{\operatorname{tr} S}`. When the trace-form covariance part is below
    :math:`10^{-3} (\operatorname{tr} S_1 + \operatorname{tr} S_2)` it is
    recomputed without cancellation. Take the better conditioned of the two
    covariances as reference :math:`R = L L^\top` (positive definite; :math:`W_2`
    is symmetric), the other as :math:`O`, and :math:`D = O - R` formed from the
    inputs (exact up to one rounding relative to :math:`D`). With
    :math:`G = L^\top L`, :math:`M = L^\top O L = G^2 + L^\top D L` and the
    symmetric :math:`X = M^{1/2} - G = O(\lVert D \rVert)`:
    :math:`\operatorname{tr} R = \operatorname{tr} G`,
    :math:`\operatorname{tr} O = \operatorname{tr}(G^{-1} M)` and
    :math:`\operatorname{tr}(R^{1/2} O R^{1/2})^{1/2} = \operatorname{tr}
    M^{1/2}`, so, expanding :math:`\operatorname{tr}(G^{-1} X^2)` and using
    :math:`\operatorname{tr}(G^{-1} M^{1/2} G) = \operatorname{tr} M^{1/2}`,

    .. math::

        W_{2,\mathrm{cov}}^2 = \operatorname{tr} G + \operatorname{tr}(G^{-1} M)
        - 2 \operatorname{tr} M^{1/2} = \operatorname{tr}(G^{-1} X^2)
        = \lVert L^{-\top} X \rVert_F^2,

    a sum of squares of :math:`O(\lVert D \rVert)` numbers. :math:`X` solves
    :math:`(G + X)^2 = M`, i.e. :math:`M^{1/2} X + X M^{1/2} - X^2 = L^\top D L`;
    in the eigenbasis :math:`M = W \operatorname{diag}(s^2) W^\top`, with
    :math:`F = L W`, :math:`K' = F^\top D F` and :math:`X' = W^\top X W`,

    .. math::

        X'_{ij} = \bigl(K'_{ij} + (X'^2)_{ij}\bigr) / (s_i + s_j),

    evaluated once with the cancelling estimate
    :math:`\tilde X' = \operatorname{diag}(s) - F^\top F` (absolute error
    :math:`\sim \epsilon \lVert G \rVert`) on the right: it enters only
    through the second-order term, so :math:`X'` gets a relative error
    :math:`\sim \epsilon \lVert G \rVert / \min_i s_i`. Then
    :math:`W_{2,\mathrm{cov}}^2 = \lVert L^{-\top} W X' \rVert_F^2`. The
    reference is accepted when its estimated reciprocal condition number is at
    least :math:`10^{-6}`; otherwise (near-singular pairs) the trace form is kept.

    *Precision.* Far pairs: absolute error :math:`\sim d\,\epsilon
    (\lVert m \rVert^2 + \operatorname{tr} S)` on :math:`W_2^2`, relative error
    below about :math:`10^{-12}` on :math:`W_2` for well-conditioned covariances.
    Near pairs: a relative error :math:`\sim d\,\epsilon\,\kappa(S_1)
    \kappa(S_2)` on :math:`W_2` (the eigenbasis of :math:`M^{1/2}`), whatever
    the size of :math:`W_2`: a few ulps for well-conditioned covariances
    (measured :math:`\le 10^{-15}` down to
    :math:`W_2 = 10^{-13} \sqrt{\operatorname{tr} S}`), about
    :math:`10^{-9}` at condition numbers :math:`10^4`. Singular covariances
    (trace form only): an eigenvalue near 0 of :math:`L^\top S_1 L` is known to
    :math:`\epsilon \lVert S \rVert^2`, its square root to
    :math:`\sqrt{\epsilon} \lVert S \rVert`, which bounds the absolute
    accuracy of :math:`W_2^2`, near pairs included.

    Parameters
    ----------
    m1 : array_like, shape (..., d)
        Mean(s) of the first Gaussian(s).
    S1 : array_like, shape (..., d, d)
        Covariance(s) of the first Gaussian(s); symmetric positive
        semi-definite.
    m2 : array_like, shape (..., d)
        Mean(s) of the second Gaussian(s).
    S2 : array_like, shape (..., d, d)
        Covariance(s) of the second Gaussian(s); symmetric positive
        semi-definite.

    Returns
    -------
    float or numpy.ndarray, shape (...)
        :math:`W_2^2`, with the batch shapes of the four arguments broadcast
        together; a Python float when all inputs are unbatched.

    Raises
    ------
    TypeError
        If an input is not real-valued (complex, boolean, object, ...).
    ValueError
        If an input has non-finite entries or an inconsistent shape, or a
        covariance is not symmetric (relative tolerance ``1e-8``) or has an
        eigenvalue below ``-1e-10`` times its largest eigenvalue magnitude.

    See Also
    --------
    w2_gaussian : The distance itself (square root of this).

    Notes
    -----
    Cost per pair: one Cholesky (or symmetric eigendecomposition) of ``S2``
    per distinct ``S2`` and one symmetric eigenvalue problem, :math:`O(d^3)`;
    validation adds one eigenvalue problem per covariance. Near pairs add a
    factorisation of ``S1``, an eigendecomposition with eigenvectors and a few
    matrix products (still :math:`O(d^3)`, about three times the cost).

    References
    ----------
    .. [1] D. C. Dowson and B. V. Landau, J. Multivariate Anal. 12(3), 1982.
    .. [2] R. Bhatia, T. Jain and Y. Lim, Expo. Math. 37(2), 2019.

    Examples
    --------
    >>> import numpy as np
    >>> w2_gaussian_squared([0.0], [[4.0]], [3.0], [[1.0]])
    10.0
    >>> float(np.round(w2_gaussian_squared(np.zeros(2), np.eye(2),
    ...                                    np.ones(2), 4 * np.eye(2)), 12))
    4.0
    """
    m1a, S1a, m2a, S2a, d, batch = _validate(m1, S1, m2, S2)
    if d > 1 and int(np.prod(batch)) >= _NATIVE_MIN_BATCH:
        res = _w2_squared_native(m1a, S1a, m2a, S2a, d, batch)
        if res is not None:
            return res
    S1s = check_psd(S1a, "S1")
    S2s = check_psd(S2a, "S2")
    diff = m1a - m2a
    mean_term = np.sum(diff * diff, axis=-1)
    if d == 1:
        v1 = np.maximum(S1s[..., 0, 0], 0.0)
        v2 = np.maximum(S2s[..., 0, 0], 0.0)
        den = np.sqrt(v1) + np.sqrt(v2)
        # sqrt v1 - sqrt v2 without cancellation
        ds = np.where(den > 0.0, (v1 - v2) / np.where(den > 0.0, den, 1.0), 0.0)
        cov_term = ds * ds
    else:
        L = _psd_factor(S2s)
        M = np.swapaxes(L, -1, -2) @ S1s @ L
        M = 0.5 * (M + np.swapaxes(M, -1, -2))
        cross = np.sum(np.sqrt(np.maximum(np.linalg.eigvalsh(M), 0.0)), axis=-1)
        tr1 = np.trace(S1s, axis1=-2, axis2=-1)
        tr2 = np.trace(S2s, axis1=-2, axis2=-1)
        cov_term = _w2_near_fix(tr1 + tr2 - 2.0 * cross, S1a, S2a, S1s, S2s, batch)
    return _as_result(np.maximum(mean_term + cov_term, 0.0))


def w2_gaussian(
    m1: Any,
    S1: Any,
    m2: npt.ArrayLike | None = None,
    S2: npt.ArrayLike | None = None,
) -> _Float | float:
    r"""2-Wasserstein (Bures--Wasserstein) distance between Gaussians.

    .. math::

        W_2 = \Bigl( \lVert m_1 - m_2 \rVert^2 + \operatorname{tr} S_1
          + \operatorname{tr} S_2
          - 2 \operatorname{tr}\bigl( (S_2^{1/2} S_1 S_2^{1/2})^{1/2} \bigr)
          \Bigr)^{1/2}.

    See :func:`w2_gaussian_squared` for the algorithm.

    Parameters
    ----------
    m1 : array_like, shape (..., d), or Gaussian
        Mean(s) of the first Gaussian(s).
        Or the first law as a scorelab Gaussian, with the second as ``S1``
        and ``m2``, ``S2`` omitted. Two spectral Gaussians
        (``Gaussian.from_spectrum``) with the same basis use the
        per-direction closed form, O(d), without densifying; other laws
        use their dense moments.
    S1 : array_like, shape (..., d, d)
        Covariance(s) of the first Gaussian(s); symmetric positive
        semi-definite.
    m2 : array_like, shape (..., d)
        Mean(s) of the second Gaussian(s).
    S2 : array_like, shape (..., d, d)
        Covariance(s) of the second Gaussian(s); symmetric positive
        semi-definite.

    Returns
    -------
    float or numpy.ndarray, shape (...)
        :math:`W_2 \ge 0`, with the batch shapes of the four arguments
        broadcast together; a Python float when all inputs are unbatched.

    Raises
    ------
    TypeError
        If an input is not real-valued.
    ValueError
        If an input has non-finite entries or an inconsistent shape, or a
        covariance is not symmetric positive semi-definite.

    Notes
    -----
    The trace form cancels near :math:`W_2 = 0` (absolute error of order
    :math:`\epsilon \operatorname{tr} S` on :math:`W_2^2`); near pairs are
    recomputed as :math:`\lVert L^{-\top} X \rVert_F` with
    :math:`X = (L^\top S_2 L)^{1/2} - L^\top L`, :math:`S_1 = L L^\top`,
    from the exact difference :math:`S_2 - S_1` (derivation in
    :func:`w2_gaussian_squared`), so the relative error stays
    :math:`\sim d\,\epsilon\,\kappa(S_1)\kappa(S_2)` however small
    :math:`W_2` is (measured :math:`\le 10^{-15}` relative down to
    :math:`W_2 = 10^{-13}\sqrt{\operatorname{tr} S}` for well-conditioned
    covariances). Singular (or nearly singular) covariances keep the trace
    form, whose error on :math:`W_2^2` is up to :math:`\sim \sqrt{\epsilon}
    \lVert S \rVert` there (see :func:`w2_gaussian_squared`).

    References
    ----------
    .. [1] D. C. Dowson and B. V. Landau, J. Multivariate Anal. 12(3), 1982.
    .. [2] G. Peyré and M. Cuturi, Computational Optimal Transport, 2019,
       Remark 2.31.

    Examples
    --------
    >>> w2_gaussian([0.0], [[4.0]], [3.0], [[0.0]])
    3.605551275463989
    >>> import numpy as np
    >>> w2_gaussian(np.zeros((3, 2)), np.eye(2), np.zeros(2), np.eye(2)).shape
    (3,)
    """
    laws = _structured(m1, S1, m2, S2, "w2_gaussian")
    if laws is not None:
        P, R = laws
        shared = _shared_spectra(P, R)
        if shared is not None:
            return _w2_spectral(P, R, shared[0], shared[1])
        m1, S1, m2, S2 = P.mean, P.cov, R.mean, R.cov
    assert m2 is not None and S2 is not None
    # W2 is 1-homogeneous (m -> c m, S -> c^2 S): rescale extreme magnitudes so
    # that the squared distance neither overflows nor underflows in float64.
    m1a, S1a, m2a, S2a, _, _ = _validate(m1, S1, m2, S2)
    c = max(
        float(np.max(np.abs(m1a), initial=0.0)),
        float(np.max(np.abs(m2a), initial=0.0)),
        float(np.sqrt(np.max(np.abs(S1a), initial=0.0))),
        float(np.sqrt(np.max(np.abs(S2a), initial=0.0))),
    )
    if c > 1e30 or 0.0 < c < 1e-30:
        c = 2.0 ** round(math.log2(c))  # a power of 2: the scaling is exact
        return c * w2_gaussian(m1a / c, S1a / c / c, m2a / c, S2a / c / c)
    sq = w2_gaussian_squared(m1, S1, m2, S2)
    if isinstance(sq, float):
        return float(np.sqrt(sq))
    return np.sqrt(sq)


# kl_gaussian uses the eigenvalue form when every eigenvalue mu = 1 + t of S2^-1 S1
# has |t| <= _KL_NEAR_T (mu is then known to a relative accuracy ~ eps cond S2).
_KL_NEAR_T = 0.5


def _t_minus_log1p(t: _Float) -> _Float:
    r""":math:`\varphi(t) = t - \log(1 + t) \ge 0` for :math:`t > -1`, to a few ulps.

    For :math:`|t| < 0.1` the series :math:`t^2 \sum_{j \ge 0} (-1)^j t^j / (j + 2)`
    (20 terms, truncation below :math:`10^{-21}` relative); elsewhere the direct
    difference, whose cancellation costs at most a factor
    :math:`(|t| + |\log(1+t)|) / \varphi(t) < 45` there.
    """
    small = np.abs(t) < 0.1
    ts = np.where(small, t, 0.0)
    p = np.zeros_like(ts)
    for j in range(19, -1, -1):
        p = (-1.0) ** j / (j + 2) + ts * p
    direct = t - np.log1p(np.where(small, 0.0, t))
    out: _Float = np.where(small, ts * ts * p, direct)
    return out


def kl_gaussian(
    m1: Any,
    S1: Any,
    m2: npt.ArrayLike | None = None,
    S2: npt.ArrayLike | None = None,
) -> _Float | float:
    r"""Kullback--Leibler divergence :math:`\mathrm{KL}(\mathcal N(m_1, S_1)
    \,\|\, \mathcal N(m_2, S_2))`.

    .. math::

        \mathrm{KL} = \tfrac12 \Bigl( \operatorname{tr}(S_2^{-1} S_1)
          + (m_2 - m_1)^\top S_2^{-1} (m_2 - m_1) - d
          + \log\det S_2 - \log\det S_1 \Bigr).

    With Cholesky factors :math:`S_i = L_i L_i^\top`, the trace is
    :math:`\lVert L_2^{-1} L_1 \rVert_F^2`, the quadratic form
    :math:`\lVert L_2^{-1}(m_2 - m_1) \rVert^2` and
    :math:`\log\det S_i = 2 \sum_j \log (L_i)_{jj}`. The result is clamped at
    0 (it is non-negative in exact arithmetic). The reverse divergence is
    ``kl_gaussian(m2, S2, m1, S1)``.

    *Near pairs.* Those terms are :math:`O(d)` and cancel: the trace/log-det
    form carries an absolute error :math:`\sim d\,\epsilon` and loses KL
    below :math:`\sim 10^{-14} d`. With the eigenvalues :math:`\mu_i = 1 + t_i`
    of :math:`S_2^{-1} S_1`, where :math:`t_i` are the eigenvalues of
    :math:`N = L_2^{-1} (S_1 - S_2) L_2^{-\top}` (formed from the exact
    difference of the inputs, so known to a relative accuracy
    :math:`\sim d\,\epsilon\,\kappa(S_2)` of :math:`\lVert N \rVert`),

    .. math::

        \mathrm{KL} = \tfrac12 \sum_i \varphi(t_i)
        + \tfrac12 \lVert L_2^{-1}(m_2 - m_1) \rVert^2, \qquad
        \varphi(t) = t - \log(1 + t) \ge 0,

    with :math:`\varphi` from its series :math:`t^2 \sum_{j \ge 0}
    (-1)^j t^j / (j + 2)` for :math:`|t| < 0.1` (no cancellation). This form is
    used when every :math:`|t_i| \le 1/2` (then
    :math:`\varphi(t_i) \approx t_i^2 / 2` and the relative error of KL is
    :math:`\sim d\,\epsilon\,\kappa(S_2)`, measured :math:`\le 10^{-15}`
    down to :math:`\mathrm{KL} = 10^{-26} d`); otherwise
    :math:`\mathrm{KL} \gtrsim 0.05` and the trace/log-det form, accurate to
    :math:`\sim d\,\epsilon (1 + \operatorname{tr}(S_2^{-1} S_1) +
    |\log\det S_1| + |\log\det S_2|)` absolute, is kept (it is the more
    accurate one for eigenvalues :math:`\mu_i` near 0).

    Parameters
    ----------
    m1 : array_like, shape (..., d), or Gaussian
        Mean(s) of the first Gaussian(s).
        Or the first law as a scorelab Gaussian, with the second as ``S1``
        and ``m2``, ``S2`` omitted. Two spectral Gaussians
        (``Gaussian.from_spectrum``) with the same basis use the
        per-direction closed form, O(d), without densifying; other laws
        use their dense moments.
    S1 : array_like, shape (..., d, d)
        Covariance(s) of the first Gaussian(s); symmetric positive definite.
    m2 : array_like, shape (..., d)
        Mean(s) of the second Gaussian(s).
    S2 : array_like, shape (..., d, d)
        Covariance(s) of the second Gaussian(s); symmetric positive definite.

    Returns
    -------
    float or numpy.ndarray, shape (...)
        KL divergence in nats, with the batch shapes of the four arguments
        broadcast together; a Python float when all inputs are unbatched.

    Raises
    ------
    TypeError
        If an input is not real-valued.
    ValueError
        If an input has non-finite entries or an inconsistent shape, or a
        covariance is not symmetric (relative tolerance ``1e-8``) or not
        positive definite (its Cholesky factorisation fails).

    Notes
    -----
    Cost: one Cholesky factorisation per covariance, triangular solves and one
    symmetric eigenvalue problem, :math:`O(d^3)` per pair.

    References
    ----------
    .. [1] S. Kullback, "Information Theory and Statistics", Wiley, 1959.
    .. [2] J. Duchi, "Derivations for linear algebra and optimization",
       Stanford lecture notes, 2007 (KL between multivariate normals).

    Examples
    --------
    >>> kl_gaussian([0.0], [[1.0]], [1.0], [[1.0]])
    0.5
    """
    laws = _structured(m1, S1, m2, S2, "kl_gaussian")
    if laws is not None:
        P, R = laws
        shared = _shared_spectra(P, R)
        if shared is not None:
            return _kl_spectral(P, R, *shared)
        m1, S1, m2, S2 = P.mean, P.cov, R.mean, R.cov
    assert m2 is not None and S2 is not None
    m1a, S1a, m2a, S2a, d, _ = _validate(m1, S1, m2, S2)
    _, L1 = check_spd_cholesky(S1a, "S1")
    _, L2 = check_spd_cholesky(S2a, "S2")
    A = np.linalg.solve(L2, L1)
    tr_term = np.sum(A * A, axis=(-2, -1))
    z = np.linalg.solve(L2, (m2a - m1a)[..., None])[..., 0]
    maha = np.sum(z * z, axis=-1)
    logdet1 = 2.0 * np.sum(np.log(np.diagonal(L1, axis1=-2, axis2=-1)), axis=-1)
    logdet2 = 2.0 * np.sum(np.log(np.diagonal(L2, axis1=-2, axis2=-1)), axis=-1)
    kl = np.maximum(0.5 * (tr_term + maha - d + logdet2 - logdet1), 0.0)
    # Near pairs: the eigenvalues t of L2^-1 (S1 - S2) L2^-T, from the difference of
    # the inputs (no cancellation), and t - log1p(t) evaluated stably.
    D = S1a - S2a
    Z = np.linalg.solve(L2, 0.5 * (D + np.swapaxes(D, -1, -2)))
    N = np.linalg.solve(L2, np.swapaxes(Z, -1, -2))
    t = np.linalg.eigvalsh(0.5 * (N + np.swapaxes(N, -1, -2))).astype(np.float64)
    near = np.max(np.abs(t), axis=-1) <= _KL_NEAR_T
    out: _Float = np.where(near, 0.5 * (np.sum(_t_minus_log1p(t), axis=-1) + maha), kl)
    return _as_result(out)
