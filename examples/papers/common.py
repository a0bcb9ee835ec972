"""Helpers shared by the paper scripts: random Gaussian targets, the CSV, row lookup."""

from __future__ import annotations

import csv
from typing import Any

import numpy as np

from scorelab import fit_rate
from scorelab.targets import Gaussian


def rotated_gaussian(d: int, mean: float, lam_min: float, seed: int = 0) -> Gaussian:
    """N(mean 1, Q diag(lam_min .. 2) Q^T), Q a random rotation (lam = 0.5 if d = 1)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    lam = np.linspace(lam_min, 2.0, d) if d > 1 else np.array([0.5])
    return Gaussian(np.full(d, mean), Q @ np.diag(lam) @ Q.T)


def write_rows(rows: list[dict[str, Any]], path: str) -> None:
    """The rows (dicts with the same keys) as a CSV file with a header."""
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _value(s: str) -> Any:
    """A CSV cell as int, else float, else the string."""
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    return s


def read_rows(path: str) -> list[dict[str, Any]]:
    """The rows of a CSV written by write_rows, numbers as int or float."""
    with open(path, newline="") as fh:
        return [{k: _value(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def select(
    rows: list[dict[str, Any]],
    part: str,
    process: str,
    quantity: str,
    key: str = "value",
    **match: float,
) -> list[Any]:
    """``row[key]`` of the rows of one part, process and quantity (and ``match``)."""
    return [
        r[key]
        for r in rows
        if r["part"] == part
        and r["process"] == process
        and r["quantity"] == quantity
        and all(r[k] == v for k, v in match.items())
    ]


def slope(x: Any, y: Any) -> float:
    """Least-squares slope of log y against log x (scorelab.fit_rate)."""
    return fit_rate(x, y)[0]


def ref_slope(
    ax: Any,
    x: Any,
    y: Any,
    p: float,
    anchor: int = 0,
    text: str = "",
    label: str | None = None,
) -> None:
    """A dotted grey guide ``y ~ x^p`` through point ``anchor`` of (x, y), labelled
    "slope p" (and ``text``); ``label``: its legend entry (none by default).

    ``y`` may hold only the anchor's value (then ``anchor`` must be 0).
    """
    xs = np.asarray(x, dtype=float)
    y0 = float(np.asarray(y, dtype=float)[anchor])
    x0 = xs[anchor]
    ax.plot(xs, y0 * (xs / x0) ** p, ":", color="0.5", lw=1.2, label=label)
    xe = xs[-1] if anchor == 0 else xs[0]
    frac = f"{p:g}"
    ax.annotate(
        f"slope {frac}{' ' + text if text else ''}",
        (xe, y0 * (xe / x0) ** p),
        fontsize=7,
        color="0.4",
        textcoords="offset points",
        xytext=(3, 3),
    )


def panel(
    ax: Any,
    letter: str,
    title: str,
    xlabel: str,
    ylabel: str,
    xticks: Any = None,
) -> None:
    """Panel letter and one-claim title, axis labels, legend.

    ``xticks``: put the x ticks at these values (the settings run), labelled
    with 3 significant digits.
    """
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    ax.set_title(f"({letter}) {title}", loc="left", fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if xticks is not None:
        vals = sorted({float(v) for v in xticks})
        ax.xaxis.set_major_locator(FixedLocator(vals))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{v:.3g}" for v in vals])
        ax.xaxis.set_minor_formatter(NullFormatter())
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best", framealpha=0.85)
