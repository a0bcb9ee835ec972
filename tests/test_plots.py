"""Convergence plots and the log-log rate fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize, stats

from scorelab.plots import (
    METRIC_NAMES,
    as_table,
    fit_rate,
    fit_window,
    metric_name,
    plot_convergence,
    rate_label,
)
from scorelab.study import ResultTable, write_results

# ---------------------------------------------------------------------------
# fit_rate
# ---------------------------------------------------------------------------


@given(
    slope=st.floats(-3.0, 1.0),
    scale=st.floats(1e-6, 1e3),
    x0=st.floats(1.0, 100.0),
    k=st.integers(2, 9),
)
def test_exact_power_law(slope, scale, x0, k):
    x = x0 * 2.0 ** np.arange(k)
    y = scale * x**slope
    b, se = fit_rate(x, y)
    assert b == pytest.approx(slope, abs=1e-9)
    if k == 2:
        assert math.isnan(se)
    else:
        assert se < 1e-8


def test_unweighted_matches_linregress():
    rng = np.random.default_rng(0)
    x = np.array([10, 20, 40, 80, 160, 320.0])
    y = 3.0 * x**-1.0 * np.exp(0.1 * rng.standard_normal(6))
    ref = stats.linregress(np.log(x), np.log(y))
    b, se = fit_rate(x, y)
    assert b == pytest.approx(ref.slope, rel=1e-12)
    assert se == pytest.approx(ref.stderr, rel=1e-10)
    # zero standard errors (exact values) mean an unweighted fit as well
    assert fit_rate(x, y, np.zeros(6)) == (b, se)


def test_weighted_matches_curve_fit():
    rng = np.random.default_rng(1)
    x = np.array([10, 20, 40, 80, 160.0])
    s = np.array([0.01, 0.02, 0.01, 0.05, 0.03])
    y = 2.0 * x**-0.5 * np.exp(s * rng.standard_normal(5))
    se_y = s * y  # relative errors s -> sd(log y) = s
    popt, pcov = optimize.curve_fit(
        lambda lx, a, b: a + b * lx,
        np.log(x),
        np.log(y),
        sigma=s,
        absolute_sigma=True,
    )
    chi2 = float(np.sum(((np.log(y) - popt[0] - popt[1] * np.log(x)) / s) ** 2))
    b, se = fit_rate(x, y, se_y)
    assert b == pytest.approx(popt[1], rel=1e-8)
    factor = max(1.0, chi2 / 3)
    assert se == pytest.approx(math.sqrt(pcov[1, 1] * factor), rel=1e-6)
    # a point with a huge error bar barely moves the slope
    y2 = y.copy()
    y2[-1] *= 5.0
    se2 = se_y.copy()
    se2[-1] = 1e6
    assert fit_rate(x, y2, se2)[0] == pytest.approx(
        fit_rate(x[:-1], y[:-1], se_y[:-1])[0], abs=1e-6
    )


def test_slope_error_covers_the_truth():
    """Over many noisy data sets, |b - b_true| < 2 se about 95% of the time."""
    rng = np.random.default_rng(2)
    x = np.geomspace(10, 640, 7)
    sd = 0.05 * np.ones(7)
    hits = 0
    trials = 400
    for _ in range(trials):
        y = x**-1.0 * np.exp(sd * rng.standard_normal(7))
        b, se = fit_rate(x, y, sd * y)
        hits += abs(b + 1.0) < 2 * se
    # binomial(400, ~0.95 or more since max(1, chi2) inflates): 4 sd below 0.95
    assert hits / trials > 0.95 - 4 * math.sqrt(0.95 * 0.05 / trials)


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        ([1.0], [1.0], "at least 2 points"),
        ([1.0, 2.0], [1.0, 0.0], "positive"),
        ([1.0, -2.0], [1.0, 1.0], "positive"),
        ([1.0, 2.0], [1.0, np.nan], "finite"),
        ([2.0, 2.0], [1.0, 3.0], "2 distinct"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], "equal length"),
    ],
)
def test_fit_rate_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        fit_rate(x, y)


# ---------------------------------------------------------------------------
# plot_convergence
# ---------------------------------------------------------------------------
def _table():
    rows = []
    steps = [10, 20, 40, 80]
    for scheme, c, p in (("ei-sde", 2.0, -1.0), ("heun", 1.0, -2.0)):
        for s in steps:
            rows.append(
                dict(
                    target="g",
                    dim=2,
                    scheme=scheme,
                    steps=s,
                    metric="w2",
                    kind="exact",
                    estimate=c * s**p,
                    stderr=0.0,
                )
            )
            for r in range(3):  # Monte Carlo replicates around 0.5 / s
                rows.append(
                    dict(
                        target="g",
                        dim=2,
                        scheme=scheme,
                        steps=s,
                        metric="sw2",
                        kind="mc",
                        estimate=0.5 / s * (1 + 0.01 * (r - 1)),
                        stderr=0.01 / s,
                    )
                )
            rows.append(
                dict(
                    target="g",
                    dim=2,
                    scheme=scheme,
                    steps=s,
                    metric="bound:b",
                    kind="bound",
                    estimate=10.0 / s,
                    stderr=0.0,
                )
            )
    # an unresolved point: below 3 standard errors
    rows.append(
        dict(
            target="g",
            dim=2,
            scheme="ei-sde",
            steps=160,
            metric="sw2",
            kind="mc",
            estimate=0.01,
            stderr=0.02,
        )
    )
    return ResultTable(rows)


def _legend(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_plot_curves_slopes_and_bounds(tmp_path):
    fig = plot_convergence(_table(), y="w2")
    labels = _legend(fig)
    assert labels[0].startswith("ei-sde (slope -1.00±")
    assert labels[1].startswith("heun (slope -2.00±")
    assert labels[2:] == ["bound:b [ei-sde]", "bound:b [heun]"]
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert len(dashed) == 2
    np.testing.assert_allclose(dashed[0].get_ydata(), 10.0 / np.array([10, 20, 40, 80]))
    fig.savefig(tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000


def test_plot_unresolved_points_are_left_out_of_the_fit():
    fig = plot_convergence(_table(), y="sw2", bounds=False, hue="scheme")
    labels = _legend(fig)
    assert (
        labels[0].startswith("ei-sde (slope -1.00")
        and "steps 10–80 (4 pts)" in (labels[0])
    )
    assert "steps 10–80 (4 pts)" in labels[1]
    # the unresolved point at 160 is drawn open, and the note says what that means
    ax = fig.axes[0]
    open_pts = [ln for ln in ax.get_lines() if ln.get_markerfacecolor() == "white"]
    assert len(open_pts) == 1 and list(open_pts[0].get_xdata()) == [160.0]
    notes = [t.get_text() for t in ax.texts]
    assert any("±1 standard error" in t and "open markers" in t for t in notes)
    # fit_min_snr = 0 resolves it, but the fit still stops before it: its decrease
    # from 80 (0.00625 -> 0.01, an increase) is not resolved, so it is on the floor
    fig = plot_convergence(_table(), y="sw2", bounds=False, fit_min_snr=0.0)
    assert "steps 10–80 (4 pts)" in _legend(fig)[0]


def test_plot_many_metrics_auto_hue():
    fig = plot_convergence(_table(), bounds=False)
    labels = _legend(fig)
    assert len(labels) == 4  # 2 schemes x 2 metrics; target and dim are constant
    assert labels[0].startswith("ei-sde, w2") and labels[1].startswith("ei-sde, sw2")
    assert fig.axes[0].get_legend().get_title().get_text() == "scheme, metric"


def test_plot_inputs(tmp_path):
    t = _table()
    path = tmp_path / "t.csv"
    write_results(t, path)
    cols = {c: [r.get(c) for r in t.rows] for c in t.columns}
    for arg in (str(path), cols, t.rows):
        assert len(as_table(arg)) == len(t)
    fig = plot_convergence(path, y="w2", where={"scheme": "heun"}, title="T")
    labels = _legend(fig)  # one curve: labelled by its metric
    assert labels[0].startswith("w2 (slope -2.00") and labels[1:] == ["bound:b"]
    assert fig.axes[0].get_title() == "T"
    with pytest.raises(ValueError, match="no metric 'w3'"):
        plot_convergence(t, y="w3")
    with pytest.raises(ValueError, match="no bound 'c'"):
        plot_convergence(t, bounds=["c"])
    with pytest.raises(ValueError, match="x: no column 'step'"):
        plot_convergence(t, x="step")


# ---------------------------------------------------------------------------
# replicates are rows equal in every setting
# ---------------------------------------------------------------------------
def _score_error_table():
    """process=VP, two schemes, score_error none vs a bias: 4 distinct curves."""
    rows = []
    for scheme, c in (("ei-sde", 1.0), ("ei-ode", 0.5)):
        for err, floor in (("none", 0.0), ("bias 0.05", 0.25)):
            for s in (10, 20, 40, 80):
                for rep in range(2):
                    rows.append(
                        dict(
                            target="g",
                            dim=4,
                            process="VP",
                            scheme=scheme,
                            steps=s,
                            score_error=err,
                            replicate=rep,
                            metric="sliced_w2",
                            kind="mc",
                            estimate=c / s + floor + 1e-4 * rep,
                            stderr=1e-4,
                        )
                    )
    return ResultTable(rows)


def test_hue_does_not_average_rows_that_differ_in_a_setting():
    t = _score_error_table()
    fig = plot_convergence(t, hue="scheme", where={"process": "VP"})
    labels = _legend(fig)
    assert len(labels) == 4
    assert sum("score_error=none" in lab for lab in labels) == 2
    assert sum("score_error=bias 0.05" in lab for lab in labels) == 2
    assert fig.axes[0].get_legend().get_title().get_text() == "scheme"
    # each curve is the mean of its 2 replicates only (never 0.25 apart rows)
    curves = [c.lines[0] for c in fig.axes[0].containers]
    ydata = sorted(tuple(np.round(ln.get_ydata(), 12)) for ln in curves)
    want = sorted(
        tuple(np.round(c / np.array([10, 20, 40, 80]) + f + 5e-5, 12))
        for c in (1.0, 0.5)
        for f in (0.0, 0.25)
    )
    assert ydata == want
    # the biased curves sit on their floor 0.25: no slope for them
    for lab in labels:
        if "bias" in lab:
            assert "slope -" not in lab, lab


def test_twelve_curves_are_distinguishable():
    rows = []
    for i in range(14):
        for s in (10, 20, 40):
            rows.append(
                dict(
                    scheme=f"s{i}",
                    steps=s,
                    metric="w2",
                    kind="exact",
                    estimate=(i + 1) / s,
                    stderr=0.0,
                )
            )
    fig = plot_convergence(ResultTable(rows), bounds=False)
    ax = fig.axes[0]
    labels = _legend(fig)
    curves = [c.lines[0] for c in ax.containers]
    assert len(curves) == len(labels) == 14
    styles = {(str(ln.get_color()), ln.get_marker()) for ln in curves}
    assert len(styles) == 14


def test_metric_names_on_axes():
    fig = plot_convergence(_table(), y="w2")
    assert fig.axes[0].get_ylabel() == metric_name("w2") == METRIC_NAMES["w2"]
    assert "W2" in metric_name("sliced_w2") and "sliced" in metric_name("sliced_w2")
    assert "lower bound" in metric_name("gelbrich_w2")
    assert metric_name("custom") == "custom"


# ---------------------------------------------------------------------------
# the fit window: synthetic curves with a floor
# ---------------------------------------------------------------------------
X7 = np.array([10, 20, 40, 80, 160, 320, 640.0])


def test_window_of_an_exact_curve_with_a_floor():
    """y = x^-2 + 1e-4: the window stops where the floor bends the curve."""
    floor = 1e-4
    y = X7**-2.0 + floor
    w = fit_window(X7, y)
    assert w.tolist() == [True, True, True, False, False, False, False]
    # in the window the floor is under 15% of the value; beyond, over 25%
    share = floor / y
    assert np.all(share[w] < 0.15) and np.all(share[~w] > 0.25)
    b_win = fit_rate(X7[w], y[w])[0]
    b_all = fit_rate(X7, y)[0]
    assert abs(b_win + 2.0) < 0.15 < abs(b_all + 2.0)
    # a pure power law keeps every point
    assert fit_window(X7, 3.0 * X7**-1.0).all()
    assert fit_window(X7, 3.0 * X7**-2.5).all()


def test_window_of_a_monte_carlo_curve_with_a_floor():
    """y = 1/x + 0.002 + noise (se 2e-4): the fit stops before the noise floor."""
    rng = np.random.default_rng(5)
    se = np.full(7, 2e-4)
    truth = 1.0 / X7 + 0.002
    y = truth + se * rng.standard_normal(7)
    w = fit_window(X7, y, se)
    assert w[:3].all()
    # every point in the window is more than 2 SE above the floor of the truth
    assert np.all(1.0 / X7[w] > 2 * se[w])
    lab = rate_label(X7[w], y[w], se[w], "steps")
    assert lab.startswith("slope -") and f"steps 10–{X7[w].max():g}" in lab


def test_noise_only_curve_gets_no_slope():
    rng = np.random.default_rng(6)
    se = np.full(7, 0.01)
    y = 0.3 + se * rng.standard_normal(7)
    w = fit_window(X7, y, se)
    assert "slope -" not in rate_label(X7[w], y[w], se[w], "steps")
    # and a flat exact curve (an initialisation-error floor) is "flat"
    y = 0.3 * (1 + 1e-3 / X7)
    w = fit_window(X7, y)
    assert not rate_label(X7[w], y[w], None, "steps").startswith("slope")
    assert rate_label(X7, y, None, "steps") == "flat, no slope"


def test_window_of_an_increasing_curve():
    """Error vs delta: y = delta + 1e-3; the floor is at the small deltas."""
    d = np.geomspace(1e-4, 1e-1, 7)
    y = d + 1e-3
    w = fit_window(d, y)
    assert w[-3:].all() and not w[:2].any()
    assert abs(fit_rate(d[w], y[w])[0] - 1.0) < 0.15


def test_fit_range_is_honoured():
    y = X7**-2.0 + 1e-4
    w = fit_window(X7, y, fit_range=(20, 80))
    assert w.tolist() == [False, True, True, True, False, False, False]
    assert fit_window(X7, y, fit_range=(None, 40)).sum() == 3
    rows = [
        dict(
            scheme="a", steps=int(s), metric="w2", kind="exact", estimate=v, stderr=0.0
        )
        for s, v in zip(X7, y)
    ]
    fig = plot_convergence(ResultTable(rows), fit_range=(20, 80))
    assert "steps 20–80 (3 pts)" in _legend(fig)[0]
    ax = fig.axes[0]
    open_pts = [ln for ln in ax.get_lines() if ln.get_markerfacecolor() == "white"]
    assert list(open_pts[0].get_xdata()) == [10.0, 160.0, 320.0, 640.0]
    for bad in ((80, 20), (1,), "ab"):
        with pytest.raises(ValueError, match="fit_range"):
            fit_window(X7, y, fit_range=bad)
        with pytest.raises(ValueError, match="fit_range"):
            plot_convergence(ResultTable(rows), fit_range=bad)


def test_x_nfe_does_not_split_curves_by_steps():
    # steps moves with nfe (a linked column): one curve per scheme, not one per step
    rows = [
        dict(
            scheme="heun",
            steps=s,
            nfe=2 * s - 1,
            metric="w2",
            kind="exact",
            estimate=float(s) ** -2.0,
            stderr=0.0,
        )
        for s in (10, 20, 40, 80)
    ]
    fig = plot_convergence(ResultTable(rows), x="nfe")
    labels = _legend(fig)
    assert len(labels) == 1 and "(4 pts)" in labels[0]
    (line,) = [ln for ln in fig.axes[0].get_lines() if len(ln.get_xdata()) == 4]
    assert list(line.get_xdata()) == [19.0, 39.0, 79.0, 159.0]


def test_cli_and_study_fit_range(tmp_path, monkeypatch):
    from scorelab.cli import main
    from scorelab.study import Study

    rows = [
        dict(
            scheme="a", steps=int(s), metric="w2", kind="exact", estimate=v, stderr=0.0
        )
        for s, v in zip(X7, X7**-2.0 + 1e-4)
    ]
    path = tmp_path / "r.csv"
    write_results(ResultTable(rows), path)
    monkeypatch.chdir(tmp_path)
    assert main(["plot", str(path), "--out", "f.png", "--fit-range", "20", "80"]) == 0
    assert (tmp_path / "f.png").stat().st_size > 1000
    base = {
        "name": "s",
        "targets": {"g": "gaussian-10d-aniso"},
        "schemes": ["ei-ode"],
        "steps": [4, 8],
        "metrics": ["w2"],
    }
    study = Study.from_dict({**base, "plot": {"fit_range": [4, 8]}})
    assert study.plot["fit_range"] == [4, 8]
    for bad in ([8, 4], [4], "4-8", [True, 8]):
        with pytest.raises(ValueError, match="fit_range"):
            Study.from_dict({**base, "plot": {"fit_range": bad}})
