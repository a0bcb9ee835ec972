"""Named schedule families of :func:`scorelab.grid`: quadratic, ays, cosine."""

import math

import numpy as np
import pytest

import scorelab as sl
from scorelab.processes import VE, VP

FAMILIES = ("quadratic", "ays", "cosine")


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
