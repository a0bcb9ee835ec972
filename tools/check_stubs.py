"""Check (or rewrite) the committed stubs of scorelab's compiled modules.

The stubs ``python/scorelab/_core.pyi`` and ``_cuda.pyi`` are generated from the
built modules by pybind11-stubgen, then normalised: build-dependent values
(``__version__``, ``build_info``) are dropped, the text is formatted by
``ruff format`` (the project's settings) and a header names this script. The
check regenerates each stub from the module that ``import scorelab`` finds and
compares it with the committed file, printing a diff and exiting 1 on a mismatch.

``_cuda`` is checked only when it is importable (a ``SCORELAB_CUDA=ON`` build; no GPU
is needed), unless ``--require-cuda`` is given.

Usage::

    python tools/check_stubs.py                 # check
    python tools/check_stubs.py --write         # regenerate the committed stubs
    python tools/check_stubs.py --require-cuda  # fail if scorelab._cuda is missing
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["generate", "main", "normalise"]

ROOT = Path(__file__).resolve().parent.parent
HEADER = (
    "# Stubs of scorelab.{name}, generated from the built module by pybind11-stubgen\n"
    "# and normalised by tools/check_stubs.py (run it with --write after changing the\n"
    "# bindings; CI checks that this file is up to date). Do not edit by hand.\n"
)
# values that depend on the build, not on the interface
_BUILD_VALUES = re.compile(r"^((?:__version__|build_info): str) = .*$", re.MULTILINE)


def _ruff(args: list[str], text: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", "stub.pyi"],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout


def normalise(name: str, text: str) -> str:
    """The committed form of a generated stub: no build values, ruff-formatted."""
    text = _BUILD_VALUES.sub(r"\1", text)
    text = _ruff(["check", "--fix-only", "--select", "I"], text)  # sort imports
    return HEADER.format(name=name) + _ruff(["format"], text)


def generate(name: str) -> str:
    """The stub of ``scorelab.<name>`` generated from the importable module."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pybind11_stubgen",
                f"scorelab.{name}",
                "--exit-code",
                "-o",
                out,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return (Path(out) / "scorelab" / f"{name}.pyi").read_text()


def _importable(name: str) -> bool:
    try:
        importlib.import_module(f"scorelab.{name}")
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Check or write the stubs; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite the stubs")
    ap.add_argument(
        "--require-cuda", action="store_true", help="fail if scorelab._cuda is missing"
    )
    args = ap.parse_args(argv)
    pkg = Path(importlib.import_module("scorelab").__file__ or "").parent
    print(f"check_stubs: modules from {pkg}")
    status = 0
    for name in ("_core", "_cuda"):
        if not _importable(name):
            if name == "_core" or args.require_cuda:
                print(f"check_stubs: scorelab.{name} not importable", file=sys.stderr)
                status = 1
            else:
                print(f"check_stubs: scorelab.{name} not built; stub not checked")
            continue
        try:
            want = normalise(name, generate(name))
        except subprocess.CalledProcessError as exc:
            print(f"check_stubs: {exc.cmd[2:4]} failed:\n{exc.stderr}", file=sys.stderr)
            return 1
        path = ROOT / "python" / "scorelab" / f"{name}.pyi"
        have = path.read_text() if path.exists() else ""
        if have == want:
            print(f"check_stubs: {path.relative_to(ROOT)} is up to date")
        elif args.write:
            path.write_text(want)
            print(f"check_stubs: wrote {path.relative_to(ROOT)}")
        else:
            rel = str(path.relative_to(ROOT))
            sys.stdout.writelines(
                difflib.unified_diff(
                    have.splitlines(keepends=True),
                    want.splitlines(keepends=True),
                    rel + " (committed)",
                    rel + " (generated)",
                )
            )
            print(
                f"check_stubs: {rel} is out of date; run "
                "`python tools/check_stubs.py --write`",
                file=sys.stderr,
            )
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
