"""EI-SDE on Gaussian mixtures: scorelab vs the NumPy (and optional PyTorch) reference.

A thin harness over :mod:`scorelab.benchmark`, which holds the one NumPy reference
(batched over particles: stacked matmuls over the K components, log-sum-exp
responsibilities; never a Python loop over particles) and the agreement checks
(sample means within 5 standard errors; scores equal to 1e-10 at the reference's
particles). The case grid is the Cartesian product of the options below.

Usage (from the repository root, with scorelab installed)::

    python bench/bench_ei_sde.py                      # the d=2/16/128 targets
    python bench/bench_ei_sde.py --d 2 16 --K 8 --threads 1 2 --dtype float64 float32
    python bench/bench_ei_sde.py --torch              # add PyTorch (skipped if missing)
"""

from __future__ import annotations

import argparse
import itertools

from scorelab import benchmark as bm


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, nargs="+", default=None)
    ap.add_argument("--K", type=int, nargs="+", default=[8])
    ap.add_argument("--n", type=int, nargs="+", default=None)
    ap.add_argument("--steps", type=int, nargs="+", default=[20])
    ap.add_argument("--cov", nargs="+", default=["full"])
    ap.add_argument("--dtype", nargs="+", default=["float64"])
    ap.add_argument("--threads", type=int, nargs="+", default=[2])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--torch", action="store_true")
    args = ap.parse_args()
    if args.d is None:  # the three targets
        cases = [
            bm.Case("ei-sde", 2, 8, 200_000, 20),
            bm.Case("ei-sde", 16, 8, 20_000, 20),
            bm.Case("ei-sde", 128, 4, 2_000, 10),
        ]
    else:
        cases = []
        for d, K, steps, cov, dtype, thr in itertools.product(
            args.d, args.K, args.steps, args.cov, args.dtype, args.threads
        ):
            for n in args.n or [max(1_000, 400_000 // (d * K))]:
                cases.append(bm.Case("ei-sde", d, K, n, steps, cov, dtype, thr))
    peak = bm.matmul_gflops()
    print(f"# NumPy dense matmul (float64): {peak:.1f} GFLOP/s")
    rows = [bm.run_case(c, args.repeats, torch_ref=args.torch) for c in cases]
    print(bm.format_table(rows, peak))
    return 0 if all(r["same"] and r["score_same"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
