r"""Studies: grids of settings -> one tidy table; local or Dask; resumable.

A *study* is a TOML file (or a dict) naming targets, forward processes, schemes,
grids, step counts, score-error models, particle counts, metrics and bounds. The
cartesian product of the settings (with optional ``zip`` groups, and as a union
over ``[[sweep]]`` blocks) defines the *cells*; each cell is run ``replicates``
times (once when all its metrics are deterministic) and every (cell, replicate,
metric) becomes one row of a long table::

    study task target dim process scheme grid steps T delta score_error init n
    replicate seed metric kind estimate stderr wall_time_s particle_steps_per_s
    scorelab_version build_info

Study file (every setting may be a scalar or a list)::

    name = "quickstart"          # default: the file's stem
    seed = 2024                  # study seed (int >= 0), default 0
    replicates = 1               # Monte Carlo replicates per cell
    processes = ["VP"]           # class names of scorelab.processes, or tables
                                 #   {name = "VP", beta_max = 20, label = "..."}
    schemes = ["ei-sde", {name = "ddim", eta = 0.5}]
    grids = ["uniform", {kind = "karras", rho = 7}]
    steps = [10, 20, 40]
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
    mix = {weights = [0.5, 0.5], means = [[-2], [2]], covs = [0.3, 0.3],
           covariance_type = "spherical"}

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
of the canonical JSON of the cell's settings (labels excluded, every number as a
float), so a cell's rows do not depend on the order of the lists, on resumes, or
on the number of workers.

Output: ``.csv`` or ``.parquet`` (pyarrow). Each finished (cell, replicate) is
written atomically (temporary file + :func:`os.replace`) to ``OUT.parts/``; at the
end the parts are consolidated atomically into ``OUT`` and removed. A rerun into
the same output skips the finished cells (those in ``OUT.parts/`` or already in
``OUT``), so a run killed at any point (even by SIGKILL) resumes with no lost,
duplicated or corrupted rows; the final table equals an uninterrupted run's
(timing columns aside).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import difflib
import hashlib
import importlib.util
import inspect
import itertools
import json
import math
import numbers
import os
import re
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "BOUND_CONTEXT",
    "COLUMNS",
    "EXACT_METRICS",
    "EMPIRICAL_METRICS",
    "SETTING_COLUMNS",
    "TIMING_COLUMNS",
    "ResultTable",
    "Study",
    "StudyError",
    "Task",
    "aggregate",
    "dask_client",
    "format_summary",
    "make_target",
    "read_results",
    "run_task",
    "write_results",
]

# ---------------------------------------------------------------------------
# table schema
# ---------------------------------------------------------------------------
#: Setting columns of a result row (one value per cell).
SETTING_COLUMNS: tuple[str, ...] = (
    "target",
    "dim",
    "process",
    "scheme",
    "grid",
    "steps",
    "T",
    "delta",
    "score_error",
    "init",
    "n",
)
#: Every column of a result table, in order.
COLUMNS: tuple[str, ...] = (
    "study",
    "task",
    *SETTING_COLUMNS,
    "replicate",
    "seed",
    "metric",
    "kind",
    "estimate",
    "stderr",
    "wall_time_s",
    "particle_steps_per_s",
    "scorelab_version",
    "build_info",
)
#: Columns that differ between otherwise identical runs.
TIMING_COLUMNS: tuple[str, ...] = ("wall_time_s", "particle_steps_per_s")
_INT_COLUMNS = frozenset({"dim", "steps", "n", "replicate", "seed"})
_FLOAT_COLUMNS = frozenset(
    {"T", "delta", "estimate", "stderr", "wall_time_s", "particle_steps_per_s"}
)

#: Metrics computed on the exact output law (Gaussian targets).
EXACT_METRICS: tuple[str, ...] = ("w2", "kl")
#: Empirical metrics expected in :mod:`scorelab.metrics` (any other function
#: there taking ``(samples, target, ...)`` and returning ``(estimate, stderr)``
#: is accepted too).
EMPIRICAL_METRICS: tuple[str, ...] = ("gelbrich_w2", "sliced_w2", "mmd", "w2_1d")

INITS: tuple[str, ...] = ("prior", "zero-data", "exact")
REFERENCES: tuple[str, ...] = ("marginal", "data")
OUTPUT_SUFFIXES: tuple[str, ...] = (".csv", ".parquet", ".pq")

# keys of the study file -----------------------------------------------------
#: Settings whose values span the product (scalar or list).
SETTING_KEYS: tuple[str, ...] = (
    "targets",
    "processes",
    "schemes",
    "grids",
    "score_errors",
    "init",
    "T",
    "delta",
    "n",
    "steps",
)
_SWEEP_KEYS: tuple[str, ...] = (
    "name",
    *SETTING_KEYS,
    "metrics",
    "bounds",
    "zip",
    "replicates",
)
_TOP_KEYS: tuple[str, ...] = (
    "name",
    "description",
    "seed",
    "replicates",
    "threads",
    "out",
    *SETTING_KEYS,
    "metrics",
    "bounds",
    "zip",
    "sweep",
    "plot",
)
_PLOT_KEYS: tuple[str, ...] = (
    "out",
    "x",
    "y",
    "hue",
    "bounds",
    "where",
    "title",
    "xlabel",
    "ylabel",
    "fit",
    "figsize",
    "dpi",
)
_DEFAULTS: dict[str, Any] = {
    "processes": ["VP"],
    "schemes": ["ei-sde"],
    "grids": ["uniform"],
    "score_errors": ["none"],
    "init": ["prior"],
    "T": [None],
    "delta": [1e-3],
    "n": [10000],
}
_COLUMN_OF = {
    "targets": "target",
    "processes": "process",
    "schemes": "scheme",
    "grids": "grid",
    "score_errors": "score_error",
}


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
class StudyError(ValueError):
    """A study file or dict is invalid (raised before any work starts).

    Attributes
    ----------
    source : str
        The study file (or ``"<dict>"``).
    key : str
        Path of the offending key, e.g. ``"sweep[1].schemes[0].eta"``.
    allowed : tuple of str or None
        The allowed values or keys, when there is a finite list.
    """

    def __init__(
        self,
        source: str,
        key: str,
        message: str,
        allowed: Iterable[Any] | None = None,
        got: Any = None,
    ) -> None:
        self.source = source
        self.key = key
        self.allowed = None if allowed is None else tuple(str(a) for a in allowed)
        text = f"{source}: {key}: {message}" if key else f"{source}: {message}"
        if self.allowed is not None:
            if isinstance(got, str):
                close = difflib.get_close_matches(got, self.allowed, n=1)
                if close:
                    text += f"; did you mean {close[0]!r}?"
            text += f" (allowed: {', '.join(self.allowed) or 'none'})"
        super().__init__(text)


def _join(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


# ---------------------------------------------------------------------------
# canonical JSON and hashing
# ---------------------------------------------------------------------------
def _canon(obj: Any) -> Any:
    """JSON-able canonical form: sorted dicts, lists, every number a float."""
    if isinstance(obj, Mapping):
        return {str(k): _canon(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, np.ndarray):
        return _canon(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [_canon(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"cannot canonicalise {type(obj).__name__} {obj!r}")


def _canon_json(obj: Any) -> str:
    return json.dumps(_canon(obj), sort_keys=True, separators=(",", ":"))


def _digest(obj: Any) -> bytes:
    return hashlib.sha256(_canon_json(obj).encode()).digest()


def _words(digest: bytes, k: int = 4) -> tuple[int, ...]:
    return tuple(int.from_bytes(digest[4 * i : 4 * i + 4], "little") for i in range(k))


def _fmt(v: Any) -> str:
    """Compact text of a parameter value for labels."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_fmt(x) for x in v) + "]"
    if isinstance(v, Mapping):
        if "preset" in v and len(v) == 1:
            return str(v["preset"])
        return "{" + ",".join(f"{k}={_fmt(x)}" for k, x in v.items()) + "}"
    return str(v)


def _call_label(name: str, params: Mapping[str, Any]) -> str:
    if not params:
        return name
    return name + "(" + ",".join(f"{k}={_fmt(v)}" for k, v in params.items()) + ")"


# ---------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------
_PRESETS: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    ("gaussian-{d}d", re.compile(r"gaussian-(\d+)d"), ()),
    ("gaussian-{d}d-aniso", re.compile(r"gaussian-(\d+)d-aniso"), ("seed",)),
    ("gmm-{d}d-{K}", re.compile(r"gmm-(\d+)d-(\d+)"), ("radius", "var")),
)
_TARGET_KEYS = ("preset", "mean", "cov", "weights", "means", "covs", "covariance_type")


def _preset(name: str, opts: Mapping[str, Any]) -> Any:
    from .targets import Gaussian, GaussianMixture

    for pattern, rx, allowed in _PRESETS:
        m = rx.fullmatch(name)
        if m is None:
            continue
        bad = sorted(set(opts) - set(allowed))
        if bad:
            raise KeyError((bad[0], allowed))
        d = int(m.group(1))
        if d < 1:
            raise ValueError(f"preset {name!r}: dimension must be >= 1")
        if pattern == "gaussian-{d}d":
            return Gaussian(np.zeros(d), np.eye(d))
        if pattern == "gaussian-{d}d-aniso":
            seed = opts.get("seed", 0)
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
            rng = np.random.default_rng(seed)
            Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
            cov = Q @ np.diag(np.geomspace(0.05, 4.0, d)) @ Q.T
            return Gaussian(rng.standard_normal(d), 0.5 * (cov + cov.T))
        K = int(m.group(2))
        if K < 1:
            raise ValueError(f"preset {name!r}: number of components must be >= 1")
        radius = float(opts.get("radius", 4.0))
        var = float(opts.get("var", 0.1))
        if not (math.isfinite(radius) and radius >= 0):
            raise ValueError(f"radius must be finite and >= 0, got {radius!r}")
        if not (math.isfinite(var) and var > 0):
            raise ValueError(f"var must be finite and > 0, got {var!r}")
        means = np.zeros((K, d))
        if d == 1:
            means[:, 0] = np.linspace(-radius, radius, K) if K > 1 else 0.0
        else:
            ang = 2 * np.pi * np.arange(K) / K
            means[:, 0] = radius * np.cos(ang)
            means[:, 1] = radius * np.sin(ang)
        return GaussianMixture(np.full(K, 1.0 / K), means, np.full(K, var), "spherical")
    raise LookupError(name)


def make_target(spec: str | Mapping[str, Any]) -> Any:
    """Build a target from a preset name or a table (see the module docstring).

    Parameters
    ----------
    spec : str or mapping
        ``"gaussian-{d}d"``, ``"gaussian-{d}d-aniso"``, ``"gmm-{d}d-{K}"``;
        ``{"preset": ..., **options}``; ``{"mean": (d,), "cov": scalar, (d,) or
        (d, d)}`` (a scalar means ``cov * I``, a vector a diagonal); or
        ``{"weights": (K,), "means": (K, d), "covs": ..., "covariance_type": ...}``.

    Returns
    -------
    Gaussian or GaussianMixture

    Raises
    ------
    ValueError
        Unknown preset or key, or invalid parameters.
    """
    from .targets import Gaussian, GaussianMixture

    if isinstance(spec, str):
        spec = {"preset": spec}
    if not isinstance(spec, Mapping):
        raise TypeError(f"target spec must be a str or a table, got {spec!r}")
    spec = dict(spec)
    if "preset" in spec:
        name = spec.pop("preset")
        if not isinstance(name, str):
            raise TypeError(f"preset must be a string, got {name!r}")
        try:
            return _preset(name, spec)
        except LookupError as exc:
            if isinstance(exc, KeyError):
                bad, allowed = exc.args[0]
                raise ValueError(
                    f"preset {name!r} has no option {bad!r} (options: "
                    f"{', '.join(allowed) or 'none'})"
                ) from None
            raise ValueError(
                f"unknown target preset {name!r}; presets: "
                + ", ".join(p for p, _, _ in _PRESETS)
            ) from None
    unknown = sorted(set(spec) - set(_TARGET_KEYS))
    if unknown:
        raise ValueError(
            f"unknown target key {unknown[0]!r} (keys: {', '.join(_TARGET_KEYS)})"
        )
    if "mean" in spec or "cov" in spec:
        extra = sorted(set(spec) - {"mean", "cov"})
        if extra or "mean" not in spec or "cov" not in spec:
            raise ValueError(
                "a Gaussian target needs exactly the keys 'mean' and 'cov'"
            )
        mean = np.asarray(spec["mean"], dtype=np.float64)
        if mean.ndim != 1:
            raise ValueError(f"mean must be a list of numbers, got {spec['mean']!r}")
        cov = np.asarray(spec["cov"], dtype=np.float64)
        if cov.ndim == 0:
            cov = float(cov) * np.eye(mean.shape[0])
        elif cov.ndim == 1:
            cov = np.diag(cov)
        return Gaussian(mean, cov)
    need = {"weights", "means", "covs"}
    if not need <= set(spec):
        raise ValueError(
            "a target table needs 'preset', or 'mean' and 'cov', or 'weights', "
            "'means', 'covs' (and optionally 'covariance_type')"
        )
    return GaussianMixture(
        spec["weights"],
        spec["means"],
        spec["covs"],
        covariance_type=spec.get("covariance_type", "full"),
    )


# ---------------------------------------------------------------------------
# registries (resolved lazily: other modules may be added later)
# ---------------------------------------------------------------------------
def _process_classes() -> dict[str, type]:
    from . import processes as P

    modules: list[Any] = [P]
    with contextlib.suppress(ImportError):
        modules.append(importlib.import_module("scorelab.cld"))
    out: dict[str, type] = {}
    for mod in modules:
        for name in getattr(mod, "__all__", None) or dir(mod):
            obj = getattr(mod, name, None)
            if (
                isinstance(obj, type)
                and issubclass(obj, P.Process)
                and not inspect.isabstract(obj)
                and obj is not P.LinearSDE
            ):
                out[name] = obj
    return dict(sorted(out.items()))


def _error_classes() -> dict[str, type]:
    from . import errors as E

    out: dict[str, type] = {}
    for name in getattr(E, "__all__", []):
        obj = getattr(E, name, None)
        if (
            isinstance(obj, type)
            and issubclass(obj, E.ScoreError)
            and obj not in (E.ScoreError, getattr(E, "Sum", None))
        ):
            out[name] = obj
    return dict(sorted(out.items()))


def _metrics_module() -> Any:
    try:
        from . import metrics
    except ImportError:
        return None
    return metrics


def _bounds_module() -> Any:
    try:
        from . import bounds
    except ImportError:
        return None
    return bounds


def _public_functions(mod: Any) -> list[str]:
    names = getattr(mod, "__all__", None) or [n for n in dir(mod) if n[:1] != "_"]
    return sorted(n for n in names if inspect.isfunction(getattr(mod, n, None)))


def _empirical_metrics(mod: Any) -> list[str]:
    """Functions of ``mod`` called as ``fn(samples, target, ...)``."""
    out = []
    for name in _public_functions(mod):
        params = [p.name for p in _parameters(getattr(mod, name))]
        if params[:2] == ["samples", "target"]:
            out.append(name)
    return out


def _parameters(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return []
    return [
        p
        for p in sig.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


# ---------------------------------------------------------------------------
# building objects from canonical specs (cached; also used on Dask workers)
# ---------------------------------------------------------------------------
_CACHE: dict[str, Any] = {}
_CACHE_MAX = 256


def _cached(kind: str, spec: Any, build: Callable[[], Any]) -> Any:
    key = kind + ":" + _canon_json(spec)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = build()
    return _CACHE[key]


def _build_target(spec: Any) -> Any:
    return _cached("target", spec, lambda: make_target(copy.deepcopy(spec)))


def _build_process(spec: Mapping[str, Any]) -> Any:
    def build() -> Any:
        cls = _process_classes()[spec["name"]]
        return cls(**spec["params"])

    return _cached("process", spec, build)


def _build_error(spec: Mapping[str, Any] | None, dim: int) -> Any:
    if spec is None:
        return None

    def build() -> Any:
        cls = _error_classes()[spec["name"]]
        kwargs = dict(spec["params"])
        if "vector" in kwargs and isinstance(kwargs["vector"], numbers.Real):
            kwargs["vector"] = np.full(dim, float(kwargs["vector"]))
        if "other" in kwargs:
            kwargs["other"] = _build_target(kwargs["other"])
        return cls(**kwargs)

    return _cached("error", {"spec": spec, "dim": dim}, build)


def _grid_times(
    process: Any, grid_spec: Mapping[str, Any], steps: int, T: float, delta: float
) -> Any:
    from .grids import grid

    opts = {k: v for k, v in grid_spec.items() if k != "kind"}
    return grid(grid_spec["kind"], steps, T=T, delta=delta, process=process, **opts)


def _init_arg(init: str) -> str | None:
    return None if init == "prior" else init


def _reference_law(target: Any, process: Any, t: float, reference: str) -> Any:
    """The law the output is compared with: p_t (marginal) or p_0 (data)."""
    from .targets import Gaussian, GaussianMixture

    if reference == "data":
        return target
    if getattr(process, "m", 1) == 1:
        return target.noised(process, t)
    marg = process.marginal(target, t)
    d = target.dim
    if isinstance(marg, Gaussian):
        return Gaussian(marg.mean[:d], marg.cov[:d, :d])
    covs = marg.full_covariances()[:, :d, :d]
    return GaussianMixture(marg.weights, marg.means[:, :d], covs, "full")


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
        study, with every column of :data:`COLUMNS`.
    """
    from .exact import exact_law
    from .metrics_gaussian import kl_gaussian, w2_gaussian
    from .sample import sample

    spec = task.spec
    target = _build_target(spec["target"])
    process = _build_process(spec["process"])
    times = _grid_times(process, spec["grid"], spec["steps"], spec["T"], spec["delta"])
    err = _build_error(spec["score_error"], int(target.dim))
    scheme = spec["scheme"]["name"]
    opts = dict(spec["scheme"]["options"])
    init = _init_arg(spec["init"])
    version, build = _version_columns()
    base = {
        "study": task.study,
        "task": task.id,
        **task.labels,
        "replicate": task.replicate,
        "seed": task.seed,
    }
    rows: list[dict[str, Any]] = []

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
            est = float(fn(law.mean, law.cov, ref.mean, ref.cov))
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
    return rows


# ---------------------------------------------------------------------------
# parsing and validation
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class _Choice:
    """One value of a setting: the column value and the canonical spec."""

    label: Any
    spec: Any


class _Parser:
    """Validates a study dict and expands it into tasks."""

    def __init__(self, data: Mapping[str, Any], source: str, stem: str) -> None:
        self.source = source
        self.data = data
        self.stem = stem
        self.labels: dict[tuple[str, Any], str] = {}
        self.own: set[str] = set()

    def kp(self, where: str, key: str) -> str:
        """Path of a setting: in the sweep if the sweep sets it, else top-level."""
        return _join(where if key in self.own else "", key)

    # -- error helpers ---------------------------------------------------
    def err(
        self,
        key: str,
        message: str,
        allowed: Iterable[Any] | None = None,
        got: Any = None,
    ) -> StudyError:
        return StudyError(self.source, key, message, allowed, got)

    def check_keys(self, table: Any, allowed: Sequence[str], where: str) -> None:
        if not isinstance(table, Mapping):
            raise self.err(where, f"expected a table, got {_typename(table)}")
        for k in table:
            if k not in allowed:
                what = f"unknown key {k!r}" + (f" in [{where}]" if where else "")
                raise self.err(_join(where, k), what, allowed, got=k)

    def as_list(self, value: Any) -> list[Any]:
        return list(value) if isinstance(value, list) else [value]

    def get_int(
        self, table: Mapping[str, Any], key: str, where: str, lo: int, default: Any
    ) -> Any:
        if key not in table:
            return default
        v = table[key]
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.err(_join(where, key), f"expected an integer >= {lo}, got {v!r}")
        if v < lo:
            raise self.err(_join(where, key), f"must be >= {lo}, got {v}")
        return v

    def get_str(
        self, table: Mapping[str, Any], key: str, where: str, default: Any
    ) -> Any:
        if key not in table:
            return default
        v = table[key]
        if not isinstance(v, str):
            raise self.err(_join(where, key), f"expected a string, got {v!r}")
        return v

    # -- the whole file ----------------------------------------------------
    def parse(self) -> Study:
        d = self.data
        self.check_keys(d, _TOP_KEYS, "")
        name = self.get_str(d, "name", "", self.stem)
        if not name:
            raise self.err("name", "must not be empty")
        description = self.get_str(d, "description", "", "")
        seed = self.get_int(d, "seed", "", 0, 0)
        replicates = self.get_int(d, "replicates", "", 1, 1)
        threads = self.get_int(d, "threads", "", 1, None)
        out = self.get_str(d, "out", "", None)
        if out is not None:
            self.check_output(out, "out")
        self.targets = self.parse_target_defs(d.get("targets"))
        sweeps = d.get("sweep", [{}])
        if not isinstance(sweeps, list) or not sweeps:
            raise self.err("sweep", "expected one or more [[sweep]] tables")
        defaults = {
            k: d[k] for k in _SWEEP_KEYS if k in d and k not in ("name", "targets")
        }
        tasks: list[Task] = []
        seen: set[str] = set()
        metric_labels: dict[str, str] = {}
        for i, sw in enumerate(sweeps):
            where = f"sweep[{i}]" if "sweep" in d else ""
            if "sweep" in d:
                self.check_keys(sw, _SWEEP_KEYS, where)
            merged = dict(defaults)
            merged.update({k: v for k, v in sw.items() if k != "name"})
            self.own = set(sw) if "sweep" in d else set()
            for task in self.expand(
                merged, where, name, seed, replicates, threads, metric_labels
            ):
                if task.id not in seen:
                    seen.add(task.id)
                    task.index = len(tasks)
                    tasks.append(task)
        plot = self.parse_plot(d.get("plot"), metric_labels) if "plot" in d else None
        return Study(
            name=name,
            seed=seed,
            tasks=tasks,
            source=self.source,
            description=description,
            out=out,
            plot=plot,
            threads=threads,
            metric_kinds=metric_labels,
        )

    def check_output(self, out: str, key: str) -> None:
        if Path(out).suffix.lower() not in OUTPUT_SUFFIXES:
            raise self.err(
                key,
                f"output {out!r} must end in one of the known extensions",
                OUTPUT_SUFFIXES,
            )

    # -- targets -----------------------------------------------------------
    def parse_target_defs(self, defs: Any) -> dict[str, _Choice]:
        if defs is None:
            raise self.err(
                "targets",
                "required: a [targets] table of named targets or a list of presets",
            )
        items: list[tuple[str, Any, str]]
        if isinstance(defs, Mapping):
            items = [(str(k), v, _join("targets", str(k))) for k, v in defs.items()]
        elif isinstance(defs, list):
            items = []
            for j, v in enumerate(defs):
                if not isinstance(v, str):
                    raise self.err(
                        f"targets[{j}]",
                        "a list of targets must hold preset names; use a "
                        "[targets] table to define targets by their parameters",
                    )
                items.append((v, v, f"targets[{j}]"))
        elif isinstance(defs, str):
            items = [(defs, defs, "targets")]
        else:
            raise self.err("targets", f"expected a table or a list, got {defs!r}")
        if not items:
            raise self.err("targets", "must define at least one target")
        out: dict[str, _Choice] = {}
        for name, spec, key in items:
            out[name] = self.target_choice(name, spec, key)
        return out

    def target_choice(self, name: str, spec: Any, key: str) -> _Choice:
        if not isinstance(spec, (str, Mapping)):
            raise self.err(key, f"expected a preset name or a table, got {spec!r}")
        spec_d = {"preset": spec} if isinstance(spec, str) else dict(spec)
        if "label" in spec_d:
            raise self.err(_join(key, "label"), "a target's label is its name")
        try:
            _build_target(spec_d)
        except (ValueError, TypeError) as exc:
            presets = [p for p, _, _ in _PRESETS]
            allowed = presets if "preset" in str(exc) else None
            raise self.err(key, f"invalid target: {exc}", allowed) from None
        return _Choice(name, _canon(spec_d))

    # -- one sweep -------------------------------------------------------
    def expand(
        self,
        sw: Mapping[str, Any],
        where: str,
        study: str,
        seed: int,
        default_reps: int,
        threads: int | None,
        metric_labels: dict[str, str],
    ) -> Iterator[Task]:
        choices: dict[str, list[_Choice]] = {}
        for key in SETTING_KEYS:
            if key == "targets":
                raw = sw.get("targets", list(self.targets))
            elif key in sw:
                raw = sw[key]
            elif key in _DEFAULTS:
                raw = _DEFAULTS[key]
            else:
                raise self.err(_join(where, key), "required setting is missing")
            values = self.as_list(raw)
            if not values:
                raise self.err(self.kp(where, key), "must not be an empty list")
            choices[key] = [
                self.parse_setting(
                    key,
                    v,
                    _join(self.kp(where, key), j)
                    if isinstance(raw, list)
                    else self.kp(where, key),
                )
                for j, v in enumerate(values)
            ]
        if "metrics" not in sw:
            raise self.err(
                _join(where, "metrics"),
                "required: the metrics to compute",
                list(EXACT_METRICS) + list(EMPIRICAL_METRICS),
            )
        metrics = self.parse_metrics(
            sw["metrics"], self.kp(where, "metrics"), metric_labels
        )
        bounds = self.parse_bounds(
            sw.get("bounds", []), self.kp(where, "bounds"), metric_labels
        )
        reps = self.get_int(
            sw, "replicates", where if "replicates" in self.own else "", 1, default_reps
        )
        combos = self.combinations(choices, sw.get("zip", []), self.kp(where, "zip"))
        checked: set[str] = set()
        for combo in combos:
            yield from self.cell_tasks(
                combo, metrics, bounds, reps, where, study, seed, threads, checked
            )

    def parse_setting(self, key: str, v: Any, path: str) -> _Choice:
        if key == "targets":
            if not isinstance(v, str):
                raise self.err(
                    path, f"expected a target name, got {v!r}", list(self.targets)
                )
            if v in self.targets:
                return self.targets[v]
            try:
                return self.target_choice(v, v, path)
            except StudyError:
                raise self.err(
                    path,
                    f"unknown target {v!r} (not in [targets] and not a preset)",
                    list(self.targets),
                    got=v,
                ) from None
        if key == "processes":
            return self.parse_call(v, path, "process", _process_classes())
        if key == "score_errors":
            if v == "none":
                return self.unique(key, _Choice("none", None))
            return self.parse_call(v, path, "score_error", _error_classes())
        if key == "schemes":
            return self.parse_scheme(v, path)
        if key == "grids":
            return self.parse_grid(v, path)
        if key == "init":
            if v not in INITS:
                raise self.err(path, f"unknown init {v!r}", INITS, got=v)
            return _Choice(v, v)
        if key in ("steps", "n"):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise self.err(path, f"expected an integer >= 1, got {v!r}")
            return _Choice(v, v)
        # T, delta
        if v is None and key == "T":
            return _Choice(None, None)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.err(path, f"expected a positive number, got {v!r}")
        if not (math.isfinite(v) and v > 0):
            raise self.err(path, f"must be finite and > 0, got {v!r}")
        return _Choice(float(v), float(v))

    def unique(self, key: str, choice: _Choice) -> _Choice:
        """Check that a label always denotes the same spec."""
        prev = self.labels.setdefault((key, choice.label), _canon_json(choice.spec))
        if prev != _canon_json(choice.spec):
            raise self.err(
                key,
                f"label {choice.label!r} is used for two different settings; give "
                "each a distinct 'label'",
            )
        return choice

    def split_call(
        self, v: Any, path: str, namekey: str = "name"
    ) -> tuple[str, dict[str, Any], str | None]:
        if isinstance(v, str):
            return v, {}, None
        if not isinstance(v, Mapping):
            raise self.err(path, f"expected a name or a table, got {v!r}")
        params = dict(v)
        name = params.pop(namekey, None)
        if not isinstance(name, str):
            raise self.err(_join(path, namekey), f"required: a string, got {name!r}")
        label = params.pop("label", None)
        if label is not None and not isinstance(label, str):
            raise self.err(_join(path, "label"), f"expected a string, got {label!r}")
        return name, params, label

    def parse_call(
        self, v: Any, path: str, column: str, classes: Mapping[str, type]
    ) -> _Choice:
        name, params, label = self.split_call(v, path)
        key = {"process": "processes", "score_error": "score_errors"}[column]
        if name not in classes:
            extra = ["none"] if column == "score_error" else []
            raise self.err(
                _join(path, "name") if isinstance(v, Mapping) else path,
                f"unknown {column.replace('_', ' ')} {name!r}",
                extra + list(classes),
                got=name,
            )
        cls = classes[name]
        allowed = [p.name for p in _parameters(cls)]
        for p in params:
            if p not in allowed:
                raise self.err(
                    _join(path, p), f"{name} has no parameter {p!r}", allowed, got=p
                )
        if column == "process":
            try:
                obj = cls(**params)
            except (TypeError, ValueError) as exc:
                raise self.err(path, f"invalid {name}: {exc}") from None
            spec = {"name": name, "params": obj.params()}
            try:
                _canon(spec)
            except TypeError:
                raise self.err(
                    path,
                    f"{name} cannot be built from a study file "
                    "(it needs Python callables)",
                ) from None
        else:
            required = [
                p.name for p in _parameters(cls) if p.default is inspect.Parameter.empty
            ]
            missing = [p for p in required if p not in params]
            if missing:
                raise self.err(path, f"{name} needs parameter(s) {', '.join(missing)}")
            clean = dict(params)
            if "other" in clean:
                ospec = clean["other"]
                if isinstance(ospec, str) and ospec in self.targets:
                    clean["other"] = self.targets[ospec].spec
                else:
                    clean["other"] = self.target_choice(
                        str(ospec), ospec, _join(path, "other")
                    ).spec
            try:
                _canon(clean)
            except TypeError as exc:
                raise self.err(path, f"invalid parameter: {exc}") from None
            spec = {"name": name, "params": clean}
            # values' types are checked per target dimension in cell_tasks
        return self.unique(key, _Choice(label or _call_label(name, params), spec))

    def parse_scheme(self, v: Any, path: str) -> _Choice:
        from .schemes import SCHEMES, scheme_names

        name, opts, label = self.split_call(v, path)
        if name not in SCHEMES:
            raise self.err(
                _join(path, "name") if isinstance(v, Mapping) else path,
                f"unknown scheme {name!r}",
                scheme_names(),
                got=name,
            )
        allowed = SCHEMES[name].options
        for o in opts:
            if o not in allowed:
                raise self.err(
                    _join(path, o),
                    f"scheme {name!r} has no option {o!r}",
                    allowed,
                    got=o,
                )
        try:
            _canon(opts)
        except TypeError as exc:
            raise self.err(path, f"invalid option: {exc}") from None
        spec = {"name": name, "options": dict(opts)}
        return self.unique("schemes", _Choice(label or _call_label(name, opts), spec))

    def parse_grid(self, v: Any, path: str) -> _Choice:
        from .grids import GRID_KINDS

        kind, opts, label = self.split_call(v, path, "kind")
        if kind not in GRID_KINDS:
            raise self.err(
                _join(path, "kind") if isinstance(v, Mapping) else path,
                f"unknown grid kind {kind!r}",
                GRID_KINDS,
                got=kind,
            )
        for o, val in opts.items():
            if o != "rho":
                raise self.err(
                    _join(path, o), f"grid {kind!r} has no option {o!r}", ["rho"], got=o
                )
            if isinstance(val, bool) or not isinstance(val, (int, float)):
                raise self.err(_join(path, o), f"expected a number, got {val!r}")
        spec = {"kind": kind, **{k: float(x) for k, x in opts.items()}}
        return self.unique("grids", _Choice(label or _call_label(kind, opts), spec))

    # -- metrics and bounds ------------------------------------------------
    def parse_metrics(
        self, raw: Any, path: str, labels: dict[str, str]
    ) -> list[dict[str, Any]]:
        values = self.as_list(raw)
        if not values:
            raise self.err(path, "must name at least one metric")
        out = []
        mod = _metrics_module()
        seen: set[str] = set()
        for j, v in enumerate(values):
            p = _join(path, j) if isinstance(raw, list) else path
            name, opts, label = self.split_call(v, p)
            reference = opts.pop("reference", "marginal")
            if reference not in REFERENCES:
                raise self.err(
                    _join(p, "reference"),
                    f"unknown reference {reference!r}",
                    REFERENCES,
                    got=reference,
                )
            if name in EXACT_METRICS:
                kind = "exact"
                if opts:
                    raise self.err(
                        _join(p, next(iter(opts))),
                        f"exact metric {name!r} has no options",
                        ["reference", "label"],
                    )
            else:
                kind = "mc"
                if mod is None and name not in EMPIRICAL_METRICS:
                    raise self.err(
                        p,
                        f"unknown metric {name!r}",
                        EXACT_METRICS + EMPIRICAL_METRICS,
                        got=name,
                    )
                if mod is None:
                    raise self.err(
                        p,
                        f"metric {name!r} needs scorelab.metrics, which is not "
                        "available in this installation; exact metrics available: "
                        + ", ".join(EXACT_METRICS),
                    )
                fns = _empirical_metrics(mod)
                if name not in fns:
                    raise self.err(
                        p,
                        f"unknown metric {name!r}",
                        list(EXACT_METRICS) + fns,
                        got=name,
                    )
                params = _parameters(getattr(mod, name))
                allowed = [q.name for q in params[2:]]
                for o in opts:
                    if o not in allowed:
                        raise self.err(
                            _join(p, o),
                            f"metric {name!r} has no option {o!r}",
                            allowed + ["reference", "label"],
                            got=o,
                        )
                missing = [
                    q.name
                    for q in params[2:]
                    if q.default is q.empty and q.name not in opts and q.name != "seed"
                ]
                if missing:
                    raise self.err(
                        p, f"metric {name!r} needs option(s) " + ", ".join(missing)
                    )
            lab = label or name
            if lab in seen:
                raise self.err(
                    p,
                    f"metric label {lab!r} appears twice; give one of "
                    "them a distinct 'label'",
                )
            seen.add(lab)
            spec = {
                "name": name,
                "label": lab,
                "kind": kind,
                "reference": reference,
                "options": opts,
            }
            try:
                _canon(spec)
            except TypeError as exc:
                raise self.err(p, f"invalid option: {exc}") from None
            if labels.setdefault(lab, kind) != kind:
                raise self.err(p, f"metric label {lab!r} is used with two kinds")
            out.append(spec)
        return out

    def parse_bounds(
        self, raw: Any, path: str, labels: dict[str, str]
    ) -> list[dict[str, Any]]:
        values = self.as_list(raw)
        if not values:
            return []
        mod = _bounds_module()
        if mod is None:
            raise self.err(
                path,
                "bounds need scorelab.bounds, which is not "
                "available in this installation",
            )
        fns = _public_functions(mod)
        out = []
        for j, v in enumerate(values):
            p = _join(path, j) if isinstance(raw, list) else path
            name, params, label = self.split_call(v, p)
            if name not in fns:
                raise self.err(p, f"unknown bound {name!r}", fns, got=name)
            allowed = [q.name for q in _parameters(getattr(mod, name))]
            for o in params:
                if o not in allowed:
                    raise self.err(
                        _join(p, o),
                        f"bound {name!r} has no parameter {o!r}",
                        allowed,
                        got=o,
                    )
            lab = label or f"bound:{name}"
            spec = {"name": name, "label": lab, "params": params}
            try:
                _canon(spec)
            except TypeError as exc:
                raise self.err(p, f"invalid parameter: {exc}") from None
            if labels.setdefault(lab, "bound") != "bound":
                raise self.err(p, f"label {lab!r} is also a metric's label")
            out.append(spec)
        return out

    # -- product -----------------------------------------------------------
    def combinations(
        self, choices: dict[str, list[_Choice]], zips: Any, path: str
    ) -> list[dict[str, _Choice]]:
        if not isinstance(zips, list) or not all(isinstance(g, list) for g in zips):
            raise self.err(
                path, 'expected a list of lists of setting names, e.g. [["steps", "n"]]'
            )
        grouped: dict[str, int] = {}
        for gi, group in enumerate(zips):
            if len(group) < 2:
                raise self.err(_join(path, gi), "a zip group needs at least 2 keys")
            for k in group:
                if k not in SETTING_KEYS:
                    raise self.err(
                        _join(path, gi), f"cannot zip {k!r}", SETTING_KEYS, got=k
                    )
                if k in grouped:
                    raise self.err(_join(path, gi), f"{k!r} is in two zip groups")
                grouped[k] = gi
            lens = {k: len(choices[k]) for k in group if len(choices[k]) > 1}
            if len(set(lens.values())) > 1:
                raise self.err(
                    _join(path, gi),
                    "zipped lists must have equal lengths "
                    "(scalars broadcast), got "
                    + ", ".join(f"{k}: {n}" for k, n in lens.items()),
                )
        axes: list[tuple[tuple[str, ...], list[tuple[_Choice, ...]]]] = []
        done: set[int] = set()
        for key in SETTING_KEYS:
            gsel = grouped.get(key)
            if gsel is None:
                axes.append(((key,), [(c,) for c in choices[key]]))
            elif gsel not in done:
                done.add(gsel)
                group = tuple(zips[gsel])
                n = max(len(choices[k]) for k in group)
                rows = [
                    tuple(choices[k][i if len(choices[k]) > 1 else 0] for k in group)
                    for i in range(n)
                ]
                axes.append((group, rows))
        out = []
        for combo in itertools.product(*(rows for _, rows in axes)):
            cell: dict[str, _Choice] = {}
            for (keys, _), values in zip(axes, combo):
                cell.update(zip(keys, values))
            out.append(cell)
        return out

    def cell_tasks(
        self,
        cell: dict[str, _Choice],
        metrics: list[dict[str, Any]],
        bounds: list[dict[str, Any]],
        reps: int,
        where: str,
        study: str,
        seed: int,
        threads: int | None,
        checked: set[str],
    ) -> Iterator[Task]:
        from .schemes import compile_scheme
        from .targets import Gaussian

        tch = cell["targets"]
        target = _build_target(tch.spec)
        process = _build_process(cell["processes"].spec)
        T = cell["T"].spec if cell["T"].spec is not None else float(process.T)
        delta = cell["delta"].spec
        steps = cell["steps"].spec
        grid_spec = cell["grids"].spec
        scheme_spec = cell["schemes"].spec
        err_spec = cell["score_errors"].spec
        desc = (
            f"target {tch.label!r}, process {cell['processes'].label!r}, "
            f"scheme {cell['schemes'].label!r}, grid {cell['grids'].label!r}, "
            f"steps {steps}, T {T:g}, delta {delta:g}"
        )
        # grid (cheap, checked per cell)
        gkey = _canon_json([cell["processes"].spec, grid_spec, steps, T, delta])
        if gkey not in checked:
            checked.add(gkey)
            try:
                _grid_times(process, grid_spec, steps, T, delta)
            except (ValueError, TypeError) as exc:
                raise self.err(
                    self.kp(where, "grids"), f"cannot build the grid for {desc}: {exc}"
                ) from None
        # scheme on this process (checked once per pair on a small grid)
        skey = _canon_json(["scheme", cell["processes"].spec, scheme_spec, T, delta])
        if skey not in checked:
            checked.add(skey)
            try:
                from .grids import grid

                small = grid("uniform", 4, T=T, delta=delta, process=process)
                compile_scheme(
                    scheme_spec["name"], process, small, **scheme_spec["options"]
                )
            except (ValueError, TypeError) as exc:
                raise self.err(
                    self.kp(where, "schemes"),
                    f"scheme {cell['schemes'].label!r} cannot run with "
                    f"process {cell['processes'].label!r} ({desc}): {exc}",
                ) from None
        err = None
        ekey = _canon_json(["error", err_spec, tch.spec, cell["processes"].spec, T])
        try:
            err = _build_error(err_spec, int(target.dim))
            if err is not None and ekey not in checked:
                checked.add(ekey)
                D = int(target.dim) * int(getattr(process, "m", 1))
                err.stage_terms(target, process, np.array([0.5 * (T + delta)]), D)
                err.score_target(target)
        except (ValueError, TypeError) as exc:
            raise self.err(
                self.kp(where, "score_errors"),
                f"score error {cell['score_errors'].label!r} does not fit "
                f"target {tch.label!r}: {exc}",
            ) from None
        exact = [m for m in metrics if m["kind"] == "exact"]
        mc = [m for m in metrics if m["kind"] == "mc"]
        if exact:
            if not isinstance(target, Gaussian):
                raise self.err(
                    self.kp(where, "metrics"),
                    f"exact metric {exact[0]['label']!r} needs a Gaussian target, but "
                    f"target {tch.label!r} is a Gaussian mixture; use an empirical "
                    "metric, or put the targets in separate [[sweep]] blocks",
                    EMPIRICAL_METRICS,
                )
            if err is not None and (
                not getattr(err, "affine", True)
                or err.score_target(target).n_components != 1
            ):
                raise self.err(
                    self.kp(where, "metrics"),
                    f"exact metric {exact[0]['label']!r} needs an affine score error "
                    f"(Bias, Linear, Misspecified by a Gaussian), not "
                    f"{cell['score_errors'].label!r}; use an empirical metric",
                )
        for m in mc:
            if m["name"] == "w2_1d" and target.dim != 1:
                raise self.err(
                    self.kp(where, "metrics"),
                    f"metric 'w2_1d' needs a 1-D target, target "
                    f"{tch.label!r} has d = {target.dim}",
                )
        for b in bounds:
            fn = getattr(_bounds_module(), b["name"])
            ctx_names = set(BOUND_CONTEXT)
            missing = [
                p.name
                for p in _parameters(fn)
                if p.default is p.empty
                and p.name not in b["params"]
                and p.name not in ctx_names
            ]
            if missing:
                raise self.err(
                    self.kp(where, "bounds"),
                    f"bound {b['name']!r} needs parameter(s) "
                    f"{', '.join(missing)} (give them in the bound's table)",
                )
            # one trial evaluation on a 2-step grid per combination of settings
            bkey = _canon_json(
                [
                    "bound",
                    b,
                    tch.spec,
                    cell["processes"].spec,
                    scheme_spec,
                    err_spec,
                    cell["init"].spec,
                    T,
                    delta,
                ]
            )
            if bkey not in checked:
                checked.add(bkey)
                trial = {
                    "scheme": scheme_spec,
                    "steps": 2,
                    "init": cell["init"].spec,
                }
                try:
                    small = _grid_times(process, {"kind": "uniform"}, 2, T, delta)
                    ctx = _bound_context(target, process, small, err, trial)
                    _bound_values(fn(**_bound_kwargs(b, ctx)))
                except (ValueError, TypeError, ArithmeticError) as exc:
                    raise self.err(
                        self.kp(where, "bounds"),
                        f"bound {b['label']!r} cannot be evaluated for {desc}: "
                        f"{type(exc).__name__}: {exc}",
                    ) from None
        n = cell["n"].spec if mc else 0
        spec = {
            "target": tch.spec,
            "process": cell["processes"].spec,
            "scheme": scheme_spec,
            "grid": grid_spec,
            "steps": steps,
            "T": T,
            "delta": delta,
            "score_error": err_spec,
            "init": cell["init"].spec,
            "n": n,
        }
        labels = {
            "target": tch.label,
            "dim": int(target.dim),
            "process": cell["processes"].label,
            "scheme": cell["schemes"].label,
            "grid": cell["grids"].label,
            "steps": steps,
            "T": T,
            "delta": delta,
            "score_error": cell["score_errors"].label,
            "init": cell["init"].label,
            "n": n,
        }
        for r in range(reps if mc else 1):
            mets = metrics if r == 0 else mc
            bnds = bounds if r == 0 else []
            key = _words(_digest({"settings": spec, "replicate": r}))
            tid = hashlib.sha256(
                _canon_json(
                    {
                        "study": study,
                        "seed": seed,
                        "settings": spec,
                        "labels": labels,
                        "replicate": r,
                        "metrics": mets,
                        "bounds": bnds,
                    }
                ).encode()
            ).hexdigest()[:20]
            yield Task(
                tid,
                0,
                study,
                seed,
                r,
                dict(labels),
                spec,
                [dict(m) for m in mets],
                [dict(b) for b in bnds],
                key,
                threads,
            )

    # -- plot --------------------------------------------------------------
    def parse_plot(self, plot: Any, metric_labels: Mapping[str, str]) -> dict[str, Any]:
        self.check_keys(plot, _PLOT_KEYS, "plot")
        out = dict(plot)
        out.setdefault("out", f"{self.get_str(self.data, 'name', '', self.stem)}.png")
        if not isinstance(out["out"], str) or not out["out"]:
            raise self.err("plot.out", f"expected a file name, got {out['out']!r}")
        x = out.get("x", "steps")
        if x not in ("steps", "n", "delta", "T"):
            raise self.err(
                "plot.x", f"unknown x column {x!r}", ("steps", "n", "delta", "T"), got=x
            )
        data_labels = [k for k, v in metric_labels.items() if v != "bound"]
        bound_labels = [k for k, v in metric_labels.items() if v == "bound"]
        for key, allowed in (("y", data_labels), ("bounds", bound_labels)):
            v = out.get(key)
            if v is None or (key == "bounds" and isinstance(v, bool)):
                continue
            for item in self.as_list(v):
                term = key == "bounds" and any(
                    isinstance(item, str) and item.startswith(b + ":") for b in allowed
                )
                if item not in allowed and not term:
                    raise self.err(
                        f"plot.{key}",
                        f"{item!r} is not computed by this study",
                        allowed,
                        got=item,
                    )
        for item in self.as_list(out.get("hue", [])):
            if item not in COLUMNS:
                raise self.err(
                    "plot.hue", f"unknown column {item!r}", COLUMNS, got=item
                )
        where = out.get("where", {})
        if not isinstance(where, Mapping):
            raise self.err("plot.where", "expected a table {column = value(s)}")
        for k in where:
            if k not in COLUMNS:
                raise self.err(
                    _join("plot.where", k), f"unknown column {k!r}", COLUMNS, got=k
                )
        for key in ("title", "xlabel", "ylabel"):
            if key in out and not isinstance(out[key], str):
                raise self.err(f"plot.{key}", f"expected a string, got {out[key]!r}")
        if "fit" in out and not isinstance(out["fit"], bool):
            raise self.err("plot.fit", f"expected true or false, got {out['fit']!r}")
        if "dpi" in out:
            self.get_int(out, "dpi", "plot", 10, None)
        if "figsize" in out:
            fs = out["figsize"]
            if (
                not isinstance(fs, list)
                or len(fs) != 2
                or not all(isinstance(v, (int, float)) and v > 0 for v in fs)
            ):
                raise self.err(
                    "plot.figsize", f"expected [width, height] in inches, got {fs!r}"
                )
        return out


def _typename(v: Any) -> str:
    names: dict[type, str] = {dict: "a table", list: "a list", str: "a string"}
    return names.get(type(v), type(v).__name__)


# ---------------------------------------------------------------------------
# result tables
# ---------------------------------------------------------------------------
class ResultTable:
    """A long table of study results (rows of dicts; no pandas needed).

    Parameters
    ----------
    rows : iterable of dict
        Rows; the columns are those of the first row (:data:`COLUMNS` for study
        output).
    columns : sequence of str, optional
        Column order (default: the keys of the first row).
    """

    def __init__(
        self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None
    ) -> None:
        self.rows: list[dict[str, Any]] = [dict(r) for r in rows]
        if columns is None:
            columns = list(self.rows[0]) if self.rows else list(COLUMNS)
        self.columns: list[str] = list(columns)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __getitem__(self, name: str) -> np.ndarray:
        """Column ``name`` as an array (object dtype for text)."""
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; columns: {', '.join(self.columns)}")
        values = [r.get(name) for r in self.rows]
        if name in _FLOAT_COLUMNS:
            return np.array(values, dtype=np.float64)
        if name in _INT_COLUMNS:
            return np.array(values, dtype=np.int64)
        return np.array(values, dtype=object)

    def __repr__(self) -> str:
        return f"ResultTable({len(self)} rows, columns={self.columns})"

    def where(self, **conditions: Any) -> ResultTable:
        """Rows where each ``column == value`` (or ``in`` a list/tuple/set)."""

        def ok(r: Mapping[str, Any]) -> bool:
            for k, v in conditions.items():
                if isinstance(v, (list, tuple, set, frozenset)):
                    if r.get(k) not in v:
                        return False
                elif r.get(k) != v:
                    return False
            return True

        return ResultTable([r for r in self.rows if ok(r)], self.columns)

    def unique(self, name: str) -> list[Any]:
        """Distinct values of a column, in order of appearance."""
        return list(dict.fromkeys(r.get(name) for r in self.rows))

    def without(self, *names: str) -> list[tuple[Any, ...]]:
        """Rows as tuples without the given columns, sorted (for comparisons).

        NaN becomes None so that equal rows compare equal.
        """
        cols = [c for c in self.columns if c not in names]

        def norm(v: Any) -> Any:
            return None if isinstance(v, float) and math.isnan(v) else v

        def key(v: Any) -> tuple[int, Any]:
            return (1, "") if v is None else (0, v)

        return sorted(
            (tuple(norm(r.get(c)) for c in cols) for r in self.rows),
            key=lambda t: tuple(key(v) for v in t),
        )

    def to_pandas(self) -> Any:
        """As a ``pandas.DataFrame`` (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)


def _as_float(s: str) -> float:
    return float(s) if s != "" else math.nan


def _convert(col: str, s: str) -> Any:
    if col in _FLOAT_COLUMNS:
        return _as_float(s)
    if col in _INT_COLUMNS:
        return int(s) if s != "" else None
    if col in COLUMNS:
        return s
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    return s


def _suffix(path: str | os.PathLike[str]) -> str:
    suf = Path(path).suffix.lower()
    if suf not in OUTPUT_SUFFIXES:
        raise ValueError(
            f"path {str(path)!r}: unknown table format; use one of "
            + ", ".join(OUTPUT_SUFFIXES)
        )
    return suf


def _need_pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(
            "Parquet output needs pyarrow: pip install 'scorelab[parquet]' (or "
            "write a .csv file)"
        ) from None
    return pa, pq


def read_results(path: str | os.PathLike[str]) -> ResultTable:
    """Read a results table written by a study (``.csv`` or ``.parquet``).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ResultTable
        Column types restored (integers, floats, text).
    """
    if _suffix(path) == ".csv":
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            cols = list(reader.fieldnames or [])
            rows = [{c: _convert(c, r[c]) for c in cols} for r in reader]
        return ResultTable(rows, cols)
    _, pq = _need_pyarrow()
    tab = pq.read_table(path)
    rows = tab.to_pylist()
    for r in rows:
        for c in _FLOAT_COLUMNS & set(r):
            if r[c] is None:
                r[c] = math.nan
    return ResultTable(rows, list(tab.column_names))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_results(
    table: ResultTable | Iterable[Mapping[str, Any]], path: str | os.PathLike[str]
) -> None:
    """Write a table atomically (temporary file + ``os.replace``).

    Parameters
    ----------
    table : ResultTable or iterable of dict
    path : str or path-like
        ``.csv`` or ``.parquet``/``.pq`` (needs pyarrow).
    """
    if not isinstance(table, ResultTable):
        table = ResultTable(table)
    path = Path(path)
    suf = _suffix(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if suf == ".csv":
            with open(tmp, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(table.columns)
                for r in table.rows:
                    w.writerow(
                        ["" if r.get(c) is None else r.get(c) for c in table.columns]
                    )
                fh.flush()
                os.fsync(fh.fileno())
        else:
            pa, pq = _need_pyarrow()
            types = {
                c: pa.float64()
                if c in _FLOAT_COLUMNS
                else pa.int64()
                if c in _INT_COLUMNS
                else pa.string()
                for c in table.columns
            }
            arrays = {
                c: pa.array([r.get(c) for r in table.rows], type=types[c])
                for c in table.columns
            }
            pq.write_table(pa.table(arrays), tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class _Store:
    """Part files of finished tasks next to the output, and the final table."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.parts = out.with_name(out.name + ".parts")
        self._lock: IO[str] | None = None
        self.dropped = 0

    def open(self, resume: bool) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.parts.mkdir(exist_ok=True)
        self._lock = open(self.parts / ".lock", "w")
        try:
            import fcntl

            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        except OSError:
            self._lock.close()
            self._lock = None
            raise RuntimeError(
                f"another scorelab run is writing to {self.out} (lock held on "
                f"{self.parts / '.lock'})"
            ) from None
        for p in self.parts.glob(".*.tmp"):
            p.unlink(missing_ok=True)
        if not resume:
            for p in self.parts.glob("*.json"):
                p.unlink()
            self.out.unlink(missing_ok=True)

    def close(self) -> None:
        """Release the lock; remove the parts folder if it holds no parts."""
        if self._lock is None:
            return
        self._lock.close()
        self._lock = None
        if not any(self.parts.glob("*.json")):
            (self.parts / ".lock").unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.parts.rmdir()

    def load(self, wanted: set[str]) -> dict[str, list[dict[str, Any]]]:
        """Rows of finished tasks (from the output, then the part files)."""
        done: dict[str, list[dict[str, Any]]] = {}
        self.dropped = 0
        if self.out.exists():
            try:
                table = read_results(self.out)
            except Exception as exc:  # unreadable: recompute everything
                print(
                    f"scorelab: ignoring unreadable {self.out}: {exc}", file=sys.stderr
                )
            else:
                for r in table.rows:
                    if r.get("task") in wanted:
                        done.setdefault(r["task"], []).append(
                            {c: r.get(c) for c in COLUMNS}
                        )
                    else:
                        self.dropped += 1
        for p in sorted(self.parts.glob("*.json")):
            try:
                payload = json.loads(p.read_text())
                tid = payload["task"]
                rows = payload["rows"]
                if p.stem != tid or not isinstance(rows, list):
                    raise ValueError("inconsistent part file")
                rows = [{c: r[c] for c in COLUMNS} for r in rows]
            except Exception:
                p.unlink(missing_ok=True)  # a corrupted part: recompute the task
                continue
            if tid in wanted:
                done[tid] = rows
        return done

    def write_part(self, task_id: str, rows: list[dict[str, Any]]) -> None:
        path = self.parts / f"{task_id}.json"
        tmp = self.parts / f".{task_id}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump({"task": task_id, "rows": rows}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def finish(self, table: ResultTable) -> None:
        write_results(table, self.out)
        for p in self.parts.glob("*.json"):
            p.unlink(missing_ok=True)
        self.close()


# ---------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------
class _Progress:
    """tqdm bar (or a plain stderr line) with cells done/total, ETA, throughput."""

    def __init__(self, total: int, initial: int, enabled: bool, desc: str) -> None:
        self.total, self.done = total, initial
        self.enabled = enabled and total > initial
        self.start = time.perf_counter()
        self.new = 0
        self.psteps = 0.0
        self.bar: Any = None
        if not self.enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit="cell",
            file=sys.stderr,
            dynamic_ncols=True,
            leave=True,
        )

    def update(self, rows: Sequence[Mapping[str, Any]], task: Task) -> None:
        self.done += 1
        self.new += 1
        if task.spec["n"]:
            self.psteps += float(task.spec["n"]) * float(task.spec["steps"])
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = self.psteps / elapsed
        if self.bar is not None:
            self.bar.set_postfix_str(f"{rate:.3g} particle-steps/s", refresh=False)
            self.bar.update(1)
            return
        left = self.total - self.done
        eta = elapsed / self.new * left
        sys.stderr.write(
            f"\r{self.done}/{self.total} cells | {self.new / elapsed:.3g} cells/s | "
            f"ETA {int(eta) // 60}:{int(eta) % 60:02d} | {rate:.3g} particle-steps/s "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            sys.stderr.write("\n")


# ---------------------------------------------------------------------------
# Dask
# ---------------------------------------------------------------------------
def _check_dask(address: str) -> None:
    """Fail early (before anything is written) on a bad ``--dask`` value."""
    if importlib.util.find_spec("distributed") is None:
        raise ImportError(
            "--dask needs dask.distributed; install it with "
            "pip install 'scorelab[dask]'"
        )
    if address.startswith("local"):
        _, sep, tail = address.partition(":")
        if address != "local" and (
            address[:6] != "local:" or not tail.isdigit() or int(tail) < 1
        ):
            raise ValueError(
                f"--dask: expected 'local', 'local:N' (N >= 1 workers) or a "
                f"scheduler address, got {address!r}"
            )


@contextlib.contextmanager
def dask_client(address: str) -> Iterator[Any]:
    """A ``distributed.Client``: ``"local"``/``"local:N"`` starts a LocalCluster.

    Parameters
    ----------
    address : str
        ``"local"`` (one single-threaded worker process per CPU), ``"local:N"``
        (N worker processes) or a scheduler address such as
        ``"tcp://host:8786"``.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(
            "--dask needs dask.distributed; install it with "
            "pip install 'scorelab[dask]'"
        ) from None
    _check_dask(address)
    if address == "local" or address.startswith("local:"):
        from .targets import default_threads

        _, _, tail = address.partition(":")
        n = int(tail) if tail else default_threads()
        import logging

        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
    else:
        client = Client(address)
        try:
            yield client
        finally:
            client.close()


def _dask_results(
    client: Any, tasks: Sequence[Task]
) -> Iterator[tuple[Task, list[dict[str, Any]]]]:
    from distributed import as_completed

    futures = {
        client.submit(run_task, t, key=f"scorelab-{t.id}", pure=False): t for t in tasks
    }
    try:
        for fut in as_completed(list(futures)):
            yield futures[fut], fut.result()
    finally:
        for fut in futures:
            fut.cancel()


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
        One per (cell, replicate), in a deterministic order.
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
    """

    name: str
    seed: int
    tasks: list[Task]
    source: str = "<dict>"
    description: str = ""
    out: str | None = None
    plot: dict[str, Any] | None = None
    threads: int | None = None
    metric_kinds: dict[str, str] = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        cells = len({t.id for t in self.tasks if t.replicate == 0})
        return (
            f"Study(name={self.name!r}, seed={self.seed}, tasks={len(self.tasks)} "
            f"({cells} cells), metrics={sorted(self.metric_kinds)}, "
            f"source={self.source!r})"
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> Study:
        """Validate a study given as a dict (the TOML file's structure).

        Raises
        ------
        StudyError
            For an unknown key, a wrong type or an impossible combination; the
            message names the source, the key and the allowed values.
        """
        stem = Path(source).stem if source != "<dict>" else "study"
        return _Parser(data, source, stem).parse()

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Study:
        """Read and validate a TOML study file (see the module docstring).

        Raises
        ------
        StudyError
            If the file is missing, is not valid TOML, or is not a valid study.
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
        return cls.from_dict(data, source)

    def __len__(self) -> int:
        return len(self.tasks)

    @property
    def n_cells(self) -> int:
        """Number of distinct cells (tasks without the replicate)."""
        return len({_canon_json(t.spec) for t in self.tasks})

    def run(
        self,
        out: str | os.PathLike[str] | None = None,
        *,
        resume: bool = True,
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
            Skip tasks already finished in ``out`` or its part files; False
            deletes them first and starts fresh.
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
        tasks = [dataclasses.replace(t, threads=nthreads) for t in self.tasks]
        if isinstance(dask, str):
            _check_dask(dask)
        store: _Store | None = None
        done: dict[str, list[dict[str, Any]]] = {}
        if out is not None:
            _suffix(out)
            if _suffix(out) != ".csv":
                _need_pyarrow()
            store = _Store(Path(out))
            store.open(resume)
            done = store.load({t.id for t in tasks})
        try:
            pending = [t for t in tasks if t.id not in done]
            if log is not None and store is not None and store.dropped:
                log(
                    f"{out}: {store.dropped} rows of cells that are not in this "
                    "study will be dropped from it"
                )
            if log is not None and len(pending) < len(tasks):
                log(
                    f"resuming: {len(tasks) - len(pending)} of {len(tasks)} tasks "
                    f"already finished in {out}"
                )
            bar = _Progress(len(tasks), len(tasks) - len(pending), progress, self.name)
            try:
                for task, rows in self._execute(pending, dask):
                    if store is not None:
                        store.write_part(task.id, rows)
                    done[task.id] = rows
                    bar.update(rows, task)
            finally:
                bar.close()
            table = ResultTable([r for t in tasks for r in done[t.id]], list(COLUMNS))
            if store is not None:
                store.finish(table)
        finally:
            if store is not None:
                store.close()
        return table

    def _execute(
        self, tasks: Sequence[Task], dask: Any
    ) -> Iterator[tuple[Task, list[dict[str, Any]]]]:
        if not tasks:
            return
        if dask is None:
            for t in tasks:
                yield t, run_task(t)
        elif isinstance(dask, str):
            with dask_client(dask) as client:
                yield from _dask_results(client, tasks)
        else:
            yield from _dask_results(dask, tasks)


# ---------------------------------------------------------------------------
# aggregation and the summary table
# ---------------------------------------------------------------------------
def aggregate(
    table: ResultTable | Iterable[Mapping[str, Any]], by: Sequence[str]
) -> list[dict[str, Any]]:
    r"""Average replicates: one record per distinct value of the ``by`` columns.

    With :math:`R` replicates the estimate is their mean and the standard error
    is :math:`s/\sqrt R` (:math:`s` the sample standard deviation) for
    :math:`R \ge 2`, or the replicate's own standard error for :math:`R = 1`.

    Parameters
    ----------
    table : ResultTable or iterable of dict
    by : sequence of str
        Grouping columns (e.g. the settings, ``"metric"`` and ``"steps"``).

    Returns
    -------
    list of dict
        ``{**group, "estimate", "stderr", "replicates"}`` in order of first
        appearance.
    """
    rows = table.rows if isinstance(table, ResultTable) else list(table)
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(c) for c in by), []).append(r)
    out = []
    for key, rs in groups.items():
        est = np.array([float(r["estimate"]) for r in rs])
        if len(rs) >= 2:
            m = float(np.mean(est))
            se = float(np.std(est, ddof=1) / math.sqrt(len(rs)))
        else:
            m = float(est[0])
            se = float(rs[0]["stderr"])
        out.append(
            {**dict(zip(by, key)), "estimate": m, "stderr": se, "replicates": len(rs)}
        )
    return out


def _num(v: float) -> str:
    return f"{v:.3g}" if math.isfinite(v) else str(v)


def format_summary(
    table: ResultTable, columns: str = "steps", terms: bool = False
) -> str:
    """Readable pivot: rows = varying settings and metric, columns = ``steps``.

    Values are ``estimate ± stderr`` (replicates averaged with
    :func:`aggregate`; exact values without ``±``). Settings that are the same on
    every row are printed once above the table.

    Parameters
    ----------
    table : ResultTable
    columns : str, default "steps"
        Column whose values become the table's columns.
    terms : bool, default False
        Also show the named terms of bounds (rows of kind ``"bound_term"``).
    """
    if not terms:
        table = table.where(kind=["exact", "mc", "bound"])
    if not len(table):
        return "(no rows)"
    settings = [c for c in SETTING_COLUMNS if c != columns]
    varying = [c for c in settings if len(table.unique(c)) > 1]
    constant = [c for c in settings if c not in varying]
    keys = [*varying, "metric"]
    agg = aggregate(table, [*keys, columns])
    col_values = sorted({a[columns] for a in agg})
    cells: dict[tuple[Any, ...], dict[Any, str]] = {}
    for a in agg:
        k = tuple(a[c] for c in keys)
        se = a["stderr"]
        txt = _num(a["estimate"])
        if math.isfinite(se) and se > 0:
            txt += f"±{se:.1g}"
        elif not math.isfinite(se):
            txt += "±?"
        cells.setdefault(k, {})[a[columns]] = txt
    head = [*keys, *[f"{columns}={v}" for v in col_values]]
    body = [
        [*(str(x) for x in k), *(row.get(v, "") for v in col_values)]
        for k, row in cells.items()
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    lines = []
    first = table.rows[0]
    if constant:
        lines.append(
            f"study {first['study']}: " + ", ".join(f"{c}={first[c]}" for c in constant)
        )
    nk = len(keys)
    fmt_row = lambda cells_: "  ".join(  # noqa: E731
        c.ljust(w) if i < nk else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells_, widths))
    )
    lines.append(fmt_row(head))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(fmt_row(b) for b in body)
    return "\n".join(lines)
