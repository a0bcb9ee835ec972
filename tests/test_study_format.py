"""Study format: explicit grids, nfe budgets, spectral targets, the reference,
and first-use checks of the command (bench help, output path, Parquet)."""

from __future__ import annotations

import builtins
import os
import sys
from pathlib import Path

import pytest

import scorelab as sl
from scorelab.cli import main
from scorelab.study import Study, StudyError

ROOT = Path(__file__).resolve().parents[1]

EXACT = """
name = "exact-only"
schemes = "ei-sde"
steps = [4, 8]
metrics = ["w2"]

[targets]
g = "gaussian-2d-aniso"
"""


def _write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ---------------------------------------------------------------------------
# first-use checks
# ---------------------------------------------------------------------------
def test_bench_help_lists_its_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--full", "--threads", "--repeats", "--case", "--no-peak"):
        assert opt in out


def test_sample_suggests_seed_for_a_misspelt_keyword():
    t = sl.Gaussian([0.0], [[1.0]])
    p = sl.VP()
    g = sl.grid("uniform", 4, process=p)
    with pytest.raises(TypeError, match=r"'sed'; did you mean 'seed'\?"):
        sl.sample(t, p, "ei-sde", g, 8, sed=0)
    with pytest.raises(TypeError, match="did you mean 'threads'"):
        sl.sample(t, p, "ddim", g, 8, thread=1)
    # a scheme option stays a scheme option; an unknown one is the scheme's error
    assert sl.sample(t, p, "ddim", g, 8, eta=0.5).shape == (8, 1)
    with pytest.raises(ValueError, match="does not accept option"):
        sl.sample(t, p, "ddim", g, 8, colour=1)


@pytest.mark.parametrize("where", ["under-a-file", "a-folder", "parts-is-a-file"])
def test_unwritable_out_is_refused_before_any_work(
    tmp_path, capsys, monkeypatch, where
):
    study = _write(tmp_path, EXACT)
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir.csv").mkdir()
    (tmp_path / "r.csv.parts").write_text("x")
    out = {
        "under-a-file": tmp_path / "file" / "sub" / "r.csv",
        "a-folder": tmp_path / "dir.csv",
        "parts-is-a-file": tmp_path / "r.csv",
    }[where]
    calls = []
    monkeypatch.setattr("scorelab.study.run_task", lambda t: calls.append(t))
    assert main(["run", str(study), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "cannot write the output" in err and "resume" not in err
    assert calls == []
    with pytest.raises(StudyError, match="cannot write the output"):
        Study.from_toml(study).run(out)
    assert calls == []


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root writes into read-only folders",
)
def test_read_only_folder_is_refused(tmp_path, capsys):
    study = _write(tmp_path, EXACT)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert main(["run", str(study), "--out", str(ro / "r.csv"), "-q"]) == 2
        assert "cannot create files" in capsys.readouterr().err
    finally:
        ro.chmod(0o700)


def test_n_is_not_needed_for_exact_only_studies(tmp_path):
    # no 'n' anywhere: the exact-only study runs, and records n = 0
    table = Study.from_dict({**_toml(EXACT)}).run()
    assert len(table) == 2 and set(table["n"]) == {0}


def test_parquet_without_pyarrow_is_refused_before_any_work(
    tmp_path, capsys, monkeypatch
):
    study = _write(tmp_path, EXACT)
    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError("no pyarrow")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    for mod in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    calls = []
    monkeypatch.setattr("scorelab.study.run_task", lambda t: calls.append(t))
    out = tmp_path / "r.parquet"
    assert main(["run", str(study), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert 'pip install "scorelab[parquet]"' in err and ".csv" in err
    with pytest.raises(ImportError, match=r'pip install "scorelab\[parquet\]"'):
        Study.from_toml(study).run(out)
    assert calls == [] and not out.exists()


def test_readme_commands_write_csv():
    # the default output is .csv; the README's commands do not need an extra
    text = (ROOT / "README.md").read_text()
    cmds = [ln for ln in text.splitlines() if ln.startswith("scorelab ")]
    assert cmds and not any(".parquet" in ln for ln in cmds)


def _toml(text: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)


def _rows(table):
    return {(r["scheme"], r["steps"], r["metric"]): r["estimate"] for r in table}
