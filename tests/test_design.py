"""docs/design.md's module map names exactly the modules in the tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _listed() -> set[str]:
    text = (ROOT / "docs" / "design.md").read_text()
    block = text.split("<!-- module-map:start -->")[1]
    block = block.split("<!-- module-map:end -->")[0]
    return set(re.findall(r"^- `([^`]+)` — \S", block, flags=re.M))


def _tree() -> set[str]:
    files = set()
    for pattern in ("python/scorelab/**/*.py", "python/scorelab/*.pyi"):
        files |= {p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern)}
    for pattern in ("cpp/**/*.hpp", "cpp/**/*.cpp", "cpp/**/*.cu", "tools/*.py"):
        files |= {p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern)}
    return files


def test_module_map_matches_tree():
    listed, tree = _listed(), _tree()
    assert not tree - listed, f"modules missing from docs/design.md: {tree - listed}"
    assert not listed - tree, f"docs/design.md lists missing modules: {listed - tree}"


def test_docs_referenced_by_code_exist():
    """Docstrings point to docs/*.md files of the repository, not to outside notes."""
    for p in (ROOT / "python").rglob("*.py"):
        text = p.read_text()
        assert "DESIGN.md" not in text and "PAPERS.md" not in text, p
        for ref in re.findall(r"docs/([\w.-]+\.md)", text):
            assert (ROOT / "docs" / ref).exists(), (p, ref)
