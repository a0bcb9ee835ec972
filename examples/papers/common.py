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
