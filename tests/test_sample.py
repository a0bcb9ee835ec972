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
