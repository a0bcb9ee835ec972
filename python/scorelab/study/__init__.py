r"""Studies: grids of settings -> one tidy table; local or Dask; resumable.

A *study* is a TOML file (or a dict) naming targets, forward processes, schemes,
grids, step counts, score-error models, particle counts, metrics and bounds. The
cartesian product of the settings (with optional ``zip`` groups, and as a union
over ``[[sweep]]`` blocks) defines the *cells*; each cell is run ``replicates``
times (once when all its metrics are deterministic) and every (cell, replicate,
metric) becomes one row of a long table::

    study task target dim process scheme grid steps T delta score_error init n
    nfe replicate seed metric kind estimate stderr wall_time_s particle_steps_per_s
    scorelab_version build_info task_rows

Study file (every setting may be a scalar or a list; every key, type, default
and allowed value is in ``docs/study-format.md``, generated from
:mod:`scorelab.study.reference`)::

    name = "quickstart"          # default: the file's stem
    seed = 2024                  # study seed (int >= 0), default 0
    replicates = 1               # Monte Carlo replicates per cell
    processes = ["VP"]           # class names of scorelab.processes, or tables
                                 #   {name = "VP", beta_max = 20, label = "..."}
    schemes = ["ei-sde", {name = "ddim", eta = 0.5}]
    grids = ["uniform", {kind = "karras", rho = 7}]   # or times: [1.0, 0.5, 0.1]
    steps = [10, 20, 40]         # or nfe = [...]: a budget of score evaluations
    delta = 1e-3                 # early-stopping time
    T = 1.0                      # default: the process's T
    score_errors = ["none", {name = "Bias", vector = 0.1, scale = 0.05}]
    init = "exact"               # "prior" (default), "zero-data" or "exact"
    n = 10000                    # particles (cells with empirical metrics only)
    metrics = ["w2", "kl", {name = "sliced_w2", n_projections = 64}]
    bounds = [{name = "some_bound", L = 1.0}]   # functions of scorelab.bounds
    zip = [["steps", "n"]]       # vary these together instead of producting

    [targets]                    # named targets
    gauss = "gaussian-10d-aniso" # a preset, or a table:
    ring = {preset = "gmm-2d-8", radius = 3.0}
    custom = {mean = [0, 0], cov = [[1, 0.5], [0.5, 1]]}
    mix = {weights = [0.5, 0.5], means = [[-2], [2]], covs = [[[0.3]], [[0.3]]]}
    img = {spectrum = "power-law", dim = 3072, alpha = 1.2}   # spectral Gaussian

    [[sweep]]                    # optional; each sweep overrides the settings
    targets = ["gauss"]          #   above and adds its own product of cells
    metrics = ["w2"]

    [plot]                       # optional: written by `scorelab run`
    out = "quickstart.png"

Target presets: ``gaussian-{d}d`` (standard normal), ``gaussian-{d}d-aniso``
(random mean, covariance with eigenvalues ``geomspace(0.05, 4, d)`` in a random
basis; option ``seed``, default 0), ``gmm-{d}d-{K}`` (``K`` equal-weight
spherical components of variance ``var`` = 0.1 with means on a circle of
``radius`` = 4 in the first two coordinates; evenly spaced on
``[-radius, radius]`` when ``d = 1``).

Metrics: ``"w2"`` and ``"kl"`` are *exact* (the scheme's exact output law,
:func:`scorelab.exact_law`, against the reference law; Gaussian targets and
affine score errors only); any other name is looked up in
:mod:`scorelab.metrics` (``gelbrich_w2``, ``sliced_w2``, ``mmd``, ``w2_1d``),
called as ``fn(samples, reference, **options)`` on ``n`` samples and must return
``(estimate, stderr)``; a ``seed`` parameter is filled from the cell's seed. The
reference is the true marginal at ``delta`` (``reference = "marginal"``, the
default: isolates the sampler's error) or the data law (``reference = "data"``).

Randomness: each (cell, replicate) draws its seed from
``numpy.random.SeedSequence(seed, spawn_key=H)`` where ``H`` is a SHA-256 hash
of the canonical JSON of the cell's settings (labels excluded; a number is the
same value whatever its type, ``1`` and ``1.0`` alike, encoded as a float, or
exactly as ``{"__int__": "digits"}`` for an integer beyond ``2**53``; booleans
and strings stay distinct), so a cell's rows do not depend on the order of the
lists, on resumes, or on the number of workers.

Size: a study may have at most :data:`MAX_CELLS` (10**6) cells, counted from
its settings (per sweep, before any cell is built); a larger one is refused at
once (raise the limit with ``max_cells=`` or ``scorelab run --max-cells N``).
Tasks are generated lazily (:meth:`Study.iter_tasks`). Tables and lists may be
nested at most :data:`MAX_DEPTH` deep.

Output: ``.csv`` or ``.parquet`` (pyarrow). Each finished (cell, replicate) is
written atomically (temporary file + :func:`os.replace`) to ``OUT.parts/``; at the
end the parts are consolidated atomically into ``OUT`` and removed. A rerun into
the same output skips the finished cells (those in ``OUT.parts/`` or already in
``OUT``, where a task counts only when all of its ``task_rows`` rows are present
and parse), so a run killed at any point (even by SIGKILL) resumes with no lost,
duplicated or corrupted rows; the final table equals an uninterrupted run's
(timing columns aside). Optimised grids (``{kind = "optimized"}``) are kept
in ``OUT.grids/``, one file per key, and read by later runs
(:mod:`~scorelab.study.optimized`). ``OUT`` may hold rows of other studies (column
``study``): they are kept, in their order. A file that is not a result table, or
rows of this study whose tasks it no longer has, are refused with
:class:`StudyError` unless ``overwrite=True``.

Package layout: :mod:`~scorelab.study.schema` (columns, canonical hashing,
:class:`StudyError`), :mod:`~scorelab.study.presets` (target presets, registries,
cached builders), :mod:`~scorelab.study.parse` (the study-file parser),
:mod:`~scorelab.study.tasks` (:class:`Task`, :func:`run_task`),
:mod:`~scorelab.study.optimized` (optimised grids of cells and their cache),
:mod:`~scorelab.study.reference` (the study-file reference),
:mod:`~scorelab.study.results` (:class:`ResultTable`, its I/O and aggregation, the
resumable store) and :mod:`~scorelab.study.execution` (progress, Dask); this module
holds :class:`Study` and re-exports the public names.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import optimized
from .execution import _dask_results, _Progress, check_dask, dask_client
from .optimized import is_optimized
from .parse import MAX_CELLS, PLOT_KEYS, SETTING_KEYS, _Parser
from .presets import make_target
from .results import (
    ResultTable,
    _need_pyarrow,
    _Store,
    aggregate,
    check_writable,
    format_summary,
    read_results,
    table_format,
    write_results,
)
from .schema import (
    COLUMNS,
    EMPIRICAL_METRICS,
    EXACT_METRICS,
    GRID_COLUMNS,
    INITS,
    OUTPUT_SUFFIXES,
    REFERENCES,
    SETTING_COLUMNS,
    TIMING_COLUMNS,
    StudyError,
    convert_value,
)
from .tasks import BOUND_CONTEXT, Task, run_task, task_nfe

__all__ = [
    "BOUND_CONTEXT",
    "COLUMNS",
    "EMPIRICAL_METRICS",
    "EXACT_METRICS",
    "INITS",
    "MAX_CELLS",
    "MAX_DEPTH",
    "OUTPUT_SUFFIXES",
    "PLOT_KEYS",
    "REFERENCES",
    "SETTING_COLUMNS",
    "SETTING_KEYS",
    "TIMING_COLUMNS",
    "ResultTable",
    "Study",
    "StudyError",
    "Task",
    "aggregate",
    "check_dask",
    "check_writable",
    "convert_value",
    "dask_client",
    "format_summary",
    "make_target",
    "read_results",
    "run_task",
    "table_format",
    "write_results",
]


#: Deepest nesting of tables and lists accepted in a study.
MAX_DEPTH = 32


def _check_depth(data: Any, source: str) -> None:
    """Refuse tables/lists nested deeper than :data:`MAX_DEPTH` (iteratively)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        obj, key, depth = stack.pop()
        if isinstance(obj, Mapping):
            items: Iterable[tuple[str, Any]] = (
                (f"{key}.{k}" if key else str(k), v) for k, v in obj.items()
            )
        elif isinstance(obj, (list, tuple)):
            items = ((f"{key}[{i}]", v) for i, v in enumerate(obj))
        else:
            continue
        if depth >= MAX_DEPTH:
            raise StudyError(
                source, key, f"nested more than {MAX_DEPTH} tables or lists deep"
            )
        stack.extend((v, k, depth + 1) for k, v in items)


# ---------------------------------------------------------------------------
# the study
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class Study:
    """A validated study: its tasks, plot settings and where it came from.

    Build with :meth:`from_toml` or :meth:`from_dict`; run with :meth:`run`.

    Attributes
    ----------
    name : str
    seed : int
    tasks : list of Task
        One per (cell, replicate), in a deterministic order (a property, built
        on first use; :meth:`iter_tasks` generates them lazily).
    n_tasks : int
        Number of tasks (``len(study)``), counted when the study is parsed.
    n_cells : int
        Number of distinct cells (tasks without the replicate).
    source : str
        File name (or ``"<dict>"``) used in messages.
    description : str
    out : str or None
        Default output path (key ``out``).
    plot : dict or None
        The ``[plot]`` section.
    threads : int or None
        Threads per cell (key ``threads``).
    metric_kinds : dict
        Metric label -> ``"exact"``, ``"mc"`` or ``"bound"`` (the terms of a
        bound, labelled ``"LABEL:TERM"``, have kind ``"bound_term"``).
    budget : str
        ``"nfe"`` when some grid is asked for by a budget of score evaluations
        (key ``nfe``), else ``"steps"``: the columns of the printed summary.
    """

    name: str
    seed: int
    task_factory: Callable[[], Iterator[Task]] = dataclasses.field(repr=False)
    n_tasks: int
    n_cells: int
    source: str = "<dict>"
    description: str = ""
    out: str | None = None
    plot: dict[str, Any] | None = None
    threads: int | None = None
    metric_kinds: dict[str, str] = dataclasses.field(default_factory=dict)
    budget: str = "steps"
    _tasks: list[Task] | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )

    def __repr__(self) -> str:
        return (
            f"Study(name={self.name!r}, seed={self.seed}, tasks={self.n_tasks} "
            f"({self.n_cells} cells), metrics={sorted(self.metric_kinds)}, "
            f"source={self.source!r})"
        )

    @property
    def tasks(self) -> list[Task]:
        """The tasks, one per (cell, replicate), in a deterministic order.

        Built on first use (and kept); :meth:`iter_tasks` generates them
        without keeping them, and parsing or counting never builds them all.
        """
        if self._tasks is None:
            self._tasks = list(self.task_factory())
        return self._tasks

    def iter_tasks(self) -> Iterator[Task]:
        """The tasks in order, generated lazily (see :attr:`tasks`)."""
        if self._tasks is not None:
            return iter(self._tasks)
        return self.task_factory()

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        source: str = "<dict>",
        *,
        max_cells: int | None = MAX_CELLS,
    ) -> Study:
        """Validate a study given as a dict (the TOML file's structure).

        Parameters
        ----------
        data : mapping
        source : str
            Name used in messages (the file's name).
        max_cells : int or None, default :data:`MAX_CELLS` (10**6)
            Refuse a study with more cells (counted from the settings, per
            sweep, before any cell is built); None: no limit.

        Raises
        ------
        StudyError
            For an unknown key, a wrong type, an impossible combination, too
            many cells or too deep nesting; the message names the source, the
            key and the allowed values.
        """
        stem = Path(source).stem if source != "<dict>" else "study"
        _check_depth(data, source)
        try:
            return cls(**_Parser(data, source, stem, max_cells).parse())
        except RecursionError:
            raise StudyError(source, "", "nested too deeply") from None

    @classmethod
    def from_toml(
        cls, path: str | os.PathLike[str], *, max_cells: int | None = MAX_CELLS
    ) -> Study:
        """Read and validate a TOML study file (see the module docstring).

        Parameters
        ----------
        path : path
        max_cells : int or None, default :data:`MAX_CELLS` (10**6)
            Largest number of cells accepted (see :meth:`from_dict`).

        Raises
        ------
        StudyError
            If the file is missing, is not valid TOML, is nested too deeply,
            has more than ``max_cells`` cells, or is not a valid study.
        """
        source = str(path)
        try:
            import tomllib
        except ModuleNotFoundError:  # Python < 3.11
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ModuleNotFoundError:
                raise StudyError(
                    source,
                    "",
                    "reading TOML needs Python >= 3.11 or "
                    "the 'tomli' package (pip install tomli)",
                ) from None
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise StudyError(source, "", "no such file") from None
        except OSError as exc:
            raise StudyError(source, "", f"cannot read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise StudyError(source, "", f"not valid TOML: {exc}") from None
        except RecursionError:
            raise StudyError(
                source, "", f"not valid TOML: nested more than {MAX_DEPTH} deep"
            ) from None
        return cls.from_dict(data, source, max_cells=max_cells)

    def __len__(self) -> int:
        return self.n_tasks

    def run(
        self,
        out: str | os.PathLike[str] | None = None,
        *,
        resume: bool = True,
        overwrite: bool = False,
        dask: str | Any | None = None,
        progress: bool | None = None,
        threads: int | None = None,
        log: Callable[[str], None] | None = None,
    ) -> ResultTable:
        """Run every pending task and return the whole table.

        Parameters
        ----------
        out : path, optional
            ``.csv`` or ``.parquet`` output. Without it nothing is written and
            nothing is resumed.
        resume : bool, default True
            Skip tasks already finished in ``out`` or its part files (a task
            counts as finished only when all of its rows are present and
            parse); False recomputes every task of this study. Rows of other
            studies in ``out`` are kept either way.
        overwrite : bool, default False
            Allow replacing an ``out`` that is not a result table, and dropping
            rows of this study whose tasks are no longer in it; without it
            both are refused with :class:`StudyError` before any work.
        dask : str or distributed.Client, optional
            Run tasks on Dask: ``"local"``, ``"local:N"``, a scheduler address,
            or a client.
        progress : bool, optional
            Show a progress bar (default: when stderr is a terminal).
        threads : int, optional
            CPU threads per task (default: the study's ``threads``; else all
            CPUs locally and 1 on Dask).
        log : callable, optional
            Receives one-line messages (e.g. how many tasks a resume skips).

        Returns
        -------
        ResultTable
            Rows in task order (identical for any execution order, worker count
            or number of interruptions, timing columns aside).
        """
        if progress is None:
            progress = sys.stderr.isatty()
        nthreads = threads if threads is not None else self.threads
        if nthreads is None and dask is not None:
            nthreads = 1
        tasks = [dataclasses.replace(t, threads=nthreads) for t in self.iter_tasks()]
        if isinstance(dask, str):
            check_dask(dask)
        store: _Store | None = None
        done: dict[str, list[dict[str, Any]]] = {}
        if out is not None:
            table_format(out)
            if table_format(out) != ".csv":
                _need_pyarrow()
            check_writable(out)
            store = _Store(Path(out), self.name, overwrite=overwrite)
            store.open(resume)
        try:
            if store is not None:
                done = store.load({t.id for t in tasks}, resume)
                if log is not None:
                    for note in store.notes:
                        log(note)
            pending = [t for t in tasks if t.id not in done]
            if log is not None and len(pending) < len(tasks):
                log(
                    f"resuming: {len(tasks) - len(pending)} of {len(tasks)} tasks "
                    f"already finished in {out}"
                )
            bar = _Progress(len(tasks), len(tasks) - len(pending), progress, self.name)
            grids = None if out is None else optimized.cache_dir_of(out)
            try:
                for task, rows in self._execute(pending, dask, grids):
                    if store is not None:
                        store.write_part(task.id, rows)
                    done[task.id] = rows
                    bar.update(rows, task)
            finally:
                bar.close()
            for t in tasks:  # rows of an older scorelab have no nfe
                if any(r.get("nfe") is None for r in done[t.id]):
                    nfe = task_nfe(t)
                    for r in done[t.id]:
                        r["nfe"] = nfe
            columns = list(COLUMNS)
            if any(is_optimized(t.spec) for t in tasks):
                columns += GRID_COLUMNS
            table = ResultTable([r for t in tasks for r in done[t.id]], columns)
            if store is not None:
                store.finish(table)
        finally:
            if store is not None:
                store.close()
        return table

    def _execute(
        self, tasks: Sequence[Task], dask: Any, grids: Path | None = None
    ) -> Iterator[tuple[Task, list[dict[str, Any]]]]:
        """Rows of each task; ``grids``: the cache folder of optimised grids
        (:mod:`scorelab.study.optimized`), each computed once per key."""
        if not tasks:
            return
        if dask is None:
            for t in tasks:  # run_task looked up here: tests patch scorelab.study
                if is_optimized(t.spec):
                    t = dataclasses.replace(
                        t, optimized=optimized.cell_grid(t.spec, grids)
                    )
                yield t, run_task(t)
        elif isinstance(dask, str):
            with dask_client(dask) as client:
                yield from _dask_results(client, _with_grids(client, tasks, grids))
        else:
            yield from _dask_results(dask, _with_grids(dask, tasks, grids))


def _with_grids(client: Any, tasks: Sequence[Task], grids: Path | None) -> list[Task]:
    """The tasks with their optimised grids, each missing key computed once on
    the cluster (:func:`scorelab.study.optimized.dask_prepare`)."""
    opt = [t for t in tasks if is_optimized(t.spec)]
    if not opt:
        return list(tasks)
    entries = optimized.dask_prepare(client, [t.spec for t in opt], grids)
    return [
        dataclasses.replace(t, optimized=entries[optimized.digest(t.spec)])
        if is_optimized(t.spec)
        else t
        for t in tasks
    ]
