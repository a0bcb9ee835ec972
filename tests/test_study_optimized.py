"""Study files: optimised time grids (a grid kind, cached per key, recorded in
the rows) and the keyword options of the named grid kinds (``ays``'s ``c``)."""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import numpy as np
import pytest

import scorelab as sl
from scorelab import schedules
from scorelab.grids import GRID_KIND_OPTIONS, GRID_KINDS
from scorelab.metrics_gaussian import w2_gaussian
from scorelab.study import (
    COLUMNS,
    TIMING_COLUMNS,
    Study,
    StudyError,
    read_results,
    run_task,
)
from scorelab.study import optimized as opt
from scorelab.study.parse import GRID_OPTIONS
from scorelab.study.presets import make_target
from scorelab.study.schema import GRID_COLUMNS

MAXITER = 4


def _study(grids, target="gaussian-2d-aniso", **extra):
    d = {
        "name": "opt",
        "schemes": "ddim",
        "grids": grids,
        "steps": 4,
        "metrics": ["w2"],
        "targets": {"g": target},
    }
    d.update(extra)
    return Study.from_dict(d)


@pytest.fixture(autouse=True)
def _fresh_memory():
    opt._MEMORY.clear()
    yield
    opt._MEMORY.clear()


def _counting(monkeypatch):
    calls = []
    real = schedules.optimize_grid

    def counted(*args, **kwargs):
        calls.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(schedules, "optimize_grid", counted)
    return calls


def test_row_is_optimize_grid_and_never_worse_than_a_family(tmp_path):
    study = _study([*GRID_KINDS, {"kind": "optimized", "maxiter": MAXITER}])
    table = study.run(tmp_path / "r.csv")
    assert table.columns == [*COLUMNS, *GRID_COLUMNS]
    # the oracle: optimize_grid itself on the same Gaussian, process and scheme
    target = make_target("gaussian-2d-aniso")
    res = schedules.optimize_grid(
        target, sl.VP(), "ddim", 4, delta=1e-3, start="best", maxiter=MAXITER
    )
    (row,) = table.where(grid=f"optimized(maxiter={MAXITER})").rows
    assert row["estimate"] == pytest.approx(res.error_after, rel=1e-12)
    assert row["grid_error_after"] == pytest.approx(res.error_after, rel=1e-12)
    assert row["grid_error_before"] == pytest.approx(res.error_before, rel=1e-12)
    assert row["grid_start"] == res.start
    np.testing.assert_array_equal(json.loads(row["grid_times"]), res.grid)
    # every family's row is optimize_grid's error of that family (an
    # independent route: the study's exact law on the family's grid)
    families = {r["grid"]: r["estimate"] for r in table.rows if r["grid"] in GRID_KINDS}
    assert set(families) == set(res.family_errors)
    for kind, w2 in families.items():
        assert w2 == pytest.approx(res.family_errors[kind], rel=1e-12)
    assert row["estimate"] <= min(families.values())
    assert res.error_after < res.error_before  # the optimiser moved
    # rows of the other grids leave the grid columns empty
    other = next(r for r in table.rows if r["grid"] == "uniform")
    assert all(c not in other for c in GRID_COLUMNS)
    back = read_results(tmp_path / "r.csv")
    assert math.isnan(back.where(grid="uniform").rows[0]["grid_error_after"])


def test_second_run_reads_the_cache_file(tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    grids = ["logsnr", {"kind": "optimized", "maxiter": MAXITER}]
    out = tmp_path / "r.csv"
    first = _study(grids).run(out)
    assert calls == [1, 4]  # the parse-time check (one step), the optimisation
    files = list((tmp_path / "r.csv.grids").glob("*.json"))
    assert len(files) == 1
    spec = next(t.spec for t in _study(grids).tasks if opt.is_optimized(t.spec))
    assert files[0].name == f"{opt.digest(spec)}.json"
    payload = json.loads(files[0].read_text())
    assert payload["key"]["steps"] == 4 and len(payload["grid"]["times"]) == 5
    # a fresh process (empty memory) recomputing every task: no optimisation
    opt._MEMORY.clear()
    calls.clear()
    again = _study(grids).run(out, resume=False)
    assert calls == [1]  # only the parse-time check
    assert again.without(*TIMING_COLUMNS) == first.without(*TIMING_COLUMNS)
    # the key, not the order, seed or metrics, selects the grid
    opt._MEMORY.clear()
    calls.clear()
    _study(grids[::-1], seed=7, metrics=["w2", "kl"]).run(out, overwrite=True)
    assert calls == [1]
    # another key (steps) is optimised once
    calls.clear()
    _study(grids, steps=[4, 5]).run(out, overwrite=True)
    assert calls == [1, 1, 5]


def test_resumed_table_equals_a_fresh_one(tmp_path):
    grids = ["logsnr", {"kind": "optimized", "maxiter": MAXITER}]
    fresh = _study(grids, steps=[3, 4]).run(tmp_path / "a.csv")
    out = tmp_path / "b.csv"
    _study(grids, steps=[3, 4]).run(out)
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:-2]))  # drop the last two rows
    resumed = _study(grids, steps=[3, 4]).run(out)
    assert resumed.without(*TIMING_COLUMNS) == fresh.without(*TIMING_COLUMNS)
    head = (tmp_path / "a.csv").read_text().splitlines()
    tail = out.read_text().splitlines()
    drop = [head[0].split(",").index(c) for c in TIMING_COLUMNS]

    def strip(lines_):
        return [
            [v for i, v in enumerate(ln.split(",")) if i not in drop] for ln in lines_
        ]

    # same text too, e.g. empty (not "nan") grid columns in other grids' rows
    assert sorted(map(tuple, strip(tail))) == sorted(map(tuple, strip(head)))


def test_no_optimised_grid_no_new_columns(tmp_path):
    table = _study(["logsnr", {"kind": "ays", "c": 0.5}]).run(tmp_path / "r.csv")
    assert table.columns == list(COLUMNS)
    header = (tmp_path / "r.csv").read_text().splitlines()[0]
    assert header == ",".join(COLUMNS)
    assert not (tmp_path / "r.csv.grids").exists()


def test_dask_client_optimises_each_key_once(tmp_path, monkeypatch):
    from scorelab.study import _with_grids

    class Future:
        def __init__(self, value):
            self.value = value

        def result(self):
            return self.value

    class Client:
        def __init__(self):
            self.keys = []

        def submit(self, fn, *args, key, pure):
            self.keys.append(key)
            return Future(fn(*args))

    study = _study(
        [{"kind": "optimized", "maxiter": MAXITER}],
        metrics=[{"name": "sliced_w2", "n_projections": 8}],
        n=64,
        replicates=3,
    )
    tasks = study.tasks
    assert len(tasks) == 3  # three replicates of one cell
    client = Client()
    ready = _with_grids(client, tasks, tmp_path / "g")
    assert len(client.keys) == 1 and all(t.optimized is not None for t in ready)
    # a worker's run_task never optimises: it uses the entry it was given
    monkeypatch.setattr(schedules, "optimize_grid", None)
    rows = run_task(ready[1])
    assert rows[0]["grid_times"] == json.dumps(ready[0].optimized["times"])
    # a second client finds the key in the folder
    opt._MEMORY.clear()
    client2 = Client()
    again = _with_grids(client2, tasks, tmp_path / "g")
    assert client2.keys == [] and again[0].optimized == ready[0].optimized


def test_mixture_needs_fit_and_uses_its_moment_gaussian(tmp_path):
    mc = [{"name": "sliced_w2", "n_projections": 8}]
    with pytest.raises(StudyError, match=r'grids.*fit = "moments"'):
        _study([{"kind": "optimized"}], target="gmm-2d-4", metrics=mc, n=64)
    grid = {"kind": "optimized", "fit": "moments", "maxiter": MAXITER}
    table = _study([grid], target="gmm-2d-4", metrics=mc, n=64).run()
    mix = make_target("gmm-2d-4")
    gauss = sl.Gaussian(mix.mean, mix.cov)
    res = schedules.optimize_grid(gauss, sl.VP(), "ddim", 4, start="best",
                                  maxiter=MAXITER)
    row = table.rows[0]
    np.testing.assert_array_equal(json.loads(row["grid_times"]), res.grid)
    assert row["grid_error_after"] == pytest.approx(res.error_after, rel=1e-12)
    # fit on a Gaussian target is its own moments: the same grid as without
    a = _study([{"kind": "optimized", "maxiter": MAXITER}]).run().rows[0]
    b = _study([{**grid}]).run().rows[0]
    assert a["grid_times"] == b["grid_times"]


@pytest.mark.parametrize(
    ("grid", "key", "match"),
    [
        ({"objective": "w2"}, "grids[0].objective", "unknown objective"),
        ({"metric": "tv"}, "grids[0].metric", "unknown metric"),
        ({"objective": "profile", "metric": "kl"}, "grids[0].metric", "needs"),
        ({"start": "karas"}, "grids[0].start", "did you mean 'karras'"),
        ({"maxiter": 0}, "grids[0].maxiter", "integer >= 1"),
        ({"maxiter": 2.5}, "grids[0].maxiter", "integer >= 1"),
        ({"maxiter": True}, "grids[0].maxiter", "integer >= 1"),
        ({"fit": "mean"}, "grids[0].fit", "unknown fit"),
        ({"tol": 1e-3}, "grids[0].tol", "no option 'tol'"),
    ],
)
def test_bad_options_are_refused_at_parse_time(grid, key, match):
    with pytest.raises(StudyError, match=match) as exc:
        _study([{"kind": "optimized", **grid}])
    assert exc.value.key == key


def test_cell_checks(monkeypatch):
    with pytest.raises(StudyError, match="starts at the process's T"):
        _study([{"kind": "optimized"}], T=0.5)
    # a start family that cannot make this grid (exponential needs steps > T)
    with pytest.raises(StudyError, match="exponential"):
        _study([{"kind": "optimized", "start": "exponential"}],
               processes=[{"name": "VP", "T": 6.0}])
    # an empirical metric with a non-affine score error is fine elsewhere, but
    # the optimised grid needs an exact law
    with pytest.raises(StudyError, match="grids"):
        _study(
            [{"kind": "optimized"}],
            score_errors=[{"name": "Misspecified", "other": "gmm-2d-4"}],
            metrics=[{"name": "sliced_w2", "n_projections": 8}],
            n=64,
        )
    # parsing never optimises: one one-step check per cell
    calls = _counting(monkeypatch)
    _study([{"kind": "optimized"}], steps=[4, 8, 16])
    assert calls == [1, 1, 1]


def _exact_w2(kind, **opts):
    """The exact W2 of ``_study``'s cell (ddim, 4 steps, VP) on ``grid(kind)``."""
    g = sl.grid(kind, 4, process=sl.VP(), **opts)
    target = make_target("gaussian-2d-aniso")
    law = sl.exact_law(target, sl.VP(), "ddim", g)
    return w2_gaussian(law, target.noised(sl.VP(), 1e-3))


def test_ays_c_in_a_study(tmp_path):
    table = _study(["ays", {"kind": "ays", "c": 0.5}]).run()
    row = table.where(grid="ays(c=0.5)").rows[0]
    assert row["estimate"] == pytest.approx(_exact_w2("ays", c=0.5), rel=1e-12)
    assert row["estimate"] != table.where(grid="ays").rows[0]["estimate"]
    with pytest.raises(StudyError, match="> 0"):
        _study([{"kind": "ays", "c": -1}])
    with pytest.raises(StudyError, match="no option 'c'"):
        _study([{"kind": "karras", "c": 1}])


def test_beta_a_a_in_a_study():
    table = _study([{"kind": "beta_a", "a": 5.0}]).run()
    row = table.where(grid="beta_a(a=5)").rows[0]
    assert row["estimate"] == pytest.approx(_exact_w2("beta_a", a=5.0), rel=1e-12)
    with pytest.raises(StudyError, match=r"\|a\| <= 100"):
        _study([{"kind": "beta_a", "a": 500.0}]).run()


def test_grid_options_come_from_the_grid_module():
    params = inspect.signature(sl.grid).parameters
    for kind in GRID_KINDS:
        assert GRID_OPTIONS[kind] == GRID_KIND_OPTIONS.get(kind, ())
        assert all(o in params for o in GRID_OPTIONS[kind])
    assert set(GRID_KIND_OPTIONS) <= set(GRID_KINDS)
    assert GRID_OPTIONS["optimized"] == opt.OPTIONS
    # the options of an optimised grid are optimize_grid's keywords, and fit
    kw = inspect.signature(schedules.optimize_grid).parameters
    assert all(o in kw for o in opt.OPTIONS if o != "fit")


def test_example_file_parses():
    path = Path(__file__).resolve().parents[1] / "examples" / "optimized_grid.toml"
    study = Study.from_toml(path)
    assert any(opt.is_optimized(t.spec) for t in study.tasks)
