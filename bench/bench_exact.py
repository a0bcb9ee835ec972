"""Exact laws at data scale: the per-eigenvalue path of ``exact_law``.

Times ``exact_law`` on a spectral Gaussian (``Gaussian.from_spectrum``, a power-law
spectrum with zero eigenvalues, like an image data set's covariance) under VP,
against

(a) the dense path of ``exact_law`` (eigh, dense rotations, dense output), where it
    is feasible (d = 10, and d = 3072 at 50 steps), and
(b) a hand-written vectorised NumPy recursion of EI-SDE's mean and variance per
    eigenvalue (a loop over steps, arrays over directions), with the coefficients
    of scorelab's compiled ``ei-sde`` table; its answer is checked against the
    spectral path's (relative difference printed).

Usage::

    PYTHONPATH=python python bench/bench_exact.py            # full grid
    PYTHONPATH=python python bench/bench_exact.py --quick    # no dense d = 3072,
                                                             # no d = 100000
    PYTHONPATH=python python bench/bench_exact.py --table    # the 192-cell table

``--table`` times ``scorelab.analysis.exact_errors`` on the table of
``examples/spectrum_table.py`` at d = 3072: six samplers x {50, 100, 200, 1000}
steps (and, separately, NFE) x four early-stopping times x two initial laws,
with W2 to p_delta and to p_0 per cell.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from scorelab import exact
from scorelab.exact import exact_law
from scorelab.grids import grid
from scorelab.metrics_gaussian import w2_gaussian
from scorelab.processes import VP
from scorelab.schemes import compile_scheme
from scorelab.targets import Gaussian

SCHEMES = ("ei-sde", "ddpm", "heun", "dpm-solver++-3m")


def spectrum(d: int) -> np.ndarray:
    """Power-law eigenvalues with the smallest 1% set to 0 (a singular covariance)."""
    lam = (1.0 + np.arange(d)) ** -1.2
    lam[d - max(1, d // 100) :] = 0.0
    return lam


def best(fn: Any, repeat: int) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls and the last result."""
    out, t = None, np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return t, out


def numpy_ei_sde(lam: np.ndarray, mu0: np.ndarray, g: np.ndarray, proc: VP) -> Any:
    """EI-SDE's output mean and variance per eigenvalue, from the prior N(0, s^2 I).

    Returns the time of the loop alone, the total (with the table) and the law.
    """
    t0 = time.perf_counter()
    tab = compile_scheme("ei-sde", proc, g)
    Phi, Ncov = proc.marginal_maps(tab.stage_times)
    P, N = Phi[:, 0, 0], Ncov[:, 0, 0]
    Y, B, C = tab.Y[:, 0, 0, 0, 0], tab.B[:, 0, 0, 0, 0], tab.C[:, 0, 0, 0]
    ev = tab.eval[:, 0]
    t1 = time.perf_counter()
    mean = np.zeros_like(lam)
    var = np.full_like(lam, float(proc.prior_variance(None, T=float(g[0]))))
    for k in range(tab.steps):
        p = P[ev[k]]
        prec = 1.0 / (p * p * lam + N[ev[k]])
        a = Y[k] - B[k] * prec  # x' = a x + B v + C xi
        mean = a * mean + B[k] * prec * p * mu0
        var = a * a * var + C[k] * C[k]
    t2 = time.perf_counter()
    return t2 - t1, t2 - t0, mean, var


TABLE_SCHEMES = (
    "ei-sde",
    "ddpm",
    "ddim",
    "heun",
    "dpm-solver++-2m",
    "dpm-solver++-3m",
)


def table(d: int = 3072) -> None:
    """Time the sampler x steps (or NFE) x delta x init table of exact W2."""
    from scorelab.analysis import exact_errors

    proc = VP()
    target = Gaussian.from_spectrum((1.0 + np.arange(d)) ** -1.2)
    print("| d | cells | counted by | wall [s] | slowest cell [s] |")
    print("|---|---|---|---|---|")
    for by in ("steps", "nfe"):
        t0 = time.perf_counter()
        tab = exact_errors(
            target,
            proc,
            TABLE_SCHEMES,
            delta=[1e-3, 3e-3, 1e-2, 3e-2],
            init=["prior", "exact"],
            **{by: [50, 100, 200, 1000]},  # type: ignore[arg-type]
        )
        wall = time.perf_counter() - t0
        slowest = float(np.max(tab["time_s"]))
        print(f"| {d} | {len(tab)} | {by} | {wall:.3g} | {slowest:.3g} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the slow cases")
    ap.add_argument("--table", action="store_true", help="time the 192-cell table")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.table:
        table()
        return
    proc = VP()
    dims = (10, 3072) if args.quick else (10, 3072, 100_000)
    print(
        "| d | steps | scheme | spectral [s] | dense [s] | NumPy EI-SDE loop "
        "(+table) [s] | spectral / NumPy | W2 to p_delta [s] |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for d in dims:
        lam = spectrum(d)
        mu0 = np.linspace(-1.0, 1.0, d)
        target = Gaussian.from_spectrum(lam, mean=mu0)
        for steps in (50, 1000):
            g = grid("uniform", steps, process=proc)
            rep = 1 if d == 100_000 else args.repeat
            t_loop, t_ref, ref_mean, ref_var = min(
                (numpy_ei_sde(lam, mu0, g, proc) for _ in range(rep)),
                key=lambda r: r[1],
            )
            for scheme in SCHEMES:
                t_sp, law = best(
                    lambda t=target, s=scheme, g=g: exact_law(t, proc, s, g), rep
                )
                sp = law.spectrum
                assert sp is not None
                if scheme == "ei-sde":
                    err = max(
                        np.max(np.abs(sp[0] - ref_var)) / np.max(ref_var),
                        np.max(np.abs(law.mean - ref_mean)) / np.max(np.abs(ref_mean)),
                    )
                    assert err < 1e-12, err
                dense = "n/a"
                if d == 10 or (d == 3072 and steps == 50 and not args.quick):
                    exact._SPECTRAL = False
                    try:
                        t_dn, law_d = best(
                            lambda t=target, s=scheme, g=g: exact_law(t, proc, s, g),
                            args.repeat if d == 10 else 1,
                        )
                    finally:
                        exact._SPECTRAL = True
                    rel = np.max(np.abs(law_d.cov - law.cov)) / np.max(law_d.cov)
                    assert rel < 1e-10, rel
                    dense = f"{t_dn:.3g}"
                ref_law = target.noised(proc, float(g[-1]))
                t_w2, _ = best(lambda a=law, b=ref_law: w2_gaussian(a, b), rep)
                print(
                    f"| {d} | {steps} | {scheme} | {t_sp:.3g} | {dense} | "
                    f"{t_loop:.3g} ({t_ref:.3g}) | {t_sp / t_ref:.2g} | {t_w2:.2g} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
