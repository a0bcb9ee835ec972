"""Does critically damped Langevin (CLD) need fewer steps than OU/VP at equal T?

Paper 1 (Chen et al. 2023, Sec. 5) asks whether CLD's smoother paths reduce the
number of steps for a given accuracy; it proves no improvement in its bounds
and conjectures none in the dimension dependence. Here both processes run the
score-frozen exponential integrator of the reverse SDE ("ei-sde") and of the
probability-flow ODE ("ei-ode") with the exact score on a Gaussian target, and
the output law is computed *exactly* (``exact_law``, no Monte Carlo), so
"steps needed for W2 <= eps" is a deterministic number.

Two pairs at equal horizon T:

- paper 1's: ``OU(T)`` (dX = -X dt + sqrt(2) dB) vs ``CLD()`` (normalised) at
  T = 5 and T = 10;
- Dockhorn et al.'s: ``VP()`` (beta 0.1 -> 20, T = 1) vs ``CLD("dockhorn")``
  (T = 1).

Two error notions, on uniform grids (paper 1's constant step), delta = 1e-3:

- ``disc``: initialised at the exact marginal (``init="exact"``), W2 between
  the output and the true marginal at delta (position block for CLD) — the
  discretisation error alone;
- ``total``: initialised at the stationary prior, W2 to the data — includes the
  initialisation error at T and the early-stopping bias.

Usage: ``python examples/cld_vs_ou.py [--out DIR] [--d 10] [--quick]``. Writes
``DIR/cld_vs_ou.csv`` (every W2 computed) and ``DIR/cld_vs_ou.png`` and prints
the steps needed for W2 <= eps (interpolated log-log between step counts;
">N" when not reached; "never" when the curve plateaus above eps).
"""

from __future__ import annotations

import argparse
import csv
import os
import time

import numpy as np

import scorelab as sl
from scorelab.cld import CLD

EPS = (0.1, 0.03, 0.01)


def _reference(target: sl.Gaussian, proc: sl.Process, t: float) -> sl.Gaussian:
    """True marginal of the position at time t."""
    law = proc.position_marginal(target, t)
    assert isinstance(law, sl.Gaussian)
    return law


def curve(
    target: sl.Gaussian,
    proc: sl.Process,
    scheme: str,
    T: float,
    delta: float,
    notion: str,
    steps: list[int],
) -> list[float]:
    """Exact W2 for every step count."""
    out = []
    for N in steps:
        g = sl.grid("uniform", N, T=T, delta=delta)
        if notion == "disc":
            law = sl.exact_law(target, proc, scheme, g, init="exact")
            ref = _reference(target, proc, g[-1])
        else:
            law = sl.exact_law(target, proc, scheme, g)
            ref = target
        out.append(float(sl.w2_gaussian(law.mean, law.cov, ref.mean, ref.cov)))
    return out


def steps_needed(steps: list[int], w2: list[float], eps: float) -> str:
    """First crossing of W2 = eps, log-log interpolated; '>N' or 'never'."""
    w = np.asarray(w2)
    below = np.flatnonzero(w <= eps)
    if below.size == 0:
        # a plateau (relative change < 2% over the last doubling) never gets there
        plateau = abs(w[-1] - w[-2]) < 0.02 * w[-1]
        return "never" if plateau else f">{steps[-1]}"
    i = int(below[0])
    if i == 0:
        return f"<={steps[0]}"
    x0, x1 = np.log(steps[i - 1]), np.log(steps[i])
    y0, y1 = np.log(w[i - 1]), np.log(w[i])
    x = x0 + (np.log(eps) - y0) * (x1 - x0) / (y1 - y0)
    return str(int(np.ceil(np.exp(x))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="examples/out", help="output folder")
    ap.add_argument("--d", type=int, default=10, help="dimension of the target")
    ap.add_argument("--delta", type=float, default=1e-3, help="early stopping")
    ap.add_argument("--quick", action="store_true", help="fewer step counts")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(0)
    d = args.d
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    target = sl.Gaussian(
        rng.normal(size=d), Q @ np.diag(np.geomspace(0.1, 4.0, d)) @ Q.T
    )
    top = 1024 if args.quick else 8192
    steps = sorted({int(round(x)) for x in np.geomspace(4, top, 25)})
    pairs = [
        ("paper1 T=5", 5.0, {"OU": sl.OU(T=5.0), "CLD": CLD(T=5.0)}),
        ("paper1 T=10", 10.0, {"OU": sl.OU(T=10.0), "CLD": CLD(T=10.0)}),
        ("dockhorn T=1", 1.0, {"VP": sl.VP(), "CLD": CLD("dockhorn")}),
    ]
    rows = []
    curves = {}
    t0 = time.time()
    for pair, T, procs in pairs:
        for pname, proc in procs.items():
            for scheme in ("ei-sde", "ei-ode"):
                for notion in ("disc", "total"):
                    w = curve(target, proc, scheme, T, args.delta, notion, steps)
                    curves[(pair, pname, scheme, notion)] = w
                    rows += [
                        {
                            "pair": pair,
                            "process": pname,
                            "scheme": scheme,
                            "notion": notion,
                            "T": T,
                            "steps": N,
                            "w2": v,
                        }
                        for N, v in zip(steps, w)
                    ]
    path = os.path.join(args.out, "cld_vs_ou.csv")
    with open(path, "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)

    print(f"Gaussian target d={d}, eigenvalues 0.1..4, delta={args.delta}, uniform")
    print(f"grids, exact laws ({time.time() - t0:.1f} s). Steps for W2 <= eps:")
    head = f"{'pair':<13}{'process':<8}{'scheme':<8}{'notion':<7}"
    print(head + "".join(f"{'eps=' + str(e):>11}" for e in EPS) + f"{'W2@max':>11}")
    for (pair, pname, scheme, notion), w in curves.items():
        need = [steps_needed(steps, w, e) for e in EPS]
        print(
            f"{pair:<13}{pname:<8}{scheme:<8}{notion:<7}"
            + "".join(f"{s:>11}" for s in need)
            + f"{w[-1]:>11.2e}"
        )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), sharex=True, sharey=True)
    for j, (pair, _, procs) in enumerate(pairs):
        for i, notion in enumerate(("disc", "total")):
            ax = axes[i, j]
            for pname in procs:
                for scheme, ls in (("ei-sde", "-"), ("ei-ode", "--")):
                    ax.loglog(
                        steps,
                        curves[(pair, pname, scheme, notion)],
                        ls,
                        label=f"{pname} {scheme}",
                    )
            for e in EPS:
                ax.axhline(e, color="0.8", lw=0.8)
            ax.set_ylim(1e-6, 1e2)  # coarse CLD grids blow up (h >~ 1/kappa)
            ax.set_title(f"{pair}: {notion}")
            if i == 1:
                ax.set_xlabel("steps (uniform grid)")
            if j == 0:
                ax.set_ylabel("exact W2")
            ax.legend(fontsize=7)
    fig.suptitle("CLD vs OU/VP at equal T: exact W2 of the exponential integrators")
    fig.tight_layout()
    png = os.path.join(args.out, "cld_vs_ou.png")
    fig.savefig(png, dpi=110)
    print(f"wrote {path} and {png}")


if __name__ == "__main__":
    main()
