"""Exact error tables, W2 time profiles and error budgets (scorelab.analysis)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scorelab import exact
from scorelab.analysis import (
    BUDGET_PARTS,
    ErrorTable,
    error_budget,
    exact_errors,
    w2_profile,
)
from scorelab.errors import Bias
from scorelab.exact import LawPath, exact_law
from scorelab.grids import grid
from scorelab.metrics_gaussian import w2_gaussian
from scorelab.processes import VP
from scorelab.schemes import scheme_nfe
from scorelab.targets import Gaussian

PROC = VP()


def _target(d: int = 12, basis: bool = True, seed: int = 3) -> Gaussian:
    rng = np.random.default_rng(seed)
    lam = (1.0 + np.arange(d)) ** -1.3
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0] if basis else None
    return Gaussian.from_spectrum(lam, Q, rng.standard_normal(d))


def _ei_sde_oracle(target: Gaussian, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EI-SDE's output mean (basis coordinates) and variances from the prior.

    Written from the closed forms (docs/design.md, section 3) for VP, without
    the coefficient tables: ``x' = a x + 2 (a - 1) s(x, t_k) + c xi`` with
    ``a = alpha_{k+1} / alpha_k``, ``c^2 = a^2 sigma_k^2 - sigma_{k+1}^2`` and the
    exact score of ``N(alpha mu, alpha^2 lam + sigma^2)`` per direction.
    """
    spec = target.spectrum
    assert spec is not None
    lam, Q = spec
    mu0 = target.mean if Q is None else target.mean @ Q
    al = PROC.alpha(g)
    s2 = PROC.sigma2(g)
    mean = np.zeros_like(lam)
    var = np.full_like(lam, float(PROC.prior_variance(None, T=float(g[0]))))
    for k in range(len(g) - 1):
        a = al[k + 1] / al[k]
        b = 2.0 * (a - 1.0)
        c2 = a * a * s2[k] - s2[k + 1]
        prec = 1.0 / (al[k] ** 2 * lam + s2[k])
        lin = a - b * prec
        mean = lin * mean + b * prec * al[k] * mu0
        var = lin * lin * var + c2
    return mean, var


def _w2_commuting(m1, v1, m2, v2) -> float:
    dv = (v1 - v2) / (np.sqrt(v1) + np.sqrt(v2))
    return math.sqrt(float(np.sum((m1 - m2) ** 2) + np.sum(dv * dv)))


# ---------------------------------------------------------------------------
# LawPath
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["ei-sde", "heun", "dpm-solver++-3m"])
def test_path_matches_final_and_dense(monkeypatch, scheme):
    target = _target()
    g = grid("uniform", 15, process=PROC)
    path = exact_law(target, PROC, scheme, g, times="all")
    assert isinstance(path, LawPath) and path.spectral and len(path) == 16
    law = exact_law(target, PROC, scheme, g)
    # forward (all times) and adjoint (final law only) recursions agree
    assert np.allclose(path.final.spectrum[0], law.spectrum[0], rtol=1e-12, atol=0)
    assert np.allclose(path.final.mean, law.mean, rtol=0, atol=1e-13)
    with monkeypatch.context() as m:
        m.setattr(exact, "_SPECTRAL", False)
        dense = exact_law(target, PROC, scheme, g, times="all")
    assert not dense.spectral and dense.covariances.shape == (16, 12, 12)
    for k in (0, 7, 15):
        scale = np.max(np.abs(dense.covariances[k]))
        assert np.max(np.abs(path.law(k).cov - dense.covariances[k])) <= 1e-12 * scale
        assert np.allclose(path.means[k], dense.means[k], rtol=0, atol=1e-12)


def test_path_bad_input():
    target = _target(d=4)
    g = grid("uniform", 3, process=PROC)
    with pytest.raises(ValueError, match="times must be"):
        exact_law(target, PROC, "ei-sde", g, times="every")
    path = exact_law(target, PROC, "ei-sde", g, times="all")
    with pytest.raises(IndexError):
        path.law(4)
    with pytest.raises(TypeError):
        path.law(1.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# profiles
# ---------------------------------------------------------------------------
def test_profile_ends_and_oracle(monkeypatch):
    target = _target()
    g = grid("uniform", 40, process=PROC, delta=1e-2)
    times, w2 = w2_profile(target, PROC, "ei-sde", g)
    assert np.array_equal(times, g) and w2.shape == (41,)
    # last entry: the final W2 to p_delta, from the output law directly
    law = exact_law(target, PROC, "ei-sde", g)
    assert w2[-1] == pytest.approx(
        w2_gaussian(law, target.noised(PROC, g[-1])), rel=1e-12
    )
    # first entry: prior N(0, s^2 I) against p_T, per direction by hand
    lam, Q = target.spectrum
    aT, s2T = float(PROC.alpha(g[0])), float(PROC.sigma2(g[0]))
    v0 = float(PROC.prior_variance(None, T=float(g[0])))
    ref0 = _w2_commuting(
        np.zeros(12), np.full(12, v0), aT * (target.mean @ Q), aT**2 * lam + s2T
    )
    assert w2[0] == pytest.approx(ref0, rel=1e-12)
    # final entry against the independent EI-SDE recursion
    m, v = _ei_sde_oracle(target, g)
    a1, s21 = float(PROC.alpha(g[-1])), float(PROC.sigma2(g[-1]))
    ref = _w2_commuting(m, v, a1 * (target.mean @ Q), a1**2 * lam + s21)
    assert w2[-1] == pytest.approx(ref, rel=1e-10)
    # the dense path (batched w2_gaussian) gives the same profile
    with monkeypatch.context() as mp:
        mp.setattr(exact, "_SPECTRAL", False)
        dense = exact_law(target, PROC, "ei-sde", g, times="all")
    assert np.allclose(w2_profile(target, PROC, dense).w2, w2, rtol=1e-8, atol=0)


def test_profile_bad_input():
    target = _target(d=4)
    g = grid("uniform", 3, process=PROC)
    path = exact_law(target, PROC, "ei-sde", g, times="all")
    with pytest.raises(ValueError, match="omitted"):
        w2_profile(target, PROC, path, g)
    with pytest.raises(ValueError, match="grid is required"):
        w2_profile(target, PROC, "ei-sde")
    with pytest.raises(TypeError):
        w2_profile(target, PROC, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dimension"):
        w2_profile(_target(d=5), PROC, path)


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------
def test_exact_errors_equal_individual_calls():
    target = _target()
    schemes = ["ei-sde", "ddpm", "dpm-solver++-2m"]
    tab = exact_errors(
        target,
        PROC,
        schemes,
        steps=[8, 20],
        delta=[1e-3, 0.05],
        init=["prior", "exact"],
        metrics=("w2", "w2_data", "kl"),
    )
    assert isinstance(tab, ErrorTable) and len(tab) == 3 * 2 * 2 * 2
    for r in tab:
        g = grid("uniform", r["steps"], process=PROC, delta=r["delta"])
        init = None if r["init"] == "prior" else r["init"]
        law = exact_law(target, PROC, r["scheme"], g, init=init)
        ref = target.noised(PROC, g[-1])
        assert r["w2"] == pytest.approx(w2_gaussian(law, ref), rel=1e-13)
        assert r["w2_data"] == pytest.approx(w2_gaussian(law, target), rel=1e-13)
        assert r["nfe"] == scheme_nfe(r["scheme"], r["steps"], PROC)
        if r["scheme"] == "ei-sde" and r["init"] == "prior":
            m, v = _ei_sde_oracle(target, g)
            lam, Q = target.spectrum
            a, s2 = float(PROC.alpha(g[-1])), float(PROC.sigma2(g[-1]))
            oracle = _w2_commuting(m, v, a * (target.mean @ Q), a * a * lam + s2)
            assert r["w2"] == pytest.approx(oracle, rel=1e-10)
    # the exact initial law helps no scheme more than the discretisation allows
    assert np.all(tab["w2"] > 0) and np.all(np.isfinite(tab["kl"]))
    txt = tab.format("w2")
    assert "steps=8" in txt and "steps=20" in txt and "dpm-solver++-2m" in txt


def test_exact_errors_by_nfe():
    target = _target(d=6)
    tab = exact_errors(target, PROC, ["ei-sde", "heun", "dpm-solver++-3m"], nfe=[9, 30])
    for r in tab:
        budget = 9 if r["nfe"] <= 9 else 30
        assert r["nfe"] <= budget
        assert scheme_nfe(r["scheme"], r["steps"] + 1, PROC) > budget
    heun = tab.where(scheme="heun")
    assert list(heun["steps"]) == [
        max(n for n in range(1, 20) if scheme_nfe("heun", n, PROC) <= b)
        for b in (9, 30)
    ]
    assert "nfe=9" in tab.format("w2", columns="nfe")


def test_pivot_never_merges_rows(tmp_path):
    target = _target(d=4)
    tab = exact_errors(target, PROC, "ei-sde", steps=[5, 6])
    # two rows that agree in every shown setting but not in nfe
    r0 = dict(tab.rows[0])
    r1 = dict(r0, nfe=r0["nfe"] + 1, w2=1.0)
    bad = ErrorTable([r0, r1], tab.columns)
    with pytest.raises(ValueError, match="nfe"):
        bad.format("w2")
    with pytest.raises(ValueError, match="metric"):
        tab.format("steps")
    with pytest.raises(ValueError, match="columns"):
        tab.format("w2", columns="w2_data")
    with pytest.raises(TypeError):
        tab.aggregate(["scheme"])
    out = tmp_path / "t.csv"
    tab.to_csv(out)
    lines = out.read_text().splitlines()
    assert lines[0].split(",")[:3] == ["scheme", "steps", "nfe"] and len(lines) == 3
    assert float(lines[1].split(",")[tab.columns.index("w2")]) == tab.rows[0]["w2"]


def test_exact_errors_bad_input():
    target = _target(d=4)
    with pytest.raises(ValueError, match="either steps or nfe"):
        exact_errors(target, PROC, "ei-sde")
    with pytest.raises(ValueError, match="either steps or nfe"):
        exact_errors(target, PROC, "ei-sde", steps=5, nfe=5)
    with pytest.raises(ValueError, match="metrics"):
        exact_errors(target, PROC, "ei-sde", steps=5, metrics=("w3",))
    with pytest.raises(ValueError, match="init"):
        exact_errors(target, PROC, "ei-sde", steps=5, init="posterior")
    with pytest.raises(ValueError, match="scheme_options"):
        exact_errors(target, PROC, "ei-sde", steps=5, scheme_options={"ddpm": {}})
    with pytest.raises(ValueError, match="empty"):
        exact_errors(target, PROC, [], steps=5)
    with pytest.raises(ValueError, match="steps"):
        exact_errors(target, PROC, "ei-sde", steps=0)
    with pytest.raises(TypeError):
        exact_errors(target, PROC, [3], steps=5)  # type: ignore[list-item]


# ---------------------------------------------------------------------------
# budgets
# ---------------------------------------------------------------------------
def test_budget_parts_are_the_documented_distances():
    target = _target()
    g = grid("uniform", 30, process=PROC, delta=1e-2)
    err = Bias(np.linspace(-0.2, 0.3, 12))
    b = error_budget(target, PROC, "heun", g, init="prior", score_error=err)
    run = exact_law(target, PROC, "heun", g, score_error=err)
    exact_init = exact_law(target, PROC, "heun", g, init="exact", score_error=err)
    clean = exact_law(target, PROC, "heun", g, init="exact")
    p_delta = target.noised(PROC, g[-1])
    assert b.total == pytest.approx(w2_gaussian(run, target), rel=1e-13)
    assert b.to_p_delta == pytest.approx(w2_gaussian(run, p_delta), rel=1e-12)
    assert b.initialisation_propagated == pytest.approx(
        w2_gaussian(run, exact_init), rel=1e-13
    )
    assert b.score == pytest.approx(w2_gaussian(exact_init, clean), rel=1e-13)
    assert b.discretisation == pytest.approx(w2_gaussian(clean, p_delta), rel=1e-13)
    assert b.early_stopping == pytest.approx(w2_gaussian(p_delta, target), rel=1e-13)
    assert b.initialisation == pytest.approx(b.profile.w2[0], rel=0)
    assert all(v > 0 for v in b.parts().values()) and list(b.parts()) == list(
        BUDGET_PARTS
    )
    # triangle inequalities along the chain
    assert b.slack() >= -1e-14
    assert b.to_p_delta <= (
        b.initialisation_propagated + b.score + b.discretisation + 1e-14
    )
    assert "discretisation" in b.format()


def test_budget_exact_sources_and_limits():
    target = _target()
    discs = []
    for n in (25, 100, 400):
        g = grid("uniform", n, process=PROC, delta=1e-2)
        b = error_budget(target, PROC, "ei-sde", g, init="exact")
        # exact initial law and score: only discretisation and early stopping
        assert b.initialisation < 1e-15
        assert b.initialisation_propagated == 0.0 and b.score == 0.0
        assert b.to_p_delta == pytest.approx(b.discretisation, rel=1e-12)
        # |total - early stopping| <= discretisation (triangle inequality)
        assert abs(b.total - b.early_stopping) <= b.discretisation + 1e-15
        discs.append(b.discretisation)
    # zero-step-size limit: first order, so 4x the steps give about 1/4
    assert 3.0 < discs[0] / discs[1] < 5.0 and 3.0 < discs[1] / discs[2] < 5.0
    # stopping at t = 0: no early-stopping error
    g0 = grid("uniform", 50, process=PROC, delta=0.0)
    b0 = error_budget(target, PROC, "ei-sde", g0, init="exact")
    assert b0.early_stopping < 1e-14 and b0.total == pytest.approx(
        b0.discretisation, rel=1e-12
    )


def test_budget_bad_input():
    target = _target(d=4)
    g = grid("uniform", 5, process=PROC)
    with pytest.raises(TypeError):
        error_budget(target, PROC, 3, g)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="init"):
        error_budget(target, PROC, "ei-sde", g, init="posterior")


# ---------------------------------------------------------------------------
# plots and the example
# ---------------------------------------------------------------------------
def test_plot_profiles_and_budget():
    pytest.importorskip("matplotlib")
    from scorelab.plots import plot_budget, plot_profiles

    target = _target(d=6)
    g = grid("uniform", 10, process=PROC)
    profs = {s: w2_profile(target, PROC, s, g) for s in ("ei-sde", "heun")}
    fig = plot_profiles(profs)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 2
    assert np.allclose(ax.get_lines()[1].get_ydata(), profs["heun"].w2)
    budgets = [error_budget(target, PROC, s, g) for s in ("ei-sde", "heun")]
    fig = plot_budget(budgets, labels=["a", "b"])
    ax = fig.axes[0]
    heights = sorted(p.get_height() for p in ax.patches)
    # 6 groups x 2 budgets, the two zero score parts not drawn
    assert len(ax.patches) == 10
    expected = sorted(
        v
        for b in budgets
        for v in (b.initialisation, *b.parts().values(), b.total)
        if v > 0
    )
    assert np.allclose(heights, expected, rtol=1e-12)
    assert sum(t.get_text() == "0" for t in ax.texts) == 2
    with pytest.raises(ValueError, match="labels"):
        plot_budget(budgets, labels=["a"])
    with pytest.raises(TypeError):
        plot_budget([1.0])
    with pytest.raises(ValueError):
        plot_profiles({})


def test_spectrum_table_example_quick(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "examples" / "spectrum_table.py"
    spec = importlib.util.spec_from_file_location("spectrum_table", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "48 exact laws" in out and "nfe=20" in out and "dpm-solver++-3m" in out
    for name in ("spectrum_table.csv", "spectrum_profiles.png", "spectrum_budget.png"):
        assert (tmp_path / name).stat().st_size > 0
    # the CSV holds the exact values of the table
    lines = (tmp_path / "spectrum_table.csv").read_text().splitlines()
    assert len(lines) == 49
    head = lines[0].split(",")
    row = dict(zip(head, lines[1].split(",")))
    target = Gaussian.from_spectrum(np.arange(1.0, 257.0) ** -1.2)
    g = grid("uniform", int(row["steps"]), process=PROC, delta=float(row["delta"]))
    law = exact_law(target, PROC, row["scheme"], g)
    assert float(row["w2_data"]) == pytest.approx(w2_gaussian(law, target), rel=1e-12)


@pytest.mark.parametrize(
    "scheme", ["ddpm", "dpm-solver++-2m-sde", "dpm-solver++-3m", "heun", "rk4"]
)
def test_adjoint_final_law_equals_forward_path(scheme):
    """The output law (backward recursion) equals the last law of the forward
    recursion (times="all"), with noise, history, a score error and init."""
    target = _target(d=9, seed=5)
    g = grid("uniform", 30, process=PROC, delta=1e-2)
    err = Bias(np.linspace(0.1, -0.4, 9))
    for init in (None, "exact"):
        law = exact_law(target, PROC, scheme, g, init=init, score_error=err)
        path = exact_law(
            target, PROC, scheme, g, init=init, score_error=err, times="all"
        )
        var, var_f = law.spectrum[0], path.variances[-1]
        assert np.max(np.abs(var - var_f)) <= 1e-12 * np.max(var_f)
        assert np.max(np.abs(law.mean - path.final.mean)) <= 1e-12 * np.max(
            np.abs(path.final.mean)
        )


def test_adjoint_survives_a_register_the_forward_recursion_overflows():
    """dpm-solver++ keeps x / alpha_t ~ 1e299 x at T = 690: the forward recursion
    (times="all") overflows in that register's variance (1e598) and names the
    step; the backward one never forms it and agrees with float64 particles."""
    from scorelab.processes import OU
    from scorelab.sample import sample

    proc = OU(T=690.0)
    head = np.linspace(proc.T, 5.0, 1372)
    g = grid(np.concatenate([head[:-1], grid("logsnr", 50, T=5.0, process=proc)]))
    target = Gaussian.from_spectrum([0.5, 1.5], mean=[1.0, -2.0])
    with pytest.raises(FloatingPointError, match="step 0 .*overflows float64"):
        exact_law(target, proc, "dpm-solver++-2m", g, times="all")
    law = exact_law(target, proc, "dpm-solver++-2m", g)
    n = 20000
    x = sample(target, proc, "dpm-solver++-2m", g, n, seed=11)
    var = law.spectrum[0]
    assert np.all(np.abs(x.mean(0) - law.mean) < 5 * np.sqrt(var / n))
    # sample variance: standard error sqrt(2 / n) var for Gaussian data
    assert np.all(np.abs(x.var(0, ddof=1) - var) < 5 * np.sqrt(2.0 / n) * var)
