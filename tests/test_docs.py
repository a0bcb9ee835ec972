"""Every example of the documentation runs: README and docs code blocks, the
docstrings' Examples (doctest), examples/quickstart.py; the docs' claims about
the code (each scheme's options) agree with the code."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import scorelab
from scorelab.schemes import SCHEMES

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _python_blocks() -> list[tuple[str, int, str]]:
    out = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for m in _BLOCK.finditer(text):
            line = text[: m.start()].count("\n") + 1
            out.append((path.relative_to(ROOT).as_posix(), line, m.group(1)))
    return out


BLOCKS = _python_blocks()


def test_readme_has_python_examples():
    assert any(name == "README.md" for name, _, _ in BLOCKS)


@pytest.mark.parametrize(
    "code", [b[2] for b in BLOCKS], ids=[f"{b[0]}:{b[1]}" for b in BLOCKS]
)
def test_markdown_python_blocks_run(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "<doc block>", "exec"), {"__name__": "__doc_block__"})


def _modules() -> list[str]:
    return ["scorelab"] + [
        m.name
        for m in pkgutil.walk_packages(scorelab.__path__, "scorelab.")
        if not m.name.startswith(("scorelab._core", "scorelab._cuda"))
    ]


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name, tmp_path, monkeypatch):
    """The Examples sections of every module's docstrings (doctest)."""
    monkeypatch.chdir(tmp_path)
    mod = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    for test in finder.find(mod, name):
        runner.run(test)
    res = runner.summarize(verbose=False)
    assert res.failed == 0, f"{res.failed} of {res.attempted} examples failed"


def test_sample_docstring_lists_every_schemes_options():
    """The options in sample's and exact_law's Examples are the registry's."""
    doc = scorelab.sample.__doc__ or ""
    examples = doc[doc.index("Examples") :]
    exact_doc = scorelab.exact_law.__doc__ or ""
    exact_examples = exact_doc[exact_doc.index("Examples") :]
    for name, spec in SCHEMES.items():
        if not spec.options:
            assert f"``{name}``:" not in examples
            continue
        line = re.search(
            rf"- ``{re.escape(name)}``: (.*?)(?=\n    - |\n\n)", examples, re.S
        )
        assert line is not None, name
        listed = re.findall(r"``(\w+)``", line.group(1))
        opts = [o for o in listed if o in spec.options]
        assert sorted(set(opts)) == sorted(spec.options), (name, listed)
        for o in spec.options:
            assert f"``{o}``" in exact_examples, (name, o)


# ---------------------------------------------------------------------------
# examples/quickstart.py
# ---------------------------------------------------------------------------
def _quickstart():
    spec = importlib.util.spec_from_file_location(
        "quickstart_example", ROOT / "examples" / "quickstart.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quickstart_py_is_the_toml_study():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    with open(ROOT / "examples" / "quickstart.toml", "rb") as fh:
        toml = tomllib.load(fh)
    qs = _quickstart()
    assert qs.STUDY == toml
    ours = qs.study_dict()
    assert ours["out"] != toml["out"] and ours["plot"]["out"] != toml["plot"]["out"]
    # the same cells apart from the output names
    a = scorelab.Study.from_dict(ours).tasks
    b = scorelab.Study.from_dict(toml).tasks
    assert [t.id for t in a] == [t.id for t in b]


def test_quickstart_py_runs(tmp_path):
    qs = _quickstart()
    table = qs.main(tmp_path, quick=True)
    assert (tmp_path / "quickstart_api.csv").is_file()
    assert (tmp_path / "quickstart_api.png").stat().st_size > 1000
    assert not (tmp_path / "quickstart.csv").exists()
    metrics = {(r["target"], r["metric"]) for r in table.rows}
    assert metrics == {("gaussian-10d", "w2"), ("gmm-2d-8", "sliced_w2")}


def test_build_requirements_are_pyprojects():
    """build-requirements.txt (the README's commands) = [build-system] requires
    plus CMake and Ninja, which an isolated build would add by itself."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    with open(ROOT / "pyproject.toml", "rb") as fh:
        requires = tomllib.load(fh)["build-system"]["requires"]
    lines = (ROOT / "build-requirements.txt").read_text().splitlines()
    reqs = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    assert sorted(r.replace(" ", "") for r in requires) == sorted(
        r for r in reqs if not r.startswith(("cmake", "ninja"))
    )
    assert any(r.startswith("cmake") for r in reqs) and "ninja" in reqs
    readme = (ROOT / "README.md").read_text()
    cmds = [ln[2:] for ln in readme.splitlines()[:8] if ln.startswith("$ ")]
    assert len(cmds) == 2
    for cmd in cmds:
        assert cmd.startswith("pip install -r build-requirements.txt && ")
        assert "--no-build-isolation" in cmd


def test_api_reference_lists_every_public_module():
    import pkgutil

    import scorelab

    api = (ROOT / "docs" / "api.rst").read_text()
    public = {
        m.name
        for m in pkgutil.iter_modules(scorelab.__path__)
        if not m.name.startswith("_") and m.name not in ("cli",)
    }
    missing = sorted(n for n in public if f"automodule:: scorelab.{n}\n" not in api)
    assert not missing, f"docs/api.rst lacks: {missing}"
