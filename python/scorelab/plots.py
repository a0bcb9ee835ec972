r"""Convergence plots of study tables: error vs steps on log-log axes.

:func:`plot_convergence` draws one curve per group of settings (the *hue*) with
standard-error bars, the bounds computed by the study as dashed curves, and the
fitted convergence rate of each curve in the legend; :func:`fit_rate` is the fit:
weighted least squares of :math:`\log y` on :math:`\log x`,

.. math::

    \log y_i = a + b \log x_i + \varepsilon_i, \qquad
    \operatorname{sd}(\varepsilon_i) \approx s_i / y_i

(the delta method turns the standard error :math:`s_i` of :math:`y_i` into that
of :math:`\log y_i`). The figures are built with :class:`matplotlib.figure.Figure`
directly (no pyplot state, no GUI backend needed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .study import SETTING_COLUMNS, ResultTable, aggregate, read_results
from .study.schema import LINKED_COLUMNS

__all__ = [
    "METRIC_NAMES",
    "as_table",
    "fit_rate",
    "fit_window",
    "metric_name",
    "plot_budget",
    "plot_convergence",
    "plot_profiles",
    "rate_label",
]


def fit_rate(
    x: npt.ArrayLike, y: npt.ArrayLike, stderr: npt.ArrayLike | None = None
) -> tuple[float, float]:
    r"""Slope of :math:`\log y` against :math:`\log x` and its standard error.

    Parameters
    ----------
    x : array_like, shape (k,)
        Positive abscissae (e.g. numbers of steps).
    y : array_like, shape (k,)
        Positive values (e.g. errors).
    stderr : array_like, shape (k,), optional
        Standard errors of ``y``. When all are positive the fit is weighted with
        :math:`w_i = (y_i / s_i)^2`; otherwise (exact values, or None) it is
        ordinary least squares.

    Returns
    -------
    slope : float
        Fitted :math:`b` in :math:`y \propto x^b`.
    slope_stderr : float
        Its standard error: :math:`\sqrt{[(X^\top W X)^{-1}]_{bb}
        \max(1, \chi^2/(k-2))}` in the weighted case (the model misfit inflates
        it, never deflates it), :math:`\sqrt{[(X^\top X)^{-1}]_{bb}\,
        \mathrm{RSS}/(k-2)}` (as :func:`scipy.stats.linregress`) otherwise;
        ``nan`` when ``k = 2``.

    Raises
    ------
    ValueError
        If fewer than 2 points, shapes differ, values are not finite, ``x`` or
        ``y`` is not positive, or all ``x`` are equal.

    Examples
    --------
    >>> round(fit_rate([10, 20, 40], [0.1, 0.05, 0.025])[0], 12)
    -1.0
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.ndim != 1 or ya.shape != xa.shape:
        raise ValueError(
            f"x and y must be 1-D of equal length, got shapes {xa.shape}, {ya.shape}"
        )
    if xa.shape[0] < 2:
        raise ValueError(f"x must have at least 2 points, got {xa.shape[0]}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("x and y must be finite")
    if np.any(xa <= 0) or np.any(ya <= 0):
        raise ValueError("x and y must be positive for a log-log fit")
    lx, ly = np.log(xa), np.log(ya)
    if np.ptp(lx) == 0:
        raise ValueError("x must take at least 2 distinct values")
    k = xa.shape[0]
    X = np.column_stack([np.ones(k), lx])
    weighted = False
    if stderr is not None:
        se = np.asarray(stderr, dtype=np.float64)
        if se.shape != xa.shape:
            raise ValueError(f"stderr must have shape {xa.shape}, got {se.shape}")
        weighted = bool(np.all(np.isfinite(se)) and np.all(se > 0))
    w = (ya / se) ** 2 if weighted else np.ones(k)
    XtW = X.T * w
    A = XtW @ X
    coef = np.linalg.solve(A, XtW @ ly)
    resid = ly - X @ coef
    if k == 2:
        return float(coef[1]), math.nan
    chi2 = float(np.sum(w * resid**2))
    cov = np.linalg.inv(A)
    factor = max(1.0, chi2 / (k - 2)) if weighted else chi2 / (k - 2)
    return float(coef[1]), float(math.sqrt(cov[1, 1] * factor))


def as_table(
    table: ResultTable | str | os.PathLike[str] | Any,
) -> ResultTable:
    """Normalise a table argument: ResultTable, path, pandas DataFrame, rows or
    a dict of columns."""
    if isinstance(table, ResultTable):
        return table
    if isinstance(table, (str, os.PathLike)):
        return read_results(table)
    if hasattr(table, "to_dict") and hasattr(table, "columns"):  # pandas
        return ResultTable(table.to_dict("records"), list(table.columns))
    if isinstance(table, Mapping):
        cols = list(table)
        n = len(table[cols[0]]) if cols else 0
        return ResultTable(
            [{c: _py(table[c][i]) for c in cols} for i in range(n)], cols
        )
    return ResultTable(table)


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


def _filter(table: ResultTable, where: Mapping[str, Any] | None) -> ResultTable:
    if not where:
        return table
    return table.where(
        **{
            k: (list(v) if isinstance(v, (list, tuple)) else v)
            for k, v in where.items()
        }
    )


def _varying(table: ResultTable, candidates: Sequence[str]) -> list[str]:
    """Candidate columns that vary and are not determined by earlier choices.

    E.g. ``dim`` is left out when ``target`` is chosen (a target fixes its
    dimension), and ``n`` when it only differs between targets.
    """
    chosen: list[str] = []
    for c in candidates:
        seen: dict[tuple[Any, ...], Any] = {}
        for r in table.rows:
            key = tuple(r.get(k) for k in chosen)
            if seen.setdefault(key, r.get(c)) != r.get(c):
                chosen.append(c)
                break
    return chosen


#: Axis names of the metrics a study computes (the ``metric`` column holds the
#: label; a label not listed here is shown as it is).
METRIC_NAMES: dict[str, str] = {
    "w2": "W2 distance to the target marginal (exact law)",
    "kl": "KL divergence to the target marginal (exact law)",
    "sliced_w2": "sliced W2 distance (Monte Carlo)",
    "gelbrich_w2": "Gelbrich lower bound on W2 (Monte Carlo moments)",
    "mmd": "squared MMD, Gaussian kernel (Monte Carlo)",
    "w2_1d": "W2 distance in 1-D (Monte Carlo)",
    "w2_empirical": "W2 distance, empirical (Monte Carlo)",
}


def metric_name(label: str) -> str:
    """The axis name of a metric label (:data:`METRIC_NAMES`, else the label).

    Examples
    --------
    >>> metric_name("sliced_w2")
    'sliced W2 distance (Monte Carlo)'
    >>> metric_name("my-metric")
    'my-metric'
    """
    return METRIC_NAMES.get(str(label), str(label))


def fit_window(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    stderr: npt.ArrayLike | None = None,
    *,
    min_snr: float = 3.0,
    floor_k: float = 2.0,
    slope_tol: float = 0.15,
    fit_range: Sequence[float | None] | None = None,
) -> npt.NDArray[np.bool_]:
    r"""The points of a convergence curve that a rate is fitted on.

    A curve :math:`y(x)` (error against steps) follows a power law only until it
    reaches a *floor* (Monte Carlo noise, a bias, the initialisation error); a
    slope fitted across the floor is neither the rate nor the floor. The window
    is chosen by this rule:

    1. Points with a non-positive or non-finite value are out. Points below
       ``min_snr`` standard errors (:math:`y_i < \mathrm{min\_snr}\, s_i`) are
       *unresolved* and out; so is everything beyond the first unresolved point
       on the low side of the curve, so the window is contiguous.
    2. The curve is oriented from its large to its small values (by the sign of
       the least-squares slope over the resolved points): floors sit at the
       small end. From that end, the last point :math:`j` (after :math:`i`,
       after :math:`h`) is dropped, repeatedly, while

       * its decrease is not resolved:
         :math:`y_i - y_j \le k \sqrt{s_i^2 + s_j^2}` (``floor_k`` = :math:`k`;
         for exact values, :math:`s = 0`, this means no decrease), or
       * the local slope flattens: with
         :math:`b_{hi}, b_{ij}` the slopes of :math:`\log y` on :math:`\log x`
         between consecutive points,
         :math:`|b_{hi}| - |b_{ij}| > \mathrm{slope\_tol}\, |b_{hi}|
         + k\, \mathrm{sd}(b_{ij} - b_{hi})` (delta-method standard error from
         :math:`s_i / y_i`).

    ``fit_range = (lo, hi)`` replaces rules 1's contiguity and 2: the window is
    the resolved points with :math:`lo \le x \le hi` (``None``: unbounded).
    A rate should be reported only on 3 or more points (see :func:`plot_convergence`).

    Parameters
    ----------
    x, y : array_like, shape (k,)
        Abscissae (any order) and values.
    stderr : array_like, shape (k,), optional
        Standard errors of ``y`` (default: exact values, all 0).
    min_snr : float, default 3
    floor_k : float, default 2
    slope_tol : float, default 0.15
    fit_range : (lo, hi), optional

    Returns
    -------
    numpy.ndarray of bool, shape (k,)
        True for the points in the window.

    Raises
    ------
    ValueError
        Shapes differ, or a parameter is negative, or ``fit_range`` is not a pair
        with ``lo <= hi``.

    Examples
    --------
    A second-order curve that meets a floor of 1e-4 (exact values):

    >>> import numpy as np
    >>> x = np.array([10, 20, 40, 80, 160, 320])
    >>> fit_window(x, x**-2.0 + 1e-4).tolist()
    [True, True, True, False, False, False]
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    sa = np.zeros_like(xa) if stderr is None else np.asarray(stderr, dtype=np.float64)
    if xa.ndim != 1 or ya.shape != xa.shape or sa.shape != xa.shape:
        raise ValueError(
            f"x, y and stderr must be 1-D of equal length, got shapes {xa.shape}, "
            f"{ya.shape}, {sa.shape}"
        )
    for name, v in (
        ("min_snr", min_snr),
        ("floor_k", floor_k),
        ("slope_tol", slope_tol),
    ):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {v!r}")
    sa = np.where(np.isfinite(sa) & (sa > 0), sa, 0.0)
    valid = np.isfinite(xa) & np.isfinite(ya) & (xa > 0) & (ya > 0)
    resolved = valid & ~((sa > 0) & (ya < min_snr * sa))
    if fit_range is not None:
        lo, hi = _check_range(fit_range)
        return resolved & (xa >= lo) & (xa <= hi)
    order = [int(i) for i in np.argsort(xa, kind="stable") if valid[i]]
    rx = xa[resolved]
    if rx.shape[0] >= 2 and np.ptp(rx) > 0:
        if np.polyfit(np.log(rx), np.log(ya[resolved]), 1)[0] > 0:
            order.reverse()  # increasing curve: its small values come first
    while order and not resolved[order[0]]:
        order.pop(0)
    w: list[int] = []
    for i in order:
        if not resolved[i]:
            break
        w.append(i)
    lx, ly = np.log(np.where(valid, xa, 1.0)), np.log(np.where(valid, ya, 1.0))
    var = (sa / np.where(valid, ya, 1.0)) ** 2  # variances of log y
    while len(w) >= 2:
        i, j = w[-2], w[-1]
        if ya[i] - ya[j] <= floor_k * math.hypot(sa[i], sa[j]):
            w.pop()
            continue
        if len(w) < 3:
            break
        h = w[-3]
        d1, d2 = lx[i] - lx[h], lx[j] - lx[i]
        b1, b2 = (ly[i] - ly[h]) / d1, (ly[j] - ly[i]) / d2
        sd = math.sqrt(
            var[j] / d2**2 + var[i] * (1 / d2 + 1 / d1) ** 2 + var[h] / d1**2
        )
        if abs(b1) - abs(b2) > slope_tol * abs(b1) + floor_k * sd:
            w.pop()
            continue
        break
    mask = np.zeros(xa.shape, dtype=bool)
    mask[w] = True
    return mask


def _check_range(fit_range: Sequence[float | None]) -> tuple[float, float]:
    if isinstance(fit_range, (str, bytes)) or len(fit_range) != 2:
        raise ValueError(f"fit_range must be a pair (lo, hi), got {fit_range!r}")
    lo = -math.inf if fit_range[0] is None else float(fit_range[0])
    hi = math.inf if fit_range[1] is None else float(fit_range[1])
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise ValueError(f"fit_range must satisfy lo <= hi, got {fit_range!r}")
    return lo, hi


#: Smallest |slope| reported as a rate: flatter fits are labelled "flat".
MIN_RATE = 0.05


def rate_label(
    x: npt.ArrayLike, y: npt.ArrayLike, stderr: npt.ArrayLike | None, name: str
) -> str:
    r"""Legend text of the rate fitted on a window (the points given).

    ``"slope b±se, NAME lo–hi (k pts)"`` from :func:`fit_rate`; ``"flat, no
    slope"`` when :math:`|b| < \max(` :data:`MIN_RATE` :math:`, 2\,\mathrm{se})`
    (no resolved trend); ``"no slope: k pts before the floor"`` on fewer
    than 3 points.

    Examples
    --------
    >>> rate_label([10, 20, 40, 80], [0.1, 0.052, 0.024, 0.0126], None, "steps")
    'slope -1.01±0.03, steps 10–80 (4 pts)'
    >>> rate_label([10, 20, 40], [0.1, 0.1, 0.1], None, "steps")
    'flat, no slope'
    """
    xa = np.asarray(x, dtype=np.float64)
    if xa.shape[0] < 3 or np.ptp(xa) == 0:
        return f"no slope: {xa.shape[0]} pts before the floor"
    b, se = fit_rate(xa, y, stderr)
    if abs(b) < max(MIN_RATE, 2 * se):
        return "flat, no slope"
    return (
        f"slope {b:.2f}{_pm(se)}, {name} {xa.min():g}–{xa.max():g} ({xa.shape[0]} pts)"
    )


def _label(keys: Sequence[str], values: Sequence[Any], named: Sequence[str]) -> str:
    """Values of the hue columns, then ``column=value`` for the ``named`` ones."""
    parts = [str(v) for k, v in zip(keys, values) if k not in named]
    parts += [f"{k}={v}" for k, v in zip(keys, values) if k in named]
    return ", ".join(parts)


def plot_convergence(
    table: ResultTable | str | os.PathLike[str] | Any,
    x: str = "steps",
    y: str | Sequence[str] | None = None,
    hue: str | Sequence[str] | None = None,
    bounds: bool | str | Sequence[str] = True,
    *,
    where: Mapping[str, Any] | None = None,
    fit: bool = True,
    fit_min_snr: float = 3.0,
    fit_range: Sequence[float | None] | None = None,
    ax: Any = None,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    figsize: Sequence[float] = (7.0, 4.5),
) -> Any:
    r"""Log-log error-vs-``x`` plot with error bars, bounds and fitted slopes.

    Parameters
    ----------
    table : ResultTable, path, pandas.DataFrame, rows or dict of columns
        A study's result table.
    x : str, default "steps"
        Abscissa column.
    y : str or sequence of str, optional
        Metric label(s) to plot (the ``metric`` column; default: every
        non-bound metric in the table).
    hue : str or sequence of str, optional
        Columns whose values make separate curves (default: the setting
        columns, plus ``metric``, that vary among the selected rows). Settings
        that vary but are not in ``hue`` split the curves further and are named
        ``column=value`` in the legend: rows are averaged only when they agree
        in every setting column (they are replicates).
    bounds : bool, str or sequence of str, default True
        Bound labels to draw as dotted curves in the colour of the matching
        curve (True: every bound total in the table, kind ``"bound"``; a list
        may also name terms, ``"LABEL:TERM"``; False: none).
    where : mapping, optional
        Row filter ``{column: value or list of values}``.
    fit : bool, default True
        Put the fitted slope :math:`\pm` its standard error
        (:func:`fit_rate`) on the window chosen by :func:`fit_window` in each
        curve's legend entry, with the window (``steps 10–160 (5 pts)``); a flat
        curve gets no slope (:func:`rate_label`).
    fit_min_snr : float, default 3
        Points whose estimate is below ``fit_min_snr`` standard errors are
        *unresolved*: Monte Carlo noise (and, for plug-in distances, their
        positive bias) dominates them. Exact values (standard error 0) are
        always resolved. 0 keeps every point.
    fit_range : (lo, hi), optional
        Fit on the resolved points with ``lo <= x <= hi`` instead of the
        automatic window (``None`` for an open end).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: a new :class:`~matplotlib.figure.Figure`).
    title, xlabel, ylabel : str, optional
        Default labels: ``x`` and the metric's full name (:func:`metric_name`).
    figsize : (float, float), default (7, 4.5)

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Replicates are averaged with :func:`scorelab.study.aggregate` (error bars:
    :math:`\pm 1` standard error, :math:`s/\sqrt R` over :math:`R` replicates,
    or a single run's own standard error). Points left out of the fit (outside
    the window, unresolved) are drawn with open markers; a note under the axes
    says so. Points with a non-positive estimate cannot be shown on log axes and
    are left out. Curves are told apart by colour and marker (10 colours x 6
    markers), metrics of one setting by line style.
    """
    tab = _filter(as_table(table), where)
    if x not in tab.columns:
        raise ValueError(f"x: no column {x!r}; columns: {', '.join(tab.columns)}")
    if fit_range is not None:
        _check_range(fit_range)
    kind = {r.get("metric"): r.get("kind") for r in tab.rows}
    bound_kinds = ("bound", "bound_term")
    data_metrics = [m for m in tab.unique("metric") if kind.get(m) not in bound_kinds]
    bound_metrics = [m for m in tab.unique("metric") if kind.get(m) in bound_kinds]
    ys = _as_list(y) or data_metrics
    for m in ys:
        if m not in data_metrics:
            raise ValueError(
                f"y: no metric {m!r} in the table; metrics: {', '.join(data_metrics)}"
            )
    if bounds is True:
        bsel = [m for m in bound_metrics if kind.get(m) == "bound"]
    elif bounds is False:
        bsel = []
    else:
        bsel = _as_list(bounds)
        for b in bsel:
            if b not in bound_metrics:
                raise ValueError(
                    f"bounds: no bound {b!r} in the table; bounds: "
                    f"{', '.join(bound_metrics) or 'none'}"
                )
    data = tab.where(metric=ys)
    if not len(data):
        raise ValueError("no rows to plot")
    # every column that tells settings apart: rows equal in all are replicates
    # (x's linked column, e.g. steps for x = "nfe", moves with x: not a setting)
    linked = LINKED_COLUMNS.get(x)
    setting_cols = [
        c
        for c in ("study", *SETTING_COLUMNS)
        if c not in (x, linked) and c in tab.columns
    ]
    cand = [*setting_cols, "metric"]
    if hue is None:
        hues = _varying(data, [c for c in cand if c != "study"] + ["study"])
        named: list[str] = []
    else:
        hues = _as_list(hue)
        for c in hues:
            if c not in tab.columns:
                raise ValueError(f"hue: no column {c!r}")
        named = [c for c in _varying(data, [*hues, *cand]) if c not in hues]
        hues = [*hues, *named]
    if "metric" not in hues and len(ys) > 1:
        hues = [*hues, "metric"]
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(figsize[0], figsize[1]), layout="constrained")
        ax = fig.subplots()
        own_figure = True
    else:
        fig = ax.figure
        own_figure = False
    # colour and marker by the settings, line style by the metric
    ckeys = [c for c in hues if c != "metric"] if len(hues) > 1 else list(hues)
    by_metric = "metric" in hues and len(hues) > 1
    palette = _palette()
    colors: dict[tuple[Any, ...], Any] = {}

    def color_of(values: Mapping[str, Any]) -> tuple[Any, str]:
        key = tuple(values.get(c) for c in ckeys)
        if key not in colors:
            i = len(colors)
            marker = _MARKERS[i // len(palette) % len(_MARKERS)]
            colors[key] = (palette[i % len(palette)], marker)
        return colors[key]

    by = [*dict.fromkeys([*hues, *setting_cols, "metric", x])]
    agg = aggregate(data, by)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for a in agg:
        groups.setdefault(tuple(a[c] for c in hues), []).append(a)
    xs_all: set[float] = set()
    handles: list[Any] = []
    any_open = any_bars = False
    for key, pts in groups.items():
        pts = sorted(pts, key=lambda a: a[x])
        xv = np.array([a[x] for a in pts], dtype=np.float64)
        yv = np.array([a["estimate"] for a in pts], dtype=np.float64)
        sv = np.array([a["stderr"] for a in pts], dtype=np.float64)
        ok = np.isfinite(yv) & (yv > 0) & np.isfinite(xv) & (xv > 0)
        xv, yv, sv = xv[ok], yv[ok], sv[ok]
        xs_all.update(xv.tolist())
        values = dict(zip(hues, key))
        color, marker = color_of(values)
        style: Any = "-"
        if by_metric:
            mi = ys.index(values["metric"]) if values["metric"] in ys else 0
            style = _STYLES[mi % len(_STYLES)]
        label = _label(hues, key, named) if hues else ", ".join(ys)
        window = fit_window(xv, yv, sv, min_snr=fit_min_snr, fit_range=fit_range)
        if fit:
            label += f" ({rate_label(xv[window], yv[window], sv[window], x)})"
            closed = window
        else:
            closed = ~((sv > 0) & (yv < fit_min_snr * sv))
        yerr = np.where(np.isfinite(sv), sv, 0.0)
        any_bars = any_bars or bool(np.any(yerr > 0))
        handles.append(
            ax.errorbar(
                xv,
                yv,
                yerr=yerr if np.any(yerr > 0) else None,
                marker=marker,
                linestyle=style,
                ms=4,
                capsize=2,
                color=color,
                label=label,
            )
        )
        if not np.all(closed):
            any_open = True
            ax.plot(
                xv[~closed],
                yv[~closed],
                linestyle="none",
                marker=marker,
                ms=4,
                mfc="white",
                mec=color,
                zorder=3,
            )
    if bsel:
        bdata = tab.where(metric=bsel)
        bhues = [c for c in ckeys if c != "metric"]
        bby = [*dict.fromkeys([*bhues, *setting_cols, "metric", x])]
        bagg = aggregate(bdata, bby)
        bgroups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        bcols = [c for c in bby if c != x]
        for a in bagg:
            bgroups.setdefault(tuple(a[c] for c in bcols), []).append(a)
        for bkey, pts in bgroups.items():
            pts = sorted(pts, key=lambda a: a[x])
            xv = np.array([a[x] for a in pts], dtype=np.float64)
            yv = np.array([a["estimate"] for a in pts], dtype=np.float64)
            ok = np.isfinite(yv) & (yv > 0) & np.isfinite(xv) & (xv > 0)
            bvalues = dict(zip(bcols, bkey))
            bi = bsel.index(bvalues["metric"])
            if bhues:  # the colour of the matching curve, a style per bound
                color, _ = color_of(bvalues)
            else:  # one curve: a colour per bound
                color = palette[(len(colors) + bi) % len(palette)]
            hk = [bvalues[c] for c in bhues]
            label = str(bvalues["metric"]) + (
                f" [{_label(bhues, hk, named)}]" if bhues else ""
            )
            handles.extend(
                ax.plot(
                    xv[ok],
                    yv[ok],
                    linestyle=_BOUND_STYLES[bi % len(_BOUND_STYLES)],
                    lw=1.5,
                    color=color,
                    label=label,
                )
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    if 2 <= len(xs_all) <= 12:
        from matplotlib.ticker import NullFormatter, ScalarFormatter

        ax.set_xticks(sorted(xs_all))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or " / ".join(metric_name(m) for m in ys))
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    note = _note(any_bars, any_open, fit, fit_range)
    if note:
        ax.annotate(
            note,
            xy=(0.0, 0.0),
            xycoords="axes fraction",
            xytext=(0, -30),
            textcoords="offset points",
            va="top",
            fontsize=7,
            color="0.3",
        )
    legend_title = ", ".join(c for c in hues if c not in named) or None
    if len(handles) > 6:
        if own_figure:
            fig.set_size_inches(figsize[0] * 1.6, figsize[1])
        ax.legend(
            handles=handles,
            fontsize=7,
            title=legend_title,
            title_fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
        )
    else:
        ax.legend(handles=handles, fontsize=7, title=legend_title, title_fontsize=7)
    return fig


def _note(
    bars: bool, open_markers: bool, fit: bool, fit_range: Sequence[Any] | None
) -> str:
    """The figure's note on error bars and open markers."""
    parts = []
    if bars:
        parts.append("error bars: ±1 standard error")
    if open_markers:
        why = (
            "outside fit_range or unresolved"
            if fit_range is not None
            else "unresolved or on the floor"
        )
        parts.append(
            f"open markers: not in the fitted slope ({why})"
            if fit
            else "open markers: below 3 standard errors (unresolved)"
        )
    return "; ".join(parts)


_MARKERS = ("o", "s", "^", "D", "v", "P")


def _pm(se: float) -> str:
    """'±se' with two decimals, or one significant digit when below 0.01."""
    if not math.isfinite(se):
        return ""
    return f"±{se:.2f}" if se >= 0.01 else f"±{se:.1g}"


_STYLES = ("-", "--", "-.", (0, (1, 1)))
_BOUND_STYLES = (":", (0, (5, 2, 1, 2)), (0, (1, 3)), (0, (8, 3)))


def _palette() -> list[Any]:
    from matplotlib import rcParams

    return list(rcParams["axes.prop_cycle"].by_key().get("color", ["C0"]))


# ---------------------------------------------------------------------------
# exact error analysis (scorelab.analysis)
# ---------------------------------------------------------------------------
def _new_axes(ax: Any, figsize: Sequence[float]) -> tuple[Any, Any]:
    """``(figure, axes)``: a new constrained Figure unless ``ax`` is given."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(figsize[0], figsize[1]), layout="constrained")
    return fig, fig.subplots()


def plot_profiles(
    profiles: Mapping[str, Any],
    *,
    ax: Any = None,
    title: str | None = None,
    figsize: Sequence[float] = (7.0, 4.5),
) -> Any:
    r"""Time profiles :math:`W_2(\hat p_{t_k}, p_{t_k})` of several runs, log y.

    Parameters
    ----------
    profiles : mapping of str to Profile
        Label (e.g. the scheme) to a :class:`scorelab.analysis.Profile` (or any
        ``(times, w2)`` pair of arrays of equal length), as returned by
        :func:`scorelab.analysis.w2_profile`. Each is drawn as it is: curves
        are never averaged or merged, so give runs that differ only in what
        the labels say.
    ax : matplotlib.axes.Axes, optional
    title : str, optional
    figsize : (float, float), default (7, 4.5)

    Returns
    -------
    matplotlib.figure.Figure
        Time on the x axis, decreasing to the right (the sampler's direction);
        log x when every time is positive. Zero values (not drawable on log
        axes) are left out.
    """
    if not profiles:
        raise ValueError("profiles must not be empty")
    fig, ax = _new_axes(ax, figsize)
    positive = True
    for label, prof in profiles.items():
        t, w = (np.asarray(a, dtype=np.float64) for a in prof)
        if t.shape != w.shape or t.ndim != 1:
            raise ValueError(
                f"profile {label!r}: times and w2 must be 1-D of equal length"
            )
        ok = np.isfinite(w) & (w > 0)
        positive = positive and bool(np.all(t > 0))
        ax.plot(t[ok], w[ok], lw=1.4, label=str(label))
    if positive:
        ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_yscale("log")
    ax.set_xlabel("t (sampler runs right)")
    ax.set_ylabel(r"$W_2(\mathrm{law}(x_k),\, p_{t_k})$")
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def plot_budget(
    budgets: Any,
    labels: Sequence[str] | None = None,
    *,
    ax: Any = None,
    title: str | None = None,
    figsize: Sequence[float] = (7.0, 4.5),
) -> Any:
    r"""Error budgets (:class:`scorelab.analysis.ErrorBudget`) as grouped bars.

    One group per source (initialisation at :math:`t_0`, its propagated
    effect, score, discretisation, early stopping) and one for the total
    :math:`W_2(\hat p, p_0)`; one bar per budget within a group, log y.

    Grouped, not stacked: the parts are W2 distances along a chain of laws, so
    the total is at most their sum (triangle inequality) but in general
    smaller; a stacked bar's height would read as the total and overstate it.
    Each part and the total are drawn at their own height instead. Parts that
    are exactly 0 (e.g. the score part without a score error) cannot be drawn
    on log axes and are marked "0" at the bottom.

    Parameters
    ----------
    budgets : ErrorBudget or sequence of ErrorBudget
    labels : sequence of str, optional
        Legend labels (default: scheme, steps, delta and init of each budget).
    ax : matplotlib.axes.Axes, optional
    title : str, optional
    figsize : (float, float), default (7, 4.5)

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .analysis import BUDGET_PARTS, ErrorBudget

    items = [budgets] if isinstance(budgets, ErrorBudget) else list(budgets)
    if not items or not all(isinstance(b, ErrorBudget) for b in items):
        raise TypeError("budgets must be one or more scorelab.analysis.ErrorBudget")
    if labels is None:
        labels = [
            f"{b.scheme}, {b.steps} steps, delta={b.delta:.3g}, init={b.init}"
            for b in items
        ]
    elif len(labels) != len(items):
        raise ValueError(f"{len(labels)} labels for {len(items)} budgets")
    groups = ["initialisation", *BUDGET_PARTS, "total"]
    names = [
        "init. at t_0",
        "init. propagated",
        "score",
        "discretisation",
        "early stopping",
        "total W2(out, p_0)",
    ]
    fig, ax = _new_axes(ax, figsize)
    n = len(items)
    width = 0.8 / n
    x = np.arange(len(groups), dtype=np.float64)
    vals = np.array([[float(getattr(b, g)) for g in groups] for b in items])
    pos = vals[vals > 0]
    floor = float(pos.min()) / 3.0 if pos.size else 1e-16
    for i, (b, lab) in enumerate(zip(vals, labels)):
        xi = x - 0.4 + (i + 0.5) * width
        ok = b > 0
        ax.bar(xi[ok], b[ok], width=width, label=str(lab))
        for xx in xi[~ok]:
            ax.text(xx, floor, "0", ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("W2 (exact)")
    if title:
        ax.set_title(title)
    ax.grid(True, axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=7)
    return fig
