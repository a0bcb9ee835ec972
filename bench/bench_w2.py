"""Batched Bures-Wasserstein W2: scorelab.w2_gaussian vs NumPy and POT.

``scorelab.w2_gaussian`` on stacked (N, d, d) inputs against the NumPy Cholesky +
``eigvalsh`` reference of :mod:`scorelab.benchmark` and, when POT is installed,
``ot.gaussian.bures_wasserstein_distance(ms, mt, Cs, Ct, paired=True)``; answers are
checked to agree to 1e-10.

Usage: python bench/bench_w2.py [--N 10000] [--d 2 16 64] [--repeats 5]
"""

from __future__ import annotations

import argparse

from scorelab import benchmark as bm


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--N", type=int, default=10_000)
    ap.add_argument("--d", type=int, nargs="+", default=[16])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows = [bm.run_case(bm.Case("w2", d, 0, args.N, 0), args.repeats) for d in args.d]
    print(bm.format_table(rows, None))
    return 0 if all(r["same"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
