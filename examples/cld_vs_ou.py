"""Does critically damped Langevin (CLD) need fewer steps than OU at equal T?

Paper 1 (Chen et al. 2023) argues that CLD does not improve the dimension or
accuracy dependence of DDPM. Here both run the score-frozen exponential integrator
(reverse SDE and probability-flow ODE) with the exact score on a Gaussian target,
from their stationary priors at the same horizon T, and we compute the exact W2
between the output law (position block) and the data distribution for a range of
step counts — no Monte Carlo noise.

Usage: python examples/cld_vs_ou.py [--out DIR] [--d 10] [--T 5]
Writes DIR/cld_vs_ou.csv and DIR/cld_vs_ou.png and prints the steps needed for
W2 <= eps for several eps.
"""

from __future__ import annotations

import argparse
import csv
import os

import numpy as np

import scorelab as sl
from scorelab.cld import CLD


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="examples/out")
    ap.add_argument("--d", type=int, default=10)
    ap.add_argument("--T", type=float, default=5.0)
    ap.add_argument("--delta", type=float, default=1e-3)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(0)
    d = args.d
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    target = sl.Gaussian(
        rng.normal(size=d), Q @ np.diag(np.geomspace(0.1, 4.0, d)) @ Q.T
    )
    procs = {"OU": sl.OU(T=args.T), "CLD": CLD(T=args.T)}
    steps = [5, 10, 20, 40, 80, 160, 320, 640]
    rows = []
    for pname, proc in procs.items():
        for scheme in ("ei-sde", "ei-ode"):
            for N in steps:
                g = sl.grid("uniform", N, T=args.T, delta=args.delta, process=proc)
                law = sl.exact_law(target, proc, scheme, g)
                w2 = sl.w2_gaussian(law.mean, law.cov, target.mean, target.cov)
                rows.append({"process": pname, "scheme": scheme, "steps": N, "w2": w2})
    path = os.path.join(args.out, "cld_vs_ou.csv")
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"{'process':<8}{'scheme':<8}" + "".join(f"{n:>10}" for n in steps))
    for pname in procs:
        for scheme in ("ei-sde", "ei-ode"):
            vals = [
                r["w2"] for r in rows if r["process"] == pname and r["scheme"] == scheme
            ]
            print(f"{pname:<8}{scheme:<8}" + "".join(f"{v:>10.4f}" for v in vals))
    for eps in (0.3, 0.1, 0.03):
        out = []
        for pname in procs:
            for scheme in ("ei-sde", "ei-ode"):
                ok = [
                    r["steps"]
                    for r in rows
                    if r["process"] == pname
                    and r["scheme"] == scheme
                    and r["w2"] <= eps
                ]
                out.append(
                    f"{pname}/{scheme}: {min(ok) if ok else '>' + str(steps[-1])}"
                )
        print(f"steps for W2 <= {eps}: " + ", ".join(out))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for pname in procs:
        for scheme in ("ei-sde", "ei-ode"):
            vals = [
                r["w2"] for r in rows if r["process"] == pname and r["scheme"] == scheme
            ]
            ax.loglog(steps, vals, marker="o", label=f"{pname} {scheme}")
    ax.set_xlabel("steps")
    ax.set_ylabel("exact W2 to the data")
    ax.set_title(f"CLD vs OU, Gaussian target d={d}, T={args.T}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "cld_vs_ou.png"), dpi=120)
    print(f"wrote {path} and cld_vs_ou.png")


if __name__ == "__main__":
    main()
