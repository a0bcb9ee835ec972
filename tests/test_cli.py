"""The ``scorelab`` command: run (with SIGKILL and resume), plot, bench, info."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from scorelab.cli import main
from scorelab.plots import fit_rate
from scorelab.study import TIMING_COLUMNS, read_results

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"

SMALL = """
name = "small"
seed = 11
schemes = ["ei-sde", "ei-ode"]
steps = [4, 8, 16]
init = "exact"
metrics = ["w2", "kl"]

[targets]
g = "gaussian-3d-aniso"

[plot]
out = "small.png"
y = "w2"
"""

# 12 exact-law cells of about 0.1-0.3 s each: long enough to kill mid-run
KILL = """
name = "kill"
seed = 5
schemes = ["ei-sde", "dpm-solver++-2m"]
steps = [1000, 1100, 1200, 1300, 1400, 1500]
init = "exact"
metrics = ["w2", "kl"]

[targets]
g = "gaussian-8d-aniso"
"""


def _write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "scorelab", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def test_run_writes_table_summary_and_plot(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = _write(tmp_path, SMALL)
    assert main(["run", str(study), "--out", "r.csv", "-q"]) == 0
    out = capsys.readouterr().out
    assert "study small: target=g, dim=3" in out
    assert "steps=4" in out and "steps=16" in out
    assert "wrote r.csv (12 rows)" in out and "wrote small.png" in out
    table = read_results(tmp_path / "r.csv")
    assert len(table) == 12
    assert (tmp_path / "small.png").read_bytes()[:8] == PNG
    assert not (tmp_path / "r.csv.parts").exists()
    # a complete output: the rerun computes nothing and rewrites the same table
    assert main(["run", str(study), "--out", "r.csv", "--plot", "p2.png"]) == 0
    captured = capsys.readouterr()
    assert "resuming: 6 of 6 tasks already finished" in captured.err
    again = read_results(tmp_path / "r.csv")
    assert again.without() == table.without()  # timings included: nothing rerun
    assert (tmp_path / "p2.png").exists()


def test_default_output_and_parquet(tmp_path, capsys, monkeypatch):
    pytest.importorskip("pyarrow")
    monkeypatch.chdir(tmp_path)
    study = _write(tmp_path, SMALL)
    assert main(["run", str(study), "-q", "--no-plot"]) == 0
    assert (tmp_path / "small.csv").exists() and not (tmp_path / "small.png").exists()
    assert main(["run", str(study), "-q", "-o", "r.parquet", "--no-plot"]) == 0
    a = read_results(tmp_path / "small.csv").without(*TIMING_COLUMNS)
    assert read_results(tmp_path / "r.parquet").without(*TIMING_COLUMNS) == a


@pytest.mark.parametrize(
    ("text", "extra", "needle"),
    [
        (SMALL.replace("steps =", "stepz ="), [], "study.toml: stepz: unknown key"),
        (
            SMALL.replace('"ei-ode"', '{name = "ei-ode", eta = 1}'),
            [],
            "study.toml: schemes[1].eta: scheme 'ei-ode' has no option 'eta'",
        ),
        (
            SMALL.replace('g = "gaussian-3d-aniso"', 'g = "gmm-2d-4"'),
            [],
            "study.toml: metrics: exact metric 'w2' needs a Gaussian target",
        ),
        (SMALL.replace("seed = 11", 'seed = "11"'), [], "seed: expected an integer"),
        (SMALL.replace('y = "w2"', 'y = "W2"'), [], "plot.y: 'W2' is not computed"),
        (SMALL + "\n[oops]\n", [], "unknown key 'oops'"),
        ("name = [", [], "not valid TOML"),
        (SMALL, ["--out", "r.xlsx"], "--out: path 'r.xlsx': unknown table format"),
        (SMALL, ["--dask", "local:0"], "'local:N' (N >= 1 workers)"),
        (SMALL, ["--threads", "0"], "--threads must be >= 1"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path, capsys, monkeypatch, text, extra, needle
):
    monkeypatch.chdir(tmp_path)
    study = _write(tmp_path, text)
    args = ["run", str(study), *extra]
    if "--out" not in extra:
        args += ["--out", "r.csv"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("scorelab: error: ") and needle in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.toml"]


def test_missing_study_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: no such file" in capsys.readouterr().err


def test_dry_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = _write(tmp_path, SMALL)
    assert main(["run", str(study), "--dry-run"]) == 0
    assert "6 cells, 6 tasks" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.toml"]


def test_sigkill_mid_run_then_resume(tmp_path):
    """Kill a real `python -m scorelab run` with SIGKILL; rerun; compare."""
    study = _write(tmp_path, KILL)
    out = tmp_path / "r.csv"
    parts = tmp_path / "r.csv.parts"
    cmd = _cmd("run", str(study), "--out", str(out), "-q", "--threads", "1")
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if parts.is_dir() and len(list(parts.glob("*.json"))) >= 2:
                break
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, err  # killed, not finished
    assert not out.exists()
    finished = len(list(parts.glob("*.json")))
    assert 2 <= finished < 12
    # rerun: resumes, finishing only the remaining cells
    res = subprocess.run(
        _cmd("run", str(study), "--out", str(out), "--threads", "1"),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert f"resuming: {finished} of 12 tasks already finished" in res.stderr
    assert not parts.exists()
    resumed = read_results(out)
    # an uninterrupted run into another file
    res = subprocess.run(
        _cmd("run", str(study), "--out", "full.csv", "-q", "--threads", "1"),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    full = read_results(tmp_path / "full.csv")
    assert len(resumed) == len(full) == 24
    pairs = [(r["task"], r["metric"]) for r in resumed.rows]
    assert len(set(pairs)) == 24  # no duplicates, none lost
    assert resumed.without(*TIMING_COLUMNS) == full.without(*TIMING_COLUMNS)
    # and the same order (task order of the study)
    assert [r["task"] for r in resumed.rows] == [r["task"] for r in full.rows]


def test_plot_command(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = _write(tmp_path, SMALL)
    assert main(["run", str(study), "--out", "r.csv", "-q", "--no-plot"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "plot",
                "r.csv",
                "-o",
                "fig.png",
                "--y",
                "w2",
                "--hue",
                "scheme",
                "--where",
                "scheme=ei-sde",
                "steps=8",
                "steps=16",
            ]
        )
        == 0
    )
    assert (tmp_path / "fig.png").read_bytes()[:8] == PNG
    assert main(["plot", "r.csv", "-o", "fig.png", "--y", "w3"]) == 2
    assert "no metric 'w3'" in capsys.readouterr().err
    assert main(["plot", "missing.csv", "-o", "fig.png"]) == 2
    assert main(["plot", "r.csv", "-o", "fig.pdf", "--bound", "b"]) == 2
    assert "no bound 'b'" in capsys.readouterr().err


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    import scorelab

    assert out.startswith(f"scorelab {scorelab.__version__}\n")
    assert "threads: " in out
    assert (
        f"cuda: {'available' if scorelab.cuda_available() else 'not available'}" in out
    )
    assert "cxx: " in out and "ei-sde" in out


def test_bench(capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda n, *a: None if n == "scorelab.benchmark" else real(n, *a),
    )
    assert main(["bench"]) == 1
    assert "no benchmark module" in capsys.readouterr().err
    monkeypatch.setattr(importlib.util, "find_spec", real)
    fake = types.ModuleType("scorelab.benchmark")
    fake.__spec__ = importlib.machinery.ModuleSpec("scorelab.benchmark", None)
    seen = []
    fake.main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "scorelab.benchmark", fake)
    assert main(["bench", "--quick", "-n", "5"]) == 3
    assert seen == [["--quick", "-n", "5"]]


def test_console_script_entry_point():
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("scorelab")
    except PackageNotFoundError:
        pytest.skip("scorelab is not installed as a distribution")
    eps = [
        e
        for e in dist.entry_points  # works on Python 3.9 (no entry_points(group=))
        if e.group == "console_scripts" and e.name == "scorelab"
    ]
    if not eps:
        pytest.skip("scorelab is not installed as a distribution")
    assert eps[0].value == "scorelab.cli:main"


@pytest.mark.slow
def test_quickstart_example(tmp_path):
    """The README's main job: a table, a plot, and slopes close to -1."""
    try:
        from scorelab.metrics import sliced_w2  # noqa: F401
    except ImportError:
        pytest.skip("scorelab.metrics (empirical metrics) is not available yet")
    res = subprocess.run(
        _cmd("run", str(ROOT / "examples" / "quickstart.toml")),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "wrote quickstart.csv" in res.stdout and "wrote quickstart.png" in res.stdout
    assert (tmp_path / "quickstart.png").read_bytes()[:8] == PNG
    table = read_results(tmp_path / "quickstart.csv")
    for scheme in ("ei-sde", "ei-ode"):
        rows = table.where(target="gaussian-10d", scheme=scheme, metric="w2")
        slope, _ = fit_rate(rows["steps"], rows["estimate"])
        assert -1.15 < slope < -0.9, (scheme, slope)  # both are first order
    mc = table.where(kind="mc")
    assert len(mc) > 0 and all(r["stderr"] > 0 for r in mc.rows)
