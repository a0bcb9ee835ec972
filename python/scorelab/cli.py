"""The ``scorelab`` command: ``run``, ``plot``, ``bench`` and ``info``.

Examples
--------
Run a study (a table is printed; the plot of its ``[plot]`` section is written)::

    scorelab run examples/quickstart.toml --out quickstart.csv
    scorelab run study.toml --out results.csv --dask local:4
    scorelab run study.toml --out results.csv --no-resume -q

Plot a results table::

    scorelab plot results.csv -o fig.png --x steps --y w2 --hue scheme

Exit status: 0 on success, 2 for invalid input (bad study file or arguments;
nothing is written), 1 when a run fails.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import platform
import re
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

_OPTIONAL = ("pyarrow", "tqdm", "dask", "distributed", "ot", "sklearn", "tomli")


class _UsageError(Exception):
    """Invalid input detected before any work: exit status 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scorelab",
        description="Exact-score laboratory for diffusion-model theory.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    r = sub.add_parser("run", help="run a study file and write its result table")
    r.add_argument("study", help="study file (TOML)")
    r.add_argument(
        "--out",
        "-o",
        help="result table, .csv or .parquet (default: the study's 'out' key, "
        "else NAME.csv in the current directory)",
    )
    r.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run cells as Dask tasks: 'local', 'local:N' (a LocalCluster of N "
        "worker processes) or a scheduler address such as tcp://host:8786",
    )
    r.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip cells already finished in the output (default: on); "
        "--no-resume recomputes this study's cells (other studies' rows are kept)",
    )
    r.add_argument(
        "--overwrite",
        action="store_true",
        help="allow replacing an output that is not a scorelab table, and "
        "dropping rows of this study whose cells are no longer in it",
    )
    r.add_argument("--threads", type=int, help="CPU threads per cell")
    r.add_argument(
        "--plot", metavar="PATH", help="write the plot here (default: [plot].out)"
    )
    r.add_argument("--no-plot", action="store_true", help="do not write the plot")
    r.add_argument(
        "--max-cells",
        type=int,
        default=None,
        metavar="N",
        help="refuse a study with more than N cells (default: 1000000)",
    )
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the study and print its size; compute nothing",
    )
    r.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar or messages"
    )

    pl = sub.add_parser("plot", help="plot a result table (error vs steps, log-log)")
    pl.add_argument("results", help="result table (.csv or .parquet)")
    pl.add_argument("-o", "--out", required=True, help="figure file (.png, .pdf, ...)")
    pl.add_argument("--x", default="steps", help="abscissa column (default: steps)")
    pl.add_argument(
        "--y", nargs="+", metavar="METRIC", help="metric(s) to plot (default: all)"
    )
    pl.add_argument(
        "--hue",
        nargs="+",
        metavar="COLUMN",
        help="columns that separate curves (default: those that vary)",
    )
    pl.add_argument(
        "--bound",
        nargs="+",
        metavar="BOUND",
        help="bound labels to draw (default: all bounds in the table)",
    )
    pl.add_argument("--no-bounds", action="store_true", help="draw no bounds")
    pl.add_argument(
        "--where",
        nargs="+",
        metavar="COLUMN=VALUE",
        default=[],
        help="keep rows where COLUMN equals VALUE (repeat a column for 'or')",
    )
    pl.add_argument("--title")
    pl.add_argument("--no-fit", action="store_true", help="no fitted slopes")
    pl.add_argument("--dpi", type=int, default=150)

    # no help of its own: ``scorelab bench --help`` is the benchmark's parser's
    sub.add_parser(
        "bench",
        help="throughput table against the NumPy reference (scorelab bench --help "
        "lists its options)",
        add_help=False,
    )

    sub.add_parser("info", help="version, build options, threads, CUDA")
    return p


# ---------------------------------------------------------------------------
def _plot_kwargs(plot: dict[str, Any]) -> tuple[dict[str, Any], int]:
    from .study import PLOT_KEYS

    keys = [k for k in PLOT_KEYS if k not in ("out", "dpi")]
    return {k: plot[k] for k in keys if k in plot}, int(plot.get("dpi", 150))


def _save(fig: Any, path: str, dpi: int) -> None:
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)


def _safe_name(name: str) -> str:
    """A study name as a file name in the current folder.

    Keeps ``[A-Za-z0-9._-]`` and replaces anything else (path separators
    included) by ``_``, and leading dots too, so that the default output of a
    study named e.g. ``../../x`` stays in the working directory.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    safe = re.sub(r"^\.+", lambda m: "_" * len(m.group()), safe)
    return safe or "study"


def _cmd_run(args: argparse.Namespace) -> int:
    from .study import Study, check_writable, format_summary, table_format

    if args.max_cells is not None and args.max_cells < 1:
        raise _UsageError(f"--max-cells must be >= 1, got {args.max_cells}")
    study = Study.from_toml(
        args.study, **({} if args.max_cells is None else {"max_cells": args.max_cells})
    )
    out = args.out or study.out or f"{_safe_name(study.name)}.csv"
    try:
        suffix = table_format(out)
    except ValueError as exc:
        raise _UsageError(f"--out: {exc}") from None
    if suffix != ".csv" and importlib.util.find_spec("pyarrow") is None:
        raise _UsageError(
            f"--out {out}: Parquet output needs pyarrow, an optional extra: "
            'pip install "scorelab[parquet]" (or write a .csv file, the default)'
        )
    check_writable(out)
    if args.threads is not None and args.threads < 1:
        raise _UsageError(f"--threads must be >= 1, got {args.threads}")
    if args.dask is not None:
        from .study import check_dask

        try:
            check_dask(args.dask)
        except (ImportError, ValueError) as exc:
            raise _UsageError(str(exc)) from None
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    if args.dry_run:
        print(
            f"study {study.name} ({study.source}): {study.n_cells} cells, "
            f"{len(study)} tasks (cells x replicates); output {out}"
        )
        return 0
    log(f"scorelab: study {study.name}: {study.n_cells} cells, {len(study)} tasks")
    table = study.run(
        out,
        resume=args.resume,
        overwrite=args.overwrite,
        dask=args.dask,
        progress=False if args.quiet else None,
        threads=args.threads,
        log=log,
    )
    print(format_summary(table, study.budget))
    print(f"wrote {out} ({len(table)} rows)")
    if (study.plot is not None or args.plot) and not args.no_plot:
        from .plots import plot_convergence

        kwargs, dpi = _plot_kwargs(study.plot or {})
        path = args.plot or (study.plot or {}).get(
            "out", f"{_safe_name(study.name)}.png"
        )
        try:
            fig = plot_convergence(table, **kwargs)
            _save(fig, path, dpi)
        except (ValueError, OSError) as exc:
            print(f"scorelab: plot not written: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {path}")
    return 0


def _parse_where(items: Sequence[str]) -> dict[str, Any]:
    from .study import convert_value

    where: dict[str, list[Any]] = {}
    for item in items:
        col, sep, value = item.partition("=")
        if not sep or not col:
            raise _UsageError(f"--where: expected COLUMN=VALUE, got {item!r}")
        where.setdefault(col, []).append(convert_value(col, value))
    return where


def _cmd_plot(args: argparse.Namespace) -> int:
    from .plots import plot_convergence
    from .study import read_results

    try:
        table = read_results(args.results)
    except FileNotFoundError:
        raise _UsageError(f"{args.results}: no such file") from None
    except (ValueError, ImportError) as exc:
        raise _UsageError(str(exc)) from None
    bounds: Any = False if args.no_bounds else (args.bound or True)
    try:
        fig = plot_convergence(
            table,
            x=args.x,
            y=args.y,
            hue=args.hue,
            bounds=bounds,
            where=_parse_where(args.where),
            fit=not args.no_fit,
            title=args.title,
        )
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    _save(fig, args.out, args.dpi)
    print(f"wrote {args.out}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("scorelab.benchmark") is None:
        print(
            "scorelab bench: this installation has no benchmark module "
            "(scorelab.benchmark); from a source checkout run the benchmarks in "
            "bench/ instead, e.g. python bench/bench_ei_sde.py",
            file=sys.stderr,
        )
        return 1
    mod = importlib.import_module("scorelab.benchmark")
    rc = mod.main(list(args.args))
    return int(rc or 0)


def _version(name: str) -> str | None:
    if importlib.util.find_spec(name) is None:
        return None
    try:
        mod = importlib.import_module(name)
    except Exception:  # pragma: no cover - broken optional install
        return "broken"
    return str(getattr(mod, "__version__", "?"))


def _cuda_detail() -> str:
    """Why the CUDA backend is (not) available, for ``scorelab info``."""
    try:
        from . import _cuda  # type: ignore[attr-defined]
    except ImportError:
        return " (backend not built; SCORELAB_CUDA=ON pip install .)"
    n = int(_cuda.device_count())
    rt = _cuda.runtime_version()
    if n == 0:
        return f" (backend built, CUDA runtime {rt}; no NVIDIA driver or GPU visible)"
    return f" ({n} device(s), 0: {_cuda.device_description(0)}; CUDA runtime {rt})"


def _cmd_info(args: argparse.Namespace) -> int:
    import numpy
    import scipy

    import scorelab

    from ._runtime import default_threads

    info = scorelab.build_info()
    print(f"scorelab {info.get('version', scorelab.__version__)}")
    for k, v in info.items():
        if k != "version":
            print(f"  {k}: {v}")
    print(f"threads: {default_threads()} (CPUs available; the default for sample())")
    cuda = scorelab.cuda_available()
    print(f"cuda: {'available' if cuda else 'not available'}{_cuda_detail()}")
    print(
        f"python {platform.python_version()}, numpy {numpy.__version__}, "
        f"scipy {scipy.__version__}, matplotlib {_version('matplotlib')}"
    )
    opt = ", ".join(f"{n} {_version(n) or '-'}" for n in _OPTIONAL)
    print(f"optional: {opt}")
    print(f"schemes: {', '.join(scorelab.scheme_names())}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scorelab`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 success, 1 failure during a run, 2 invalid input.
    """
    from .study import StudyError

    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench":
        args.args = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    handler = {
        "run": _cmd_run,
        "plot": _cmd_plot,
        "bench": _cmd_bench,
        "info": _cmd_info,
    }[args.command]
    try:
        return handler(args)
    except (StudyError, _UsageError) as exc:
        print(f"scorelab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "scorelab: interrupted (rerun the same command to resume)", file=sys.stderr
        )
        return 130
    except Exception as exc:
        if args.command != "run":
            raise
        print(
            f"scorelab: run failed: {type(exc).__name__}: {exc}\n(finished cells are "
            "kept; rerun the same command to resume)",
            file=sys.stderr,
        )
        return 1
