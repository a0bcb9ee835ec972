"""sample(): the native executor against exact laws, NumPy references and itself."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import scorelab as sl
from scorelab import _native
from scorelab.exact import exact_law
from scorelab.grids import grid
from scorelab.processes import OU, VE, VP
from scorelab.sample import sample, seed_key
from scorelab.targets import Gaussian, GaussianMixture


@pytest.fixture(scope="module")
def gauss():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    return Gaussian(rng.normal(size=3), Q @ np.diag([0.2, 1.0, 3.0]) @ Q.T)


def test_philox_known_answer():
    core = _native.core()
    assert core.philox4x32_10(0, 0, 0, 0, 0, 0) == (
        0x6627E8D5,
        0xE169C58D,
        0xBC57AC4C,
        0x9B00DBD8,
    )
    assert core.philox4x32_10(
        0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF
    ) == (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)


def test_philox_normals_are_standard():
    z = _native.core().philox_normals(seed_key(5), 0, 100000, 3, 2)
    assert abs(z.mean()) < 4 / np.sqrt(z.size)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / z.size)
    assert abs(np.corrcoef(z.T)[0, 1]) < 4 / np.sqrt(z.shape[0])


def _numpy_box_muller(seed, particles, lane, pair, dtype):
    """Oracle: the raw Philox words through Box-Muller in NumPy's libm (float64)."""
    core = _native.core()
    words = np.array(
        [
            core.philox4x32_10(
                pair, lane, p & 0xFFFFFFFF, p >> 32, seed & 0xFFFFFFFF, seed >> 32
            )
            for p in particles
        ],
        dtype=np.uint64,
    )
    x1 = ((words[:, 0] << np.uint64(21)) ^ (words[:, 1] >> np.uint64(11))) & np.uint64(
        (1 << 53) - 1
    )
    x2 = ((words[:, 2] << np.uint64(21)) ^ (words[:, 3] >> np.uint64(11))) & np.uint64(
        (1 << 53) - 1
    )
    u1 = (x1.astype(np.float64) + 1.0) / 2.0**53
    u2 = x2.astype(np.float64) / 2.0**53
    if dtype == "float32":  # the float32 noise rounds the same uniforms to float
        u1 = u1.astype(np.float32).astype(np.float64)
        u2 = u2.astype(np.float32).astype(np.float64)
    rad = np.sqrt(-2.0 * np.log(u1))
    return np.stack([rad * np.cos(2 * np.pi * u2), rad * np.sin(2 * np.pi * u2)], 1)


@pytest.mark.parametrize(
    "dtype, tol", [("float64", 4e-15), ("float32", 5e-7)], ids=["f64", "f32"]
)
def test_normals_equal_box_muller_oracle(dtype, tol):
    """The branch-free log/sin/cos of the noise against NumPy's libm, particle by
    particle (tails included: the 20000 draws reach |z| > 4), for both precisions."""
    core = _native.core()
    seed, lane, n = seed_key(17), 5, 20000
    p0 = 2**32 - 7000  # particles on both sides of the 32-bit word boundary
    ref = _numpy_box_muller(seed, range(p0, p0 + n), lane, 1, dtype)
    z = core.philox_normals(seed, p0, n, lane, 4, dtype)[:, 2:4]  # pair 1
    assert z.dtype == np.dtype(dtype)
    err = np.abs(z.astype(np.float64) - ref) / (1 + np.abs(ref))
    assert err.max() < tol, err.max()
    assert np.abs(ref).max() > 4


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("D", [1, 2, 5])
def test_vectorised_normals_equal_scalar_normals(dtype, D):
    """The executors' blocked SIMD generator gives the scalar definition's bits
    (chunk and vector remainders: n = 1001; the 32-bit particle-word boundary)."""
    core = _native.core()
    seed = seed_key(3)
    for p0 in (0, 2**32 - 517):
        a = core.philox_normals(seed, p0, 1001, 9, D, dtype, False)
        b = core.philox_normals(seed, p0, 1001, 9, D, dtype, True)
        assert a.dtype == b.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="dtype"):
        core.philox_normals(seed, 0, 4, 0, 2, "float16")


def test_float32_noise_is_float64_noise_rounded():
    """float32 runs draw from the same uniforms: the two precisions' noise agree to
    single-precision accuracy, and float32 sample paths follow float64 ones."""
    core = _native.core()
    a = core.philox_normals(seed_key(2), 0, 50000, 4, 2, "float64")
    b = core.philox_normals(seed_key(2), 0, 50000, 4, 2, "float32")
    assert np.max(np.abs(b - a) / (1 + np.abs(a))) < 4e-6
    assert not np.array_equal(b, a.astype(np.float32))  # its own transform
    mix = GaussianMixture(
        [0.5, 0.5], [[-1.0, 0.5], [1.0, -0.5]], [0.3, 0.6], "spherical"
    )
    proc = VP()
    g = grid("uniform", 25, process=proc)
    x64 = sample(mix, proc, "ei-sde", g, 4000, seed=6)
    x32 = sample(mix, proc, "ei-sde", g, 4000, seed=6, dtype="float32")
    assert x32.dtype == np.float32
    np.testing.assert_allclose(x32, x64, rtol=0, atol=2e-4)


@pytest.mark.parametrize("scheme", ["ei-sde", "euler-maruyama", "ei-ode", "ddim"])
@pytest.mark.parametrize("proc", [VP(), VE(), OU(T=5.0)], ids=["VP", "VE", "OU"])
def test_monte_carlo_moments_match_exact_law(gauss, scheme, proc):
    g = grid("uniform", 20, process=proc, delta=1e-2)
    law = exact_law(gauss, proc, scheme, g)
    n = 40000
    x = sample(gauss, proc, scheme, g, n, seed=11)
    se_mean = np.sqrt(np.diag(law.cov) / n)
    assert np.all(np.abs(x.mean(0) - law.mean) < 4 * se_mean)
    # variance of the sample variance of a Gaussian: 2 s^4 / (n - 1)
    v = np.diag(law.cov)
    assert np.all(np.abs(x.var(0, ddof=1) - v) < 4 * np.sqrt(2 / (n - 1)) * v)
    C = np.cov(x.T)
    off = law.cov[0, 1]
    se_off = np.sqrt((law.cov[0, 0] * law.cov[1, 1] + off**2) / n)
    assert abs(C[0, 1] - off) < 4 * se_off


def _numpy_ei_sde(mix, proc, g, x0, seed):
    """Reference: the EI-SDE on a mixture in NumPy with the same Philox noise."""
    core = _native.core()
    r, c, nvar = proc.ei_coefficients(g[:-1], g[1:])
    x = x0.copy()
    key = seed_key(seed)
    for k in range(len(g) - 1):
        s = mix.noised(proc, g[k]).score(x)
        xi = core.philox_normals(key, 0, x.shape[0], k, x.shape[1])
        x = r[k] * x + c[k] * s + np.sqrt(nvar[k]) * xi
    return x


def test_executor_equals_numpy_reference():
    mix = GaussianMixture(
        [0.2, 0.5, 0.3],
        [[-2.0, 0.0], [1.0, 1.0], [2.0, -1.0]],
        [
            [[0.5, 0.1], [0.1, 0.3]],
            [[0.2, 0.0], [0.0, 0.4]],
            [[1.0, -0.3], [-0.3, 0.5]],
        ],
    )
    proc = VP()
    g = grid("uniform", 15, process=proc)
    x0 = np.random.default_rng(1).normal(size=(257, 2))
    ref = _numpy_ei_sde(mix, proc, g, x0, seed=4)
    out = sample(mix, proc, "ei-sde", g, 257, seed=4, init=x0, threads=2)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10)


def test_bitwise_reproducible_across_threads_and_blocks():
    mix = GaussianMixture(
        [0.5, 0.5], [[-1.0, 0, 0], [1.0, 0, 0]], [0.3, 0.6], "spherical"
    )
    proc = VP()
    g = grid("uniform", 10, process=proc)
    a = sample(mix, proc, "ei-sde", g, 1001, seed=9, threads=1)
    b = sample(mix, proc, "ei-sde", g, 1001, seed=9, threads=2, block=8)
    c = sample(mix, proc, "ei-sde", g, 1001, seed=9, threads=2, block=64)
    assert np.array_equal(a, b) and np.array_equal(a, c)
    # a run split in two batches equals the unsplit run
    first = sample(mix, proc, "ei-sde", g, 500, seed=9, threads=2)
    second = sample(mix, proc, "ei-sde", g, 501, seed=9, particle_offset=500)
    assert np.array_equal(np.vstack([first, second]), a)
    assert not np.array_equal(a, sample(mix, proc, "ei-sde", g, 1001, seed=10))


def test_float32_close_to_float64(gauss):
    proc = VP()
    g = grid("uniform", 30, process=proc)
    a = sample(gauss, proc, "ei-sde", g, 2000, seed=1, dtype="float64")
    b = sample(gauss, proc, "ei-sde", g, 2000, seed=1, dtype="float32")
    assert b.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_init_zero_data_and_exact(gauss):
    proc = OU(T=2.0)  # sigma(T)^2 = 1 - e^{-4}: visibly not the N(0, I) prior
    g = grid("uniform", 40, process=proc)
    law0 = exact_law(gauss, proc, "ei-ode", g, init="zero-data")
    lawp = exact_law(gauss, proc, "ei-ode", g)
    assert not np.allclose(law0.cov, lawp.cov)
    lawx = exact_law(gauss, proc, "ei-ode", g, init="exact")
    ref = gauss.noised(proc, g[-1])
    assert sl.w2_gaussian(lawx.mean, lawx.cov, ref.mean, ref.cov) < sl.w2_gaussian(
        law0.mean, law0.cov, ref.mean, ref.cov
    )


def test_nonfinite_raises_with_step():
    g1 = Gaussian([0.0], [[1.0]])
    proc = VP()
    times = grid("uniform", 5, process=proc)
    # absurd init: 1e308 overflows in the first step's arithmetic
    x0 = np.full((4, 1), 1e308)
    with pytest.raises(FloatingPointError, match="step 0"):
        sample(g1, proc, "euler-maruyama", times, 4, init=x0)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        sample(g1, proc, "euler-maruyama", times, 4, init=x0, on_nonfinite="warn")


def test_keyboard_interrupt_is_prompt():
    """Ctrl-C (SIGINT) stops a long sampling call within about a second."""
    import _thread

    mix = GaussianMixture(
        np.full(8, 1 / 8),
        np.random.default_rng(0).normal(size=(8, 16)),
        np.ones(8),
        "spherical",
    )
    proc = VP()
    g = grid("uniform", 2000, process=proc)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        sample(mix, proc, "ei-sde", g, 200000, seed=0, threads=2)
    assert time.perf_counter() - t0 < 2.5


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(n=0), ValueError, "n"),
        (dict(n=2.5), TypeError, "n"),
        (dict(scheme="nope"), ValueError, "known schemes"),
        (dict(threads=0), ValueError, "threads"),
        (dict(dtype="float16"), ValueError, "dtype"),
        (dict(init="prior"), ValueError, "init"),
        (dict(init=np.zeros((3, 5))), ValueError, "init"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(grid=[1.0, 0.5, 0.7]), ValueError, "decreasing"),
        (dict(target="gauss"), TypeError, "target"),
        (dict(process="VP"), TypeError, "process"),
    ],
)
def test_bad_arguments(gauss, kwargs, exc, match):
    proc = VP()
    args = dict(
        target=gauss,
        process=proc,
        scheme="ei-sde",
        grid=grid("uniform", 5, process=proc),
        n=10,
    )
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        sample(**args)


@pytest.mark.parametrize("d", [2, 5, 16])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_full_covariance_kernels_bitwise_reproducible(d, dtype):
    """The unrolled (d <= 8) and register-blocked (d > 8) full-covariance kernels and
    the vectorised noise give the same bits whatever the block size and threads."""
    rng = np.random.default_rng(d)
    A = rng.normal(size=(3, d, d)) / np.sqrt(d)
    covs = 0.2 * A @ np.swapaxes(A, 1, 2) + 0.1 * np.eye(d)
    mix = GaussianMixture([0.2, 0.3, 0.5], 2 * rng.normal(size=(3, d)), covs)
    proc = VP()
    g = grid("uniform", 6, process=proc)
    a = sample(mix, proc, "ei-sde", g, 203, seed=3, threads=1, dtype=dtype)
    b = sample(mix, proc, "ei-sde", g, 203, seed=3, threads=2, block=5, dtype=dtype)
    c = sample(mix, proc, "ei-sde", g, 203, seed=3, threads=2, block=64, dtype=dtype)
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_avx2_and_sse2_kernels_give_the_same_bits(tmp_path):
    """On CPUs with AVX2 the executor dispatches to kernels compiled for AVX2; with
    SCORELAB_NO_AVX2 set it uses the baseline (SSE2) ones. Both give the same bits."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np, scorelab as sl, sys\n"
        "rng = np.random.default_rng(0)\n"
        "out = []\n"
        "for d in (2, 5, 13):\n"
        "    A = rng.normal(size=(3, d, d)) / np.sqrt(d)\n"
        "    C = 0.2 * A @ np.swapaxes(A, 1, 2) + 0.1 * np.eye(d)\n"
        "    m = sl.GaussianMixture([0.2, 0.3, 0.5], rng.normal(size=(3, d)), C)\n"
        "    p = sl.VP(); g = sl.grid('uniform', 5, process=p)\n"
        "    for dt in ('float64', 'float32'):\n"
        "        out.append(sl.sample(m, p, 'ei-sde', g, 77, seed=2, threads=2,"
        " dtype=dt).astype(np.float64).ravel())\n"
        "np.save(sys.argv[1], np.concatenate(out))\n"
    )
    env_off = {**os.environ, "SCORELAB_NO_AVX2": "1"}
    env_on = {k: v for k, v in os.environ.items() if k != "SCORELAB_NO_AVX2"}
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    subprocess.run([sys.executable, "-c", code, str(a)], env=env_on, check=True)
    subprocess.run([sys.executable, "-c", code, str(b)], env=env_off, check=True)
    assert np.array_equal(np.load(a), np.load(b))
