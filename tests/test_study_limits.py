"""Issue 14: exact task identity, unmutated seeds, study size limit, memory guard,
early option and nesting errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from scorelab import cli
from scorelab.grids import grid
from scorelab.processes import VP
from scorelab.study import Study, StudyError, make_target
from scorelab.study.schema import _canon_json

sample = sys.modules["scorelab.sample"].sample  # the function (module shadowed)

BASE = {"targets": ["gaussian-1d"], "metrics": ["w2"], "steps": 2}


# ---------------------------------------------------------------------------
# 3. canonical encoding keeps integers exact
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("v", [2**53 - 1, 2**53, 2**53 + 1, 2**60, 2**64 - 2])
def test_large_seeds_get_distinct_task_ids_and_exact_seed_sequences(v):
    a = Study.from_dict({**BASE, "seed": v})
    b = Study.from_dict({**BASE, "seed": v + 1})
    assert {t.id for t in a.tasks}.isdisjoint({t.id for t in b.tasks})
    assert a.tasks[0].seed_sequence().entropy == v
    assert b.tasks[0].seed_sequence().entropy == v + 1


def test_canonical_encoding_of_values():
    assert _canon_json(2**60) != _canon_json(2**60 + 1)
    assert _canon_json(-(2**60)) != _canon_json(-(2**60) - 1)
    assert _canon_json(1) == _canon_json(1.0) == "1.0"  # one number, as before
    assert _canon_json(2**53) == _canon_json(float(2**53))  # exact: unchanged
    assert _canon_json(np.int64(7)) == _canon_json(7)
    assert len({_canon_json(x) for x in (1, True, "1", None)}) == 4
    assert json.loads(_canon_json(2**64 - 1)) == {"__int__": str(2**64 - 1)}


def test_small_seed_task_ids_unchanged():
    """Ids of seeds a float holds exactly keep their pre-issue-14 encoding."""
    ids = {0: "bddce343b5878d2f67e2", 2024: "906447dd5fc08552c798"}
    ids[2**53] = "3e5aef32700827b01fc0"  # (computed before the fix)
    for seed, tid in ids.items():
        assert Study.from_dict({**BASE, "seed": seed}).tasks[0].id == tid


# ---------------------------------------------------------------------------
# 4. a seed argument is never mutated
# ---------------------------------------------------------------------------
def _setup():
    proc = VP()
    target = make_target({"preset": "gmm-2d-3"})
    return target, proc, grid("uniform", 6, process=proc)


@pytest.mark.parametrize("init", [None, "zero-data", "exact"])
def test_same_seed_sequence_object_same_samples(init):
    target, proc, g = _setup()
    ss = np.random.SeedSequence(1234)
    a = sample(target, proc, "ei-sde", g, 300, seed=ss, init=init)
    b = sample(target, proc, "ei-sde", g, 300, seed=ss, init=init)
    assert ss.n_children_spawned == 0
    np.testing.assert_array_equal(a, b)
    c = sample(target, proc, "ei-sde", g, 300, seed=1234, init=init)
    np.testing.assert_array_equal(a, c)  # int seed = fresh SeedSequence


def test_exact_init_batches_equal_one_run_with_one_seed_object():
    target, proc, g = _setup()
    ss = np.random.SeedSequence(99)
    n = 40000  # several chunks of exact initial draws
    whole = sample(target, proc, "ei-sde", g, n, seed=ss, init="exact")
    parts = [
        sample(target, proc, "ei-sde", g, m, seed=ss, init="exact", particle_offset=o)
        for o, m in ((0, 7000), (7000, 20000), (27000, 13000))
    ]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert ss.n_children_spawned == 0


def test_bounds_and_errors_do_not_mutate_seed():
    from scorelab.bounds.kremling import _rho_mixture_mc
    from scorelab.errors import Bias

    target, proc, g = _setup()
    ss = np.random.SeedSequence(5)
    t = np.array([0.3, 0.6])
    r1 = _rho_mixture_mc(target, proc, t, 256, ss)
    r2 = _rho_mixture_mc(target, proc, t, 256, ss)
    np.testing.assert_array_equal(r1[0], r2[0])
    err = Bias([0.1, 0.0], 0.5)
    e1 = err.integrated_l2_error(target, proc, g, n=64, seed=ss)
    e2 = err.integrated_l2_error(target, proc, g, n=64, seed=ss)
    assert e1 == e2
    assert ss.n_children_spawned == 0


# ---------------------------------------------------------------------------
# 5. study size limit, lazy tasks
# ---------------------------------------------------------------------------
HUGE = """
name = "huge"
targets = ["gaussian-1d"]
metrics = ["w2"]
steps = [{steps}]
delta = [{delta}]
T = [{T}]
"""


def _huge(tmp_path: Path) -> Path:
    p = tmp_path / "huge.toml"
    p.write_text(
        HUGE.format(
            steps=", ".join(str(k) for k in range(2, 1002)),
            delta=", ".join(f"{1e-4 * (1 + k / 1000):.9g}" for k in range(1000)),
            T=", ".join(f"{1 + k / 1000:.9g}" for k in range(1000)),
        )
    )
    return p


def test_billion_cell_study_refused_at_once(tmp_path, capsys):
    p = _huge(tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(StudyError, match="1000000000 cells") as info:
        Study.from_toml(p, max_cells=10**6)
    assert time.perf_counter() - t0 < 2.0
    assert str(p) in str(info.value)
    t0 = time.perf_counter()
    assert cli.main(["run", str(p), "--dry-run"]) == 2
    assert time.perf_counter() - t0 < 2.0
    err = capsys.readouterr().err
    assert str(p) in err and "--max-cells" in err


def test_max_cells_flag_and_argument(tmp_path, capsys):
    p = tmp_path / "six.toml"
    p.write_text(
        'targets = ["gaussian-1d"]\nmetrics = ["w2"]\n'
        'steps = [2, 3, 4]\nschemes = ["ei-sde", "ei-ode"]\n'
    )
    s = Study.from_toml(p)
    assert s.n_cells == 6 and len(s) == 6
    assert s._tasks is None  # parsing built no task list
    assert [t.index for t in s.iter_tasks()] == list(range(6))
    with pytest.raises(StudyError, match="6 cells"):
        Study.from_toml(p, max_cells=5)
    assert Study.from_dict({**BASE, "steps": [2, 3]}, max_cells=None).n_cells == 2
    assert cli.main(["run", str(p), "--dry-run", "--max-cells", "5"]) == 2
    assert "6 cells" in capsys.readouterr().err
    assert cli.main(["run", str(p), "--dry-run", "--max-cells", "6"]) == 0
    assert "6 cells, 6 tasks" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# 6. memory guard bounds the measured peak
# ---------------------------------------------------------------------------
MEM_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from scorelab.grids import grid
    from scorelab.processes import VP
    from scorelab.study import make_target
    mod = sys.modules["scorelab.sample"]
    init_kind, dtype, scheme = sys.argv[1:4]
    n, d = 200_000, 16
    proc = VP()
    target = make_target({"preset": "gmm-16d-4"})
    g = grid("uniform", 4, process=proc)
    def init_arg(m):
        if init_kind == "none":
            return None
        if init_kind == "array":
            return np.random.default_rng(0).standard_normal((m, d))
        return init_kind
    mod.sample(target, proc, scheme, g, 2000, seed=1, init=init_arg(2000),
               dtype=dtype)  # warm-up
    init = init_arg(n)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    mod.sample(target, proc, scheme, g, n, seed=1, init=init, dtype=dtype)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    hist = mod.prepare(target, proc, scheme, g, None, {}).table.history
    est = mod.memory_estimate(n, d, hist, 8 if dtype == "float64" else 4,
                              init_kind != "none", exact=init_kind == "exact")
    print(after - before, est)
    """
)
#: Slack for allocator and interpreter noise, on top of the estimate.
MEM_SLACK = 16 * 2**20


@pytest.mark.parametrize("scheme", ["ei-sde", "dpm-solver++-2m"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("init", ["none", "exact", "array"])
def test_memory_estimate_bounds_measured_peak(init, dtype, scheme):
    import os

    env = dict(os.environ)
    res = subprocess.run(
        [sys.executable, "-c", MEM_SCRIPT, init, dtype, scheme],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    peak, est = (int(v) for v in res.stdout.split())
    assert peak <= est + MEM_SLACK, (peak / 2**20, est / 2**20)


# ---------------------------------------------------------------------------
# 7. early, clear errors
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("metric", "key"),
    [
        ({"name": "mmd", "bandwidth": -1}, "metrics[0].bandwidth"),
        ({"name": "mmd", "bandwidth": 1.0, "block": 0}, "metrics[0].block"),
        ({"name": "sliced_w2", "n_projections": 0}, "metrics[0].n_projections"),
        ({"name": "gelbrich_w2", "groups": 1}, "metrics[0].groups"),
    ],
)
def test_metric_options_rejected_at_parse(metric, key):
    with pytest.raises(StudyError) as info:
        Study.from_dict({**BASE, "metrics": [metric]}, "s.toml")
    assert info.value.key == key and "s.toml" in str(info.value)


def test_bad_metric_option_dry_run_exit_2(tmp_path, capsys):
    p = tmp_path / "bad.toml"
    p.write_text(
        'targets = ["gaussian-1d"]\nsteps = 2\n'
        'metrics = [{name = "mmd", bandwidth = -1}]\n'
    )
    assert cli.main(["run", str(p), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "metrics[0].bandwidth" in err


def test_deeply_nested_toml_is_a_study_error(tmp_path, capsys):
    p = tmp_path / "deep.toml"
    depth = 5000
    p.write_text('targets = ["gaussian-1d"]\nx = ' + "[" * depth + "]" * depth + "\n")
    with pytest.raises(StudyError) as info:
        Study.from_toml(p)
    assert str(p) in str(info.value) and "nested" in str(info.value)
    assert cli.main(["run", str(p), "--dry-run"]) == 2
    assert str(p) in capsys.readouterr().err


def test_deeply_nested_dict_is_a_study_error():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(StudyError, match="nested") as info:
        Study.from_dict({**BASE, "schemes": deep}, "d.toml")
    assert info.value.key.startswith("schemes[0][0]")
