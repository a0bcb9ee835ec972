"""EI-SDE on a full-covariance mixture on the GPU: scorelab's CUDA backend vs PyTorch.

Same computation as ``bench/bench_ei_sde.py`` (VP process, uniform grid,
score-frozen exponential integrator, exact mixture score with per-step inverse
Cholesky factors and log-sum-exp responsibilities), on one GPU:

* scorelab: ``sample(..., device="cuda", return_device_array=True)`` — one particle
  per thread, the whole trajectory in one kernel per chunk of steps;
* PyTorch reference (on cuda): the same recursion with the same coefficients (read
  from scorelab's table), batched over particles with (n, K, d) tensors and
  ``torch.logsumexp`` — what one would write by hand.

Checks: the GPU output equals the CPU executor's on the first particles (same seed,
1e-12 relative in float64 / float32 tolerance) and agrees statistically with the
PyTorch output (means within 5 standard errors; the noise streams differ). Reports
particle-steps per second, the speed-up over PyTorch, float32 vs float64, and the
achieved FLOP rate as a fraction of the device's non-tensor-core peak (SM count x
clock x FMA units; the FLOP count per particle-step is the arithmetic of the score
formula, see ``flops_per_particle_step``).

Usage: python bench/bench_cuda.py [--repeats 3] [--quick]
Exits 0 with a "skipped" line when there is no CUDA build, no GPU or no PyTorch (the
PyTorch columns are then left out).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from functools import partial

import numpy as np

import scorelab as sl
from scorelab.sample import prepare

# FMA units per SM (non-tensor) by compute capability major: (fp64, fp32)
_FMA_PER_SM = {9: (64, 128), 8: (32, 64), 7: (32, 64)}


def make_mixture(d: int, K: int, seed: int = 0) -> sl.GaussianMixture:
    rng = np.random.default_rng(seed)
    covs = []
    for _ in range(K):
        A = rng.normal(size=(d, d)) / np.sqrt(d)
        covs.append(0.2 * A @ A.T + 0.1 * np.eye(d))
    return sl.GaussianMixture(
        np.full(K, 1 / K), 3 * rng.normal(size=(K, d)), np.array(covs)
    )


def flops_per_particle_step(d: int, K: int) -> int:
    """Floating-point operations of one full-covariance score + EI-SDE update.

    Per component: y - m (d), z = U (y - m) with U lower triangular (d(d+1)/2 FMAs =
    d(d+1) flops), |z|^2 (2d), the log-weight (2), exp and the running sum (~2),
    U^T (w z) (d + d(d+1) flops); then the normalisation (d) and the update
    a x + b s + c xi (4d). exp counts as one operation.
    """
    per_k = d + d * (d + 1) + 2 * d + 4 + d + d * (d + 1)
    return K * per_k + d + 4 * d


def peak_flops(dtype: str) -> float | None:
    from scorelab import _cuda

    a = _cuda.device_attributes(0)
    units = _FMA_PER_SM.get(a["compute_capability"][0])
    if units is None:
        return None
    fma = units[0] if dtype == "float64" else units[1]
    return 2.0 * fma * a["sm_count"] * a["clock_khz"] * 1e3


def torch_ei_sde(torch, mix, proc, g, n, seed, dtype, device="cuda"):
    """The reference: the same recursion and coefficients, batched in PyTorch."""
    tdt = torch.float64 if dtype == "float64" else torch.float32
    dev = torch.device(device)
    prep = prepare(mix, proc, "ei-sde", g)
    tab = prep.table
    a = [float(v) for v in tab.Y[:, 0, 0, 0, 0]]
    b = [float(v) for v in tab.B[:, 0, 0, 0, 0]]
    c = [float(v) for v in tab.C[:, 0, 0, 0]]
    d, K = mix.dim, mix.n_components
    gen = torch.Generator(device=dev).manual_seed(seed)
    prior = float(proc.prior_variance(None, T=float(g[0])))
    x = torch.randn((n, d), generator=gen, device=dev, dtype=tdt) * prior**0.5
    mu = torch.as_tensor(mix.means, device=dev, dtype=torch.float64)
    S0 = torch.as_tensor(mix.covariances, device=dev, dtype=torch.float64)
    logw = torch.log(torch.as_tensor(mix.weights, device=dev, dtype=torch.float64))
    eye = torch.eye(d, device=dev, dtype=torch.float64)
    for k in range(len(a)):
        e = int(tab.eval[k, 0])
        al, s2 = float(prep.Phi[e, 0, 0]), float(prep.Ncov[e, 0, 0])
        L = torch.linalg.cholesky(al * al * S0 + s2 * eye)
        U = torch.linalg.solve_triangular(L, eye.expand(K, d, d), upper=False).to(tdt)
        logc = (logw - torch.log(torch.diagonal(L, dim1=1, dim2=2)).sum(1)).to(tdt)
        m = (al * mu).to(tdt)
        z = torch.einsum("kij,nkj->nki", U, x[:, None, :] - m[None])  # (n, K, d)
        lp = logc - 0.5 * (z * z).sum(-1)
        r = torch.softmax(lp, dim=1)  # log-sum-exp normalised weights
        score = -torch.einsum("nk,kji,nkj->ni", r, U, z)
        x = a[k] * x + b[k] * score
        if c[k] != 0:
            x = x + c[k] * torch.randn((n, d), generator=gen, device=dev, dtype=tdt)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return x


def timeit(fn, repeats: int, sync=None):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if not sl.cuda_available():
        print("skipped: no CUDA backend (SCORELAB_CUDA=ON pip install .) or no GPU")
        return 0
    from scorelab import _cuda

    try:
        import torch

        if not torch.cuda.is_available():
            torch = None
    except ImportError:
        torch = None
    proc = sl.VP()
    steps = 50
    cases = [
        (2, 8, 10_000_000, "float64"),
        (2, 8, 10_000_000, "float32"),
        (16, 8, 1_000_000, "float64"),
        (16, 8, 1_000_000, "float32"),
    ]
    if args.quick:
        cases = [(d, K, n // 100, dt) for d, K, n, dt in cases]
    print(
        f"# {_cuda.device_description(0)}, CUDA runtime {_cuda.runtime_version()}, "
        f"driver {_cuda.driver_version()}, scorelab {sl.__version__}, "
        f"torch {torch.__version__ if torch else 'not available'}, "
        f"python {platform.python_version()}"
    )
    if torch is None:
        print("# PyTorch with CUDA not available: reference columns skipped")
    head = (
        f"{'d':>3}{'K':>3}{'n':>10}{'dtype':>8}{'steps':>6}{'scorelab ps/s':>15}"
        f"{'GFLOP/s':>9}{'of peak':>8}{'torch ps/s':>12}{'ratio':>7}  cpu-equal  same"
    )
    print(head)
    for d, K, n, dtype in cases:
        mix = make_mixture(d, K)
        g = sl.grid("uniform", steps, process=proc)
        t_sl, xs = timeit(partial(sample_gpu, mix, proc, g, n, dtype), args.repeats)
        xs = xs.get()
        # exact agreement with the CPU executor on the first particles
        m = min(n, 20_000)
        xc = sl.sample(mix, proc, "ei-sde", g, m, seed=1, dtype=dtype)
        tol = 1e-12 if dtype == "float64" else 1e-4
        rel = np.max(np.abs(xc - xs[:m])) / max(1.0, np.max(np.abs(xc)))
        cpu_equal = bool(rel <= tol)
        ps = n * steps
        flops = flops_per_particle_step(d, K) * ps / t_sl
        peak = peak_flops(dtype)
        frac = f"{flops / peak:8.1%}" if peak else f"{'?':>8}"
        line = (
            f"{d:>3}{K:>3}{n:>10}{dtype:>8}{steps:>6}{ps / t_sl:>15.3e}"
            f"{flops / 1e9:>9.1f}{frac}"
        )
        if torch is not None:
            try:
                t_t, xt = timeit(
                    partial(torch_ei_sde, torch, mix, proc, g, n, 1, dtype),
                    args.repeats,
                )
                xt = xt.double().cpu().numpy()
                se = np.sqrt(xs.var(0) / n + xt.var(0) / n)
                same = bool(np.all(np.abs(xs.mean(0) - xt.mean(0)) < 5 * se))
                line += f"{ps / t_t:>12.3e}{t_t / t_sl:>7.1f}"
            except torch.cuda.OutOfMemoryError:
                same = None
                line += f"{'OOM':>12}{'-':>7}"
        else:
            same = None
            line += f"{'-':>12}{'-':>7}"
        print(f"{line}  {cpu_equal!s:>9}  {same}")
    return 0


def sample_gpu(mix, proc, g, n, dtype):
    return sl.sample(
        mix,
        proc,
        "ei-sde",
        g,
        n,
        seed=1,
        dtype=dtype,
        device="cuda",
        return_device_array=True,
    )


if __name__ == "__main__":
    sys.exit(main())
