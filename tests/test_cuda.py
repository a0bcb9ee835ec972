"""The optional CUDA backend (scorelab._cuda): errors without it, packing, GPU parity.

Three groups:

* tests that run everywhere: ``device`` validation and the clear RuntimeError when the
  backend is not built or no GPU is visible;
* host-only tests of the packed table the kernels read (they need a SCORELAB_CUDA=ON
  build but no GPU): the packing must be lossless;
* ``@pytest.mark.cuda`` tests that need a GPU (skipped otherwise): the GPU executor
  against the CPU executor on the same table and seed.
"""

from __future__ import annotations

import ctypes
import importlib
import sys

import numpy as np
import pytest

import scorelab as sl
from scorelab import errors
from scorelab.cld import CLD
from scorelab.grids import grid
from scorelab.processes import VE, VP
from scorelab.sample import (
    InitLaw,
    init_law,
    prepare,
    run_arguments,
    sample,
    table_arguments,
)
from scorelab.targets import Gaussian, GaussianMixture


def _cuda_module():
    try:
        return importlib.import_module("scorelab._cuda")
    except ImportError:
        return None


_CUDA = _cuda_module()
HAS_GPU = sl.cuda_available()
needs_module = pytest.mark.skipif(
    _CUDA is None, reason="scorelab._cuda not built (SCORELAB_CUDA=ON pip install .)"
)
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="no CUDA build or no GPU")


def _mixture(cov_type: str = "full", d: int = 3, K: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 1.5, K)
    mu = 2.0 * rng.standard_normal((K, d))
    if cov_type == "full":
        A = rng.standard_normal((K, d, d)) / np.sqrt(d)
        C = A @ np.transpose(A, (0, 2, 1)) + 0.2 * np.eye(d)
    elif cov_type == "diag":
        C = rng.uniform(0.2, 1.5, (K, d))
    else:
        C = rng.uniform(0.2, 1.5, K)
    return GaussianMixture(w / w.sum(), mu, C, cov_type)


# ---------------------------------------------------------------- run everywhere


@pytest.mark.parametrize("device", ["gpu", "CUDA", "cuda:0", "", None, 0])
def test_bad_device_raises_value_error(device):
    proc = VP()
    with pytest.raises(ValueError, match="device must be one of"):
        sample(
            _mixture(),
            proc,
            "ei-sde",
            grid("uniform", 4, process=proc),
            8,
            device=device,
        )


def test_return_device_array_needs_cuda():
    proc = VP()
    with pytest.raises(ValueError, match="return_device_array"):
        sample(
            _mixture(),
            proc,
            "ei-sde",
            grid("uniform", 4, process=proc),
            8,
            return_device_array=True,
        )


def test_cuda_without_module_raises_clear_error(monkeypatch):
    # simulate a CPU-only build, whatever this one is
    monkeypatch.setitem(sys.modules, "scorelab._cuda", None)
    monkeypatch.delattr(sl, "_cuda", raising=False)
    assert sl.cuda_available() is False
    proc = VP()
    with pytest.raises(RuntimeError, match=r"SCORELAB_CUDA=ON pip install \."):
        sample(
            _mixture(),
            proc,
            "ei-sde",
            grid("uniform", 4, process=proc),
            8,
            device="cuda",
        )


@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")
def test_cuda_without_gpu_raises_clear_error():
    proc = VP()
    with pytest.raises(RuntimeError, match=r"SCORELAB_CUDA=ON pip install \."):
        sample(
            _mixture(),
            proc,
            "ei-sde",
            grid("uniform", 4, process=proc),
            8,
            device="cuda",
        )


def test_cpu_device_is_the_default():
    proc = VP()
    g = grid("uniform", 6, process=proc)
    mix = _mixture()
    np.testing.assert_array_equal(
        sample(mix, proc, "heun", g, 64, seed=2),
        sample(mix, proc, "heun", g, 64, seed=2, device="cpu"),
    )


# ---------------------------------------------------------------- host only (module)


@needs_module
def test_module_imports_and_reports_devices():
    n = _CUDA.device_count()
    assert isinstance(n, int) and n >= 0
    assert sl.cuda_available() == (n > 0)
    assert _CUDA.runtime_version() > 0  # the static runtime is linked in
    if n == 0:
        with pytest.raises(RuntimeError, match="no CUDA device"):
            _CUDA.run_table_f64(**_run_args(*_prep(_mixture(), VP(), "ei-sde")))


def _prep(target, proc, scheme, error=None, steps=7, **opts):
    g = grid("uniform", steps, process=proc, delta=1e-2)
    return prepare(target, proc, scheme, g, error, opts), proc


_table_args = table_arguments


def _run_args(prep, proc, n=16):
    D = prep.D
    return run_arguments(prep, InitLaw(mean=np.zeros(D), chol=np.eye(D)), n, 1, 0, 1, 0)


def _unpack_dense(P, m):
    """Dense Y, B, E, C rebuilt from the packed term lists."""
    N, S, H = P["N"], P["S"], P["H"]
    Y = np.zeros((N, S, S, m, m))
    B = np.zeros((N, S, S, m, m))
    E = np.zeros((N, S, H, m, m))
    C = P["noise"].reshape(N, S, 4)[:, :, : m * m].reshape(N, S, m, m).copy()
    ob = P["op_begin"]
    assert ob[0] == 0 and ob[-1] == len(P["term_src"]) and np.all(np.diff(ob) >= 0)
    for k in range(N):
        for j in range(S):
            for t in range(ob[k * S + j], ob[k * S + j + 1]):
                src, idx = P["term_src"][t], P["term_idx"][t]
                blk = P["term_coef"][t, : m * m].reshape(m, m)
                dst = (Y, B, E)[src]
                assert np.all(dst[k, j, idx] == 0), "a block appears twice"
                dst[k, j, idx] = blk
    np.testing.assert_array_equal(
        P["has_noise"].reshape(N, S), np.any(C != 0, axis=(2, 3))
    )
    return Y, B, E, C


PACK_CASES = [
    ("ei-sde", VP(), "full"),
    ("ddpm", VE(), "diag"),
    ("heun", VP(), "spherical"),
    ("dpm-solver++-2m", VP(), "full"),
    ("dpm-solver++-3m", VE(), "full"),
    ("unipc-2", VP(), "diag"),
    ("pc", VP(), "full"),
    ("deis-3", VP(), "full"),
    ("ei-sde", CLD(), "full"),
]


@needs_module
@pytest.mark.parametrize(("scheme", "proc", "cov"), PACK_CASES, ids=lambda v: str(v))
def test_packing_is_lossless(scheme, proc, cov):
    target = _mixture(cov, d=2 if proc.m == 2 else 3)
    prep, _ = _prep(target, proc, scheme)
    tab = prep.table
    P = _CUDA.pack_table_f64(**_table_args(prep))
    Y, B, E, C = _unpack_dense(P, tab.m)
    S = tab.eval.shape[1]
    # stage j (row j - 1) only reads y_i, s_i with i < j: the rest must be zero
    lower = np.tril(np.ones((S, S), bool))[None, :, :, None, None]
    np.testing.assert_array_equal(Y, np.where(lower, tab.Y, 0.0))
    np.testing.assert_array_equal(B, np.where(lower, tab.B, 0.0))
    assert not np.any(np.where(lower, 0.0, tab.Y)) and not np.any(
        np.where(lower, 0.0, tab.B)
    )
    np.testing.assert_array_equal(E, tab.E)
    np.testing.assert_array_equal(C, tab.C)
    np.testing.assert_array_equal(P["eval"], tab.eval.ravel())
    np.testing.assert_array_equal(P["keep"], tab.keep)
    steps = np.diff(P["op_begin"][::S])
    assert P["max_terms_per_step"] == steps.max()


@needs_module
@pytest.mark.parametrize("cov", ["full", "diag", "spherical"])
@pytest.mark.parametrize("proc", [VP(), CLD()], ids=["VP", "CLD"])
def test_packed_component_data(cov, proc):
    """logc, means and inverse Cholesky factors per stage time, against NumPy."""
    if proc.m == 2 and cov != "full":
        pytest.skip("phase-space mixtures are full-covariance")
    target = _mixture(cov, d=2 if proc.m == 2 else 3)
    prep, _ = _prep(target, proc, "ei-sde")
    P = _CUDA.pack_table_f64(**_table_args(prep))
    ph = prep.phase
    K, D, m = P["K"], P["D"], prep.table.m
    d = D // m
    comp = P["comp"].reshape(P["NC"], P["comp_stride"])
    covs = ph.covariances
    for e in np.unique(prep.table.eval[prep.table.eval >= 0]):
        Phi, Nc = prep.Phi[e], prep.Ncov[e]
        A = np.kron(Phi, np.eye(d))
        logc, mean, U = comp[e, :K], comp[e, K : K + K * D], comp[e, K + K * D :]
        np.testing.assert_allclose(
            mean.reshape(K, D), ph.means @ A.T, rtol=1e-13, atol=1e-14
        )
        for k in range(K):
            if cov == "full":
                Ck = A @ covs[k] @ A.T + np.kron(Nc, np.eye(d))
                Uk = U.reshape(K, D, D)[k]
                np.testing.assert_allclose(
                    Uk, np.linalg.inv(np.linalg.cholesky(Ck)), rtol=1e-10, atol=1e-12
                )
                logdet = np.linalg.slogdet(Ck)[1] / 2
            elif cov == "diag":
                v = Phi[0, 0] ** 2 * covs[k] + Nc[0, 0]
                np.testing.assert_allclose(
                    U.reshape(K, D)[k], 1 / np.sqrt(v), rtol=1e-14
                )
                logdet = np.sum(np.log(v)) / 2
            else:
                v = Phi[0, 0] ** 2 * covs[k] + Nc[0, 0]
                np.testing.assert_allclose(U[k], 1 / np.sqrt(v), rtol=1e-14)
                logdet = D * np.log(v) / 2
            want = np.log(ph.weights[k]) - logdet - D / 2 * np.log(2 * np.pi)
            np.testing.assert_allclose(logc[k], want, rtol=1e-12)
    # float32 packing stores the same double-built values, rounded once
    P32 = _CUDA.pack_table_f32(**_table_args(prep))
    assert P32["comp"].dtype == np.float32
    np.testing.assert_array_equal(P32["comp"], P["comp"].astype(np.float32))


@needs_module
def test_packing_rejects_what_the_cpu_rejects():
    prep, _ = _prep(_mixture(), VP(), "heun")
    args = _table_args(prep)
    bad = prep.table.eval.copy()
    bad[0, 0] = 10_000  # out of range
    args["table"]["eval"] = bad
    with pytest.raises(ValueError, match="out of range"):
        _CUDA.pack_table_f64(**args)


# ------------------------------------------- host emulation of the GPU algorithm
# emulate_table_* runs the kernels' per-particle code (cpp/cuda/particle.hpp: stage
# slots, history ring, online log-sum-exp, noise lanes, error terms, chunked launches)
# on the CPU: without a GPU this is how the GPU algorithm is checked against the CPU
# executor.


def _full_args(target, proc, scheme, n, steps, error=None, init=None, seed=123, **opts):
    g = grid("uniform", steps, process=proc, delta=1e-2)
    prep = prepare(target, proc, scheme, g, error, opts)
    il = init_law(init, proc, target, float(prep.table.times[0]), n, seed)
    return run_arguments(prep, il, n, seed, 0, 1, 0)


def _cpu_vs_emulated(
    target, proc, scheme, n=200, steps=12, dtype="float64", steps_per_launch=0, **kw
):
    args = _full_args(target, proc, scheme, n, steps, **kw)
    core = sl._native.core()
    suffix = "f64" if dtype == "float64" else "f32"
    cpu = getattr(core, f"run_table_{suffix}")(**args)
    emu = getattr(_CUDA, f"emulate_table_{suffix}")(
        **args, steps_per_launch=steps_per_launch
    )
    assert emu[0].dtype == cpu[0].dtype and emu[0].shape == cpu[0].shape
    assert emu[1:] == cpu[1:]
    return cpu[0], emu[0]


EMU_SCHEMES = [
    "ei-sde",
    "ddpm",
    "heun",
    "dpm-solver++-2m",
    "pc",
    "unipc-2",
    "dpm-solver++-3m",
    "deis-3",
    "dpm-solver-3",
    "ei-ode",
    "ddim",
    "dpm-solver++-2m-sde",
    "euler-maruyama",
]


@needs_module
@pytest.mark.parametrize("scheme", EMU_SCHEMES)
@pytest.mark.parametrize("proc", [VP(), VE()], ids=["VP", "VE"])
def test_emulated_gpu_matches_cpu_schemes(scheme, proc):
    cpu, emu = _cpu_vs_emulated(_mixture("full"), proc, scheme)
    assert _rel(cpu, emu) <= 1e-12


@needs_module
@pytest.mark.parametrize("cov", ["full", "diag", "spherical"])
@pytest.mark.parametrize("d", [1, 2, 5, 16, 33])
def test_emulated_gpu_matches_cpu_covariances_and_stores(cov, d):
    """Every fixed store size, and the strided scratch (d > 32)."""
    cpu, emu = _cpu_vs_emulated(_mixture(cov, d=d, K=4), VP(), "dpm-solver++-2m", n=60)
    assert _rel(cpu, emu) <= 1e-12


# every score-error model the executors evaluate (d = 3), for the parity tests
ERROR_MODELS = [
    errors.Bias(np.array([0.3, -0.2, 0.1]), scale=errors.PowerScale(0.5, 1.0)),
    errors.Linear(0.2),
    errors.Linear(np.arange(9.0).reshape(3, 3) / 20),
    errors.FourierField(0.3, n_features=16, bandwidth=0.7, seed=3),
    errors.Misspecified(Gaussian(np.ones(3), 2.0 * np.eye(3))),
    errors.Sum(errors.Bias(np.ones(3), 0.1), errors.FourierField(0.2, n_features=8)),
]
ERROR_MODEL_IDS = ["bias", "lin-scalar", "lin", "fourier", "misspecified", "sum"]


@needs_module
@pytest.mark.parametrize(
    "err",
    ERROR_MODELS,
    ids=ERROR_MODEL_IDS,
)
def test_emulated_gpu_matches_cpu_error_models(err):
    cpu, emu = _cpu_vs_emulated(_mixture("full"), VP(), "heun", error=err)
    assert _rel(cpu, emu) <= 1e-12


@needs_module
@pytest.mark.parametrize("scheme", ["dpm-solver++-3m", "unipc-2", "deis-3", "heun"])
@pytest.mark.parametrize("spl", [1, 2, 5])
def test_emulated_gpu_chunked_launches(scheme, spl):
    """State and history ring carried across launches of a few steps each."""
    cpu, emu = _cpu_vs_emulated(_mixture("diag"), VP(), scheme, steps_per_launch=spl)
    assert _rel(cpu, emu) <= 1e-12


@needs_module
def test_emulated_gpu_phase_space():
    cpu, emu = _cpu_vs_emulated(_mixture("full", d=2), CLD(), "ei-sde")
    assert cpu.shape[1] == 4
    assert _rel(cpu, emu) <= 1e-12


@needs_module
@pytest.mark.parametrize("init", ["exact", "zero-data", "array"])
def test_emulated_gpu_initial_laws(init):
    if init == "array":
        init = np.random.default_rng(1).standard_normal((200, 3))
    cpu, emu = _cpu_vs_emulated(_mixture("full"), VP(), "ei-sde", init=init)
    assert _rel(cpu, emu) <= 1e-12


@needs_module
@pytest.mark.parametrize("scheme", ["ei-sde", "dpm-solver++-2m", "heun"])
def test_emulated_gpu_float32(scheme):
    target = _mixture("full")
    cpu32, emu32 = _cpu_vs_emulated(target, VP(), scheme, dtype="float32")
    assert _rel(cpu32.astype(np.float64), emu32.astype(np.float64)) <= 1e-4


@needs_module
def test_emulated_gpu_reports_nonfinite_like_the_cpu():
    x0 = np.zeros((10, 3))
    x0[:4] = 1e200  # |z|^2 overflows: these trajectories become NaN at step 0
    args = _full_args(_mixture(), VP(), "ei-sde", 10, 6, init=x0)
    cpu = sl._native.core().run_table_f64(**args)
    emu = _CUDA.emulate_table_f64(**args)
    assert cpu[1:] == emu[1:] == (0, 4)
    np.testing.assert_array_equal(np.isnan(cpu[0]), np.isnan(emu[0]))


# ---------------------------------------------------------------- GPU (cuda marker)

PARITY_SCHEMES = [
    "ei-sde",
    "ddpm",
    "heun",
    "dpm-solver++-2m",
    "pc",
    "unipc-2",
    "dpm-solver++-3m",
    "ei-ode",
]


def _both(target, proc, scheme, n=3000, steps=25, dtype="float64", **kw):
    g = grid("uniform", steps, process=proc, delta=1e-2)
    cpu = sample(target, proc, scheme, g, n, seed=123, dtype=dtype, **kw)
    gpu = sample(target, proc, scheme, g, n, seed=123, dtype=dtype, device="cuda", **kw)
    return cpu, gpu


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(a)))))


@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize("scheme", PARITY_SCHEMES)
def test_parity_float64_schemes(scheme):
    cpu, gpu = _both(_mixture("full"), VP(), scheme)
    assert gpu.dtype == np.float64 and gpu.shape == cpu.shape
    assert _rel(cpu, gpu) <= 1e-12


@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize("cov", ["full", "diag", "spherical"])
@pytest.mark.parametrize("scheme", ["ei-sde", "dpm-solver++-2m"])
def test_parity_float64_covariances(cov, scheme):
    cpu, gpu = _both(_mixture(cov, d=4, K=5), VE(), scheme)
    assert _rel(cpu, gpu) <= 1e-12


@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize(
    ("d", "K"), [(1, 4), (2, 4), (7, 4), (16, 4), (33, 2), (40, 8), (64, 8)]
)
def test_parity_float64_dimensions(d, K):
    """Every fixed store size and the strided scratch (d > 32); component data in
    shared memory below 48 KiB, above it (opt-in size, d=40 K=8) and in global
    memory when they do not fit (d=64 K=8: 266 KB)."""
    cpu, gpu = _both(_mixture("full", d=d, K=K), VP(), "heun", n=700, steps=10)
    assert _rel(cpu, gpu) <= 1e-12


@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize("scheme", ["dpm-solver++-3m", "unipc-2", "heun"])
@pytest.mark.parametrize("spl", [1, 3])
def test_parity_chunked_launches(scheme, spl):
    """State and history ring carried across kernel launches of a few steps."""
    args = _full_args(_mixture("diag"), VP(), scheme, 2000, 12)
    cpu = sl._native.core().run_table_f64(**args)
    gpu = _CUDA.run_table_f64(**args, steps_per_launch=spl)
    assert gpu[1:] == cpu[1:]
    assert _rel(cpu[0], gpu[0]) <= 1e-12


@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize(
    "err",
    ERROR_MODELS,
    ids=ERROR_MODEL_IDS,
)
def test_parity_float64_error_models(err):
    cpu, gpu = _both(_mixture("full"), VP(), "ei-sde", score_error=err)
    assert _rel(cpu, gpu) <= 1e-12


@pytest.mark.cuda
@needs_gpu
def test_parity_phase_space_cld():
    proc = CLD()
    cpu, gpu = _both(_mixture("full", d=2), proc, "ei-sde", return_state=True)
    assert gpu.shape == (3000, 4)
    assert _rel(cpu, gpu) <= 1e-12


@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize("init", ["exact", "zero-data", "array"])
def test_parity_initial_laws(init):
    proc, target = VP(), _mixture("full")
    if init == "array":
        init = np.random.default_rng(1).standard_normal((500, 3))
    cpu, gpu = _both(target, proc, "heun", n=500, init=init)
    assert _rel(cpu, gpu) <= 1e-12


@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize("scheme", ["ei-sde", "dpm-solver++-2m", "heun"])
def test_float32_agrees_at_float32_tolerance(scheme):
    target = _mixture("full")
    cpu32, gpu32 = _both(target, VP(), scheme, dtype="float32")
    cpu64, _ = _both(target, VP(), scheme)
    assert gpu32.dtype == np.float32
    assert _rel(cpu32.astype(np.float64), gpu32.astype(np.float64)) <= 1e-4
    assert _rel(cpu64, gpu32.astype(np.float64)) <= 1e-3


@pytest.mark.cuda
@needs_gpu
def test_gpu_is_deterministic_and_splits_exactly():
    proc, target = VP(), _mixture("diag", d=5)
    g = grid("uniform", 12, process=proc)
    whole = sample(target, proc, "dpm-solver++-2m", g, 1000, seed=7, device="cuda")
    again = sample(
        target, proc, "dpm-solver++-2m", g, 1000, seed=7, device="cuda", block=32
    )
    np.testing.assert_array_equal(whole, again)  # threads per block do not matter
    a = sample(target, proc, "dpm-solver++-2m", g, 400, seed=7, device="cuda")
    b = sample(
        target,
        proc,
        "dpm-solver++-2m",
        g,
        600,
        seed=7,
        device="cuda",
        particle_offset=400,
    )
    np.testing.assert_array_equal(np.vstack([a, b]), whole)


@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_return_device_array(dtype):
    proc, target = VP(), _mixture("full")
    g = grid("uniform", 10, process=proc)
    host = sample(target, proc, "ei-sde", g, 256, seed=5, dtype=dtype, device="cuda")
    dev = sample(
        target,
        proc,
        "ei-sde",
        g,
        256,
        seed=5,
        dtype=dtype,
        device="cuda",
        return_device_array=True,
    )
    assert dev.shape == (256, 3) and dev.dtype == np.dtype(dtype)
    cai = dev.__cuda_array_interface__
    assert cai["shape"] == (256, 3) and cai["version"] == 3
    assert cai["typestr"] == ("<f8" if dtype == "float64" else "<f4")
    assert cai["data"][0] == dev.ptr != 0
    np.testing.assert_array_equal(dev.get(), host)
    np.testing.assert_array_equal(np.asarray(dev), host)
    assert dev.__dlpack_device__() == (2, dev.device)
    cap = dev.__dlpack__()
    is_valid = ctypes.pythonapi.PyCapsule_IsValid
    is_valid.restype = ctypes.c_int
    is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]
    assert is_valid(cap, b"dltensor") == 1
    del cap  # unconsumed capsule frees its reference on deletion
    torch = pytest.importorskip("torch")
    t = torch.from_dlpack(dev)
    assert t.is_cuda and tuple(t.shape) == (256, 3)
    np.testing.assert_array_equal(t.cpu().numpy(), host)


@pytest.mark.cuda
@needs_gpu
def test_return_device_array_phase_space_slices_on_device():
    proc, target = CLD(), _mixture("full", d=2)
    g = grid("uniform", 8, process=proc)
    host = sample(target, proc, "ei-sde", g, 100, seed=5, device="cuda")
    dev = sample(
        target, proc, "ei-sde", g, 100, seed=5, device="cuda", return_device_array=True
    )
    assert dev.shape == (100, 2)
    np.testing.assert_array_equal(dev.get(), host)


@pytest.mark.cuda
@needs_gpu
def test_nonfinite_is_reported_like_the_cpu():
    proc = VP()
    g = grid("uniform", 5, process=proc)
    x0 = np.zeros((10, 3))
    x0[:4] = 1e200
    for device in ("cpu", "cuda"):
        with pytest.raises(FloatingPointError, match="4 of 10 trajectories"):
            sample(_mixture(), proc, "ei-sde", g, 10, init=x0, device=device)
