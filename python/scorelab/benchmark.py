"""Throughput of scorelab against NumPy references (``scorelab bench``).

Every case runs scorelab and a NumPy reference of the same computation in one
process, reports the median time of several repeats as a throughput and as a ratio,
and checks that the two agree:

- ``ei-sde``: the score-frozen exponential integrator (reverse SDE) of a VP process
  on a Gaussian mixture. The NumPy reference (:func:`numpy_ei_sde`) is batched over
  particles with stacked matmuls over the K components and a log-sum-exp softmax
  (:func:`numpy_mixture_score`), never a Python loop over particles. Agreement is
  statistical: the sample means agree within 5 standard errors, and the mixture
  scores agree exactly (relative error below 1e-10 in float64) at the reference's
  final particles.
- ``w2``: batched Bures-Wasserstein distances (:func:`scorelab.w2_gaussian` with
  stacked ``(N, d, d)`` inputs) against a NumPy Cholesky + ``eigvalsh`` reference
  (:func:`numpy_w2_gaussian`); answers agree to 1e-10.

Throughput is reported in particle-steps per second (ps/s) and as useful GFLOP/s
of the score evaluation (:func:`score_flops`), also as a fraction of the machine's
dense matmul rate measured with NumPy (:func:`matmul_gflops`).

``scorelab bench`` calls :func:`main`; ``scorelab bench --help`` lists the options.
The scripts in ``bench/`` reuse the references defined here.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Case",
    "DEFAULT_CASES",
    "QUICK_CASES",
    "dtype_speedup",
    "main",
    "make_mixture",
    "matmul_gflops",
    "numpy_ei_sde",
    "numpy_mixture_score",
    "numpy_w2_gaussian",
    "run_case",
    "score_flops",
    "time_pair",
    "timeit",
]

FloatArray = npt.NDArray[np.floating[Any]]


@dataclass(frozen=True)
class Case:
    """One benchmark case: an EI-SDE run or a batch of W2 distances."""

    kind: str = "ei-sde"  # "ei-sde" or "w2"
    d: int = 2
    K: int = 8
    n: int = 20_000  # particles (ei-sde) or pairs (w2)
    steps: int = 20
    cov: str = "full"  # "full", "diag" or "spherical"
    dtype: str = "float64"
    threads: int = 2


QUICK_CASES: tuple[Case, ...] = (
    Case("ei-sde", 2, 8, 100_000, 20),
    Case("ei-sde", 2, 8, 100_000, 20, dtype="float32"),
    Case("ei-sde", 16, 8, 10_000, 20),
    Case("ei-sde", 128, 4, 500, 10),
    Case("w2", 16, 0, 10_000, 0),
)

DEFAULT_CASES: tuple[Case, ...] = (
    Case("ei-sde", 2, 8, 200_000, 20),
    Case("ei-sde", 2, 8, 200_000, 20, dtype="float32"),
    Case("ei-sde", 2, 8, 200_000, 20, threads=1),
    Case("ei-sde", 2, 8, 200_000, 20, cov="diag"),
    Case("ei-sde", 16, 8, 20_000, 20),
    Case("ei-sde", 16, 8, 20_000, 20, threads=1),
    Case("ei-sde", 16, 8, 20_000, 20, dtype="float32"),
    Case("ei-sde", 16, 8, 20_000, 20, cov="diag"),
    Case("ei-sde", 128, 4, 2_000, 10),
    Case("w2", 16, 0, 10_000, 0),
)


# ---------------------------------------------------------------------------
# problems and references
# ---------------------------------------------------------------------------


def make_mixture(d: int, K: int, cov: str = "full", seed: int = 0) -> Any:
    """A well-conditioned random mixture with equal weights and spread means."""
    import scorelab as sl

    rng = np.random.default_rng(seed)
    means = 3 * rng.normal(size=(K, d))
    if cov == "full":
        covs = []
        for _ in range(K):
            A = rng.normal(size=(d, d)) / np.sqrt(d)
            covs.append(0.2 * A @ A.T + 0.1 * np.eye(d))
        C: FloatArray = np.array(covs)
    elif cov == "diag":
        C = 0.1 + 0.3 * rng.random((K, d))
    else:
        C = 0.1 + 0.3 * rng.random(K)
    return sl.GaussianMixture(np.full(K, 1 / K), means, C, covariance_type=cov)


def _full_covs(mix: Any) -> FloatArray:
    C = np.asarray(mix.covariances, dtype=np.float64)
    K, d = mix.means.shape
    if mix.covariance_type == "diag":
        return np.einsum("ki,ij->kij", C, np.eye(d))
    if mix.covariance_type == "spherical":
        return C[:, None, None] * np.eye(d)[None]
    return C


def numpy_mixture_score(
    weights: FloatArray, means: FloatArray, covs: FloatArray, x: FloatArray
) -> FloatArray:
    r"""Score :math:`\nabla \log \sum_k w_k N(x; m_k, C_k)` at ``x`` (n, d), batched.

    With :math:`C_k = L_k L_k^\top` and :math:`U_k = L_k^{-1}`,
    :math:`z_k = U_k (x - m_k)`, responsibilities ``softmax_k(log w_k - log det L_k
    - |z_k|^2 / 2)`` (log-sum-exp) and score :math:`-\sum_k r_k U_k^\top z_k`.
    Stacked matmuls over the K components; temporaries are (K, n, d).
    """
    d = means.shape[1]
    L = np.linalg.cholesky(covs)
    U = np.linalg.solve(L, np.broadcast_to(np.eye(d), L.shape))  # (K, d, d)
    logc = np.log(weights) - np.log(np.diagonal(L, axis1=1, axis2=2)).sum(1)
    diff = x[None, :, :] - means[:, None, :]  # (K, n, d)
    z = diff @ np.swapaxes(U, 1, 2)  # z_k = U_k diff_k, row-wise
    lp = logc[:, None] - 0.5 * np.einsum("kni,kni->kn", z, z)
    lp -= lp.max(0, keepdims=True)
    w = np.exp(lp)
    w /= w.sum(0, keepdims=True)
    out: FloatArray = -((w[:, :, None] * z) @ U).sum(0)
    return out


def numpy_ei_sde(mix: Any, proc: Any, g: FloatArray, n: int, seed: int) -> FloatArray:
    """EI-SDE (score frozen at the left end) on ``n`` particles from the prior."""
    rng = np.random.default_rng(seed)
    d = mix.dim
    covs0 = _full_covs(mix)
    x = np.sqrt(proc.prior_var) * rng.standard_normal((n, d))
    r, c, nv = proc.ei_coefficients(g[:-1], g[1:])
    for k in range(len(g) - 1):
        a, s2 = float(proc.alpha(g[k])), float(proc.sigma2(g[k]))
        score = numpy_mixture_score(
            mix.weights, a * mix.means, a * a * covs0 + s2 * np.eye(d), x
        )
        x = r[k] * x + c[k] * score + np.sqrt(nv[k]) * rng.standard_normal((n, d))
    return x


def torch_ei_sde(
    mix: Any, proc: Any, g: FloatArray, n: int, seed: int, threads: int
) -> FloatArray | None:
    """The NumPy reference written with PyTorch (CPU); None if torch is missing."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    d = mix.dim
    covs0 = torch.from_numpy(_full_covs(mix))
    means = torch.from_numpy(np.ascontiguousarray(mix.means))
    logw = torch.log(torch.from_numpy(mix.weights))
    eye = torch.eye(d, dtype=torch.float64)
    x = float(np.sqrt(proc.prior_var)) * torch.randn(
        n, d, dtype=torch.float64, generator=gen
    )
    r, c, nv = proc.ei_coefficients(g[:-1], g[1:])
    for k in range(len(g) - 1):
        a, s2 = float(proc.alpha(g[k])), float(proc.sigma2(g[k]))
        L = torch.linalg.cholesky(a * a * covs0 + s2 * eye)
        U = torch.linalg.solve_triangular(L, eye.expand_as(L), upper=False)
        logc = logw - torch.log(torch.diagonal(L, dim1=1, dim2=2)).sum(1)
        z = (x[None] - a * means[:, None, :]) @ U.transpose(1, 2)
        w = torch.softmax(logc[:, None] - 0.5 * (z * z).sum(-1), dim=0)
        score = -((w[:, :, None] * z) @ U).sum(0)
        noise = torch.randn(n, d, dtype=torch.float64, generator=gen)
        x = float(r[k]) * x + float(c[k]) * score + float(np.sqrt(nv[k])) * noise
    return x.numpy()  # type: ignore[no-any-return]


def numpy_w2_gaussian(
    m1: FloatArray, S1: FloatArray, m2: FloatArray, S2: FloatArray
) -> FloatArray:
    r"""Batched Bures W2 by Cholesky of S2 and ``eigvalsh`` of :math:`L^\top S_1 L`."""
    L = np.linalg.cholesky(S2)
    M = np.swapaxes(L, -1, -2) @ S1 @ L
    ev = np.linalg.eigvalsh(0.5 * (M + np.swapaxes(M, -1, -2)))
    cross = np.sqrt(np.maximum(ev, 0.0)).sum(-1)
    tr = np.trace(S1, axis1=-2, axis2=-1) + np.trace(S2, axis1=-2, axis2=-1)
    sq = ((m1 - m2) ** 2).sum(-1) + tr - 2.0 * cross
    out: FloatArray = np.sqrt(np.maximum(sq, 0.0))
    return out


def random_spd_batch(N: int, d: int, seed: int = 0) -> tuple[FloatArray, FloatArray]:
    """``N`` random means (N, d) and well-conditioned SPD matrices (N, d, d)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(N, d, d)) / np.sqrt(d)
    S = A @ np.swapaxes(A, 1, 2) + 0.1 * np.eye(d)
    return rng.normal(size=(N, d)), np.ascontiguousarray(S)


# ---------------------------------------------------------------------------
# flops and timing
# ---------------------------------------------------------------------------


def score_flops(d: int, K: int, cov: str = "full") -> int:
    """Useful flops of one mixture-score evaluation at one particle.

    Full: per component, ``z = U (y - m)`` with triangular ``U`` (d subtractions,
    d(d+1)/2 multiply-adds), ``|z|^2`` (2d), ``U^T (r z)`` (d + d(d+1)), one exp and
    the log-sum-exp bookkeeping (4): ``K (2 d (d+1) + 5 d + 4)``. Diagonal and
    spherical: ``K (6 d + 4)``. The O(d) update of the state is not counted.
    """
    if cov == "full":
        return K * (2 * d * (d + 1) + 5 * d + 4)
    return K * (6 * d + 4)


def timeit(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``repeats`` calls (after none), and the last result."""
    times, out = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def time_pair(
    fa: Callable[[], Any], fb: Callable[[], Any], repeats: int, pause: float = 0.2
) -> tuple[float, Any, float, Any]:
    """Median wall times of two computations timed alternately (a, b, a, b, ...).

    Alternating keeps the two exposed to the same background load on a shared
    machine; a short pause before each call lets the BLAS worker threads of the
    previous call (which spin for a while after a NumPy matmul) go idle, so that
    neither side is timed against the other's leftover threads.
    Returns (t_a, last result of a, t_b, last result of b).
    """
    ta, tb, ra, rb = [], [], None, None
    for _ in range(max(1, repeats)):
        time.sleep(pause)
        t0 = time.perf_counter()
        ra = fa()
        t1 = time.perf_counter()
        time.sleep(pause)
        t2 = time.perf_counter()
        rb = fb()
        t3 = time.perf_counter()
        ta.append(t1 - t0)
        tb.append(t3 - t2)
    return float(np.median(ta)), ra, float(np.median(tb)), rb


def dtype_speedup(
    d: int = 2,
    K: int = 8,
    n: int = 200_000,
    steps: int = 20,
    threads: int = 2,
    repeats: int = 5,
) -> dict[str, float]:
    """float32 against float64 throughput of the same EI-SDE run, timed alternately.

    The table's float32 and float64 rows are separate cases (each alternated with
    NumPy); this compares the two precisions with each other under the same
    conditions: ``time_pair`` of ``sample(..., dtype="float64")`` and
    ``sample(..., dtype="float32")`` (same mixture, grid, seed and threads).
    Returns the two rates (particle-steps/s) and ``speedup`` = float32 / float64.
    """
    import scorelab as sl

    proc = sl.VP()
    mix = make_mixture(d, K)
    g = sl.grid("uniform", steps, process=proc)

    def run(dtype: str) -> Callable[[], Any]:
        return lambda: sl.sample(
            mix, proc, "ei-sde", g, n, seed=1, threads=threads, dtype=dtype
        )

    run("float64")()  # warm up
    run("float32")()
    t64, _, t32, _ = time_pair(run("float64"), run("float32"), repeats)
    ps = n * steps
    return {"float64": ps / t64, "float32": ps / t32, "speedup": t64 / t32}


def matmul_gflops(size: int = 1500, repeats: int = 3) -> float:
    """Dense float64 matmul rate of NumPy's BLAS on this machine (GFLOP/s)."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(size, size))
    B = rng.normal(size=(size, size))
    A @ B  # warm up
    t, _ = timeit(lambda: A @ B, repeats)
    return 2.0 * size**3 / t / 1e9


# ---------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------


def run_case(case: Case, repeats: int = 3, torch_ref: bool = False) -> dict[str, Any]:
    """Run one case; returns a row with timings, throughputs and agreement flags."""
    if case.kind == "w2":
        return _run_w2(case, repeats)
    import scorelab as sl

    proc = sl.VP()
    mix = make_mixture(case.d, case.K, case.cov)
    g = sl.grid("uniform", case.steps, process=proc)
    n, ps = case.n, case.n * case.steps

    def run_sl() -> FloatArray:
        return np.asarray(  # type: ignore[no-any-return]
            sl.sample(
                mix,
                proc,
                "ei-sde",
                g,
                n,
                seed=1,
                threads=case.threads,
                dtype=case.dtype,
            )
        )

    run_sl()  # warm up (page faults, thread start)
    t_sl, xs, t_np, xn = time_pair(
        run_sl, lambda: numpy_ei_sde(mix, proc, g, n, seed=1), repeats
    )
    xs = np.asarray(xs, dtype=np.float64)
    se = np.sqrt(xs.var(0) / n + xn.var(0) / n)
    same = bool(np.all(np.abs(xs.mean(0) - xn.mean(0)) < 5 * se))
    # exact agreement of the score at the reference's final particles
    pts = np.ascontiguousarray(xn[: min(n, 2000)])
    s_ref = numpy_mixture_score(mix.weights, mix.means, _full_covs(mix), pts)
    s_sl = np.asarray(mix.score(pts, threads=case.threads))
    score_err = float(
        np.max(np.abs(s_sl - s_ref)) / max(1.0, float(np.max(np.abs(s_ref))))
    )
    flops = score_flops(case.d, case.K, case.cov)
    row: dict[str, Any] = {
        **case.__dict__,
        "t_scorelab": t_sl,
        "t_numpy": t_np,
        "ps_scorelab": ps / t_sl,
        "ps_numpy": ps / t_np,
        "ratio": t_np / t_sl,
        "gflops": ps * flops / t_sl / 1e9,
        "same": same,
        "score_err": score_err,
        "score_same": score_err < 1e-10,
        "ps_torch": None,
        "torch_same": None,
    }
    if torch_ref:
        xt = torch_ei_sde(mix, proc, g, n, 1, case.threads)  # warm up / availability
        if xt is not None:
            t_torch, xt = timeit(
                lambda: torch_ei_sde(mix, proc, g, n, 1, case.threads), repeats
            )
            se_t = np.sqrt(xs.var(0) / n + xt.var(0) / n)
            row["ps_torch"] = ps / t_torch
            row["torch_same"] = bool(np.all(np.abs(xs.mean(0) - xt.mean(0)) < 5 * se_t))
    return row


def _run_w2(case: Case, repeats: int) -> dict[str, Any]:
    import scorelab as sl

    m1, S1 = random_spd_batch(case.n, case.d, seed=1)
    m2, S2 = random_spd_batch(case.n, case.d, seed=2)
    sl.w2_gaussian(m1[:10], S1[:10], m2[:10], S2[:10])  # warm up
    t_sl, ws, t_np, wn = time_pair(
        lambda: sl.w2_gaussian(m1, S1, m2, S2),
        lambda: numpy_w2_gaussian(m1, S1, m2, S2),
        repeats,
    )
    err = float(np.max(np.abs(np.asarray(ws) - wn)))
    row: dict[str, Any] = {
        **case.__dict__,
        "t_scorelab": t_sl,
        "t_numpy": t_np,
        "ps_scorelab": case.n / t_sl,
        "ps_numpy": case.n / t_np,
        "ratio": t_np / t_sl,
        "gflops": None,
        "same": err < 1e-10,
        "score_err": err,
        "score_same": err < 1e-10,
        "ps_torch": None,
        "torch_same": None,
    }
    try:
        import ot

        t_ot, wo = timeit(
            lambda: ot.gaussian.bures_wasserstein_distance(m1, m2, S1, S2, paired=True),
            repeats,
        )
        row["t_pot"] = t_ot
        row["pot_ratio"] = t_ot / t_sl
        row["pot_err"] = float(np.max(np.abs(np.asarray(wo) - np.asarray(ws))))
    except (ImportError, TypeError, AttributeError):
        row["t_pot"] = None
    return row


def format_table(rows: Sequence[dict[str, Any]], peak: float | None) -> str:
    """Markdown table of benchmark rows."""
    head = (
        "| case | d | K | n | steps | cov | dtype | thr | scorelab /s | NumPy /s | "
        "ratio | GFLOP/s | of peak | same | exact |"
    )
    lines = [head, "|" + "|".join(["---"] * 15) + "|"]
    for r in rows:
        gf = r["gflops"]
        frac = "" if gf is None or not peak else f"{gf / peak:.2f}"
        lines.append(
            f"| {r['kind']} | {r['d']} | {r['K'] or ''} | {r['n']:,} | "
            f"{r['steps'] or ''} | {r['cov']} | {r['dtype']} | {r['threads']} | "
            f"{r['ps_scorelab']:.3e} | {r['ps_numpy']:.3e} | {r['ratio']:.1f} | "
            f"{'' if gf is None else f'{gf:.2f}'} | {frac} | "
            f"{'yes' if r['same'] else 'NO'} | {r['score_err']:.1e} |"
        )
    extra = []
    for r in rows:
        if r.get("ps_torch"):
            extra.append(
                f"torch d={r['d']} K={r['K']}: {r['ps_torch']:.3e} ps/s, scorelab/"
                f"torch = {r['ps_scorelab'] / r['ps_torch']:.1f}, same: "
                f"{r['torch_same']}"
            )
        if r.get("t_pot"):
            extra.append(
                f"POT bures_wasserstein_distance(paired=True), {r['n']:,} pairs "
                f"d={r['d']}: {r['n'] / r['t_pot']:.3e} pairs/s, scorelab/POT = "
                f"{r['pot_ratio']:.1f}, max |diff| = {r['pot_err']:.1e}"
            )
    return "\n".join(lines + ([""] + extra if extra else []))


def main(argv: Sequence[str] | None = None) -> int:
    """Print the throughput table; returns 0, or 1 if some case disagrees."""
    ap = argparse.ArgumentParser(
        prog="scorelab bench",
        description="scorelab vs NumPy reference: throughput table and agreement.",
    )
    ap.add_argument("--full", action="store_true", help="the larger default cases")
    ap.add_argument("--threads", type=int, default=None, help="override threads")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--torch", action="store_true", help="add the PyTorch reference")
    ap.add_argument("--no-peak", action="store_true", help="skip the matmul peak")
    ap.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="KIND:d:K:n:steps[:cov[:dtype[:threads]]]",
        help="a custom case, e.g. ei-sde:16:8:20000:50:full:float64:2",
    )
    args = ap.parse_args(list(argv) if argv is not None else None)
    cases: list[Case] = []
    for spec in args.case:
        parts = spec.split(":")
        kw: dict[str, Any] = {"kind": parts[0]}
        for name, val in zip(("d", "K", "n", "steps"), parts[1:5]):
            kw[name] = int(val)
        for name, val in zip(("cov", "dtype"), parts[5:7]):
            kw[name] = val
        if len(parts) > 7:
            kw["threads"] = int(parts[7])
        cases.append(Case(**kw))
    if not cases:
        cases = list(DEFAULT_CASES if args.full else QUICK_CASES)
    if args.threads is not None:
        cases = [Case(**{**c.__dict__, "threads": args.threads}) for c in cases]
    import scorelab as sl

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# scorelab {sl.__version__}, numpy {np.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load {load:.2f}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    peak = None if args.no_peak else matmul_gflops()
    if peak:
        print(f"# NumPy dense matmul (1500^2, float64): {peak:.1f} GFLOP/s")
    rows = [run_case(c, args.repeats, torch_ref=args.torch) for c in cases]
    print(format_table(rows, peak))
    if args.full and not args.case:
        sp = dtype_speedup(threads=args.threads or 2, repeats=args.repeats)
        print(
            f"\nfloat32 / float64, d=2 K=8 n=200,000, alternated: "
            f"{sp['float32']:.3e} / {sp['float64']:.3e} ps/s = {sp['speedup']:.2f}x"
        )
    ok = all(r["same"] and r["score_same"] for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
