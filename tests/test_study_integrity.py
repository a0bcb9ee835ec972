"""Result files shared by studies, resume integrity, locking and litter."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_study import _count_calls

from scorelab.cli import main
from scorelab.study import (
    TIMING_COLUMNS,
    ResultTable,
    Study,
    StudyError,
    read_results,
    run_task,
)
from scorelab.study.results import _Store


def _study(**over):
    d = {
        "name": "a",
        "seed": 7,
        "targets": {"g": "gaussian-3d-aniso"},
        "processes": ["VP"],
        "schemes": ["ei-sde", "ei-ode"],
        "steps": [5, 10],
        "init": "exact",
        "metrics": ["w2", "kl"],
    }
    d.update(over)
    return Study.from_dict(d)


def _key(table):
    return table.without(*TIMING_COLUMNS)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


# ---------------------------------------------------------------------------
# defect 1: other studies' rows and foreign files
# ---------------------------------------------------------------------------
def test_other_studies_rows_are_kept(tmp_path, monkeypatch):
    out = tmp_path / "r.csv"
    a = _study(name="a")
    b = _study(name="b", steps=[5, 20])
    a_table = a.run(out)
    a_bytes = out.read_bytes()
    b_table = b.run(out)
    both = read_results(out)
    assert both.unique("study") == ["a", "b"]
    assert _key(both.where(study="a")) == _key(a_table)
    assert _key(both.where(study="b")) == _key(b_table)
    # A's rows are untouched, byte for byte and in their order, at the top
    assert out.read_bytes().startswith(a_bytes)
    # --no-resume recomputes this study's tasks only; B's rows are kept
    calls = _count_calls(monkeypatch)
    a.run(out, resume=False)
    assert len(calls) == len(a.tasks)
    again = read_results(out)
    assert [r["study"] for r in again.rows] == [r["study"] for r in both.rows]
    assert _key(again.where(study="b")) == _key(b_table)
    # a resume of B computes nothing
    b.run(out)
    assert len(calls) == len(a.tasks)


def test_foreign_csv_is_never_replaced_without_overwrite(tmp_path, monkeypatch):
    out = tmp_path / "data.csv"
    text = "id,value\n1,2.5\n2,3.5\n"
    out.write_text(text)
    calls = _count_calls(monkeypatch)
    with pytest.raises(StudyError, match="data.csv.*not a scorelab result table"):
        _study().run(out)
    assert out.read_text() == text and not calls
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]
    table = _study().run(out, overwrite=True)
    assert _key(read_results(out)) == _key(table)


def test_cli_refuses_foreign_file_even_quiet(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(
        'name = "s"\ninit = "exact"\nsteps = [4]\nmetrics = ["w2"]\n'
        '[targets]\ng = "gaussian-2d"\n'
    )
    (tmp_path / "x.csv").write_text("id,value\n1,2\n")
    assert main(["run", "s.toml", "--out", "x.csv", "-q", "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert "x.csv" in err and "--overwrite" in err
    assert (tmp_path / "x.csv").read_text() == "id,value\n1,2\n"
    assert main(["run", "s.toml", "--out", "x.csv", "-q", "--overwrite"]) == 0
    assert read_results(tmp_path / "x.csv").unique("study") == ["s"]


def test_rows_of_removed_tasks_are_refused(tmp_path, monkeypatch):
    out = tmp_path / "r.csv"
    _study(steps=[5, 10, 20]).run(out)
    before = out.read_bytes()
    edited = _study(steps=[5, 10])
    calls = _count_calls(monkeypatch)
    with pytest.raises(StudyError) as info:
        edited.run(out)
    msg = str(info.value)
    assert "r.csv" in msg and "4 rows (2 tasks)" in msg and "--overwrite" in msg
    assert "another --out" in msg
    assert out.read_bytes() == before and not calls
    table = edited.run(out, overwrite=True)
    assert not calls  # its tasks were all finished
    assert _key(read_results(out)) == _key(table)


# ---------------------------------------------------------------------------
# defect 2: resume only trusts complete, parsing tasks
# ---------------------------------------------------------------------------
def _resume_after(tmp_path, monkeypatch, damage):
    out = tmp_path / "r.csv"
    study = _study()
    fresh = study.run(out)
    damage(out)
    calls = _count_calls(monkeypatch)
    notes: list[str] = []
    table = study.run(out, log=notes.append)
    assert _key(table) == _key(fresh)
    assert _key(read_results(out)) == _key(fresh)
    return calls, notes


def test_resume_recomputes_a_task_cut_by_one_row(tmp_path, monkeypatch):
    def cut_row(out):
        out.write_bytes(b"".join(_lines(out)[:-1]))

    calls, notes = _resume_after(tmp_path, monkeypatch, cut_row)
    assert len(calls) == 1
    assert any("recomputing 1 task whose rows in" in n for n in notes)


def test_resume_drops_a_mangled_last_row(tmp_path, monkeypatch):
    def cut_bytes(out):
        out.write_bytes(out.read_bytes()[:-5])

    calls, notes = _resume_after(tmp_path, monkeypatch, cut_bytes)
    assert len(calls) == 1
    assert any("mangled" in n for n in notes)
    assert any("recomputing 1 task" in n for n in notes)


def test_resume_recomputes_a_task_with_a_non_numeric_value(tmp_path, monkeypatch):
    def garble(out):
        lines = _lines(out)
        head = lines[0].decode().rstrip("\r\n").split(",")
        cells = lines[2].decode().rstrip("\r\n").split(",")
        cells[head.index("estimate")] = "abc"
        lines[2] = (",".join(cells) + "\r\n").encode()
        out.write_bytes(b"".join(lines))

    calls, notes = _resume_after(tmp_path, monkeypatch, garble)
    assert len(calls) == 1
    assert any("mangled" in n for n in notes)


def test_table_without_row_counts_is_recomputed(tmp_path, monkeypatch):
    def old_format(out):
        table = read_results(out)
        cols = [c for c in table.columns if c != "task_rows"]
        table.__class__(table.rows, cols).write(out)

    calls, notes = _resume_after(tmp_path, monkeypatch, old_format)
    assert len(calls) == 4
    assert any("cannot be verified" in n for n in notes)


# ---------------------------------------------------------------------------
# defect 8: the lock is released last, and a lock on a removed file is retried
# ---------------------------------------------------------------------------
def test_lock_is_released_after_cleanup(tmp_path, monkeypatch):
    pytest.importorskip("fcntl")
    out = tmp_path / "r.csv"
    task = _study().tasks[0]
    rows = run_task(task)
    first = _Store(out, "a")
    first.open(resume=True)
    second: list[_Store] = []
    real_unlink = Path.unlink

    def unlink(self, *args, **kwargs):
        # a second run starts while the first one removes its lock file
        if self.name == ".lock" and not second:
            s = _Store(out, "a")
            try:
                s.open(resume=True)
            except RuntimeError:  # refused: the first still holds the lock
                pass
            else:
                second.append(s)
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    first.close()
    monkeypatch.undo()
    if not second:  # refused above: it starts now, after the release
        s = _Store(out, "a")
        s.open(resume=True)
        second.append(s)
    s = second[0]
    s.write_part(task.id, rows)
    third = _Store(out, "a")
    with pytest.raises(RuntimeError, match="another scorelab run"):
        third.open(resume=True)
    s.close()
    assert (tmp_path / "r.csv.parts" / f"{task.id}.json").exists()
    loaded = s.load({task.id})[task.id]
    assert ResultTable(loaded).without() == ResultTable(rows).without()


def test_lock_on_a_removed_lock_file_is_retried(tmp_path, monkeypatch):
    fcntl = pytest.importorskip("fcntl")
    out = tmp_path / "r.csv"
    first = _Store(out, "a")
    first.open(resume=True)
    real_flock = fcntl.flock
    state = {"closed": False}

    def flock(fd, op):
        # the first run finishes between the second's open and its flock
        if not state["closed"] and first._lock is not None:
            state["closed"] = True
            first.close()
        return real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    second = _Store(out, "a")
    second.open(resume=True)
    monkeypatch.undo()
    assert state["closed"]
    try:
        lock = tmp_path / "r.csv.parts" / ".lock"
        assert os.fstat(second._lock.fileno()).st_ino == os.stat(lock).st_ino
        with pytest.raises(RuntimeError, match="another scorelab run"):
            _Store(out, "a").open(resume=True)
    finally:
        second.close()


def test_close_hook_runs_before_release(tmp_path, monkeypatch):
    pytest.importorskip("fcntl")
    out = tmp_path / "r.csv"
    first = _Store(out, "a")
    first.open(resume=True)
    seen = []

    def hook(self):
        s = _Store(out, "a")
        s.open(resume=True)  # the lock file is gone: a fresh one, our own lock
        seen.append(s)
        with pytest.raises(RuntimeError):
            _Store(out, "a").open(resume=True)

    monkeypatch.setattr(_Store, "_before_release", hook)
    first.close()
    monkeypatch.undo()
    assert seen and seen[0]._lock is not None
    seen[0].close()


# ---------------------------------------------------------------------------
# defect 9: stale temporary files, safe default output names
# ---------------------------------------------------------------------------
def test_stale_temp_files_of_the_output_are_removed(tmp_path):
    out = tmp_path / "r.csv"
    stale = tmp_path / ".r.csv.999999999.tmp"
    stale.write_text("half a table")
    other = tmp_path / ".other.csv.999999999.tmp"
    other.write_text("not ours")
    _study().run(out)
    assert not stale.exists() and other.exists()


def test_default_output_name_is_safe(tmp_path, monkeypatch):
    from scorelab.cli import _safe_name

    assert _safe_name("../../x") == "___.._x"
    assert _safe_name("a/b\\c d") == "a_b_c_d"
    assert _safe_name(".hidden") == "_hidden"
    assert _safe_name("ok-name_1.2") == "ok-name_1.2"
    assert _safe_name("") == "study"
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    (work / "s.toml").write_text(
        'name = "../../x"\ninit = "exact"\nsteps = [4]\nmetrics = ["w2"]\n'
        '[targets]\ng = "gaussian-2d"\n'
    )
    assert main(["run", "s.toml", "-q", "--no-plot"]) == 0
    assert sorted(p.name for p in work.iterdir()) == ["___.._x.csv", "s.toml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep"]
