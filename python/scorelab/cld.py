r"""Critically damped Langevin diffusion (CLD): a phase-space forward process.

The state is :math:`z = (x, v)` in :math:`\mathbb R^{2d}`, laid out as two blocks
of d coordinates (``[x (d); v (d)]``), and the forward SDE is linear with a 2 x 2
drift acting on each coordinate pair,
:math:`dz = (F \otimes I_d) z\, dt + (G \otimes I_d)\, dB`:

- ``param="normalized"`` (paper 1, Chen et al. 2023): :math:`dx = v\,dt`,
  :math:`dv = -x\,dt - 2v\,dt + 2\,dB`, i.e. :math:`F = [[0, 1], [-1, -2]]`,
  :math:`GG^\top = \mathrm{diag}(0, 4)`; stationary law :math:`N(0, I_{2d})`;
  initial velocity :math:`v_0 \sim N(0, I)`.
- ``param="dockhorn"`` (Dockhorn, Vahdat & Kreis 2022): :math:`dx = \beta M^{-1}
  v\,dt`, :math:`dv = -\beta x\,dt - \beta\Gamma M^{-1} v\,dt +
  \sqrt{2\Gamma\beta}\,dB`, defaults :math:`\beta = 4`, :math:`\Gamma = 1`,
  :math:`M = 1/4` (critical damping :math:`\Gamma^2 = 4M`); stationary law
  :math:`N(0, \mathrm{diag}(1, M) \otimes I_d)`; initial velocity
  :math:`v_0 \sim N(0, \gamma M I)`, :math:`\gamma = 0.04`.

**One closed form for both.** With :math:`\kappa = \beta/\sqrt M` and
:math:`u = v/\sqrt M`, Dockhorn's CLD in the time :math:`s = \kappa t` *is* the
normalised CLD in :math:`(x, u)` (critical damping is what makes the rescaled
friction exactly 2). So with :math:`S = \mathrm{diag}(1, \sqrt M)`, every 2 x 2
block of the Dockhorn process is :math:`S B_N(\kappa t) S^{\pm 1}` of the
normalised block :math:`B_N` (see docs/papers.md, paper 1):

.. math::

    e^{Fs} = e^{-s}\begin{pmatrix} 1+s & s \\ -s & 1-s \end{pmatrix},\qquad
    \Sigma_s = 4\begin{pmatrix} J_2 & J_1 - J_2 \\ J_1 - J_2 & J_0 - 2J_1 + J_2
    \end{pmatrix},\quad J_k = \int_0^s u^k e^{-2u} du,

and, for one reverse step of length h with the score frozen (reverse SDE
:math:`d\bar z = (-F\bar z + GG^\top \nabla\log p)\,d\tau + G\,d\bar B`),

.. math::

    r = e^{-Fh} = e^{h}\begin{pmatrix} 1-h & -h \\ h & 1+h \end{pmatrix},\quad
    c = \Big(\int_0^h e^{-Fu} du\Big) GG^\top = 4\begin{pmatrix} 0 & -I_1(1) \\
    0 & I_0(1) + I_1(1)\end{pmatrix},

    n = \int_0^h e^{-Fu} GG^\top e^{-F^\top u} du = 4\begin{pmatrix} I_2 &
    -(I_1 + I_2) \\ -(I_1 + I_2) & I_0 + 2 I_1 + I_2 \end{pmatrix},\quad
    I_k(a) = \int_0^h u^k e^{a u} du,\ I_k = I_k(2).

The integrals are evaluated by their power series for small arguments (no
cancellation) and in closed form otherwise. The x-column of c is zero: only the
velocity score enters the reverse dynamics. The probability-flow ODE integrator
uses :math:`r` and :math:`c/2`. These are exactly the (N, 2, 2) blocks that the
``"ei-sde"`` and ``"ei-ode"`` table generators consume, so :func:`scorelab.sample`
and :func:`scorelab.exact_law` run CLD with no special case; the sampler's output
is the position block.

References
----------
.. [1] S. Chen et al., "Sampling is as easy as learning the score: theory for
   diffusion models with minimal data assumptions", ICLR 2023 (arXiv:2209.11215).
.. [2] T. Dockhorn, A. Vahdat, K. Kreis, "Score-based generative modeling with
   critically-damped Langevin diffusion", ICLR 2022.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ._validate import as_float_array, check_positive
from .processes import Process
from .targets import Gaussian, GaussianMixture, Target

__all__ = ["CLD"]

FloatArray = npt.NDArray[np.float64]

_PARAMS = ("normalized", "dockhorn")
#: Relative tolerance of the critical-damping condition Gamma^2 = 4 M.
_CRITICAL_RTOL = 1e-9
_SERIES_TERMS = 40


def _moment_integral(k: int, a: float, h: FloatArray) -> FloatArray:
    r""":math:`I_k(a, h) = \int_0^h u^k e^{a u} du` for k in {0, 1, 2}, h >= 0.

    Power series :math:`\sum_j a^j h^{j+k+1}/(j!\,(j+k+1))` where
    :math:`|a h| \le 1` (no cancellation at small h), closed forms elsewhere.
    """
    h = np.asarray(h, dtype=np.float64)
    x = a * h
    small = np.abs(x) <= 1.0
    out = np.empty_like(h)
    if np.any(small):
        hs = h[small]
        xs = x[small]
        term = np.ones_like(hs)
        acc = term / (k + 1)
        for j in range(1, _SERIES_TERMS):
            term = term * xs / j
            acc = acc + term / (j + k + 1)
        out[small] = acc * hs ** (k + 1)
    big = ~small
    if np.any(big):
        xb = x[big]
        e = np.exp(xb)
        if k == 0:
            val = np.expm1(xb)
        elif k == 1:
            val = e * (xb - 1.0) + 1.0
        else:
            val = e * (xb * xb - 2.0 * xb + 2.0) - 2.0
        out[big] = val / a ** (k + 1)
    return out


def _check_times(t: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.atleast_1d(as_float_array(t, name, allow_empty=True)).astype(np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a scalar or 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be finite and >= 0")
    return arr


class CLD(Process):
    r"""Critically damped Langevin diffusion in phase space (block size m = 2).

    Parameters
    ----------
    param : {"normalized", "dockhorn"}, default "normalized"
        Parametrisation (see the module docstring). ``"normalized"`` fixes
        :math:`\beta = 1, \Gamma = 2, M = 1` and :math:`v_0 \sim N(0, I)`.
    beta : float, default 4.0
        Time scale (``"dockhorn"`` only), > 0.
    Gamma : float, default 1.0
        Friction (``"dockhorn"`` only), > 0.
    M : float, default 0.25
        Mass (``"dockhorn"`` only), > 0 and critically damped:
        ``Gamma**2 == 4 * M`` (relative tolerance 1e-9).
    gamma : float, default 0.04
        Initial velocity variance factor, ``v_0 ~ N(0, gamma M I)``
        (``"dockhorn"`` only), > 0.
    T : float, optional
        Default horizon: 5 for ``"normalized"``, 1 for ``"dockhorn"``
        (:math:`\kappa T = 8` there).

    Attributes
    ----------
    m : int
        2 (phase space).
    F, GG : ndarray (2, 2)
        Drift and diffusion blocks.
    stationary : ndarray (2, 2)
        Stationary covariance block ``diag(1, M)``.
    v0_var : float
        Initial velocity variance.
    kappa : float
        Rate :math:`\beta/\sqrt M` of the time change to the normalised form.

    Raises
    ------
    ValueError
        Unknown ``param``; non-positive or non-finite constants; ``Gamma**2 !=
        4 M``; Dockhorn constants passed with ``param="normalized"``.

    Notes
    -----
    The scalar interface of :class:`~scorelab.processes.Process` (``alpha``,
    ``sigma``, ``f``, ``g``, ``log_snr``) does not apply and raises
    ``TypeError``; schemes written with it refuse CLD with a ``ValueError``
    (use ``"ei-sde"`` or ``"ei-ode"``). Log-SNR and Karras grids are therefore
    unavailable; use uniform, power or explicit grids.
    """

    m = 2
    F: FloatArray
    GG: FloatArray
    stationary: FloatArray
    v0_var: float
    kappa: float
    _param: str
    _consts: tuple[float, float, float, float]
    _S: FloatArray

    def __init__(
        self,
        param: str = "normalized",
        beta: float | None = None,
        Gamma: float | None = None,
        M: float | None = None,
        gamma: float | None = None,
        T: float | None = None,
    ) -> None:
        if param not in _PARAMS:
            raise ValueError(f"param must be one of {_PARAMS}, got {param!r}")
        given = {
            k: v
            for k, v in (("beta", beta), ("Gamma", Gamma), ("M", M), ("gamma", gamma))
            if v is not None
        }
        if param == "normalized":
            if given:
                raise ValueError(
                    f"param='normalized' fixes beta=1, Gamma=2, M=1, gamma=1; got "
                    f"{', '.join(sorted(given))} (use param='dockhorn' to set them)"
                )
            consts = {"beta": 1.0, "Gamma": 2.0, "M": 1.0, "gamma": 1.0}
            T = 5.0 if T is None else T
        else:
            consts = {"beta": 4.0, "Gamma": 1.0, "M": 0.25, "gamma": 0.04}
            consts.update(given)
            T = 1.0 if T is None else T
        for name, val in consts.items():
            consts[name] = check_positive(val, name)
        b, G, Mm, g0 = consts["beta"], consts["Gamma"], consts["M"], consts["gamma"]
        if abs(G * G - 4.0 * Mm) > _CRITICAL_RTOL * max(G * G, 4.0 * Mm):
            raise ValueError(
                f"CLD is critically damped: need Gamma**2 == 4 * M, got Gamma={G!r}, "
                f"M={Mm!r} (for Gamma={G!r} use M={G * G / 4!r})"
            )
        object.__setattr__(self, "_param", param)
        object.__setattr__(self, "_consts", (b, G, Mm, g0))
        object.__setattr__(self, "F", b * np.array([[0.0, 1.0 / Mm], [-1.0, -G / Mm]]))
        object.__setattr__(self, "GG", np.diag([0.0, 2.0 * G * b]))
        object.__setattr__(self, "v0_var", g0 * Mm)
        object.__setattr__(self, "stationary", np.diag([1.0, Mm]))
        object.__setattr__(self, "kappa", b / math.sqrt(Mm))
        object.__setattr__(self, "_S", np.array([1.0, math.sqrt(Mm)]))
        self._finish(name="cld", kind="cld", T=T, t_max=math.inf, prior_var=1.0)

    def params(self) -> dict[str, Any]:
        beta, Gamma, M, gamma = self._consts
        if self._param == "normalized":
            return {"param": "normalized", "T": self.T}
        return {
            "param": "dockhorn",
            "beta": beta,
            "Gamma": Gamma,
            "M": M,
            "gamma": gamma,
            "T": self.T,
        }

    # -- the scalar interface does not apply ---------------------------------
    def _scalar_only(self) -> FloatArray:
        raise TypeError(
            "CLD is a phase-space (m = 2) process without scalar alpha(t), "
            "sigma(t): use marginal_maps(t), marginal(target, t) and "
            "ei_coefficients(t_hi, t_lo)"
        )

    def _f(self, t: FloatArray) -> FloatArray:
        return self._scalar_only()

    def _g2(self, t: FloatArray) -> FloatArray:
        return self._scalar_only()

    def _log_alpha(self, t: FloatArray) -> FloatArray:
        return self._scalar_only()

    def _sigma2(self, t: FloatArray) -> FloatArray:
        return self._scalar_only()

    def prior_variance(self, init: str | None = None, T: float | None = None) -> float:
        """Not defined for CLD (the prior is a 2 x 2 block): use :meth:`prior`."""
        self._scalar_only()
        raise AssertionError  # pragma: no cover

    # -- closed-form 2 x 2 blocks ----------------------------------------------
    def _scale(self, B: FloatArray, left: int, right: int) -> FloatArray:
        """``S^left B S^right`` for blocks B (n, 2, 2), S = diag(1, sqrt M)."""
        s = self._S
        return np.asarray(B * (s**left)[:, None] * (s**right)[None, :])

    def marginal_maps(self, t: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        r"""Forward maps ``Phi(t) = exp(F t)`` and noise covariance ``Ncov(t)``.

        The marginal of data component :math:`N(\mu, \Sigma)` (in phase space)
        at time t is :math:`N((\Phi \otimes I)\mu, (\Phi\otimes I)\Sigma
        (\Phi\otimes I)^\top + N_t \otimes I)`.

        Parameters
        ----------
        t : float or array_like, shape (n,)
            Times >= 0.

        Returns
        -------
        Phi, Ncov : ndarray, shape (n, 2, 2)
        """
        s = self.kappa * _check_times(t, "t")
        e = np.exp(-s)
        Phi = np.empty((s.shape[0], 2, 2))
        Phi[:, 0, 0] = e * (1.0 + s)
        Phi[:, 0, 1] = e * s
        Phi[:, 1, 0] = -e * s
        Phi[:, 1, 1] = e * (1.0 - s)
        J0, J1, J2 = (_moment_integral(k, -2.0, s) for k in range(3))
        N = np.empty_like(Phi)
        N[:, 0, 0] = 4.0 * J2
        N[:, 0, 1] = N[:, 1, 0] = 4.0 * (J1 - J2)
        N[:, 1, 1] = 4.0 * (J0 - 2.0 * J1 + J2)
        return self._scale(Phi, 1, -1), self._scale(N, 1, 1)

    def ei_coefficients(
        self, t_hi: npt.ArrayLike, t_lo: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        r"""Exponential-integrator blocks of the reverse SDE, steps ``t_hi -> t_lo``.

        One step with the score frozen at ``t_hi``: :math:`z' = (r \otimes I) z +
        (c \otimes I)\, s(z, t_{hi}) + (n^{1/2} \otimes I)\xi`; the
        probability-flow ODE integrator uses ``r`` and ``c / 2``.

        Parameters
        ----------
        t_hi, t_lo : float or array_like, shape (N,)
            Step end points, ``0 <= t_lo < t_hi``.

        Returns
        -------
        r, c, n : ndarray, shape (N, 2, 2)
            Transition :math:`e^{-Fh}`, score coefficient :math:`(\int_0^h
            e^{-Fu} du) GG^\top` (x-column zero) and noise covariance
            :math:`\int_0^h e^{-Fu} GG^\top e^{-F^\top u} du`.
        """
        hi = _check_times(t_hi, "t_hi")
        lo = _check_times(t_lo, "t_lo")
        try:
            hi, lo = np.broadcast_arrays(hi, lo)
        except ValueError as exc:
            raise ValueError(
                f"t_hi and t_lo must have broadcastable shapes, got {hi.shape} and "
                f"{lo.shape}"
            ) from exc
        if np.any(lo >= hi):
            raise ValueError("t_lo must be < t_hi elementwise")
        h = self.kappa * (hi - lo)
        e = np.exp(h)
        r = np.empty((h.shape[0], 2, 2))
        r[:, 0, 0] = e * (1.0 - h)
        r[:, 0, 1] = -e * h
        r[:, 1, 0] = e * h
        r[:, 1, 1] = e * (1.0 + h)
        c = np.zeros_like(r)
        c[:, 0, 1] = -4.0 * _moment_integral(1, 1.0, h)
        c[:, 1, 1] = 4.0 * h * e
        I0, I1, I2 = (_moment_integral(k, 2.0, h) for k in range(3))
        n = np.empty_like(r)
        n[:, 0, 0] = 4.0 * I2
        n[:, 0, 1] = n[:, 1, 0] = -4.0 * (I1 + I2)
        n[:, 1, 1] = 4.0 * (I0 + 2.0 * I1 + I2)
        # normalised time s = kappa t: scores scale with S, noise with S S
        return self._scale(r, 1, -1), self._scale(c, 1, 1), self._scale(n, 1, 1)

    # -- laws in phase space -----------------------------------------------------
    def phase_space_target(self, target: Target) -> GaussianMixture:
        """The data law in phase space: ``x ~ target``, ``v ~ N(0, v0_var I)``.

        Parameters
        ----------
        target : Gaussian or GaussianMixture
            Data law in dimension d (any covariance type).

        Returns
        -------
        GaussianMixture
            Dimension 2d, full covariances ``blockdiag(Sigma_k, v0_var I)``.
        """
        d, K = target.dim, target.n_components
        means = np.concatenate([target.means, np.zeros((K, d))], axis=1)
        covs = np.zeros((K, 2 * d, 2 * d))
        covs[:, :d, :d] = target.full_covariances()
        covs[:, d:, d:] = self.v0_var * np.eye(d)
        return GaussianMixture(target.weights, means, covs, "full")

    def marginal(self, target: Target, t: float) -> Target:
        """Phase-space law :math:`p_t` of (x, v) at time t.

        Returns a :class:`~scorelab.targets.Gaussian` for Gaussian data, a full
        :class:`~scorelab.targets.GaussianMixture` otherwise (dimension 2d).
        """
        tt = _check_times(t, "t")
        if tt.shape != (1,):
            raise ValueError("t must be a scalar time")
        ph = self.phase_space_target(target)
        Phi, Nc = self.marginal_maps(tt)
        d = target.dim
        P = np.kron(Phi[0], np.eye(d))
        means = ph.means @ P.T
        covs = np.einsum("ij,kjl,ml->kim", P, ph.covariances, P) + np.kron(
            Nc[0], np.eye(d)
        )
        covs = 0.5 * (covs + np.swapaxes(covs, 1, 2))
        if isinstance(target, Gaussian):
            return Gaussian(means[0], covs[0])
        return GaussianMixture(ph.weights, means, covs, "full")

    def position_marginal(self, target: Target, t: float) -> Target:
        """Law of the position block x of :math:`z_t = (x, v)` (dimension d).

        The position marginal of :meth:`marginal`: a
        :class:`~scorelab.targets.Gaussian` for Gaussian data, a full
        :class:`~scorelab.targets.GaussianMixture` otherwise.
        """
        marg = self.marginal(target, t)
        d = target.dim
        if isinstance(marg, Gaussian):
            return Gaussian(marg.mean[:d], marg.cov[:d, :d])
        covs = marg.full_covariances()[:, :d, :d]
        return GaussianMixture(marg.weights, marg.means[:, :d], covs, "full")

    def score(self, target: Target, t: float, z: npt.ArrayLike) -> FloatArray:
        r"""Exact phase-space score :math:`\nabla_{(x, v)}\log p_t(z)`, (n, 2d)."""
        return self.marginal(target, t).score(z)

    def prior(
        self, d: int, init: str | None = None, T: float | None = None
    ) -> tuple[FloatArray, FloatArray]:
        r"""Initial law of the reverse process in phase space.

        Parameters
        ----------
        d : int
            Data dimension.
        init : {None, "zero-data"}
            ``None``: the stationary law :math:`N(0, \mathrm{diag}(1, M)\otimes
            I_d)` (:math:`N(0, I_{2d})` for the normalised form).
            ``"zero-data"``: the law of :math:`z_T` when :math:`x_0 = 0` and
            :math:`v_0 \sim N(0, \gamma M I)`.
        T : float, optional
            Horizon for ``"zero-data"`` (default :attr:`T`).

        Returns
        -------
        mean : ndarray, shape (2d,)
        cov : ndarray, shape (2d, 2d)
        """
        if init is None:
            return np.zeros(2 * d), np.asarray(np.kron(self.stationary, np.eye(d)))
        if init != "zero-data":
            raise ValueError(
                f"init must be None, 'zero-data', 'exact', a Gaussian or an array "
                f"for CLD; got {init!r}"
            )
        Tt = self.T if T is None else T
        Phi, Nc = self.marginal_maps(Tt)
        S0 = np.diag(np.array([0.0, self.v0_var]))
        C = Phi[0] @ S0 @ Phi[0].T + Nc[0]
        return np.zeros(2 * d), np.asarray(np.kron(0.5 * (C + C.T), np.eye(d)))

    def prior_factor(
        self, d: int, init: str | None = None, T: float | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Mean and lower Cholesky factor ``L`` (``cov = L L^T``) of :meth:`prior`."""
        mean, cov = self.prior(d, init=init, T=T)
        return mean, np.asarray(np.linalg.cholesky(cov), dtype=np.float64)

    def __repr__(self) -> str:
        return f"CLD({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"
