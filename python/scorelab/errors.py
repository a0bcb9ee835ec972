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


# ---------------------------------------------------------------------------
# L2 errors under the marginals and more models
# ---------------------------------------------------------------------------
def _marginal(target: Target, process: Process, t: float) -> Target:
    return target.noised(process, t)  # type: ignore[attr-defined,no-any-return]


def _components(p: Target) -> tuple[FloatArray, FloatArray, FloatArray]:
    return p.weights, p.means, p.full_covariances()


def _l2_affine(A: FloatArray, b: FloatArray, p: Target) -> float:
    """E |A y + b|^2 for y ~ p (mixture): exact from component moments."""
    total = 0.0
    for w, m, C in zip(*_components(p)):
        r = A @ m + b
        total += w * (float(r @ r) + float(np.trace(A @ C @ A.T)))
    return total


def _scale_at(scale: Any, t: float) -> float:
    return float(_time_scale(scale, np.array([t]))[0])


def _bias_l2(
    self: Bias, target: Target, process: Process, t: float
) -> tuple[float, float]:
    e = self.stage_terms(target, process, np.array([float(t)]), target.dim).bias
    assert e is not None
    return float(e[0] @ e[0]), 0.0


def _linear_l2(
    self: Linear, target: Target, process: Process, t: float
) -> tuple[float, float]:
    d = target.dim
    sc = _scale_at(self.scale, t)
    A = sc * (self.matrix * np.eye(d) if self.matrix.ndim == 0 else self.matrix)
    return _l2_affine(A, np.zeros(d), _marginal(target, process, t)), 0.0


Bias.l2_error = _bias_l2  # type: ignore[attr-defined]
Linear.l2_error = _linear_l2  # type: ignore[attr-defined]


def _sum_l2(
    self: Sum, target: Target, process: Process, t: float
) -> tuple[float, float]:
    raise NotImplementedError(
        "l2_error of a sum of models is not the sum of their errors; evaluate the "
        "combined error by Monte Carlo with scorelab.errors.monte_carlo_l2_error"
    )


Sum.l2_error = _sum_l2  # type: ignore[attr-defined]


class Misspecified(ScoreError):
    """The exact score of another target (e.g. shifted means, perturbed weights).

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

    def l2_error(
        self, target: Target, process: Process, t: float, n: int = 20000, seed: int = 0
    ) -> tuple[float, float]:
        """E_{p_t} |grad log q_t - grad log p_t|^2: exact when both are Gaussian
        (affine difference), Monte Carlo with its standard error otherwise."""
        p, q = _marginal(target, process, t), _marginal(self.other, process, t)
        if p.n_components == 1 and q.n_components == 1:
            Pp = np.linalg.inv(p.full_covariances()[0])
            Pq = np.linalg.inv(q.full_covariances()[0])
            A = Pp - Pq
            b = Pq @ q.means[0] - Pp @ p.means[0]
            return _l2_affine(A, b, p), 0.0
        x = p.sample(n, seed)
        diff = q.score(x) - p.score(x)
        v = np.einsum("ij,ij->i", diff, diff)
        return float(v.mean()), float(v.std(ddof=1) / np.sqrt(n))


class FourierField(ScoreError):
    """Smooth random error field of controlled size (random Fourier features).

    :math:`e(y, t) = \\epsilon(t) \\sqrt{2/F} \\sum_f a_f \\cos(w_f\\cdot y +
    \\phi_f)` with :math:`w_f \\sim \\mathcal N(0, I/\\ell^2)`,
    :math:`\\phi_f \\sim U(0, 2\\pi)`, :math:`a_f \\sim \\mathcal N(0, I/D)`, so
    that :math:`E|e|^2 \\approx \\epsilon^2` for a broad law of y (exact value:
    :meth:`l2_error`). Evaluated inside the compiled executor.

    Parameters
    ----------
    eps : float or callable t -> eps(t)
        Size of the field.
    n_features : int
        Number of features F.
    bandwidth : float
        Length scale :math:`\\ell` (> 0).
    seed : int
        Seed of the field (features are fixed once drawn).
    """

    affine = False

    def __init__(
        self,
        eps: float | Callable[[FloatArray], Any],
        n_features: int = 64,
        bandwidth: float = 1.0,
        seed: int = 0,
    ) -> None:
        from ._validate import check_int

        self.eps = eps
        self.n_features = check_int(n_features, "n_features", 1)
        self.bandwidth = float(bandwidth)
        if not np.isfinite(self.bandwidth) or self.bandwidth <= 0:
            raise ValueError(f"bandwidth must be > 0, got {bandwidth!r}")
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

    def l2_error(
        self, target: Target, process: Process, t: float
    ) -> tuple[float, float]:
        """Exact E_{p_t}|e(y, t)|^2 for Gaussian-mixture p_t.

        Uses cos(u)cos(v) = (cos(u - v) + cos(u + v))/2 and
        E cos(c . y + b) = cos(c . m + b) exp(-c^T C c / 2) for y ~ N(m, C).
        """
        p = _marginal(target, process, t)
        w, phi, a = self.features(p.dim)
        G = a @ a.T
        tot = 0.0
        for wk, m, C in zip(*_components(p)):
            dm = w @ m
            q = np.einsum("fi,ij,gj->fg", w, C, w)
            diag = np.diag(q)
            minus = np.cos(dm[:, None] - dm[None] + phi[:, None] - phi[None]) * np.exp(
                -0.5 * (diag[:, None] + diag[None] - 2 * q)
            )
            plus = np.cos(dm[:, None] + dm[None] + phi[:, None] + phi[None]) * np.exp(
                -0.5 * (diag[:, None] + diag[None] + 2 * q)
            )
            tot += wk * float(np.sum(G * 0.5 * (minus + plus)))
        return _scale_at(self.eps, t) ** 2 * tot, 0.0


def integrated_l2_error(
    model: ScoreError, target: Target, process: Process, grid: Any
) -> float:
    """Time-integrated squared error :math:`\\sum_k (t_k - t_{k+1})\\,
    E_{p_{t_k}}|e(\\cdot, t_k)|^2` over the grid (the quantity in the papers'
    score-error terms, with the score frozen at the left end of each step)."""
    t = np.asarray(grid, dtype=np.float64)
    vals = [model.l2_error(target, process, float(tk))[0] for tk in t[:-1]]  # type: ignore[attr-defined]
    return float(np.sum((t[:-1] - t[1:]) * np.asarray(vals)))


__all__ += ["FourierField", "Misspecified", "integrated_l2_error"]
