"""ResultTable, its CSV/Parquet I/O and aggregation, and the resumable result store."""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from .schema import (
    _FLOAT_COLUMNS,
    _INT_COLUMNS,
    COLUMNS,
    GRID_COLUMNS,
    LINKED_COLUMNS,
    OPTIONAL_COLUMNS,
    OUTPUT_SUFFIXES,
    SETTING_COLUMNS,
    StudyError,
    convert_value,
)

__all__ = [
    "ResultTable",
    "aggregate",
    "check_writable",
    "format_summary",
    "read_results",
    "table_format",
    "write_results",
]


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

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ResultTable:
        """Read a table written by a study (same as :func:`read_results`)."""
        return read_results(path)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the table atomically (same as :func:`write_results`)."""
        write_results(self, path)

    def aggregate(self, by: Sequence[str]) -> list[dict[str, Any]]:
        """Average replicates per group of ``by`` columns (see :func:`aggregate`)."""
        return aggregate(self, by)

    def format_summary(self, columns: str = "steps", terms: bool = False) -> str:
        """Readable pivot of the table (see :func:`format_summary`)."""
        return format_summary(self, columns, terms)


def table_format(path: str | os.PathLike[str]) -> str:
    """The table format of a path: its suffix, one of :data:`OUTPUT_SUFFIXES`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    str
        ``".csv"``, ``".parquet"`` or ``".pq"`` (lower case).

    Raises
    ------
    ValueError
        Any other suffix.
    """
    suf = Path(path).suffix.lower()
    if suf not in OUTPUT_SUFFIXES:
        raise ValueError(
            f"path {str(path)!r}: unknown table format; use one of "
            + ", ".join(OUTPUT_SUFFIXES)
        )
    return suf


def check_writable(path: str | os.PathLike[str]) -> None:
    """Refuse, before any work, an output path that cannot be written.

    The output (and its ``OUT.parts/`` folder) must not be a folder (resp. a
    file), the nearest existing folder above it must be a folder in which a
    file can be created (tested by creating and removing an empty temporary
    file there), and an existing output must be writable.

    Parameters
    ----------
    path : str or path-like

    Raises
    ------
    StudyError
        Naming the path and the reason.
    """
    import tempfile

    out = Path(os.path.abspath(path))
    parts = out.with_name(out.name + ".parts")

    def refuse(why: str) -> StudyError:
        return StudyError(str(path), "", f"cannot write the output: {why}")

    if out.is_dir():
        raise refuse(f"{out} is a folder")
    if parts.exists() and not parts.is_dir():
        raise refuse(f"{parts} (the folder of finished parts) is a file")
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise refuse(
            f"{folder} is a file, so the folder {out.parent} cannot be created"
        )
    if out.exists() and not os.access(out, os.W_OK):
        raise refuse(f"{out} is not writable")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".scorelab-probe-"):
            pass
    except OSError as exc:
        raise refuse(f"cannot create files in {folder} ({exc.strerror})") from None


def _need_pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(
            "Parquet output needs pyarrow, an optional extra: pip install "
            '"scorelab[parquet]" (or write a .csv file, the default)'
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
    if table_format(path) == ".csv":
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            cols = list(reader.fieldnames or [])
            rows = [{c: convert_value(c, r[c]) for c in cols} for r in reader]
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
    suf = table_format(path)
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


def _study_row(r: Mapping[str, Any], strict: bool = False) -> dict[str, Any]:
    """A stored row of this study: the :data:`COLUMNS` (``strict``: each one
    present, except :data:`OPTIONAL_COLUMNS`), then the :data:`GRID_COLUMNS`
    that hold a value (empty cells, None and NaN are left out, as in the rows
    :func:`~scorelab.study.run_task` returns)."""
    out = {
        c: r[c] if strict and c not in OPTIONAL_COLUMNS else r.get(c) for c in COLUMNS
    }
    for c in GRID_COLUMNS:
        v = r.get(c)
        if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
            continue
        out[c] = v
    return out


class _NotATable(Exception):
    """A file at the output path that is not a scorelab result table."""


#: Columns a file must have to count as a scorelab result table (those of
#: :data:`OPTIONAL_COLUMNS` are absent from tables written before they existed).
_REQUIRED = tuple(c for c in COLUMNS if c not in OPTIONAL_COLUMNS)


def _check_columns(columns: Sequence[str]) -> None:
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise _NotATable(
            "it is not a scorelab result table (missing columns: "
            + ", ".join(missing[:5])
            + (", ..." if len(missing) > 5 else "")
            + ")"
        )


def _scan_table(path: Path) -> tuple[list[str], list[dict[str, Any]], int]:
    """Columns, the rows that parse, and the number of mangled rows of a table.

    A CSV row is mangled when it has the wrong number of fields, a value that
    does not convert to its column's type, or (the last line) no line
    terminator. Raises :class:`_NotATable` for a file without the columns of a
    result table, or one that cannot be read at all.
    """
    if table_format(path) != ".csv":
        try:
            table = read_results(path)
        except Exception as exc:
            raise _NotATable(f"it cannot be read as a table ({exc})") from None
        _check_columns(table.columns)
        return table.columns, table.rows, 0
    data = path.read_bytes()
    if not data:
        return list(COLUMNS), [], 0
    mangled = 0
    if not data.endswith(b"\n"):  # cut short: the last line is incomplete
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            raise _NotATable("it has no complete header line")
        data, mangled = data[:cut], 1
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _NotATable("it is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        columns = next(reader)
        records = list(reader)
    except (StopIteration, csv.Error) as exc:
        raise _NotATable(f"it cannot be read as CSV ({exc})") from None
    _check_columns(columns)
    rows = []
    for rec in records:
        if len(rec) != len(columns):
            mangled += 1
            continue
        try:
            rows.append({c: convert_value(c, v) for c, v in zip(columns, rec)})
        except ValueError:
            mangled += 1
    return columns, rows, mangled


class _Store:
    """Part files of finished tasks next to the output, and the final table.

    The output may hold the rows of several studies (column ``study``): only
    the rows of ``study`` are replaced; the others are written back unchanged,
    in their order. One writer at a time: an exclusive lock on
    ``OUT.parts/.lock``.
    """

    #: attempts to lock a lock file that is still the one at its path
    _LOCK_TRIES = 50

    def __init__(self, out: Path, study: str = "", overwrite: bool = False) -> None:
        self.out = out
        self.study = study
        self.overwrite = overwrite
        self.parts = out.with_name(out.name + ".parts")
        self._lock: IO[str] | None = None
        self.dropped = 0
        self.notes: list[str] = []
        self.columns: list[str] = list(COLUMNS)
        self.others: list[dict[str, Any]] = []
        self.position = 0
        self.replace_file = False
        self._wanted: set[str] = set()

    # -- locking -----------------------------------------------------------
    def open(self, resume: bool = True) -> None:
        """Take the lock and remove stale temporary files of this output.

        ``resume`` is kept for compatibility: what a fresh start discards is
        decided by :meth:`load`.
        """
        self.out.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.parts / ".lock"
        for _ in range(self._LOCK_TRIES):
            self.parts.mkdir(exist_ok=True)
            try:
                fh = open(lock_path, "w")
            except FileNotFoundError:  # the folder went away meanwhile
                continue
            try:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:  # pragma: no cover - not POSIX
                pass
            except OSError:
                fh.close()
                raise RuntimeError(
                    f"another scorelab run is writing to {self.out} (lock held on "
                    f"{lock_path})"
                ) from None
            # the previous holder may have removed the file between our open
            # and our lock: then we hold a lock nobody else can see; retry
            st = os.fstat(fh.fileno())
            try:
                cur = os.stat(lock_path)
            except FileNotFoundError:
                fh.close()
                continue
            if (st.st_ino, st.st_dev) != (cur.st_ino, cur.st_dev):
                fh.close()
                continue
            self._lock = fh
            break
        else:  # pragma: no cover - a lock file replaced over and over
            raise RuntimeError(f"could not lock {lock_path}")
        for p in self.parts.glob(".*.tmp"):
            p.unlink(missing_ok=True)
        # temporary files of a final write killed before its os.replace: with
        # the lock held no other run of this output is writing one
        for p in self.out.parent.glob(f".{glob.escape(self.out.name)}.*.tmp"):
            p.unlink(missing_ok=True)

    def _before_release(self) -> None:
        """Hook between the clean-up and the release of the lock (tests)."""

    def close(self) -> None:
        """Remove the parts folder if it holds no parts; then release the lock.

        The lock is released last, so that no other run can lock a lock file
        that is about to be removed.
        """
        if self._lock is None:
            return
        try:
            if not any(self.parts.glob("*.json")):
                (self.parts / ".lock").unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    self.parts.rmdir()
            self._before_release()
        finally:
            self._lock.close()
            self._lock = None

    # -- reading -----------------------------------------------------------
    def _refuse(self, message: str) -> StudyError:
        return StudyError(str(self.out), "", message)

    def load(
        self, wanted: set[str], resume: bool = True
    ) -> dict[str, list[dict[str, Any]]]:
        """Rows of finished tasks (from the output, then the part files).

        Also keeps the rows of other studies for :meth:`finish`. Raises
        :class:`StudyError` (before any work) for an output that is not a
        result table, or that holds rows of this study whose tasks are not in
        it, unless ``overwrite``.
        """
        self._wanted = set(wanted)
        self.notes = []
        self.dropped = 0
        self.others = []
        self.position = 0
        self.replace_file = False
        mine: dict[str, list[dict[str, Any]]] = {}
        if self.out.exists():
            try:
                columns, rows, mangled = _scan_table(self.out)
            except _NotATable as exc:
                if not self.overwrite:
                    raise self._refuse(
                        f"{exc}; refusing to replace it (use --overwrite, or "
                        "overwrite=True, to replace it, or choose another --out)"
                    ) from None
                self.notes.append(f"{self.out}: {exc}; replacing it (--overwrite)")
                self.replace_file = True
                columns, rows, mangled = list(COLUMNS), [], 0
            self.columns = [*COLUMNS, *(c for c in columns if c not in COLUMNS)]
            if mangled:
                self.notes.append(
                    f"{self.out}: dropping {mangled} mangled row"
                    f"{'s' if mangled != 1 else ''} (cut short or not parsing)"
                )
            stale = 0
            stale_tasks: set[Any] = set()
            for r in rows:
                if r.get("study") != self.study:
                    self.others.append(r)
                elif r.get("task") in wanted:
                    if not mine:
                        self.position = len(self.others)
                    mine.setdefault(r["task"], []).append(r)
                else:
                    stale += 1
                    stale_tasks.add(r.get("task"))
            if stale:
                if not self.overwrite:
                    raise self._refuse(
                        f"{stale} rows ({len(stale_tasks)} tasks) of study "
                        f"{self.study!r} belong to tasks that are not in this "
                        "study (was the study file "
                        "edited?); use --overwrite (overwrite=True) to drop them, "
                        "or another --out"
                    )
                self.dropped = stale
                self.notes.append(
                    f"{self.out}: dropping {stale} rows of study {self.study!r} "
                    "whose tasks are not in this study (--overwrite)"
                )
            if not mine:
                self.position = len(self.others)
        done: dict[str, list[dict[str, Any]]] = {}
        if resume:
            incomplete = unverifiable = 0
            for tid, rs in mine.items():
                counts = {r.get("task_rows") for r in rs}
                if counts == {len(rs)}:
                    done[tid] = [_study_row(r) for r in rs]
                elif None in counts:
                    unverifiable += 1
                else:
                    incomplete += 1
            if incomplete:
                self.notes.append(
                    f"recomputing {incomplete} task"
                    f"{'s' if incomplete != 1 else ''} whose rows in {self.out} "
                    "are incomplete"
                )
            if unverifiable:
                self.notes.append(
                    f"recomputing {unverifiable} task"
                    f"{'s' if unverifiable != 1 else ''} whose rows in {self.out} "
                    "have no row count (written by an older scorelab) and cannot "
                    "be verified"
                )
        for p in sorted(self.parts.glob("*.json")):
            try:
                payload = json.loads(p.read_text())
                tid = payload["task"]
                rows_ = payload["rows"]
                if p.stem != tid or not isinstance(rows_, list) or not rows_:
                    raise ValueError("inconsistent part file")
                rows_ = [_study_row(r, strict=True) for r in rows_]
                if any(r["task_rows"] != len(rows_) for r in rows_):
                    raise ValueError("incomplete part file")
            except Exception:
                p.unlink(missing_ok=True)  # a corrupted part: recompute the task
                continue
            if rows_[0]["study"] != self.study:
                continue  # another study's part: not ours to judge
            if tid not in wanted or not resume:
                p.unlink(missing_ok=True)  # stale, or a fresh start
                continue
            done[tid] = rows_
        return done

    # -- writing -----------------------------------------------------------
    def write_part(self, task_id: str, rows: list[dict[str, Any]]) -> None:
        path = self.parts / f"{task_id}.json"
        tmp = self.parts / f".{task_id}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump({"task": task_id, "rows": rows}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def finish(self, table: ResultTable) -> None:
        """Write the other studies' rows with this study's, then clean up."""
        rows = [
            *self.others[: self.position],
            *table.rows,
            *self.others[self.position :],
        ]
        columns = [*self.columns, *(c for c in table.columns if c not in self.columns)]
        write_results(ResultTable(rows, columns), self.out)
        for tid in self._wanted:
            (self.parts / f"{tid}.json").unlink(missing_ok=True)
        self.close()


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
        Column whose values become the table's columns (``"nfe"``: score
        evaluations; its linked column, e.g. ``steps`` for ``nfe``, is then not
        a row key, see :data:`LINKED_COLUMNS`).
    terms : bool, default False
        Also show the named terms of bounds (rows of kind ``"bound_term"``).
    """
    if not terms:
        table = table.where(kind=["exact", "mc", "bound"])
    if not len(table):
        return "(no rows)"
    settings = [
        c for c in SETTING_COLUMNS if c not in (columns, LINKED_COLUMNS.get(columns))
    ]
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
