r"""Controlled score errors: the learned score is modelled as exact score + error.

A score-error model turns the exact score :math:`\nabla\log p_t` into
:math:`\hat s(y, t) = \nabla\log p_t(y) + e(y, t)`. Models are evaluated inside
the compiled executor: each one only supplies, for every score-evaluation time
:math:`\tau`, the coefficients of its error term (no Python per step):

- ``bias``: a vector :math:`b(\tau)` (shape (D,)),
- ``lin`` / ``lin_scalar``: a matrix :math:`A(\tau)` (D, D) or scalar, giving
  :math:`A(\tau) y`,
- ``fourier``: a random Fourier field :math:`\epsilon(\tau) \sum_f a_f
  \cos(w_f \cdot y + \phi_f)` (see :class:`FourierField`),

and :class:`Misspecified` swaps the target whose exact score is used
(:class:`Concentrated` is the misspecification by a small far bump: an error
large where :math:`p_t` is small). ``D`` is the
state dimension: d for scalar processes, 2d for phase-space processes (CLD),
where an error in the position block has no effect (only the velocity score
enters CLD's reverse dynamics).

Affine models (bias, linear, misspecification by a Gaussian) keep Gaussian laws
Gaussian, so :func:`scorelab.exact_law` stays exact with them.

Every model reports the size of its error under the true marginal,
:meth:`ScoreError.l2_error` :math:`= E_{p_t}|e(Y, t)|^2` (the quantity of
assumption A3 of paper 1), in closed form where one exists (affine errors under
any mixture, Fourier fields under any mixture, misspecification between
Gaussians) and by Monte Carlo with a standard error otherwise, and the
time-integrated error over a grid, :meth:`ScoreError.integrated_l2_error`.
Time-dependent sizes :math:`\epsilon(t)` are given as ``scale=`` callables;
:class:`PowerScale`, :class:`InverseSigmaScale` and :class:`InterpScale` cover
the usual shapes.

References
----------
.. [1] S. Chen et al., "Sampling is as easy as learning the score", ICLR 2023
   (assumption A3, Theorem 2's eps_score term).
.. [2] X. Gao, H. M. Nguyen, L. Zhu, "Wasserstein convergence guarantees for a
   general class of score-based generative models", JMLR 2025.
.. [3] A. Rahimi, B. Recht, "Random features for large-scale kernel machines",
   NeurIPS 2007.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._runtime import child_seeds
from ._validate import (
    as_float_array,
    check_finite_real,
    check_int,
    check_positive,
    check_process,
)

if TYPE_CHECKING:
    from .processes import Process
    from .targets import Target

__all__ = [
    "Bias",
    "Concentrated",
    "FourierField",
    "InterpScale",
    "InverseSigmaScale",
    "Linear",
    "Misspecified",
    "PowerScale",
    "ScoreError",
    "StageTerms",
    "Sum",
    "equal_l2_bias",
    "integrated_l2_error",
    "monte_carlo_l2_error",
]

FloatArray = npt.NDArray[np.float64]

#: Default Monte Carlo sample size of the L2 errors without a closed form.
MC_SAMPLES = 100_000


@dataclass
class StageTerms:
    """Error-term coefficients at the score-evaluation times (NC of them).

    Attributes
    ----------
    bias : ndarray (NC, D) or None
    lin : ndarray (NC, D, D) or None
    lin_scalar : ndarray (NC,) or None
    ff_eps : ndarray (NC,) or None
        Scale of the Fourier field ``eps * sum_f amp[f] cos(freq[f] . y + phase[f])``.
    ff_freq, ff_phase, ff_amp : ndarrays (F, D), (F,), (F, D) or None
    """

    bias: FloatArray | None = None
    lin: FloatArray | None = None
    lin_scalar: FloatArray | None = None
    ff_eps: FloatArray | None = None
    ff_freq: FloatArray | None = None
    ff_phase: FloatArray | None = None
    ff_amp: FloatArray | None = None

    @property
    def affine(self) -> bool:
        """Whether the error is affine in y (no Fourier field)."""
        return self.ff_freq is None

    def merge(self, other: StageTerms) -> StageTerms:
        """Sum of two sets of terms."""

        def add(a: FloatArray | None, b: FloatArray | None) -> FloatArray | None:
            if a is None:
                return b
            if b is None:
                return a
            return a + b

        if self.ff_freq is not None and other.ff_freq is not None:
            raise ValueError("at most one Fourier-field error can be combined")
        ff = self if self.ff_freq is not None else other
        return StageTerms(
            bias=add(self.bias, other.bias),
            lin=add(self.lin, other.lin),
            lin_scalar=add(self.lin_scalar, other.lin_scalar),
            ff_eps=ff.ff_eps,
            ff_freq=ff.ff_freq,
            ff_phase=ff.ff_phase,
            ff_amp=ff.ff_amp,
        )

    def affine_part(self, c: int, D: int) -> tuple[FloatArray, FloatArray]:
        """``(A, b)`` of the affine part ``A y + b`` at evaluation ``c``."""
        A = np.zeros((D, D))
        b = np.zeros(D)
        if self.lin is not None:
            A += self.lin[c]
        if self.lin_scalar is not None:
            A += self.lin_scalar[c] * np.eye(D)
        if self.bias is not None:
            b += self.bias[c]
        return A, b

    def field(self, c: int, y: FloatArray) -> FloatArray:
        """The error terms at evaluation ``c`` for states ``y`` (n, D) (NumPy)."""
        A, b = self.affine_part(c, y.shape[1])
        out = y @ A.T + b
        if self.ff_freq is not None:
            assert self.ff_eps is not None and self.ff_amp is not None
            assert self.ff_phase is not None
            out += (
                self.ff_eps[c]
                * np.cos(y @ self.ff_freq.T + self.ff_phase)
                @ (self.ff_amp)
            )
        return np.asarray(out)


# ---------------------------------------------------------------------------
# time-dependent sizes
# ---------------------------------------------------------------------------
def _time_scale(scale: Any, t: FloatArray) -> FloatArray:
    if callable(scale):
        raw = np.asarray(scale(t))
        if raw.dtype.kind not in "iuf":
            raise TypeError(f"scale(t) must return real numbers, got dtype {raw.dtype}")
        raw = raw.astype(np.float64)
        try:
            out = np.broadcast_to(raw, t.shape)
        except ValueError as exc:
            raise ValueError(
                f"scale(t) must return a scalar or shape {t.shape}, got {raw.shape}"
            ) from exc
    else:
        out = np.full(t.shape, check_finite_real(scale, "scale"))
    if not np.all(np.isfinite(out)):
        raise ValueError("scale must be finite at every score-evaluation time")
    return np.ascontiguousarray(out)


def _scale_at(scale: Any, t: float) -> float:
    return float(_time_scale(scale, np.array([float(t)]))[0])


class PowerScale:
    r"""Size :math:`\epsilon(t) = \epsilon\,(t / t_{ref})^p`.

    Parameters
    ----------
    eps : float
        Size at ``t_ref``.
    p : float
        Exponent (negative: errors grow at small noise).
    t_ref : float, default 1
        Reference time (> 0).
    """

    def __init__(self, eps: float, p: float, t_ref: float = 1.0) -> None:
        self.eps = check_finite_real(eps, "eps")
        self.p = check_finite_real(p, "p")
        self.t_ref = check_positive(t_ref, "t_ref")

    def __call__(self, t: FloatArray) -> FloatArray:
        t = np.asarray(t, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(self.eps * (t / self.t_ref) ** self.p)

    def __repr__(self) -> str:
        return f"PowerScale(eps={self.eps!r}, p={self.p!r}, t_ref={self.t_ref!r})"


class InverseSigmaScale:
    r"""Size :math:`\epsilon(t) = \epsilon / \sigma(t)`.

    A noise-prediction network with error :math:`\epsilon` in
    :math:`\hat\epsilon = -\sigma s` has score error :math:`\epsilon/\sigma_t`;
    this is the typical shape of a trained model's score error. For a
    phase-space process (CLD), :math:`\sigma(t)` is the standard deviation of
    the velocity noise, :math:`\sqrt{N_t[1, 1]}`.

    Parameters
    ----------
    process : Process
        Forward process.
    eps : float
        Error of the noise prediction.
    """

    def __init__(self, process: Process, eps: float) -> None:
        self.process = process
        self.eps = check_finite_real(eps, "eps")

    def __call__(self, t: FloatArray) -> FloatArray:
        t = np.asarray(t, dtype=np.float64)
        # sigma(t) for scalar processes; the velocity noise for CLD: the last
        # coordinate of the noise block
        _, Nc = self.process.marginal_maps(np.ravel(t))
        s = np.sqrt(Nc[:, -1, -1]).reshape(t.shape)
        return np.asarray(self.eps / s)

    def __repr__(self) -> str:
        return f"InverseSigmaScale({self.process!r}, eps={self.eps!r})"


class InterpScale:
    """Size interpolated linearly between ``(times[i], values[i])``.

    Constant beyond the end points (``numpy.interp``).

    Parameters
    ----------
    times : array_like, shape (n,)
        Strictly increasing times.
    values : array_like, shape (n,)
        Sizes at those times.
    """

    def __init__(self, times: npt.ArrayLike, values: npt.ArrayLike) -> None:
        t = as_float_array(times, "times", ndim=1)
        v = as_float_array(values, "values", shape=(t.shape[0],))
        if np.any(np.diff(t) <= 0):
            raise ValueError("times must be strictly increasing")
        self.times, self.values = t, v

    def __call__(self, t: FloatArray) -> FloatArray:
        return np.interp(np.asarray(t, dtype=np.float64), self.times, self.values)

    def __repr__(self) -> str:
        return (
            f"InterpScale(times={self.times.tolist()}, values={self.values.tolist()})"
        )


# ---------------------------------------------------------------------------
# marginals under the process (scalar or phase space)
# ---------------------------------------------------------------------------
def _marginal(target: Target, process: Process, t: float) -> Target:
    return check_process(process).marginal(target, t)


def _state_dim(target: Target, process: Process) -> int:
    return target.dim * check_process(process).m


def _components(p: Target) -> tuple[FloatArray, FloatArray, FloatArray]:
    return p.weights, p.means, p.full_covariances()


def _l2_affine(A: FloatArray, b: FloatArray, p: Target) -> float:
    """E |A y + b|^2 for y ~ p (mixture): exact from component moments."""
    total = 0.0
    for w, m, C in zip(*_components(p)):
        r = A @ m + b
        total += w * (float(r @ r) + float(np.trace(A @ C @ A.T)))
    return total


def _fourier_moments(
    terms: StageTerms, A: FloatArray, b: FloatArray, p: Target
) -> float:
    r"""E|A y + b + eps sum_f a_f cos(w_f.y + phi_f)|^2 for a Gaussian mixture p.

    With :math:`\theta = w\cdot m + \phi`, :math:`q = w^\top C w`:
    :math:`E\cos(w\cdot y + \phi) = \cos\theta\, e^{-q/2}`,
    :math:`E[y \cos(w\cdot y + \phi)] = (m\cos\theta - C w \sin\theta)
    e^{-q/2}`, and products of cosines by
    :math:`\cos u \cos v = (\cos(u - v) + \cos(u + v))/2`.
    """
    assert terms.ff_freq is not None and terms.ff_amp is not None
    assert terms.ff_phase is not None and terms.ff_eps is not None
    w, phi, a = terms.ff_freq, terms.ff_phase, terms.ff_amp
    eps = float(terms.ff_eps[0])
    G = a @ a.T
    tot = 0.0
    for wk, m, C in zip(*_components(p)):
        r = A @ m + b
        aff = float(r @ r) + float(np.trace(A @ C @ A.T))
        th = w @ m + phi
        Q = np.einsum("fi,ij,gj->fg", w, C, w)
        q = np.diag(Q)
        damp = np.exp(-0.5 * q)
        # cross term 2 eps sum_f a_f . E[(A y + b) cos(theta_f(y))]
        Ey = (m[None] * np.cos(th)[:, None] - (w @ C) * np.sin(th)[:, None]) * damp[
            :, None
        ]
        cross = float(np.sum(a * (Ey @ A.T + b[None] * (np.cos(th) * damp)[:, None])))
        minus = np.cos(th[:, None] - th[None]) * np.exp(
            -0.5 * (q[:, None] + q[None] - 2 * Q)
        )
        plus = np.cos(th[:, None] + th[None]) * np.exp(
            -0.5 * (q[:, None] + q[None] + 2 * Q)
        )
        ff = float(np.sum(G * 0.5 * (minus + plus)))
        tot += wk * (aff + 2.0 * eps * cross + eps * eps * ff)
    return tot


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------
class ScoreError:
    """Base class of score-error models.

    Subclasses implement :meth:`stage_terms`; :meth:`score_target` may substitute
    the target whose exact score is used (misspecification). The base class
    provides the NumPy reference :meth:`error_field`, :meth:`l2_error` (closed
    form when the error is affine with Gaussian misspecification, or a Fourier
    field plus an affine part, under the mixture :math:`p_t`; Monte Carlo
    otherwise) and :meth:`integrated_l2_error`.
    """

    affine: bool = True

    def stage_terms(
        self, target: Target, process: Process, times: FloatArray, D: int
    ) -> StageTerms:
        """Coefficients of the error at the score-evaluation ``times`` (NC,)."""
        raise NotImplementedError

    def score_target(self, target: Target) -> Target:
        """The target whose exact score the model perturbs (default: ``target``)."""
        return target

    def __add__(self, other: ScoreError) -> Sum:
        return Sum(self, other)

    # -- evaluation in NumPy (reference for tests and Monte Carlo) -------------
    def error_field(
        self, target: Target, process: Process, t: float, y: npt.ArrayLike
    ) -> FloatArray:
        r""":math:`e(y, t) = \hat s(y, t) - \nabla\log p_t(y)`, shape (n, D).

        Evaluates exactly what the executor adds (NumPy, for checks and Monte
        Carlo), including the change of target of :class:`Misspecified`.

        Parameters
        ----------
        target : Gaussian or GaussianMixture
            Data law.
        process : Process
            Forward process.
        t : float
            Time.
        y : array_like, shape (n, D)
            States (D = d, or 2d for CLD).
        """
        D = _state_dim(target, process)
        yy = as_float_array(y, "y", shape=(None, D))
        terms = self.stage_terms(target, process, np.array([float(t)]), D)
        out = terms.field(0, yy)
        st = self.score_target(target)
        if st is not target:
            out = (
                out
                + _marginal(st, process, t).score(yy)
                - _marginal(target, process, t).score(yy)
            )
        return np.asarray(out)

    def _affine_total(
        self, target: Target, process: Process, t: float, p: Target
    ) -> tuple[FloatArray, FloatArray, StageTerms] | None:
        """(A, b, terms) with e = A y + b (+ Fourier terms), or None."""
        D = _state_dim(target, process)
        terms = self.stage_terms(target, process, np.array([float(t)]), D)
        A, b = terms.affine_part(0, D)
        st = self.score_target(target)
        if st is not target:
            q = _marginal(st, process, t)
            if p.n_components != 1 or q.n_components != 1:
                return None
            Pp = np.linalg.inv(p.full_covariances()[0])
            Pq = np.linalg.inv(q.full_covariances()[0])
            A = A + Pp - Pq
            b = b + Pq @ q.means[0] - Pp @ p.means[0]
        return A, b, terms

    def l2_error(
        self,
        target: Target,
        process: Process,
        t: float,
        n: int = MC_SAMPLES,
        seed: Any = 0,
    ) -> tuple[float, float]:
        r"""Size of the error under the true marginal, :math:`E_{p_t}|e(Y, t)|^2`.

        Parameters
        ----------
        target : Gaussian or GaussianMixture
            Data law :math:`p_0`.
        process : Process
            Forward process (scalar or CLD).
        t : float
            Time.
        n : int, default 100000
            Monte Carlo sample size when there is no closed form.
        seed : int or SeedSequence, default 0
            Seed of the Monte Carlo sample.

        Returns
        -------
        value : float
            :math:`E_{p_t}|e|^2` (a squared norm, like A3's
            :math:`\epsilon_{score}^2`).
        stderr : float
            0 for closed forms, else the Monte Carlo standard error.
        """
        p = _marginal(target, process, float(t))
        aff = self._affine_total(target, process, float(t), p)
        if aff is not None:
            A, b, terms = aff
            if terms.ff_freq is None:
                return _l2_affine(A, b, p), 0.0
            return _fourier_moments(terms, A, b, p), 0.0
        return monte_carlo_l2_error(self, target, process, t, n=n, seed=seed)

    def integrated_l2_error(
        self,
        target: Target,
        process: Process,
        grid: npt.ArrayLike,
        weight: Callable[[FloatArray], Any] | None = None,
        n: int = MC_SAMPLES,
        seed: Any = 0,
    ) -> tuple[float, float]:
        r"""Time-integrated error :math:`\sum_k h_k\, w(t_k)\,
        E_{p_{t_k}}|e(\cdot, t_k)|^2`, :math:`h_k = t_k - t_{k+1}`.

        The score is frozen at the left (larger) end of each step, as in the
        exponential integrators, so this is the score term of paper 1's path
        KL bound (Theorem 9: :math:`\sum_k h_k \epsilon_k^2`); pass
        ``weight=process.g2`` for the :math:`\int g^2 \epsilon^2` form.

        Parameters
        ----------
        target, process
            As in :meth:`l2_error`.
        grid : array_like, shape (N + 1,)
            Decreasing times.
        weight : callable t -> (len(t),), optional
            Weight :math:`w(t)` (default 1).
        n, seed
            Monte Carlo settings (independent streams per grid time).

        Returns
        -------
        value, stderr : float
        """
        from .grids import validate_grid

        t = validate_grid(grid)
        hk = t[:-1] - t[1:]
        w = np.ones_like(hk) if weight is None else _time_scale(weight, t[:-1])
        kids = child_seeds(seed, hk.shape[0])
        vals = np.empty_like(hk)
        ses = np.empty_like(hk)
        for k, tk in enumerate(t[:-1]):
            vals[k], ses[k] = self.l2_error(target, process, float(tk), n, kids[k])
        return float(np.sum(hk * w * vals)), float(np.sqrt(np.sum((hk * w * ses) ** 2)))


def monte_carlo_l2_error(
    model: ScoreError,
    target: Target,
    process: Process,
    t: float,
    n: int = MC_SAMPLES,
    seed: Any = 0,
) -> tuple[float, float]:
    """Monte Carlo :math:`E_{p_t}|e(Y, t)|^2` with its standard error.

    Draws ``n`` exact samples of :math:`p_t` and averages the squared norm of
    :meth:`ScoreError.error_field`; works for every model.

    Returns
    -------
    value, stderr : float
    """
    n = check_int(n, "n", 2)
    p = _marginal(target, process, float(t))
    y = p.sample(n, seed)
    e = model.error_field(target, process, float(t), y)
    v = np.einsum("ij,ij->i", e, e)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(n))


def integrated_l2_error(
    model: ScoreError,
    target: Target,
    process: Process,
    grid: npt.ArrayLike,
    weight: Callable[[FloatArray], Any] | None = None,
    n: int = MC_SAMPLES,
    seed: Any = 0,
) -> tuple[float, float]:
    """Function form of :meth:`ScoreError.integrated_l2_error`."""
    if not isinstance(model, ScoreError):
        raise TypeError(f"model must be a ScoreError, got {type(model).__name__}")
    return model.integrated_l2_error(target, process, grid, weight, n, seed)


class Sum(ScoreError):
    """Sum of several error models (their terms add).

    At most one :class:`FourierField` and one :class:`Misspecified` (the last
    one wins) can be combined.
    """

    def __init__(self, *models: ScoreError) -> None:
        for m in models:
            if not isinstance(m, ScoreError):
                raise TypeError(f"Sum takes ScoreError models, got {type(m).__name__}")
        self.models = models
        self.affine = all(m.affine for m in models)

    def stage_terms(
        self, target: Target, process: Process, times: FloatArray, D: int
    ) -> StageTerms:
        out = StageTerms()
        for m in self.models:
            out = out.merge(m.stage_terms(target, process, times, D))
        return out

    def score_target(self, target: Target) -> Target:
        for m in self.models:
            target = m.score_target(target)
        return target

    def __repr__(self) -> str:
        return " + ".join(repr(m) for m in self.models)


class Bias(ScoreError):
    r"""Constant (or time-dependent) bias :math:`e(y, t) = \epsilon(t)\, b(t)`.

    :math:`E_{p_t}|e|^2 = \epsilon(t)^2 |b(t)|^2` exactly. A constant bias only
    shifts the mean of Gaussian outputs (exactly testable with
    :func:`scorelab.exact_law`).

    Parameters
    ----------
    vector : array_like (D,) or callable t -> (len(t), D)
        The bias direction/size (D = 2d for CLD).
    scale : float or callable t -> (len(t),), default 1
        Multiplier :math:`\epsilon(t)` (see :class:`PowerScale` and friends).
    """

    def __init__(self, vector: Any, scale: float | Callable[[FloatArray], Any] = 1.0):
        self.vector = (
            vector if callable(vector) else as_float_array(vector, "vector", ndim=1)
        )
        self.scale = scale if callable(scale) else check_finite_real(scale, "scale")

    def stage_terms(
        self, target: Target, process: Process, times: FloatArray, D: int
    ) -> StageTerms:
        t = np.asarray(times, dtype=np.float64)
        if callable(self.vector):
            b = as_float_array(self.vector(t), "vector(t)", shape=(t.shape[0], D))
        else:
            if self.vector.shape[0] != D:
                raise ValueError(
                    f"vector must have shape ({D},), got {self.vector.shape}"
                )
            b = np.broadcast_to(self.vector, (t.shape[0], D))
        return StageTerms(
            bias=np.ascontiguousarray(b * _time_scale(self.scale, t)[:, None])
        )

    def __repr__(self) -> str:
        return f"Bias({self.vector!r}, scale={self.scale!r})"


class Linear(ScoreError):
    r"""Linear error :math:`e(y, t) = \epsilon(t) A y`.

    :math:`E_{p_t}|e|^2 = \epsilon^2 \sum_k w_k (|A m_k|^2 + \mathrm{tr}(A C_k
    A^\top))` exactly for the mixture :math:`p_t = \sum_k w_k N(m_k, C_k)`.

    Parameters
    ----------
    matrix : float or array_like (D, D)
        A scalar ``a`` means ``A = a I``.
    scale : float or callable, default 1
        Multiplier :math:`\epsilon(t)`.
    """

    def __init__(self, matrix: Any, scale: float | Callable[[FloatArray], Any] = 1.0):
        A = as_float_array(matrix, "matrix")
        if A.ndim not in (0, 2) or (A.ndim == 2 and A.shape[0] != A.shape[1]):
            raise ValueError(
                f"matrix must be a scalar or a square matrix, got shape {A.shape}"
            )
        self.matrix = A
        self.scale = scale if callable(scale) else check_finite_real(scale, "scale")

    def stage_terms(
        self, target: Target, process: Process, times: FloatArray, D: int
    ) -> StageTerms:
        t = np.asarray(times, dtype=np.float64)
        sc = _time_scale(self.scale, t)
        if self.matrix.ndim == 0:
            return StageTerms(lin_scalar=sc * float(self.matrix))
        if self.matrix.shape != (D, D):
            raise ValueError(
                f"matrix must have shape ({D}, {D}), got {self.matrix.shape}"
            )
        return StageTerms(
            lin=np.ascontiguousarray(sc[:, None, None] * self.matrix[None])
        )

    def __repr__(self) -> str:
        return f"Linear({self.matrix!r}, scale={self.scale!r})"


class Misspecified(ScoreError):
    r"""The exact score of another target (e.g. shifted means, perturbed weights).

    :math:`e(y, t) = \nabla\log q_t(y) - \nabla\log p_t(y)`. Between two
    Gaussians the difference is affine, so :func:`scorelab.exact_law` stays exact
    and :meth:`l2_error` is in closed form; with mixtures it is Monte Carlo.

    Parameters
    ----------
    other : Gaussian or GaussianMixture
        Target whose score replaces the true one, same dimension.
    """

    def __init__(self, other: Target) -> None:
        from .targets import Target as _T

        if not isinstance(other, _T):
            raise TypeError(
                f"other must be a scorelab target, got {type(other).__name__}"
            )
        self.other = other

    def stage_terms(
        self, target: Target, process: Process, times: FloatArray, D: int
    ) -> StageTerms:
        return StageTerms()

    def score_target(self, target: Target) -> Target:
        if self.other.dim != target.dim:
            raise ValueError(
                f"other must have dimension {target.dim}, got {self.other.dim}"
            )
        return self.other

    def __repr__(self) -> str:
        return f"Misspecified({self.other!r})"


class FourierField(ScoreError):
    r"""Smooth random error field of controlled size (random Fourier features).

    :math:`e(y, t) = \epsilon(t) \sqrt{2/F} \sum_f a_f \cos(w_f\cdot y +
    \phi_f)` with :math:`w_f \sim \mathcal N(0, I/\ell^2)`,
    :math:`\phi_f \sim U(0, 2\pi)`, :math:`a_f \sim \mathcal N(0, I/D)`, so
    that :math:`E|e|^2 \approx \epsilon^2` for a law of y broad compared with
    :math:`\ell` (exact value under :math:`p_t`: :meth:`l2_error`, closed form
    through the characteristic function of the Gaussian components). The field
    is smooth (Lipschitz constant about :math:`\epsilon/\ell`) and is evaluated
    inside the compiled executor; it is not affine, so it works with
    :func:`scorelab.sample` only.

    Parameters
    ----------
    eps : float or callable t -> eps(t)
        Size of the field.
    n_features : int, default 64
        Number of features F.
    bandwidth : float, default 1
        Length scale :math:`\ell` (> 0).
    seed : int, default 0
        Seed of the field (features are fixed once drawn, per dimension D).
    """

    affine = False

    def __init__(
        self,
        eps: float | Callable[[FloatArray], Any],
        n_features: int = 64,
        bandwidth: float = 1.0,
        seed: int = 0,
    ) -> None:
        if not callable(eps):
            eps = check_finite_real(eps, "eps")
        self.eps = eps
        self.n_features = check_int(n_features, "n_features", 1)
        self.bandwidth = check_positive(bandwidth, "bandwidth")
        self.seed = check_int(seed, "seed", 0)

    def features(self, D: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(freq (F, D), phase (F,), amp (F, D)) with the sqrt(2/F) folded in amp."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, D]))
        F = self.n_features
        w = rng.standard_normal((F, D)) / self.bandwidth
        phi = rng.uniform(0.0, 2 * np.pi, F)
        a = rng.standard_normal((F, D)) / np.sqrt(D) * np.sqrt(2.0 / F)
        return np.ascontiguousarray(w), phi, np.ascontiguousarray(a)

    def stage_terms(
        self, target: Target, process: Process, times: FloatArray, D: int
    ) -> StageTerms:
        w, phi, a = self.features(D)
        return StageTerms(
            ff_eps=_time_scale(self.eps, np.asarray(times, dtype=np.float64)),
            ff_freq=w,
            ff_phase=phi,
            ff_amp=a,
        )

    def __repr__(self) -> str:
        return (
            f"FourierField(eps={self.eps!r}, n_features={self.n_features}, "
            f"bandwidth={self.bandwidth!r}, seed={self.seed})"
        )


class Concentrated(Misspecified):
    r"""An error concentrated where :math:`p_t` is small: the score of the data
    with a small far bump added.

    The score used is that of :math:`q = (1 - w)\,p_0 + w\,\mathcal N(c,
    s^2 I)`, so :math:`e(y, t) = \nabla\log q_t(y) - \nabla\log p_t(y) =
    \rho_t(y)\,(\nabla\log b_t(y) - \nabla\log p_t(y))` with :math:`b_t` the
    law of the bump at time t and :math:`\rho_t = w b_t / q_t` its
    responsibility. Where :math:`p_t` dominates, :math:`|e| \approx w (b_t /
    p_t) |\dots|` is negligible; near :math:`\alpha_t c`, where :math:`p_t` is
    small, :math:`|e|` is of order :math:`|c|/s^2` (large in sup norm). Its
    size in :math:`L^2(p_t)` (:meth:`l2_error`) is of order :math:`w`'s tail
    mass, so at equal :math:`L^2` size it is much larger in sup norm than a
    spatially uniform error (compare :func:`equal_l2_bias`).

    It keeps Gaussian targets non-Gaussian (``q`` is a mixture), so it works
    with :func:`scorelab.sample` only.

    Parameters
    ----------
    center : array_like, shape (d,)
        Bump centre :math:`c` (put it in the tail of :math:`p_0`).
    weight : float
        Bump weight :math:`w \in (0, 1)`; controls the size of the error.
    width : float
        Bump standard deviation :math:`s > 0`.
    """

    def __init__(self, center: npt.ArrayLike, weight: float, width: float) -> None:
        self.center = as_float_array(center, "center", ndim=1)
        w = check_positive(weight, "weight")
        if w >= 1.0:
            raise ValueError(f"weight must be in (0, 1), got {weight!r}")
        self.weight = w
        self.width = check_positive(width, "width")

    def bump(self) -> Target:
        r"""The bump :math:`\mathcal N(c, s^2 I)` as a target."""
        from .targets import Gaussian

        d = self.center.shape[0]
        return Gaussian(self.center, self.width**2 * np.eye(d))

    def score_target(self, target: Target) -> Target:
        from .targets import GaussianMixture

        if self.center.shape[0] != target.dim:
            raise ValueError(
                f"center must have dimension {target.dim}, got {self.center.shape[0]}"
            )
        w = self.weight
        return GaussianMixture(
            np.append((1.0 - w) * target.weights, w),
            np.vstack([target.means, self.center[None]]),
            np.concatenate(
                [target.full_covariances(), self.width**2 * np.eye(target.dim)[None]]
            ),
            "full",
        )

    def l2_error(
        self,
        target: Target,
        process: Process,
        t: float,
        n: int = MC_SAMPLES,
        seed: Any = 0,
    ) -> tuple[float, float]:
        r""":math:`E_{p_t}|e(Y, t)|^2` by importance sampling, with its standard error.

        Plain Monte Carlo under :math:`p_t` rarely visits the bump, where the
        error lives; the draws come instead from the defensive mixture
        :math:`\pi = (p_t + b_t)/2` and are weighted by :math:`p_t/\pi \le 2`
        (bounded weights, so the estimator has finite variance):
        :math:`\hat v = \frac1n \sum_i (p_t/\pi)(Y_i)\,|e(Y_i, t)|^2`.

        Parameters and returns as in :meth:`ScoreError.l2_error`.
        """
        n = check_int(n, "n", 2)
        p = _marginal(target, process, float(t))
        b = _marginal(self.bump(), process, float(t))
        kids = child_seeds(seed, 3)
        half = np.random.default_rng(kids[0]).random(n) < 0.5
        y = np.empty((n, p.dim))
        k = int(half.sum())
        if k:
            y[half] = b.sample(k, kids[1])
        if n - k:
            y[~half] = p.sample(n - k, kids[2])
        lp, lb = p.logpdf(y), b.logpdf(y)
        # p / ((p + b) / 2) = 2 / (1 + exp(lb - lp))
        wgt = 2.0 / (1.0 + np.exp(np.clip(lb - lp, -700.0, 700.0)))
        e = self.error_field(target, process, float(t), y)
        v = wgt * np.einsum("ij,ij->i", e, e)
        return float(v.mean()), float(v.std(ddof=1) / math.sqrt(n))

    def __repr__(self) -> str:
        return (
            f"Concentrated(center={self.center.tolist()}, weight={self.weight!r}, "
            f"width={self.width!r})"
        )


def equal_l2_bias(
    model: ScoreError,
    target: Target,
    process: Process,
    times: npt.ArrayLike,
    direction: npt.ArrayLike | None = None,
    n: int = MC_SAMPLES,
    seed: Any = 0,
) -> tuple[Bias, FloatArray, FloatArray]:
    r"""A spatially uniform error with the same :math:`L^2(p_t)` size as ``model``.

    The bias :math:`e(y, t) = \epsilon(t) u` (:math:`|u| = 1`) with
    :math:`\epsilon(t_i)^2 = E_{p_{t_i}}|e_{model}(\cdot, t_i)|^2` at the given
    times (linear interpolation of :math:`\epsilon` in between, constant
    beyond): its sup norm equals its :math:`L^2` size, while a concentrated
    model's sup norm is much larger.

    Parameters
    ----------
    model : ScoreError
        The model to match.
    target, process
        As in :meth:`ScoreError.l2_error`.
    times : array_like, shape (k,)
        Distinct times (e.g. the score-evaluation times of a grid).
    direction : array_like, shape (D,), optional
        Direction u (normalised here; default ``(1, 1, ...)/sqrt(D)``).
    n, seed
        Monte Carlo settings of ``model.l2_error`` (independent streams per time).

    Returns
    -------
    bias : Bias
    sizes : ndarray (k,)
        :math:`\epsilon(t_i)` at the sorted times.
    stderr : ndarray (k,)
        Standard errors of :math:`\epsilon(t_i)^2` (0 for closed forms).
    """
    if not isinstance(model, ScoreError):
        raise TypeError(f"model must be a ScoreError, got {type(model).__name__}")
    t = np.unique(as_float_array(times, "times", ndim=1))
    D = _state_dim(target, process)
    u = (
        np.ones(D)
        if direction is None
        else as_float_array(direction, "direction", shape=(D,))
    )
    nu = float(np.linalg.norm(u))
    if nu == 0.0:
        raise ValueError("direction must be non-zero")
    kids = child_seeds(seed, t.shape[0])
    v = np.empty_like(t)
    se = np.empty_like(t)
    for i, ti in enumerate(t):
        v[i], se[i] = model.l2_error(target, process, float(ti), n, kids[i])
    sizes = np.sqrt(np.maximum(v, 0.0))
    scale: Any = InterpScale(t, sizes) if t.shape[0] > 1 else float(sizes[0])
    return Bias(u / nu, scale=scale), sizes, se
