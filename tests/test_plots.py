"""Convergence plots and the log-log rate fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize, stats

from scorelab.plots import as_table, fit_rate, plot_convergence
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
        labels[0].startswith("ei-sde (slope -1.00") and "over steps 10-80" in labels[0]
    )
    assert "over" not in labels[1]
    # every fit includes the replicate mean of 3 points per step
    fig = plot_convergence(_table(), y="sw2", bounds=False, fit_min_snr=0.0)
    assert "over" not in _legend(fig)[0]


def test_plot_many_metrics_auto_hue():
    fig = plot_convergence(_table(), bounds=False)
    labels = _legend(fig)
    assert len(labels) == 4  # 2 schemes x 2 metrics; target and dim are constant
    assert labels[0].startswith("ei-sde, w2") and labels[1].startswith("ei-sde, sw2")


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
