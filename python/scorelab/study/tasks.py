"""Task (one cell and replicate) and run_task, with the helpers it uses."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import time
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from .optimized import cell_grid, is_optimized
from .presets import (
    _bounds_module,
    _build_error,
    _build_process,
    _build_target,
    _metrics_module,
    _parameters,
)
from .schema import COLUMNS, GRID_COLUMNS

__all__ = ["BOUND_CONTEXT", "Task", "run_task", "task_nfe"]


# ---------------------------------------------------------------------------
# a cell's grid, initial law and reference law
# ---------------------------------------------------------------------------
def _grid_times(
    process: Any, grid_spec: Mapping[str, Any], steps: int, T: float, delta: float
) -> Any:
    from ..grids import grid, validate_grid

    if grid_spec["kind"] == "explicit":  # steps, T and delta agree with it
        return validate_grid(grid_spec["times"], process, allow_zero=True)
    opts = {k: v for k, v in grid_spec.items() if k != "kind"}
    return grid(grid_spec["kind"], steps, T=T, delta=delta, process=process, **opts)


def _task_grid(task: Task, process: Any) -> tuple[Any, dict[str, Any] | None]:
    """A task's times and, for an optimised grid, its entry
    (:func:`scorelab.study.optimized.cell_grid`: ``task.optimized`` when the
    study filled it, else computed once per process)."""
    spec = task.spec
    if is_optimized(spec):
        entry = task.optimized if task.optimized is not None else cell_grid(spec)
        return np.array(entry["times"], dtype=np.float64), entry
    times = _grid_times(process, spec["grid"], spec["steps"], spec["T"], spec["delta"])
    return times, None


def task_nfe(task: Task, times: Any = None) -> int:
    """Score evaluations of a task's sampler on its grid (warm-up included).

    The count of the compiled table (:attr:`scorelab.schemes.Tableau.n_score_evals`)
    on the task's own grid ``times`` (rebuilt when not given).
    """
    from ..schemes import compile_scheme

    spec = task.spec
    process = _build_process(spec["process"])
    if times is None:
        times = _task_grid(task, process)[0]
    name, options = spec["scheme"]["name"], spec["scheme"]["options"]
    return int(compile_scheme(name, process, times, **options).n_score_evals)


def _init_arg(init: str) -> str | None:
    return None if init == "prior" else init


def _reference_law(target: Any, process: Any, t: float, reference: str) -> Any:
    """The law the output is compared with: p_t (marginal) or p_0 (data).

    A spectral Gaussian under a scalar process keeps its structure (no d x d
    matrix: :meth:`scorelab.Gaussian.noised`).
    """
    if reference == "data":
        return target
    if getattr(target, "spectrum", None) is not None and process.m == 1:
        return target.noised(process, t)
    return process.position_marginal(target, t)


# ---------------------------------------------------------------------------
# tasks
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class Task:
    """One unit of work: a cell and a replicate (the unit of resumption).

    Attributes
    ----------
    id : str
        Hash of everything that appears in the task's rows (settings, labels,
        replicate, metrics, bounds, study name and seed).
    index : int
        Position in the study (the final table is ordered by it).
    study : str
        Study name.
    seed : int
        Study seed.
    replicate : int
        Replicate number.
    labels : dict
        Setting columns of the rows.
    spec : dict
        Canonical settings (rebuilds every object; hashed for the seed).
    metrics : list of dict
        Metric specs computed by this task.
    bounds : list of dict
        Bound specs computed by this task.
    spawn_key : tuple of int
        The cell's spawn key (from the hash of ``spec`` and the replicate).
    threads : int or None
        CPU threads for sampling (None: all available).
    optimized : dict or None
        The cell's optimised grid (:func:`scorelab.study.optimized.cell_grid`),
        filled by :meth:`Study.run <scorelab.study.Study.run>` for a cell with
        an optimised grid; None: :func:`run_task` gets it from the cache of
        its process.
    """

    id: str
    index: int
    study: str
    seed: int
    replicate: int
    labels: dict[str, Any]
    spec: dict[str, Any]
    metrics: list[dict[str, Any]]
    bounds: list[dict[str, Any]]
    spawn_key: tuple[int, ...]
    threads: int | None = None
    optimized: dict[str, Any] | None = None

    def seed_sequence(self, *extra: int) -> np.random.SeedSequence:
        """The cell's ``SeedSequence`` (with ``extra`` words appended)."""
        return np.random.SeedSequence(self.seed, spawn_key=self.spawn_key + extra)


_VERSION_INFO: dict[str, str] = {}


def _version_columns() -> tuple[str, str]:
    if not _VERSION_INFO:
        import scorelab

        info = dict(scorelab.build_info())
        _VERSION_INFO["version"] = str(info.pop("version", scorelab.__version__))
        _VERSION_INFO["build"] = " ".join(f"{k}={v}" for k, v in sorted(info.items()))
    return _VERSION_INFO["version"], _VERSION_INFO["build"]


def _bound_values(res: Any) -> tuple[float, dict[str, float]]:
    """(total, named terms) of a bound function's return value."""
    if isinstance(res, numbers.Real) and not isinstance(res, bool):
        return float(res), {}
    if dataclasses.is_dataclass(res) and not isinstance(res, type):
        d = {f.name: getattr(res, f.name) for f in dataclasses.fields(res)}
    elif hasattr(res, "_asdict"):
        d = dict(res._asdict())
    elif isinstance(res, Mapping):
        d = dict(res)
    else:
        d = {k: getattr(res, k) for k in ("total", "bound", "value") if hasattr(res, k)}
    terms = {
        str(k): float(v)
        for k, v in d.items()
        if isinstance(v, numbers.Real) and not isinstance(v, bool)
    }
    if isinstance(d.get("valid"), (bool, np.bool_)):
        terms["valid"] = float(bool(d["valid"]))
    for key in ("total", "bound", "value"):
        if key in terms:
            total = terms.pop(key)
            return total, terms
    if hasattr(res, "total"):
        return float(res.total), terms
    raise TypeError(
        f"a bound must return a number or a record with a 'total' (or 'bound', "
        f"'value') field, got {type(res).__name__}"
    )


def _bound_kwargs(
    spec: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    fn = getattr(_bounds_module(), spec["name"])
    kwargs: dict[str, Any] = {}
    for p in _parameters(fn):
        if p.name in spec["params"]:
            kwargs[p.name] = spec["params"][p.name]
        elif p.name in context:
            kwargs[p.name] = context[p.name]
    return kwargs


#: Parameter names of a bound function filled from the cell (unless given in
#: the bound's table): the process, grid (= times), target, dimension (d, dim),
#: steps (N, n_steps), T, delta, largest step h, score-error model and scheme.
BOUND_CONTEXT: tuple[str, ...] = (
    "process",
    "grid",
    "times",
    "target",
    "d",
    "dim",
    "steps",
    "N",
    "n_steps",
    "T",
    "delta",
    "h",
    "score_error",
    "scheme",
    "init",
)

#: How the cell's ``init`` is passed to a bound's ``init`` parameter
#: (scorelab.bounds: the initial law, or W2(initial law, p_T) as a number).
_BOUND_INIT = {"prior": "prior", "zero-data": "zero-data", "exact": 0.0}


def _bound_context(
    target: Any, process: Any, times: Any, err: Any, task_spec: Mapping[str, Any]
) -> dict[str, Any]:
    steps = int(task_spec["steps"])
    d = int(target.dim)
    return {
        "process": process,
        "grid": times,
        "times": times,
        "target": target,
        "d": d,
        "dim": d,
        "steps": steps,
        "N": steps,
        "n_steps": steps,
        "T": float(times[0]),
        "delta": float(times[-1]),
        "h": float(np.max(times[:-1] - times[1:])),
        "score_error": err,
        "scheme": task_spec["scheme"]["name"],
        "init": _BOUND_INIT[task_spec["init"]],
    }


def run_task(task: Task) -> list[dict[str, Any]]:
    """Compute the rows of one task (runs locally or on a Dask worker).

    Parameters
    ----------
    task : Task

    Returns
    -------
    list of dict
        One row per metric (and per bound term), in the metric order of the
        study, with every column of :data:`COLUMNS` (and those of
        :data:`~scorelab.study.schema.GRID_COLUMNS` for an optimised grid).
    """
    from ..exact import exact_law
    from ..metrics_gaussian import kl_gaussian, w2_gaussian
    from ..sample import sample

    spec = task.spec
    target = _build_target(spec["target"])
    process = _build_process(spec["process"])
    times, entry = _task_grid(task, process)
    err = _build_error(spec["score_error"], int(target.dim))
    scheme = spec["scheme"]["name"]
    opts = dict(spec["scheme"]["options"])
    init = _init_arg(spec["init"])
    version, build = _version_columns()
    base = {
        "study": task.study,
        "task": task.id,
        **task.labels,
        "nfe": task_nfe(task, times),
        "replicate": task.replicate,
        "seed": task.seed,
        "task_rows": 0,  # set below: the number of rows of this task
    }
    rows: list[dict[str, Any]] = []
    if entry is not None:
        grid_values = (
            json.dumps(entry["times"]),
            entry["start"],
            entry["error_before"],
            entry["error_after"],
        )

    def add(metric: str, kind: str, est: float, se: float, wall: float, pss: float):
        row = dict(base)
        row.update(
            metric=metric,
            kind=kind,
            estimate=float(est),
            stderr=float(se),
            wall_time_s=float(wall),
            particle_steps_per_s=float(pss),
            scorelab_version=version,
            build_info=build,
        )
        rows.append({c: row[c] for c in COLUMNS})
        if entry is not None:
            rows[-1].update(zip(GRID_COLUMNS, grid_values))

    exact = [m for m in task.metrics if m["kind"] == "exact"]
    mc = [m for m in task.metrics if m["kind"] == "mc"]
    if exact:
        t0 = time.perf_counter()
        law = exact_law(
            target, process, scheme, times, init=init, score_error=err, **opts
        )
        t_law = time.perf_counter() - t0
        for m in exact:
            t1 = time.perf_counter()
            ref = _reference_law(target, process, float(times[-1]), m["reference"])
            fn = w2_gaussian if m["name"] == "w2" else kl_gaussian
            est = float(fn(law, ref))  # structured laws stay spectral
            add(
                m["label"],
                "exact",
                est,
                0.0,
                t_law + time.perf_counter() - t1,
                math.nan,
            )
    if mc:
        n = int(spec["n"])
        t0 = time.perf_counter()
        x = sample(
            target,
            process,
            scheme,
            times,
            n,
            seed=task.seed_sequence(0),
            threads=task.threads,
            init=init,
            score_error=err,
            **opts,
        )
        t_sample = time.perf_counter() - t0
        pss = n * int(spec["steps"]) / t_sample if t_sample > 0 else math.inf
        metrics = _metrics_module()
        for m in mc:
            t1 = time.perf_counter()
            ref = _reference_law(target, process, float(times[-1]), m["reference"])
            fn = getattr(metrics, m["name"])
            kwargs = dict(m["options"])
            if "seed" not in kwargs and any(p.name == "seed" for p in _parameters(fn)):
                word = zlib.crc32(m["label"].encode())
                kwargs["seed"] = int(task.seed_sequence(1, word).generate_state(1)[0])
            res = fn(x, ref, **kwargs)
            if isinstance(res, tuple):
                est, se = float(res[0]), float(res[1])
            else:
                est, se = float(res), math.nan
            add(m["label"], "mc", est, se, t_sample + time.perf_counter() - t1, pss)
    if task.bounds:
        ctx = _bound_context(target, process, times, err, spec)
        mod = _bounds_module()
        for b in task.bounds:
            t1 = time.perf_counter()
            res = getattr(mod, b["name"])(**_bound_kwargs(b, ctx))
            total, terms = _bound_values(res)
            wall = time.perf_counter() - t1
            add(b["label"], "bound", total, 0.0, wall, math.nan)
            for k, v in terms.items():
                add(f"{b['label']}:{k}", "bound_term", v, 0.0, wall, math.nan)
    for r in rows:
        r["task_rows"] = len(rows)
    return rows
