"""Sphinx configuration of the scorelab documentation.

Build (warnings are errors in CI, ``.ci/run``)::

    pip install ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

At build time the gallery's examples run in small settings (``--quick``) and
write their figures into ``docs/_generated/`` (git-ignored), and the paper
figures of ``examples/papers/out/`` are copied there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"

project = "scorelab"
author = "the scorelab authors"
copyright = "the scorelab authors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated/**/*.md", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
html_theme = "furo"
html_title = "scorelab"

napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes" as fields: no second description
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
# footnotes a module's docstring defines for its own table but does not cite
# and ambiguous short names in types (the attribute `m` of Process and of CLD)
suppress_warnings = ["ref.footnote", "ref.python"]

#: Example scripts run at build time: (script, arguments); each writes its
#: figure into its --out folder.
GALLERY = [
    ("examples/quickstart.py", ["--quick"]),
    ("examples/cld_vs_ou.py", ["--quick"]),
]


def _run_gallery(app: object) -> None:
    out = GENERATED / "gallery"
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    for script, args in GALLERY:
        t0 = time.perf_counter()
        res = subprocess.run(
            [sys.executable, str(ROOT / script), "--out", str(out), *args],
            cwd=str(out),
            env=env,
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            raise RuntimeError(f"gallery: {script} failed:\n{res.stdout}{res.stderr}")
        log = out / (Path(script).stem + ".txt")
        log.write_text(res.stdout)
        print(f"gallery: {script} {' '.join(args)} ({time.perf_counter() - t0:.1f} s)")
    papers = GENERATED / "papers"
    papers.mkdir(parents=True, exist_ok=True)
    for png in sorted((ROOT / "examples" / "papers" / "out").glob("*.png")):
        shutil.copy2(png, papers / png.name)


def _optional_pages(app: object, docname: str, source: list[str]) -> None:
    """List the study-file reference in the index only when the page exists."""
    if docname == "index":
        have = (DOCS / "study-format.md").exists()
        source[0] = source[0].replace("%STUDY_FORMAT%", "study-format" if have else "")


_CITE = re.compile(r"\[(\d+)\]_")
_CITE_DEF = re.compile(r"^(\s*)\.\. \[(\d+)\]")


def _unique_citations(
    app: object, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """Numbered references ``[1]_`` / ``.. [1]`` of numpy-style docstrings are
    global on a page; make them auto-numbered footnotes named per object."""
    tag = re.sub(r"\W", "-", name)
    for i, line in enumerate(lines):
        line = _CITE.sub(lambda m: f"[#{tag}-{m.group(1)}]_", line)
        lines[i] = _CITE_DEF.sub(
            lambda m: f"{m.group(1)}.. [#{tag}-{m.group(2)}]", line
        )


def setup(app: object) -> None:
    app.connect("autodoc-process-docstring", _unique_citations)  # type: ignore[attr-defined]
    app.connect("builder-inited", _run_gallery)  # type: ignore[attr-defined]
    app.connect("source-read", _optional_pages)  # type: ignore[attr-defined]
