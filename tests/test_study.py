"""Studies: validation, stable seeds, exact values, tables, resume, Dask."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scorelab
from scorelab.exact import exact_law
from scorelab.grids import grid
from scorelab.metrics_gaussian import kl_gaussian, w2_gaussian
from scorelab.processes import VP
from scorelab.sample import sample
from scorelab.study import (
    COLUMNS,
    TIMING_COLUMNS,
    ResultTable,
    Study,
    StudyError,
    aggregate,
    format_summary,
    make_target,
    read_results,
    run_task,
    write_results,
)


# ---------------------------------------------------------------------------
# fixtures: stand-ins for scorelab.metrics / scorelab.bounds (other modules)
# ---------------------------------------------------------------------------
def _fake_metrics() -> types.ModuleType:
    """Empirical metrics with the documented signatures (sample-dependent)."""
    mod = types.ModuleType("scorelab.metrics")

    def gelbrich_w2(samples, target):
        m = samples.mean(0)
        C = np.atleast_2d(np.cov(samples.T))
        return float(w2_gaussian(m, C, target.mean, target.cov)), 1e-3

    def sliced_w2(samples, target, n_projections=8, seed=0):
        rng = np.random.default_rng(seed)
        u = rng.standard_normal((n_projections, samples.shape[1]))
        return float(np.mean(np.abs(samples @ u.T - target.mean @ u.T))), 0.5

    def needs_option(samples, target, bandwidth):
        return float(bandwidth), 0.0

    mod.gelbrich_w2 = gelbrich_w2
    mod.sliced_w2 = sliced_w2
    mod.needs_option = needs_option
    mod.__all__ = ["gelbrich_w2", "needs_option", "sliced_w2"]
    return mod


@pytest.fixture
def fake_metrics(monkeypatch):
    mod = _fake_metrics()
    importlib.import_module("scorelab.metrics")  # the real one, restored afterwards
    monkeypatch.setitem(sys.modules, "scorelab.metrics", mod)
    monkeypatch.setattr(scorelab, "metrics", mod)
    return mod


@pytest.fixture
def no_metrics(monkeypatch):
    importlib.import_module("scorelab.metrics")  # the real one, restored afterwards
    monkeypatch.setitem(sys.modules, "scorelab.metrics", None)
    monkeypatch.delattr(scorelab, "metrics")


@pytest.fixture
def fake_bounds(monkeypatch):
    mod = types.ModuleType("scorelab.bounds")

    @dataclasses.dataclass(frozen=True)
    class Record:
        total: float
        discretisation: float
        paper: str = "fake"
        valid: bool = True

    def linear_bound(process, grid, d, C=1.0):
        h = float(np.max(grid[:-1] - grid[1:]))
        return {"total": C * d * h + 0.5, "discretisation": C * d * h, "init": 0.5}

    def record_bound(grid, init, target):
        if not isinstance(target, scorelab.Gaussian):
            raise TypeError("target must be a Gaussian")
        return Record(
            total=float(len(grid)), discretisation=1.0, valid=init == "zero-data"
        )

    mod.linear_bound = linear_bound
    mod.record_bound = record_bound
    mod.__all__ = ["linear_bound", "record_bound"]
    importlib.import_module("scorelab.bounds")  # the real one, restored afterwards
    monkeypatch.setitem(sys.modules, "scorelab.bounds", mod)
    monkeypatch.setattr(scorelab, "bounds", mod)
    return mod


def _exact_study(**over):
    d = {
        "name": "t",
        "seed": 7,
        "targets": {"g": "gaussian-3d-aniso"},
        "processes": ["VP"],
        "schemes": ["ei-sde", "ei-ode"],
        "steps": [5, 10, 20],
        "init": "exact",
        "metrics": ["w2", "kl"],
    }
    d.update(over)
    return d


def _mc_study(**over):
    d = {
        "name": "mc",
        "seed": 3,
        "targets": {"ring": {"preset": "gmm-2d-4", "radius": 2.0}},
        "schemes": ["ei-sde"],
        "steps": [4, 8],
        "n": 300,
        "replicates": 2,
        "threads": 1,
        "metrics": ["gelbrich_w2", {"name": "sliced_w2", "n_projections": 4}],
    }
    d.update(over)
    return d


def _key(table):
    return table.without(*TIMING_COLUMNS)


# ---------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------
def test_presets():
    g = make_target("gaussian-4d")
    np.testing.assert_array_equal(g.cov, np.eye(4))
    a = make_target("gaussian-5d-aniso")
    np.testing.assert_allclose(
        np.linalg.eigvalsh(a.cov), np.geomspace(0.05, 4.0, 5), rtol=1e-12
    )
    m = make_target("gmm-2d-8")
    assert m.n_components == 8 and m.dim == 2
    np.testing.assert_allclose(np.linalg.norm(m.means, axis=1), 4.0)
    np.testing.assert_allclose(m.covariances, 0.1)
    m1 = make_target({"preset": "gmm-1d-3", "radius": 2.0, "var": 0.5})
    np.testing.assert_allclose(m1.means[:, 0], [-2.0, 0.0, 2.0])
    c = make_target({"mean": [0, 1], "cov": 2.0})
    np.testing.assert_allclose(c.cov, 2 * np.eye(2))
    with pytest.raises(ValueError, match="unknown target preset 'gauss-2d'"):
        make_target("gauss-2d")
    with pytest.raises(ValueError, match="no option 'radius'"):
        make_target({"preset": "gaussian-2d", "radius": 1.0})


# ---------------------------------------------------------------------------
# validation: everything is rejected before any work
# ---------------------------------------------------------------------------
def test_cells_are_the_product():
    s = Study.from_dict(_exact_study())
    assert len(s) == 6 and s.n_cells == 6  # 2 schemes x 3 steps, deterministic
    assert [t.labels["steps"] for t in s.tasks[:3]] == [5, 10, 20]
    assert {t.labels["scheme"] for t in s.tasks} == {"ei-sde", "ei-ode"}
    assert all(t.labels["n"] == 0 for t in s.tasks)  # exact law: no particles
    assert s.tasks[0].labels["T"] == 1.0 and s.tasks[0].labels["delta"] == 1e-3


@pytest.mark.parametrize(
    ("change", "key", "needle"),
    [
        ({"stepz": [1]}, "stepz", "did you mean 'steps'"),
        ({"steps": "ten"}, "steps", "expected an integer >= 1"),
        ({"steps": [10, 0]}, "steps[1]", "expected an integer >= 1"),
        ({"delta": -1.0}, "delta", "finite and > 0"),
        ({"schemes": ["ei-sdee"]}, "schemes[0]", "allowed: ddim"),
        ({"schemes": [{"name": "ddim", "etaa": 1.0}]}, "schemes[0].etaa", "eta"),
        ({"schemes": [{"name": "ei-sde", "eta": 1.0}]}, "schemes[0].eta", "none"),
        ({"processes": ["VQ"]}, "processes[0]", "CosineVP, OU"),
        ({"processes": [{"name": "VP", "beta": 1}]}, "processes[0].beta", "beta_max"),
        ({"processes": [{"name": "VP", "beta_min": -1}]}, "processes[0]", "> 0"),
        ({"grids": ["karas"]}, "grids[0]", "did you mean 'karras'"),
        ({"grids": [{"kind": "power", "rh": 2}]}, "grids[0].rh", "rho"),
        ({"init": "prior2"}, "init", "allowed: prior, zero-data, exact"),
        ({"metrics": ["w3"]}, "metrics[0]", "unknown metric"),
        ({"metrics": []}, "metrics", "at least one metric"),
        ({"metrics": ["w2", "w2"]}, "metrics[1]", "appears twice"),
        ({"metrics": [{"name": "w2", "p": 2}]}, "metrics[0].p", "no options"),
        ({"score_errors": ["Bias"]}, "score_errors[0]", "needs parameter(s) vector"),
        (
            {"score_errors": [{"name": "Bias", "vector": [1, 2]}]},
            "score_errors",
            "(3,)",
        ),
        ({"score_errors": [{"name": "Bis"}]}, "score_errors[0].name", "Bias"),
        ({"targets": {"g": "gaussian-3d-anisotropic"}}, "targets.g", "gmm-{d}d-{K}"),
        ({"zip": [["steps", "schemes"]]}, "zip[0]", "equal lengths"),
        ({"zip": [["steps", "speed"]]}, "zip[0]", "cannot zip 'speed'"),
        (
            {"grids": ["exponential"], "T": 5.0, "processes": ["VE"], "steps": 3},
            "grids",
            "too small",
        ),
        ({"out": "x.txt"}, "out", ".parquet"),
        ({"plot": {"y": "w3"}}, "plot.y", "allowed: w2, kl"),
        ({"plot": {"colour": "red"}}, "plot.colour", "allowed: out, x, y"),
        ({"replicates": 0}, "replicates", ">= 1"),
        ({"seed": 1.5}, "seed", "integer"),
    ],
)
def test_bad_input_names_key_and_allowed(change, key, needle):
    with pytest.raises(StudyError) as info:
        Study.from_dict(_exact_study(**change), source="bad.toml")
    msg = str(info.value)
    assert msg.startswith(f"bad.toml: {key}"), msg
    assert needle in msg, msg
    assert isinstance(info.value, ValueError)
    assert info.value.source == "bad.toml"


def test_exact_metric_on_mixture_is_rejected():
    d = _exact_study(targets={"g": "gaussian-2d", "m": "gmm-2d-3"})
    with pytest.raises(
        StudyError,
        match=r"metrics: exact metric 'w2' needs a "
        r"Gaussian target.*'m' is a Gaussian mixture.*sliced_w2",
    ):
        Study.from_dict(d)


def test_exact_metric_with_non_affine_error_is_rejected():
    d = _exact_study(score_errors=[{"name": "FourierField", "eps": 0.1}])
    with pytest.raises(StudyError, match="needs an affine score error"):
        Study.from_dict(d)


def test_scheme_refusing_a_process_is_rejected():
    cld = pytest.importorskip("scorelab.cld")
    assert cld.CLD
    d = _exact_study(processes=["CLD"], schemes=["euler-maruyama"])
    with pytest.raises(
        StudyError,
        match="schemes: scheme 'euler-maruyama' cannot run with process 'CLD'",
    ):
        Study.from_dict(d)


def test_missing_metrics_module_names_the_metric(no_metrics):
    with pytest.raises(StudyError, match="metric 'gelbrich_w2' needs scorelab.metrics"):
        Study.from_dict(_mc_study())


def test_empirical_metric_options_are_checked(fake_metrics):
    with pytest.raises(
        StudyError,
        match=r"metrics\[0\].n_proj: metric 'sliced_w2' "
        r"has no option 'n_proj'.*allowed: n_projections, seed",
    ):
        Study.from_dict(_mc_study(metrics=[{"name": "sliced_w2", "n_proj": 3}]))
    with pytest.raises(StudyError, match="needs option"):
        Study.from_dict(_mc_study(metrics=["needs_option"]))


def test_label_reuse_is_rejected():
    d = _exact_study(
        processes=[{"name": "VP", "label": "a"}, {"name": "VE", "label": "a"}]
    )
    with pytest.raises(StudyError, match="label 'a' is used for two different"):
        Study.from_dict(d)


def test_toml_file_errors(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("name = \n")
    with pytest.raises(StudyError, match=r"s.toml: not valid TOML"):
        Study.from_toml(p)
    with pytest.raises(StudyError, match="no such file"):
        Study.from_toml(tmp_path / "missing.toml")
    p.write_text(
        'seed = 1\nsteps = [4]\nmetrics = ["w2"]\n[targets]\ng = '
        '"gaussian-2d"\n[[sweep]]\nschemes = ["ei-sde"]\nfoo = 1\n'
    )
    with pytest.raises(StudyError, match=r"s.toml: sweep\[0\].foo: unknown key"):
        Study.from_toml(p)


# ---------------------------------------------------------------------------
# product structure: zip, sweeps, replicates
# ---------------------------------------------------------------------------
def test_zip_and_sweeps(fake_metrics):
    d = _mc_study(
        steps=[4, 8, 16], n=[100, 200, 400], zip=[["steps", "n"]], replicates=1
    )
    s = Study.from_dict(d)
    assert [(t.labels["steps"], t.labels["n"]) for t in s.tasks] == [
        (4, 100),
        (8, 200),
        (16, 400),
    ]
    d = _exact_study(
        targets={"g": "gaussian-2d", "m": "gmm-2d-3"},
        sweep=[
            {"targets": ["g"], "metrics": ["w2"]},
            {"targets": ["m"], "metrics": ["gelbrich_w2"], "n": 50, "steps": [5]},
            {"targets": ["g"], "metrics": ["w2"], "steps": [5]},  # duplicates
        ],
    )
    s = Study.from_dict(d)
    assert len(s) == 6 + 2  # the third sweep repeats cells of the first
    assert {t.labels["target"] for t in s.tasks} == {"g", "m"}


def test_replicates_only_for_monte_carlo(fake_metrics):
    d = _mc_study(
        targets={"g": "gaussian-2d"},
        metrics=["w2", "gelbrich_w2"],
        replicates=3,
        steps=[4],
    )
    s = Study.from_dict(d)
    assert [t.replicate for t in s.tasks] == [0, 1, 2]
    assert [m["label"] for m in s.tasks[0].metrics] == ["w2", "gelbrich_w2"]
    assert [m["label"] for m in s.tasks[1].metrics] == ["gelbrich_w2"]
    table = s.run()
    assert len(table) == 4
    est = table.where(metric="gelbrich_w2")["estimate"]
    assert len(set(est.tolist())) == 3  # independent replicates


# ---------------------------------------------------------------------------
# values: oracles are the direct API calls
# ---------------------------------------------------------------------------
def test_exact_rows_equal_direct_computation():
    table = Study.from_dict(_exact_study(steps=[7])).run()
    target = make_target("gaussian-3d-aniso")
    p = VP()
    t = grid("uniform", 7, process=p, delta=1e-3)
    ref = target.noised(p, t[-1])
    for scheme in ("ei-sde", "ei-ode"):
        law = exact_law(target, p, scheme, t, init="exact")
        rows = table.where(scheme=scheme)
        assert rows.where(metric="w2")["estimate"][0] == w2_gaussian(
            law.mean, law.cov, ref.mean, ref.cov
        )
        assert rows.where(metric="kl")["estimate"][0] == kl_gaussian(
            law.mean, law.cov, ref.mean, ref.cov
        )
    assert set(table["kind"]) == {"exact"}
    assert np.all(table["stderr"] == 0.0)
    assert np.all(np.isnan(table["particle_steps_per_s"]))
    assert table.rows[0]["scorelab_version"] == scorelab.__version__
    assert "cxx=" in table.rows[0]["build_info"]
    assert table.columns == list(COLUMNS)


def test_reference_data_and_score_error():
    d = _exact_study(
        steps=[10],
        schemes=["ei-sde"],
        score_errors=["none", {"name": "Bias", "vector": 0.2, "scale": 0.5}],
        metrics=["w2", {"name": "w2", "reference": "data", "label": "w2_data"}],
    )
    table = Study.from_dict(d).run()
    assert table.unique("score_error") == ["none", "Bias(vector=0.2,scale=0.5)"]
    target = make_target("gaussian-3d-aniso")
    p = VP()
    t = grid("uniform", 10, process=p)
    law = exact_law(
        target,
        p,
        "ei-sde",
        t,
        init="exact",
        score_error=scorelab.errors.Bias(np.full(3, 0.2), scale=0.5),
    )
    got = table.where(score_error="Bias(vector=0.2,scale=0.5)", metric="w2_data")
    assert got["estimate"][0] == w2_gaussian(law.mean, law.cov, target.mean, target.cov)


def test_monte_carlo_rows_equal_direct_sampling(fake_metrics):
    s = Study.from_dict(_mc_study(replicates=1, steps=[6]))
    task = s.tasks[0]
    rows = run_task(task)
    target = make_target({"preset": "gmm-2d-4", "radius": 2.0})
    p = VP()
    t = grid("uniform", 6, process=p)
    x = sample(target, p, "ei-sde", t, 300, seed=task.seed_sequence(0), threads=1)
    ref = target.noised(p, t[-1])
    assert rows[0]["metric"] == "gelbrich_w2"
    assert rows[0]["estimate"] == fake_metrics.gelbrich_w2(x, ref)[0]
    assert rows[0]["stderr"] == 1e-3
    assert rows[1]["metric"] == "sliced_w2" and rows[1]["stderr"] == 0.5
    assert rows[0]["kind"] == "mc" and rows[0]["n"] == 300
    assert rows[0]["particle_steps_per_s"] > 0


def test_bounds_rows(fake_bounds):
    d = _exact_study(
        steps=[10], schemes=["ei-sde"], bounds=[{"name": "linear_bound", "C": 2.0}]
    )
    table = Study.from_dict(d).run()
    assert table.where(kind="bound").unique("metric") == ["bound:linear_bound"]
    assert table.where(kind="bound_term").unique("metric") == [
        "bound:linear_bound:discretisation",
        "bound:linear_bound:init",
    ]
    h = (1.0 - 1e-3) / 10
    assert table.where(metric="bound:linear_bound")["estimate"][0] == pytest.approx(
        2.0 * 3 * h + 0.5, rel=1e-14
    )
    # a record (dataclass) with a validity flag; init comes from the cell
    for init, valid in (("zero-data", 1.0), ("exact", 0.0)):
        d = _exact_study(
            steps=[4],
            schemes=["ei-sde"],
            init=init,
            bounds=[{"name": "record_bound", "label": "r"}],
        )
        t = Study.from_dict(d).run()
        assert t.where(metric="r")["estimate"][0] == 5.0  # len(grid)
        assert t.where(metric="r:valid")["estimate"][0] == valid
        assert t.where(metric="r:discretisation")["kind"][0] == "bound_term"
    # a bound that cannot be evaluated is rejected before any work
    d = _exact_study(
        targets={"m": "gmm-2d-3"}, metrics=["gelbrich_w2"], bounds=["record_bound"]
    )
    with pytest.raises(
        StudyError,
        match="bounds: bound 'bound:record_bound' "
        "cannot be evaluated.*must be a Gaussian",
    ):
        Study.from_dict(d)
    with pytest.raises(
        StudyError,
        match=r"bounds\[0\].K: bound 'linear_bound' has "
        r"no parameter 'K'",
    ):
        Study.from_dict(_exact_study(bounds=[{"name": "linear_bound", "K": 1}]))


def test_bounds_without_module(monkeypatch):
    importlib.import_module("scorelab.bounds")  # the real one, restored afterwards
    monkeypatch.setitem(sys.modules, "scorelab.bounds", None)
    monkeypatch.delattr(scorelab, "bounds")
    with pytest.raises(StudyError, match="bounds need scorelab.bounds"):
        Study.from_dict(_exact_study(bounds=["anything"]))


# ---------------------------------------------------------------------------
# seeds: a cell's rows depend on its settings only
# ---------------------------------------------------------------------------
@settings(max_examples=10)
@given(
    st.lists(st.sampled_from([3, 4, 5, 6]), min_size=1, max_size=4, unique=True),
    st.randoms(use_true_random=False),
)
def test_seed_independent_of_list_order(steps, rnd):
    mod = _fake_metrics()
    old = sys.modules.get("scorelab.metrics")
    sys.modules["scorelab.metrics"] = mod
    had = getattr(scorelab, "metrics", None)
    scorelab.metrics = mod
    try:
        base = {
            t.labels["steps"]: run_task(t)
            for t in Study.from_dict(
                _mc_study(steps=[3, 4, 5, 6], n=50, replicates=1)
            ).tasks
        }
        shuffled = list(steps)
        rnd.shuffle(shuffled)
        s = Study.from_dict(
            _mc_study(steps=shuffled, n=50, replicates=1, schemes=["ei-sde"])
        )
        for t in s.tasks:
            rows = run_task(t)
            ref = base[t.labels["steps"]]
            assert [r["estimate"] for r in rows] == [r["estimate"] for r in ref]
    finally:
        if old is None:
            sys.modules.pop("scorelab.metrics", None)
        else:
            sys.modules["scorelab.metrics"] = old
        if had is None:
            del scorelab.metrics
        else:
            scorelab.metrics = had


def test_seed_depends_on_settings_not_spelling():
    a = Study.from_dict(
        _exact_study(processes=[{"name": "VP", "beta_max": 20}], delta=0.001)
    )
    b = Study.from_dict(
        _exact_study(processes=[{"name": "VP", "beta_max": 20.0}], delta=1e-3)
    )
    assert [t.spawn_key for t in a.tasks] == [t.spawn_key for t in b.tasks]
    c = Study.from_dict(_exact_study(seed=8))
    # the spawn key hashes the settings only; the study seed is the entropy
    assert [t.spawn_key for t in c.tasks] == [t.spawn_key for t in a.tasks]
    assert {t.id for t in c.tasks}.isdisjoint({t.id for t in a.tasks})
    assert c.tasks[0].seed_sequence().entropy == 8
    sa, sc = a.tasks[0].seed_sequence(0), c.tasks[0].seed_sequence(0)
    assert not np.array_equal(sa.generate_state(4), sc.generate_state(4))


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_roundtrip(tmp_path, suffix, fake_metrics):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    table = Study.from_dict(
        _mc_study(metrics=["gelbrich_w2", "w2"], targets={"g": "gaussian-2d"})
    ).run()
    path = tmp_path / f"r{suffix}"
    write_results(table, path)
    back = read_results(path)
    assert back.columns == list(COLUMNS)
    assert len(back) == len(table) == 6  # 2 steps x (w2 + 2 replicates)
    for a, b in zip(table.rows, back.rows):
        for c in COLUMNS:
            if isinstance(a[c], float) and math.isnan(a[c]):
                assert math.isnan(b[c])
            else:
                assert a[c] == b[c] and type(a[c]) is type(b[c]), c


def test_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match="unknown table format"):
        write_results(ResultTable([{"a": 1}]), tmp_path / "r.txt")
    with pytest.raises(ValueError, match="unknown table format"):
        Study.from_dict(_exact_study()).run(tmp_path / "r.json")
    assert list(tmp_path.iterdir()) == []


def test_aggregate_and_summary():
    rows = [
        {"scheme": "a", "steps": 1, "metric": "m", "estimate": e, "stderr": 0.1}
        for e in (1.0, 2.0, 4.0)
    ] + [{"scheme": "b", "steps": 1, "metric": "m", "estimate": 5.0, "stderr": 0.3}]
    agg = aggregate(rows, ["scheme", "steps"])
    assert agg[0]["estimate"] == pytest.approx(7 / 3)
    assert agg[0]["stderr"] == pytest.approx(np.std([1, 2, 4], ddof=1) / np.sqrt(3))
    assert agg[0]["replicates"] == 3
    assert agg[1] == {
        "scheme": "b",
        "steps": 1,
        "estimate": 5.0,
        "stderr": 0.3,
        "replicates": 1,
    }
    table = Study.from_dict(_exact_study()).run()
    text = format_summary(table)
    lines = text.splitlines()
    assert lines[0].startswith("study t: target=g, dim=3, process=VP")
    assert "steps=5" in lines[1] and "steps=20" in lines[1]
    assert len(lines) == 3 + 4  # header, rule, 2 schemes x 2 metrics
    w2 = table.where(scheme="ei-ode", metric="w2", steps=20)["estimate"][0]
    assert f"{w2:.3g}" in text


# ---------------------------------------------------------------------------
# resume
# ---------------------------------------------------------------------------
def _count_calls(monkeypatch):
    import scorelab.study as S

    calls = []
    real = S.run_task

    def counting(task):
        calls.append(task.id)
        return real(task)

    monkeypatch.setattr(S, "run_task", counting)
    return calls


def test_resume_skips_finished_cells(tmp_path, monkeypatch):
    out = tmp_path / "r.csv"
    calls = _count_calls(monkeypatch)
    small = Study.from_dict(_exact_study(steps=[5, 10]))
    small.run(out)
    assert len(calls) == 4
    big = Study.from_dict(_exact_study())
    full = big.run(out)
    assert len(calls) == 6  # only the 2 new cells
    assert not (tmp_path / "r.csv.parts").exists()
    fresh = Study.from_dict(_exact_study()).run(tmp_path / "fresh.csv")
    assert _key(full) == _key(fresh)
    assert _key(read_results(out)) == _key(fresh)
    # cells of another study are dropped from this output, and --no-resume
    # recomputes everything
    big.run(out, resume=False)
    assert len(calls) == 6 + 6 + 6


def test_corrupt_part_and_temp_files_are_recomputed(tmp_path, monkeypatch):
    out = tmp_path / "r.csv"
    study = Study.from_dict(_exact_study())
    parts = tmp_path / "r.csv.parts"
    parts.mkdir()
    good = run_task(study.tasks[0])
    (parts / f"{study.tasks[0].id}.json").write_text(
        json.dumps({"task": study.tasks[0].id, "rows": good})
    )
    (parts / f"{study.tasks[1].id}.json").write_text('{"task": "trunc')
    (parts / f".{study.tasks[2].id}.123.tmp").write_text("garbage")
    calls = _count_calls(monkeypatch)
    table = study.run(out)
    assert len(calls) == 5 and study.tasks[0].id not in calls
    assert not parts.exists()
    assert _key(table) == _key(Study.from_dict(_exact_study()).run())


def test_failed_run_keeps_finished_cells(tmp_path, monkeypatch):
    import scorelab.study as S

    out = tmp_path / "r.csv"
    study = Study.from_dict(_exact_study())
    real = S.run_task
    seen = []

    def flaky(task):
        if len(seen) == 3:
            raise FloatingPointError("boom")
        seen.append(task.id)
        return real(task)

    monkeypatch.setattr(S, "run_task", flaky)
    with pytest.raises(FloatingPointError):
        study.run(out)
    assert not out.exists()
    assert len(list((tmp_path / "r.csv.parts").glob("*.json"))) == 3
    monkeypatch.setattr(S, "run_task", real)
    calls = _count_calls(monkeypatch)
    table = study.run(out)
    assert len(calls) == 3 and not set(calls) & set(seen)
    assert _key(table) == _key(Study.from_dict(_exact_study()).run())


def test_concurrent_runs_are_refused(tmp_path):
    pytest.importorskip("fcntl")
    from scorelab.study.results import _Store

    out = tmp_path / "r.csv"
    first = _Store(out)
    first.open(resume=True)
    try:
        with pytest.raises(RuntimeError, match="another scorelab run is writing"):
            Study.from_dict(_exact_study()).run(out)
    finally:
        first.close()
    assert len(Study.from_dict(_exact_study()).run(out)) == 12


# ---------------------------------------------------------------------------
# Dask
# ---------------------------------------------------------------------------
def test_dask_local_cluster_equals_local_run(tmp_path):
    pytest.importorskip("distributed")
    from scorelab.study import dask_client

    d = _exact_study(schemes=["ei-sde", "dpm-solver++-2m"], steps=[5, 10, 40])
    if scorelab_metrics_available():  # sampled cells too, once scorelab.metrics exists
        d["targets"] = {"g": "gaussian-3d-aniso", "m": "gmm-2d-3"}
        d["sweep"] = [
            {"targets": ["g"]},
            {
                "targets": ["m"],
                "schemes": ["ei-sde"],
                "steps": [5, 10],
                "metrics": [{"name": "sliced_w2", "n_projections": 8}],
                "n": 500,
                "replicates": 2,
            },
        ]
    study = Study.from_dict(d)
    local = study.run(tmp_path / "local.csv")
    with dask_client("local:2") as client:
        assert len(client.scheduler_info()["workers"]) == 2
        remote = study.run(tmp_path / "dask.csv", dask=client)
    assert len(local) == len(remote) > 0
    assert _key(local) == _key(remote)
    assert _key(read_results(tmp_path / "dask.csv")) == _key(local)


def scorelab_metrics_available() -> bool:
    try:
        from scorelab import metrics
    except ImportError:
        return False
    return hasattr(metrics, "sliced_w2")


def test_dask_missing_or_bad_address(tmp_path, monkeypatch):
    study = Study.from_dict(_exact_study())
    with pytest.raises(ValueError, match="local:N"):
        study.run(tmp_path / "r.csv", dask="local:zero")
    monkeypatch.setitem(sys.modules, "distributed", None)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda n, *a: None if n == "distributed" else real(n, *a),
    )
    with pytest.raises(ImportError, match=r"pip install 'scorelab\[dask\]'"):
        study.run(tmp_path / "r.csv", dask="local")
    assert list(tmp_path.iterdir()) == []


def test_result_table_helpers():
    t = ResultTable([{"a": 1, "metric": "x"}, {"a": 2, "metric": "y"}])
    assert len(t.where(a=[1, 2])) == 2 and len(t.where(metric="y")) == 1
    assert t.unique("metric") == ["x", "y"]
    with pytest.raises(KeyError, match="no column 'b'"):
        t["b"]


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).parents[1] / "examples").glob("*.toml")),
    ids=lambda p: p.name,
)
def test_examples_are_valid(path):
    study = Study.from_toml(path)
    assert len(study) > 0 and study.plot is not None


@pytest.mark.parametrize("with_tqdm", [True, False])
def test_progress(capsys, monkeypatch, with_tqdm):
    if with_tqdm:
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    Study.from_dict(_exact_study()).run(progress=True)
    err = capsys.readouterr().err
    assert "6/6" in err
    if not with_tqdm:
        assert "cells/s" in err and "ETA 0:00" in err
    Study.from_dict(_exact_study()).run(progress=False)
    assert capsys.readouterr().err == ""
