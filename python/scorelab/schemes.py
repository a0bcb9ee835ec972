r"""Samplers compiled to per-step coefficient tables ("tableaux").

Every sampler scorelab runs is, for a fixed time grid, an explicit recursion whose
stages are linear combinations of the step's starting state, earlier states and
score evaluations of the step, scores kept from previous steps, and fresh Gaussian
noise (docs/design.md, section 3). With :math:`y_0 = x_k` (the state at :math:`t_k`),
stage :math:`j = 1, \dots, S` of step :math:`k` is

.. math::

    y_j = \sum_{i<j} Y_{kji}\, y_i + \sum_{i<j} B_{kji}\, s_i
          + \sum_{h<H} E_{kjh}\, \bar s_h + C_{kj}\, \xi_{kj},
    \qquad s_i = \hat s(y_i, \tau_{ki}),

and :math:`x_{k+1} = y_S`. Here :math:`\bar s_h` is the score kept ``h + 1`` steps
ago (step ``k`` keeps :math:`s_{\mathrm{keep}_k}`), :math:`\xi_{kj} \sim \mathcal
N(0, I)` is counter-based noise, and every coefficient is an ``m x m`` block acting
as ``coef ⊗ I_d`` (``m = 1`` except for phase-space processes).

A scheme's code only fills these tables (float64, O(steps)); the CPU executor, the
CUDA executor and :func:`scorelab.exact_law` all run the same table, so a sampler is
defined exactly once.

Score evaluations and stopping at :math:`t = 0`
-----------------------------------------------
``evals/step`` is :attr:`Tableau.n_score_evals` divided by ``N`` away from warm-up
(:func:`scheme_nfe` counts them, :func:`scorelab.grid` with ``nfe=`` inverts it);
``at t_N`` says whether the last step evaluates the score at the final time. A
grid may end at exactly :math:`t_N = 0` for every scheme not written in the
log-SNR (infinite at 0; those raise ValueError). A score evaluated at
:math:`t = 0` is the data score (:func:`check_zero_time_scores`: ValueError for a
singular data covariance).

=====================  ==============  ========================  ===========  =========
scheme                 evals/step      total (N steps)           at t_N       t_N = 0
=====================  ==============  ========================  ===========  =========
ei-sde, ei-ode         1               N                         no           yes
euler, euler-maruyama  1               N                         no           yes
ddim, ddpm             1               N                         no           yes
heun                   2               2N (churn too)            yes          yes
rk4                    4               4N                        yes          yes
pc                     pred. + c       predictor's + c N         yes          yes
dpm-solver-2           2               2N                        no           no
dpm-solver-3           3               3N                        no           no
dpm-solver++-2m(-sde)  1               N                         no           no
dpm-solver++-3m        1               N + 1 (2S warm-up)        no           no
deis-2                 1               N                         no           no
deis-3                 1               N + 1 (warm-up)           no           no
unipc-2                1               N (last step: predictor)  no           no
=====================  ==============  ========================  ===========  =========

(``pc``: ``c = corrector_steps`` Langevin steps at :math:`t_{k+1}`; with
``corrector_steps = 0`` it evaluates at :math:`t_N` only if the predictor does.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ._validate import (
    check_nonnegative,
    check_positive,
    check_process,
    check_real,
)
from .grids import validate_grid
from .processes import Process

__all__ = [
    "SCHEMES",
    "SchemeInfo",
    "Tableau",
    "TableBuilder",
    "check_zero_time_scores",
    "compile_scheme",
    "register_scheme",
    "scheme_names",
    "scheme_nfe",
    "zero_time_schemes",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Tableau:
    """Coefficient table of a scheme on a grid (see the module docstring).

    Attributes
    ----------
    name : str
        Scheme name.
    times : ndarray, shape (N + 1,)
        The grid ``t_0 > ... > t_N``.
    m : int
        Coefficient block size.
    Y : ndarray, shape (N, S, S, m, m)
        ``Y[k, j-1, i]``: coefficient of stage ``j`` on ``y_i``.
    B : ndarray, shape (N, S, S, m, m)
        ``B[k, j-1, i]``: coefficient of stage ``j`` on ``s_i``.
    E : ndarray, shape (N, S, H, m, m)
        ``E[k, j-1, h]``: coefficient of stage ``j`` on the history score ``h``.
    C : ndarray, shape (N, S, m, m)
        ``C[k, j-1]``: noise coefficient of stage ``j``.
    eval : ndarray of int32, shape (N, S)
        Index into ``stage_times`` of the score evaluated at ``y_i``, or -1.
    keep : ndarray of int32, shape (N,)
        What is pushed to the history after step ``k``: ``i`` for the score
        ``s_i``, ``S + i`` for the stage state ``y_i``, -1 for nothing.
    stage_times : ndarray, shape (NC,)
        Time of each score evaluation.
    order : float
        Documented order of convergence (in W2, for the exact score).
    stochastic : bool
        Whether the scheme injects noise.
    """

    name: str
    times: FloatArray
    m: int
    Y: FloatArray
    B: FloatArray
    E: FloatArray
    C: FloatArray
    eval: npt.NDArray[np.int32]
    keep: npt.NDArray[np.int32]
    stage_times: FloatArray
    order: float
    stochastic: bool
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """Number of steps N."""
        return int(self.eval.shape[0])

    @property
    def stages(self) -> int:
        """Stages per step S."""
        return int(self.eval.shape[1])

    @property
    def history(self) -> int:
        """Number of kept scores H."""
        return int(self.E.shape[2])

    @property
    def n_score_evals(self) -> int:
        """Number of score evaluations per trajectory."""
        return int(self.stage_times.shape[0])


class TableBuilder:
    """Helper that fills a :class:`Tableau` with vectorised per-step coefficients.

    Coefficients are given for all steps at once as arrays of shape (N,) (scalar,
    meaning ``c * I_m``) or (N, m, m); scalars broadcast.

    Parameters
    ----------
    times : ndarray, shape (N + 1,)
        Decreasing grid.
    stages : int
        Stages per step S.
    history : int
        Kept scores H.
    m : int
        Block size.
    """

    def __init__(self, times: FloatArray, stages: int, history: int = 0, m: int = 1):
        self.times = np.asarray(times, dtype=np.float64)
        self.N = self.times.shape[0] - 1
        self.S, self.H, self.m = stages, history, m
        N, S, H = self.N, stages, history
        self.Y = np.zeros((N, S, S, m, m))
        self.B = np.zeros((N, S, S, m, m))
        self.E = np.zeros((N, S, H, m, m))
        self.C = np.zeros((N, S, m, m))
        self._tau = np.full((N, S), np.nan)
        self.keep = np.full(N, -1, dtype=np.int32)

    def _block(self, coef: Any) -> FloatArray:
        c = np.asarray(coef, dtype=np.float64)
        m = self.m
        if c.ndim >= 2 and c.shape[-2:] == (m, m) and (m > 1 or c.ndim == 3):
            return np.broadcast_to(c, (self.N, m, m))
        c = np.broadcast_to(c, (self.N,))
        if m == 1:  # c * I_1 is c itself (bit for bit): no product
            return c[:, None, None]
        return c[:, None, None] * np.eye(m)[None]

    def _check(self, j: int, i: int | None = None) -> None:
        if not 1 <= j <= self.S:
            raise IndexError(f"stage j must be in 1..{self.S}, got {j}")
        if i is not None and not 0 <= i < j:
            raise IndexError(f"source i must be in 0..{j - 1}, got {i}")

    def y(self, j: int, i: int, coef: Any) -> None:
        """Stage ``j`` gets ``coef * y_i``."""
        self._check(j, i)
        self.Y[:, j - 1, i] += self._block(coef)

    def s(self, j: int, i: int, coef: Any) -> None:
        """Stage ``j`` gets ``coef * s_i`` (the score at ``y_i`` must be evaluated)."""
        self._check(j, i)
        self.B[:, j - 1, i] += self._block(coef)

    def hist(self, j: int, h: int, coef: Any) -> None:
        """Stage ``j`` gets ``coef * (score kept h + 1 steps ago)``."""
        self._check(j)
        if not 0 <= h < self.H:
            raise IndexError(f"history index must be in 0..{self.H - 1}, got {h}")
        self.E[:, j - 1, h] += self._block(coef)

    def noise(self, j: int, var: Any) -> None:
        """Stage ``j`` gets fresh noise with covariance ``var`` (scalar or m x m)."""
        self._check(j)
        v = self._block(var)
        if self.m == 1:
            L = np.sqrt(np.maximum(v, 0.0))
        else:
            w, Q = np.linalg.eigh(v)
            w = np.maximum(w, 0.0)
            # symmetric square root keeps the block well defined when var is singular
            L = np.einsum("nij,nj,nkj->nik", Q, np.sqrt(w), Q)
        self.C[:, j - 1] = L

    def evaluate(self, i: int, tau: Any) -> None:
        """Evaluate the score at ``y_i`` at times ``tau`` (shape (N,) or scalar)."""
        if not 0 <= i < self.S:
            raise IndexError(f"stage i must be in 0..{self.S - 1}, got {i}")
        self._tau[:, i] = np.broadcast_to(np.asarray(tau, dtype=np.float64), (self.N,))

    def keep_score(self, i: int, steps: Any = slice(None)) -> None:
        """After each step (or the given steps) keep the score of stage ``i``."""
        if not 0 <= i < self.S:
            raise IndexError(f"stage i must be in 0..{self.S - 1}, got {i}")
        self.keep[steps] = i

    def keep_state(self, i: int, steps: Any = slice(None)) -> None:
        """After each step (or the given steps) keep the *state* ``y_i`` instead.

        Multistep data-prediction solvers keep a stage that holds the data
        prediction (a linear combination of the state and its score).
        """
        if not 0 <= i < self.S:
            raise IndexError(f"stage i must be in 0..{self.S - 1}, got {i}")
        self.keep[steps] = self.S + i

    def build(
        self, name: str, order: float, options: dict[str, Any] | None = None
    ) -> Tableau:
        """Finalise: index the evaluated stages and check consistency."""
        ev = np.full((self.N, self.S), -1, dtype=np.int32)
        mask = ~np.isnan(self._tau)
        ev[mask] = np.arange(int(mask.sum()), dtype=np.int32)
        stage_times = self._tau[mask]
        used = np.any(self.B != 0, axis=(0, 1, 3, 4))
        for i in np.flatnonzero(used):
            bad = np.any(self.B[:, :, i] != 0, axis=(1, 2, 3)) & ~mask[:, i]
            if np.any(bad):
                raise ValueError(
                    f"scheme {name!r}: stage {i} score used but not evaluated at "
                    f"step {int(np.flatnonzero(bad)[0])}"
                )
        return Tableau(
            name=name,
            times=self.times.copy(),
            m=self.m,
            Y=np.ascontiguousarray(self.Y),
            B=np.ascontiguousarray(self.B),
            E=np.ascontiguousarray(self.E),
            C=np.ascontiguousarray(self.C),
            eval=ev,
            keep=self.keep.copy(),
            stage_times=np.ascontiguousarray(stage_times),
            order=float(order),
            stochastic=bool(np.any(self.C != 0)),
            options=dict(options or {}),
        )


@dataclass(frozen=True)
class SchemeInfo:
    """Registry entry of a scheme."""

    name: str
    kind: str  # "sde" or "ode"
    order: float
    source: str
    summary: str
    builder: Callable[..., Tableau]
    options: tuple[str, ...] = ()


SCHEMES: dict[str, SchemeInfo] = {}


def register_scheme(
    name: str,
    kind: str,
    order: float,
    source: str,
    summary: str,
    options: tuple[str, ...] = (),
) -> Callable[[Callable[..., Tableau]], Callable[..., Tableau]]:
    """Decorator registering a table generator ``fn(process, times, **options)``."""

    def deco(fn: Callable[..., Tableau]) -> Callable[..., Tableau]:
        SCHEMES[name] = SchemeInfo(name, kind, order, source, summary, fn, options)
        return fn

    return deco


def scheme_names() -> list[str]:
    """Names of the registered schemes."""
    return sorted(SCHEMES)


#: Schemes written in the log-SNR (their last step is undefined at t_N = 0).
_LOG_SNR_SCHEMES = frozenset(
    {
        "dpm-solver-2",
        "dpm-solver-3",
        "dpm-solver++-2m",
        "dpm-solver++-2m-sde",
        "dpm-solver++-3m",
        "deis-2",
        "deis-3",
        "unipc-2",
    }
)


def zero_time_schemes() -> list[str]:
    """Registered schemes that accept a grid ending at exactly ``t_N = 0``."""
    return [n for n in scheme_names() if n not in _LOG_SNR_SCHEMES]


def compile_scheme(
    scheme: str | Tableau,
    process: Process,
    grid: npt.ArrayLike,
    **options: Any,
) -> Tableau:
    """Compile ``scheme`` on ``grid`` for ``process`` into a :class:`Tableau`.

    Parameters
    ----------
    scheme : str or Tableau
        A registered name (see :func:`scheme_names`) or an already built table
        (returned unchanged after checking that its grid matches).
    process : Process
        Forward process.
    grid : array_like, shape (N + 1,)
        Decreasing times (see :func:`scorelab.grid`).
    **options
        Scheme options (each scheme lists the ones it accepts).

    Returns
    -------
    Tableau
    """
    times = validate_grid(grid, process, allow_zero=True)
    if isinstance(scheme, Tableau):
        if options:
            raise ValueError("options cannot be given with a prebuilt Tableau")
        if scheme.times.shape != times.shape or not np.allclose(scheme.times, times):
            raise ValueError("scheme: the Tableau was built on a different grid")
        return scheme
    if not isinstance(scheme, str):
        raise TypeError(f"scheme must be a str or Tableau, got {type(scheme).__name__}")
    info = SCHEMES.get(scheme)
    if info is None:
        raise ValueError(
            f"unknown scheme {scheme!r}; known schemes: {', '.join(scheme_names())}"
        )
    if float(times[-1]) == 0.0 and scheme in _LOG_SNR_SCHEMES:
        raise ValueError(
            f"scheme {scheme!r} is not defined on a grid ending at t = 0: it steps "
            "in the log-SNR, which is infinite at t = 0 (schemes that accept "
            f"t_N = 0: {', '.join(zero_time_schemes())}); end the grid at a small "
            "delta > 0 instead"
        )
    unknown = sorted(set(options) - set(info.options))
    if unknown:
        allowed = ", ".join(info.options) if info.options else "none"
        raise ValueError(
            f"scheme {scheme!r} does not accept option(s) {', '.join(unknown)}; "
            f"valid options: {allowed}"
        )
    if times[-1] > 0.0:
        return info.builder(process, times, **options)
    with np.errstate(all="ignore"):
        tab = info.builder(process, times, **options)
    coefs = (tab.Y, tab.B, tab.E, tab.C)
    if not all(np.all(np.isfinite(c)) for c in coefs):
        raise ValueError(
            f"scheme {scheme!r} is not defined on a grid ending at t = 0: its "
            "table has non-finite coefficients there (schemes that accept "
            f"t_N = 0: {', '.join(zero_time_schemes())}); end the grid at a small "
            "delta > 0 instead"
        )
    return tab


def check_zero_time_scores(table: Tableau, target: Any, process: Process) -> None:
    r"""Check that the scores a table evaluates at ``t = 0`` exist for ``target``.

    A stage evaluated at ``t = 0`` (``heun``, ``rk4``, ``pc`` on a grid ending at
    0) uses the score of the data law itself: the marginal at 0 of a data
    component is :math:`N(\Phi(0)\mu, \Phi(0)\Sigma\Phi(0)^\top + N(0))`,
    which for scalar processes with :math:`\alpha(0) = 1, \sigma(0) = 0` is the
    component itself. Its score needs that covariance to be nonsingular.

    Parameters
    ----------
    table : Tableau
        Compiled scheme.
    target : Target
        Data law (the law whose score the executors evaluate).
    process : Process
        Forward process.

    Raises
    ------
    ValueError
        If a stage is evaluated at ``t = 0`` and a component's covariance there
        is numerically singular (smallest eigenvalue at most ``dim * eps`` times
        the largest); the message names the scheme, the step and the stage.
    """
    zero = np.flatnonzero(table.stage_times == 0.0)
    if zero.size == 0:
        return
    phase = process.phase_space_target(target)
    Phi, Ncov = process.marginal_maps(np.zeros(1))
    P = np.kron(np.asarray(Phi[0]), np.eye(target.dim))
    Nk = np.kron(np.asarray(Ncov[0]), np.eye(target.dim))
    covs = np.einsum("ij,njk,lk->nil", P, phase.full_covariances(), P) + Nk
    w = np.linalg.eigvalsh(0.5 * (covs + np.swapaxes(covs, 1, 2)))
    bad = w[:, 0] <= covs.shape[-1] * np.finfo(np.float64).eps * w[:, -1]
    if np.any(bad):
        k, j = (int(v[0]) for v in np.nonzero(table.eval == zero[0]))
        raise ValueError(
            f"scheme {table.name!r} evaluates the score at t = 0 (step {k}, stage "
            f"{j}), where it is the data score, but the data covariance of "
            f"component {int(np.flatnonzero(bad)[0])} is singular (eigenvalues "
            f"{w[bad][0, 0]:.3g} .. {w[bad][0, -1]:.3g}); end the grid at a small "
            "delta > 0, or use a scheme that does not evaluate at t_N (e.g. "
            "'ddim', 'ddpm', 'ei-ode', 'ei-sde', 'euler')"
        )


def scheme_nfe(
    scheme: str,
    steps: int,
    process: Process | None = None,
    **options: Any,
) -> int:
    """Score evaluations of ``scheme`` over ``steps`` steps (warm-up included).

    The count is the table's :attr:`Tableau.n_score_evals` on a uniform grid
    (it does not depend on the grid; see the table in the module docstring).

    Parameters
    ----------
    scheme : str
        Registered scheme name.
    steps : int
        Number of steps ``N >= 1``.
    process : Process, optional
        Forward process (default :class:`scorelab.processes.VP`).
    **options
        Scheme options (e.g. ``predictor``, ``corrector_steps`` for ``"pc"``).

    Returns
    -------
    int
    """
    from ._validate import check_int
    from .processes import VP

    N = check_int(steps, "steps", 1)
    proc = VP() if process is None else check_process(process)
    times = np.linspace(proc.T, 0.5 * proc.T, N + 1)
    return compile_scheme(scheme, proc, times, **options).n_score_evals


# ---------------------------------------------------------------------------
# helpers shared by the generators
# ---------------------------------------------------------------------------
def _hi_lo(times: FloatArray) -> tuple[FloatArray, FloatArray]:
    return times[:-1], times[1:]


#: Why a scheme needs a scalar process (used in the error message for CLD).
_SCALAR_REASON = (
    "it is written in terms of the scalar alpha(t), sigma(t) (noise or data "
    "prediction, log-SNR steps, f(t) and g(t)), which a phase-space process with "
    "a matrix-valued drift does not have"
)


def _require_scalar(process: Process, scheme: str, why: str = _SCALAR_REASON) -> None:
    check_process(
        process,
        scalar=f"scheme {scheme!r} is defined only for scalar forward processes: "
        f"{why}; for phase-space processes (e.g. CLD) use 'ei-sde' or 'ei-ode'",
    )


def _arr(x: Any) -> FloatArray:
    """A process method's result as a float64 array (for the type checker)."""
    return np.asarray(x, dtype=np.float64)


def _ei(process: Process, times: FloatArray) -> tuple[Any, Any, Any]:
    hi, lo = _hi_lo(times)
    return process.ei_coefficients(hi, lo)


# ---------------------------------------------------------------------------
# reverse-SDE schemes
# ---------------------------------------------------------------------------
@register_scheme(
    "ei-sde",
    kind="sde",
    order=1.0,
    source="Chen et al. 2023 (paper 1, Sec. 2), Gao, Nguyen & Zhu 2025 (paper 2)",
    summary="Exponential integrator of the reverse SDE, score frozen at t_k: "
    "x' = r x + c s(x, t_k) + sqrt(n) xi.",
)
def _ei_sde(process: Process, times: FloatArray) -> Tableau:
    r"""Score-frozen exponential integrator of the reverse SDE.

    From :math:`t_k` down to :math:`t_{k+1}`:
    :math:`x' = r x + c\, s(x, t_k) + \sqrt{n}\,\xi` with
    :math:`r = \alpha_{k+1}/\alpha_k`,
    :math:`c = \int_{t_{k+1}}^{t_k} e^{\int_{t_{k+1}}^u f} g(u)^2 du` and
    :math:`n = r^2\sigma_k^2 - \sigma_{k+1}^2` (exact for a frozen score).
    Order 1 in W2 for smooth scores (the Gaussian lower bound of paper 2 has
    slope 1 in the step size). One score evaluation per step, at :math:`t_k`
    (never at :math:`t_N`; grids may end at 0).
    """
    r, c, n = _ei(process, times)
    b = TableBuilder(times, stages=1, history=0, m=process.m)
    b.evaluate(0, times[:-1])
    b.y(1, 0, r)
    b.s(1, 0, c)
    b.noise(1, n)
    return b.build("ei-sde", SCHEMES["ei-sde"].order)


@register_scheme(
    "euler-maruyama",
    kind="sde",
    order=1.0,
    source="Song et al. 2021 (reverse-diffusion Euler–Maruyama)",
    summary="Euler–Maruyama on the reverse SDE dY = [f Y + g^2 s] dt + g dB.",
)
def _euler_maruyama(process: Process, times: FloatArray) -> Tableau:
    r"""Euler–Maruyama for the reverse SDE.

    :math:`x' = (1 + h f_k) x + h g_k^2 s(x, t_k) + g_k\sqrt h\,\xi`,
    :math:`h = t_k - t_{k+1}`. Order 1 in W2 on Gaussian targets (weak order 1).
    One score evaluation per step, at :math:`t_k` (never at :math:`t_N`).
    """
    _require_scalar(process, "euler-maruyama")
    hi, lo = _hi_lo(times)
    h = hi - lo
    f, g2 = process.f(hi), process.g2(hi)
    b = TableBuilder(times, stages=1)
    b.evaluate(0, hi)
    b.y(1, 0, 1.0 + h * f)
    b.s(1, 0, h * g2)
    b.noise(1, h * g2)
    return b.build("euler-maruyama", SCHEMES["euler-maruyama"].order)


# ---------------------------------------------------------------------------
# probability-flow ODE schemes
# ---------------------------------------------------------------------------
@register_scheme(
    "ei-ode",
    kind="ode",
    order=1.0,
    source="Kremling, Iafrate, Taheri & Lederer 2025 (paper 3)",
    summary="Exponential integrator of the probability-flow ODE, score frozen at "
    "t_k: x' = r x + (c/2) s(x, t_k).",
)
def _ei_ode(process: Process, times: FloatArray) -> Tableau:
    r"""Score-frozen exponential integrator of the probability-flow ODE.

    :math:`x' = r x + \tfrac c2 s(x, t_k)` with :math:`r, c` as in ``ei-sde``.
    First order. Not DDIM, which freezes the noise prediction instead. One
    score evaluation per step, at :math:`t_k` (never at :math:`t_N`).
    """
    r, c, _ = _ei(process, times)
    b = TableBuilder(times, stages=1, m=process.m)
    b.evaluate(0, times[:-1])
    b.y(1, 0, r)
    b.s(1, 0, 0.5 * np.asarray(c))
    return b.build("ei-ode", SCHEMES["ei-ode"].order)


@register_scheme(
    "ddim",
    kind="ode",
    order=1.0,
    source="Song, Meng & Ermon 2021 (DDIM); eta = 0 is DPM-Solver-1 (Lu et al. 2022)",
    summary="DDIM: noise prediction eps = -sigma s frozen; "
    "x' = r x + (sigma_lo - r sigma_hi) eps at eta = 0; eta > 0 adds noise.",
    options=("eta",),
)
def _ddim(process: Process, times: FloatArray, eta: float = 0.0) -> Tableau:
    r"""DDIM with stochasticity ``eta`` (eta = 0: deterministic, = DPM-Solver-1).

    With :math:`\hat x_0 = (x + \sigma_k^2 s)/\alpha_k` and
    :math:`\hat\epsilon = -\sigma_k s` frozen over the step,
    :math:`x' = \alpha_{k+1}\hat x_0 + \sqrt{\sigma_{k+1}^2 - \varsigma^2}\,
    \hat\epsilon + \varsigma\xi`, where :math:`\varsigma^2 = \eta^2 v_{post}` and
    :math:`v_{post} = \sigma_{k+1}^2 (\sigma_k^2 - a^2\sigma_{k+1}^2)/\sigma_k^2`
    (:math:`a = \alpha_k/\alpha_{k+1}`) is the DDPM posterior variance, so
    ``eta = 1`` is the ancestral sampler. At ``eta = 0``:
    :math:`x' = r x + (\sigma_{k+1} - r\sigma_k)\hat\epsilon`,
    :math:`r = \alpha_{k+1}/\alpha_k`, exact for the probability-flow ODE when the
    noise prediction is constant in log-SNR. First order. One score evaluation
    per step, at :math:`t_k` (never at :math:`t_N`; at :math:`t_N = 0` the last
    step returns :math:`\alpha(0)\hat x_0`).
    """
    _require_scalar(process, "ddim")
    eta = check_nonnegative(eta, "eta")
    hi, lo = _hi_lo(times)
    a_hi, a_lo = process.alpha(hi), process.alpha(lo)
    s_hi, s_lo = process.sigma(hi), process.sigma(lo)
    r = a_lo / a_hi
    a = a_hi / a_lo
    v_post = s_lo**2 * np.maximum(s_hi**2 - a * a * s_lo**2, 0.0) / s_hi**2
    var = np.minimum(eta * eta * v_post, s_lo**2)
    b = TableBuilder(times, stages=1)
    b.evaluate(0, hi)
    b.y(1, 0, r)
    b.s(1, 0, r * s_hi**2 - np.sqrt(s_lo**2 - var) * s_hi)
    if eta > 0:
        b.noise(1, var)
    return b.build("ddim", SCHEMES["ddim"].order, {"eta": eta})


@register_scheme(
    "ddpm",
    kind="sde",
    order=1.0,
    source="Ho, Jain & Abbeel 2020 (ancestral sampling); Song et al. 2021 for VE",
    summary="Ancestral sampling from the Gaussian posterior q(x_lo | x_hi, x0_hat) "
    "with x0_hat = (x + sigma_hi^2 s) / alpha_hi.",
    options=("beta", "variance"),
)
def _ddpm(
    process: Process,
    times: FloatArray,
    beta: str = "exact",
    variance: str = "posterior",
) -> Tableau:
    r"""Ancestral (DDPM) sampler for any scalar process.

    With the transition :math:`X_{hi} | X_{lo} \sim \mathcal N(a X_{lo}, v)`,
    :math:`a = \alpha_{hi}/\alpha_{lo}`, :math:`v = \sigma_{hi}^2 -
    a^2\sigma_{lo}^2`, the posterior :math:`q(x_{lo} | x_{hi}, x_0)` is Gaussian;
    substituting :math:`\hat x_0 = (x + \sigma_{hi}^2 s)/\alpha_{hi}` gives
    :math:`x' = (a\sigma_{lo}^2/\sigma_{hi}^2 + v/(a\sigma_{hi}^2))\, x + (v/a)\,
    s + \sqrt{\sigma_{lo}^2 v/\sigma_{hi}^2}\,\xi` (the coefficient of
    :math:`x` equals :math:`1/a`). For VP this is DDPM, for VE the ancestral SMLD
    sampler. First order. One score evaluation per step, at :math:`t_k` (never
    at :math:`t_N`).

    Parameters
    ----------
    beta : {"exact", "riemann"}, default "exact"
        The step's :math:`\beta_k`. ``"exact"``: the transition above,
        :math:`a^2 = \alpha_{hi}^2/\alpha_{lo}^2`, :math:`v = \sigma_{hi}^2 -
        a^2\sigma_{lo}^2` (for VP-type processes :math:`\beta_k = 1 -
        \alpha_{hi}^2/\alpha_{lo}^2 = v`: Ho et al.'s
        :math:`\beta_t = 1 - \bar\alpha_t/\bar\alpha_{t-1}` with
        :math:`\bar\alpha = \alpha^2`). ``"riemann"``: the left Riemann sum
        :math:`\beta_k = h\,\beta(t_{hi})`, :math:`\beta(t) = 2 f(t)`, with
        :math:`a = \sqrt{1 - \beta_k}` and :math:`v = \beta_k` — the
        discretisation :math:`\beta_i = \beta(t_i)/N` of the continuous VP SDE
        (Song et al. 2021, Appendix B; Ho et al.'s linear schedule is its
        discrete counterpart). Defined only for VP-type processes
        (:math:`g^2 = 2f`, e.g. ``VP``, ``OU``, ``CosineVP``) and steps with
        :math:`\beta_k < 1`; ValueError otherwise.
    variance : {"posterior", "beta"}, default "posterior"
        Noise variance. ``"posterior"``: Ho et al.'s
        :math:`\tilde\beta_k = \tfrac{\sigma_{lo}^2}{\sigma_{hi}^2} v`
        (:math:`= \tfrac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t`, the
        variance of :math:`q(x_{lo} | x_{hi}, x_0)`; Ho et al. 2020, Sec. 3.2,
        :math:`\sigma_t^2 = \tilde\beta_t`). ``"beta"``: the ancestral form
        :math:`x' = (x + \beta_k s)/\sqrt{1 - \beta_k} + \sqrt{\beta_k}\,\xi`
        (Ho et al.'s :math:`\sigma_t^2 = \beta_t`, Algorithm 2; Song et al.
        2021, Eq. 47), in general :math:`x' = (x + v s)/a + \sqrt v\,\xi`.
        Both are first order.
    """
    _require_scalar(process, "ddpm")
    if beta not in ("exact", "riemann"):
        raise ValueError(f"ddpm: beta must be 'exact' or 'riemann', got {beta!r}")
    if variance not in ("posterior", "beta"):
        raise ValueError(
            f"ddpm: variance must be 'posterior' or 'beta', got {variance!r}"
        )
    hi, lo = _hi_lo(times)
    opts = {"beta": beta, "variance": variance}
    s2h, s2l = process.sigma2(hi), process.sigma2(lo)
    b = TableBuilder(times, stages=1)
    b.evaluate(0, hi)
    if beta == "exact":
        a = process.alpha(hi) / process.alpha(lo)
        v = s2h - a * a * s2l
        b.y(1, 0, a * s2l / s2h + v / (a * s2h))
    else:
        f_hi, g2_hi = _arr(process.f(hi)), _arr(process.g2(hi))
        if not np.allclose(g2_hi, 2.0 * f_hi, rtol=1e-10, atol=0.0):
            raise ValueError(
                f"ddpm: beta='riemann' (beta_k = h beta(t_k), beta(t) = 2 f(t)) is "
                f"defined only for VP-type processes with g(t)^2 = 2 f(t); "
                f"{type(process).__name__} has g^2 != 2 f (use beta='exact')"
            )
        v = (hi - lo) * 2.0 * f_hi
        if not np.all((v > 0.0) & (v < 1.0)):
            k = int(np.flatnonzero(~((v > 0.0) & (v < 1.0)))[0])
            raise ValueError(
                f"ddpm: beta='riemann' needs 0 < beta_k = 2 h f(t_k) < 1; step {k} "
                f"has beta_k = {float(v[k])!r} (use more steps or beta='exact')"
            )
        a = np.sqrt(1.0 - v)
        b.y(1, 0, 1.0 / a)
    b.s(1, 0, v / a)
    b.noise(1, s2l * v / s2h if variance == "posterior" else v)
    return b.build("ddpm", SCHEMES["ddpm"].order, opts)


@register_scheme(
    "euler",
    kind="ode",
    order=1.0,
    source="Euler's method on the probability-flow ODE (Song et al. 2021)",
    summary="x' = (1 + h f) x + (h g^2 / 2) s(x, t_k).",
)
def _euler(process: Process, times: FloatArray) -> Tableau:
    r"""Euler's method on :math:`dx/dt = -f x - \tfrac12 g^2 \nabla\log p_t`.

    Backwards in time with :math:`h = t_k - t_{k+1}`:
    :math:`x' = (1 + h f_k) x + \tfrac h2 g_k^2 s(x, t_k)`. First order. One
    score evaluation per step, at :math:`t_k` (never at :math:`t_N`).
    """
    _require_scalar(process, "euler")
    hi, lo = _hi_lo(times)
    h = hi - lo
    b = TableBuilder(times, stages=1)
    b.evaluate(0, hi)
    b.y(1, 0, 1.0 + h * process.f(hi))
    b.s(1, 0, 0.5 * h * process.g2(hi))
    return b.build("euler", SCHEMES["euler"].order)


@register_scheme(
    "heun",
    kind="ode",
    order=2.0,
    source="Karras et al. 2022 (EDM, Algorithms 1 and 2)",
    summary="Heun's second-order method on the probability-flow ODE in t; "
    "s_churn > 0 adds EDM's stochastic churn.",
    options=("s_churn", "s_tmin", "s_tmax", "s_noise"),
)
def _heun(
    process: Process,
    times: FloatArray,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
) -> Tableau:
    r"""Heun's method (explicit trapezoid) on the probability-flow ODE, EDM churn.

    With :math:`v(x, t) = f(t) x + \tfrac12 g(t)^2 s(x, t)` (the backward-time
    velocity) and :math:`h = t_k - t_{k+1}`: :math:`y_1 = x + h v(x, t_k)`,
    :math:`x' = x + \tfrac h2 (v(x, t_k) + v(y_1, t_{k+1}))`. For a VE process
    with :math:`\sigma(t) \propto t` (``VEQuadratic``) this is EDM's
    deterministic sampler (Algorithm 1, all steps second order). On a grid
    ending at :math:`t_N = 0` the last step stays a Heun step, whose second
    evaluation is the data score at 0 (EDM takes an Euler step to 0 instead);
    a singular data covariance is refused (:func:`check_zero_time_scores`).
    Second order; two score evaluations per step, the second at
    :math:`t_{k+1}` (so at :math:`t_N`).

    **Churn** (EDM Algorithm 2), ``s_churn > 0``: EDM's noise level is
    :math:`\rho = \sigma/\alpha = e^{-\lambda}`. At every step with
    ``s_tmin <= rho(t_k) <= s_tmax``, :math:`\gamma_k = \min(s_{churn}/N,
    \sqrt2 - 1)` and the time is raised to :math:`\hat t_k` with
    :math:`\rho(\hat t_k) = (1 + \gamma_k)\rho(t_k)` (for VE:
    :math:`\hat\sigma = (1+\gamma)\sigma`); the state is pushed forward by
    the exact forward transition, :math:`\hat x = \tfrac{\alpha(\hat t)}
    {\alpha(t_k)} x + s_{noise}\sqrt{\sigma(\hat t)^2 - (\alpha(\hat t)/
    \alpha(t_k))^2\sigma(t_k)^2}\,\xi` (EDM's :math:`\hat x = x +
    \sqrt{\hat t^2 - t^2} S_{noise}\xi` for VE), and the Heun step runs from
    :math:`\hat t_k` to :math:`t_{k+1}`. In the table this is one extra stage
    (stage 1 = churned state, with its own noise lane) and score evaluations at
    :math:`\hat t_k` (a time off the grid: stage times are free) and
    :math:`t_{k+1}`. The churn is an exact forward transition (it maps
    :math:`p_{t_k}` to :math:`p_{\hat t_k}` exactly), so in law the step is a
    second-order ODE step and the scheme stays second order in W2 (measured on
    Gaussian exact laws: slopes 1.96-2.08 for ``s_churn = 1``); pathwise it is
    not.
    """
    _require_scalar(process, "heun")
    s_churn = check_nonnegative(s_churn, "s_churn")
    s_noise = check_nonnegative(s_noise, "s_noise")
    s_tmin, s_tmax = check_real(s_tmin, "s_tmin"), check_real(s_tmax, "s_tmax")
    if np.isnan(s_tmin) or np.isnan(s_tmax) or s_tmin < 0 or s_tmax < s_tmin:
        raise ValueError(
            f"need 0 <= s_tmin <= s_tmax, got s_tmin={s_tmin!r}, s_tmax={s_tmax!r}"
        )
    hi, lo = _hi_lo(times)
    opts = {"s_churn": s_churn, "s_tmin": s_tmin, "s_tmax": s_tmax, "s_noise": s_noise}
    if s_churn == 0.0:
        h = hi - lo
        f_hi, f_lo = process.f(hi), process.f(lo)
        g_hi, g_lo = process.g2(hi), process.g2(lo)
        b = TableBuilder(times, stages=2)
        b.evaluate(0, hi)
        b.y(1, 0, 1.0 + h * f_hi)
        b.s(1, 0, 0.5 * h * g_hi)
        b.evaluate(1, lo)
        b.y(2, 0, 1.0 + 0.5 * h * f_hi)
        b.s(2, 0, 0.25 * h * g_hi)
        b.y(2, 1, 0.5 * h * f_lo)
        b.s(2, 1, 0.25 * h * g_lo)
        return b.build("heun", SCHEMES["heun"].order, opts)
    N = hi.shape[0]
    lam = np.asarray(_arr(process.log_snr(hi)))
    rho = np.exp(-lam)
    gamma = np.where(
        (rho >= s_tmin) & (rho <= s_tmax), min(s_churn / N, np.sqrt(2.0) - 1.0), 0.0
    )
    that = np.where(gamma > 0, _arr(process.t_from_log_snr(lam - np.log1p(gamma))), hi)
    that = np.minimum(np.maximum(that, hi), process.t_max)
    a_ratio = _arr(process.alpha(that)) / _arr(process.alpha(hi))
    nvar = np.maximum(
        _arr(process.sigma2(that)) - a_ratio**2 * _arr(process.sigma2(hi)), 0.0
    )
    h = that - lo
    f_h, f_lo = _arr(process.f(that)), _arr(process.f(lo))
    g_h, g_lo = _arr(process.g2(that)), _arr(process.g2(lo))
    b = TableBuilder(times, stages=3)
    b.y(1, 0, a_ratio)  # churned state at t_hat
    with np.errstate(over="ignore", invalid="ignore"):
        churn_var = np.float64(s_noise) ** 2 * nvar
    if not np.all(np.isfinite(churn_var)):
        raise ValueError(
            f"s_noise={s_noise!r} is too large: the churn noise variance "
            "s_noise^2 (sigma_hat^2 - r^2 sigma^2) overflows"
        )
    b.noise(1, churn_var)
    b.evaluate(1, that)
    b.y(2, 1, 1.0 + h * f_h)  # Euler from t_hat to t_{k+1}
    b.s(2, 1, 0.5 * h * g_h)
    b.evaluate(2, lo)
    b.y(3, 1, 1.0 + 0.5 * h * f_h)  # trapezoid
    b.s(3, 1, 0.25 * h * g_h)
    b.y(3, 2, 0.5 * h * f_lo)
    b.s(3, 2, 0.25 * h * g_lo)
    return b.build("heun", SCHEMES["heun"].order, opts)


@register_scheme(
    "rk4",
    kind="ode",
    order=4.0,
    source="Classic Runge-Kutta (Kutta 1901) on the probability-flow ODE in t "
    "(Song et al. 2021)",
    summary="Classic fourth-order Runge-Kutta on dx/dt = -f x - g^2/2 s in x-space; "
    "four score evaluations per step (t_k, twice at the midpoint, t_{k+1}).",
)
def _rk4(process: Process, times: FloatArray) -> Tableau:
    r"""Classic fourth-order Runge-Kutta on the probability-flow ODE in x-space.

    With the backward-time velocity :math:`v(x, t) = f(t) x + \tfrac12 g(t)^2
    s(x, t)` (:math:`dx/dt = -v`), :math:`h = t_k - t_{k+1}` and the midpoint
    :math:`t_m = t_k - h/2`:

    .. math::

        k_1 = v(x, t_k),\ k_2 = v(x + \tfrac h2 k_1, t_m),\
        k_3 = v(x + \tfrac h2 k_2, t_m),\ k_4 = v(x + h k_3, t_{k+1}),

        x' = x + \tfrac h6 (k_1 + 2k_2 + 2k_3 + k_4).

    The x-space form (rather than the noise- or data-prediction form in log-SNR)
    keeps the scheme defined for every scalar process and on grids ending at
    :math:`t = 0` (where the log-SNR is infinite). Table: stages 1-3 are the
    intermediate states, stage 4 the update (its coefficients expand the
    :math:`k_i` into states and scores). Four score evaluations per step, the
    last at :math:`t_{k+1}` (so at :math:`t_N` on the last step). Fourth order
    (measured on Gaussian exact laws, see tests/test_scheme_orders.py).
    """
    _require_scalar(process, "rk4")
    hi, lo = _hi_lo(times)
    h = hi - lo
    mid = hi - 0.5 * h
    f_hi, f_m, f_lo = (_arr(process.f(t)) for t in (hi, mid, lo))
    g_hi, g_m, g_lo = (0.5 * _arr(process.g2(t)) for t in (hi, mid, lo))
    b = TableBuilder(times, stages=4)
    b.evaluate(0, hi)
    b.y(1, 0, 1.0 + 0.5 * h * f_hi)  # y1 = x + h/2 k1
    b.s(1, 0, 0.5 * h * g_hi)
    b.evaluate(1, mid)
    b.y(2, 0, 1.0)  # y2 = x + h/2 k2
    b.y(2, 1, 0.5 * h * f_m)
    b.s(2, 1, 0.5 * h * g_m)
    b.evaluate(2, mid)
    b.y(3, 0, 1.0)  # y3 = x + h k3
    b.y(3, 2, h * f_m)
    b.s(3, 2, h * g_m)
    b.evaluate(3, lo)
    w = h / 6.0  # x' = x + h/6 (k1 + 2 k2 + 2 k3 + k4)
    b.y(4, 0, 1.0 + w * f_hi)
    b.s(4, 0, w * g_hi)
    b.y(4, 1, 2.0 * w * f_m)
    b.s(4, 1, 2.0 * w * g_m)
    b.y(4, 2, 2.0 * w * f_m)
    b.s(4, 2, 2.0 * w * g_m)
    b.y(4, 3, w * f_lo)
    b.s(4, 3, w * g_lo)
    return b.build("rk4", SCHEMES["rk4"].order)


@register_scheme(
    "dpm-solver-2",
    kind="ode",
    order=2.0,
    source="Lu et al. 2022 (DPM-Solver-2, singlestep, r1 = 1/2)",
    summary="Exponential integrator in log-SNR with a midpoint noise prediction.",
)
def _dpm_solver_2(process: Process, times: FloatArray) -> Tableau:
    r"""DPM-Solver-2 (singlestep, midpoint in log-SNR).

    With :math:`\lambda = \log(\alpha/\sigma)`, :math:`h = \lambda_{k+1} -
    \lambda_k`, the midpoint :math:`\lambda_m = \lambda_k + h/2` and
    :math:`\hat\epsilon = -\sigma s`:
    :math:`u = \tfrac{\alpha_m}{\alpha_k} x - \sigma_m (e^{h/2} - 1)
    \hat\epsilon(x, t_k)`, :math:`x' = \tfrac{\alpha_{k+1}}{\alpha_k} x -
    \sigma_{k+1}(e^h - 1)\hat\epsilon(u, t_m)`. Second order; two score
    evaluations per step (:math:`t_k`, :math:`t_m`). Needs :math:`t_N > 0` (log-SNR).
    """
    _require_scalar(process, "dpm-solver-2")
    hi, lo = _hi_lo(times)
    lam_hi, lam_lo = process.log_snr(hi), process.log_snr(lo)
    h = lam_lo - lam_hi
    mid = process.t_from_log_snr(lam_hi + 0.5 * h)
    a_hi, a_mid, a_lo = process.alpha(hi), process.alpha(mid), process.alpha(lo)
    s_hi, s_mid, s_lo = process.sigma(hi), process.sigma(mid), process.sigma(lo)
    b = TableBuilder(times, stages=2)
    b.evaluate(0, hi)
    b.y(1, 0, a_mid / a_hi)
    b.s(1, 0, s_mid * np.expm1(0.5 * h) * s_hi)
    b.evaluate(1, mid)
    b.y(2, 0, a_lo / a_hi)
    b.s(2, 1, s_lo * np.expm1(h) * s_mid)
    return b.build("dpm-solver-2", SCHEMES["dpm-solver-2"].order)


def _dpmpp_2m(process: Process, times: FloatArray, sde: bool) -> TableBuilder:
    r"""Shared table of DPM-Solver++(2M) and its SDE variant (diffusers' midpoint form).

    Stage 1 holds the data prediction :math:`m_k = (x + \sigma_k^2 s)/\alpha_k`
    (kept in the history); stage 2 is the update with :math:`D_0 = m_k` and
    :math:`D_1 = (m_k - m_{k-1})/r_k`, :math:`r_k = h_{k-1}/h_k`. The first step has
    no history and is first order (DDIM / DPM-Solver++ 1).
    """
    _require_scalar(process, "dpm-solver++-2m" + ("-sde" if sde else ""))
    hi, lo = _hi_lo(times)
    lam_hi, lam_lo = process.log_snr(hi), process.log_snr(lo)
    h = _arr(lam_lo - lam_hi)
    a_hi, a_lo = process.alpha(hi), process.alpha(lo)
    s_hi, s_lo = process.sigma(hi), process.sigma(lo)
    r = np.ones_like(h)
    r[1:] = h[:-1] / h[1:]
    use = np.ones_like(h)
    use[0] = 0.0  # warm-up: first step has no previous data prediction
    b = TableBuilder(times, stages=2, history=1)
    b.evaluate(0, hi)
    b.y(1, 0, 1.0 / a_hi)
    b.s(1, 0, s_hi**2 / a_hi)
    if sde:
        em = -np.expm1(-2.0 * h)  # 1 - e^{-2h}
        c0 = a_lo * em
        b.y(2, 0, s_lo / s_hi * np.exp(-h))
        b.noise(2, s_lo**2 * em)
    else:
        c0 = -a_lo * np.expm1(-h)  # alpha_lo (1 - e^{-h})
        b.y(2, 0, s_lo / s_hi)
    c1 = 0.5 * c0 * use / r
    b.y(2, 1, c0 + c1)
    b.hist(2, 0, -c1)
    b.keep_state(1)
    return b


@register_scheme(
    "dpm-solver++-2m",
    kind="ode",
    order=2.0,
    source="Lu et al. 2022b (DPM-Solver++(2M), multistep, data prediction)",
    summary="Second-order multistep exponential integrator in log-SNR on the data "
    "prediction; first step DDIM.",
)
def _dpmpp2m(process: Process, times: FloatArray) -> Tableau:
    r"""DPM-Solver++(2M): :math:`x' = \tfrac{\sigma_{k+1}}{\sigma_k} x + \alpha_{k+1}
    (1 - e^{-h}) (D_0 + D_1/2)`; second order (first-order warm-up step). One score
    evaluation per step, at :math:`t_k`. Needs :math:`t_N > 0` (log-SNR)."""
    return _dpmpp_2m(process, times, sde=False).build(
        "dpm-solver++-2m", SCHEMES["dpm-solver++-2m"].order
    )


@register_scheme(
    "dpm-solver++-2m-sde",
    kind="sde",
    order=2.0,
    source="Lu et al. 2022b (SDE-DPM-Solver++(2M)), as in diffusers",
    summary="Stochastic second-order multistep exponential integrator on the data "
    "prediction.",
)
def _dpmpp2m_sde(process: Process, times: FloatArray) -> Tableau:
    r"""SDE-DPM-Solver++(2M): :math:`x' = \tfrac{\sigma_{k+1}}{\sigma_k} e^{-h} x +
    \alpha_{k+1}(1 - e^{-2h})(D_0 + D_1/2) + \sigma_{k+1}\sqrt{1 - e^{-2h}}\,\xi`.
    Order 2 in W2 of the law (weak order; measured on Gaussian exact laws for VP,
    VE and sub-VP: slopes 1.97-1.99)."""
    return _dpmpp_2m(process, times, sde=True).build(
        "dpm-solver++-2m-sde", SCHEMES["dpm-solver++-2m-sde"].order
    )


@register_scheme(
    "dpm-solver-3",
    kind="ode",
    order=3.0,
    source="Lu et al. 2022 (DPM-Solver-3, singlestep, r1 = 1/3, r2 = 2/3)",
    summary="Third-order singlestep exponential integrator in log-SNR "
    "(three noise predictions per step).",
)
def _dpm_solver_3(process: Process, times: FloatArray) -> Tableau:
    r"""DPM-Solver-3 (Lu et al. 2022, Algorithm 5, r1 = 1/3, r2 = 2/3).

    With :math:`\hat\epsilon = -\sigma s`, :math:`h = \lambda_{k+1} -
    \lambda_k`, :math:`\lambda_{s_i} = \lambda_k + r_i h`:
    :math:`u_1 = \tfrac{\alpha_{s_1}}{\alpha_k} x - \sigma_{s_1}(e^{r_1 h} -
    1)\epsilon_0`, :math:`D_{1,0} = \hat\epsilon(u_1) - \epsilon_0`,
    :math:`u_2 = \tfrac{\alpha_{s_2}}{\alpha_k} x - \sigma_{s_2}(e^{r_2 h} -
    1)\epsilon_0 - \tfrac{\sigma_{s_2} r_2}{r_1}(\tfrac{e^{r_2 h} - 1}{r_2 h} -
    1) D_{1,0}`, :math:`D_{1,1} = \hat\epsilon(u_2) - \epsilon_0`,
    :math:`x' = \tfrac{\alpha_{k+1}}{\alpha_k} x - \sigma_{k+1}(e^h - 1)
    \epsilon_0 - \tfrac{\sigma_{k+1}}{r_2}(\tfrac{e^h - 1}{h} - 1) D_{1,1}`.
    Third order; three score evaluations per step. Needs :math:`t_N > 0` (log-SNR).
    """
    _require_scalar(process, "dpm-solver-3")
    r1, r2 = 1.0 / 3.0, 2.0 / 3.0
    hi, lo = _hi_lo(times)
    lam_hi, lam_lo = process.log_snr(hi), process.log_snr(lo)
    h = lam_lo - lam_hi
    t1 = process.t_from_log_snr(lam_hi + r1 * h)
    t2 = process.t_from_log_snr(lam_hi + r2 * h)
    a0, a1, a2, a3 = (process.alpha(t) for t in (hi, t1, t2, lo))
    s0, s1, s2, s3 = (process.sigma(t) for t in (hi, t1, t2, lo))
    k2 = s2 * (r2 / r1) * (np.expm1(r2 * h) / (r2 * h) - 1.0)
    k3 = (s3 / r2) * (np.expm1(h) / h - 1.0)
    b = TableBuilder(times, stages=3)
    b.evaluate(0, hi)
    b.y(1, 0, a1 / a0)  # u1
    b.s(1, 0, s1 * np.expm1(r1 * h) * s0)
    b.evaluate(1, t1)
    b.y(2, 0, a2 / a0)  # u2
    b.s(2, 0, s2 * np.expm1(r2 * h) * s0 - k2 * s0)
    b.s(2, 1, k2 * s1)
    b.evaluate(2, t2)
    b.y(3, 0, a3 / a0)  # x'
    b.s(3, 0, s3 * np.expm1(h) * s0 - k3 * s0)
    b.s(3, 2, k3 * s2)
    return b.build("dpm-solver-3", SCHEMES["dpm-solver-3"].order)


# ---------------------------------------------------------------------------
# multistep data-prediction solvers of order 3, DEIS, UniPC
# ---------------------------------------------------------------------------
def _dpmpp_weights(h: FloatArray, order: npt.NDArray[np.int_]) -> FloatArray:
    """Weights (N, 3) of DPM-Solver++(kM) on the data predictions (m_k, m_{k-1},
    m_{k-2}): the update is ``(sigma_lo/sigma_hi) x + alpha_lo * (w . m)``;
    ``order[k]`` in {1, 2, 3} (Lu et al. 2022b; D2 coefficient corrected)."""
    N = h.shape[0]
    w = np.zeros((N, 3))
    em = -np.expm1(-h)  # 1 - e^{-h}
    w[:, 0] = em  # D0 = m0 with coefficient alpha (1 - e^{-h})
    h0 = np.full(N, np.nan)
    h1 = np.full(N, np.nan)
    h0[1:] = h[:-1]
    h1[2:] = h[:-2]
    for k in range(N):
        if order[k] == 2:
            r0 = h0[k] / h[k]
            c1 = 0.5 * em[k] / r0  # D1 = (m0 - m1) / r0, coefficient alpha em / 2
            w[k, 0] += c1
            w[k, 1] -= c1
        elif order[k] == 3:
            r0, r1 = h0[k] / h[k], h1[k] / h[k]
            d10 = np.array([1.0, -1.0, 0.0]) / r0
            d11 = np.array([0.0, 1.0, -1.0]) / r1
            D1 = d10 + r0 / (r0 + r1) * (d10 - d11)
            D2 = (d10 - d11) / (r0 + r1)
            phi2 = np.expm1(-h[k]) / h[k] + 1.0  # (e^{-h} - 1)/h + 1
            phi3 = (np.expm1(-h[k]) + h[k]) / h[k] ** 2 - 0.5
            # D2 ~ h^2 m''/2, so the Taylor term alpha (h^2/2 - h + 1 - e^{-h}) m''
            # needs 2 * phi3 on D2 (diffusers uses phi3: second order only)
            w[k] += phi2 * D1 - 2.0 * phi3 * D2
    return w


@register_scheme(
    "dpm-solver++-3m",
    kind="ode",
    order=3.0,
    source="Lu et al. 2022b (DPM-Solver++(3M), multistep, data prediction); "
    "D-terms as in diffusers, D2 coefficient corrected (see docstring)",
    summary="Third-order multistep exponential integrator in log-SNR on the data "
    "prediction; warm-up: DPM-Solver++(2S), then DPM-Solver++(2M).",
)
def _dpmpp3m(process: Process, times: FloatArray) -> Tableau:
    r"""DPM-Solver++(3M) (Lu et al. 2022b; diffusers' third-order update, fixed).

    With :math:`h = \lambda_{k+1} - \lambda_k`, :math:`r_0 = h_{k-1}/h`,
    :math:`r_1 = h_{k-2}/h` and the data predictions :math:`m_j = (x_j +
    \sigma_j^2 s_j)/\alpha_j`: :math:`D_0 = m_k`, :math:`D_{1,0} = (m_k -
    m_{k-1})/r_0`, :math:`D_{1,1} = (m_{k-1} - m_{k-2})/r_1`, :math:`D_1 = D_{1,0}
    + \tfrac{r_0}{r_0 + r_1}(D_{1,0} - D_{1,1})`, :math:`D_2 = (D_{1,0} -
    D_{1,1})/(r_0 + r_1)` and

    .. math::

        x' = \tfrac{\sigma_{k+1}}{\sigma_k} x + \alpha_{k+1}\Big[(1 - e^{-h})
        D_0 + \big(\tfrac{e^{-h} - 1}{h} + 1\big) D_1 - 2\big(\tfrac{e^{-h} - 1
        + h}{h^2} - \tfrac12\big) D_2\Big].

    diffusers (and the DPM-Solver reference code) use the D2 coefficient without
    the factor 2. Since :math:`D_1 \approx h m'` and :math:`D_2 \approx h^2
    m''/2`, the exact Taylor term :math:`\alpha_{k+1}(h^2/2 - h + 1 - e^{-h})
    m''` needs it; without it the local error is :math:`O(h^3)` and the method
    is second order (measured W2 slopes 2.04-2.06 at 80-160 log-SNR steps on
    VP/VE/sub-VP Gaussian exact laws, 3.0 with the factor; a quadrature check on
    a smooth m(lambda) shows local errors O(h^3) vs O(h^4)).

    Table: stage 1 holds :math:`m_k` and is kept (history of 2 states); stage 3
    is the update. Warm-up with lower-order steps: step 0 is DPM-Solver++(2S)
    (singlestep, midpoint in log-SNR; stage 2 is its intermediate state, one
    extra score evaluation), step 1 is DPM-Solver++(2M). Both have local error
    :math:`O(h^3)`; a first-order (DDIM) first step, as in diffusers, leaves a
    global :math:`O(h^2)` term, visible on VE where the data prediction still
    moves at :math:`t = T` (measured slope 1.9 at 320-640 steps). No
    lower-order final steps (diffusers lowers them only for fewer than 15
    steps). N + 1 score evaluations (none at :math:`t_N`). Third order. Needs
    :math:`t_N > 0` (log-SNR).
    """
    _require_scalar(process, "dpm-solver++-3m")
    hi, lo = _hi_lo(times)
    lam_hi, lam_lo = _arr(process.log_snr(hi)), _arr(process.log_snr(lo))
    h = lam_lo - lam_hi
    a_hi, a_lo = _arr(process.alpha(hi)), _arr(process.alpha(lo))
    s_hi, s_lo = _arr(process.sigma(hi)), _arr(process.sigma(lo))
    N = h.shape[0]
    order = np.minimum(np.arange(N) + 1, 3)
    w = _dpmpp_weights(h, order)
    first = np.zeros(N)
    first[0] = 1.0
    rest = 1.0 - first
    # step 0: DPM-Solver++(2S) with the midpoint in log-SNR (second order)
    t_mid = float(process.t_from_log_snr(lam_hi[0] + 0.5 * h[0]))
    a_m, s_m = float(process.alpha(t_mid)), float(process.sigma(t_mid))
    b = TableBuilder(times, stages=3, history=2)
    b.evaluate(0, hi)
    b.y(1, 0, 1.0 / a_hi)  # m_k, kept
    b.s(1, 0, s_hi**2 / a_hi)
    tau = np.full(N, np.nan)
    tau[0] = t_mid
    b.y(2, 0, first * s_m / s_hi)  # u (step 0 only)
    b.y(2, 1, first * a_m * -np.expm1(-0.5 * h))
    b.evaluate(2, tau)
    b.y(3, 0, s_lo / s_hi)
    b.y(3, 2, first * a_lo * -np.expm1(-h) / a_m)  # alpha (1 - e^{-h}) m_u
    b.s(3, 2, first * a_lo * -np.expm1(-h) * s_m**2 / a_m)
    b.y(3, 1, rest * a_lo * w[:, 0])
    b.hist(3, 0, rest * a_lo * w[:, 1])
    b.hist(3, 1, rest * a_lo * w[:, 2])
    b.keep_state(1)
    return b.build("dpm-solver++-3m", SCHEMES["dpm-solver++-3m"].order)


#: Gauss-Legendre nodes per step for the DEIS coefficients (integrand smooth in
#: log-SNR: e^{-lambda} times a polynomial in t(lambda)).
_DEIS_NODES = 32


def _deis(process: Process, times: FloatArray, points: int, name: str) -> Tableau:
    """DEIS-tAB with ``points`` past noise predictions (polynomial degree - 1)."""
    _require_scalar(process, name)
    hi, lo = _hi_lo(times)
    N = hi.shape[0]
    lam_hi, lam_lo = _arr(process.log_snr(hi)), _arr(process.log_snr(lo))
    x, wq = np.polynomial.legendre.leggauss(_DEIS_NODES)
    half = 0.5 * (lam_lo - lam_hi)
    L = lam_hi[:, None] + half[:, None] * (x[None] + 1.0)
    tau = np.asarray(_arr(process.t_from_log_snr(L)), dtype=np.float64)
    # x' = (alpha_lo/alpha_hi) x - alpha_lo int_{lam_hi}^{lam_lo} e^{-lam} eps(lam)
    base = -_arr(process.alpha(lo))[:, None] * np.exp(-L) * half[:, None] * wq[None]
    sig = _arr(process.sigma(times))
    coef = np.zeros((N, points))  # on eps_{k-j}
    for k in range(N):
        p = min(points, k + 1)
        nodes = times[k - np.arange(p)]
        for j in range(p):
            ell = np.ones(_DEIS_NODES)
            for i in range(p):
                if i != j:
                    ell *= (tau[k] - nodes[i]) / (nodes[j] - nodes[i])
            coef[k, j] = float(np.sum(base[k] * ell))
    first = np.zeros(N)
    first[0] = 1.0
    # step 0 (deis-3 only): DPM-Solver-2, midpoint in log-SNR (second order)
    warm = points >= 3
    b = TableBuilder(times, stages=2, history=points - 1)
    b.evaluate(0, hi)
    a_ratio = _arr(process.alpha(lo)) / _arr(process.alpha(hi))
    if warm:
        h0 = float(lam_lo[0] - lam_hi[0])
        t_mid = float(process.t_from_log_snr(lam_hi[0] + 0.5 * h0))
        a_m, s_m = float(process.alpha(t_mid)), float(process.sigma(t_mid))
        tau1 = np.full(N, np.nan)
        tau1[0] = t_mid
        b.y(1, 0, first * a_m / float(process.alpha(hi[0])))
        b.s(1, 0, first * s_m * np.expm1(0.5 * h0) * sig[0])
        b.evaluate(1, tau1)
        b.s(2, 1, first * float(sig[1]) * np.expm1(h0) * s_m)
        coef[0] = 0.0
    b.y(2, 0, a_ratio)
    # eps_j = -sigma(t_{k-j}) s_j: the current score, then the kept ones
    b.s(2, 0, -sig[:-1] * coef[:, 0])
    for j in range(1, points):
        sj = np.zeros(N)
        sj[j:] = sig[: N - j]
        b.hist(2, j - 1, -sj * coef[:, j])
    if points > 1:
        b.keep_score(0)
    return b.build(name, float(points))


@register_scheme(
    "deis-2",
    kind="ode",
    order=2.0,
    source="Zhang & Chen 2023 (DEIS, tAB with 2 points)",
    summary="Exponential integrator of the probability-flow ODE with linear "
    "extrapolation in t of the noise prediction; coefficients by quadrature.",
)
def _deis2(process: Process, times: FloatArray) -> Tableau:
    r"""DEIS-tAB2 (Zhang & Chen 2023): exponential integrator, noise prediction
    :math:`\hat\epsilon = -\sigma s` extrapolated in time by the Lagrange
    polynomial through :math:`(t_k, \hat\epsilon_k), (t_{k-1},
    \hat\epsilon_{k-1})`:

    .. math::

        x' = \tfrac{\alpha_{k+1}}{\alpha_k} x + \sum_j C_{kj} \hat\epsilon_{k-j},
        \qquad C_{kj} = -\alpha_{k+1} \int_{\lambda_k}^{\lambda_{k+1}}
        e^{-\lambda} \ell_j(t(\lambda))\, d\lambda

        (= \int_{t_k}^{t_{k+1}} \tfrac{\alpha_{k+1}}{\alpha(\tau)}
        \tfrac{g(\tau)^2}{2\sigma(\tau)} \ell_j(\tau)\,d\tau),

    :math:`\ell_j` the Lagrange basis in t, integrated by 32-node Gauss-Legendre
    in log-SNR (smooth integrand). The first step has one point (= DDIM).
    Second order. One score evaluation per step, at :math:`t_k`. Needs
    :math:`t_N > 0` (log-SNR)."""
    return _deis(process, times, 2, "deis-2")


@register_scheme(
    "deis-3",
    kind="ode",
    order=3.0,
    source="Zhang & Chen 2023 (DEIS, tAB with 3 points)",
    summary="Exponential integrator of the probability-flow ODE with quadratic "
    "extrapolation in t of the noise prediction; coefficients by quadrature.",
)
def _deis3(process: Process, times: FloatArray) -> Tableau:
    """DEIS-tAB3 (Zhang & Chen 2023): as ``deis-2`` with the quadratic through
    the last three noise predictions. Warm-up with lower-order steps of local
    error :math:`O(h^3)`: step 0 is DPM-Solver-2 (midpoint in log-SNR, stage 1,
    one extra score evaluation), step 1 the two-point DEIS step. (A DDIM first
    step would leave a global :math:`O(h^2)` term, measured on VE.) Third
    order."""
    return _deis(process, times, 3, "deis-3")


def _unipc_b(h: float, order: int, bh: str) -> tuple[float, float, FloatArray]:
    """diffusers' (hh phi_1, B(h), b vector) of UniP/UniC with predict_x0."""
    hh = -h
    h_phi_1 = float(np.expm1(hh))
    h_phi_k = h_phi_1 / hh - 1.0
    B_h = hh if bh == "bh1" else h_phi_1
    fact = 1.0
    bvec = []
    for i in range(1, order + 1):
        bvec.append(h_phi_k * fact / B_h)
        fact *= i + 1
        h_phi_k = h_phi_k / hh - 1.0 / fact
    return h_phi_1, B_h, np.array(bvec)


@register_scheme(
    "unipc-2",
    kind="ode",
    order=3.0,
    source="Zhao et al. 2023 (UniPC: UniP-2 predictor + UniC corrector, data "
    "prediction, B(h) = e^h - 1 ('bh2') by default), as in diffusers",
    summary="Multistep predictor-corrector in log-SNR; the corrector reuses the "
    "score at the predicted point (no extra evaluation).",
    options=("solver_type",),
)
def _unipc2(process: Process, times: FloatArray, solver_type: str = "bh2") -> Tableau:
    r"""UniPC with a second-order predictor (Zhao et al. 2023, Alg. 2 & 3).

    With data predictions :math:`m_j` at the *predicted* points
    :math:`\tilde x_j`, :math:`h = \lambda_{k+1} - \lambda_k`,
    :math:`r = (\lambda_{k-1} - \lambda_k)/h` and :math:`D_1 = (m_{k-1} -
    m_k)/r`, starting from the corrected state :math:`x^c_k`:

    - UniP-2: :math:`\tilde x_{k+1} = \tfrac{\sigma_{k+1}}{\sigma_k} x^c_k -
      \alpha_{k+1}(e^{-h} - 1) m_k - \alpha_{k+1} B(h)\, \tfrac12 D_1`
      (with ``bh2`` this is DPM-Solver++(2M));
    - evaluate :math:`m_{k+1}` at :math:`\tilde x_{k+1}`;
    - UniC-2: :math:`x^c_{k+1} = \tfrac{\sigma_{k+1}}{\sigma_k} x^c_k -
      \alpha_{k+1}(e^{-h} - 1) m_k - \alpha_{k+1} B(h) (\rho_0 D_1 + \rho_1
      (m_{k+1} - m_k))` with :math:`(\rho_0, \rho_1) = R^{-1} b`,
      :math:`R = [[1, 1], [r, 1]]`, :math:`b_i = i!\, h\varphi_{i+1}(-h)/B(h)`
      (diffusers' ``multistep_uni_c_bh_update``).

    ``solver_type``: ``"bh2"`` (:math:`B(h) = e^{-h} - 1` in the data-prediction
    sign convention, default, recommended for guided sampling) or ``"bh1"``
    (:math:`B(h) = -h`). Warm-up: steps 0 and 1 use UniP-1/UniC-1
    (:math:`\rho = 1/2`) — one step more than diffusers, because the table's
    history keeps one state per step and the data prediction at the initial
    point cannot be kept together with the one at the first predicted point.
    The last step is the predictor only (as in diffusers: its corrector would
    need an extra score evaluation). Table: stage 1 = predictor, stage 2 =
    :math:`m_{k+1}` (kept), stage 3 = corrector. Order 3 (UniC raises UniP-2's
    order by one; measured on Gaussian exact laws). N score evaluations (none
    at :math:`t_N`). Needs :math:`t_N > 0` (log-SNR).
    """
    _require_scalar(process, "unipc-2")
    if solver_type not in ("bh1", "bh2"):
        raise ValueError(f"solver_type must be 'bh1' or 'bh2', got {solver_type!r}")
    hi, lo = _hi_lo(times)
    N = hi.shape[0]
    lam = _arr(process.log_snr(times))
    h = lam[1:] - lam[:-1]
    a, s = _arr(process.alpha(times)), _arr(process.sigma(times))
    # per-step coefficients on (m_k, m_{k-1}) for the predictor, on
    # (m_k, m_{k-1}, m_{k+1}) for the corrector; scaled by alpha_{k+1}
    P = np.zeros((N, 2))
    Cc = np.zeros((N, 3))
    for k in range(N):
        p = 1 if k <= 1 else 2
        h_phi_1, B_h, bvec = _unipc_b(float(h[k]), p, solver_type)
        P[k, 0] = -h_phi_1
        Cc[k, 0] = -h_phi_1
        if p == 1:
            rho_c = np.array([0.5])
        else:
            r = float((lam[k - 1] - lam[k]) / h[k])
            # predictor: - B(h) * 0.5 * (m_{k-1} - m_k) / r
            P[k, 0] += B_h * 0.5 / r
            P[k, 1] -= B_h * 0.5 / r
            rho_c = np.linalg.solve(np.array([[1.0, 1.0], [r, 1.0]]), bvec)
            Cc[k, 0] += B_h * rho_c[0] / r
            Cc[k, 1] -= B_h * rho_c[0] / r
        Cc[k, 0] += B_h * rho_c[-1]
        Cc[k, 2] -= B_h * rho_c[-1]
    P *= a[1:, None]
    Cc *= a[1:, None]
    last = np.zeros(N, dtype=bool)
    last[-1] = True
    inner = ~last
    first = np.zeros(N)
    first[0] = 1.0
    rest = 1.0 - first
    b = TableBuilder(times, stages=3, history=2)
    tau0 = np.full(N, np.nan)
    tau0[0] = times[0]
    b.evaluate(0, tau0)  # m_0 at the initial point (step 0 only)
    b.evaluate(1, np.where(inner, lo, np.nan))
    ratio = s[1:] / s[:-1]

    def add_m_k(j: int, coef: FloatArray) -> None:
        # m_k: from y_0 and s_0 at step 0, from the history afterwards
        b.y(j, 0, first * coef / a[0])
        b.s(j, 0, first * coef * s[0] ** 2 / a[0])
        b.hist(j, 0, rest * coef)

    # stage 1: predictor
    b.y(1, 0, ratio)
    add_m_k(1, P[:, 0])
    b.hist(1, 1, P[:, 1])
    # stage 2: m_{k+1} at the predicted point (not at the last step)
    b.y(2, 1, np.where(inner, 1.0 / a[1:], 0.0))
    b.s(2, 1, np.where(inner, s[1:] ** 2 / a[1:], 0.0))
    # stage 3: corrector (the last step returns the predictor)
    b.y(3, 0, np.where(inner, ratio, 0.0))
    add_m_k(3, np.where(inner, Cc[:, 0], 0.0))
    b.hist(3, 1, np.where(inner, Cc[:, 1], 0.0))
    b.y(3, 2, np.where(inner, Cc[:, 2], 0.0))
    b.y(3, 1, np.where(inner, 0.0, 1.0))
    b.keep_state(2, np.flatnonzero(inner))
    return b.build("unipc-2", SCHEMES["unipc-2"].order, {"solver_type": solver_type})


# ---------------------------------------------------------------------------
# predictor-corrector (Song et al. 2021)
# ---------------------------------------------------------------------------
@register_scheme(
    "pc",
    kind="sde",
    order=1.0,
    source="Song et al. 2021 (predictor-corrector sampling, Langevin corrector "
    "with signal-to-noise ratio snr)",
    summary="Any predictor scheme, then corrector_steps Langevin steps at t_{k+1} "
    "with step 2 (snr sigma_{k+1})^2; order = the predictor's (snr -> 0).",
    options=("predictor", "corrector_steps", "snr", "predictor_options"),
)
def _pc(
    process: Process,
    times: FloatArray,
    predictor: str = "ei-sde",
    corrector_steps: int = 1,
    snr: float = 0.16,
    predictor_options: dict[str, Any] | None = None,
) -> Tableau:
    r"""Predictor-corrector sampler (Song et al. 2021, Algorithms 2-3).

    Each step runs the ``predictor`` scheme's step from :math:`t_k` to
    :math:`t_{k+1}` (its stages, history and noise lanes unchanged), followed by
    ``corrector_steps`` unadjusted Langevin steps targeting
    :math:`p_{t_{k+1}}`:

    .. math::

        y \leftarrow y + \epsilon_k\, s(y, t_{k+1}) + \sqrt{2\epsilon_k}\,\xi,
        \qquad \epsilon_k = 2\,(\mathrm{snr}\;\sigma(t_{k+1}))^2.

    **Linearised step size.** Song et al. set :math:`\epsilon = 2\alpha_i
    (\mathrm{snr}\,\|\xi\|/\|s(y)\|)^2` from the norms of the current noise and
    score, which is not linear in the state. To keep a coefficient table we
    replace the ratio of squared norms by the ratio of their expectations with
    the data concentrated at a point, :math:`E\|\xi\|^2 / E\|\nabla\log
    p_t\|^2 = D / (D/\sigma_t^2) = \sigma_t^2` (dimension-free; for any data
    :math:`J(p_t) \le D/\sigma_t^2`, so this is the smallest of Song et al.'s
    expected step sizes), and take Song's :math:`\alpha_i = 1` (it is
    :math:`1 - \beta_i/N \to 1` for VP). ``snr = 0.16`` is Song et al.'s value
    for VE on CIFAR-10.

    The corrector step does not shrink with the grid, so at fixed ``snr`` the
    sampler does not converge as N grows: each Langevin step on :math:`p_t`
    itself has a bias :math:`O(\epsilon^2)` (Gaussian case: variance
    :math:`v + \epsilon^2/v`). The documented order is the predictor's, reached
    for small ``snr``. Not defined for phase-space processes (the step size
    uses the scalar noise level :math:`\sigma_t`). Score evaluations per step:
    the predictor's plus ``corrector_steps``, the correctors at
    :math:`t_{k+1}` (so at :math:`t_N`, where on a grid ending at 0 they use
    the data score).

    Parameters
    ----------
    predictor : str, default "ei-sde"
        Any registered scheme except "pc" (SDE or ODE).
    corrector_steps : int, default 1
        Langevin steps per grid step (0 gives the predictor alone).
    snr : float, default 0.16
        Signal-to-noise ratio (> 0).
    predictor_options : dict, optional
        Options passed to the predictor (e.g. ``{"eta": 0.5}`` for ddim).
    """
    _require_scalar(
        process,
        "pc",
        "the Langevin corrector's step size is defined through the scalar noise "
        "level sigma(t)",
    )
    if not isinstance(predictor, str) or predictor == "pc" or predictor not in SCHEMES:
        valid = ", ".join(n for n in scheme_names() if n != "pc")
        raise ValueError(f"predictor must be one of {valid}; got {predictor!r}")
    from ._validate import check_int

    n_corr = check_int(corrector_steps, "corrector_steps", 0)
    snr = check_positive(snr, "snr")
    if predictor_options is not None and not isinstance(predictor_options, dict):
        raise TypeError(
            f"predictor_options must be a dict, got {type(predictor_options).__name__}"
        )
    popts = dict(predictor_options or {})
    base = compile_scheme(predictor, process, times, **popts)
    N, Sp, H, m = base.steps, base.stages, base.history, base.m
    S = Sp + n_corr
    hi, lo = _hi_lo(times)
    with np.errstate(over="ignore", invalid="ignore"):
        eps = 2.0 * (snr * _arr(process.sigma(lo))) ** 2
    if not np.all(np.isfinite(eps)):
        raise ValueError(
            f"snr={snr!r} is too large: the corrector step 2 (snr sigma)^2 overflows"
        )
    b = TableBuilder(times, stages=S, history=H, m=m)
    b.Y[:, :Sp, :Sp] = base.Y
    b.B[:, :Sp, :Sp] = base.B
    b.E[:, :Sp] = base.E
    b.C[:, :Sp] = base.C
    tau = np.full((N, S), np.nan)
    ev = base.eval >= 0
    tau[:, :Sp][ev] = base.stage_times[base.eval[ev]]
    for i in range(n_corr):
        j = Sp + i  # corrector stage j + 1 reads y_j and its score at t_{k+1}
        tau[:, j] = lo
        b.y(j + 1, j, 1.0)
        b.s(j + 1, j, eps)
        b.noise(j + 1, 2.0 * eps)
    b._tau[:] = tau
    keep = base.keep.copy()
    keep[keep >= Sp] += n_corr  # kept stage states move with the stage count
    b.keep[:] = keep
    options = {
        "predictor": predictor,
        "corrector_steps": n_corr,
        "snr": snr,
        "predictor_options": popts,
    }
    return b.build("pc", base.order, options)
