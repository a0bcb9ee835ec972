"""Benchmark of scorelab.optimize_grid (exact-error grid optimisation).

Per case (dimension d, steps N, scheme), in one run:

* ``eval``: one exact-law evaluation (``exact_law`` + ``w2_gaussian``) on the
  start grid -- the reference unit;
* ``adjoint grad``: one exact gradient (``gradient="adjoint"``: the recursion on
  the tape, its reverse pass and the banded coefficient Jacobian);
* ``fd grad``: one central-difference gradient over the logits (2 N exact laws),
  the previous method;
* ``optimise``: the whole optimisation from the best family (``start="best"``,
  maxiter 200) with the exact gradient (best of 3 runs at d = 10), its
  iterations, and the W2 before/after.

Targets: the 10-D Gaussian with eigenvalues 0.01..10 (d = 10) and the power-law
spectrum k^-1.2 (d = 3072), VP, delta = 1e-3. Speed targets of the design:
optimisation <= 1 s at d = 10, N = 10 and <= 30 s at d = 3072, N = 50.

    PYTHONPATH=python python bench/bench_schedules.py [--maxiter 200] [--quick]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

import scorelab as sl
from scorelab.schedules import (
    _Adjoint,
    _fd_gradient,
    _make_objective,
    _Param,
    _u_to_z_grad,
    optimize_grid,
)

SCHEMES = ("ei-sde", "ddim", "dpm-solver++-2m", "dpm-solver++-3m", "heun")


def _target(d: int) -> sl.Gaussian:
    if d <= 10:
        return sl.Gaussian.from_spectrum(np.geomspace(0.01, 10.0, d))
    return sl.Gaussian.from_spectrum(np.arange(1, d + 1, dtype=float) ** -1.2)


def _best(fn: Any, reps: int) -> float:
    """Best of ``reps`` timings of ``fn()`` (seconds)."""
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def _case(d: int, steps: int, scheme: str, maxiter: int) -> dict[str, float]:
    target, p, delta = _target(d), sl.VP(), 1e-3
    g = sl.grid("logsnr", steps, process=p, delta=delta)
    ref = target.noised(p, delta)
    one = _best(lambda: sl.w2_gaussian(sl.exact_law(target, p, scheme, g), ref), 5)
    par = _Param(p, p.T, delta, steps)
    z = par.logits(g)
    adj = _Adjoint([target], p, scheme, delta, "w2", "final", None, None, {}, par)
    adj.find_pattern(par.u(z))  # once per optimisation

    def adjoint_grad() -> None:
        adj._jac_cache.clear()
        _u_to_z_grad(par, z, adj.value_grad_u(par.u(z))[1])

    f = _make_objective([target], p, scheme, delta, "w2", "final", None, None, {})
    t_adj = _best(adjoint_grad, 5)
    t_fd = _best(lambda: _fd_gradient(lambda x: f(par.grid(x)), z, 1e-6), 2)
    # best of 3 at d = 10 (about 1 s each: timing noise of a shared machine)
    runs = [optimize_grid(target, p, scheme, steps, start="best", maxiter=maxiter)
            for _ in range(3 if d <= 10 else 1)]
    res = min(runs, key=lambda r: r.seconds)
    return {"one": one, "adj": t_adj, "fd": t_fd, "opt": res.seconds,
            "iters": len(res.history) - 1, "before": res.error_before,
            "after": res.error_after}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--maxiter", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="d = 10 only")
    args = ap.parse_args()
    print("| d | N | scheme | eval (ms) | adjoint grad (ms) | fd grad (ms) | "
          "fd / adjoint | optimise (s) | iters | W2 best family | W2 optimised |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    cases = ((10, 10),) if args.quick else ((10, 10), (3072, 50))
    for d, n in cases:
        for scheme in SCHEMES:
            r = _case(d, n, scheme, args.maxiter)
            print(f"| {d} | {n} | {scheme} | {1e3 * r['one']:.3g} | "
                  f"{1e3 * r['adj']:.3g} | {1e3 * r['fd']:.3g} | "
                  f"{r['fd'] / r['adj']:.1f} | {r['opt']:.3g} | {r['iters']} | "
                  f"{r['before']:.3g} | {r['after']:.3g} |", flush=True)


if __name__ == "__main__":
    main()
