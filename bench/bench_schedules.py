"""Benchmark of scorelab.optimize_grid (exact-error grid optimisation).

Times one optimisation per case and, as the reference in the same run, one
exact-law evaluation (``exact_law`` + ``w2_gaussian``) on the start grid, so the
ratio is the number of exact-law evaluations the optimisation costs.

    PYTHONPATH=python python bench/bench_schedules.py [--maxiter 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import scorelab as sl
from scorelab.schedules import optimize_grid


def _case(d: int, steps: int, scheme: str, maxiter: int) -> dict[str, float]:
    target = sl.Gaussian.from_spectrum(np.arange(1, d + 1, dtype=float) ** -1.2)
    if d <= 10:
        target = sl.Gaussian.from_spectrum(np.geomspace(0.01, 10.0, d))
    p = sl.VP()
    g = sl.grid("logsnr", steps, process=p)
    ref = target.noised(p, 1e-3)
    t0 = time.perf_counter()
    reps = 5
    for _ in range(reps):
        sl.w2_gaussian(sl.exact_law(target, p, scheme, g), ref)  # type: ignore[arg-type]
    one = (time.perf_counter() - t0) / reps
    res = optimize_grid(target, p, scheme, steps, maxiter=maxiter)
    return {"d": d, "steps": steps, "one_eval_s": one, "opt_s": res.seconds,
            "evals": res.evaluations, "ratio": res.seconds / one,
            "iters": len(res.history) - 1, "before": res.error_before,
            "after": res.error_after}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--maxiter", type=int, default=200)
    args = ap.parse_args()
    print("| d | N | scheme | one eval (s) | optimise (s) | evals | iters | ratio "
          "| W2 before | W2 after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for d, n in ((10, 10), (3072, 50)):
        r = _case(d, n, "dpm-solver++-2m", args.maxiter)
        print(f"| {d} | {n} | dpm-solver++-2m | {r['one_eval_s']:.3g} | "
              f"{r['opt_s']:.3g} | {r['evals']} | {r['iters']} | {r['ratio']:.0f} | "
              f"{r['before']:.3g} | {r['after']:.3g} |", flush=True)


if __name__ == "__main__":
    main()
