"""Paper 1 (Chen, Chewi, Li, Li, Salim, Zhang, arXiv:2209.11215): TV/KL of the
exponential-integrator DDPM next to Theorem 2's bound, on exact laws.

Gaussian data N(mu, Sigma), OU forward process dX = -X dt + sqrt(2) dB (paper 1's),
EI-SDE with constant step h = T/N from N(0, I), no early stopping (delta = 1e-6).
Everything is exact (no Monte Carlo): output law by scorelab.exact.exact_law, KL in
closed form, TV by two-sided bounds (exact in 1-D), and the KL between the path
laws of the exact reverse chain and of the sampler on the grid in closed form
(Gauss-Markov chains, per eigen-direction).

Parts (rows of the CSV, column ``part``):
  A  discretisation: error vs h at T = 8 (OU, and VP for comparison)
  B  score error: a constant score bias of size eps (L2 error exactly eps) vs T
  C  dimension: error vs d at fixed h
  D  CLD vs OU at equal T = 10 and equal step (position marginal), d and 4d
  E  L2 vs sup norm: a score error concentrated where p_t is small against a
     uniform one with the same L2(p_t) size at every step (1-D N(0, 1) data,
     sampled; Kolmogorov distance to p_delta, a lower bound on TV, +- 1 SE);
     column eps = the bump weight w

Usage: python examples/papers/paper1.py [--out DIR] [--quick]
Writes DIR/paper1.csv and DIR/paper1.png and prints a summary.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

import numpy as np
from common import panel, ref_slope, rotated_gaussian, select, slope, write_rows
from measures import l2_vs_sup

from scorelab.bounds import chen_kl_bound, chen_tv_bound
from scorelab.errors import Bias
from scorelab.exact import exact_law
from scorelab.grids import grid
from scorelab.metrics import kl_gaussian, tv_gaussian_bounds, w2_gaussian
from scorelab.processes import OU, VP, Process
from scorelab.targets import Gaussian

DELTA = 1e-6


def make_target(d: int, seed: int = 0) -> Gaussian:
    return rotated_gaussian(d, 0.5, 0.5, seed)


def path_kl(
    target: Gaussian, proc: Process, g: np.ndarray, bias: np.ndarray | None = None
) -> float:
    """KL(exact reverse chain on the grid || EI-SDE chain), transitions only.

    Per eigen-direction: exact X_lo | X_hi ~ N(a_lo mu + K (X_hi - a_hi mu), V),
    K = (a_hi/a_lo) v_lo / v_hi, V = v_lo - K^2 v_hi; sampler
    Y_lo | Y_hi = y ~ N(a y + (c/v_hi) a_hi mu + c b, n), a = r - c/v_hi. The chain
    rule sums E_{X_hi ~ p_hi} KL of the transitions.
    """
    lam, Q = np.linalg.eigh(target.cov)
    mu = Q.T @ target.mean
    b = np.zeros_like(mu) if bias is None else Q.T @ bias
    hi, lo = g[:-1], g[1:]
    r, c, n = (np.asarray(x) for x in proc.ei_coefficients(hi, lo))
    total = 0.0
    for k in range(hi.size):
        ah, al = float(proc.alpha(hi[k])), float(proc.alpha(lo[k]))
        vh = ah**2 * lam + float(proc.sigma2(hi[k]))
        vl = al**2 * lam + float(proc.sigma2(lo[k]))
        K = (ah / al) * vl / vh
        V = vl - K**2 * vh
        a = r[k] - c[k] / vh
        const = al * mu - a * ah * mu - (c[k] / vh) * ah * mu - c[k] * b
        ed2 = const**2 + (K - a) ** 2 * vh
        total += 0.5 * float(np.sum(V / n[k] - 1 - np.log(V / n[k]) + ed2 / n[k]))
    return total


def measure(
    target: Gaussian,
    proc: Process,
    N: int,
    T: float,
    bias: np.ndarray | None = None,
) -> dict[str, float]:
    g = grid("uniform", N, T=T, delta=DELTA)
    err = None if bias is None else Bias(bias)
    law = exact_law(target, proc, "ei-sde", g, score_error=err)
    ref = target.noised(proc, DELTA)
    kl = float(kl_gaussian(ref.mean, ref.cov, law.mean, law.cov))
    lo, hi = tv_gaussian_bounds(law.mean, law.cov, ref.mean, ref.cov)
    return {
        "kl": kl,
        "tv_lower": lo,
        "tv_upper": hi,
        "w2": float(w2_gaussian(law.mean, law.cov, ref.mean, ref.cov)),
        "path_kl": path_kl(target, proc, g, bias),
    }


def constants(target: Gaussian) -> dict[str, float]:
    lam = np.linalg.eigvalsh(target.cov)
    d = target.dim
    return {
        "L": max(1.0, 1.0 / lam[0]),
        "m2": math.sqrt(float(target.mean @ target.mean) + float(lam.sum())),
        "kl_init": float(kl_gaussian(target.mean, target.cov, np.zeros(d), np.eye(d))),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="examples/papers/out")
    ap.add_argument("--quick", action="store_true", help="fewer settings (seconds)")
    ap.add_argument("--d", type=int, default=8)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    quick = args.quick
    d = 4 if quick else args.d
    target = make_target(d)
    cst = constants(target)
    rows: list[dict[str, Any]] = []

    def add(
        part: str,
        proc: str,
        dd: int,
        T: float,
        N: int,
        eps: float,
        q: str,
        v: float,
        se: float = 0.0,
    ) -> None:
        rows.append(
            {
                "part": part,
                "process": proc,
                "d": dd,
                "T": T,
                "N": N,
                "h": T / N,
                "eps": eps,
                "quantity": q,
                "value": v,
                "stderr": se,
            }
        )

    # A: discretisation
    T = 8.0
    Ns = [40, 160, 640] if quick else [20, 40, 80, 160, 320, 640, 1280]
    for pname, proc in (("ou", OU(T=T)), ("vp", VP(T=1.5))):
        TT = proc.T
        for N in Ns:
            m = measure(target, proc, N, TT)
            for q, v in m.items():
                add("A", pname, d, TT, N, 0.0, q, v)
            if pname == "ou":
                b = chen_tv_bound(
                    cst["L"], d, cst["m2"], TT / N, TT, 0.0, cst["kl_init"]
                )
                kb = chen_kl_bound(
                    cst["L"], d, cst["m2"], TT / N, TT, 0.0, cst["kl_init"]
                )
                add("A", pname, d, TT, N, 0.0, "chen_tv_bound", b.total)
                add("A", pname, d, TT, N, 0.0, "chen_tv_disc_term", b.discretisation)
                add("A", pname, d, TT, N, 0.0, "chen_kl_bound", kb.total)
    # B: score error (constant bias, L2 error exactly eps) vs T at fixed h
    h = 0.02
    Ts = [2.0, 8.0] if quick else [1.0, 2.0, 4.0, 8.0, 16.0]
    epss = [0.05, 0.2] if quick else [0.02, 0.05, 0.1, 0.2, 0.4]
    direction = np.ones(d) / math.sqrt(d)
    for T in Ts:
        N = int(round(T / h))
        for eps in epss:
            m = measure(target, OU(T=T), N, T, bias=eps * direction)
            m0 = measure(target, OU(T=T), N, T)
            for q, v in m.items():
                add("B", "ou", d, T, N, eps, q, v)
            add(
                "B",
                "ou",
                d,
                T,
                N,
                eps,
                "path_kl_score_part",
                m["path_kl"] - m0["path_kl"],
            )
            b = chen_tv_bound(cst["L"], d, cst["m2"], T / N, T, eps, cst["kl_init"])
            add("B", "ou", d, T, N, eps, "chen_tv_score_term", b.score)
    # C: dimension at fixed h, T
    T, N = 8.0, 400
    for dd in [1, 4, 16] if quick else [1, 2, 4, 8, 16, 32, 64]:
        tg = Gaussian(np.zeros(dd), np.eye(dd))
        m = measure(tg, OU(T=T), N, T)
        for q, v in m.items():
            add("C", "ou", dd, T, N, 0.0, q, v)
        b = chen_tv_bound(1.0, dd, math.sqrt(dd), T / N, T, 0.0, 0.0)
        kb = chen_kl_bound(1.0, dd, math.sqrt(dd), T / N, T, 0.0, 0.0)
        add("C", "ou", dd, T, N, 0.0, "chen_tv_bound", b.total)
        add("C", "ou", dd, T, N, 0.0, "chen_kl_bound", kb.total)
    # D: CLD vs OU (position marginal), same T, both from their stationary priors
    cld_ok = True
    try:
        from scorelab.cld import CLD

        # T = 10: CLD's initialisation error (~ T e^{-T}) would otherwise put
        # a floor under its discretisation error at about 5e-3 (T = 5)
        T = 10.0
        for dd in (d, 4 * d):
            tg = target if dd == d else make_target(dd)
            ref = tg.noised(OU(T=T), DELTA)  # OU and CLD share p_0
            for pname, proc in (("ou", OU(T=T)), ("cld", CLD(T=T))):
                for N in Ns:
                    NN = 2 * N  # same steps h = 5/N as part A's grid at T = 5
                    g = grid("uniform", NN, T=T, delta=DELTA)
                    law = exact_law(tg, proc, "ei-sde", g)
                    w2 = float(w2_gaussian(law.mean, law.cov, tg.mean, tg.cov))
                    kl = float(kl_gaussian(ref.mean, ref.cov, law.mean, law.cov))
                    add("D", pname, dd, T, NN, 0.0, "w2", w2)
                    add("D", pname, dd, T, NN, 0.0, "kl", kl)
    except Exception as exc:
        cld_ok = False
        print(f"CLD part skipped: {exc!r}")

    # E: L2 vs sup norm (sampled)
    E_T, E_N = 8.0, 400
    E_res = l2_vs_sup(
        [0.01, 0.1] if quick else [0.003, 0.01, 0.03, 0.1],
        n=100_000 if quick else 1_000_000,
        reps=3 if quick else 4,
        steps=E_N,
        T=E_T,
    )
    for r in E_res:
        w = r["weight"]
        for q in ("l2_max", "l2_int", "l2_rel_se", "sup"):
            add("E", "ou", 1, E_T, E_N, w, q, r[q])
        for q in ("ks_concentrated", "ks_uniform"):
            add("E", "ou", 1, E_T, E_N, w, q, r[q], r[q + "_se"])
        score_term = chen_tv_bound(1.0, 1, 1.0, E_T / E_N, E_T, r["l2_max"], 0.0)
        add("E", "ou", 1, E_T, E_N, w, "chen_tv_score_term", score_term.score)
        # Girsanov + Pinsker: TV <= sqrt(KL / 2), KL of the score part
        # = int E|e|^2 dt for OU (g^2 = 2)
        add("E", "ou", 1, E_T, E_N, w, "pinsker_score", r["l2_int"] / math.sqrt(2))

    path = os.path.join(args.out, "paper1.csv")
    write_rows(rows, path)

    def get(part: str, proc: str, q: str, **kw: float) -> list[float]:
        return select(rows, part, proc, q, **kw)

    # summary
    hs = [8.0 / N for N in Ns]
    kl = get("A", "ou", "kl")
    tvh = get("A", "ou", "tv_upper")
    pk = get("A", "ou", "path_kl")
    bd = get("A", "ou", "chen_tv_bound")
    print(
        f"A (OU, d={d}, T=8): slope vs h of sqrt(KL) {slope(hs, np.sqrt(kl)):.2f}, "
        f"TV upper {slope(hs, tvh):.2f}, path KL {slope(hs, pk):.2f}, "
        f"Chen bound {slope(hs, bd):.2f}"
    )
    for N, a, b in zip(Ns, tvh, bd):
        print(
            f"   N={N:5d}  TV <= {a:.3e}   Chen bound (C=1) {b:.3e}   ratio {b / a:.1f}"
        )
    eps = epss[-1]
    pks = [get("B", "ou", "path_kl_score_part", T=T, eps=eps)[0] for T in Ts]
    tvs = [get("B", "ou", "tv_upper", T=T, eps=eps)[0] for T in Ts]
    print(
        f"B (eps={eps}): path-KL score part vs T slope {slope(Ts, pks):.2f} "
        f"(eps^2 T = {[round(eps**2 * T, 4) for T in Ts]}, got "
        f"{[round(v, 4) for v in pks]}); marginal TV upper {[round(v, 4) for v in tvs]}"
    )
    dds = sorted({r["d"] for r in rows if r["part"] == "C"})
    klc = [get("C", "ou", "kl", d=dd)[0] for dd in dds]
    pkc = [get("C", "ou", "path_kl", d=dd)[0] for dd in dds]
    tvc = [get("C", "ou", "tv_upper", d=dd)[0] for dd in dds]
    print(
        f"C (h=0.02, T=8): slope vs d of sqrt(KL) {slope(dds, np.sqrt(klc)):.2f}, "
        f"of sqrt(path KL) {slope(dds, np.sqrt(pkc)):.2f} (sqrt(d): 0.5); "
        f"TV upper at d={dds[0]}..{dds[-1]}: {tvc[0]:.4f}..{tvc[-1]:.4f}"
    )
    for i in range(len(dds)):
        ckb = get("C", "ou", "chen_kl_bound", d=dds[i])[0]
        print(f"   d={dds[i]:3d} path KL {pkc[i]:.4f} (Chen bound, C=1: {ckb:.3f})")
    if cld_ok:
        NsD = [2 * N for N in Ns]
        for dd in (d, 4 * d):
            for N in NsD:
                print(
                    f"D d={dd:3d} T=10 h={10.0 / N:.4f}  W2 OU "
                    f"{get('D', 'ou', 'w2', N=N, d=dd)[0]:.4g}  "
                    f"CLD {get('D', 'cld', 'w2', N=N, d=dd)[0]:.4g}"
                )
            hD = [10.0 / N for N in NsD]
            print(
                f"D d={dd}: slope vs h of W2: OU "
                f"{slope(hD, get('D', 'ou', 'w2', d=dd)):.2f}, CLD "
                f"{slope(hD, get('D', 'cld', 'w2', d=dd)):.2f}"
            )
        for pname in ("ou", "cld"):
            r = [
                get("D", pname, "w2", N=N, d=4 * d)[0]
                / get("D", pname, "w2", N=N, d=d)[0]
                for N in NsD
            ]
            print(f"D {pname}: W2(d={4 * d}) / W2(d={d}) = {np.round(r, 3).tolist()}")

    print(
        "E (1-D N(0,1), OU T=8, N=400): w, L2 size (max, integrated), sup |e|, "
        "Kolmogorov distance concentrated / uniform (+- SE)"
    )
    for r in E_res:
        print(
            f"   w={r['weight']:<6} L2 {r['l2_max']:.4f} / {r['l2_int']:.4f}  "
            f"sup {r['sup']:.2f}  KS {r['ks_concentrated']:.4f} "
            f"+- {r['ks_concentrated_se']:.4f} / {r['ks_uniform']:.4f} "
            f"+- {r['ks_uniform_se']:.4f}"
        )
    Ew = [r for r in E_res if r["weight"] > 0]
    li = [r["l2_int"] for r in Ew]
    print(
        f"E slopes vs integrated L2: concentrated "
        f"{slope(li, [r['ks_concentrated'] for r in Ew]):.2f}, uniform "
        f"{slope(li, [r['ks_uniform'] for r in Ew]):.2f}"
    )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 3, figsize=(16, 9.5))
    axs = ax.ravel()
    # (a) A: Theorem 2 holds; output TV first order, bound sqrt(h)
    a = axs[0]
    a.loglog(hs, tvh, "o-", label="TV, upper estimate (exact law)")
    a.loglog(hs, get("A", "ou", "tv_lower"), "o--", label="TV, lower estimate")
    a.loglog(hs, bd, "k-", label="Theorem 2 bound (C = 1)")
    ref_slope(a, hs, tvh, 1.0)
    ref_slope(a, hs, bd, 0.5)
    panel(a, "a", f"A: output TV vs step (OU, d={d}, T=8)", "step h", "TV")
    # (b) A/B: the path KL of the score bias is eps^2 T
    a = axs[1]
    for i, eps in enumerate(epss):
        pkb = [get("B", "ou", "path_kl_score_part", T=T, eps=eps)[0] for T in Ts]
        a.loglog(Ts, pkb, "o", color=f"C{i}", label=f"measured, eps = {eps}")
        a.loglog(Ts, [eps**2 * T for T in Ts], "-", color=f"C{i}", lw=0.8)
    a.plot([], [], "k-", lw=0.8, label="eps^2 T (Girsanov)")
    panel(a, "b", "B: path KL from a score bias", "horizon T", "path KL (score part)")
    # (c) B: the output TV saturates in T
    a = axs[2]
    for i, eps in enumerate(epss):
        a.loglog(
            Ts,
            [get("B", "ou", "tv_upper", T=T, eps=eps)[0] for T in Ts],
            "o-",
            color=f"C{i}",
            label=f"eps = {eps}",
        )
    ref_slope(a, Ts, [get("B", "ou", "tv_upper", T=Ts[0], eps=epss[-1])[0]], 0.5)
    panel(a, "c", "B: output TV under the bias", "horizon T", "TV, upper estimate")
    # (d) C: path KL proportional to d
    a = axs[3]
    pkd = get("C", "ou", "path_kl")
    a.loglog(dds, pkd, "o", label="path KL (grid chains, exact)")
    a.loglog(dds, get("C", "ou", "chen_kl_bound"), "k-", label="path-KL bound (C = 1)")
    ref_slope(a, dds, pkd, 1.0)
    panel(a, "d", "C: dimension (N(0, I), h = 0.02, T = 8)", "d", "path KL")
    # (e) D: CLD vs OU
    a = axs[4]
    if cld_ok:
        hD = [10.0 / N for N in NsD]
        for i, pname in enumerate(("ou", "cld")):
            for dd, mk in ((d, "o-"), (4 * d, "s--")):
                a.loglog(
                    hD,
                    get("D", pname, "w2", d=dd),
                    mk,
                    color=f"C{i}",
                    label=f"{pname.upper()}, d = {dd}",
                )
        ref_slope(a, hD, get("D", "ou", "w2", d=d), 1.0)
        ref_slope(a, hD, get("D", "cld", "w2", d=d), 2.0)
    else:
        a.text(0.1, 0.5, "CLD not available")
    panel(a, "e", "D: CLD vs OU (T = 10)", "step h", "W2 of the position marginal")
    # (f) E: L2 vs sup norm
    a = axs[5]
    li = [r["l2_int"] for r in Ew]
    for key, mk, lab in (
        ("ks_concentrated", "o", "concentrated error"),
        ("ks_uniform", "s", "uniform error (same L2)"),
    ):
        a.errorbar(
            li,
            [r[key] for r in Ew],
            yerr=[r[key + "_se"] for r in Ew],
            fmt=mk + "-",
            capsize=2,
            label=lab,
        )
    a.loglog(li, [v / math.sqrt(2) for v in li], "k-", label="sqrt(KL/2) (Pinsker)")
    floor = E_res[0]["ks_concentrated"]
    a.axhline(floor, color="0.6", ls="--", lw=0.8, label="no score error")
    ref_slope(a, li, [r["ks_uniform"] for r in Ew], 1.0)
    ref_slope(a, li, [r["ks_concentrated"] for r in Ew], 2.0, anchor=-1)
    a.set_xscale("log")
    a.set_yscale("log")
    panel(
        a,
        "f",
        "E: equal L2 size, different sup norm (1-D)",
        "integrated L2 size (sum h eps_k^2)^(1/2)",
        "Kolmogorov distance (<= TV), +- 1 SE",
    )
    fig.text(
        0.5,
        0.005,
        "dotted grey lines: reference slopes (labelled); closed markers: "
        "measured; black: bounds with unit constants",
        ha="center",
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(os.path.join(args.out, "paper1.png"), dpi=120)
    print(f"wrote {path} and paper1.png")


if __name__ == "__main__":
    main()
