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
  F  non-log-concave data (a 2-D ring of 8 modes, var 0.04; two modes at
     distance 10, var 1, d = 2, 8, 32): path KL of the discretisation by
     Girsanov (Monte Carlo, +- 1 SE) vs steps and vs d, next to the path-KL
     form of Theorem 2 (C = 1, L the certified Lipschitz constant of the scores)
  H  early stopping without a density: four modes of variance 1e-2 .. 1e-6
     (-> point masses) in 2-D, stopped at delta: path KL of the discretisation
     (Girsanov, MC) vs delta and h, next to Theorem 2's term with L(delta)
  G  CLD's path KL (grid chains, exact on N(0, I_d)) against Theorem 7's lower
     bound C d h T (C = 1), with OU's for comparison

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
from measures import (
    gaussian_chain_kl,
    girsanov_path_kl,
    l2_vs_sup,
    ring,
    thin_modes,
    two_modes,
)

from scorelab import fit_rate
from scorelab.bounds import (
    chen_cld_path_kl_lower_bound,
    chen_kl_bound,
    chen_tv_bound,
    mixture_constants,
)
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

    # F: non-log-concave mixtures, path KL of the discretisation (Girsanov, MC)
    F_T, F_delta = 8.0, 1e-3
    F_n = 300 if quick else 1000
    F_Ns = [50, 200] if quick else [50, 100, 200, 400, 800]
    F_N0 = 200

    def lipschitz(tg: Any) -> float:
        """max over t of the certified bound on |hess log p_t| (Theorem 2's L)."""
        ts = np.geomspace(F_delta, F_T, 25)
        fc = [mixture_constants(tg, OU(T=F_T), float(t)) for t in ts]
        return max(1.0, max(max(c.L, -c.kappa) for c in fc))

    def second_moment(tg: Any) -> float:
        return math.sqrt(float(np.trace(tg.cov)) + float(tg.mean @ tg.mean))

    F_targets = {"ring": ring(), "two-modes": two_modes(8)}
    for name, tg in F_targets.items():
        Lf, m2f = lipschitz(tg), second_moment(tg)
        for N in F_Ns:
            gF = grid("uniform", N, T=F_T, delta=F_delta)
            kl, se, _ = girsanov_path_kl(tg, OU(T=F_T), gF, n=F_n, seed=N)
            add("F", name, tg.dim, F_T, N, 0.0, "path_kl_girsanov", kl, se)
            kb = chen_kl_bound(Lf, tg.dim, m2f, (F_T - F_delta) / N, F_T, 0.0, 0.0)
            add("F", name, tg.dim, F_T, N, 0.0, "chen_kl_disc_term", kb.discretisation)
            add("F", name, tg.dim, F_T, N, 0.0, "lipschitz_L", Lf)
    for dd in (2, 8, 32):
        tg = two_modes(dd)
        Lf, m2f = lipschitz(tg), second_moment(tg)
        gF = grid("uniform", F_N0, T=F_T, delta=F_delta)
        kl, se, _ = girsanov_path_kl(tg, OU(T=F_T), gF, n=F_n, seed=dd)
        add("F", "two-modes-d", dd, F_T, F_N0, 0.0, "path_kl_girsanov", kl, se)
        kb = chen_kl_bound(Lf, dd, m2f, (F_T - F_delta) / F_N0, F_T, 0.0, 0.0)
        add(
            "F",
            "two-modes-d",
            dd,
            F_T,
            F_N0,
            0.0,
            "chen_kl_disc_term",
            kb.discretisation,
        )
        add("F", "two-modes-d", dd, F_T, F_N0, 0.0, "lipschitz_L", Lf)

    # G: CLD's path KL (grid chains, exact) vs Theorem 7's lower bound C d h T
    G_T = 10.0
    G_Ns = [40, 160] if quick else [40, 160, 640]
    G_ds = [4, 16] if quick else [4, 16, 32]
    G_cld = True
    try:
        from scorelab.cld import CLD

        for dd in G_ds:
            tg = Gaussian(np.zeros(dd), np.eye(dd))
            for N in G_Ns:
                gG = grid("uniform", N, T=G_T, delta=DELTA)
                hG = (G_T - DELTA) / N
                for pname, proc in (("cld", CLD(T=G_T)), ("ou", OU(T=G_T))):
                    v = gaussian_chain_kl(tg, proc, gG)
                    add("G", pname, dd, G_T, N, 0.0, "path_kl_chain", v)
                lb = chen_cld_path_kl_lower_bound(dd, hG, G_T).total
                add("G", "cld", dd, G_T, N, 0.0, "thm7_lower_bound", lb)
    except ImportError as exc:
        G_cld = False
        print(f"part G skipped: {exc!r}")

    # H: early stopping on data nearly without a density
    H_T = 4.0
    H_vars = [1e-2, 1e-6] if quick else [1e-2, 1e-4, 1e-6]
    H_deltas = [0.2, 0.0125] if quick else [0.2, 0.05, 0.0125]
    H_hs = [0.01, 0.005]
    for var in H_vars:
        tg = thin_modes(var)
        m2h = second_moment(tg)
        for dl in H_deltas:
            fc = mixture_constants(tg, OU(T=H_T), dl)
            Lh = max(1.0, fc.L, -fc.kappa)
            for hh in H_hs:
                N = int(round((H_T - dl) / hh))
                gH = grid("uniform", N, T=H_T, delta=dl)
                kl, se, _ = girsanov_path_kl(tg, OU(T=H_T), gH, n=200, seed=N)
                row = ("H", f"delta={dl:g}", 2, H_T, N, var)
                add(*row, "path_kl_girsanov", kl, se)
                kb = chen_kl_bound(Lh, 2, m2h, (H_T - dl) / N, H_T, 0.0, 0.0)
                add(*row, "chen_kl_disc_term", kb.discretisation)
                add(*row, "lipschitz_L", Lh)

    path = os.path.join(args.out, "paper1.csv")
    write_rows(rows, path)

    def get(
        part: str, proc: str, q: str, key: str = "value", **kw: float
    ) -> list[float]:
        return select(rows, part, proc, q, key, **kw)

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

    print(
        f"F (OU, T={F_T}, delta={F_delta}): path KL of the discretisation "
        "(Girsanov, MC +- SE) and Theorem 2's path-KL term (C = 1)"
    )
    for name in F_targets:
        kls = get("F", name, "path_kl_girsanov")
        ses = get("F", name, "path_kl_girsanov", key="stderr")
        bds = get("F", name, "chen_kl_disc_term")
        Lf = get("F", name, "lipschitz_L")[0]
        for N, k, e, b in zip(F_Ns, kls, ses, bds):
            print(f"   {name:10s} N={N:4d}  KL {k:.4f} +- {e:.4f}  bound {b:.3g}")
        r, rse = fit_rate(F_Ns, kls, ses)
        print(f"   {name}: slope vs N {r:.2f} +- {rse:.2f}; L = {Lf:.3g}")
    Fd = [2, 8, 32]
    kld = [get("F", "two-modes-d", "path_kl_girsanov", d=dd)[0] for dd in Fd]
    sed = [
        get("F", "two-modes-d", "path_kl_girsanov", key="stderr", d=dd)[0] for dd in Fd
    ]
    r, rse = fit_rate(Fd, kld, sed)
    dhT = np.array(Fd) * F_T**2 / F_N0
    print(
        f"   two modes, N={F_N0}: KL vs d {np.round(kld, 4).tolist()} "
        f"(KL / (d h T) = {np.round(np.array(kld) / dhT, 3).tolist()}), "
        f"slope vs d {r:.2f} +- {rse:.2f}"
    )
    print(
        f"H (4 modes at (+-1, +-1), OU T={H_T}): path KL of the discretisation "
        "(Girsanov MC +- SE); Theorem 2's term with L(delta) (C = 1)"
    )

    for var in H_vars:
        for dl in H_deltas:
            kls = get("H", f"delta={dl:g}", "path_kl_girsanov", eps=var)
            ses = get("H", f"delta={dl:g}", "path_kl_girsanov", "stderr", eps=var)
            bds = get("H", f"delta={dl:g}", "chen_kl_disc_term", eps=var)
            print(
                f"   var={var:g} delta={dl:<7g} h={H_hs}: KL "
                f"{[f'{k:.4f} +- {e:.4f}' for k, e in zip(kls, ses)]}, "
                f"bound {[f'{b:.3g}' for b in bds]}"
            )
        k_d = [
            get("H", f"delta={x:g}", "path_kl_girsanov", eps=var)[-1] for x in H_deltas
        ]
        s_d = [
            get("H", f"delta={x:g}", "path_kl_girsanov", "stderr", eps=var)[-1]
            for x in H_deltas
        ]
        r, rse = fit_rate(H_deltas[-2:], k_d[-2:], s_d[-2:])
        print(f"   var={var:g}: slope vs delta (last two, h={H_hs[-1]}) {r:.2f}")
    if G_cld:
        print(f"G (N(0, I_d), T={G_T}): path KL of the grid chains, exact; / (d h T)")
        for dd in G_ds:
            for N in G_Ns:
                c = get("G", "cld", "path_kl_chain", d=dd, N=N)[0]
                o = get("G", "ou", "path_kl_chain", d=dd, N=N)[0]
                lb = get("G", "cld", "thm7_lower_bound", d=dd, N=N)[0]
                print(
                    f"   d={dd:3d} N={N:4d}  CLD {c:.4g} ({c / lb:.3f})  "
                    f"OU {o:.4g} ({o / lb:.3f})  Thm 7 C d h T = {lb:.4g}"
                )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(4, 3, figsize=(16, 18.5))
    axs = ax.ravel()
    # (a) A: Theorem 2 holds; output TV first order, bound sqrt(h)
    a = axs[0]
    a.loglog(hs, tvh, "o-", label="TV, upper estimate (exact law)")
    a.loglog(hs, get("A", "ou", "tv_lower"), "o--", label="TV, lower estimate")
    a.loglog(hs, bd, "k-", label="Theorem 2 bound (C = 1)")
    ref_slope(a, hs, tvh, 1.0)
    ref_slope(a, hs, bd, 0.5)
    panel(a, "a", f"A: output TV vs step (OU, d={d}, T=8)", "step h", "TV", hs)
    # (b) A/B: the path KL of the score bias is eps^2 T
    a = axs[1]
    for i, eps in enumerate(epss):
        pkb = [get("B", "ou", "path_kl_score_part", T=T, eps=eps)[0] for T in Ts]
        a.loglog(Ts, pkb, "o", color=f"C{i}", label=f"measured, eps = {eps}")
        a.loglog(Ts, [eps**2 * T for T in Ts], "-", color=f"C{i}", lw=0.8)
    a.plot([], [], "k-", lw=0.8, label="eps^2 T (Girsanov)")
    panel(a, "b", "B: path KL from a score bias", "horizon T", "path KL", Ts)
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
    panel(a, "c", "B: output TV under the bias", "horizon T", "TV (upper)", Ts)
    # (d) C: path KL proportional to d
    a = axs[3]
    pkd = get("C", "ou", "path_kl")
    a.loglog(dds, pkd, "o", label="path KL (grid chains, exact)")
    a.loglog(dds, get("C", "ou", "chen_kl_bound"), "k-", label="path-KL bound (C = 1)")
    ref_slope(a, dds, pkd, 1.0)
    panel(a, "d", "C: dimension (N(0, I), h = 0.02, T = 8)", "d", "path KL", dds)
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
    panel(a, "e", "D: CLD vs OU (T = 10)", "step h", "W2 of the position marginal", hD)
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
    # (g) F: path KL vs steps on non-log-concave data
    a = axs[6]
    for i, name in enumerate(F_targets):
        kls = get("F", name, "path_kl_girsanov")
        ratio = min(b / k for b, k in zip(get("F", name, "chen_kl_disc_term"), kls))
        a.errorbar(
            F_Ns,
            kls,
            yerr=get("F", name, "path_kl_girsanov", key="stderr"),
            fmt="o-",
            color=f"C{i}",
            capsize=2,
            label=f"{name} (d = {F_targets[name].dim}); bound (C = 1) >= {ratio:.2g} x",
        )
        ref_slope(a, F_Ns, kls, -1.0, anchor=-1)
    a.set_xscale("log")
    a.set_yscale("log")
    panel(
        a,
        "g",
        "F: non-log-concave data: path KL ~ 1/N",
        "steps N (T = 8)",
        "path KL (Girsanov MC), +- 1 SE",
        F_Ns,
    )
    # (h) F: path KL vs d
    a = axs[7]
    a.errorbar(Fd, kld, yerr=sed, fmt="o", capsize=2, label="two modes, Girsanov MC")
    a.plot(Fd, [F_T * F_T / F_N0 * dd for dd in Fd], "k-", lw=0.8, label="d h T")
    a.set_xscale("log")
    a.set_yscale("log")
    panel(
        a,
        "h",
        f"F: two modes at distance 10: path KL ~ d (N = {F_N0})",
        "d",
        "path KL (Girsanov MC), +- 1 SE",
        Fd,
    )
    # (i) G: CLD path KL / (d h T) >= 1 (Theorem 7 with C = 1)
    a = axs[8]
    if G_cld:
        hG = [G_T / N for N in G_Ns]
        for i, dd in enumerate(G_ds):
            for pname, mk in (("cld", "o-"), ("ou", "s--")):
                lb = get("G", "cld", "thm7_lower_bound", d=dd)
                v = get("G", pname, "path_kl_chain", d=dd)
                a.semilogx(
                    hG,
                    [x / y for x, y in zip(v, lb)],
                    mk,
                    color=f"C{i}",
                    mfc="none" if pname == "ou" else None,
                    ms=9 - 2 * i,
                    label=f"{pname.upper()}, d = {dd}",
                )
        a.axhline(1.0, color="k", lw=0.8, label="Theorem 7 lower bound (C = 1)")
        a.set_ylim(0, None)
        panel(
            a,
            "i",
            "G: CLD's path KL is >= d h T (N(0, I))",
            "step h (T = 10)",
            "path KL / (d h T)",
            hG,
        )
    # (j) H: path KL vs delta at fixed h, per variance
    a = axs[9]
    for i, var in enumerate(H_vars):
        k_d = [
            get("H", f"delta={x:g}", "path_kl_girsanov", eps=var)[-1] for x in H_deltas
        ]
        s_d = [
            get("H", f"delta={x:g}", "path_kl_girsanov", "stderr", eps=var)[-1]
            for x in H_deltas
        ]
        a.errorbar(
            H_deltas,
            k_d,
            yerr=s_d,
            fmt="o-",
            color=f"C{i}",
            ms=8 - 2 * i,
            capsize=2,
            label=f"component variance {var:g}",
        )
    k_last = [
        get("H", f"delta={x:g}", "path_kl_girsanov", eps=H_vars[-1])[-1]
        for x in H_deltas
    ]
    ref_slope(a, H_deltas, k_last, -1.0, anchor=-1)
    ref_slope(a, H_deltas, k_last, -4.0, anchor=0, text="(Thm 2 with L(delta))")
    a.set_xscale("log")
    a.set_yscale("log")
    panel(
        a,
        "j",
        f"H: early stopping, no density: path KL vs delta (h = {H_hs[-1]})",
        "stopping time delta",
        "path KL (Girsanov MC), +- 1 SE",
        H_deltas,
    )
    # (k) H: path KL vs h at the smallest delta
    a = axs[10]
    for i, var in enumerate(H_vars):
        kh = get("H", f"delta={H_deltas[-1]:g}", "path_kl_girsanov", eps=var)
        a.errorbar(
            H_hs,
            kh,
            yerr=get(
                "H", f"delta={H_deltas[-1]:g}", "path_kl_girsanov", "stderr", eps=var
            ),
            fmt="o-",
            color=f"C{i}",
            ms=8 - 2 * i,
            capsize=2,
            label=f"component variance {var:g}",
        )
    ref_slope(a, H_hs, kh, 1.0)
    a.set_xscale("log")
    a.set_yscale("log")
    panel(
        a,
        "k",
        f"H: path KL vs step (delta = {H_deltas[-1]:g})",
        "step h",
        "path KL (Girsanov MC), +- 1 SE",
        H_hs,
    )
    axs[11].axis("off")
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
