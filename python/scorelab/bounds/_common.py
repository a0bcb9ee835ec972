"""Shared pieces of :mod:`scorelab.bounds`: the result records and helpers.

:class:`Bound` (a bound with its named terms; :meth:`Bound.of_terms` for
sum-of-terms bounds) and :class:`Complexity` (steps for an accuracy), the
argument checks every bound uses (real, finite, positive constants; scalar
processes; scorelab targets; grids), small numerical helpers (Gauss--Legendre
nodes on [0, 1], the split of a one-step recursion into its three terms) and
the W2 of the initialisation shared by papers 2 and 3.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import numpy.typing as npt

from .._validate import check_nonnegative, check_positive
from ..grids import grid as make_grid
from ..grids import validate_grid
from ..metrics_gaussian import w2_gaussian
from ..processes import Process
from ..targets import Gaussian, Target

__all__ = [
    "Bound",
    "Complexity",
    "FloatArray",
    "GridLike",
    "LOCAL_NODES",
    "PROVENANCE",
]

FloatArray = npt.NDArray[np.float64]
GridLike = Union[npt.ArrayLike, tuple[float, ...]]

#: Provenance labels of :class:`Bound` and :class:`Complexity` records.
PROVENANCE = ("read", "recall", "derived")

#: Gauss-Legendre nodes per step used by the local-error quadratures.
LOCAL_NODES = 8


# ---------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """A bound with its named terms.

    Attributes
    ----------
    metric : str
        ``"TV"``, ``"KL"`` or ``"W2"``.
    initialisation, discretisation, score : float
        The terms; ``total`` is their sum (for recursions the terms are the
        exact linear split of the final error bound).
    total : float
        The bound.
    paper : str
        Which paper and statement.
    form : str
        The exact form implemented (and what is [recall] or [derived]).
    constants : Mapping[str, float]
        The constants used.
    valid : bool
        Whether the hypotheses that can be checked numerically hold (e.g.
        paper 1's step-size condition ``h <= 1/L``).
    trace : Mapping[str, numpy.ndarray]
        Per-step arrays of recursions (``e``, ``rho``, ``local``, ...).
    provenance : str
        Where the implemented statement comes from (one of :data:`PROVENANCE`):
        ``"read"`` — the statement as recorded from the paper (up to the
        universal constants it leaves unspecified, which are parameters);
        ``"recall"`` — the statement as recalled from a secondary summary, not
        checked against the paper; ``"derived"`` — derived here (a certified
        bound in the paper's setting, at most in the paper's structure), not a
        statement of the paper.
    """

    metric: str
    initialisation: float
    discretisation: float
    score: float
    total: float
    paper: str
    form: str
    constants: Mapping[str, float] = field(default_factory=dict)
    valid: bool = True
    trace: Mapping[str, FloatArray] = field(default_factory=dict, repr=False)
    provenance: str = "derived"

    def __post_init__(self) -> None:
        if self.provenance not in PROVENANCE:
            raise ValueError(
                f"provenance must be one of {PROVENANCE}, got {self.provenance!r}"
            )

    @classmethod
    def of_terms(
        cls,
        metric: str,
        initialisation: float,
        discretisation: float,
        score: float,
        **rest: Any,
    ) -> Bound:
        """The bound whose total is the sum of its three terms (in that order)."""
        total = initialisation + discretisation + score
        return cls(metric, initialisation, discretisation, score, total, **rest)


@dataclass(frozen=True)
class Complexity:
    """Steps needed for a target accuracy.

    Attributes
    ----------
    steps : float
        Number of steps K (N); for tables stated up to constants and
        logarithms, the value of the table's expression with unit constants.
    step_size : float
        Step size (eta or h).
    T : float
        Horizon (``nan`` when the statement does not fix it).
    score_error : float
        Largest admissible score error (L2) for the accuracy.
    formula : str
        The expression evaluated.
    paper : str
        Source.
    provenance : str
        As in :class:`Bound`.
    """

    steps: float
    step_size: float
    T: float
    score_error: float
    formula: str
    paper: str
    provenance: str = "derived"

    def __post_init__(self) -> None:
        if self.provenance not in PROVENANCE:
            raise ValueError(
                f"provenance must be one of {PROVENANCE}, got {self.provenance!r}"
            )


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


#: why the bounds refuse a phase-space process
SCALAR_ONLY = "the bounds need a scalar process (m = 1), not a phase-space one"


def _resolve_grid(grid: GridLike, process: Process, delta: float) -> FloatArray:
    """An explicit decreasing grid, or ``(eta, T)`` / ``(eta, T, delta)``."""
    if isinstance(grid, tuple) and len(grid) in (2, 3):
        eta = check_positive(grid[0], "eta")
        T = check_positive(grid[1], "T")
        dl = check_positive(grid[2], "delta") if len(grid) == 3 else delta
        steps = max(1, math.ceil((T - dl) / eta - 1e-9))
        return make_grid("uniform", steps, T=T, delta=dl, process=process)
    return validate_grid(grid, process)


def _leggauss01(n: int) -> tuple[FloatArray, FloatArray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (x + 1.0), 0.5 * w


def _arr(x: Any) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _alpha(process: Process, t: FloatArray) -> FloatArray:
    return _arr(process.alpha(t))


def _g2(process: Process, t: FloatArray) -> FloatArray:
    return _arr(process.g(t)) ** 2


def _profile_fn(value: Any, name: str) -> Callable[[FloatArray], FloatArray]:
    """A constant or a callable of time arrays, as a callable."""
    if callable(value):

        def fn(t: FloatArray) -> FloatArray:
            out = np.asarray(value(t), dtype=np.float64)
            return np.broadcast_to(out, np.shape(t)).astype(np.float64)

        return fn
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number or a callable, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number or a callable") from exc
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return lambda t: np.full(np.shape(t), v)


def _split_recursion(
    rho: FloatArray, e0: float, disc: FloatArray, score: FloatArray
) -> tuple[float, float, float, FloatArray]:
    """Terms of e_N for e_{k+1} = rho_k e_k + disc_k + score_k (and the e_k)."""
    N = rho.shape[0]
    tail = np.ones(N + 1)  # tail[k] = prod_{j >= k} rho_j
    for k in range(N - 1, -1, -1):
        tail[k] = tail[k + 1] * rho[k]
    init = float(tail[0] * e0)
    dterm = float(np.sum(tail[1:] * disc))
    sterm = float(np.sum(tail[1:] * score))
    e = np.empty(N + 1)
    e[0] = e0
    for k in range(N):
        e[k + 1] = rho[k] * e[k] + disc[k] + score[k]
    return init, dterm, sterm, e


def _init_w2(
    init: Any,
    process: Process,
    T: float,
    m2: float,
    d: int,
    target: Target | None,
) -> float:
    """W2(initial law, p_T): exact for Gaussians, coupling bound otherwise."""
    if not isinstance(init, str) and init is not None:
        return check_nonnegative(init, "init")
    if init not in (None, "zero-data", "prior"):
        raise ValueError(
            f"init must be 'zero-data', 'prior', None or a W2 value, got {init!r}"
        )
    sT = math.sqrt(float(process.sigma2(T)))
    aT = float(process.alpha(T))
    s0 = sT if init == "zero-data" else math.sqrt(process.prior_var)
    if isinstance(target, Gaussian):
        pT = target.noised(process, T)
        return float(w2_gaussian(np.zeros(d), s0 * s0 * np.eye(d), pT.mean, pT.cov))
    return math.sqrt(aT * aT * m2 * m2 + d * (sT - s0) ** 2)
