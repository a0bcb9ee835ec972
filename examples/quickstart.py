"""scorelab quickstart: W2 error vs number of steps, exact and Monte Carlo.

1. A 10-D Gaussian target (exact law of the sampler, no Monte Carlo noise): W2
   between the output law and the true marginal at the final time, for the
   reverse-SDE and probability-flow exponential integrators on VP.
2. A 2-D Gaussian mixture (8 components on a circle): Monte Carlo samples and the
   Gelbrich (moment) W2 lower bound against the exact mixture moments, with a
   bootstrap standard error.

Prints a table and writes ``quickstart.png`` (or the path given as argv[1]).
"""

from __future__ import annotations

import sys

import numpy as np

import scorelab as sl


def main(out: str = "quickstart.png") -> None:
    process = sl.VP()
    steps_list = [10, 20, 40, 80, 160, 320]
    rows = []
    # 1. Gaussian target, exact law
    d = 10
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    cov = Q @ np.diag(np.geomspace(0.05, 4.0, d)) @ Q.T
    gauss = sl.Gaussian(rng.standard_normal(d), cov)
    for scheme in ("ei-sde", "ei-ode"):
        for steps in steps_list:
            g = sl.grid("uniform", steps, process=process, delta=1e-3)
            law = sl.exact_law(gauss, process, scheme, g, init="exact")
            ref = gauss.noised(process, g[-1])
            w2 = sl.w2_gaussian(law.mean, law.cov, ref.mean, ref.cov)
            rows.append(("gaussian-10d", scheme, steps, w2, 0.0))
    # 2. Mixture target, Monte Carlo
    K = 8
    ang = 2 * np.pi * np.arange(K) / K
    gmm = sl.GaussianMixture(
        np.full(K, 1 / K),
        4 * np.c_[np.cos(ang), np.sin(ang)],
        np.full(K, 0.1),
        covariance_type="spherical",
    )
    n = 20000
    for steps in steps_list:
        g = sl.grid("uniform", steps, process=process, delta=1e-3)
        ref = gmm.noised(process, g[-1])
        x = sl.sample(gmm, process, "ei-sde", g, n, seed=1, init="exact")
        w2 = sl.w2_gaussian(x.mean(0), np.cov(x.T), ref.mean, ref.cov)
        boots = []
        brng = np.random.default_rng(2)
        for _ in range(50):
            xb = x[brng.integers(0, n, n)]
            boots.append(sl.w2_gaussian(xb.mean(0), np.cov(xb.T), ref.mean, ref.cov))
        rows.append(
            ("gmm-2d-8 (Gelbrich, MC)", "ei-sde", steps, w2, float(np.std(boots)))
        )

    print(f"{'target':<26}{'scheme':<10}{'steps':>6}{'W2':>14}{'stderr':>12}")
    for r in rows:
        print(f"{r[0]:<26}{r[1]:<10}{r[2]:>6}{r[3]:>14.4e}{r[4]:>12.2e}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for key in sorted({(r[0], r[1]) for r in rows}):
        sel = [r for r in rows if (r[0], r[1]) == key]
        s = np.array([r[2] for r in sel], float)
        w = np.array([r[3] for r in sel])
        e = np.array([r[4] for r in sel])
        slope = np.polyfit(np.log(s), np.log(np.maximum(w, 1e-300)), 1)[0]
        ax.errorbar(
            s, w, yerr=e, marker="o", label=f"{key[0]}, {key[1]} (slope {slope:.2f})"
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("steps")
    ax.set_ylabel("W2 to the true marginal")
    ax.set_title("scorelab quickstart (VP, uniform grid)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
