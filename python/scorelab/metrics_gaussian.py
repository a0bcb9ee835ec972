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
factorisations only.

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
    :math:`(m_1 - m_2)^2 + (\sqrt{S_1} - \sqrt{S_2})^2` is used.

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
    validation adds one eigenvalue problem per covariance.

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
        s1 = np.sqrt(np.maximum(S1s[..., 0, 0], 0.0))
        s2 = np.sqrt(np.maximum(S2s[..., 0, 0], 0.0))
        cov_term = (s1 - s2) ** 2
    else:
        L = _psd_factor(S2s)
        M = np.swapaxes(L, -1, -2) @ S1s @ L
        M = 0.5 * (M + np.swapaxes(M, -1, -2))
        cross = np.sum(np.sqrt(np.maximum(np.linalg.eigvalsh(M), 0.0)), axis=-1)
        tr1 = np.trace(S1s, axis1=-2, axis2=-1)
        tr2 = np.trace(S2s, axis1=-2, axis2=-1)
        cov_term = tr1 + tr2 - 2.0 * cross
    return _as_result(np.maximum(mean_term + cov_term, 0.0))


def w2_gaussian(
    m1: npt.ArrayLike,
    S1: npt.ArrayLike,
    m2: npt.ArrayLike,
    S2: npt.ArrayLike,
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
    Near :math:`W_2 = 0` the squared distance suffers cancellation of order
    :math:`\epsilon \operatorname{tr} S`, so the distance itself is only
    accurate to about :math:`\sqrt{\epsilon \operatorname{tr} S}`.

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


def kl_gaussian(
    m1: npt.ArrayLike,
    S1: npt.ArrayLike,
    m2: npt.ArrayLike,
    S2: npt.ArrayLike,
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

    Parameters
    ----------
    m1 : array_like, shape (..., d)
        Mean(s) of the first Gaussian(s).
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
    Cost: one Cholesky factorisation per covariance and triangular solves,
    :math:`O(d^3)` per pair.

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
    m1a, S1a, m2a, S2a, d, _ = _validate(m1, S1, m2, S2)
    _, L1 = check_spd_cholesky(S1a, "S1")
    _, L2 = check_spd_cholesky(S2a, "S2")
    A = np.linalg.solve(L2, L1)
    tr_term = np.sum(A * A, axis=(-2, -1))
    z = np.linalg.solve(L2, (m2a - m1a)[..., None])[..., 0]
    maha = np.sum(z * z, axis=-1)
    logdet1 = 2.0 * np.sum(np.log(np.diagonal(L1, axis1=-2, axis2=-1)), axis=-1)
    logdet2 = 2.0 * np.sum(np.log(np.diagonal(L2, axis1=-2, axis2=-1)), axis=-1)
    kl = 0.5 * (tr_term + maha - d + logdet2 - logdet1)
    return _as_result(np.maximum(kl, 0.0))
