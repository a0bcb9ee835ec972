"""Study format: explicit grids, nfe budgets, spectral targets, the reference,
and first-use checks of the command (bench help, output path, Parquet)."""

from __future__ import annotations

import builtins
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import scorelab as sl
from scorelab.cli import main
from scorelab.schemes import scheme_nfe
from scorelab.study import Study, StudyError, read_results

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
    with pytest.raises(ValueError, match="does not accept option"):
        sl.sample(t, p, "pc", g, 8, snrr=0.1)  # closest to pc's option 'snr'
    with pytest.raises(TypeError, match="did you mean 'seed'"):
        sl.sample(t, p, "pc", g, 8, seeds=1)


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


# ---------------------------------------------------------------------------
# explicit grids and grid options
# ---------------------------------------------------------------------------
def _exact_w2(target, process, scheme, times, **opts):
    law = sl.exact_law(target, process, scheme, times, init="exact", **opts)
    return sl.w2_gaussian(law, target.noised(process, float(times[-1])))


@pytest.mark.parametrize(
    "grids",
    [
        "grids = [1.0, 0.5, 0.1, 1e-3]",
        'grids = {kind = "explicit", times = [1.0, 0.5, 0.1, 1e-3]}',
        "grids = [[1.0, 0.5, 0.1, 1e-3], [0.9, 0.2, 0.01]]",
    ],
)
def test_explicit_grids_in_toml(grids):
    text = f"""
    name = "explicit"
    schemes = ["ei-sde", "heun"]
    init = "exact"
    metrics = ["w2"]
    {grids}
    [targets]
    g = "gaussian-3d-aniso"
    """
    study = Study.from_dict(_toml(text))
    table = study.run()
    target = sl.study.make_target("gaussian-3d-aniso")
    process = sl.VP()
    grids_ = {
        (1.0, 0.001): np.array([1.0, 0.5, 0.1, 1e-3]),
        (0.9, 0.01): np.array([0.9, 0.2, 0.01]),
    }
    assert len(table) == 2 * (1 + grids.count("0.9"))
    for r in table:
        times = grids_[(r["T"], r["delta"])]
        assert r["steps"] == len(times) - 1
        assert r["grid"].startswith("explicit[")
        want = _exact_w2(target, process, r["scheme"], times)
        assert r["estimate"] == pytest.approx(want, rel=1e-12)


def test_explicit_grid_ending_at_zero():
    text = """
    schemes = ["ei-sde", "euler"]
    grids = [1.0, 0.5, 0.1, 0.0]
    init = "exact"
    metrics = [{name = "w2", reference = "data"}]
    [targets]
    g = "gaussian-2d-aniso"
    """
    table = Study.from_dict(_toml(text)).run()
    assert set(table["delta"]) == {0.0} and len(table) == 2
    bad = text.replace('"euler"', '"dpm-solver++-2m"')
    with pytest.raises(StudyError, match="log-SNR"):
        Study.from_dict(_toml(bad))
    # heun evaluates the data score at 0: refused before any work for a
    # singular target, accepted for a regular one
    singular = text.replace('"euler"', '"heun"').replace(
        '"gaussian-2d-aniso"', "{eigenvalues = [1.0, 0.0]}"
    )
    with pytest.raises(StudyError, match="t = 0") as exc:
        Study.from_dict(_toml(singular))
    assert exc.value.key == "grids"
    regular = singular.replace("[1.0, 0.0]", "[1.0, 0.5]")
    assert len(Study.from_dict(_toml(regular)).run()) == 2


@pytest.mark.parametrize(
    "grids, key, needle",
    [
        ("grids = [1.0, 1.0, 0.1]", "grids", "strictly decreasing"),
        ("grids = [1.0, -0.1]", "grids", "t must end"),
        ('grids = {kind = "explicit"}', "grids.times", "required"),
        ('grids = {kind = "explicit", times = "x"}', "grids.times", "list of"),
        ('grids = {kind = "uniform", rho = 2}', "grids.rho", "no option"),
        ('grids = {kind = "karras", rho = -1}', "grids.rho", "> 0"),
        ('grids = {kind = "explicit", times = [1, 0.1], rho = 2}', "grids.rho", "no "),
        ("grids = [1.0, 0.5, 0.1]\nsteps = 3", "steps", "has steps = 2"),
        ("grids = [1.0, 0.5, 0.1]\ndelta = 0.01", "delta", "delta = 0.1"),
        ("grids = [1.0, 0.5, 0.1]\nnfe = 3", "nfe", "fixes its steps"),
        ('grids = "uniform"', "steps", r"required: steps \(or nfe"),
        ("grids = [1.0, 0.5, 0.1]\nT = 0.5", "T", "T = 1"),
    ],
)
def test_bad_grids_name_the_key(grids, key, needle):
    text = f"""
    schemes = "ei-sde"
    metrics = ["w2"]
    {grids}
    [targets]
    g = "gaussian-2d"
    """
    with pytest.raises(StudyError, match=needle) as exc:
        Study.from_dict(_toml(text))
    assert exc.value.key == key


@pytest.mark.parametrize(
    "grid, kw",
    [
        ('{kind = "karras", rho = 5}', {"rho": 5.0}),
        ('{kind = "power", rho = 3}', {"rho": 3.0}),
        ('"logsnr"', {}),
        ('"exponential"', {}),
    ],
)
def test_every_grid_kind_and_option(grid, kw):
    text = f"""
    schemes = "ei-ode"
    steps = 6
    init = "exact"
    grids = [{grid}]
    metrics = ["w2"]
    [targets]
    g = "gaussian-2d-aniso"
    """
    (row,) = Study.from_dict(_toml(text)).run()
    kind = grid.split('"')[1]
    process = sl.VP()
    times = sl.grid(kind, 6, process=process, **kw)
    target = sl.study.make_target("gaussian-2d-aniso")
    assert row["estimate"] == pytest.approx(
        _exact_w2(target, process, "ei-ode", times), rel=1e-12
    )


# ---------------------------------------------------------------------------
# grids by evaluation budget (nfe)
# ---------------------------------------------------------------------------
NFE = """
name = "budget"
schemes = ["ei-sde", "heun", "dpm-solver++-3m", {name = "pc", corrector_steps = 2}]
nfe = [12, 30]
init = "exact"
metrics = ["w2"]

[targets]
g = "gaussian-2d-aniso"
"""


def test_nfe_budget_picks_the_most_steps_and_records_nfe():
    study = Study.from_dict(_toml(NFE))
    assert study.budget == "nfe"
    table = study.run()
    assert len(table) == 8
    process = sl.VP()
    for r in table:
        name = r["scheme"].split("(")[0]
        opts = {"corrector_steps": 2} if name == "pc" else {}
        budget = 12 if r["nfe"] <= 12 else 30
        steps = r["steps"]
        # the evaluations actually used, the most steps within the budget
        assert r["nfe"] == scheme_nfe(name, steps, process, **opts) <= budget
        assert scheme_nfe(name, steps + 1, process, **opts) > budget
    by = {(r["scheme"], r["nfe"]): r["steps"] for r in table}
    assert by[("ei-sde", 12)] == 12 and by[("heun", 30)] < 30


def test_nfe_cells_are_the_steps_cells():
    # a budget that resolves to s steps is the cell 'steps = s' (same task)
    a = Study.from_dict(_toml(NFE.replace("nfe = [12, 30]", "nfe = 12")))
    b = Study.from_dict(_toml(NFE.replace("nfe = [12, 30]", "steps = 12")))
    ids_b = {t.id for t in b.tasks}
    assert next(t.id for t in a.tasks if t.labels["scheme"] == "ei-sde") in ids_b


def test_nfe_and_steps_exclusive_and_sweeps():
    both = NFE.replace("nfe = [12, 30]", "nfe = [12, 30]\nsteps = 4")
    with pytest.raises(StudyError, match="either steps or nfe") as exc:
        Study.from_dict(_toml(both))
    assert exc.value.key == "nfe"
    # a sweep's own nfe replaces the steps set above it
    sweep = _toml(NFE.replace("nfe = [12, 30]", "steps = [4, 8]"))
    sweep["sweep"] = [{"name": "a"}, {"name": "b", "nfe": 10}]
    study = Study.from_dict(sweep)
    steps = sorted(t.labels["steps"] for t in study.tasks)
    assert len(study) == 8 + 4 and 10 in steps
    with pytest.raises(StudyError, match="too small") as exc:
        Study.from_dict(_toml(NFE.replace("nfe = [12, 30]", "nfe = 2")))
    assert exc.value.key == "nfe"


def test_summary_by_nfe(capsys, tmp_path):
    study = _write(tmp_path, NFE)
    assert main(["run", str(study), "--out", str(tmp_path / "r.csv"), "-q"]) == 0
    out = capsys.readouterr().out
    head = next(ln for ln in out.splitlines() if ln.startswith("scheme"))
    assert "nfe=" in head and "steps=" not in head
    table = read_results(tmp_path / "r.csv")
    assert list(table.columns).index("nfe") == list(table.columns).index("n") + 1


def test_result_files_without_nfe_are_resumed(tmp_path, monkeypatch):
    # written by a scorelab before the nfe column: same tasks, no recomputation
    src = ROOT / "tests" / "data" / "study_before_nfe.csv"
    out = tmp_path / "r.csv"
    out.write_bytes(src.read_bytes())
    old = read_results(out)
    assert "nfe" not in old.columns
    monkeypatch.setattr("scorelab.study.run_task", lambda t: pytest.fail("rerun"))
    study = Study.from_toml(ROOT / "tests" / "data" / "study_before_nfe.toml")
    table = study.run(out)
    new = read_results(out)
    assert [r["estimate"] for r in new] == [r["estimate"] for r in old]
    assert [r["task"] for r in new] == [r["task"] for r in old]
    process = sl.VP()
    for r in (*table, *new):
        assert r["nfe"] == scheme_nfe(r["scheme"], r["steps"], process)


# ---------------------------------------------------------------------------
# spectral targets
# ---------------------------------------------------------------------------
def _spectral_study(target: str, **over) -> dict:
    d = _toml(
        f"""
        schemes = ["ei-sde", "heun"]
        steps = [8, 32]
        init = ["prior", "exact"]
        metrics = ["w2", {{name = "kl", label = "kl_data", reference = "data"}}]
        [targets]
        s = {target}
        """
    )
    d.update(over)
    return d


def _direct(target, r):
    process = sl.VP()
    times = sl.grid("uniform", r["steps"], process=process)
    init = None if r["init"] == "prior" else r["init"]
    law = sl.exact_law(target, process, r["scheme"], times, init=init)
    if r["metric"] == "w2":
        return sl.w2_gaussian(law, target.noised(process, float(times[-1])))
    return sl.kl_gaussian(law, target)


def test_power_law_target_equals_the_dense_computation():
    spec = '{spectrum = "power-law", dim = 6, alpha = 1.5, scale = 2.0, mean = 0.5}'
    table = Study.from_dict(_spectral_study(spec)).run()
    lam = 2.0 * np.arange(1, 7, dtype=float) ** -1.5
    dense = sl.Gaussian(np.full(6, 0.5), np.diag(lam))  # dense path, oracle
    spectral = sl.Gaussian.from_spectrum(lam, mean=np.full(6, 0.5))
    assert len(table) == 16
    for r in table:
        assert r["dim"] == 6
        assert r["estimate"] == pytest.approx(_direct(spectral, r), rel=1e-12)
        assert r["estimate"] == pytest.approx(_direct(dense, r), rel=1e-9)


def test_spectral_study_never_builds_a_dense_covariance(monkeypatch):
    from scorelab.targets import Gaussian

    prop = Gaussian.covariances

    def getter(self):
        if self._dense is None:
            raise AssertionError("a spectral covariance was densified")
        return prop.fget(self)

    monkeypatch.setattr(Gaussian, "covariances", property(getter, prop.fset))
    spec = '{spectrum = "power-law", dim = 3072, alpha = 1.2}'
    d = _spectral_study(spec, steps=[50])
    table = Study.from_dict(d).run()
    assert len(table) == 8 and all(np.isfinite(table["estimate"]))


def test_eigenvalue_target_and_bad_spectral_targets():
    lam = [3.0, 1.0, 0.5, 0.0]  # singular: the law at t > 0 is regular
    spec = "{eigenvalues = [3.0, 1.0, 0.5, 0.0], mean = [1, 2, 3, 4]}"
    d = _spectral_study(spec, metrics=["w2"])
    table = Study.from_dict(d).run()
    target = sl.Gaussian.from_spectrum(lam, mean=[1.0, 2.0, 3.0, 4.0])
    for r in table:
        assert r["estimate"] == pytest.approx(_direct(target, r), rel=1e-12)
    for bad, needle in [
        ('{spectrum = "flat", dim = 3}', "unknown spectrum"),
        ('{spectrum = "power-law"}', "needs dim"),
        ('{spectrum = "power-law", dim = 3, alpha = -1}', "alpha"),
        ('{spectrum = "power-law", dim = 3, cov = 1}', "no key 'cov'"),
        ("{eigenvalues = [1.0, -1.0]}", "eigenvalues must be finite and >= 0"),
        ('{eigenvalues = [1.0], spectrum = "power-law"}', "not several"),
        ('{data = "x.txt"}', "cannot read data file"),
    ]:
        with pytest.raises(StudyError, match=needle) as exc:
            Study.from_dict(_spectral_study(bad))
        assert exc.value.key.startswith("targets.s")


def test_data_target_hashes_the_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4)) @ np.diag([2.0, 1.0, 0.5, 0.1])
    np.save(tmp_path / "X.npy", X)
    study_file = _write(
        tmp_path,
        "schemes = 'ei-sde'\nsteps = 8\ninit = 'exact'\nmetrics = ['w2']\n"
        "[targets]\nx = {data = 'X.npy'}\n",  # relative to the study file
    )
    (row,) = Study.from_toml(study_file).run()
    target = sl.Gaussian.from_data(X)
    assert row["estimate"] == pytest.approx(_direct(target, row), rel=1e-12)
    ids = {t.id for t in Study.from_toml(study_file).tasks}
    np.save(tmp_path / "X.npy", 2.0 * X)  # a changed file: other tasks
    assert ids.isdisjoint(t.id for t in Study.from_toml(study_file).tasks)
    text = study_file.read_text().replace("'X.npy'", "'X.npy', sha256 = 'ab'")
    with pytest.raises(StudyError, match="SHA-256") as exc:
        Study.from_toml(_write(tmp_path, text, "s2.toml"))
    assert exc.value.key == "targets.x.sha256"


def test_spectrum_table_example_parses():
    study = Study.from_toml(ROOT / "examples" / "spectrum_table.toml")
    assert study.n_cells == 6 * 4 * 4 * 2
    assert {t.labels["dim"] for t in study.tasks} == {3072}


# ---------------------------------------------------------------------------
# the reference (docs/study-format.md, scorelab run --explain)
# ---------------------------------------------------------------------------
def test_reference_doc_is_in_sync():
    from scorelab.study.reference import markdown

    committed = (ROOT / "docs" / "study-format.md").read_text()
    assert committed == markdown(), (
        "docs/study-format.md is stale: python -m scorelab.study.reference "
        "> docs/study-format.md"
    )


def test_reference_covers_every_key():
    from scorelab.study.parse import _TOP_KEYS, PLOT_KEYS
    from scorelab.study.presets import _TARGET_KEYS, SPECTRAL_KEYS
    from scorelab.study.reference import KEYS, key_names

    names = set(key_names())
    assert set(_TOP_KEYS) <= names
    plot = next(k for k in KEYS if k.name == "plot")
    assert all(f"`{k}`" in plot.text for k in PLOT_KEYS)
    documented = " ".join(k.name + " " + k.type + " " + k.text for k in KEYS)
    for key in {*_TARGET_KEYS, *(k for ks in SPECTRAL_KEYS.values() for k in ks)}:
        assert key in documented, key


def test_reference_examples_are_valid_studies():
    from scorelab.study.reference import EXAMPLES, KEYS

    for k in KEYS:
        if k.example:
            _toml(k.example)  # every snippet is TOML
    for title, text in EXAMPLES:
        study = Study.from_dict(_toml(text), title)
        assert len(study) > 0
    text = "\n".join(t for _, t in EXAMPLES)
    for needle in ("covariance_type", "score_errors", "[[sweep]]", "zip", "nfe"):
        assert needle in text


def test_explain_and_run_help(capsys):
    assert main(["run", "--explain", "nfe"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("`nfe`") and "budget of score evaluations" in out
    assert main(["run", "--explain", "spectrum"]) == 0
    assert "power-law" in capsys.readouterr().out
    assert main(["run", "--explain"]) == 0
    assert "grids" in capsys.readouterr().out
    assert main(["run", "--explain", "grid"]) == 2
    assert "did you mean 'grids'" in capsys.readouterr().err
    assert main(["run"]) == 2
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "docs/study-format.md" in capsys.readouterr().out


def test_readme_links_the_reference():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Studies") :]
    assert "docs/study-format.md" in section.split("\n## ")[0]
