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
    """The figure of the rows (parts A-D) as ``png``.

    Panels in part order: (a, b) A, (c, d, e) B, (f) C, (g, h) D. Parts A, B
    (steps vs eps) and D are drawn as pairs, VP/OU processes | VE processes,
    with one colour and marker per process throughout and a shared y-axis
    within each pair.
    """

    def get(part: str, proc: str, q: str, **kw: float) -> list[float]:
        return select(rows, part, proc, q, **kw)

    def one(part: str, proc: str, q: str, **kw: float) -> float:
        vals = get(part, proc, q, **kw)
        if len(vals) != 1:  # one row per setting: never average over others
            raise ValueError(f"{len(vals)} rows for {part}, {proc}, {q}, {kw}")
        return float(vals[0])

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
    se = [one("C", "VP constant", "steps_exact", d=dd) for dd in dims]
    sb = [one("C", "VP constant", "steps_bound", d=dd) for dd in dims]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(3, 3, figsize=(17, 15))
    axs = ax.ravel()
    mks = "osD^vP*X"
    # the two families (column 1 | column 2); a process keeps its colour+marker
    fams = (
        ("VP/OU", [n for n in procs if not n.startswith("VE")]),
        ("VE", [n for n in procs if n.startswith("VE")]),
    )
    style = {
        n: (f"C{i}", mks[i % len(mks)]) for _, ns in fams for i, n in enumerate(ns)
    }

    def share_y(pair: tuple[Any, Any]) -> None:
        lo = min(a.get_ylim()[0] for a in pair)
        hi = max(a.get_ylim()[1] for a in pair)
        for a in pair:
            a.set_ylim(lo, hi)

    def vs_eps(
        a: Any, names: list[str], part: str, q: str, xs: list[float], ms: float = 5
    ) -> None:
        """One curve per process; where the value is inf (search cap passed),
        the curve stops and its legend entry says so."""
        cap = {"steps_exact": "N > 2^20", "T_rule": "T > 1e4"}[q]
        for name in names:
            col, mk = style[name]
            ys = np.array([one(part, name, q, eps=float(e)) for e in xs])
            bad = np.flatnonzero(~np.isfinite(ys))
            lab = f"{name}: {cap} at eps <= {xs[bad[0]]:.0e}" if bad.size else name
            a.loglog(xs, ys, mk + "-", color=col, label=lab, ms=ms)
        a.invert_xaxis()

    def two_legends(a: Any, loc: str, loc_guides: str, ncol: int = 1) -> None:
        """Processes at ``loc``, reference slopes at ``loc_guides``."""
        hs, ls = a.get_legend_handles_labels()
        g = [i for i, lab in enumerate(ls) if lab.startswith(("slope", "(paper"))]
        c = [i for i in range(len(ls)) if i not in g]
        kw: dict[str, Any] = {"fontsize": 7, "framealpha": 0.85}
        leg = a.legend([hs[i] for i in c], [ls[i] for i in c], loc=loc, ncol=ncol, **kw)
        if g:
            a.add_artist(leg)
            a.legend([hs[i] for i in g], [ls[i] for i in g], loc=loc_guides, **kw)

    # (a), (b) A: exact W2 below the bound, per family (VP/OU, VE)
    for k, (fam_name, names) in enumerate(fams):
        a = axs[k]
        for name in names:
            col, mk = style[name]
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
        vals = np.array([one("B", n, q, eps=eps) for n in procs])
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
    # (d), (e) B: steps for exact W2 <= eps vs eps, with reference slopes
    # anchored at each family's first process at the largest eps: N ~ 1/eps
    # (a first-order error) and the paper's table K (eta = eps^2/d, up to
    # logarithms): eps^-2 for OU/VP and VE geometric, eps^-3 for VE with
    # constant g, eps^-5/2 for VE quadratic, eps^-(2 + 1/(2 rho)) for VE power
    pair_b = (axs[3], axs[4])
    for a, (_, names) in zip(pair_b, fams):
        vs_eps(a, names, "B", "steps_exact", epss_exact)
    share_y(pair_b)
    lo, hi = pair_b[0].get_ylim()
    for a in pair_b:  # room for the legends below and above the curves
        a.set_ylim(lo / 8.0, hi * 20.0)
    top = 0.5 * max(  # the guides end below the largest step count drawn
        v
        for n in procs
        for e in epss_exact
        if np.isfinite(v := one("B", n, "steps_exact", eps=float(e)))
    )
    e0 = float(epss_exact[0])

    def guide(a: Any, name: str, p: float, label: str, e1: float) -> None:
        """Slope-p guide from ``name``'s point at the largest eps down to eps
        ``e1`` or to where it leaves the panel."""
        y0 = one("B", name, "steps_exact", eps=e0)
        xe = max(e1, e0 * (top / y0) ** (1.0 / p))
        ref_slope(a, [e0, xe], [y0], p, label=label)

    e_min = float(min(epss_exact))
    e_dec = e0 / 10.0  # the paper's rates over the first decade of eps
    for a, (_, names) in zip(pair_b, fams):
        guide(
            a,
            names[0],
            -1.0,
            f"slope -1: N ~ 1/eps (first order), at {names[0]}",
            e_min,
        )
    vp_anchor = "VP linear" if "VP linear" in fams[0][1] else fams[0][1][0]
    guide(
        pair_b[0],
        vp_anchor,
        -2.0,
        f"slope -2: paper's K ~ 1/eps^2 (up to logs), at {vp_anchor}",
        e_dec,
    )
    ve_rates = (
        ("VE geometric", -2.0, "slope -2: paper's K, VE geometric"),
        ("VE quadratic", -2.5, "slope -2.5: paper's K, VE quadratic"),
        ("VE linear (g const)", -3.0, "slope -3: paper's K, VE linear (g const)"),
    )
    for name, p, lab in ve_rates:
        if name in fams[1][1]:
            guide(pair_b[1], name, p, lab, e_dec)
    pair_b[1].plot(
        [], [], " ", label="(paper's K, VE power rho=2, 7: slopes -2.25, -2.07)"
    )
    for k, (fam_name, _) in enumerate(fams):
        panel(
            pair_b[k],
            "de"[k],
            f"B: steps for exact W2 <= eps ({fam_name})",
            "eps",
            "steps N",
            epss_exact,
        )
        two_legends(pair_b[k], "lower right", "upper left")
    # (f) C: steps vs d: exact ~ sqrt(d), bound ~ d
    a = axs[5]
    a.loglog(dims, se, "o-", label="exact, eps=0.01")
    a.loglog(dims, sb, "s-", label="bound, eps=0.3")
    ref_slope(a, dims, se, 0.5)
    ref_slope(a, dims, sb, 1.0)
    panel(a, "f", "C: steps vs dimension (VP constant, T = 3)", "d", "steps N", dims)
    # (g), (h) D: the paper's horizon rule vs eps
    pair_d = (axs[6], axs[7])
    for a, (_, names) in zip(pair_d, fams):
        vs_eps(a, names, "D", "T_rule", epsD)
    share_y(pair_d)
    for k, (fam_name, _) in enumerate(fams):
        panel(
            pair_d[k],
            "gh"[k],
            f"D: horizon T by the paper's rule vs eps ({fam_name})",
            "eps",
            "T",
        )
    two_legends(pair_d[0], "lower center", "upper left", ncol=3)
    # zoom on the VP cluster near T = 1 (linear T), where the paper's ranking
    # of T (exponential <= polynomial <= linear) sets in at small eps
    z = pair_d[0].inset_axes((0.09, 0.58, 0.6, 0.35))
    vs_eps(z, fams[0][1], "D", "T_rule", epsD, ms=3)
    z.set_yscale("linear")
    z.set_ylim(0.5, 1.8)
    z.tick_params(labelsize=7)
    z.set_title("zoom, linear T", fontsize=7)
    # the figure note in the free ninth slot
    axs[8].axis("off")
    axs[8].text(
        0.0,
        1.0,
        "Left column: VP/OU processes; middle column: VE processes;\n"
        "one colour and marker per process in (a, d, g) and in (b, e, h).\n"
        "Paired panels (a | b, d | e, g | h) share their y-axis.\n\n"
        "markers + solid: exact (a, b, d, e) or the rule's T (g, h);\n"
        "dashed: upper bound; dotted colour: lower bound (a, b).\n"
        "dotted grey lines: reference slopes (labelled on the line and,\n"
        "in d and e, in the legend), each drawn through one data point;\n"
        "they are guides, not fitted rates.\n"
        "Inset in (g): the VP cluster near T = 1 on a linear T scale.\n"
        "Part B uses the T of the paper's rule; a curve that stops has\n"
        "passed the search cap (noted in its legend entry).",
        transform=axs[8].transAxes,
        va="top",
        fontsize=10,
    )
    fig.tight_layout()
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
