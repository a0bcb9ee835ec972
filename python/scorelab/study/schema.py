"""Result-table schema, cell-text conversion, canonical hashing and StudyError."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "COLUMNS",
    "EMPIRICAL_METRICS",
    "EXACT_METRICS",
    "GRID_COLUMNS",
    "INITS",
    "LINKED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "OUTPUT_SUFFIXES",
    "REFERENCES",
    "SETTING_COLUMNS",
    "TIMING_COLUMNS",
    "StudyError",
    "convert_value",
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
    "nfe",
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
    "task_rows",
)
#: Columns appended after :data:`COLUMNS` in the table of a study with an
#: optimised grid (absent from every other table; empty in the rows of cells
#: with another grid): the grid's times (a JSON list, T to delta), the family
#: it started from, and the objective at that start and at the optimised grid
#: (on the Gaussian it was optimised on).
GRID_COLUMNS: tuple[str, ...] = (
    "grid_times",
    "grid_start",
    "grid_error_before",
    "grid_error_after",
)
#: Columns that differ between otherwise identical runs.
TIMING_COLUMNS: tuple[str, ...] = ("wall_time_s", "particle_steps_per_s")
#: Columns a result file written by an older scorelab may lack (resumable:
#: ``nfe`` is recomputed from the task, ``task_rows`` marks unverifiable rows).
OPTIONAL_COLUMNS: tuple[str, ...] = ("nfe", "task_rows")
#: Pairs of columns that determine each other within a cell's scheme: a
#: summary or plot over one must not split rows by the other.
LINKED_COLUMNS: dict[str, str] = {"steps": "nfe", "nfe": "steps"}
_INT_COLUMNS = frozenset({"dim", "steps", "nfe", "n", "replicate", "seed", "task_rows"})
_FLOAT_COLUMNS = frozenset(
    {"T", "delta", "estimate", "stderr", "wall_time_s", "particle_steps_per_s"}
    | {"grid_error_before", "grid_error_after"}
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


# ---------------------------------------------------------------------------
# canonical JSON and hashing
# ---------------------------------------------------------------------------
#: Largest magnitude up to which every integer is an exact float.
_EXACT_FLOAT_INT = 2**53


def _canon(obj: Any) -> Any:
    """JSON-able canonical form: sorted dicts, lists, numbers as floats.

    A number is the same value whatever its type (``1`` and ``1.0`` are one
    number), encoded as a float; an integer beyond ``2**53`` in magnitude, which
    a float cannot hold exactly, is encoded exactly as ``{"__int__": "digits"}``
    (so ``2**60`` and ``2**60 + 1`` differ, and smaller integers keep the
    encoding, hence the task ids, they always had). Booleans stay booleans and
    strings stay strings (``1``, ``True`` and ``"1"`` all differ).
    """
    if isinstance(obj, Mapping):
        if "__int__" in obj:
            raise TypeError("'__int__' is a reserved key")
        return {str(k): _canon(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, np.ndarray):
        return _canon(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [_canon(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, numbers.Integral):
        v = int(obj)
        if abs(v) <= _EXACT_FLOAT_INT:
            return float(v)
        return {"__int__": str(v)}
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


def _typename(v: Any) -> str:
    names: dict[type, str] = {dict: "a table", list: "a list", str: "a string"}
    return names.get(type(v), type(v).__name__)


def _as_float(s: str) -> float:
    return float(s) if s != "" else math.nan


def convert_value(col: str, s: str) -> Any:
    """The text of a CSV cell as a value of column ``col``.

    Parameters
    ----------
    col : str
        Column name: float and integer columns of :data:`COLUMNS` get their type
        (an empty cell is NaN, or None for integers), other known columns stay
        text, unknown columns become an int or float when they parse as one.
    s : str
        The cell's text.

    Returns
    -------
    int, float, str or None
    """
    if col in _FLOAT_COLUMNS:
        return _as_float(s)
    if col in _INT_COLUMNS:
        return int(s) if s != "" else None
    if col in COLUMNS or col in GRID_COLUMNS:
        return s
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    return s
