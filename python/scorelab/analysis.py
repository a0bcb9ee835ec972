r"""Exact error analysis on Gaussian targets: tables, time profiles, error budgets.

Everything here is built on :func:`scorelab.exact_law` (no Monte Carlo), so every
number is exact up to rounding; spectral targets
(:meth:`~scorelab.targets.Gaussian.from_spectrum`,
:meth:`~scorelab.targets.Gaussian.from_data`) keep every step O(d).

- :func:`exact_errors`: a whole sampler x steps (or NFE) x early-stopping time x
  initial law table of exact W2 (and KL) in one call, as an :class:`ErrorTable`;
- :func:`w2_profile`: :math:`W_2(\hat p_{t_k}, p_{t_k})` at every grid time
  :math:`t_k`, the law of the sampler after k steps against the true marginal;
- :func:`error_budget`: the error of one run split into initialisation,
  discretisation, score error and early stopping (:class:`ErrorBudget`).

Notation: :math:`p_t` the marginal of the forward process at time t (so
:math:`p_0` is the data law), :math:`\hat p` the law of the sampler's output,
:math:`\delta = t_N` the final (early-stopping) time of the grid.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ._validate import check_gaussian, check_int, check_real
from .errors import ScoreError
from .exact import LawPath, exact_law
from .grids import grid as make_grid
from .metrics_gaussian import _w2_spectral_rows, kl_gaussian, w2_gaussian
from .processes import Process
from .schemes import compile_scheme
from .study.results import ResultTable
from .targets import Gaussian

__all__ = [
    "ErrorBudget",
    "ErrorTable",
    "Profile",
    "error_budget",
    "exact_errors",
    "w2_profile",
]

FloatArray = npt.NDArray[np.float64]

#: Setting columns of an :class:`ErrorTable` (one value per cell), in order.
SETTINGS: tuple[str, ...] = (
    "scheme",
    "steps",
    "nfe",
    "delta",
    "init",
    "grid",
    "T",
    "dim",
    "score_error",
)
#: Metrics :func:`exact_errors` can compute, and what each one compares.
METRICS: dict[str, str] = {
    "w2": "W2(output law, p_delta)",
    "w2_data": "W2(output law, p_0) (includes the early-stopping error)",
    "kl": "KL(output law || p_delta)",
    "kl_data": "KL(output law || p_0) (needs a regular data covariance)",
}
_INITS = ("prior", "zero-data", "exact")


def _init_arg(init: Any) -> Any:
    """``exact_law``'s ``init`` for a table value ("prior" is the default None)."""
    if isinstance(init, str):
        if init not in _INITS:
            raise ValueError(
                f"init must be one of {', '.join(map(repr, _INITS))} or a Gaussian, "
                f"got {init!r}"
            )
        return None if init == "prior" else init
    if init is None or isinstance(init, Gaussian):
        return init
    raise TypeError(
        f"init must be 'prior', 'zero-data', 'exact' or a Gaussian, got "
        f"{type(init).__name__}"
    )


def _marginal(target: Gaussian, process: Process, t: float) -> Gaussian:
    """p_t of the position (spectral for a spectral target under a scalar process)."""
    if target.spectrum is not None and getattr(process, "m", 1) == 1:
        return target.noised(process, t)  # keeps the spectrum: O(d)
    law = process.position_marginal(target, t)
    assert isinstance(law, Gaussian)
    return law


# ---------------------------------------------------------------------------
# time profiles
# ---------------------------------------------------------------------------
class Profile(NamedTuple):
    """A time profile: ``w2[k]`` is :math:`W_2(\\hat p_{t_k}, p_{t_k})`."""

    times: FloatArray
    w2: FloatArray


def w2_profile(
    target: Gaussian,
    process: Process,
    scheme: str | LawPath,
    grid: npt.ArrayLike | None = None,
    *,
    init: Any = "prior",
    score_error: ScoreError | None = None,
    **scheme_options: Any,
) -> Profile:
    r"""W2 between the sampler's law after k steps and :math:`p_{t_k}`, for all k.

    .. math::

        e_k = W_2\bigl(\operatorname{Law}(x_k),\; p_{t_k}\bigr), \qquad
        k = 0, \dots, N,

    with :math:`x_k` the sampler's state after k steps of ``grid``: :math:`e_0`
    is the initialisation error and :math:`e_N` the final error to
    :math:`p_\delta` (``exact_errors``' ``"w2"``).

    Parameters
    ----------
    target : Gaussian
        Data law.
    process : Process
        Forward process (its position marginals are the references).
    scheme : str or LawPath
        Sampler name, or a path already computed by
        ``exact_law(..., times="all")`` for this target and process (then
        ``grid``, ``init``, ``score_error`` and options must be omitted).
    grid : array_like, shape (N + 1,)
        Decreasing times (with a scheme name).
    init, score_error, **scheme_options
        As in :func:`scorelab.exact_law` (``init`` may also be ``"prior"``).

    Returns
    -------
    Profile
        ``(times, w2)``, arrays of shape (N + 1,).

    Notes
    -----
    On a spectral path with the target's basis every :math:`e_k` is the
    per-direction closed form (O(d) each, no cancellation); otherwise it is
    :func:`scorelab.w2_gaussian` on the dense laws (batched).
    """
    target = check_gaussian(target, why="exact profiles need a Gaussian target")
    if isinstance(scheme, LawPath):
        if grid is not None or score_error is not None or scheme_options:
            raise ValueError(
                "with a LawPath, grid, score_error and scheme options must be omitted"
            )
        path = scheme
    elif isinstance(scheme, str):
        if grid is None:
            raise ValueError("grid is required with a scheme name")
        path = exact_law(
            target,
            process,
            scheme,
            grid,
            init=_init_arg(init),
            score_error=score_error,
            times="all",
            **scheme_options,
        )
    else:
        raise TypeError(
            f"scheme must be a scheme name or a LawPath, got {type(scheme).__name__}"
        )
    if path.dim != target.dim:
        raise ValueError(f"the path has dimension {path.dim}, the target {target.dim}")
    return Profile(path.times.copy(), _path_w2(path, target, process))


def _path_w2(path: LawPath, target: Gaussian, process: Process) -> FloatArray:
    """W2 of every law of the path to the marginal at its time."""
    spec = target.spectrum
    t = path.times
    if (
        path.variances is not None
        and spec is not None
        and getattr(process, "m", 1) == 1
    ):
        lam, Q = spec
        same = (Q is None and path.basis is None) or (
            Q is not None
            and path.basis is not None
            and (Q is path.basis or np.array_equal(Q, path.basis))
        )
        if same:
            a = np.asarray(process.alpha(t), dtype=np.float64)
            s2 = np.asarray(process.sigma2(t), dtype=np.float64)
            mu0 = target.mean if Q is None else target.mean @ Q
            ref_mean = a[:, None] * mu0[None, :]
            ref_var = (a * a)[:, None] * lam[None, :] + s2[:, None]
            out = _w2_spectral_rows(
                path.mean_coords - ref_mean, path.variances, ref_var
            )
            return np.asarray(out, dtype=np.float64)
    refs = [_marginal(target, process, float(tk)) for tk in t]
    covs = (
        path.covariances
        if path.covariances is not None
        else np.stack([path.law(k).cov for k in range(len(path))])
    )
    out = w2_gaussian(
        path.means,
        covs,
        np.stack([r.mean for r in refs]),
        np.stack([r.cov for r in refs]),
    )
    return np.asarray(out, dtype=np.float64)


# ---------------------------------------------------------------------------
# tables of exact errors
# ---------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if math.isfinite(v) else str(v)
    return str(v)


class ErrorTable(ResultTable):
    """A tidy table of exact errors: one row (a dict) per cell.

    Columns: the settings :data:`SETTINGS` (``scheme``, ``steps``, ``nfe``,
    ``delta``, ``init``, ``grid``, ``T``, ``dim``, ``score_error``), then the
    metrics asked for (see :data:`METRICS`), then ``time_s`` (wall time of the
    cell's exact law). Row selection (:meth:`where`, :meth:`unique`,
    :meth:`to_pandas`) is that of :class:`scorelab.study.ResultTable`;
    exact errors have no replicates, so there is nothing to aggregate.
    """

    def __getitem__(self, name: str) -> np.ndarray:
        """Column ``name`` as an array (float for numbers, object for text)."""
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; columns: {', '.join(self.columns)}")
        values = [r.get(name) for r in self.rows]
        if all(
            isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, bool)
            for v in values
        ):
            return np.array(values, dtype=np.float64)
        return np.array(values, dtype=object)

    def where(self, **conditions: Any) -> ErrorTable:
        """Rows where each ``column == value`` (or ``in`` a list/tuple/set)."""
        return ErrorTable(super().where(**conditions).rows, self.columns)

    def aggregate(self, by: Sequence[str]) -> list[dict[str, Any]]:
        """Not applicable: exact errors have no replicates to average."""
        raise TypeError("an ErrorTable holds exact values; there is nothing to average")

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the table as CSV (all columns, floats with full precision)."""
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=self.columns)
            w.writeheader()
            for r in self.rows:
                w.writerow(
                    {c: repr(v) if isinstance(v, float) else v for c, v in r.items()}
                )

    def write(self, path: str | os.PathLike[str]) -> None:
        """Same as :meth:`to_csv`."""
        self.to_csv(path)

    def format_summary(self, columns: str = "steps", terms: bool = False) -> str:
        """Same as :meth:`format` with ``metric="w2"``."""
        return self.format("w2", columns=columns)

    def pivot(
        self, metric: str = "w2", columns: str = "steps"
    ) -> tuple[list[str], list[str], list[tuple[Any, ...]], dict[Any, Any]]:
        """The table as a pivot: one line per combination of the other settings.

        Returns ``(keys, constant, lines, cells)``: the varying settings that
        label a line, the settings equal on every row, the lines' key tuples and
        ``cells[(line, column value)] = metric``. ``nfe`` (when ``columns`` is
        ``"steps"``) or ``steps`` (when it is ``"nfe"``) is left out of the keys:
        with the scheme, it is determined by the column.

        Raises
        ------
        ValueError
            If the metric or column is unknown, or two rows would land in one
            cell (they differ in a setting the pivot does not show: never
            merged).
        """
        if metric not in self.columns or metric in SETTINGS:
            raise ValueError(
                f"metric must be one of the table's metrics, got {metric!r}"
            )
        if columns not in SETTINGS:
            raise ValueError(f"columns must be a setting column, got {columns!r}")
        derived = {"steps": "nfe", "nfe": "steps"}.get(columns)
        settings = [c for c in SETTINGS if c in self.columns and c != columns]
        varying = [c for c in settings if len(self.unique(c)) > 1]
        constant = [c for c in settings if c not in varying and c != derived]
        keys = [c for c in varying if c != derived]
        cells: dict[Any, Any] = {}
        lines: dict[tuple[Any, ...], None] = {}
        seen: dict[Any, dict[str, Any]] = {}
        for r in self.rows:
            line = tuple(r[c] for c in keys)
            cell = (line, r[columns])
            if cell in cells:
                other = seen[cell]
                diff = [c for c in SETTINGS if c in r and r[c] != other.get(c)]
                raise ValueError(
                    f"rows differing in {', '.join(diff) or 'nothing'} would share "
                    f"one cell of the pivot; select rows with where() first"
                )
            cells[cell], seen[cell] = r[metric], r
            lines[line] = None
        return keys, constant, list(lines), cells

    def format(self, metric: str = "w2", columns: str = "steps") -> str:
        """Readable pivot of one metric (see :meth:`pivot`) for printing."""
        if not self.rows:
            return "(no rows)"
        keys, constant, lines, cells = self.pivot(metric, columns)
        col_values = sorted({c for _, c in cells}, key=lambda v: (str(type(v)), v))
        head = [*keys, *[f"{columns}={_fmt(v)}" for v in col_values]]
        body = [
            [
                *(_fmt(x) for x in line),
                *(_fmt(cells.get((line, v), "")) for v in col_values),
            ]
            for line in lines
        ]
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
        nk = len(keys)

        def fmt_row(cs: Sequence[str]) -> str:
            return "  ".join(
                c.ljust(w) if i < nk else c.rjust(w)
                for i, (c, w) in enumerate(zip(cs, widths))
            )

        first = self.rows[0]
        out = [f"{metric}: {METRICS.get(metric, metric)}"]
        if constant:
            out.append(", ".join(f"{c}={_fmt(first[c])}" for c in constant))
        out += [fmt_row(head), "  ".join("-" * w for w in widths)]
        out += [fmt_row(b) for b in body]
        return "\n".join(out)


def _as_list(v: Any, name: str) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
        return [v]
    out = list(v)
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


def exact_errors(
    target: Gaussian,
    process: Process,
    schemes: str | Sequence[str],
    steps: int | Sequence[int] | None = None,
    *,
    nfe: int | Sequence[int] | None = None,
    delta: float | Sequence[float] = 1e-3,
    init: str | Sequence[str] = "prior",
    grid: str = "uniform",
    T: float | None = None,
    grid_options: Mapping[str, Any] | None = None,
    score_error: ScoreError | None = None,
    metrics: Sequence[str] = ("w2", "w2_data"),
    scheme_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> ErrorTable:
    r"""Exact errors of a whole sampler x steps x early stopping x init table.

    One row per cell ``(scheme, steps or nfe, delta, init)``; each is one
    :func:`scorelab.exact_law` call on the grid
    ``grid(grid, steps, T=T, delta=delta, process=process)`` (the table is
    compiled once per scheme, steps and delta, and shared by the inits).

    Parameters
    ----------
    target : Gaussian
        Data law (a spectral Gaussian keeps every cell O(N d)).
    process : Process
        Forward process.
    schemes : str or sequence of str
        Scheme names.
    steps : int or sequence of int, optional
        Numbers of steps. Give either ``steps`` or ``nfe``.
    nfe : int or sequence of int, optional
        Score-evaluation budgets: each scheme gets the largest number of steps
        whose evaluations fit (:func:`scorelab.grid` with ``nfe=``); the row
        records both ``steps`` and the evaluations actually used (``nfe``).
    delta : float or sequence of float, default 1e-3
        Final times (``0`` allowed for the grid kinds that allow it).
    init : str or sequence of str, default "prior"
        Initial laws: ``"prior"``, ``"zero-data"``, ``"exact"`` (:math:`p_T`).
    grid : str, default "uniform"
        Grid kind (:data:`scorelab.GRID_KINDS`); ``grid_options`` (e.g.
        ``{"rho": 7}``) are passed on.
    T : float, optional
        Initial time (default ``process.T``).
    score_error : affine ScoreError, optional
        The same error model in every cell.
    metrics : sequence of str, default ("w2", "w2_data")
        Columns to compute, from :data:`METRICS`: ``"w2"`` is
        :math:`W_2(\hat p, p_\delta)` (as a study's ``w2`` with the default
        ``reference = "marginal"``), ``"w2_data"`` is :math:`W_2(\hat p, p_0)`,
        ``"kl"``/``"kl_data"`` the KL divergences :math:`KL(\hat p \| \cdot)`.
    scheme_options : mapping, optional
        Options per scheme name, e.g. ``{"ddpm": {"variance": "beta"}}``.

    Returns
    -------
    ErrorTable
        Rows in the order scheme, steps (or nfe), delta, init.

    Raises
    ------
    ValueError
        For both or neither of ``steps`` and ``nfe``, an unknown metric or init,
        empty lists, or invalid grids (from :func:`scorelab.grid`).

    Examples
    --------
    >>> import numpy as np
    >>> from scorelab import VP, Gaussian
    >>> from scorelab.analysis import exact_errors
    >>> target = Gaussian.from_spectrum(np.arange(1.0, 33.0) ** -1.0)
    >>> tab = exact_errors(target, VP(), ["ei-sde", "heun"], steps=[10, 20],
    ...                    delta=[1e-3, 1e-2], init=["prior", "exact"])
    >>> len(tab)
    16
    >>> txt = tab.format("w2_data")
    """
    target = check_gaussian(target, why="exact errors need a Gaussian target")
    names = _as_list(schemes, "schemes")
    for s in names:
        if not isinstance(s, str):
            raise TypeError(f"schemes must be scheme names, got {type(s).__name__}")
    if (steps is None) == (nfe is None):
        raise ValueError("give either steps or nfe (not both, not neither)")
    by_nfe = nfe is not None
    counts = [
        check_int(n, "nfe" if by_nfe else "steps", 1)
        for n in _as_list(nfe if by_nfe else steps, "nfe" if by_nfe else "steps")
    ]
    deltas = [check_real(x, "delta") for x in _as_list(delta, "delta")]
    inits = _as_list(init, "init")
    for i in inits:
        if not isinstance(i, str):
            raise TypeError("init values must be strings here ('prior', ...)")
        _init_arg(i)
    metrics = list(metrics)
    bad = [m for m in metrics if m not in METRICS]
    if bad or not metrics:
        raise ValueError(
            f"metrics must be a non-empty list from {', '.join(map(repr, METRICS))}; "
            f"got {bad or metrics!r}"
        )
    opts_all = dict(scheme_options or {})
    unknown = [k for k in opts_all if k not in names]
    if unknown:
        raise ValueError(f"scheme_options for schemes not in the table: {unknown}")
    gopts = dict(grid_options or {})
    T_val = float(process.T if T is None else T)
    err_name = "none" if score_error is None else repr(score_error)
    rows: list[dict[str, Any]] = []
    data_law = target
    for name in names:
        opts = dict(opts_all.get(name, {}))
        for n in counts:
            for dl in deltas:
                if by_nfe:
                    g = make_grid(
                        grid,
                        T=T,
                        delta=dl,
                        process=process,
                        nfe=n,
                        scheme=name,
                        scheme_options=opts or None,
                        **gopts,
                    )
                else:
                    g = make_grid(grid, n, T=T, delta=dl, process=process, **gopts)
                tab = compile_scheme(name, process, g, **opts)
                ref = _marginal(target, process, float(g[-1]))
                for i in inits:
                    t0 = time.perf_counter()
                    law = exact_law(
                        target,
                        process,
                        tab,
                        g,
                        init=_init_arg(i),
                        score_error=score_error,
                    )
                    row: dict[str, Any] = {
                        "scheme": name,
                        "steps": int(tab.steps),
                        "nfe": int(tab.n_score_evals),
                        "delta": float(g[-1]),
                        "init": i,
                        "grid": grid,
                        "T": T_val,
                        "dim": int(target.dim),
                        "score_error": err_name,
                    }
                    for m in metrics:
                        other = data_law if m.endswith("_data") else ref
                        fn = w2_gaussian if m.startswith("w2") else kl_gaussian
                        row[m] = float(fn(law, other))  # type: ignore[arg-type]
                    row["time_s"] = time.perf_counter() - t0
                    rows.append(row)
    return ErrorTable(rows, [*SETTINGS, *metrics, "time_s"])


# ---------------------------------------------------------------------------
# error budgets
# ---------------------------------------------------------------------------
#: The parts of an :class:`ErrorBudget`, in the order of the chain (see there).
BUDGET_PARTS: tuple[str, ...] = (
    "initialisation_propagated",
    "score",
    "discretisation",
    "early_stopping",
)


@dataclass(frozen=True)
class ErrorBudget:
    r"""Where the exact W2 error of one run comes from.

    With :math:`\hat p(\pi, e)` the exact output law of the scheme on the grid
    from the initial law :math:`\pi` with score error :math:`e` (:math:`\pi^*
    = p_{t_0}` the exact initial law, :math:`e = 0` the exact score), the chain

    .. math::

        \hat p(\pi, e) \;\to\; \hat p(\pi^*, e) \;\to\; \hat p(\pi^*, 0)
        \;\to\; p_\delta \;\to\; p_0

    defines the parts, each an exact W2 distance between consecutive laws:

    ``initialisation_propagated``
        :math:`W_2(\hat p(\pi, e), \hat p(\pi^*, e))`: the effect at the output
        of starting from the prior instead of :math:`p_{t_0}`;
    ``score``
        :math:`W_2(\hat p(\pi^*, e), \hat p(\pi^*, 0))`: the effect of the score
        error;
    ``discretisation``
        :math:`W_2(\hat p(\pi^*, 0), p_\delta)`: the scheme's own error;
    ``early_stopping``
        :math:`W_2(p_\delta, p_0)`.

    Also recorded: ``initialisation`` :math:`= W_2(\pi, p_{t_0})` (the mismatch
    where it is made, at :math:`t_0`), ``to_p_delta`` :math:`= W_2(\hat p(\pi,
    e), p_\delta)` and ``total`` :math:`= W_2(\hat p(\pi, e), p_0)`.

    W2 is a metric, so ``total <= sum of the four parts`` and ``to_p_delta <=
    initialisation_propagated + score + discretisation`` (triangle
    inequality); the parts are *not* additive in general (:meth:`slack` is the
    gap). With the exact initial law and score the first two parts are 0 and
    ``to_p_delta == discretisation``; with ``delta = 0`` early stopping is 0.
    """

    scheme: str
    steps: int
    delta: float
    init: str
    total: float
    to_p_delta: float
    initialisation: float
    initialisation_propagated: float
    score: float
    discretisation: float
    early_stopping: float
    profile: Profile

    def parts(self) -> dict[str, float]:
        """The four parts of the chain, in order (:data:`BUDGET_PARTS`)."""
        return {p: float(getattr(self, p)) for p in BUDGET_PARTS}

    def slack(self) -> float:
        """``sum(parts) - total >= 0`` (triangle inequality; up to rounding)."""
        return float(sum(self.parts().values()) - self.total)

    def format(self) -> str:
        """The budget as readable lines."""
        lines = [
            f"error budget: {self.scheme}, {self.steps} steps, delta={self.delta:.3g}, "
            f"init={self.init}",
            f"  initialisation at t_0             {self.initialisation:.4g}",
        ]
        lines += [f"  {p:<34}{v:.4g}" for p, v in self.parts().items()]
        lines += [
            f"  {'total W2(output, p_0)':<34}{self.total:.4g}",
            f"  {'W2(output, p_delta)':<34}{self.to_p_delta:.4g}",
        ]
        return "\n".join(lines)


def error_budget(
    target: Gaussian,
    process: Process,
    scheme: str,
    grid: npt.ArrayLike,
    *,
    init: Any = "prior",
    score_error: ScoreError | None = None,
    **scheme_options: Any,
) -> ErrorBudget:
    r"""Split the exact W2 error of one run into its sources (:class:`ErrorBudget`).

    Parameters
    ----------
    target : Gaussian
        Data law :math:`p_0`.
    process : Process
        Forward process.
    scheme : str
        Sampler name.
    grid : array_like, shape (N + 1,)
        Decreasing times :math:`t_0 > \dots > t_N = \delta` (``delta = 0``
        allowed where the scheme allows it).
    init : "prior", "zero-data", "exact" or Gaussian, default "prior"
        Initial law :math:`\pi` of the run.
    score_error : affine ScoreError, optional
        Score error :math:`e` of the run.
    **scheme_options
        Options of the scheme.

    Returns
    -------
    ErrorBudget
        Every part an exact W2 (three or four exact laws: the run, with the
        exact initial law, and with the exact score too), with the run's
        :func:`w2_profile`.
    """
    target = check_gaussian(target, why="error budgets need a Gaussian target")
    if not isinstance(scheme, str):
        raise TypeError(f"scheme must be a scheme name, got {type(scheme).__name__}")
    init_a = _init_arg(init)
    label = init if isinstance(init, str) else ("prior" if init is None else "Gaussian")
    tab = compile_scheme(scheme, process, grid, **scheme_options)
    g = tab.times
    delta = float(g[-1])

    def final(i: Any, e: ScoreError | None) -> Gaussian:
        return exact_law(target, process, tab, g, init=i, score_error=e)

    path = exact_law(
        target, process, tab, g, init=init_a, score_error=score_error, times="all"
    )
    profile = Profile(g.copy(), _path_w2(path, target, process))
    out = path.final
    same_init = isinstance(init_a, str) and init_a == "exact"
    with_exact_init = out if same_init else final("exact", score_error)
    clean = with_exact_init if score_error is None else final("exact", None)
    p_delta = _marginal(target, process, delta)
    return ErrorBudget(
        scheme=scheme,
        steps=int(tab.steps),
        delta=delta,
        init=label,
        total=float(w2_gaussian(out, target)),  # type: ignore[arg-type]
        to_p_delta=float(profile.w2[-1]),
        initialisation=float(profile.w2[0]),
        initialisation_propagated=(
            0.0 if same_init else float(w2_gaussian(out, with_exact_init))  # type: ignore[arg-type]
        ),
        score=(
            0.0 if score_error is None else float(w2_gaussian(with_exact_init, clean))  # type: ignore[arg-type]
        ),
        discretisation=float(w2_gaussian(clean, p_delta)),  # type: ignore[arg-type]
        early_stopping=float(w2_gaussian(p_delta, target)),  # type: ignore[arg-type]
        profile=profile,
    )
