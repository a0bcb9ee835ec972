r"""Optimised time grids of study cells: options, checks and a per-key cache.

A study grid ``{kind = "optimized", objective = ..., metric = ..., start = ...,
maxiter = ..., fit = ...}`` is the grid :func:`scorelab.schedules.optimize_grid`
finds for the cell's own Gaussian target, process, scheme (with its options),
steps, delta, init and score error. A Gaussian mixture target needs
``fit = "moments"``: the grid is then optimised on its moment-matched Gaussian
:math:`N(\sum_k w_k \mu_k, \operatorname{Cov})` (:attr:`scorelab.Target.mean`,
:attr:`scorelab.Target.cov`) and used on the mixture itself.

The grid depends only on :func:`cache_key` (target, process, scheme, steps, T,
delta, init, score error and the grid's options; not the seed, the replicate,
the metrics or the order of the cells). It is computed once per key and
process (a dict in memory) and, when the study writes an output ``OUT``, kept
in the folder ``OUT.grids/`` as ``<sha256>.json`` (SHA-256 of the key's
canonical JSON; written atomically, read by every later run into the same
output). On Dask, the client reads that folder and computes each missing key
once (one Dask task per key) before the cells are submitted, so workers never
repeat an optimisation.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .presets import _build_error, _build_process, _build_target, _cached
from .schema import _canon_json

__all__ = [
    "DEFAULTS",
    "FITS",
    "KIND",
    "OPTIONS",
    "OptionError",
    "cache_dir_of",
    "cache_key",
    "cell_grid",
    "check_cell",
    "compute",
    "dask_prepare",
    "digest",
    "grid_spec",
    "is_optimized",
    "lookup",
    "save",
]

#: The grid kind of an optimised grid in a study file.
KIND = "optimized"
#: Ways to reduce a target that is not a Gaussian to one (``"moments"``: the
#: Gaussian with the target's mean and covariance).
FITS: tuple[str, ...] = ("moments",)


def _maxiter_default() -> int:
    from ..schedules import optimize_grid

    return int(inspect.signature(optimize_grid).parameters["maxiter"].default)


def _allowed() -> dict[str, tuple[str, ...] | None]:
    from ..grids import GRID_KINDS
    from ..schedules import METRICS, OBJECTIVES

    return {
        "objective": OBJECTIVES,
        "metric": METRICS,
        "start": (*GRID_KINDS, "best"),
        "maxiter": None,  # an integer >= 1
        "fit": FITS,
    }


#: Options of an optimised grid (the keyword arguments of
#: :func:`scorelab.schedules.optimize_grid` of the same names, and ``fit``).
OPTIONS: tuple[str, ...] = ("objective", "metric", "start", "maxiter", "fit")
#: Defaults of the options (``maxiter``: that of ``optimize_grid``; no ``fit``).
DEFAULTS: dict[str, Any] = {
    "objective": "final",
    "metric": "w2",
    "start": "best",
    "maxiter": _maxiter_default(),
}


class OptionError(ValueError):
    """A bad option of an optimised grid: ``key`` names it, ``allowed`` its values."""

    def __init__(
        self, key: str, message: str, allowed: Iterable[str] | None = None
    ) -> None:
        super().__init__(message)
        self.key = key
        self.allowed = None if allowed is None else tuple(allowed)


def grid_spec(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical spec of an optimised grid from its study-file options.

    Parameters
    ----------
    opts : mapping
        Options (:data:`OPTIONS`); missing ones take :data:`DEFAULTS`.

    Returns
    -------
    dict
        ``{"kind": "optimized", "objective", "metric", "start", "maxiter"}``
        and ``"fit"`` when given.

    Raises
    ------
    OptionError
        An unknown option or value, a ``maxiter`` that is not an integer >= 1,
        or ``metric = "kl"`` with a profile objective.
    """
    allowed = _allowed()
    for k in opts:
        if k not in allowed:
            raise OptionError(k, f"grid {KIND!r} has no option {k!r}", OPTIONS)
    spec: dict[str, Any] = {"kind": KIND, **DEFAULTS, **opts}
    for k, values in allowed.items():
        if k not in spec:
            continue
        v = spec[k]
        if values is None:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise OptionError(k, f"expected an integer >= 1, got {v!r}")
        elif v not in values:
            hint = ""
            if k == "objective" and v in allowed["metric"]:  # type: ignore[operator]
                hint = f' (the error measure is an option of its own: metric = "{v}")'
            raise OptionError(k, f"unknown {k} {v!r}{hint}", values)
    if spec["objective"] != "final" and spec["metric"] != "w2":
        raise OptionError(
            "metric",
            f"objective {spec['objective']!r} is a W2 time profile: it needs "
            f"metric = \"w2\", not {spec['metric']!r}",
            ("w2",),
        )
    return spec


def _gaussian(target_spec: Any, fit: str | None, label: str = "") -> Any:
    """The Gaussian a grid is optimised on (the target, or its moment fit)."""
    from ..targets import Gaussian

    target = _build_target(target_spec)
    if isinstance(target, Gaussian):
        return target
    if fit is None:
        name = f"target {label!r}" if label else "the target"
        raise ValueError(
            f"an optimized grid needs a Gaussian target, but {name} is a "
            f"Gaussian mixture; add fit = \"moments\" to the grid's table to "
            "optimise on the Gaussian with the mixture's mean and covariance"
        )
    return _cached(
        "moments", target_spec, lambda: Gaussian(target.mean, target.cov)
    )


def _optimize(
    spec: Mapping[str, Any], steps: int, start: str, maxiter: int,
    label: str = "",
) -> Any:
    from ..schedules import optimize_grid

    g = spec["grid"]
    target = _build_target(spec["target"])
    process = _build_process(spec["process"])
    err = _build_error(spec["score_error"], int(target.dim))
    init = None if spec["init"] == "prior" else spec["init"]
    return optimize_grid(
        _gaussian(spec["target"], g.get("fit"), label),
        process,
        spec["scheme"]["name"],
        steps,
        metric=g["metric"],
        delta=spec["delta"],
        init=init,
        score_error=err,
        start=start,
        objective=g["objective"],
        maxiter=maxiter,
        **spec["scheme"]["options"],
    )


def check_cell(spec: Mapping[str, Any], label: str = "") -> None:
    """Check, without optimising, that a cell's optimised grid can be built.

    ``spec`` is a task's settings (:attr:`scorelab.study.Task.spec`): the
    target must be a Gaussian (or ``fit`` given), ``T`` the process's, the
    ``start`` family must exist on this grid, and the objective is evaluated
    once on a one-step grid (scheme, score error and init must have an exact
    law). Raises ValueError or TypeError naming the problem.
    """
    from ..grids import grid

    process = _build_process(spec["process"])
    if spec["T"] != float(process.T):
        raise ValueError(
            f"an optimized grid starts at the process's T = {process.T:g}, not "
            f"T = {spec['T']:g}; set T in the process's table instead"
        )
    start = spec["grid"]["start"]
    if start != "best":
        grid(start, spec["steps"], process=process, delta=spec["delta"])
    try:
        _optimize(spec, 1, "uniform", 1, label)
    except (ValueError, TypeError) as exc:
        if "Gaussian target" in str(exc) and "fit" in str(exc):
            raise
        raise type(exc)(
            f"the objective of the optimized grid (an exact law on the cell's "
            f"Gaussian) cannot be evaluated: {exc}"
        ) from None


def cache_key(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What a cell's optimised grid depends on (a task's ``spec`` without
    ``n``): target, process, scheme with options, steps, T, delta, init, score
    error and the grid's options."""
    keys = ("target", "process", "scheme", "steps", "T", "delta", "init",
            "score_error", "grid")
    return {k: spec[k] for k in keys}


def digest(spec: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of :func:`cache_key` (the file name)."""
    return hashlib.sha256(_canon_json(cache_key(spec)).encode()).hexdigest()


def compute(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Optimise a cell's grid (no cache): its entry.

    Returns
    -------
    dict
        ``times`` (list of N + 1 floats, T to delta), ``start`` (the family
        it started from), ``error_before`` and ``error_after`` (the objective
        at the start and at the optimised grid, on the Gaussian it was
        optimised on).
    """
    g = spec["grid"]
    res = _optimize(spec, int(spec["steps"]), g["start"], int(g["maxiter"]))
    return {
        "times": [float(x) for x in res.grid],
        "start": str(res.start),
        "error_before": float(res.error_before),
        "error_after": float(res.error_after),
    }


#: Entries computed or read in this process, by digest.
_MEMORY: dict[str, dict[str, Any]] = {}


def _path(cache_dir: str | os.PathLike[str], key: str) -> Path:
    return Path(cache_dir) / f"{key}.json"


def lookup(
    spec: Mapping[str, Any], cache_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any] | None:
    """A cell's cached entry (memory, then ``cache_dir``), or None.

    A file that does not parse, or whose stored key differs from the cell's,
    counts as missing.
    """
    key = digest(spec)
    if key in _MEMORY:
        return _MEMORY[key]
    if cache_dir is None:
        return None
    try:
        payload = json.loads(_path(cache_dir, key).read_text())
        entry = payload["grid"]
        if payload["key"] != json.loads(_canon_json(cache_key(spec))):
            return None
        if not (isinstance(entry["times"], list) and len(entry["times"]) >= 2):
            return None
        entry = {
            "times": [float(x) for x in entry["times"]],
            "start": str(entry["start"]),
            "error_before": float(entry["error_before"]),
            "error_after": float(entry["error_after"]),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None
    _MEMORY[key] = entry
    return entry


def save(
    spec: Mapping[str, Any],
    entry: dict[str, Any],
    cache_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Keep an entry in memory and, atomically, in ``cache_dir`` if given."""
    key = digest(spec)
    _MEMORY[key] = entry
    if cache_dir is None:
        return
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{key}.{os.getpid()}.tmp"
    payload = {"key": json.loads(_canon_json(cache_key(spec))), "grid": entry}
    try:
        with open(tmp, "w") as fh:
            json.dump(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, _path(folder, key))
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def cell_grid(
    spec: Mapping[str, Any], cache_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """A cell's optimised grid entry (see :func:`compute`), cached by key.

    Parameters
    ----------
    spec : mapping
        A task's settings (:attr:`scorelab.study.Task.spec`) whose grid is
        optimised.
    cache_dir : path, optional
        Folder of the cache files (``OUT.grids`` for a study's output).
    """
    entry = lookup(spec, cache_dir)
    if entry is None:
        entry = compute(spec)
        save(spec, entry, cache_dir)
    return entry


def is_optimized(spec: Mapping[str, Any]) -> bool:
    """Whether a task's settings ask for an optimised grid."""
    return bool(spec["grid"]["kind"] == KIND)


def cache_dir_of(out: str | os.PathLike[str]) -> Path:
    """The cache folder of a study's output ``OUT``: ``OUT.grids``."""
    p = Path(out)
    return p.with_name(p.name + ".grids")


def dask_prepare(
    client: Any, specs: Iterable[Mapping[str, Any]], cache_dir: Any = None
) -> dict[str, dict[str, Any]]:
    """Entries of the distinct keys of ``specs`` (digest -> entry): cached ones
    read here, each missing one computed by one Dask task, then saved here."""
    wanted: dict[str, Mapping[str, Any]] = {}
    for s in specs:
        wanted.setdefault(digest(s), s)
    out: dict[str, dict[str, Any]] = {}
    futures = {}
    for key, s in wanted.items():
        hit = lookup(s, cache_dir)
        if hit is not None:
            out[key] = hit
        else:
            futures[key] = client.submit(
                compute, dict(s), key=f"scorelab-grid-{key[:20]}", pure=False
            )
    for key, fut in futures.items():
        out[key] = fut.result()
        save(wanted[key], out[key], cache_dir)
    return out

