"""Controlled score errors: the learned score is modelled as exact score + error.

A score-error model turns the exact score :math:`\\nabla\\log p_t` into
:math:`\\hat s(y, t) = \\nabla\\log p_t(y) + e(y, t)`. Models are evaluated inside
the compiled executor: each one only supplies, for every score-evaluation time
:math:`\\tau`, the coefficients of its error term (no Python per step):

- ``bias``: a vector :math:`b(\\tau)` (shape (D,)),
- ``lin`` / ``lin_scalar``: a matrix :math:`A(\\tau)` (D, D) or scalar, giving
  :math:`A(\\tau) y`,
- ``fourier``: a random Fourier field (see :class:`StageTerms`).

Affine models (bias, linear) keep Gaussian laws Gaussian, so
:func:`scorelab.exact_law` stays exact with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._validate import as_float_array

if TYPE_CHECKING:
    from .processes import Process
    from .targets import Target

__all__ = ["Bias", "Linear", "ScoreError", "StageTerms", "Sum"]

FloatArray = npt.NDArray[np.float64]


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


def _time_scale(
    scale: float | Callable[[FloatArray], Any], t: FloatArray
) -> FloatArray:
    if callable(scale):
        out = np.broadcast_to(np.asarray(scale(t), dtype=np.float64), t.shape)
    else:
        out = np.full(t.shape, float(scale))
    if not np.all(np.isfinite(out)):
        raise ValueError("scale must be finite at every score-evaluation time")
    return np.ascontiguousarray(out)


class ScoreError:
    """Base class of score-error models.

    Subclasses implement :meth:`stage_terms`; :meth:`score_target` may substitute
    the target whose exact score is used (misspecification).
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


class Sum(ScoreError):
    """Sum of several error models (their terms add)."""

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


class Bias(ScoreError):
    """Constant (or time-dependent) bias :math:`e(y, t) = \\epsilon(t)\\, b(t)`.

    Parameters
    ----------
    vector : array_like (D,) or callable t -> (len(t), D)
        The bias direction/size.
    scale : float or callable t -> (len(t),), default 1
        Multiplier :math:`\\epsilon(t)`.
    """

    def __init__(self, vector: Any, scale: float | Callable[[FloatArray], Any] = 1.0):
        self.vector = (
            vector if callable(vector) else as_float_array(vector, "vector", ndim=1)
        )
        self.scale = scale

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


class Linear(ScoreError):
    """Linear error :math:`e(y, t) = \\epsilon(t) A y`.

    Parameters
    ----------
    matrix : float or array_like (D, D)
        A scalar ``a`` means ``A = a I``.
    scale : float or callable, default 1
        Multiplier :math:`\\epsilon(t)`.
    """

    def __init__(self, matrix: Any, scale: float | Callable[[FloatArray], Any] = 1.0):
        A = as_float_array(matrix, "matrix")
        if A.ndim not in (0, 2) or (A.ndim == 2 and A.shape[0] != A.shape[1]):
            raise ValueError(
                f"matrix must be a scalar or a square matrix, got shape {A.shape}"
            )
        self.matrix = A
        self.scale = scale

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
