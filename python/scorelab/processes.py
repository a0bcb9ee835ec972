r"""Linear forward processes (noising SDEs) of score-based diffusion models.

Every process is a scalar linear SDE (paper 2's convention, as in Song et al.)

.. math::

    dX_t = -f(t)\, X_t\, dt + g(t)\, dB_t, \qquad X_0 \sim p_0,

whose marginals are :math:`X_t = \alpha(t) X_0 + \sigma(t) Z`, :math:`Z \sim N(0, I)`
independent of :math:`X_0`, with

.. math::

    \alpha(t) = \exp\Big(-\int_0^t f\Big), \qquad
    \sigma(t)^2 = \int_0^t \exp\Big(-2 \int_s^t f\Big)\, g(s)^2\, ds,

and log signal-to-noise ratio :math:`\lambda(t) = \log(\alpha(t)/\sigma(t))`. Note
that :math:`\sigma` is the standard deviation of :math:`X_t` given :math:`X_0`
(exact for the SDE); a variance-exploding process written with a noise level
:math:`\sigma_{vp}(t)` has :math:`\sigma(t)^2 = \sigma_{vp}(t)^2 -
\sigma_{vp}(0)^2`. The variance satisfies
:math:`d\sigma^2/dt = g^2 - 2 f \sigma^2` and :math:`d\lambda/dt = -g^2/(2\sigma^2)`.

Each process also supplies the coefficients of the score-frozen exponential
integrator (papers 1-2) for one reverse step from ``t_hi`` down to ``t_lo``,
:math:`y' = r\, y + c\, s(y, t_{hi}) + \sqrt{n}\, \xi`, with

.. math::

    r = \frac{\alpha(t_{lo})}{\alpha(t_{hi})}, \qquad
    c = \int_{t_{lo}}^{t_{hi}} e^{\int_{t_{lo}}^u f}\, g(u)^2\, du, \qquad
    n = r^2 \sigma(t_{hi})^2 - \sigma(t_{lo})^2
      = \int_{t_{lo}}^{t_{hi}} e^{2\int_{t_{lo}}^u f}\, g(u)^2\, du;

the probability-flow ODE integrator uses :math:`c/2` and no noise. Closed forms
are used where they exist (VP-type: :math:`c = 2(r - 1)`, :math:`n = r^2 - 1`;
VE-type: :math:`r = 1`, :math:`c = n = \sigma_{hi}^2 - \sigma_{lo}^2`; OU), and
Gauss-Legendre quadrature otherwise, so a user-defined :class:`LinearSDE` just
works.

All methods taking times are vectorised: they accept a scalar or an array and
return a ``float`` or a ``float64`` array of the same shape.

References
----------
.. [1] Y. Song et al., "Score-based generative modeling through stochastic
   differential equations", ICLR 2021.
.. [2] X. Gao, H. M. Nguyen, L. Zhu, "Wasserstein convergence guarantees for a
   general class of score-based generative models", arXiv:2311.11003 (JMLR 2025).
.. [3] S. Chen et al., "Sampling is as easy as learning the score", arXiv:2209.11215.
.. [4] A. Nichol, P. Dhariwal, "Improved denoising diffusion probabilistic
   models", ICML 2021.
.. [5] T. Karras et al., "Elucidating the design space of diffusion-based
   generative models", NeurIPS 2022.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Any, Union

import numpy as np
import numpy.typing as npt

from ._validate import as_float_array, check_int, check_positive, check_real
from .targets import Gaussian, GaussianMixture, Target

__all__ = [
    "OU",
    "VE",
    "VP",
    "CosineVP",
    "LinearSDE",
    "Process",
    "SubVP",
    "VELinear",
    "VEPower",
    "VEQuadratic",
    "VPConstant",
    "VPExponential",
    "VPPolynomial",
]

FloatArray = npt.NDArray[np.float64]
#: A float for scalar input, a ``float64`` array otherwise.
FloatOrArray = Union[float, FloatArray]

#: Number of Gauss-Legendre nodes per panel used by the generic quadratures.
GL_NODES = 64

#: Elements processed at once by the nested quadratures (bounds the memory use to
#: about ``_CHUNK * nodes**2 * 8`` bytes).
_CHUNK = 256

_GL_CACHE: dict[int, tuple[FloatArray, FloatArray]] = {}


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------


def _leggauss(n: int) -> tuple[FloatArray, FloatArray]:
    """Cached Gauss-Legendre nodes and weights on ``[-1, 1]``."""
    if n not in _GL_CACHE:
        _GL_CACHE[n] = np.polynomial.legendre.leggauss(n)
    return _GL_CACHE[n]


def _gl_nodes(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    nodes: int = GL_NODES,
    panels: int = 1,
    fracs: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    r"""Composite Gauss-Legendre nodes and weights on ``[a, b]`` (broadcast).

    The panel edges are ``a + (b - a) * fracs`` (``fracs`` increasing from 0 to 1;
    default: ``panels`` equal panels). Returns ``u, w`` of shape
    ``broadcast(a, b).shape + ((len(fracs) - 1) * nodes,)`` such that
    :math:`\int_a^b \phi \approx \sum_j w_j \phi(u_j)` along the last axis.
    """
    a_arr, b_arr = np.broadcast_arrays(
        np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    )
    x, w = _leggauss(nodes)
    if fracs is None:
        fracs = np.arange(panels + 1, dtype=np.float64) / panels
    edges = a_arr[..., None] + (b_arr - a_arr)[..., None] * fracs
    left = edges[..., :-1, None]
    half = 0.5 * (edges[..., 1:, None] - left)
    u = left + half * (x + 1.0)
    wts = half * w
    shape = a_arr.shape + ((len(fracs) - 1) * nodes,)
    return u.reshape(shape), wts.reshape(shape)


def _graded_fracs(log_gain: FloatArray, panels: int) -> FloatArray:
    r"""Panel fractions of ``[0, t]`` for :math:`\int_0^t e^{-2\int_s^t f} g^2 ds`.

    ``log_gain`` holds :math:`\Lambda = \int_0^t f` for the elements of a chunk.
    When :math:`2|\Lambda|` exceeds 20 the exponential factor has a boundary
    layer at ``s = t`` (:math:`\Lambda > 0`) or ``s = 0``; panels are then graded
    geometrically (halving) towards it, so that no panel sees a variation of the
    exponent much above 40 (where 64-node Gauss-Legendre is still exact to
    rounding). Each graded panel is split into ``panels`` equal ones.
    """
    edges = {0.0, 1.0}
    for sign in (1.0, -1.0):
        m = float(np.max(2.0 * sign * log_gain, initial=0.0))
        if m > 20.0:
            k = math.ceil(math.log2(m / 20.0)) + 1
            for j in range(1, k):
                edges.add(1.0 - 0.5**j if sign > 0 else 0.5**j)
    base = np.array(sorted(edges))
    sub = np.arange(panels, dtype=np.float64) / panels
    fr = (base[:-1, None] + np.diff(base)[:, None] * sub).ravel()
    return np.append(fr, 1.0)


def _chunked(
    fn: Callable[..., tuple[FloatArray, ...]], *arrays: FloatArray
) -> tuple[FloatArray, ...]:
    """Apply ``fn`` to flat chunks of the broadcast ``arrays``; reassemble."""
    bcast = np.broadcast_arrays(*arrays)
    shape = bcast[0].shape
    flat = [np.ravel(x) for x in bcast]
    size = flat[0].size
    if size <= _CHUNK:
        outs = fn(*flat)
    else:
        parts = [fn(*(x[i : i + _CHUNK] for x in flat)) for i in range(0, size, _CHUNK)]
        outs = tuple(np.concatenate(p) for p in zip(*parts))
    return tuple(np.reshape(o, shape) for o in outs)


def _out(x: npt.ArrayLike, scalar: bool) -> FloatOrArray:
    """Return ``float`` for scalar input, else a ``float64`` array."""
    arr = np.asarray(x, dtype=np.float64)
    return float(arr) if scalar else arr


def _as_real(x: npt.ArrayLike, name: str) -> FloatArray:
    """Convert to a ``float64`` array of the same shape (0-d kept 0-d)."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be real numbers ({exc})") from exc
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be real numbers, got dtype {arr.dtype}")
    return np.array(arr, dtype=np.float64)


def _check_order(lo_name: str, lo: float, hi_name: str, hi: float) -> None:
    """Raise ``ValueError`` unless ``lo < hi``."""
    if not lo < hi:
        raise ValueError(f"{lo_name} must be < {hi_name}, got {lo!r} >= {hi!r}")


def _hashable(v: object) -> object:
    """``v`` if hashable, else its identity."""
    try:
        hash(v)
    except TypeError:
        return ("id", id(v))
    return v


# ----------------------------------------------------------------------------
# base class
# ----------------------------------------------------------------------------


class Process(abc.ABC):
    r"""Abstract scalar linear forward process :math:`dX = -f X dt + g dB`.

    Subclasses implement the private array methods ``_f``, ``_g2``,
    ``_log_alpha`` and ``_sigma2`` (validated ``float64`` arrays in and out) and
    may override ``_log_ratio``, ``_ei`` and ``_t_from_log_snr_guess`` with
    closed forms. Instances are immutable; equality and hashing go by
    :meth:`params`, so processes can be used as dictionary keys and settings.

    Attributes
    ----------
    name : str
        Short name of the process family.
    kind : {"vp", "ve", "subvp", "ou", "general"}
        Family. VP-type processes satisfy :math:`g^2 = 2 f` and
        :math:`\sigma^2 = 1 - \alpha^2`; VE-type have :math:`f = 0`.
    T : float
        Default horizon (initialisation time of the reverse process).
    t_max : float
        Largest admissible time (``inf`` or finite, e.g. for the cosine schedule
        whose :math:`\alpha` vanishes at 1).
    m : int
        Phase-space block size: the state of data dimension d has ``m d``
        coordinates (1 for scalar processes, 2 for :class:`~scorelab.cld.CLD`).
    prior_var : float
        Variance :math:`s^2` of the default prior :math:`N(0, s^2 I)`.
    """

    name: str
    kind: str
    T: float
    t_max: float
    #: Phase-space block size: the state of data dimension d has m d coordinates.
    m: int = 1
    prior_var: float

    #: Whether ``_t_from_log_snr_guess`` is an exact inverse (else it is polished
    #: with Newton steps).
    _exact_inverse: bool = True
    _frozen: bool = False

    # -- construction helpers -------------------------------------------------

    def _finish(
        self,
        *,
        name: str,
        kind: str,
        T: object,
        t_max: float,
        prior_var: float | None,
    ) -> None:
        """Validate ``T`` against ``t_max``, set the common attributes, freeze."""
        self.name = name
        self.kind = kind
        self.t_max = float(t_max)
        self.T = check_positive(T, "T")
        if self.T > self.t_max:
            raise ValueError(f"T must be <= t_max = {self.t_max!r}, got {T!r}")
        # extreme parameters (T ~ 1e300, beta T overflowing, ...) must fail here,
        # naming T, rather than return inf/NaN (or warn) at every later call
        tT = np.asarray(self.T)
        try:
            with np.errstate(over="raise", invalid="raise"):
                ok = all(
                    np.all(np.isfinite(fn(tT)))
                    for fn in (self._log_alpha, self._sigma2, self._f, self._g2)
                )
        except FloatingPointError:
            ok = False
        except TypeError:  # phase-space processes (CLD) have no scalar alpha/sigma
            ok = True
        if not ok:
            raise ValueError(
                f"T = {T!r} is too large for this {name} process: log alpha(T), "
                "sigma^2(T), f(T) or g^2(T) overflows float64 (reduce T or the rates)"
            )
        if prior_var is None:
            prior_var = float(self._sigma2(tT))
        self.prior_var = float(prior_var)
        self._frozen = True

    def __setattr__(self, key: str, value: object) -> None:
        if self._frozen:
            raise AttributeError(
                f"{type(self).__name__} is immutable; create a new instance"
            )
        object.__setattr__(self, key, value)

    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """Constructor arguments that reproduce this process.

        Returns
        -------
        dict
            ``type(self)(**self.params()) == self``.
        """

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        assert isinstance(other, Process)
        return self.params() == other.params()

    def __hash__(self) -> int:
        items = tuple((k, _hashable(v)) for k, v in self.params().items())
        return hash((type(self).__qualname__, items))

    # -- private array interface ----------------------------------------------

    @abc.abstractmethod
    def _f(self, t: FloatArray) -> FloatArray:
        """Drift coefficient f(t)."""

    @abc.abstractmethod
    def _g2(self, t: FloatArray) -> FloatArray:
        """Squared diffusion coefficient g(t)^2."""

    @abc.abstractmethod
    def _log_alpha(self, t: FloatArray) -> FloatArray:
        """log alpha(t) = -int_0^t f."""

    @abc.abstractmethod
    def _sigma2(self, t: FloatArray) -> FloatArray:
        """Marginal noise variance sigma(t)^2."""

    def _log_ratio(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        """log(alpha(lo)/alpha(hi)) = int_lo^hi f (override for accuracy)."""
        return self._log_alpha(lo) - self._log_alpha(hi)

    def _log_snr(self, t: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore"):
            return self._log_alpha(t) - 0.5 * np.log(self._sigma2(t))

    def _ei(
        self, hi: FloatArray, lo: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Exponential-integrator coefficients; default: Gauss-Legendre."""
        return self._ei_quadrature(hi, lo)

    def _ei_quadrature(
        self, hi: FloatArray, lo: FloatArray, n_closed: FloatArray | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        r"""r in closed form; c (and n unless given) by 64-node Gauss-Legendre.

        With :math:`L(u) = \int_{lo}^u f`: :math:`c = \int e^{L} g^2`,
        :math:`n = \int e^{2L} g^2` over :math:`[lo, hi]`.
        """

        def one(h: FloatArray, low: FloatArray) -> tuple[FloatArray, ...]:
            u, w = _gl_nodes(low, h)
            L = self._log_ratio(u, low[..., None])
            wg = w * self._g2(u)
            c = np.sum(wg * np.exp(L), axis=-1)
            n = np.sum(wg * np.exp(2.0 * L), axis=-1)
            return c, n

        c, n = _chunked(one, hi, lo)
        r = np.exp(self._log_ratio(hi, lo))
        if n_closed is not None:
            n = n_closed
        return r, c, n

    def _t_from_log_snr_guess(self, lam: FloatArray) -> FloatArray | None:
        """Closed-form inverse of the log-SNR (``None``: use bisection)."""
        return None

    # -- validation -----------------------------------------------------------

    def _times(self, t: npt.ArrayLike, name: str = "t") -> FloatArray:
        """Validate times: finite, ``>= 0`` and ``<= t_max``."""
        arr = _as_real(t, name)
        if not arr.size:
            return arr
        # one min and one max: NaN propagates into both, inf shows in one
        lo, hi = float(arr.min()), float(arr.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"{name} must be finite (no NaN or inf)")
        if lo < 0.0:
            raise ValueError(f"{name} must be >= 0, got min {np.min(arr)!r}")
        if hi > self.t_max:
            raise ValueError(
                f"{name} must be <= t_max = {self.t_max!r} for {self.name}, "
                f"got max {np.max(arr)!r}"
            )
        if hi > self.T:
            # beyond the horizon (checked in _finish), float64 may overflow: raise
            # naming t instead of warning and returning inf
            tm = np.asarray(np.max(arr))
            try:
                with np.errstate(over="raise", invalid="raise"):
                    ok = all(
                        np.all(np.isfinite(fn(tm)))
                        for fn in (self._log_alpha, self._sigma2, self._f, self._g2)
                    )
            except FloatingPointError:
                ok = False
            except TypeError:  # phase-space processes (CLD)
                ok = True
            if not ok:
                raise ValueError(
                    f"{name} = {float(tm)!r} is too large for this {self.name} "
                    "process: log alpha, sigma^2, f or g^2 overflows float64 there"
                )
        return arr

    # -- public vectorised interface -------------------------------------------

    def f(self, t: npt.ArrayLike) -> FloatOrArray:
        r"""Drift coefficient :math:`f(t)` of :math:`dX = -f X dt + g dB`.

        Parameters
        ----------
        t : float or array_like
            Times in ``[0, t_max]``.

        Returns
        -------
        float or numpy.ndarray
            Same shape as ``t``.
        """
        arr = self._times(t)
        return _out(self._f(arr), arr.ndim == 0)

    def g2(self, t: npt.ArrayLike) -> FloatOrArray:
        r"""Squared diffusion coefficient :math:`g(t)^2`.

        Parameters
        ----------
        t : float or array_like
            Times in ``[0, t_max]``.

        Returns
        -------
        float or numpy.ndarray
            Same shape as ``t``.
        """
        arr = self._times(t)
        return _out(self._g2(arr), arr.ndim == 0)

    def g(self, t: npt.ArrayLike) -> FloatOrArray:
        r"""Diffusion coefficient :math:`g(t) = \sqrt{g(t)^2} \ge 0`.

        Parameters
        ----------
        t : float or array_like
            Times in ``[0, t_max]``.

        Returns
        -------
        float or numpy.ndarray
            Same shape as ``t``.
        """
        arr = self._times(t)
        return _out(np.sqrt(self._g2(arr)), arr.ndim == 0)

    def log_alpha(self, t: npt.ArrayLike) -> FloatOrArray:
        r"""Log signal scale :math:`\log\alpha(t) = -\int_0^t f`.

        Parameters
        ----------
        t : float or array_like
            Times in ``[0, t_max]``.

        Returns
        -------
        float or numpy.ndarray
            Same shape as ``t``.
        """
        arr = self._times(t)
        return _out(self._log_alpha(arr), arr.ndim == 0)

    def alpha(self, t: npt.ArrayLike) -> FloatOrArray:
        r"""Signal scale :math:`\alpha(t) = \exp(-\int_0^t f)`.

        Parameters
        ----------
        t : float or array_like
            Times in ``[0, t_max]``.

        Returns
        -------
        float or numpy.ndarray
            Same shape as ``t``.
        """
        arr = self._times(t)
        return _out(np.exp(self._log_alpha(arr)), arr.ndim == 0)

    def sigma2(self, t: npt.ArrayLike) -> FloatOrArray:
        r"""Noise variance :math:`\sigma(t)^2 = \int_0^t e^{-2\int_s^t f} g(s)^2 ds`.

        Parameters
        ----------
        t : float or array_like
            Times in ``[0, t_max]``.

        Returns
        -------
        float or numpy.ndarray
            Same shape as ``t``.
        """
        arr = self._times(t)
        return _out(self._sigma2(arr), arr.ndim == 0)

    def sigma(self, t: npt.ArrayLike) -> FloatOrArray:
        r"""Noise standard deviation :math:`\sigma(t)` of :math:`X_t` given :math:`X_0`.

        Parameters
        ----------
        t : float or array_like
            Times in ``[0, t_max]``.

        Returns
        -------
        float or numpy.ndarray
            Same shape as ``t``.
        """
        arr = self._times(t)
        return _out(np.sqrt(self._sigma2(arr)), arr.ndim == 0)

    def log_snr(self, t: npt.ArrayLike) -> FloatOrArray:
        r"""Log signal-to-noise ratio :math:`\lambda(t) = \log(\alpha(t)/\sigma(t))`.

        Strictly decreasing, :math:`d\lambda/dt = -g^2/(2\sigma^2)`, and
        :math:`+\infty` at ``t = 0``.

        Parameters
        ----------
        t : float or array_like
            Times in ``[0, t_max]``.

        Returns
        -------
        float or numpy.ndarray
            Same shape as ``t``.
        """
        arr = self._times(t)
        return _out(self._log_snr(arr), arr.ndim == 0)

    def t_from_log_snr(self, lam: npt.ArrayLike) -> FloatOrArray:
        r"""Inverse of :meth:`log_snr`: the time with :math:`\lambda(t) = lam`.

        Closed form where available; otherwise a vectorised bisection in
        :math:`\log t`. Non-exact inverses are polished with Newton steps
        :math:`t \leftarrow t + (\lambda(t) - lam)\, 2\sigma^2/g^2`, giving about
        1e-13 relative accuracy in ``t``.

        Parameters
        ----------
        lam : float or array_like
            Log-SNR values; ``+inf`` maps to ``t = 0``. Must not be below
            ``log_snr(t_max)`` when ``t_max`` is finite.

        Returns
        -------
        float or numpy.ndarray
            Times, same shape as ``lam``.

        Raises
        ------
        ValueError
            If ``lam`` contains NaN or ``-inf`` or lies outside the range of the
            log-SNR.
        """
        lam_arr = _as_real(lam, "lam")
        if np.any(np.isnan(lam_arr)) or np.any(lam_arr == -np.inf):
            raise ValueError("lam must not contain NaN or -inf")
        scalar = lam_arr.ndim == 0
        lam_arr = np.atleast_1d(lam_arr)
        zero = lam_arr == np.inf
        if math.isfinite(self.t_max):
            lam_min = float(self._log_snr(np.asarray(self.t_max)))
            if np.any(lam_arr < lam_min):
                raise ValueError(
                    f"lam must be >= log_snr(t_max) = {lam_min!r} for {self.name}, "
                    f"got min {np.min(lam_arr)!r}"
                )
        lam_f = np.where(zero, 0.0, lam_arr)
        guess = self._t_from_log_snr_guess(lam_f)
        if guess is None:
            t = self._bisect_log_snr(lam_f)
            t = self._newton_log_snr(t, lam_f, steps=4)
        else:
            t = np.asarray(guess, dtype=np.float64)
            if not self._exact_inverse:
                t = self._newton_log_snr(t, lam_f, steps=2)
        t = np.clip(t, 0.0, self.t_max)
        t = np.where(zero, 0.0, t)
        return _out(t[0] if scalar else t, scalar)

    def _newton_log_snr(self, t: FloatArray, lam: FloatArray, steps: int) -> FloatArray:
        r"""Safeguarded Newton polish of ``log_snr(t) = lam`` in :math:`u = \log t`.

        :math:`d\lambda/du = -t g^2/(2\sigma^2)`, so
        :math:`u \leftarrow u + (\lambda(t) - lam)\, 2\sigma^2/(t g^2)`; steps are
        clipped to :math:`|\Delta u| \le 1` and kept within ``[0, t_max]``.
        """
        t = np.asarray(t, dtype=np.float64).copy()
        for _ in range(steps):
            ok = t > 0.0
            ts = np.where(ok, t, 1.0)
            with np.errstate(all="ignore"):
                du = (
                    (self._log_snr(ts) - lam)
                    * 2.0
                    * self._sigma2(ts)
                    / (ts * self._g2(ts))
                )
                new = ts * np.exp(np.clip(du, -1.0, 1.0))
            good = ok & np.isfinite(new) & (new <= self.t_max)
            t = np.where(good, new, t)
        return t

    def _bisect_log_snr(self, lam: FloatArray) -> FloatArray:
        """Bracket and bisect (in log t) the decreasing log-SNR to ~1e-3 relative."""
        hi = np.full(lam.shape, min(self.T, self.t_max))
        # expand hi until log_snr(hi) <= lam
        for _ in range(200):
            bad = self._log_snr(hi) > lam
            if not np.any(bad):
                break
            if math.isfinite(self.t_max) and np.all(hi[bad] >= self.t_max):
                break
            hi = np.where(bad, np.minimum(16.0 * hi, self.t_max), hi)
        if np.any(self._log_snr(hi) > lam):
            raise ValueError(
                f"lam is below the range of log_snr for {self.name} "
                f"(min lam {np.min(lam)!r})"
            )
        # shrink lo until log_snr(lo) >= lam
        lo = hi.copy()
        for _ in range(260):
            bad = self._log_snr(lo) < lam
            if not np.any(bad):
                break
            lo = np.where(bad, lo / 16.0, lo)
        lo = np.maximum(lo, 1e-300)
        a, b = np.log(lo), np.log(hi)
        while np.max(b - a) > 1e-3:
            mid = 0.5 * (a + b)
            above = self._log_snr(np.exp(mid)) > lam
            a = np.where(above, mid, a)
            b = np.where(above, b, mid)
        return np.exp(0.5 * (a + b))

    def prior_variance(self, init: str | None = None, T: float | None = None) -> float:
        r"""Variance :math:`s^2` of the Gaussian prior :math:`N(0, s^2 I)`.

        Parameters
        ----------
        init : {None, "zero-data"}
            ``None``: the process's default :attr:`prior_var` (the stationary
            variance for OU, 1 for VP-type, :math:`\sigma_{max}^2` for VE).
            ``"zero-data"``: :math:`\sigma(T)^2`, the law of :math:`X_T` when
            :math:`X_0 = 0` (paper 2's choice).
        T : float, optional
            Horizon for ``"zero-data"``; defaults to :attr:`T`.

        Returns
        -------
        float
            The prior variance.

        Raises
        ------
        ValueError
            If ``init`` is not one of the valid values or ``T`` is invalid.
        """
        if init is None:
            return self.prior_var
        if init == "zero-data":
            horizon = self.T if T is None else T
            arr = self._times(horizon, "T")
            if arr.ndim != 0 or float(arr) <= 0.0:
                raise ValueError(f"T must be a positive scalar time, got {T!r}")
            return float(self._sigma2(arr))
        raise ValueError(f"init must be one of None, 'zero-data'; got {init!r}")

    def ei_coefficients(
        self, t_hi: npt.ArrayLike, t_lo: npt.ArrayLike
    ) -> tuple[FloatOrArray, FloatOrArray, FloatOrArray]:
        r"""Score-frozen exponential-integrator coefficients for one reverse step.

        The step from ``t_hi`` down to ``t_lo`` is
        :math:`y' = r y + c\, s(y, t_{hi}) + \sqrt{n}\, \xi` with

        .. math::

            r = \frac{\alpha(t_{lo})}{\alpha(t_{hi})} = e^{\int_{lo}^{hi} f},\quad
            c = \int_{lo}^{hi} e^{\int_{lo}^u f} g(u)^2 du,\quad
            n = r^2 \sigma_{hi}^2 - \sigma_{lo}^2.

        Closed forms where they exist, 64-node Gauss-Legendre otherwise.

        Parameters
        ----------
        t_hi, t_lo : float or array_like
            Step end points, broadcastable, ``0 <= t_lo < t_hi <= t_max``.

        Returns
        -------
        r, c, n : float or numpy.ndarray
            Coefficients, of the broadcast shape of the inputs.

        Raises
        ------
        ValueError
            If a time is invalid or ``t_lo >= t_hi``.
        """
        hi = self._times(t_hi, "t_hi")
        lo = self._times(t_lo, "t_lo")
        try:
            hi, lo = np.broadcast_arrays(hi, lo)
        except ValueError as exc:
            raise ValueError(
                f"t_hi and t_lo must have broadcastable shapes, got {hi.shape} "
                f"and {lo.shape}"
            ) from exc
        if np.any(lo >= hi):
            raise ValueError("t_lo must be < t_hi elementwise")
        scalar = hi.ndim == 0
        hi = np.array(hi, dtype=np.float64)
        lo = np.array(lo, dtype=np.float64)
        if hi.size == 0:
            e = np.empty(hi.shape)
            return e, e.copy(), e.copy()
        r, c, n = self._ei(hi, lo)
        return _out(r, scalar), _out(c, scalar), _out(n, scalar)

    # -- laws in the state space (the scalar case m = 1; CLD overrides) ---------

    def phase_space_target(self, target: Target) -> Target:
        """The data law in the process's state space.

        Parameters
        ----------
        target : Gaussian or GaussianMixture
            Data law in dimension d.

        Returns
        -------
        Target
            ``target`` itself for scalar processes; phase-space processes (CLD)
            append the law of the initial velocity (dimension ``m d``).
        """
        return target

    def marginal(self, target: Target, t: float) -> Target:
        r"""Law :math:`p_t` of the state :math:`X_t` when :math:`X_0 \sim` ``target``.

        For a scalar process every component :math:`N(\mu_k, \Sigma_k)` becomes
        :math:`N(\alpha_t \mu_k, \alpha_t^2 \Sigma_k + \sigma_t^2 I)`.

        Parameters
        ----------
        target : Gaussian or GaussianMixture
            Data law :math:`p_0` in dimension d.
        t : float
            Time, ``>= 0``.

        Returns
        -------
        Target
            A :class:`~scorelab.targets.Gaussian` for Gaussian data, else a
            :class:`~scorelab.targets.GaussianMixture` (same covariance type
            for scalar processes; dimension ``m d``).
        """
        t = float(as_float_array(t, "t", ndim=0))
        if t < 0:
            raise ValueError(f"t must be >= 0, got {t}")
        a = float(self.alpha(t))
        s2 = float(self.sigma2(t))
        means = a * target.means
        if target.covariance_type == "full":
            covs = a * a * target.covariances + s2 * np.eye(target.dim)[None]
        else:
            covs = a * a * target.covariances + s2
        if isinstance(target, Gaussian):
            return Gaussian(means[0], covs[0])
        return GaussianMixture(target.weights, means, covs, target.covariance_type)

    def position_marginal(self, target: Target, t: float) -> Target:
        """Law of the position block of :math:`X_t` (dimension d).

        :meth:`marginal` itself for scalar processes; phase-space processes
        (CLD) drop the velocity block.

        Parameters
        ----------
        target : Gaussian or GaussianMixture
            Data law in dimension d.
        t : float
            Time, ``>= 0``.

        Returns
        -------
        Target
            A Gaussian for Gaussian data, else a Gaussian mixture.
        """
        return self.marginal(target, t)

    def marginal_maps(self, t: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        r"""Forward maps :math:`\Phi(t)` and noise covariances :math:`N(t)`.

        The marginal at time t of a data component :math:`N(\mu, \Sigma)` (in
        the state space) is :math:`N((\Phi \otimes I)\mu, (\Phi \otimes I)
        \Sigma (\Phi \otimes I)^\top + N \otimes I)`; for a scalar process
        :math:`\Phi = \alpha(t)` and :math:`N = \sigma(t)^2` (1 x 1 blocks).

        Parameters
        ----------
        t : float or array_like, shape (n,)
            Times in ``[0, t_max]``.

        Returns
        -------
        Phi, Ncov : numpy.ndarray, shape (n, m, m)
            C-contiguous ``float64`` blocks.
        """
        Phi = np.asarray(self.alpha(t), dtype=np.float64).reshape(-1, 1, 1)
        Ncov = np.asarray(self.sigma2(t), dtype=np.float64).reshape(-1, 1, 1)
        return np.ascontiguousarray(Phi), np.ascontiguousarray(Ncov)

    def prior(
        self, d: int, init: str | None = None, T: float | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Gaussian initial law of the reverse process in the state space.

        Parameters
        ----------
        d : int
            Data dimension.
        init : {None, "zero-data"}
            As in :meth:`prior_variance` (scalar processes) or the phase-space
            process's own ``prior``.
        T : float, optional
            Horizon for ``"zero-data"`` (default :attr:`T`).

        Returns
        -------
        mean : numpy.ndarray, shape (m d,)
        cov : numpy.ndarray, shape (m d, m d)
            :math:`s^2 I` for scalar processes, :math:`s^2` =
            :meth:`prior_variance`.
        """
        v = float(self.prior_variance(init, T=T))
        return np.zeros(d), v * np.eye(d)

    def prior_factor(
        self, d: int, init: str | None = None, T: float | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Mean and lower Cholesky factor ``L`` (``cov = L L^T``) of :meth:`prior`.

        Parameters
        ----------
        d, init, T
            As in :meth:`prior`.

        Returns
        -------
        mean : numpy.ndarray, shape (m d,)
        L : numpy.ndarray, shape (m d, m d)
            :math:`s I` for scalar processes.
        """
        v = float(self.prior_variance(init, T=T))
        return np.zeros(d), np.sqrt(v) * np.eye(d)


# ----------------------------------------------------------------------------
# Ornstein-Uhlenbeck
# ----------------------------------------------------------------------------


class OU(Process):
    r"""Ornstein-Uhlenbeck process :math:`dX = -\alpha_0 X dt + \sigma_0 dB`.

    :math:`\alpha(t) = e^{-\alpha_0 t}`,
    :math:`\sigma(t)^2 = \sigma_0^2 (1 - e^{-2\alpha_0 t})/(2\alpha_0)`,
    stationary law :math:`N(0, \sigma_0^2/(2\alpha_0))` (the default prior). The
    defaults are paper 1's process :math:`dX = -X dt + \sqrt 2 dB` with stationary
    law :math:`N(0, I)`. Exponential integrator with :math:`h = t_{hi} - t_{lo}`:
    :math:`r = e^{\alpha_0 h}`, :math:`c = \sigma_0^2 (e^{\alpha_0 h} - 1)/\alpha_0`,
    :math:`n = \sigma_0^2 (e^{2\alpha_0 h} - 1)/(2\alpha_0)`.

    Parameters
    ----------
    alpha0 : float, default 1.0
        Drift rate, > 0.
    sigma0 : float, default sqrt(2)
        Diffusion coefficient, > 0.
    T : float, default 10.0
        Default horizon.
    """

    def __init__(
        self, alpha0: float = 1.0, sigma0: float = math.sqrt(2.0), T: float = 10.0
    ) -> None:
        self.alpha0 = check_positive(alpha0, "alpha0")
        self.sigma0 = check_positive(sigma0, "sigma0")
        self._v = self.sigma0**2 / (2.0 * self.alpha0)
        self._finish(name="ou", kind="ou", T=T, t_max=math.inf, prior_var=self._v)

    def params(self) -> dict[str, Any]:
        return {"alpha0": self.alpha0, "sigma0": self.sigma0, "T": self.T}

    def _f(self, t: FloatArray) -> FloatArray:
        return np.full(np.shape(t), self.alpha0)

    def _g2(self, t: FloatArray) -> FloatArray:
        return np.full(np.shape(t), self.sigma0**2)

    def _log_alpha(self, t: FloatArray) -> FloatArray:
        return -self.alpha0 * np.asarray(t)

    def _sigma2(self, t: FloatArray) -> FloatArray:
        return -self._v * np.expm1(-2.0 * self.alpha0 * np.asarray(t))

    def _log_ratio(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        return self.alpha0 * (hi - lo)

    def _ei(
        self, hi: FloatArray, lo: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        ah = self.alpha0 * (hi - lo)
        r = np.exp(ah)
        c = self.sigma0**2 * np.expm1(ah) / self.alpha0
        n = self._v * np.expm1(2.0 * ah)
        return r, c, n

    def _t_from_log_snr_guess(self, lam: FloatArray) -> FloatArray:
        # e^{-2 lam} = v (e^{2 a t} - 1)
        return np.logaddexp(0.0, -2.0 * lam - math.log(self._v)) / (2.0 * self.alpha0)


# ----------------------------------------------------------------------------
# VP type: g^2 = 2 f = beta, alpha = e^{-B/2}, sigma^2 = 1 - e^{-B}
# ----------------------------------------------------------------------------


class _VPType(Process):
    r"""Variance-preserving process with noise rate :math:`\beta(t)`.

    :math:`f = \beta/2`, :math:`g^2 = \beta`, :math:`B(t) = \int_0^t \beta`,
    :math:`\alpha = e^{-B/2}`, :math:`\sigma^2 = 1 - e^{-B}` and
    :math:`\lambda = \log(\alpha/\sigma)` gives :math:`B = \log(1 + e^{-2\lambda})`.
    Exponential integrator with :math:`\Delta B = B(t_{hi}) - B(t_{lo})`:
    :math:`r = e^{\Delta B/2}`, :math:`c = 2(r - 1)`, :math:`n = r^2 - 1`.
    Subclasses implement ``beta``, ``_B``, ``_B_inv`` and optionally a stable
    ``_dB``.
    """

    @abc.abstractmethod
    def _beta(self, t: FloatArray) -> FloatArray:
        """Noise rate beta(t)."""

    @abc.abstractmethod
    def _B(self, t: FloatArray) -> FloatArray:
        """Integrated rate B(t) = int_0^t beta."""

    @abc.abstractmethod
    def _B_inv(self, B: FloatArray) -> FloatArray:
        """Inverse of B."""

    def _dB(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        """B(hi) - B(lo) (override with a cancellation-free form)."""
        return self._B(hi) - self._B(lo)

    def beta(self, t: npt.ArrayLike) -> FloatOrArray:
        r"""Noise rate :math:`\beta(t) = 2 f(t) = g(t)^2`.

        Parameters
        ----------
        t : float or array_like
            Times in ``[0, t_max]``.

        Returns
        -------
        float or numpy.ndarray
            Same shape as ``t``.
        """
        arr = self._times(t)
        return _out(self._beta(arr), arr.ndim == 0)

    def integrated_beta(self, t: npt.ArrayLike) -> FloatOrArray:
        r"""Integrated noise rate :math:`B(t) = \int_0^t \beta = -2 \log\alpha(t)`.

        Parameters
        ----------
        t : float or array_like
            Times in ``[0, t_max]``.

        Returns
        -------
        float or numpy.ndarray
            Same shape as ``t``.
        """
        arr = self._times(t)
        return _out(self._B(arr), arr.ndim == 0)

    def _f(self, t: FloatArray) -> FloatArray:
        return 0.5 * self._beta(t)

    def _g2(self, t: FloatArray) -> FloatArray:
        return self._beta(t)

    def _log_alpha(self, t: FloatArray) -> FloatArray:
        return -0.5 * self._B(t)

    def _sigma2(self, t: FloatArray) -> FloatArray:
        return -np.expm1(-self._B(t))

    def _log_snr(self, t: FloatArray) -> FloatArray:
        B = self._B(t)
        with np.errstate(divide="ignore"):
            return -0.5 * B - 0.5 * np.log(-np.expm1(-B))

    def _log_ratio(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        return 0.5 * self._dB(hi, lo)

    def _ei(
        self, hi: FloatArray, lo: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        half = 0.5 * self._dB(hi, lo)
        return np.exp(half), 2.0 * np.expm1(half), np.expm1(2.0 * half)

    def _t_from_log_snr_guess(self, lam: FloatArray) -> FloatArray:
        return self._B_inv(np.logaddexp(0.0, -2.0 * lam))


def _linear_B(t: FloatArray, bmin: float, bmax: float) -> FloatArray:
    return t * (bmin + 0.5 * (bmax - bmin) * t)


def _linear_dB(hi: FloatArray, lo: FloatArray, bmin: float, bmax: float) -> FloatArray:
    return (hi - lo) * (bmin + 0.5 * (bmax - bmin) * (hi + lo))


def _linear_B_inv(B: FloatArray, bmin: float, bmax: float) -> FloatArray:
    # (bmax - bmin)/2 t^2 + bmin t - B = 0, cancellation-free root
    return 2.0 * B / (bmin + np.sqrt(bmin**2 + 2.0 * (bmax - bmin) * B))


class VP(_VPType):
    r"""Variance-preserving SDE with linear noise rate (DDPM / Song et al.).

    :math:`\beta(t) = \beta_{min} + (\beta_{max} - \beta_{min}) t`,
    :math:`f = \beta/2`, :math:`g = \sqrt\beta`,
    :math:`B(t) = \beta_{min} t + (\beta_{max} - \beta_{min}) t^2/2`,
    :math:`\alpha = e^{-B/2}`, :math:`\sigma^2 = 1 - e^{-B}`. Paper 2's "original"
    VP process.

    Parameters
    ----------
    beta_min, beta_max : float, default 0.1, 20.0
        Noise rates at ``t = 0`` and ``t = 1``, ``0 < beta_min < beta_max``.
    T : float, default 1.0
        Default horizon.
    """

    def __init__(
        self, beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0
    ) -> None:
        self.beta_min = check_positive(beta_min, "beta_min")
        self.beta_max = check_positive(beta_max, "beta_max")
        _check_order("beta_min", self.beta_min, "beta_max", self.beta_max)
        self._finish(name="vp", kind="vp", T=T, t_max=math.inf, prior_var=1.0)

    def params(self) -> dict[str, Any]:
        return {"beta_min": self.beta_min, "beta_max": self.beta_max, "T": self.T}

    def _beta(self, t: FloatArray) -> FloatArray:
        return self.beta_min + (self.beta_max - self.beta_min) * np.asarray(t)

    def _B(self, t: FloatArray) -> FloatArray:
        return _linear_B(np.asarray(t), self.beta_min, self.beta_max)

    def _dB(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        return _linear_dB(hi, lo, self.beta_min, self.beta_max)

    def _B_inv(self, B: FloatArray) -> FloatArray:
        return _linear_B_inv(B, self.beta_min, self.beta_max)


class VPConstant(_VPType):
    r"""Variance-preserving SDE with constant noise rate :math:`\beta`.

    :math:`B(t) = \beta t` (paper 2's "VP v1", default :math:`\beta = 5.05`, the
    mean rate of the linear schedule on ``[0, 1]``).

    Parameters
    ----------
    beta : float, default 5.05
        Noise rate, > 0.
    T : float, default 1.0
        Default horizon.
    """

    def __init__(self, beta: float = 5.05, T: float = 1.0) -> None:
        self.beta_const = check_positive(beta, "beta")
        self._finish(name="vp-constant", kind="vp", T=T, t_max=math.inf, prior_var=1.0)

    def params(self) -> dict[str, Any]:
        return {"beta": self.beta_const, "T": self.T}

    def _beta(self, t: FloatArray) -> FloatArray:
        return np.full(np.shape(t), self.beta_const)

    def _B(self, t: FloatArray) -> FloatArray:
        return self.beta_const * np.asarray(t)

    def _dB(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        return self.beta_const * (hi - lo)

    def _B_inv(self, B: FloatArray) -> FloatArray:
        return B / self.beta_const


class VPPolynomial(_VPType):
    r"""Variance-preserving SDE with polynomial noise rate (paper 2's "VP v2").

    :math:`\beta(t) = (b + a t)^\rho` with :math:`b = \beta_{min}^{1/\rho}`,
    :math:`a = \beta_{max}^{1/\rho} - b` (so :math:`\beta(0) = \beta_{min}`,
    :math:`\beta(1) = \beta_{max}`) and
    :math:`B(t) = ((b + a t)^{\rho + 1} - b^{\rho + 1}) / (a (\rho + 1))`.
    Paper 2 uses :math:`\rho = 2` and :math:`\rho = 5` ("deep").

    Parameters
    ----------
    beta_min, beta_max : float, default 0.1, 20.0
        ``0 < beta_min < beta_max``.
    rho : float, default 2.0
        Exponent, > 0.
    T : float, default 1.0
        Default horizon.
    """

    def __init__(
        self,
        beta_min: float = 0.1,
        beta_max: float = 20.0,
        rho: float = 2.0,
        T: float = 1.0,
    ) -> None:
        self.beta_min = check_positive(beta_min, "beta_min")
        self.beta_max = check_positive(beta_max, "beta_max")
        _check_order("beta_min", self.beta_min, "beta_max", self.beta_max)
        self.rho = check_positive(rho, "rho")
        self._b = self.beta_min ** (1.0 / self.rho)
        self._a = self.beta_max ** (1.0 / self.rho) - self._b
        self._finish(
            name="vp-polynomial", kind="vp", T=T, t_max=math.inf, prior_var=1.0
        )

    def params(self) -> dict[str, Any]:
        return {
            "beta_min": self.beta_min,
            "beta_max": self.beta_max,
            "rho": self.rho,
            "T": self.T,
        }

    def _beta(self, t: FloatArray) -> FloatArray:
        return (self._b + self._a * np.asarray(t)) ** self.rho

    def _B(self, t: FloatArray) -> FloatArray:
        p = self.rho + 1.0
        return (
            self._b**p
            * np.expm1(p * np.log1p(self._a * np.asarray(t) / self._b))
            / (self._a * p)
        )

    def _dB(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        p = self.rho + 1.0
        base = self._b + self._a * lo
        return (
            base**p * np.expm1(p * np.log1p(self._a * (hi - lo) / base)) / (self._a * p)
        )

    def _B_inv(self, B: FloatArray) -> FloatArray:
        p = self.rho + 1.0
        x = self._a * p * B / self._b**p
        return self._b * np.expm1(np.log1p(x) / p) / self._a


class VPExponential(_VPType):
    r"""Variance-preserving SDE with exponential noise rate (paper 2's "VP v3").

    :math:`\beta(t) = \beta_{min} k^t`, :math:`k = \beta_{max}/\beta_{min}`,
    :math:`B(t) = \beta_{min} (k^t - 1)/\log k`.

    Parameters
    ----------
    beta_min, beta_max : float, default 0.1, 30.0
        ``0 < beta_min < beta_max`` (paper 2: :math:`\beta = 0.1 (30/0.1)^t`).
    T : float, default 1.0
        Default horizon.
    """

    def __init__(
        self, beta_min: float = 0.1, beta_max: float = 30.0, T: float = 1.0
    ) -> None:
        self.beta_min = check_positive(beta_min, "beta_min")
        self.beta_max = check_positive(beta_max, "beta_max")
        _check_order("beta_min", self.beta_min, "beta_max", self.beta_max)
        self._logk = math.log(self.beta_max / self.beta_min)
        self._finish(
            name="vp-exponential", kind="vp", T=T, t_max=math.inf, prior_var=1.0
        )

    def params(self) -> dict[str, Any]:
        return {"beta_min": self.beta_min, "beta_max": self.beta_max, "T": self.T}

    def _beta(self, t: FloatArray) -> FloatArray:
        return self.beta_min * np.exp(self._logk * np.asarray(t))

    def _B(self, t: FloatArray) -> FloatArray:
        return self.beta_min * np.expm1(self._logk * np.asarray(t)) / self._logk

    def _dB(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        return (
            self.beta_min
            * np.exp(self._logk * lo)
            * np.expm1(self._logk * (hi - lo))
            / self._logk
        )

    def _B_inv(self, B: FloatArray) -> FloatArray:
        return np.log1p(B * self._logk / self.beta_min) / self._logk


#: Signal level at which the cosine schedule's ``t_max`` is placed.
COSINE_ALPHA_MIN = 1e-8


class CosineVP(_VPType):
    r"""Cosine variance-preserving schedule (Nichol & Dhariwal 2021).

    With :math:`\phi(t) = \frac{t + s}{1 + s}\frac{\pi}{2}`:
    :math:`\alpha(t) = \cos\phi(t)/\cos\phi(0)`, :math:`\sigma^2 = 1 - \alpha^2`,
    :math:`f = -d\log\alpha/dt = \frac{\pi}{2(1+s)}\tan\phi(t)` and
    :math:`g^2 = 2f` (VP-type: :math:`d\sigma^2/dt + 2 f\sigma^2 = 2 f \alpha^2 +
    2 f (1 - \alpha^2) = 2 f`). :math:`\alpha(1) = 0`, so the admissible range is
    cut at ``t_max``, the time where :math:`\alpha = 10^{-8}` (about
    :math:`1 - 6.4\cdot 10^{-9}` for the default ``s``; log-SNR about -18.4).
    Near ``t = 1`` the formulas use :math:`\cos\phi = \sin(\frac{\pi}{2}
    \frac{1 - t}{1 + s})` to keep relative accuracy.

    Parameters
    ----------
    s : float, default 0.008
        Offset, > 0.
    T : float, default 0.999
        Default horizon, ``<= t_max``.
    """

    _exact_inverse = False

    def __init__(self, s: float = 0.008, T: float = 0.999) -> None:
        self.s = check_positive(s, "s")
        self._k = 0.5 * math.pi / (1.0 + self.s)
        self._phi0 = self.s * self._k
        # phi0 = pi/2 - k exactly: cos(phi0) = sin(k) avoids cancellation at large s
        self._log_c0 = math.log(math.sin(self._k))
        self._tan0 = 1.0 / math.tan(self._k)
        t_max = 1.0 - math.asin(COSINE_ALPHA_MIN * math.sin(self._k)) / self._k
        self._finish(name="vp-cosine", kind="vp", T=T, t_max=t_max, prior_var=1.0)

    def params(self) -> dict[str, Any]:
        return {"s": self.s, "T": self.T}

    def _psi(self, t: FloatArray) -> FloatArray:
        """pi/2 - phi(t), computed without cancellation near t = 1."""
        return self._k * (1.0 - np.asarray(t))

    def _beta(self, t: FloatArray) -> FloatArray:
        psi = self._psi(t)
        return 2.0 * self._k * np.cos(psi) / np.sin(psi)

    def _B(self, t: FloatArray) -> FloatArray:
        d = self._k * np.asarray(t)
        # alpha - 1 = cos d - 1 - tan(phi0) sin d (accurate for small t)
        x = -2.0 * np.sin(0.5 * d) ** 2 - self._tan0 * np.sin(d)
        near = x > -0.5
        with np.errstate(divide="ignore", invalid="ignore"):
            log_near = np.log1p(np.where(near, x, 0.0))
            log_far = np.log(np.sin(self._psi(t))) - self._log_c0
        return -2.0 * np.where(near, log_near, log_far)

    def _dB(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        D = self._k * (hi - lo)
        psi_lo = self._psi(lo)
        tan_lo = np.cos(psi_lo) / np.sin(psi_lo)
        # alpha(hi)/alpha(lo) - 1 = cos D - 1 - tan(phi_lo) sin D
        x = -2.0 * np.sin(0.5 * D) ** 2 - tan_lo * np.sin(D)
        near = x > -0.5
        with np.errstate(divide="ignore", invalid="ignore"):
            near_val = -2.0 * np.log1p(np.where(near, x, 0.0))
        return np.where(near, near_val, self._B(hi) - self._B(lo))

    def _B_inv(self, B: FloatArray) -> FloatArray:
        # cos(phi) = sin(psi) = alpha cos(phi0), t = 1 - psi / k; polished by Newton
        alpha = np.exp(-0.5 * B)
        psi = np.arcsin(np.clip(alpha * math.exp(self._log_c0), 0.0, 1.0))
        return np.clip(1.0 - psi / self._k, 0.0, self.t_max)


# ----------------------------------------------------------------------------
# sub-VP
# ----------------------------------------------------------------------------


class SubVP(Process):
    r"""Sub-variance-preserving SDE (Song et al. 2021) with linear :math:`\beta`.

    :math:`f = \beta/2`, :math:`g^2 = \beta (1 - e^{-2B})`, :math:`\alpha =
    e^{-B/2}`, :math:`\sigma^2 = (1 - e^{-B})^2`, :math:`B = \int_0^t\beta`. The
    exponential integrator's :math:`c` is computed by 64-node Gauss-Legendre
    quadrature and :math:`n` from the exact, cancellation-free form
    :math:`n = r^2\sigma_{hi}^2 - \sigma_{lo}^2 = 2\sinh(\Delta B/2)\,
    (e^{\Delta B/2} - e^{-(B_{hi} + 3 B_{lo})/2})`.

    Parameters
    ----------
    beta_min, beta_max : float, default 0.1, 20.0
        ``0 < beta_min < beta_max``.
    T : float, default 1.0
        Default horizon.
    """

    _exact_inverse = False

    def __init__(
        self, beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0
    ) -> None:
        self.beta_min = check_positive(beta_min, "beta_min")
        self.beta_max = check_positive(beta_max, "beta_max")
        _check_order("beta_min", self.beta_min, "beta_max", self.beta_max)
        self._finish(name="subvp", kind="subvp", T=T, t_max=math.inf, prior_var=1.0)

    def params(self) -> dict[str, Any]:
        return {"beta_min": self.beta_min, "beta_max": self.beta_max, "T": self.T}

    def _B(self, t: FloatArray) -> FloatArray:
        return _linear_B(np.asarray(t), self.beta_min, self.beta_max)

    def _f(self, t: FloatArray) -> FloatArray:
        return 0.5 * (self.beta_min + (self.beta_max - self.beta_min) * np.asarray(t))

    def _g2(self, t: FloatArray) -> FloatArray:
        beta = self.beta_min + (self.beta_max - self.beta_min) * np.asarray(t)
        return -beta * np.expm1(-2.0 * self._B(t))

    def _log_alpha(self, t: FloatArray) -> FloatArray:
        return -0.5 * self._B(t)

    def _sigma2(self, t: FloatArray) -> FloatArray:
        return np.expm1(-self._B(t)) ** 2

    def _log_snr(self, t: FloatArray) -> FloatArray:
        B = self._B(t)
        with np.errstate(divide="ignore"):
            return -0.5 * B - np.log(-np.expm1(-B))

    def _log_ratio(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        return 0.5 * _linear_dB(hi, lo, self.beta_min, self.beta_max)

    def _ei(
        self, hi: FloatArray, lo: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        half = self._log_ratio(hi, lo)
        B_hi, B_lo = self._B(hi), self._B(lo)
        n = 2.0 * np.sinh(half) * (np.exp(half) - np.exp(-0.5 * (B_hi + 3.0 * B_lo)))
        return self._ei_quadrature(hi, lo, n_closed=n)

    def _t_from_log_snr_guess(self, lam: FloatArray) -> FloatArray:
        # e^{lam} = y / (1 - y^2), y = e^{-B/2}; with u = e^{-lam}:
        # B = 2 log((u + sqrt(u^2 + 4)) / 2) = 2 log1p((u + u^2/(sqrt(u^2+4)+2))/2)
        big = lam < -300.0
        u = np.exp(-np.where(big, 0.0, lam))
        B_small = 2.0 * np.log1p(0.5 * (u + u * u / (np.sqrt(u * u + 4.0) + 2.0)))
        B = np.where(big, -2.0 * lam, B_small)
        return _linear_B_inv(B, self.beta_min, self.beta_max)


# ----------------------------------------------------------------------------
# VE type: f = 0, sigma^2 = sigma_vp^2 - sigma_vp(0)^2
# ----------------------------------------------------------------------------


class _VEType(Process):
    r"""Variance-exploding process with noise level :math:`\sigma_{vp}(t)`.

    :math:`f = 0`, :math:`g^2 = d\sigma_{vp}^2/dt`, :math:`\alpha = 1`,
    :math:`\sigma^2(t) = \sigma_{vp}(t)^2 - \sigma_{min}^2`, default prior
    :math:`N(0, \sigma_{max}^2 I)`. Exponential integrator: :math:`r = 1`,
    :math:`c = n = \sigma^2(t_{hi}) - \sigma^2(t_{lo})` (Song's reverse-diffusion
    predictor). Subclasses implement ``_sigma_vp``, ``_g2``, ``_excess``
    (:math:`\sigma^2`), ``_excess_diff`` and ``_t_from_log_var``.
    """

    sigma_min: float
    sigma_max: float

    def _init_ve(self, sigma_min: float, sigma_max: float) -> None:
        self.sigma_min = check_positive(sigma_min, "sigma_min")
        self.sigma_max = check_positive(sigma_max, "sigma_max")
        _check_order("sigma_min", self.sigma_min, "sigma_max", self.sigma_max)
        if self.sigma_max > 1e150:
            raise ValueError(
                f"sigma_max must be <= 1e150 (sigma_max^2 must be finite in float64), "
                f"got {sigma_max!r}"
            )

    @abc.abstractmethod
    def _sigma_vp(self, t: FloatArray) -> FloatArray:
        """Noise level sigma_vp(t)."""

    @abc.abstractmethod
    def _excess(self, t: FloatArray) -> FloatArray:
        """sigma_vp(t)^2 - sigma_min^2 without cancellation."""

    @abc.abstractmethod
    def _excess_diff(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        """sigma_vp(hi)^2 - sigma_vp(lo)^2 without cancellation."""

    @abc.abstractmethod
    def _t_from_log_var(self, lv: FloatArray) -> FloatArray:
        """Time at which log sigma^2 = lv."""

    def sigma_vp(self, t: npt.ArrayLike) -> FloatOrArray:
        r"""Noise level :math:`\sigma_{vp}(t)`, with :math:`\sigma_{vp}(0) =
        \sigma_{min}` and :math:`\sigma_{vp}(1) = \sigma_{max}`.

        Parameters
        ----------
        t : float or array_like
            Times in ``[0, t_max]``.

        Returns
        -------
        float or numpy.ndarray
            Same shape as ``t``.
        """
        arr = self._times(t)
        return _out(self._sigma_vp(arr), arr.ndim == 0)

    def _f(self, t: FloatArray) -> FloatArray:
        return np.zeros(np.shape(t))

    def _log_alpha(self, t: FloatArray) -> FloatArray:
        return np.zeros(np.shape(t))

    def _sigma2(self, t: FloatArray) -> FloatArray:
        return self._excess(np.asarray(t))

    def _log_ratio(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        return np.zeros(np.broadcast(hi, lo).shape)

    def _ei(
        self, hi: FloatArray, lo: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        d = self._excess_diff(hi, lo)
        return np.ones(d.shape), d, d.copy()

    def _t_from_log_snr_guess(self, lam: FloatArray) -> FloatArray:
        return self._t_from_log_var(-2.0 * lam)


class VE(_VEType):
    r"""Variance-exploding SDE with geometric noise level (Song et al., SMLD).

    :math:`\sigma_{vp}(t) = \sigma_{min} k^t`, :math:`k = \sigma_{max}/\sigma_{min}`,
    :math:`g^2 = 2 \sigma_{vp}^2 \log k`, :math:`\sigma^2 = \sigma_{min}^2
    (k^{2t} - 1)`. Paper 2's "original" VE process (:math:`g = a e^{bt}`).

    Parameters
    ----------
    sigma_min, sigma_max : float, default 0.01, 50.0
        ``0 < sigma_min < sigma_max``.
    T : float, default 1.0
        Default horizon.
    """

    def __init__(
        self, sigma_min: float = 0.01, sigma_max: float = 50.0, T: float = 1.0
    ) -> None:
        self._init_ve(sigma_min, sigma_max)
        self._logk = math.log(self.sigma_max / self.sigma_min)
        self._finish(
            name="ve", kind="ve", T=T, t_max=math.inf, prior_var=self.sigma_max**2
        )

    def params(self) -> dict[str, Any]:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "T": self.T}

    def _sigma_vp(self, t: FloatArray) -> FloatArray:
        return self.sigma_min * np.exp(self._logk * np.asarray(t))

    def _g2(self, t: FloatArray) -> FloatArray:
        return 2.0 * self._logk * self._sigma_vp(t) ** 2

    def _excess(self, t: FloatArray) -> FloatArray:
        return self.sigma_min**2 * np.expm1(2.0 * self._logk * t)

    def _excess_diff(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        return self._sigma_vp(lo) ** 2 * np.expm1(2.0 * self._logk * (hi - lo))

    def _t_from_log_var(self, lv: FloatArray) -> FloatArray:
        return np.logaddexp(0.0, lv - 2.0 * math.log(self.sigma_min)) / (
            2.0 * self._logk
        )


class VELinear(_VEType):
    r"""Variance-exploding SDE with constant diffusion (paper 2's "VE v1").

    :math:`\sigma_{vp}^2 = \sigma_{min}^2 + (\sigma_{max}^2 - \sigma_{min}^2) t`,
    :math:`g^2 = \sigma_{max}^2 - \sigma_{min}^2`, :math:`\sigma^2 = g^2 t`.

    Parameters
    ----------
    sigma_min, sigma_max : float, default 0.01, 50.0
        ``0 < sigma_min < sigma_max``.
    T : float, default 1.0
        Default horizon.
    """

    def __init__(
        self, sigma_min: float = 0.01, sigma_max: float = 50.0, T: float = 1.0
    ) -> None:
        self._init_ve(sigma_min, sigma_max)
        self._a = self.sigma_max**2 - self.sigma_min**2
        self._finish(
            name="ve-linear",
            kind="ve",
            T=T,
            t_max=math.inf,
            prior_var=self.sigma_max**2,
        )

    def params(self) -> dict[str, Any]:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "T": self.T}

    def _sigma_vp(self, t: FloatArray) -> FloatArray:
        return np.sqrt(self.sigma_min**2 + self._a * np.asarray(t))

    def _g2(self, t: FloatArray) -> FloatArray:
        return np.full(np.shape(t), self._a)

    def _excess(self, t: FloatArray) -> FloatArray:
        return self._a * t

    def _excess_diff(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        return self._a * (hi - lo)

    def _t_from_log_var(self, lv: FloatArray) -> FloatArray:
        return np.exp(lv - math.log(self._a))


class VEQuadratic(_VEType):
    r"""Variance-exploding SDE with :math:`g = \sqrt{2 a t}` (paper 2's "VE v2").

    :math:`\sigma_{vp}^2 = \sigma_{min}^2 + a t^2`,
    :math:`a = \sigma_{max}^2 - \sigma_{min}^2`, :math:`g^2 = 2 a t`,
    :math:`\sigma^2 = a t^2`.

    Parameters
    ----------
    sigma_min, sigma_max : float, default 0.01, 50.0
        ``0 < sigma_min < sigma_max``.
    T : float, default 1.0
        Default horizon.
    """

    def __init__(
        self, sigma_min: float = 0.01, sigma_max: float = 50.0, T: float = 1.0
    ) -> None:
        self._init_ve(sigma_min, sigma_max)
        self._a = self.sigma_max**2 - self.sigma_min**2
        self._finish(
            name="ve-quadratic",
            kind="ve",
            T=T,
            t_max=math.inf,
            prior_var=self.sigma_max**2,
        )

    def params(self) -> dict[str, Any]:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "T": self.T}

    def _sigma_vp(self, t: FloatArray) -> FloatArray:
        return np.sqrt(self.sigma_min**2 + self._a * np.asarray(t) ** 2)

    def _g2(self, t: FloatArray) -> FloatArray:
        return 2.0 * self._a * np.asarray(t)

    def _excess(self, t: FloatArray) -> FloatArray:
        return self._a * t**2

    def _excess_diff(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        return self._a * (hi - lo) * (hi + lo)

    def _t_from_log_var(self, lv: FloatArray) -> FloatArray:
        return np.exp(0.5 * (lv - math.log(self._a)))


class VEPower(_VEType):
    r"""Variance-exploding SDE with EDM-like noise level (paper 2's "VE v3").

    :math:`\sigma_{vp}(t) = (b + a t)^\rho` with :math:`b = \sigma_{min}^{1/\rho}`,
    :math:`a = \sigma_{max}^{1/\rho} - b`; :math:`g^2 = d\sigma_{vp}^2/dt =
    2\rho a (b + a t)^{2\rho - 1}` (i.e. paper 2's :math:`g = (b + at)^c` family
    with :math:`c = \rho - 1/2`, up to a constant), :math:`\sigma^2 =
    (b + at)^{2\rho} - b^{2\rho}`. Paper 2 uses :math:`\rho = 2` and :math:`7`.

    Parameters
    ----------
    sigma_min, sigma_max : float, default 0.01, 50.0
        ``0 < sigma_min < sigma_max``.
    rho : float, default 7.0
        Exponent, > 0.
    T : float, default 1.0
        Default horizon.
    """

    def __init__(
        self,
        sigma_min: float = 0.01,
        sigma_max: float = 50.0,
        rho: float = 7.0,
        T: float = 1.0,
    ) -> None:
        self._init_ve(sigma_min, sigma_max)
        self.rho = check_positive(rho, "rho")
        self._b = self.sigma_min ** (1.0 / self.rho)
        self._a = self.sigma_max ** (1.0 / self.rho) - self._b
        self._finish(
            name="ve-power",
            kind="ve",
            T=T,
            t_max=math.inf,
            prior_var=self.sigma_max**2,
        )

    def params(self) -> dict[str, Any]:
        return {
            "sigma_min": self.sigma_min,
            "sigma_max": self.sigma_max,
            "rho": self.rho,
            "T": self.T,
        }

    def _sigma_vp(self, t: FloatArray) -> FloatArray:
        return (self._b + self._a * np.asarray(t)) ** self.rho

    def _g2(self, t: FloatArray) -> FloatArray:
        base = self._b + self._a * np.asarray(t)
        return 2.0 * self.rho * self._a * base ** (2.0 * self.rho - 1.0)

    def _excess(self, t: FloatArray) -> FloatArray:
        p = 2.0 * self.rho
        return self._b**p * np.expm1(p * np.log1p(self._a * t / self._b))

    def _excess_diff(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        p = 2.0 * self.rho
        base = self._b + self._a * lo
        return base**p * np.expm1(p * np.log1p(self._a * (hi - lo) / base))

    def _t_from_log_var(self, lv: FloatArray) -> FloatArray:
        p = 2.0 * self.rho
        log1p_x = np.logaddexp(0.0, lv - 2.0 * math.log(self.sigma_min))
        return self._b * np.expm1(log1p_x / p) / self._a


# ----------------------------------------------------------------------------
# user-defined linear SDE
# ----------------------------------------------------------------------------


def _vectorised(fn: object, name: str, T: float) -> Callable[[FloatArray], FloatArray]:
    """Wrap ``fn`` so it maps float64 arrays to float64 arrays of the same shape.

    ``fn`` is used as is if calling it on an array gives an array of the same shape
    agreeing with scalar calls; otherwise it is wrapped with :func:`numpy.vectorize`.
    """
    if not callable(fn):
        raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
    probe = T * np.array([0.125, 0.5, 0.875])
    ok = False
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(fn(probe), dtype=np.float64)
            if out.shape == probe.shape:
                ref = np.array([float(fn(float(p))) for p in probe])
                ok = bool(np.allclose(out, ref, rtol=1e-13, atol=0.0, equal_nan=True))
    except Exception:
        ok = False
    if ok:

        def vec(t: FloatArray) -> FloatArray:
            return np.asarray(fn(t), dtype=np.float64)  # type: ignore[operator]

        return vec
    scalar_fn = np.vectorize(
        lambda s: float(fn(float(s))),  # type: ignore[operator]
        otypes=[np.float64],
    )

    def vec2(t: FloatArray) -> FloatArray:
        return np.asarray(scalar_fn(t), dtype=np.float64)

    return vec2


class LinearSDE(Process):
    r"""User-defined linear SDE :math:`dX = -f(t) X dt + g(t) dB`.

    :math:`\log\alpha(t) = -\int_0^t f` and
    :math:`\sigma(t)^2 = \int_0^t e^{-2\int_s^t f} g(s)^2 ds` are computed by
    composite Gauss-Legendre quadrature (``panels`` equal panels of ``nodes``
    nodes on ``[0, t]``; the inner integrals by the same rule on ``[s_j, t]``).
    When :math:`2|\int_0^t f| > 20` the factor :math:`e^{-2\int_s^t f}` has a
    boundary layer, and the outer panels of :math:`\sigma^2` are additionally
    graded geometrically towards it (about :math:`\log_2(2|\int_0^t f|/20)`
    extra panels), which keeps full accuracy e.g. for VP at ``t = 100``. The
    exponential-integrator coefficients :math:`c = \int e^{L} g^2`,
    :math:`n = \int e^{2L} g^2` (:math:`L(u) = \int_{t_{lo}}^u f`) use the
    same rule on ``[t_lo, t_hi]``, which keeps ``n`` accurate and positive for
    tiny steps (instead of the cancelling :math:`r^2\sigma_{hi}^2 -
    \sigma_{lo}^2`). For smooth ``f``, ``g`` one 64-node panel is accurate to
    about 1e-14; increase ``panels`` for coefficients with kinks (the quadrature
    converges only algebraically across a kink) or very steep variation.

    Parameters
    ----------
    f, g : callable
        Drift and diffusion coefficients of ``t``. Vectorised callables (array in,
        array of the same shape out) are used directly; others are wrapped with
        :func:`numpy.vectorize`.
    T : float, default 1.0
        Default horizon.
    t_max : float, default inf
        Largest admissible time.
    prior_var : float, optional
        Default prior variance; defaults to :math:`\sigma(T)^2`.
    name : str, default "linear"
        Name of the process.
    nodes : int, default 64
        Gauss-Legendre nodes per panel.
    panels : int, default 1
        Number of equal panels.
    """

    _exact_inverse = False

    def __init__(
        self,
        f: Callable[[Any], Any],
        g: Callable[[Any], Any],
        T: float = 1.0,
        t_max: float = math.inf,
        prior_var: float | None = None,
        name: str = "linear",
        *,
        nodes: int = GL_NODES,
        panels: int = 1,
    ) -> None:
        tm = check_real(t_max, "t_max")
        if not tm > 0.0:
            raise ValueError(f"t_max must be > 0 (inf allowed), got {t_max!r}")
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        self.nodes = check_int(nodes, "nodes", 1)
        self.panels = check_int(panels, "panels", 1)
        T_val = check_positive(T, "T")
        self._user_f = f
        self._user_g = g
        self._fv = _vectorised(f, "f", min(T_val, tm))
        self._gv = _vectorised(g, "g", min(T_val, tm))
        self._prior_var_arg = prior_var
        pv = None if prior_var is None else check_positive(prior_var, "prior_var")
        # _finish computes sigma(T)^2 when pv is None (needs the attributes above)
        self.t_max = tm
        self._finish(name=name, kind="general", T=T, t_max=tm, prior_var=pv)

    def params(self) -> dict[str, Any]:
        return {
            "f": self._user_f,
            "g": self._user_g,
            "T": self.T,
            "t_max": self.t_max,
            "prior_var": self._prior_var_arg,
            "name": self.name,
            "nodes": self.nodes,
            "panels": self.panels,
        }

    def _gl(self, a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        return _gl_nodes(a, b, self.nodes, self.panels)

    def _int_f(self, a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
        """int_a^b f by composite Gauss-Legendre (broadcast over a, b)."""
        u, w = self._gl(a, b)
        return np.sum(w * self._fv(u), axis=-1)

    def _f(self, t: FloatArray) -> FloatArray:
        return self._fv(np.asarray(t, dtype=np.float64))

    def _g2(self, t: FloatArray) -> FloatArray:
        return self._gv(np.asarray(t, dtype=np.float64)) ** 2

    def _log_alpha(self, t: FloatArray) -> FloatArray:
        t = np.asarray(t, dtype=np.float64)
        return -self._int_f(0.0, t)

    def _log_ratio(self, hi: FloatArray, lo: FloatArray) -> FloatArray:
        return self._int_f(lo, hi)

    def _sigma2(self, t: FloatArray) -> FloatArray:
        def one(tt: FloatArray) -> tuple[FloatArray]:
            fracs = _graded_fracs(self._int_f(0.0, tt), self.panels)
            s, w = _gl_nodes(0.0, tt, self.nodes, fracs=fracs)
            L = self._int_f(s, tt[..., None])
            return (np.sum(w * np.exp(-2.0 * L) * self._g2(s), axis=-1),)

        return _chunked(one, np.asarray(t, dtype=np.float64))[0]
