"""Named schedule families of :func:`scorelab.grid`: quadratic, ays, cosine, beta_a."""

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

import scorelab as sl
from scorelab.processes import OU, VE, VP

FAMILIES = ("quadratic", "ays", "cosine", "beta_a")


@pytest.mark.parametrize("kind", FAMILIES)
@pytest.mark.parametrize("proc", [VP(), VE()], ids=["VP", "VE"])
@pytest.mark.parametrize("steps", [1, 2, 7, 50])
def test_endpoints_and_monotone(kind, proc, steps):
    t = sl.grid(kind, steps, process=proc, delta=1e-3)
    assert t.shape == (steps + 1,)
    assert t[0] == proc.T and t[-1] == 1e-3
    assert np.all(np.diff(t) < 0)


def test_families_are_listed():
    for kind in FAMILIES:
        assert kind in sl.GRID_KINDS
    # existing kinds kept, in their order
    assert sl.GRID_KINDS[:5] == ("uniform", "logsnr", "karras", "power", "exponential")


def test_quadratic_closed_form():
    # t_i = delta + (T - delta) (1 - i/N)^2, by hand at N = 4, T = 1, delta = 0.1
    t = sl.grid("quadratic", 4, T=1.0, delta=0.1)
    expect = [1.0, 0.1 + 0.9 * 0.5625, 0.1 + 0.9 * 0.25, 0.1 + 0.9 * 0.0625, 0.1]
    np.testing.assert_allclose(t, expect, rtol=1e-15)
    # delta = 0: the DDIM grid tau_i = T (1 - i/N)^2
    np.testing.assert_allclose(
        sl.grid("quadratic", 5, T=2.0, delta=0.0), 2.0 * (1 - np.arange(6) / 5) ** 2
    )


@pytest.mark.parametrize("c", [0.1, 1.0, 3.0])
@pytest.mark.parametrize("proc", [VP(), VE()], ids=["VP", "VE"])
def test_ays_matches_formula(c, proc):
    N, delta = 10, 1e-3
    t = sl.grid("ays", N, process=proc, delta=delta, c=c)
    s = np.exp(-np.asarray(proc.log_snr(t), dtype=float))  # noise level sigma/alpha
    s_max, s_min = s[0], s[-1]
    f = np.arange(N + 1) / N
    expect = c * np.tan((1 - f) * np.arctan(s_max / c) + f * np.arctan(s_min / c))
    np.testing.assert_allclose(s, expect, rtol=1e-10)
    # the angle arctan(s/c) is equally spaced
    d = np.diff(np.arctan(s / c))
    np.testing.assert_allclose(d, d[0], rtol=1e-9)


@pytest.mark.parametrize("offset", [0.0, 0.008, 0.3])
def test_cosine_is_the_cosine_log_snr(offset):
    # lambda(u) = -log tan(pi/2 (u + s)/(1 + s)) at uniform u between the endpoints
    proc, N, delta = VP(), 8, 1e-3
    t = sl.grid("cosine", N, process=proc, delta=delta)
    lam = np.asarray(proc.log_snr(t), dtype=float)

    def u_of(lam_val):
        return math.atan(math.exp(-lam_val)) * 2 / math.pi * (1 + offset) - offset

    u = np.linspace(u_of(lam[0]), u_of(lam[-1]), N + 1)
    expect = -np.log(np.tan(np.pi / 2 * (u + offset) / (1 + offset)))
    np.testing.assert_allclose(lam, expect, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t, sl.grid("ays", N, process=proc, delta=delta, c=1.0))


def test_extreme_delta_stays_monotone():
    for kind in ("ays", "cosine"):
        t = sl.grid(kind, 30, process=VP(), delta=1e-300)
        assert np.all(np.diff(t) < 0) and t[-1] == 1e-300


def test_bad_options():
    with pytest.raises(ValueError, match="c only applies"):
        sl.grid("cosine", 5, process=VP(), c=2.0)
    with pytest.raises(ValueError, match="c"):
        sl.grid("ays", 5, process=VP(), c=0.0)
    with pytest.raises(ValueError, match="needs a process"):
        sl.grid("ays", 5, T=1.0)
    with pytest.raises(ValueError, match="rho only applies"):
        sl.grid("quadratic", 5, T=1.0, rho=2.0)
    with pytest.raises(ValueError, match="must be None"):
        sl.grid([1.0, 0.5], c=1.0)


# --- beta_a (Strasman et al. 2025): beta_a(u) = 0.1 + 19.9 (e^{au} - 1)/(e^a - 1) ---


def _beta_a(u, a):
    if a == 0.0:
        return 0.1 + 19.9 * u
    return 0.1 + 19.9 * math.expm1(a * u) / math.expm1(a)


def _B_a(u, a):
    # by quadrature of the rate itself, not the closed form of scorelab.grids
    return quad(_beta_a, 0.0, u, args=(a,), epsabs=0.0, epsrel=1e-13, limit=200)[0]


def _u_of_B(B, a):
    hi = 1.0
    while _B_a(hi, a) < B:
        hi *= 2.0
    return brentq(lambda u: _B_a(u, a) - B, 0.0, hi, xtol=1e-300, rtol=1e-14)


@pytest.mark.parametrize("a", [-10.0, -1.0, -0.05, 0.15, 1.0, 10.0])
def test_beta_a_oracle_vp(a):
    # VP(): B(t) = 0.1 t + 9.95 t^2; the grid is uniform in the family's time u
    # between the u's of equal cumulative rate, mapped back by B(t) = B_a(u)
    N, delta = 12, 1e-3
    t = sl.grid("beta_a", N, process=VP(), delta=delta, a=a)

    def B_vp(s):
        return 0.1 * s + 9.95 * s * s

    u = np.linspace(_u_of_B(B_vp(1.0), a), _u_of_B(B_vp(delta), a), N + 1)
    B = np.array([_B_a(x, a) for x in u])
    expect = (-0.1 + np.sqrt(0.01 + 4 * 9.95 * B)) / (2 * 9.95)
    np.testing.assert_allclose(t, expect, rtol=1e-9)
    assert t[0] == 1.0 and t[-1] == delta
    assert np.all(np.diff(t) < 0)


@pytest.mark.parametrize("a", [-3.0, 2.0])
@pytest.mark.parametrize("proc", [VE(), OU(T=5.0)], ids=["VE", "OU"])
def test_beta_a_equal_steps_in_u(a, proc):
    # any process: the matched noise levels B = log(1 + e^{-2 lambda(t_i)}) sit at
    # equally spaced times u of the family
    t = sl.grid("beta_a", 9, process=proc, delta=1e-2, a=a)
    lam = np.asarray(proc.log_snr(t), dtype=float)
    u = np.array([_u_of_B(float(np.logaddexp(0.0, -2 * x)), a) for x in lam])
    d = np.diff(u)
    np.testing.assert_allclose(d, d[0], rtol=1e-8)
    assert d[0] < 0


def test_beta_a_zero_is_uniform_under_vp():
    # a = 0 is the linear schedule 0.1 -> 20 of VP(): the family's time is t itself
    for N in (1, 5, 40):
        u = sl.grid("uniform", N, process=VP())
        np.testing.assert_allclose(sl.grid("beta_a", N, process=VP()), u, rtol=1e-12)
        np.testing.assert_allclose(
            sl.grid("beta_a", N, process=VP(), a=0.0), u, rtol=1e-12
        )
        # and the family is continuous at a = 0
        np.testing.assert_allclose(
            sl.grid("beta_a", N, process=VP(), a=1e-7), u, rtol=1e-6
        )
    # not the uniform grid for another a
    assert not np.allclose(sl.grid("beta_a", 5, process=VP(), a=2.0), u[::8])


@pytest.mark.parametrize("a", [-100.0, -10.0, 10.0, 100.0])
@pytest.mark.parametrize(
    "proc", [VP(), VE(), OU(T=50.0)], ids=["VP", "VE", "OU50"]
)
def test_beta_a_extremes_monotone(a, proc):
    for steps, delta in ((1000, 1e-3), (30, 1e-300)):
        t = sl.grid("beta_a", steps, process=proc, delta=delta, a=a)
        assert t[0] == proc.T and t[-1] == delta
        assert np.all(np.diff(t) < 0)


def test_beta_a_bad_a():
    for bad in (float("nan"), float("inf"), -float("inf"), 100.5, -1e3):
        with pytest.raises(ValueError, match="a must be"):
            sl.grid("beta_a", 5, process=VP(), a=bad)
    for bad in ("x", True, None.__class__):
        with pytest.raises(TypeError, match="a must be"):
            sl.grid("beta_a", 5, process=VP(), a=bad)
    with pytest.raises(ValueError, match="a only applies"):
        sl.grid("ays", 5, process=VP(), a=1.0)
    with pytest.raises(ValueError, match="needs a process"):
        sl.grid("beta_a", 5, T=1.0, a=1.0)
    with pytest.raises(ValueError, match="must be None"):
        sl.grid([1.0, 0.5], a=1.0)
