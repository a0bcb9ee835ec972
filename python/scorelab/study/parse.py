"""The study-file parser: validates a TOML/dict study and expands it into tasks."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import optimized
from .presets import (
    _PRESETS,
    _bounds_module,
    _build_error,
    _build_process,
    _build_target,
    _cached,
    _empirical_metrics,
    _error_classes,
    _metrics_module,
    _parameters,
    _process_classes,
    _public_functions,
    file_sha256,
)
from .schema import (
    COLUMNS,
    EMPIRICAL_METRICS,
    EXACT_METRICS,
    INITS,
    OUTPUT_SUFFIXES,
    REFERENCES,
    StudyError,
    _canon,
    _canon_json,
    _digest,
    _typename,
    _words,
)
from .tasks import (
    BOUND_CONTEXT,
    Task,
    _bound_context,
    _bound_kwargs,
    _bound_values,
    _grid_times,
)

__all__ = ["DEFAULT_DELTA", "GRID_OPTIONS", "MAX_CELLS", "PLOT_KEYS", "SETTING_KEYS"]

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
    "nfe",
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
#: Keys of the ``[plot]`` section.
PLOT_KEYS: tuple[str, ...] = (
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
    "fit_range",
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
    "delta": [None],
    "n": [10000],
    "steps": [None],
    "nfe": [None],
}
#: Early-stopping time of a cell whose ``delta`` is not given (named grids).
DEFAULT_DELTA = 1e-3


def _grid_options() -> dict[str, tuple[str, ...]]:
    from ..grids import GRID_KIND_OPTIONS, GRID_KINDS

    out: dict[str, tuple[str, ...]] = {
        k: tuple(GRID_KIND_OPTIONS.get(k, ())) for k in GRID_KINDS
    }
    out["explicit"] = ("times",)
    out[optimized.KIND] = optimized.OPTIONS
    return out


#: Grid kinds of a study and the options of each: the keyword options of
#: :func:`scorelab.grid` per kind (:data:`scorelab.grids.GRID_KIND_OPTIONS`,
#: e.g. ``rho`` of ``karras`` and ``power``, ``c`` of ``ays``), ``times`` of an
#: explicit grid, and those of an optimised grid
#: (:data:`scorelab.study.optimized.OPTIONS`).
GRID_OPTIONS: dict[str, tuple[str, ...]] = _grid_options()
#: Numeric grid options that must be > 0 (others are checked by ``grid``).
_POSITIVE_GRID_OPTIONS: tuple[str, ...] = ("rho", "c")


def _is_times(v: Any) -> bool:
    """Whether a setting value is a list of numbers (an explicit grid's times)."""
    return (
        isinstance(v, list)
        and bool(v)
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
    )


def _join(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


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
# parsing and validation
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class _Choice:
    """One value of a setting: the column value and the canonical spec."""

    label: Any
    spec: Any


@dataclasses.dataclass
class _SweepPlan:
    """A parsed sweep: its metrics, bounds, replicates and the product's axes."""

    where: str
    own: set[str]
    metrics: list[dict[str, Any]]
    bounds: list[dict[str, Any]]
    reps: int
    axes: list[tuple[tuple[str, ...], list[tuple[_Choice, ...]]]]

    @property
    def n_cells(self) -> int:
        """Number of cells of the product (computed from the axes' lengths)."""
        return math.prod(len(rows) for _, rows in self.axes)

    def cells(self) -> Iterator[dict[str, _Choice]]:
        """The cells of the product, in order, lazily."""
        for combo in itertools.product(*(rows for _, rows in self.axes)):
            cell: dict[str, _Choice] = {}
            for (keys, _), values in zip(self.axes, combo):
                cell.update(zip(keys, values))
            yield cell


#: Default largest number of cells of a study (``max_cells``).
MAX_CELLS = 10**6


# ---------------------------------------------------------------------------
# a cell's tasks
# ---------------------------------------------------------------------------
class _SettingError(ValueError):
    """A cell's settings do not fit together; ``key`` names the setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _steps_for_budget(cell: Mapping[str, _Choice], nfe: int) -> int:
    """Most steps of the cell's scheme within ``nfe`` score evaluations (cached)."""
    from ..grids import _steps_for_nfe

    scheme = cell["schemes"].spec
    key = {"process": cell["processes"].spec, "scheme": scheme, "nfe": nfe}

    def build() -> int:
        process = _build_process(cell["processes"].spec)
        try:
            return _steps_for_nfe(nfe, scheme["name"], process, scheme["options"])
        except (ValueError, TypeError) as exc:
            raise _SettingError("nfe", str(exc)) from None

    return int(_cached("nfe-steps", key, build))


def _cell_objects(cell: Mapping[str, _Choice]) -> tuple[Any, Any, int, float, float]:
    """The target and process of a cell (cached builds) and its steps, T, delta.

    An explicit grid fixes all three (a given ``steps``, ``T`` or ``delta``
    must agree with it, and ``nfe`` cannot be given); otherwise ``T`` defaults
    to the process's, ``delta`` to :data:`DEFAULT_DELTA`, and ``steps`` is
    given, or the most steps of the cell's scheme within the budget ``nfe``
    (:func:`scorelab.schemes.scheme_nfe`). Raises :class:`_SettingError`.
    """
    target = _build_target(cell["targets"].spec)
    process = _build_process(cell["processes"].spec)
    grid_spec = cell["grids"].spec
    steps, nfe = cell["steps"].spec, cell["nfe"].spec
    T, delta = cell["T"].spec, cell["delta"].spec
    if grid_spec["kind"] == "explicit":
        t = grid_spec["times"]
        label = cell["grids"].label
        if nfe is not None:
            raise _SettingError(
                "nfe",
                f"the explicit grid {label} fixes its steps; nfe cannot be "
                "given with it (put explicit grids in a [[sweep]] of their own)",
            )
        for key, given, value in (
            ("steps", steps, len(t) - 1),
            ("T", T, t[0]),
            ("delta", delta, t[-1]),
        ):
            if given is not None and given != value:
                raise _SettingError(
                    key,
                    f"the explicit grid {label} has {key} = {value:g}, not "
                    f"{given:g}; leave {key} out for explicit grids (e.g. in a "
                    "[[sweep]] of their own)",
                )
        return target, process, len(t) - 1, float(t[0]), float(t[-1])
    if steps is None and nfe is None:
        raise _SettingError(
            "steps",
            "required: steps (or nfe, a budget of score evaluations, or an "
            "explicit grid of times)",
        )
    if nfe is not None:
        steps = _steps_for_budget(cell, nfe)
    T = float(process.T) if T is None else T
    return target, process, steps, T, DEFAULT_DELTA if delta is None else delta


def _cell_view(
    cell: Mapping[str, _Choice],
    attr: str,
    steps: int,
    T: float,
    delta: float,
    n: int,
    dim: int | None = None,
) -> dict[str, Any]:
    """A cell's settings as its choices' ``attr`` ("spec" or "label"), in row
    order; ``dim`` (labels only) follows the target."""

    def get(key: str) -> Any:
        return getattr(cell[key], attr)

    out: dict[str, Any] = {"target": get("targets")}
    if dim is not None:
        out["dim"] = dim
    out.update(
        process=get("processes"), scheme=get("schemes"), grid=get("grids"),
        steps=steps, T=T, delta=delta, score_error=get("score_errors"),
        init=get("init"), n=n,
    )
    return out


def _cell_spec(
    cell: Mapping[str, _Choice], steps: int, T: float, delta: float, n: int
) -> dict[str, Any]:
    """A cell's canonical settings (:attr:`Task.spec`)."""
    return _cell_view(cell, "spec", steps, T, delta, n)


def cell_tasks(
    cell: Mapping[str, _Choice],
    metrics: list[dict[str, Any]],
    bounds: list[dict[str, Any]],
    reps: int,
    study: str,
    seed: int,
    threads: int | None,
) -> Iterator[Task]:
    """The tasks of one (checked) cell, one per replicate, lazily.

    A cell with no empirical metric has a single task (its values are
    deterministic); the bounds and exact metrics are computed by replicate 0.
    Every task's ``index`` is 0 (the parser numbers them).
    """
    target, _, steps, T, delta = _cell_objects(cell)
    mc = [m for m in metrics if m["kind"] == "mc"]
    n = cell["n"].spec if mc else 0
    spec = _cell_spec(cell, steps, T, delta, n)
    labels = _cell_view(cell, "label", steps, T, delta, n, dim=int(target.dim))
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


# ---------------------------------------------------------------------------
# the parser
# ---------------------------------------------------------------------------
class _Parser:
    """Validates a study dict and expands it into tasks."""

    def __init__(
        self,
        data: Mapping[str, Any],
        source: str,
        stem: str,
        max_cells: int | None = MAX_CELLS,
    ) -> None:
        self.source = source
        self.max_cells = max_cells
        self.data = data
        self.stem = stem
        self.labels: dict[tuple[str, Any], str] = {}
        self.own: set[str] = set()
        self.budget = "steps"

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
    def parse(self) -> dict[str, Any]:
        """Validate the whole study: the keyword arguments of ``Study``."""
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
        metric_labels: dict[str, str] = {}
        plans: list[_SweepPlan] = []
        for i, sw in enumerate(sweeps):
            where = f"sweep[{i}]" if "sweep" in d else ""
            if "sweep" in d:
                self.check_keys(sw, _SWEEP_KEYS, where)
            merged = dict(defaults)
            merged.update({k: v for k, v in sw.items() if k != "name"})
            self.own = set(sw) if "sweep" in d else set()
            plans.append(self.plan(merged, where, replicates, metric_labels))
        total = sum(pl.n_cells for pl in plans)
        if self.max_cells is not None and total > self.max_cells:
            raise self.err(
                "",
                f"the study has {total} cells (the product of its settings"
                + (", summed over its sweeps" if len(plans) > 1 else "")
                + f"), more than the limit of {self.max_cells}; split it into "
                "smaller studies, or raise the limit (--max-cells N, or "
                "max_cells= in Study.from_toml / Study.from_dict)",
            )
        # validate every cell (no task is kept) and count the distinct tasks
        n_tasks = n_cells = 0
        for task in self.iter_tasks(plans, name, seed, threads, check=True):
            n_tasks += 1
            n_cells += task.replicate == 0
        plot = self.parse_plot(d.get("plot"), metric_labels) if "plot" in d else None
        source = self.source

        def tasks() -> Iterator[Task]:
            return self.iter_tasks(plans, name, seed, threads, check=False)

        return dict(
            name=name,
            seed=seed,
            task_factory=tasks,
            n_tasks=n_tasks,
            n_cells=n_cells,
            source=source,
            description=description,
            out=out,
            plot=plot,
            threads=threads,
            metric_kinds=metric_labels,
            budget=self.budget,
        )

    def iter_tasks(
        self,
        plans: Sequence[_SweepPlan],
        study: str,
        seed: int,
        threads: int | None,
        check: bool,
    ) -> Iterator[Task]:
        """The study's distinct tasks in order, numbered, generated lazily;
        ``check``: validate each cell first (:meth:`check_cell`)."""
        seen: set[str] = set()
        index = 0
        for pl in plans:
            self.own = pl.own
            checked: set[str] = set()
            for combo in pl.cells():
                if check:
                    self.check_cell(combo, pl.metrics, pl.bounds, pl.where, checked)
                for task in cell_tasks(
                    combo, pl.metrics, pl.bounds, pl.reps, study, seed, threads
                ):
                    if task.id not in seen:
                        seen.add(task.id)
                        task.index = index
                        index += 1
                        yield task

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
        if isinstance(spec_d.get("data"), str):
            # a data file: relative to the study file; its content hash joins
            # the spec (task identity), so a changed file is not reused
            path = Path(spec_d["data"])
            if not path.is_absolute() and self.source != "<dict>":
                path = Path(self.source).parent / path
            spec_d["data"] = str(path.resolve())
            try:
                digest = file_sha256(spec_d["data"])
            except OSError as exc:
                raise self.err(
                    _join(key, "data"), f"cannot read data file: {exc}"
                ) from None
            if spec_d.setdefault("sha256", digest) != digest:
                raise self.err(
                    _join(key, "sha256"),
                    f"the data file's SHA-256 is {digest}, not {spec_d['sha256']}",
                )
        try:
            _build_target(spec_d)
        except (ValueError, TypeError) as exc:
            presets = [p for p, _, _ in _PRESETS]
            allowed = presets if "preset" in str(exc) else None
            raise self.err(key, f"invalid target: {exc}", allowed) from None
        return _Choice(name, _canon(spec_d))

    # -- one sweep -------------------------------------------------------
    def plan(
        self,
        sw: Mapping[str, Any],
        where: str,
        default_reps: int,
        metric_labels: dict[str, str],
    ) -> _SweepPlan:
        """Parse one sweep's settings, metrics and bounds (no cell is built)."""
        choices: dict[str, list[_Choice]] = {}
        if "steps" in sw and "nfe" in sw:
            own = [k for k in ("steps", "nfe") if k in self.own]
            if len(own) != 1:
                raise self.err(
                    self.kp(where, "nfe"),
                    "give either steps or nfe (a budget of score evaluations), "
                    "not both",
                )
            # a sweep's own steps (or nfe) replaces the other one set above it
            sw = {k: v for k, v in sw.items() if k not in ("steps", "nfe") or k in own}
        if "nfe" in sw:
            self.budget = "nfe"
        for key in SETTING_KEYS:
            if key == "targets":
                raw = sw.get("targets", list(self.targets))
            elif key in sw:
                raw = sw[key]
            elif key in _DEFAULTS:
                raw = _DEFAULTS[key]
            else:
                raise self.err(_join(where, key), "required setting is missing")
            single = key == "grids" and _is_times(raw)
            if single:
                raw = [raw]  # one explicit grid, e.g. grids = [1.0, 0.5, 0.1]
            values = self.as_list(raw)
            if not values:
                raise self.err(self.kp(where, key), "must not be an empty list")
            choices[key] = [
                self.parse_setting(
                    key,
                    v,
                    _join(self.kp(where, key), j)
                    if isinstance(raw, list) and not single
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
        axes = self.combinations(choices, sw.get("zip", []), self.kp(where, "zip"))
        return _SweepPlan(where, set(self.own), metrics, bounds, reps, axes)

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
        if v is None and key in ("steps", "nfe"):
            return _Choice(None, None)
        if key in ("steps", "n", "nfe"):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise self.err(path, f"expected an integer >= 1, got {v!r}")
            return _Choice(v, v)
        # T, delta
        if v is None and key in ("T", "delta"):
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
        from ..schemes import SCHEMES, scheme_names

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
        from ..grids import validate_grid

        table = isinstance(v, Mapping)
        if _is_times(v):
            v = {"kind": "explicit", "times": v}
        kind, opts, label = self.split_call(v, path, "kind")
        where = _join(path, "kind") if table else path
        if kind not in GRID_OPTIONS:
            raise self.err(where, f"unknown grid kind {kind!r}", GRID_OPTIONS, got=kind)
        allowed = GRID_OPTIONS[kind]
        for o in opts:
            if o not in allowed:
                raise self.err(
                    _join(path, o), f"grid {kind!r} has no option {o!r}", allowed, got=o
                )
        if kind == "explicit":
            if "times" not in opts:
                raise self.err(
                    _join(path, "times"),
                    "required: the times T = t_0 > t_1 > ... > t_N >= 0",
                )
            raw = opts["times"]
            try:
                if not _is_times(raw):
                    raise ValueError(f"expected a list of numbers, got {raw!r}")
                t = validate_grid(raw, allow_zero=True)
            except (ValueError, TypeError) as exc:
                raise self.err(
                    _join(path, "times") if table else path,
                    f"invalid explicit grid: {exc}",
                ) from None
            spec: dict[str, Any] = {"kind": kind, "times": [float(x) for x in t]}
            auto = "explicit" + _fmt(spec["times"])
            if len(t) > 6:
                auto = (
                    f"explicit(N={len(t) - 1},T={t[0]:g},end={t[-1]:g},"
                    f"#{_digest(spec['times']).hex()[:8]})"
                )
            return self.unique("grids", _Choice(label or auto, spec))
        if kind == optimized.KIND:
            try:
                spec = optimized.grid_spec(opts)
            except optimized.OptionError as exc:
                raise self.err(
                    _join(path, exc.key), str(exc), exc.allowed, got=opts.get(exc.key)
                ) from None
            return self.unique("grids", _Choice(label or _call_label(kind, opts), spec))
        for o, val in opts.items():
            if isinstance(val, bool) or not isinstance(val, (int, float)):
                raise self.err(_join(path, o), f"expected a number, got {val!r}")
            if not math.isfinite(val):
                raise self.err(_join(path, o), f"must be finite, got {val!r}")
            if o in _POSITIVE_GRID_OPTIONS and not val > 0:
                raise self.err(_join(path, o), f"must be finite and > 0, got {val!r}")
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
                check = getattr(mod, "check_options", None)
                if check is not None:
                    try:
                        check(name, opts)
                    except (ValueError, TypeError) as exc:
                        bad = [o for o in opts if o in str(exc)]
                        raise self.err(
                            _join(p, bad[0]) if bad else p,
                            f"invalid option of metric {name!r}: {exc}",
                        ) from None
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
    ) -> list[tuple[tuple[str, ...], list[tuple[_Choice, ...]]]]:
        """The axes of the product: (setting names, their rows of values)."""
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
        return axes

    def check_cell(
        self,
        cell: Mapping[str, _Choice],
        metrics: list[dict[str, Any]],
        bounds: list[dict[str, Any]],
        where: str,
        checked: set[str],
    ) -> None:
        """Check that a cell's settings fit together (grid, scheme, score error,
        metrics, bounds); ``checked`` remembers the checks already passed."""
        from ..schemes import compile_scheme
        from ..targets import Gaussian

        tch = cell["targets"]
        try:
            target, process, steps, T, delta = _cell_objects(cell)
        except _SettingError as exc:
            raise self.err(
                self.kp(where, exc.key),
                f"{exc} (target {tch.label!r}, process "
                f"{cell['processes'].label!r}, scheme {cell['schemes'].label!r}, "
                f"grid {cell['grids'].label!r})",
            ) from None
        grid_spec = cell["grids"].spec
        scheme_spec = cell["schemes"].spec
        err_spec = cell["score_errors"].spec
        desc = (
            f"target {tch.label!r}, process {cell['processes'].label!r}, "
            f"scheme {cell['schemes'].label!r}, grid {cell['grids'].label!r}, "
            f"steps {steps}, T {T:g}, delta {delta:g}"
        )
        # grid (cheap, checked per cell; an optimised grid is not optimised here)
        gkey = _canon_json([cell["processes"].spec, grid_spec, steps, T, delta])
        if grid_spec["kind"] == optimized.KIND:
            gkey = _canon_json(["optimized", _cell_spec(cell, steps, T, delta, 0)])
        if gkey not in checked:
            checked.add(gkey)
            try:
                if grid_spec["kind"] == optimized.KIND:
                    optimized.check_cell(
                        _cell_spec(cell, steps, T, delta, 0), tch.label
                    )
                else:
                    _grid_times(process, grid_spec, steps, T, delta)
            except (ValueError, TypeError) as exc:
                raise self.err(
                    self.kp(where, "grids"), f"cannot build the grid for {desc}: {exc}"
                ) from None
        if delta == 0.0:  # a grid ending at t = 0: the scheme on it, data scores
            zkey = _canon_json(["zero", tch.spec, cell["processes"].spec, grid_spec])
            zkey += _canon_json(cell["schemes"].spec)
            if zkey not in checked:
                checked.add(zkey)
                from ..schemes import check_zero_time_scores

                try:
                    times = _grid_times(process, grid_spec, steps, T, delta)
                    tab = compile_scheme(
                        scheme_spec["name"], process, times, **scheme_spec["options"]
                    )
                    check_zero_time_scores(tab, target, process)
                except (ValueError, TypeError) as exc:
                    raise self.err(
                        self.kp(where, "grids"),
                        f"scheme {cell['schemes'].label!r} cannot run on the grid "
                        f"{cell['grids'].label} ending at t = 0 ({desc}): {exc}",
                    ) from None
        # scheme on this process (checked once per pair on a small grid)
        skey = _canon_json(["scheme", cell["processes"].spec, scheme_spec, T, delta])
        if skey not in checked:
            checked.add(skey)
            try:
                from ..grids import grid

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
                D = int(target.dim) * process.m
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

    # -- plot --------------------------------------------------------------
    def parse_plot(self, plot: Any, metric_labels: Mapping[str, str]) -> dict[str, Any]:
        self.check_keys(plot, PLOT_KEYS, "plot")
        out = dict(plot)
        out.setdefault("out", f"{self.get_str(self.data, 'name', '', self.stem)}.png")
        if not isinstance(out["out"], str) or not out["out"]:
            raise self.err("plot.out", f"expected a file name, got {out['out']!r}")
        x = out.get("x", "steps")
        xs = ("steps", "nfe", "n", "delta", "T")
        if x not in xs:
            raise self.err("plot.x", f"unknown x column {x!r}", xs, got=x)
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
        if "fit_range" in out:
            fr = out["fit_range"]
            if (
                not isinstance(fr, list)
                or len(fr) != 2
                or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in fr
                )
                or not fr[0] <= fr[1]
            ):
                raise self.err(
                    "plot.fit_range",
                    f"expected [lo, hi] with lo <= hi (x values), got {fr!r}",
                )
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
