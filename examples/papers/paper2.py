"""Paper 2 (Gao, Nguyen, Zhu, arXiv:2311.11003): W2 of the exponential integrator
for each forward process of the paper, exact error next to the upper bound and
the Gaussian lower bound; steps needed per process; dimension scaling.

Gaussian data (exact laws, no Monte Carlo): the EI-SDE from paper 2's
initialisation N(0, sigma_T^2 I), early stopping delta = 1e-3, compared with
p_delta. The upper bound is scorelab.bounds.certified_sde_w2 (a recursion derived
here in the paper's structure, explicit constants, see its docstring; formerly
gao_w2_bound), the lower bound
scorelab.bounds.gao_gaussian_lower_bound (first order; OU/VP and VE forms).

Parts (column ``part`` of the CSV):
  A  W2 vs steps N at each process's default horizon (paper defaults, T = 1;
     OU: T = 5), exact / upper bound / lower bound
  B  steps needed for W2 <= eps, T chosen by the paper's rule (initialisation
     term <= eps/2), by the exact error and by the bound; the paper's table
  C  dimension scaling at fixed T: steps needed (exact ~ sqrt(d), bound ~ d)
     and W2 at fixed steps (exact and bound both ~ sqrt(d))
  D  the horizon T chosen by the paper's rule vs eps, per process: with the
     table's common step eta = eps^2/d the iteration count K = T/eta ranks
     like T, which is where the table's ranking comes from

Usage: python examples/papers/paper2.py [--out DIR] [--quick]
Writes DIR/paper2.csv and DIR/paper2.png and prints a summary.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
from common import (
    panel,
    read_rows,
    ref_slope,
    rotated_gaussian,
    select,
    slope,
    write_rows,
)

from scorelab.bounds import (
    certified_sde_w2,
    gao_gaussian_lower_bound,
    gao_horizon,
    gao_iteration_complexity,
    gao_steps_needed,
    gaussian_ei_w2,
)
from scorelab.exact import exact_law
from scorelab.grids import grid
from scorelab.metrics import w2_gaussian
from scorelab.processes import (
    OU,
    VE,
    VP,
    Process,
    VELinear,
    VEPower,
    VEQuadratic,
    VPConstant,
    VPExponential,
    VPPolynomial,
)
from scorelab.targets import Gaussian

DELTA = 1e-3


def processes() -> dict[str, Process]:
    return {
        "VE geometric": VE(),
        "VE linear (g const)": VELinear(),
        "VE quadratic": VEQuadratic(),
        "VE power rho=2": VEPower(rho=2.0),
        "VE power rho=7": VEPower(rho=7.0),
        "OU": OU(T=5.0),
        "VP constant": VPConstant(),
        "VP linear": VP(),
        "VP poly rho=2": VPPolynomial(rho=2.0),
        "VP poly rho=5": VPPolynomial(rho=5.0),
        "VP exponential": VPExponential(),
    }


def make_target(d: int, seed: int = 0) -> Gaussian:
    return rotated_gaussian(d, 0.3, 0.25, seed)


def plot(rows: list[dict[str, Any]], png: str) -> None:
    """The figure of the rows (parts A-D) as ``png``."""

    def get(part: str, proc: str, q: str, **kw: float) -> list[float]:
        return select(rows, part, proc, q, **kw)

    def uniq(part: str, key: str, q: str) -> list[Any]:
        return list(
            dict.fromkeys(
                r[key] for r in rows if r["part"] == part and r["quantity"] == q
            )
        )

    procs = uniq("A", "process", "exact_w2")
    Ns = uniq("A", "N", "exact_w2")
    d = rows[0]["d"]
    epss = uniq("B", "eps", "steps_bound")
    epss_exact = uniq("B", "eps", "steps_exact")
    dims = uniq("C", "d", "steps_exact")
    epsD = uniq("D", "eps", "T_rule")
    se = [get("C", "VP constant", "steps_exact", d=dd)[0] for dd in dims]
    sb = [get("C", "VP constant", "steps_bound", d=dd)[0] for dd in dims]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 3, figsize=(17, 10))
    axs = ax.ravel()
    mks = "osD^vP*X"
    # (a), (b) A: exact W2 below the bound, per family (VP/OU, VE)
    for k, fam in enumerate(("V", "E")):
        a = axs[k]
        names = [n for n in procs if n.startswith("VE") == (fam == "E")]
        for i, name in enumerate(names):
            col, mk = f"C{i}", mks[i % len(mks)]
            a.loglog(Ns, get("A", name, "exact_w2"), mk + "-", color=col, label=name)
            a.loglog(Ns, get("A", name, "upper_bound"), "--", color=col)
            lb = get("A", name, "lower_bound")
            if lb:
                a.loglog(Ns, lb, ":", color=col)
        ex0 = get("A", names[0], "exact_w2")
        ref_slope(a, Ns, ex0, -1.0, anchor=-1)
        ref_slope(a, Ns, get("A", names[0], "upper_bound"), -0.5, anchor=-1)
        a.plot([], [], "k-", label="exact W2 (markers)")
        a.plot([], [], "k--", label="upper bound")
        a.plot([], [], "k:", label="lower bound")
        a.set_ylim(1e-4, 1e2)
        fam_name = "VP/OU" if fam == "V" else "VE"
        panel(
            a,
            "ab"[k],
            f"A: exact W2 lies below the bound ({fam_name}, d={d})",
            "steps N",
            "W2",
        )
    # (c) B: steps needed by the exact W2, the bound and the table
    a = axs[2]
    eps = epss[-1]
    x = np.arange(len(procs))
    cap = 2.0**20
    for j, (q, lab) in enumerate(
        (
            ("steps_exact", "exact"),
            ("steps_bound", "bound"),
            ("steps_table", "table (unit const.)"),
        )
    ):
        vals = np.array([get("B", n, q, eps=eps)[0] for n in procs])
        a.bar(x + 0.27 * (j - 1), np.minimum(vals, cap), 0.27, label=lab)
        for xi, v in zip(x, vals):
            if not np.isfinite(v):
                a.text(
                    xi + 0.27 * (j - 1),
                    cap,
                    "> 1e6",
                    rotation=90,
                    fontsize=6,
                    ha="center",
                    va="bottom",
                )
    a.set_yscale("log")
    a.set_xticks(x, list(procs), rotation=60, fontsize=7)
    panel(a, "c", f"B: steps for W2 <= {eps}, by ranking source", "", "steps N")
    # (d) B: steps for exact W2 <= eps vs eps
    a = axs[3]
    for i, name in enumerate(procs):
        a.loglog(
            epss_exact,
            [get("B", name, "steps_exact", eps=e)[0] for e in epss_exact],
            mks[i % len(mks)] + ("-" if name.startswith("VP") else "--"),
            color=f"C{i % 10}",
            label=name,
            ms=4,
        )
    a.invert_xaxis()
    panel(a, "d", "B: steps for exact W2 <= eps", "eps", "steps N", epss_exact)
    # (e) C: steps vs d: exact ~ sqrt(d), bound ~ d
    a = axs[4]
    a.loglog(dims, se, "o-", label="exact, eps=0.01")
    a.loglog(dims, sb, "s-", label="bound, eps=0.3")
    ref_slope(a, dims, se, 0.5)
    ref_slope(a, dims, sb, 1.0)
    panel(a, "e", "C: steps vs dimension (VP constant, T = 3)", "d", "steps N", dims)
    # (f) D: the paper's horizon rule vs eps
    a = axs[5]
    for i, name in enumerate(procs):
        Ts = np.array([get("D", name, "T_rule", eps=float(e))[0] for e in epsD])
        a.loglog(
            epsD,
            Ts,
            mks[i % len(mks)] + ("-" if name.startswith("VP") else "--"),
            color=f"C{i % 10}",
            label=name,
            ms=4,
        )
    a.invert_xaxis()
    panel(a, "f", "D: horizon T by the paper's rule vs eps", "eps", "T")
    fig.text(
        0.5,
        0.005,
        "dotted grey lines: reference slopes (labelled); markers + solid: exact; "
        "dashed: upper bound (a, b) or VE process (d, f); dotted colour: lower bound",
        ha="center",
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(png, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="examples/papers/out")
    ap.add_argument("--quick", action="store_true", help="fewer settings")
    ap.add_argument("--d", type=int, default=10)
    ap.add_argument(
        "--replot", action="store_true", help="redraw the figure from DIR/paper2.csv"
    )
    args = ap.parse_args()
    if args.replot:
        plot(
            read_rows(os.path.join(args.out, "paper2.csv")),
            os.path.join(args.out, "paper2.png"),
        )
        return
    os.makedirs(args.out, exist_ok=True)
    quick = args.quick
    d = 4 if quick else args.d
    target = make_target(d)
    procs = processes()
    rows: list[dict[str, Any]] = []

    def add(
        part: str, proc: str, dd: int, T: float, N: float, eps: float, q: str, v: float
    ) -> None:
        rows.append(
            {
                "part": part,
                "process": proc,
                "d": dd,
                "T": T,
                "N": N,
                "eps": eps,
                "quantity": q,
                "value": v,
            }
        )

    # A: W2 vs N
    Ns = [40, 160, 640] if quick else [10, 20, 40, 80, 160, 320, 640, 1280, 2560]
    for name, p in procs.items():
        for N in Ns:
            g = grid("uniform", N, T=p.T, delta=DELTA)
            with np.errstate(over="ignore", invalid="ignore"):
                ex = gaussian_ei_w2(target, p, g)
                ub = certified_sde_w2(p, g, target=target)
            if N == Ns[len(Ns) // 2]:  # cross-check the fast recursion
                law = exact_law(target, p, "ei-sde", g, init="zero-data")
                ref = target.noised(p, DELTA)
                ex2 = float(w2_gaussian(law.mean, law.cov, ref.mean, ref.cov))
                assert abs(ex - ex2) <= 1e-8 * max(1.0, ex), (name, ex, ex2)
            add("A", name, d, p.T, N, 0.0, "exact_w2", ex)
            add("A", name, d, p.T, N, 0.0, "upper_bound", ub.total)
            add("A", name, d, p.T, N, 0.0, "upper_init", ub.initialisation)
            add("A", name, d, p.T, N, 0.0, "upper_disc", ub.discretisation)
            lb = gao_gaussian_lower_bound(p, g, target).total
            add("A", name, d, p.T, N, 0.0, "lower_bound", lb)
    # B: steps needed (the bound needs N ~ eps^-2 steps: only moderate eps)
    epss = [0.2] if quick else [0.1, 0.05]
    epss_exact = [0.2, 0.02] if quick else [0.1, 0.05, 0.01, 0.001]
    for eps in epss_exact:
        for name, p in procs.items():
            t0 = time.time()
            ce = gao_steps_needed(p, eps, target=target, exact=True, rtol=0.0)
            tab = gao_iteration_complexity(p, d, eps)
            add("B", name, d, ce.T, ce.steps, eps, "steps_exact", ce.steps)
            add("B", name, d, ce.T, tab.steps, eps, "steps_table", tab.steps)
            msg = ""
            if eps in epss:
                cb = gao_steps_needed(p, eps, target=target, rtol=0.02)
                add("B", name, d, cb.T, cb.steps, eps, "steps_bound", cb.steps)
                msg = f"bound N={cb.steps:>9.0f} "
            print(
                f"B eps={eps} {name:20s} T={ce.T:.3f} exact N={ce.steps:>8.0f} "
                f"{msg}table K={tab.steps:.3g} ({time.time() - t0:.1f}s)"
            )
    # C: dimension scaling at fixed T (VP constant, T = 3)
    dims = [1, 4, 16] if quick else [1, 2, 4, 8, 16, 32, 64]
    pc = VPConstant(T=3.0)
    gC = grid("uniform", 400, T=3.0, delta=DELTA)
    for dd in dims:
        tg = Gaussian(np.zeros(dd), np.eye(dd))
        ce = gao_steps_needed(pc, 0.01, target=tg, exact=True, T=3.0, rtol=0.0)
        cb = gao_steps_needed(pc, 0.3, target=tg, T=3.0, rtol=0.01)
        add("C", "VP constant", dd, 3.0, ce.steps, 0.01, "steps_exact", ce.steps)
        add("C", "VP constant", dd, 3.0, cb.steps, 0.3, "steps_bound", cb.steps)
        add(
            "C",
            "VP constant",
            dd,
            3.0,
            400,
            0.0,
            "w2_exact",
            gaussian_ei_w2(tg, pc, gC),
        )
        add(
            "C",
            "VP constant",
            dd,
            3.0,
            400,
            0.0,
            "w2_bound",
            certified_sde_w2(pc, gC, target=tg).total,
        )
    # D: the horizon by the paper's rule vs eps; with the table's common step
    # eta = eps^2/d the steps K = T/eta rank like T
    epsD = np.geomspace(1e-1, 1e-12, 12 if not quick else 4)
    for eps in epsD:
        for name, p in procs.items():
            Th = gao_horizon(p, float(eps), target=target, delta=DELTA)
            add("D", name, d, Th, 0, float(eps), "T_rule", Th)

    path = os.path.join(args.out, "paper2.csv")
    write_rows(rows, path)

    def get(part: str, proc: str, q: str, **kw: float) -> list[float]:
        return select(rows, part, proc, q, **kw)

    # summary
    print("A: exact W2 / bounds at N =", Ns[-1], "and fitted slopes vs N (last 3)")
    for name in procs:
        ex = get("A", name, "exact_w2")
        ub = get("A", name, "upper_bound")
        lb = get("A", name, "lower_bound")
        s_ex = slope(Ns[-3:], ex[-3:])
        s_ub = slope(Ns[-3:], ub[-3:])
        viol = [N for N, e, u in zip(Ns, ex, ub) if not e <= u]
        lbv = [N for N, e, low in zip(Ns, ex, lb) if not low <= e] if lb else []
        lbs = f"lb {lb[-1]:.3e} " if lb else ""
        print(
            f"  {name:20s} {lbs}exact {ex[-1]:.3e} ub {ub[-1]:.3e} "
            f"slopes {s_ex:+.2f} / {s_ub:+.2f}  ub violated at N={viol} "
            f"lb violated at N={lbv}"
        )
    for eps in epss_exact:
        order = sorted(procs, key=lambda n: get("B", n, "steps_exact", eps=eps)[0])
        print(f"B eps={eps}: ranking by exact steps: {order}")
        if eps in epss:
            order = sorted(procs, key=lambda n: get("B", n, "steps_bound", eps=eps)[0])
            print(f"B eps={eps}: ranking by bound steps: {order}")
        order = sorted(procs, key=lambda n: get("B", n, "steps_table", eps=eps)[0])
        print(f"B eps={eps}: ranking by the table:   {order}")
    se = [get("C", "VP constant", "steps_exact", d=dd)[0] for dd in dims]
    sb = [get("C", "VP constant", "steps_bound", d=dd)[0] for dd in dims]
    s_e = slope(dims, se)
    s_b = slope(dims, sb)
    print(f"C: steps vs d, exact {se} (slope {s_e:.2f}), bound {sb} (slope {s_b:.2f})")
    we = [get("C", "VP constant", "w2_exact", d=dd)[0] for dd in dims]
    wb = [get("C", "VP constant", "w2_bound", d=dd)[0] for dd in dims]
    print(
        f"C: W2 at N=400 vs d: exact slope {slope(dims, we):.2f}, bound slope "
        f"{slope(dims, wb):.2f}; exact {we[0]:.3e}..{we[-1]:.3e}, "
        f"bound {wb[0]:.3e}..{wb[-1]:.3e}"
    )
    vp_rank = ["VP exponential", "VP poly rho=5", "VP linear", "VP constant"]
    print("D: T by the paper's rule (target of part A); K = T d / eps^2 ranks like T")
    print("   eps      " + " ".join(f"{n[:14]:>14s}" for n in procs))
    ok_eps = []
    for eps in epsD:
        Ts = [get("D", n, "T_rule", eps=float(eps))[0] for n in procs]
        print(f"   {eps:.0e}  " + " ".join(f"{t:14.3f}" for t in Ts))
        tv = [get("D", n, "T_rule", eps=float(eps))[0] for n in vp_rank]
        if all(a <= b for a, b in zip(tv, tv[1:])):
            ok_eps.append(float(eps))
    print(
        f"D: paper's VP ranking {' <= '.join(vp_rank)} holds for T at eps in "
        f"{[f'{e:.0e}' for e in ok_eps]}"
    )

    plot(rows, os.path.join(args.out, "paper2.png"))
    print(f"wrote {path} and paper2.png")


if __name__ == "__main__":
    main()
