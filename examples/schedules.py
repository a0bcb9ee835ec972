"""Optimised time grids against the named families: exact W2 and transfer.

(a) a 10-D Gaussian with eigenvalues log-spaced in [0.01, 10] and (b) the d = 3072
power-law spectrum ``lambda_k = k^-1.2`` (``--quick``: d = 256): for each scheme
and step count, the *exact* W2 (``exact_law``, VP, delta = 1e-3, prior init) to
p_delta of every named grid family (``scorelab.GRID_KINDS`` at their default
options, with ``beta_a`` at a = -5 and a = 5 instead of its default a = 0, which
is the uniform grid under VP) and of the grid
optimised by :func:`scorelab.schedules.optimize_grid` started from the best family
(so it is never worse), with the gain factor best-family / optimised.

Robustness (cancellation): a final-error optimum can be tuned to *this*
spectrum's accident. For each cell, ``*_worst`` is the worst exact W2 over the
spectra scaled by 0.5, 1 and 2 (the family column: the best family by that
worst case), and ``robust`` is the grid optimised for that worst case
(``optimize_grid(..., spectra=[...])``, a minimax solved in epigraph form),
with its nominal and worst errors.

Transfer: grids optimised on the moment-matched Gaussian of (i) the 2-D 8-mode
ring and (ii) a 10-D two-mode mixture are used on the mixture itself, with Monte
Carlo sliced W2 (+- one standard error) against the mixture noised to delta.

Usage::

    python examples/schedules.py [--quick] [--no-opt] [--out DIR]

Writes ``DIR/schedules.csv``, ``DIR/schedules_transfer.csv``,
``DIR/schedules_error.png`` (error vs steps per family and optimised),
``DIR/schedules_grids.png`` (optimised grids: log-SNR vs step index) and
``DIR/schedules_transfer.png``.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from typing import Any

import numpy as np

import scorelab as sl
from scorelab.exact import exact_law
from scorelab.metrics import sliced_w2
from scorelab.metrics_gaussian import w2_gaussian

SCHEMES = ("ei-sde", "ddim", "dpm-solver++-2m", "dpm-solver++-3m", "heun")
STEPS = (5, 10, 20, 50)
DELTA = 1e-3


#: The families compared: (label, kind, options).
FAMILIES: tuple[tuple[str, str, dict[str, float]], ...] = (
    # beta_a at its default a = 0 is the uniform grid under VP: not repeated
    *((k, k, {}) for k in sl.GRID_KINDS if k != "beta_a"),
    ("beta_a(a=-5)", "beta_a", {"a": -5.0}),
    ("beta_a(a=5)", "beta_a", {"a": 5.0}),
)
FAMILY_LABELS = tuple(label for label, _, _ in FAMILIES)


def families(proc: Any, steps: int) -> dict[str, np.ndarray]:
    """Every family of :data:`FAMILIES` that is defined for ``steps`` steps."""
    out = {}
    for label, kind, opts in FAMILIES:
        try:
            out[label] = sl.grid(kind, steps, process=proc, delta=DELTA, **opts)
        except ValueError:  # e.g. "exponential" needs steps > T - delta
            pass
    return out


def exact_w2(target: Any, proc: Any, scheme: str, g: np.ndarray) -> float:
    """Exact W2 between the sampler's output law and p_delta."""
    law = exact_law(target, proc, scheme, g)
    return float(w2_gaussian(law, target.noised(proc, float(g[-1]))))


def optimise(target: Any, proc: Any, scheme: str, steps: int, start: np.ndarray,
             maxiter: int, spectra: list[Any] | None = None) -> np.ndarray | None:
    """Grid optimised from ``start`` (worst case over ``[target, *spectra]``),
    or None without ``scorelab.schedules``."""
    try:
        from scorelab.schedules import optimize_grid
    except ImportError:
        return None
    try:
        res = optimize_grid(target, proc, scheme, steps, delta=DELTA, start=start,
                            maxiter=maxiter, spectra=spectra)
    except ValueError as exc:  # reported, and the cell's optimised column is nan
        print(f"optimize_grid failed ({scheme}, N = {steps}): {exc}", flush=True)
        return None
    return np.asarray(res.grid)


def ring(K: int = 8, radius: float = 4.0, var: float = 0.1) -> sl.GaussianMixture:
    """The 2-D K-mode ring mixture."""
    a = 2 * np.pi * np.arange(K) / K
    means = radius * np.stack([np.cos(a), np.sin(a)], axis=1)
    return sl.GaussianMixture(np.full(K, 1 / K), means, np.tile(var * np.eye(2),
                                                                  (K, 1, 1)))


def two_mode(d: int = 10) -> sl.GaussianMixture:
    """A 10-D two-mode mixture (modes at +-2 e_1, unit covariance)."""
    m = np.zeros((2, d))
    m[0, 0], m[1, 0] = 2.0, -2.0
    return sl.GaussianMixture([0.5, 0.5], m, np.tile(np.eye(d), (2, 1, 1)))


def main(argv: list[str] | None = None) -> None:
    doc = __doc__ or ""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small, for tests")
    ap.add_argument("--no-opt", action="store_true", help="families only")
    ap.add_argument("--maxiter", type=int, default=200)
    ap.add_argument("--n-mc", type=int, default=4000, help="MC samples")
    ap.add_argument("--out", default="examples/out")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    proc = sl.VP()
    schemes = SCHEMES[2:3] if args.quick else SCHEMES
    steps_list = (5, 10) if args.quick else STEPS
    dim = 256 if args.quick else 3072
    maxiter = 5 if args.quick else args.maxiter
    n_mc = 500 if args.quick else args.n_mc
    k = np.arange(1, dim + 1, dtype=np.float64)
    targets = {
        "10-D 0.01..10": sl.Gaussian.from_spectrum(np.logspace(-2, 1, 10)),
        f"d={dim} k^-1.2": sl.Gaussian.from_spectrum(k**-1.2),
    }
    t0 = time.perf_counter()
    rows, opt_grids = [], {}
    for tname, tg in targets.items():
        lam = tg.spectrum[0]
        shifted = [sl.Gaussian.from_spectrum(lam * c) for c in (0.5, 2.0)]

        def worst(scheme: str, g: np.ndarray | None, tg: Any = tg,
                  shifted: list[Any] = shifted) -> float:
            if g is None:
                return float("nan")
            return max(exact_w2(t, proc, scheme, g) for t in (tg, *shifted))

        for scheme in schemes:
            for n in steps_list:
                fgrids = families(proc, n)
                fam = {kd: exact_w2(tg, proc, scheme, g) for kd, g in fgrids.items()}
                best = min(fam, key=fam.__getitem__)
                fam_worst = {kd: worst(scheme, g) for kd, g in fgrids.items()}
                best_w = min(fam_worst, key=fam_worst.__getitem__)
                og = rg = None
                if not args.no_opt:
                    og = optimise(tg, proc, scheme, n, fgrids[best], maxiter)
                    rg = optimise(tg, proc, scheme, n, fgrids[best_w], maxiter,
                                  spectra=shifted)
                w_opt = float("nan") if og is None else exact_w2(tg, proc, scheme, og)
                w_rob = float("nan") if rg is None else exact_w2(tg, proc, scheme, rg)
                if og is not None:
                    opt_grids[(tname, scheme, n)] = og
                rows.append({"target": tname, "scheme": scheme, "steps": n, **fam,
                             "best": best, "optimised": w_opt,
                             "gain": fam[best] / w_opt,
                             "best_worst": best_w,
                             "family_worst": fam_worst[best_w],
                             "optimised_worst": worst(scheme, og),
                             "robust": w_rob, "robust_worst": worst(scheme, rg)})
                r = rows[-1]
                print(f"{tname:14s} {scheme:16s} N={n:3d} best {best:11s} "
                      f"{fam[best]:.3e}  optimised {w_opt:.3e}  gain "
                      f"{r['gain']:.3g}  worst: family {r['family_worst']:.3e} "
                      f"optimised {r['optimised_worst']:.3e} robust "
                      f"{r['robust_worst']:.3e}  ({time.perf_counter() - t0:.0f} s)",
                      flush=True)
    keys = ["target", "scheme", "steps", *FAMILY_LABELS, "best", "optimised", "gain",
            "best_worst", "family_worst", "optimised_worst", "robust", "robust_worst"]
    with open(os.path.join(args.out, "schedules.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys, restval="")
        w.writeheader()
        w.writerows(rows)

    # transfer: optimise on the moment-matched Gaussian, run the mixture by MC
    scheme_t, n_t = "dpm-solver++-2m", 10
    trows = []
    for mname, mix in (("2-D 8-mode ring", ring()), ("10-D two-mode", two_mode())):
        gauss = sl.Gaussian(mix.mean, mix.cov)
        fgrids = families(proc, n_t)
        best = min(fgrids,
                   key=lambda kd: exact_w2(gauss, proc, scheme_t, fgrids[kd]))
        grids = dict(fgrids)
        if not args.no_opt:
            og = optimise(gauss, proc, scheme_t, n_t, fgrids[best], maxiter)
            if og is not None:
                grids["optimised"] = og
        ref = mix.noised(proc, DELTA)
        for gname, g in grids.items():
            x = sl.sample(mix, proc, scheme_t, g, n_mc, seed=1)
            v, se = sliced_w2(x, ref, seed=2)
            trows.append({"mixture": mname, "grid": gname, "sliced_w2": v, "se": se,
                          "best_on_gaussian": gname == best})
            print(f"{mname:16s} {gname:11s} sliced W2 {v:.4f} +- {se:.4f}",
                  flush=True)
    with open(os.path.join(args.out, "schedules_transfer.csv"), "w",
              newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(trows[0]))
        w.writeheader()
        w.writerows(trows)
    _plots(args.out, rows, opt_grids, trows, proc)
    print(f"wall time {time.perf_counter() - t0:.1f} s")


def _plots(out: str, rows: list[dict[str, Any]], opt_grids: dict[Any, np.ndarray],
           trows: list[dict[str, Any]], proc: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = sorted({(r["target"], r["scheme"]) for r in rows})
    fig, axes = plt.subplots(1, len(cells), figsize=(3.2 * len(cells), 3),
                             squeeze=False)
    for ax, (tn, sc) in zip(axes[0], cells):
        sub = [r for r in rows if r["target"] == tn and r["scheme"] == sc]
        ns = [r["steps"] for r in sub]
        for i, kd in enumerate(FAMILY_LABELS):
            ys = [r.get(kd, np.nan) for r in sub]
            # colour and marker together tell the 10+ families apart
            ax.loglog(ns, ys, ls="--", lw=0.8, color=f"C{i % 10}",
                      marker="os^vD<>"[i % 7], ms=3, label=kd)
        for kd, style in (("optimised", "k-o"), ("robust", "k:s")):
            ax.loglog(ns, [r.get(kd, np.nan) for r in sub], style, ms=4, label=kd)
        ax.set_title(f"{sc}\n{tn}", fontsize=7)
        ax.set_xlabel("steps")
    axes[0][0].set_ylabel("exact W2 to p_delta")
    axes[0][-1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "schedules_error.png"), dpi=90)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for (tn, sc, n), g in opt_grids.items():
        ax.plot(np.arange(n + 1), proc.log_snr(g), lw=0.8, label=f"{sc} N={n} {tn}")
    ax.set_xlabel("step index i")
    ax.set_ylabel("log-SNR lambda(t_i)")
    if opt_grids:
        ax.legend(fontsize=4)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "schedules_grids.png"), dpi=90)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), squeeze=False)
    for ax, mn in zip(axes[0], sorted({r["mixture"] for r in trows})):
        sub = [r for r in trows if r["mixture"] == mn]
        ax.errorbar(range(len(sub)), [r["sliced_w2"] for r in sub],
                    yerr=[r["se"] for r in sub], fmt="o")
        ax.set_xticks(range(len(sub)), [r["grid"] for r in sub], rotation=60,
                      fontsize=6)
        ax.set_title(f"{mn}: MC sliced W2 +- SE", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "schedules_transfer.png"), dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
