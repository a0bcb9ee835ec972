r"""Critically damped Langevin diffusion (CLD): a phase-space forward process.

The state is :math:`u = (x, v)` in :math:`\mathbb R^{2d}`, laid out as two blocks
of d coordinates, and the forward SDE is linear with a 2 x 2 drift acting on each
coordinate pair, :math:`du = (F \otimes I_d) u\, dt + (G \otimes I_d) dB`:

- ``param="normalized"`` (paper 1, Chen et al. 2023): :math:`dx = v\,dt`,
  :math:`dv = -x\,dt - 2v\,dt + 2\,dB`, i.e. :math:`F = [[0, 1], [-1, -2]]`,
  :math:`G = \mathrm{diag}(0, 2)`; stationary law :math:`N(0, I_{2d})`; initial
  velocity :math:`v_0 \sim N(0, I)`.
- ``param="dockhorn"`` (Dockhorn, Vahdat & Kreis 2022): :math:`dx = M^{-1} v
  \beta\,dt`, :math:`dv = -x\beta\,dt - \Gamma M^{-1} v\beta\,dt +
  \sqrt{2\Gamma\beta}\,dB` with :math:`\beta = 4`, :math:`\Gamma = 1`,
  :math:`M = 1/4` (critical damping :math:`\Gamma^2 = 4M`); stationary law
  :math:`N(0, \mathrm{diag}(1, M))`; initial velocity :math:`v_0 \sim N(0,
  \gamma M I)`, :math:`\gamma = 0.04`.

Marginals, exponential-integrator coefficients and noise covariances are computed
exactly with matrix exponentials (Van Loan's block method), so samplers built on
:meth:`CLD.ei_coefficients` (``"ei-sde"``, ``"ei-ode"``) run unchanged through the
m = 2 coefficient tables. Only the velocity component of the score enters the
reverse dynamics (the x-column of :math:`c = (\int e^{-F u} du)\, G G^T` is zero).

References
----------
.. [1] S. Chen et al., "Sampling is as easy as learning the score", ICLR 2023.
.. [2] T. Dockhorn, A. Vahdat, K. Kreis, "Score-based generative modeling with
   critically-damped Langevin diffusion", ICLR 2022.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.linalg import expm, solve_continuous_lyapunov

from .processes import Process
from .targets import Gaussian, GaussianMixture, Target

__all__ = ["CLD"]

FloatArray = npt.NDArray[np.float64]


class CLD(Process):
    """Critically damped Langevin diffusion in phase space (m = 2).

    Parameters
    ----------
    param : {"normalized", "dockhorn"}
        Parametrisation (see the module docstring).
    beta, Gamma, M, gamma : float
        Dockhorn et al.'s constants (ignored for ``"normalized"``); ``Gamma`` and
        ``M`` must be > 0, ``gamma`` > 0.
    T : float
        Default horizon (5 for normalized, 1 for dockhorn).
    """

    def __init__(
        self,
        param: str = "normalized",
        beta: float = 4.0,
        Gamma: float = 1.0,
        M: float = 0.25,
        gamma: float = 0.04,
        T: float | None = None,
    ) -> None:
        if param not in ("normalized", "dockhorn"):
            raise ValueError(f"param must be 'normalized' or 'dockhorn', got {param!r}")
        for name, val in (("beta", beta), ("Gamma", Gamma), ("M", M), ("gamma", gamma)):
            v = float(val)
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be finite and > 0, got {val!r}")
        if param == "normalized":
            F = np.array([[0.0, 1.0], [-1.0, -2.0]])
            GG = np.diag([0.0, 4.0])
            v0 = 1.0
            T = 5.0 if T is None else T
        else:
            F = beta * np.array([[0.0, 1.0 / M], [-1.0, -Gamma / M]])
            GG = np.diag([0.0, 2.0 * Gamma * beta])
            v0 = gamma * M
            T = 1.0 if T is None else T
        object.__setattr__(self, "_param", param)
        object.__setattr__(
            self, "_consts", (float(beta), float(Gamma), float(M), float(gamma))
        )
        object.__setattr__(self, "F", F)
        object.__setattr__(self, "GG", GG)
        object.__setattr__(self, "v0_var", float(v0))
        Sinf = solve_continuous_lyapunov(F, -GG)
        object.__setattr__(self, "stationary", 0.5 * (Sinf + Sinf.T))
        self._finish(name="cld", kind="cld", T=T, t_max=np.inf, prior_var=1.0)
        object.__setattr__(self, "m", 2)

    def params(self) -> dict[str, Any]:  # noqa: D102
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

    # the scalar interface does not apply to a phase-space process
    def _scalar_only(self) -> FloatArray:
        raise TypeError(
            "CLD is a phase-space (m = 2) process: use marginal_maps(t), "
            "marginal(target, t) and ei_coefficients(t_hi, t_lo)"
        )

    def _f(self, t: FloatArray) -> FloatArray:
        return self._scalar_only()

    def _g2(self, t: FloatArray) -> FloatArray:
        return self._scalar_only()

    def _log_alpha(self, t: FloatArray) -> FloatArray:
        return self._scalar_only()

    def _sigma2(self, t: FloatArray) -> FloatArray:
        return self._scalar_only()

    # -- phase-space interface used by sample() and exact_law() ---------------
    def marginal_maps(self, t: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """``Phi(t) = exp(F t)`` and ``Ncov(t) = int_0^t e^{Fu} G G^T e^{F^T u} du``.

        Returns arrays of shape (n, 2, 2) for times of shape (n,).
        """
        ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
        if np.any(~np.isfinite(ts)) or np.any(ts < 0):
            raise ValueError("t must be finite and >= 0")
        Phi = np.stack([expm(self.F * tk) for tk in ts])
        S = self.stationary
        Ncov = S[None] - np.einsum("nij,jk,nlk->nil", Phi, S, Phi)
        Ncov = 0.5 * (Ncov + np.swapaxes(Ncov, 1, 2))
        return Phi, Ncov

    def phase_space_target(self, target: Target) -> GaussianMixture:
        """The data law in phase space: ``x ~ target``, ``v ~ N(0, v0 I)`` independent."""
        d = target.dim
        K = target.n_components
        means = np.concatenate([target.means, np.zeros((K, d))], axis=1)
        covs = np.zeros((K, 2 * d, 2 * d))
        covs[:, :d, :d] = target.full_covariances()
        covs[:, d:, d:] = self.v0_var * np.eye(d)
        return GaussianMixture(target.weights, means, covs, "full")

    def marginal(self, target: Target, t: float) -> Target:
        """Phase-space law at time t (Gaussian for Gaussian data, else a mixture)."""
        ph = self.phase_space_target(target)
        Phi, Nc = self.marginal_maps(np.array([float(t)]))
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

    def prior(
        self, d: int, init: str | None = None, T: float | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Initial law in phase space: the stationary law (default) or, with
        ``init="zero-data"``, the law at T when x_0 = 0 (v_0 still random)."""
        if init is None:
            return np.zeros(2 * d), np.kron(self.stationary, np.eye(d))
        if init != "zero-data":
            raise ValueError(f"init must be None or 'zero-data' for CLD, got {init!r}")
        Tt = self.T if T is None else float(T)
        Phi, Nc = self.marginal_maps(np.array([Tt]))
        S0 = np.diag([0.0, self.v0_var])
        C = Phi[0] @ S0 @ Phi[0].T + Nc[0]
        return np.zeros(2 * d), np.kron(C, np.eye(d))

    def ei_coefficients(
        self, t_hi: npt.ArrayLike, t_lo: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Reverse exponential-integrator blocks for steps t_hi -> t_lo, each (N, 2, 2).

        ``r = exp(-F h)``, ``c = (int_0^h e^{-F u} du) G G^T`` (score coefficient of
        the reverse SDE; the ODE uses c/2) and ``n = int_0^h e^{-F u} G G^T
        e^{-F^T u} du`` (noise covariance), by Van Loan's block exponentials.
        """
        hi = np.atleast_1d(np.asarray(t_hi, dtype=np.float64))
        lo = np.atleast_1d(np.asarray(t_lo, dtype=np.float64))
        h = hi - lo
        if np.any(h <= 0):
            raise ValueError("t_lo must be < t_hi")
        A = -self.F
        r, c, n = [], [], []
        Z = np.zeros((2, 2))
        for hk in h:
            E1 = expm(np.block([[A, np.eye(2)], [Z, Z]]) * hk)
            r.append(E1[:2, :2])
            c.append(E1[:2, 2:] @ self.GG)
            E2 = expm(np.block([[A, self.GG], [Z, -A.T]]) * hk)
            n.append(E2[:2, 2:] @ E1[:2, :2].T)
        nn = np.array(n)
        return np.array(r), np.array(c), 0.5 * (nn + np.swapaxes(nn, 1, 2))

    def __repr__(self) -> str:
        return f"CLD({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"
