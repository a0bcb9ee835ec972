"""scorelab quickstart through the Python API: the study of ``quickstart.toml``.

The same study as ``scorelab run examples/quickstart.toml`` (``STUDY`` below is
that file's content as a dict; ``tests/test_docs.py`` checks they
agree), built with :meth:`scorelab.Study.from_dict`, run with
:meth:`scorelab.Study.run` and plotted with :func:`scorelab.plot_convergence`:

1. A 10-D anisotropic Gaussian target: the exact law of each sampler's output (no
   Monte Carlo noise) against the true marginal at delta, W2, for the reverse-SDE
   and probability-flow exponential integrators on VP (first order: slopes near -1).
2. A 2-D mixture of 8 Gaussians on a circle: 20,000 particles per cell and the
   sliced W2 against the exact mixture, with its standard error. It decreases
   until it meets the Monte Carlo floor; points in the floor are drawn open and
   left out of the fitted slope (:func:`scorelab.plots.fit_window`).

Writes ``quickstart_api.csv`` and ``quickstart_api.png`` into ``--out`` (default:
the current directory; names distinct from the command's ``quickstart.csv`` and
``quickstart.png``). ``--quick`` runs fewer steps and particles (a few seconds).

    python examples/quickstart.py [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import scorelab as sl
from scorelab.study import ResultTable

#: The study of examples/quickstart.toml.
STUDY: dict[str, Any] = {
    "name": "quickstart",
    "seed": 2024,
    "out": "quickstart.csv",
    "processes": ["VP"],
    "grids": ["uniform"],
    "delta": 1e-3,
    "init": "exact",
    "targets": {"gaussian-10d": "gaussian-10d-aniso", "gmm-2d-8": "gmm-2d-8"},
    "sweep": [
        {
            "name": "exact law",
            "targets": ["gaussian-10d"],
            "schemes": ["ei-sde", "ei-ode"],
            "steps": [10, 20, 40, 80, 160, 320, 640],
            "metrics": ["w2"],
        },
        {
            "name": "monte carlo",
            "targets": ["gmm-2d-8"],
            "schemes": ["ei-sde"],
            "steps": [5, 10, 20, 40, 80, 160],
            "n": 20000,
            "metrics": [{"name": "sliced_w2", "n_projections": 32}],
        },
    ],
    "plot": {
        "out": "quickstart.png",
        "title": "scorelab quickstart: VP, uniform grid, exact initialisation",
        "ylabel": "W2 (exact law) / sliced W2 (Monte Carlo)",
    },
}


def study_dict(quick: bool = False) -> dict[str, Any]:
    """The study with this script's output names; ``quick``: a small version."""
    data = copy.deepcopy(STUDY)
    data["out"] = "quickstart_api.csv"
    data["plot"]["out"] = "quickstart_api.png"
    if quick:
        data["sweep"][0]["steps"] = [10, 20, 40, 80]
        data["sweep"][1]["steps"] = [5, 10, 20, 40]
        data["sweep"][1]["n"] = 4000
    return data


def main(out_dir: str | Path = ".", quick: bool = False) -> ResultTable:
    """Run the study into ``out_dir`` and plot it; returns the result table."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = study_dict(quick)
    study = sl.Study.from_dict(data, source="quickstart.py")
    table = study.run(out / data["out"], progress=False)
    print(table.format_summary())
    plot = {k: v for k, v in data["plot"].items() if k != "out"}
    fig = sl.plot_convergence(table, **plot)
    png = out / data["plot"]["out"]
    fig.savefig(png, dpi=120)
    print(f"wrote {out / data['out']} and {png}")
    return table


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".", help="output folder (default: .)")
    ap.add_argument("--quick", action="store_true", help="fewer steps and particles")
    args = ap.parse_args()
    main(args.out, args.quick)
