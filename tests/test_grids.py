"""Tests for scorelab.grids: schedules, exact endpoints, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorelab.grids import GRID_KINDS, grid, validate_grid
from scorelab.processes import OU, VE, VP, CosineVP, LinearSDE, Process, VEPower

PROCESSES = {
    "vp": VP,
    "ve": VE,
    "ou": OU,
    "cosine": CosineVP,
    "ve-power": VEPower,
}


def _check(t: np.ndarray, steps: int, T: float, delta: float) -> None:
    assert isinstance(t, np.ndarray) and t.dtype == np.float64
    assert t.shape == (steps + 1,)
    assert t[0] == T and t[-1] == delta
    assert np.all(np.diff(t) < 0)


@pytest.mark.parametrize("kind", GRID_KINDS)
@pytest.mark.parametrize("pname", list(PROCESSES))
@pytest.mark.parametrize("steps", [1, 2, 7, 100, 1000])
def test_shape_endpoints_monotone(kind: str, pname: str, steps: int) -> None:
    p = PROCESSES[pname]()
    if kind == "exponential" and steps < p.T - 1e-3:
        # steps are capped at 1, so fewer than T - delta steps cannot reach delta
        with pytest.raises(ValueError, match="steps"):
            grid(kind, steps, process=p)
        return
    t = grid(kind, steps, process=p)
    _check(t, steps, p.T, 1e-3)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(GRID_KINDS),
    steps=st.integers(min_value=1, max_value=500),
    T=st.floats(min_value=0.01, max_value=50.0),
    ratio=st.floats(min_value=1e-6, max_value=0.9),
)
def test_random_settings(kind: str, steps: int, T: float, ratio: float) -> None:
    delta = T * ratio
    p = OU(T=T)
    if kind == "exponential" and steps <= T - delta + 1e-9:
        with pytest.raises(ValueError, match="steps"):
            grid(kind, steps, T=T, delta=delta, process=p)
        return
    t = grid(kind, steps, T=T, delta=delta, process=p)
    _check(t, steps, T, delta)


def test_uniform_and_power_formulas() -> None:
    t = grid("uniform", 8, T=2.0, delta=0.4)
    np.testing.assert_allclose(t, np.linspace(2.0, 0.4, 9), rtol=1e-15)
    i = np.arange(11) / 10
    for rho in (None, 3.0):
        r = 2.0 if rho is None else rho
        t = grid("power", 10, T=1.5, delta=1e-3, rho=rho)
        ref = (1.5 ** (1 / r) + i * (1e-3 ** (1 / r) - 1.5 ** (1 / r))) ** r
        np.testing.assert_allclose(t, ref, rtol=1e-14)
    # default quadratic power grid is denser near delta
    t = grid("power", 10, T=1.0)
    assert -np.diff(t)[-1] < -np.diff(t)[0]


@pytest.mark.parametrize("make", [VP, VE, CosineVP, lambda: OU(T=5.0)])
def test_logsnr_constant_increments(make: type[Process]) -> None:
    p = make()
    t = grid("logsnr", 40, process=p, delta=1e-4)
    lam = p.log_snr(t)
    inc = np.diff(lam)
    np.testing.assert_allclose(inc, inc[0], rtol=1e-9)
    assert inc[0] == pytest.approx((p.log_snr(1e-4) - p.log_snr(p.T)) / 40, rel=1e-12)


def test_logsnr_with_general_process() -> None:
    vp = VP()
    lin = LinearSDE(vp.f, vp.g)
    np.testing.assert_allclose(
        grid("logsnr", 12, process=lin), grid("logsnr", 12, process=vp), rtol=1e-12
    )


@pytest.mark.parametrize("make", [VP, VE, VEPower, OU])
@pytest.mark.parametrize("rho", [None, 3.0])
def test_karras_matches_edm_formula(make: type[Process], rho: float | None) -> None:
    p = make()
    N, delta = 18, 2e-3
    t = grid("karras", N, process=p, delta=delta, rho=rho)
    r = 7.0 if rho is None else rho
    s_max = p.sigma(p.T) / p.alpha(p.T)
    s_min = p.sigma(delta) / p.alpha(delta)
    i = np.arange(N + 1) / N
    s_ref = (s_max ** (1 / r) + i * (s_min ** (1 / r) - s_max ** (1 / r))) ** r
    np.testing.assert_allclose(p.sigma(t) / p.alpha(t), s_ref, rtol=1e-10)


def test_karras_ve_power_is_edm_in_noise_level() -> None:
    # VE with sigma_vp = (b + a t)^7: the EDM grid in sigma is close to uniform in
    # t where sigma >> sigma_min
    p = VEPower()
    t = grid("karras", 30, process=p, delta=0.05)
    h = -np.diff(t)
    assert np.ptp(h[:20]) / np.mean(h[:20]) < 0.01


def test_exponential_geometric_when_T_le_1() -> None:
    for T in (1.0, 0.5):
        t = grid("exponential", 16, T=T, delta=1e-4)
        ref = T * (1e-4 / T) ** (np.arange(17) / 16)
        np.testing.assert_allclose(t, ref, rtol=1e-13)
        ratios = t[1:] / t[:-1]
        np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)


@pytest.mark.parametrize(("T", "steps"), [(10.0, 50), (10.0, 12), (3.5, 200), (2.0, 3)])
def test_exponential_rule(T: float, steps: int) -> None:
    delta = 1e-3
    t = grid("exponential", steps, T=T, delta=delta)
    _check(t, steps, T, delta)
    h = -np.diff(t)
    kappa = h[0] / min(1.0, t[0])
    # every step but the snapped last one follows h_k = kappa * min(1, t_k)
    np.testing.assert_allclose(h[:-1], kappa * np.minimum(1.0, t[:-2]), rtol=1e-9)
    assert 0.0 < kappa < 1.0
    # the snap only fixes rounding: the unsnapped last step lands on delta
    assert t[-2] - kappa * min(1.0, t[-2]) == pytest.approx(delta, rel=1e-8)
    if steps > T:
        assert np.any(t < 1.0) and np.any(t[:-1] >= 1.0)


def test_exponential_too_few_steps() -> None:
    with pytest.raises(ValueError, match="steps"):
        grid("exponential", 5, T=10.0)


def test_T_defaults_and_bounds() -> None:
    assert grid("uniform", 4, process=OU())[0] == 10.0
    with pytest.raises(ValueError, match="T"):
        grid("uniform", 4)
    with pytest.raises(ValueError, match="T"):
        grid("uniform", 4, T=1.0, process=CosineVP())
    with pytest.raises(ValueError, match="delta"):
        grid("uniform", 4, T=1.0, delta=1.0)
    with pytest.raises(ValueError, match="delta"):
        grid("logsnr", 4, process=VP(), delta=0.0)
    with pytest.raises(ValueError, match="T"):
        grid("uniform", 4, T=math.nan)
    with pytest.raises(ValueError, match="rho"):
        grid("power", 4, T=1.0, rho=-2.0)
    with pytest.raises(ValueError, match="rho"):
        grid("uniform", 4, T=1.0, rho=2.0)


@pytest.mark.parametrize("kind", ["logsnr", "karras"])
def test_kinds_needing_a_process(kind: str) -> None:
    with pytest.raises(ValueError, match="process"):
        grid(kind, 10, T=1.0)


def test_unknown_kind_lists_kinds() -> None:
    with pytest.raises(ValueError) as info:
        grid("nope", 10, T=1.0)
    for k in GRID_KINDS:
        assert repr(k) in str(info.value)


def test_steps_validation() -> None:
    with pytest.raises(ValueError, match="steps"):
        grid("uniform", 0, T=1.0)
    with pytest.raises(ValueError, match="steps"):
        grid("uniform", -3, T=1.0)
    with pytest.raises(TypeError, match="steps"):
        grid("uniform", 1.5, T=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="steps"):
        grid("uniform", True, T=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps"):
        grid("uniform", T=1.0)
    assert grid("uniform", np.int64(3), T=1.0).shape == (4,)


def test_user_arrays() -> None:
    user = [1.0, 0.5, 0.25, 1e-3]
    t = grid(user)
    np.testing.assert_array_equal(t, user)
    assert t.dtype == np.float64
    arr = np.array([3, 2, 1])
    out = grid(arr, process=OU())
    assert out.dtype == np.float64 and out is not arr
    out[0] = 99.0
    assert arr[0] == 3
    np.testing.assert_array_equal(validate_grid(user), user)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([1.0, 0.5, 0.5, 0.1], "decreasing"),
        ([0.1, 0.5, 1.0], "decreasing"),
        ([1.0, math.nan, 0.1], "finite"),
        ([1.0, 0.5, math.inf], "finite"),
        ([1.0, 0.5, -0.1], "decreasing|positive"),
        ([1.0, 0.5, 0.0], "positive"),
        ([[1.0, 0.5], [0.4, 0.1]], "1-D"),
        ([1.0], "at least 2"),
        ([], "at least 2"),
    ],
)
def test_user_arrays_rejected(bad: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        grid(bad)
    with pytest.raises(ValueError, match=match):
        validate_grid(bad)


def test_user_arrays_against_process() -> None:
    p = CosineVP()
    with pytest.raises(ValueError, match="t_max"):
        grid([1.0, 0.5], process=p)
    grid([0.999, 0.5], process=p)
    with pytest.raises(ValueError, match="steps"):
        grid([1.0, 0.5], 3)
    with pytest.raises(ValueError, match="T"):
        grid([1.0, 0.5], T=1.0)
    with pytest.raises(TypeError, match="t"):
        validate_grid(np.array(["1.0", "0.5"]))


# ---------------------------------------------------------------------------
# grids ending at t = 0 and grids by evaluation budget
# ---------------------------------------------------------------------------
def test_grids_ending_at_zero() -> None:
    for kind in ("uniform", "power"):
        t = grid(kind, 5, T=1.0, delta=0.0)
        _check(t, 5, 1.0, 0.0)
    np.testing.assert_array_equal(grid("power", 2, T=4.0, delta=0.0), [4.0, 1.0, 0.0])
    for kind in ("logsnr", "karras", "exponential"):
        with pytest.raises(ValueError, match="delta"):
            grid(kind, 5, process=VP(), delta=0.0)
    # explicit arrays: validate_grid (and grid(array)) accept t_N = 0 only on
    # request; compile_scheme (sample, exact_law) requests it
    with pytest.raises(ValueError, match="positive"):
        validate_grid([1.0, 0.5, 0.0])
    assert validate_grid([1.0, 0.0], allow_zero=True)[-1] == 0.0
    with pytest.raises(ValueError, match="decreasing|positive"):
        validate_grid([1.0, 0.5, -0.1], allow_zero=True)


def test_grid_by_nfe() -> None:
    from scorelab.schemes import scheme_nfe

    p = VP()
    cases = {
        ("ddim", 20): 20,
        ("heun", 21): 10,
        ("rk4", 20): 5,
        ("rk4", 23): 5,
        ("dpm-solver-3", 10): 3,
        ("dpm-solver++-3m", 20): 19,  # one warm-up evaluation
        ("deis-3", 2): 1,
        ("unipc-2", 7): 7,
    }
    for (scheme, nfe), steps in cases.items():
        t = grid("logsnr", nfe=nfe, scheme=scheme, process=p)
        assert t.shape == (steps + 1,), scheme
        assert scheme_nfe(scheme, steps, p) <= nfe < scheme_nfe(scheme, steps + 1, p)
    opts = {"predictor": "heun", "corrector_steps": 2}
    t = grid("uniform", nfe=41, scheme="pc", scheme_options=opts, process=p)
    assert t.shape == (11,) and scheme_nfe("pc", 10, p, **opts) == 40
    # the budget is independent of the grid kind and of the process
    assert grid("uniform", nfe=8, scheme="heun", T=1.0).shape == (5,)
    with pytest.raises(ValueError, match="too small"):
        grid("uniform", nfe=3, scheme="rk4", process=p)
    with pytest.raises(ValueError, match="either steps or nfe"):
        grid("uniform", 4, nfe=8, scheme="heun", process=p)
    with pytest.raises(ValueError, match="together"):
        grid("uniform", nfe=8, process=p)
    with pytest.raises(ValueError, match="together"):
        grid("uniform", scheme="heun", process=p)
    with pytest.raises(ValueError, match="known schemes"):
        grid("uniform", nfe=8, scheme="nope", process=p)
    with pytest.raises(ValueError, match="nfe"):
        grid("uniform", nfe=0, scheme="heun", process=p)
    with pytest.raises(ValueError, match="nfe"):
        grid([1.0, 0.5], nfe=4, scheme="heun")
