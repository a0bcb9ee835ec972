"""Tests for scorelab.processes: marginals, EI coefficients, inverses, validation.

References are computed independently: f and g^2 are re-implemented from the
paper-2 table (not taken from the classes) and the defining integrals are
evaluated with scipy.integrate.quad.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from scorelab.processes import (
    OU,
    VE,
    VP,
    CosineVP,
    LinearSDE,
    Process,
    SubVP,
    VELinear,
    VEPower,
    VEQuadratic,
    VPConstant,
    VPExponential,
    VPPolynomial,
)

Fn = Callable[[float], float]

# ---------------------------------------------------------------------------
# independent reference coefficients (f, g^2) written from the formulas
# ---------------------------------------------------------------------------


def _lin_beta(bmin: float, bmax: float) -> Fn:
    return lambda t: bmin + (bmax - bmin) * t


def _vp_ref(beta: Fn) -> tuple[Fn, Fn]:
    return (lambda t: 0.5 * beta(t)), beta


def _poly_beta(bmin: float, bmax: float, rho: float) -> Fn:
    b = bmin ** (1 / rho)
    a = bmax ** (1 / rho) - b
    return lambda t: (b + a * t) ** rho


def _cosine_ref(s: float) -> tuple[Fn, Fn]:
    def f(t: float) -> float:
        return math.pi / (2 * (1 + s)) * math.tan((t + s) / (1 + s) * math.pi / 2)

    return f, (lambda t: 2 * f(t))


def _subvp_ref(bmin: float, bmax: float) -> tuple[Fn, Fn]:
    def B(t: float) -> float:
        return bmin * t + 0.5 * (bmax - bmin) * t * t

    beta = _lin_beta(bmin, bmax)
    return (lambda t: 0.5 * beta(t)), (lambda t: beta(t) * (1 - math.exp(-2 * B(t))))


def _zero(t: float) -> float:
    return 0.0


def _ve_geo_ref(smin: float, smax: float) -> tuple[Fn, Fn]:
    k = math.log(smax / smin)
    return _zero, (lambda t: 2 * k * (smin * (smax / smin) ** t) ** 2)


def _ve_power_ref(smin: float, smax: float, rho: float) -> tuple[Fn, Fn]:
    b = smin ** (1 / rho)
    a = smax ** (1 / rho) - b
    return _zero, (lambda t: 2 * rho * a * (b + a * t) ** (2 * rho - 1))


def _math_ou_f(t: float) -> float:
    # deliberately not vectorised (math.* rejects arrays)
    return 0.7 + 0.0 * math.sin(t)


def _math_ou_g(t: float) -> float:
    return math.sqrt(1.5) + 0.0 * math.cos(t)


CASES: dict[str, tuple[Callable[[], Process], tuple[Fn, Fn]]] = {
    "ou": (OU, (lambda t: 1.0, lambda t: 2.0)),
    "ou-2-3": (lambda: OU(2.0, 3.0, T=3.0), (lambda t: 2.0, lambda t: 9.0)),
    "vp": (VP, _vp_ref(_lin_beta(0.1, 20.0))),
    "vp-constant": (VPConstant, _vp_ref(lambda t: 5.05)),
    "vp-poly2": (VPPolynomial, _vp_ref(_poly_beta(0.1, 20.0, 2.0))),
    "vp-poly5": (lambda: VPPolynomial(rho=5.0), _vp_ref(_poly_beta(0.1, 20.0, 5.0))),
    "vp-exp": (VPExponential, _vp_ref(lambda t: 0.1 * 300.0**t)),
    "cosine": (CosineVP, _cosine_ref(0.008)),
    "subvp": (SubVP, _subvp_ref(0.1, 20.0)),
    "ve": (VE, _ve_geo_ref(0.01, 50.0)),
    "ve-linear": (VELinear, (_zero, lambda t: 50.0**2 - 0.01**2)),
    "ve-quadratic": (VEQuadratic, (_zero, lambda t: 2 * (50.0**2 - 0.01**2) * t)),
    "ve-power7": (VEPower, _ve_power_ref(0.01, 50.0, 7.0)),
    "ve-power2": (lambda: VEPower(rho=2.0), _ve_power_ref(0.01, 50.0, 2.0)),
    "linear-vp": (lambda: LinearSDE(VP().f, VP().g), _vp_ref(_lin_beta(0.1, 20.0))),
    "linear-math-ou": (
        lambda: LinearSDE(_math_ou_f, _math_ou_g, T=2.0, name="ou-math"),
        (lambda t: 0.7, lambda t: 1.5),
    ),
}
IDS = list(CASES)


@pytest.fixture(scope="module", params=IDS)
def case(request: pytest.FixtureRequest) -> tuple[Process, Fn, Fn]:
    make, (f, g2) = CASES[request.param]
    return make(), f, g2


def _times(p: Process) -> np.ndarray:
    return p.T * np.array([1e-3, 0.01, 0.1, 0.37, 0.8, 1.0])


def _int(fn: Fn, a: float, b: float) -> float:
    return quad(fn, a, b, epsabs=0.0, epsrel=1e-12, limit=200)[0]


def ref_log_alpha(f: Fn, t: float) -> float:
    return -_int(f, 0.0, t)


def ref_sigma2(f: Fn, g2: Fn, t: float) -> float:
    return _int(lambda s: math.exp(-2.0 * _int(f, s, t)) * g2(s), 0.0, t)


def ref_ei(f: Fn, g2: Fn, hi: float, lo: float) -> tuple[float, float, float]:
    r = math.exp(_int(f, lo, hi))
    c = _int(lambda u: math.exp(_int(f, lo, u)) * g2(u), lo, hi)
    n = _int(lambda u: math.exp(2.0 * _int(f, lo, u)) * g2(u), lo, hi)
    return r, c, n


# ---------------------------------------------------------------------------
# coefficients and marginals
# ---------------------------------------------------------------------------


def test_f_g2_match_formulas(case: tuple[Process, Fn, Fn]) -> None:
    p, f, g2 = case
    t = _times(p)
    np.testing.assert_allclose(p.f(t), [f(x) for x in t], rtol=1e-13, atol=0)
    np.testing.assert_allclose(p.g2(t), [g2(x) for x in t], rtol=1e-13, atol=0)
    np.testing.assert_allclose(p.g(t) ** 2, p.g2(t), rtol=1e-14)


def test_alpha_sigma_match_defining_integrals(case: tuple[Process, Fn, Fn]) -> None:
    p, f, g2 = case
    t = _times(p)
    la = [ref_log_alpha(f, x) for x in t]
    s2 = [ref_sigma2(f, g2, x) for x in t]
    np.testing.assert_allclose(p.log_alpha(t), la, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(p.alpha(t), np.exp(la), rtol=1e-10)
    np.testing.assert_allclose(p.sigma2(t), s2, rtol=1e-8)
    np.testing.assert_allclose(p.sigma(t), np.sqrt(s2), rtol=1e-8)


def _deriv(fn: Callable[[np.ndarray], np.ndarray], t: np.ndarray) -> np.ndarray:
    h = 1e-3 * t
    return (-fn(t + 2 * h) + 8 * fn(t + h) - 8 * fn(t - h) + fn(t - 2 * h)) / (12 * h)


def test_variance_ode_and_log_snr_derivative(case: tuple[Process, Fn, Fn]) -> None:
    p, _, _ = case
    t = _times(p)[:-1]  # interior points (t + 2h stays admissible)
    f, g2, s2 = p.f(t), p.g2(t), p.sigma2(t)
    np.testing.assert_allclose(_deriv(p.sigma2, t), g2 - 2 * f * s2, rtol=1e-7)
    np.testing.assert_allclose(_deriv(p.log_alpha, t), -f, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(_deriv(p.log_snr, t), -g2 / (2 * s2), rtol=1e-7)


def test_log_snr_definition(case: tuple[Process, Fn, Fn]) -> None:
    p, _, _ = case
    t = _times(p)
    np.testing.assert_allclose(
        p.log_snr(t), np.log(p.alpha(t) / p.sigma(t)), rtol=1e-12, atol=1e-12
    )
    assert p.log_snr(0.0) == math.inf
    assert p.sigma2(0.0) == 0.0
    assert p.alpha(0.0) == 1.0


def test_log_snr_round_trip(case: tuple[Process, Fn, Fn]) -> None:
    p, _, _ = case
    t = p.T * np.geomspace(1e-6, 1.0, 7 if p.kind == "general" else 25)
    lam = p.log_snr(t)
    assert np.all(np.diff(lam) < 0)
    np.testing.assert_allclose(p.t_from_log_snr(lam), t, rtol=1e-12, atol=0)
    assert p.t_from_log_snr(math.inf) == 0.0
    assert isinstance(p.t_from_log_snr(float(lam[3])), float)


@settings(max_examples=8, deadline=None, derandomize=True)
@given(
    u=st.floats(min_value=1e-3, max_value=1.0),
    frac=st.floats(min_value=1e-4, max_value=1.0),
)
def test_ei_coefficients_match_integrals(
    case: tuple[Process, Fn, Fn], u: float, frac: float
) -> None:
    p, f, g2 = case
    hi = p.T * u
    lo = hi * (1.0 - frac)
    r, c, n = p.ei_coefficients(hi, lo)
    rr, cr, nr = ref_ei(f, g2, hi, lo)
    assert r == pytest.approx(rr, rel=1e-10)
    assert c == pytest.approx(cr, rel=1e-8)
    assert n == pytest.approx(nr, rel=1e-8)
    # n = r^2 sigma_hi^2 - sigma_lo^2 (up to the cancellation in the right side)
    a, b = r**2 * p.sigma2(hi), p.sigma2(lo)
    assert n == pytest.approx(a - b, rel=1e-9, abs=1e-13 * a)


def test_ei_closed_forms_by_kind(case: tuple[Process, Fn, Fn]) -> None:
    p, _, _ = case
    hi = p.T * np.array([0.01, 0.3, 0.9, 1.0])
    lo = hi * np.array([0.5, 0.999, 0.1, 0.9999])
    r, c, n = p.ei_coefficients(hi, lo)
    assert r.shape == c.shape == n.shape == hi.shape
    np.testing.assert_allclose(r, p.alpha(lo) / p.alpha(hi), rtol=1e-12)
    if p.kind == "vp":
        # (the right sides cancel for small steps: allow an r-scaled rounding)
        np.testing.assert_allclose(c, 2 * (r - 1), rtol=1e-12, atol=1e-15 * np.max(r))
        np.testing.assert_allclose(n, r**2 - 1, rtol=1e-12, atol=1e-15 * np.max(r**2))
    if p.kind == "ve":
        np.testing.assert_array_equal(r, 1.0)
        np.testing.assert_array_equal(c, n)
        np.testing.assert_allclose(n, p.sigma2(hi) - p.sigma2(lo), rtol=1e-11)
    assert np.all(c > 0) and np.all(n > 0)


def test_ou_paper1_closed_form() -> None:
    h = (5.0 + np.array([1e-6, 0.01, 0.5, 2.0])) - 5.0  # representable steps
    r, c, n = OU().ei_coefficients(5.0 + h, 5.0)
    np.testing.assert_allclose(r, np.exp(h), rtol=1e-15)
    np.testing.assert_allclose(c, 2 * np.expm1(h), rtol=1e-14)
    np.testing.assert_allclose(n, np.expm1(2 * h), rtol=1e-14)


def test_ve_tiny_steps_are_accurate() -> None:
    # c = sigma_hi^2 - sigma_lo^2 must not suffer cancellation for tiny steps
    for p in (VE(), VELinear(), VEQuadratic(), VEPower()):
        hi, h = 0.9, 1e-9
        _, c, _ = p.ei_coefficients(hi, hi - h)
        assert c == pytest.approx(float(p.g2(hi - h / 2)) * h, rel=1e-6)


def test_vectorised_shapes() -> None:
    p = VP()
    t = np.linspace(0.1, 1.0, 6).reshape(2, 3)
    for m in (p.f, p.g, p.g2, p.alpha, p.log_alpha, p.sigma, p.sigma2, p.log_snr):
        out = m(t)
        assert isinstance(out, np.ndarray) and out.shape == (2, 3)
        assert out.dtype == np.float64
        scalar = m(0.5)
        assert isinstance(scalar, float)
        assert scalar == pytest.approx(float(m(np.array([0.5]))[0]), rel=1e-15)
    r, c, n = p.ei_coefficients(t, 0.05)
    assert r.shape == c.shape == n.shape == (2, 3)
    r0, c0, n0 = p.ei_coefficients(0.5, 0.4)
    assert all(isinstance(x, float) for x in (r0, c0, n0))
    assert p.t_from_log_snr(p.log_snr(t)).shape == (2, 3)
    assert p.alpha([0.1, 0.2]).shape == (2,)


# ---------------------------------------------------------------------------
# LinearSDE
# ---------------------------------------------------------------------------


def test_linear_sde_reproduces_vp() -> None:
    vp = VP()
    lin = LinearSDE(vp.f, vp.g)
    t = np.linspace(1e-3, 1.0, 101)
    np.testing.assert_allclose(lin.alpha(t), vp.alpha(t), rtol=0, atol=1e-10)
    np.testing.assert_allclose(lin.sigma(t), vp.sigma(t), rtol=0, atol=1e-10)
    np.testing.assert_allclose(lin.sigma2(t), vp.sigma2(t), rtol=1e-12, atol=0)
    for h in (1e-4, 1e-3, 1e-2, 0.1, 0.5):
        hi = t[t - h >= 1e-3]
        lo = hi - h
        for x, y in zip(lin.ei_coefficients(hi, lo), vp.ei_coefficients(hi, lo)):
            np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-10)
    np.testing.assert_allclose(lin.prior_var, vp.sigma2(1.0), rtol=1e-12)


def test_linear_sde_reproduces_ve_and_ou() -> None:
    ve = VEPower(rho=2.0)
    lin = LinearSDE(ve.f, ve.g, T=1.0)
    t = np.linspace(1e-3, 1.0, 17)
    np.testing.assert_allclose(lin.sigma2(t), ve.sigma2(t), rtol=1e-12)
    ou = OU(0.7, math.sqrt(1.5), T=2.0)
    lin_ou = LinearSDE(_math_ou_f, _math_ou_g, T=2.0)
    np.testing.assert_allclose(lin_ou.sigma2(t), ou.sigma2(t), rtol=1e-12)
    np.testing.assert_allclose(lin_ou.alpha(t), ou.alpha(t), rtol=1e-13)
    for x, y in zip(
        lin_ou.ei_coefficients(t[1:], t[:-1]), ou.ei_coefficients(t[1:], t[:-1])
    ):
        np.testing.assert_allclose(x, y, rtol=1e-12)


def test_linear_sde_boundary_layers() -> None:
    # large int f: the sigma^2 integrand is a thin layer at s = t (graded panels)
    vp = VP()
    lin = LinearSDE(vp.f, vp.g)
    t = np.array([2.0, 5.0, 20.0])
    np.testing.assert_allclose(lin.sigma2(t), vp.sigma2(t), rtol=1e-13)
    np.testing.assert_allclose(lin.log_snr(t), vp.log_snr(t), rtol=1e-13)
    # negative drift: alpha grows, the layer sits at s = 0; sigma^2 = e^{2at} - 1
    grow = LinearSDE(lambda t: -0.5 + 0 * t, lambda t: 1.0 + 0 * t, T=40.0)
    t = np.array([0.5, 10.0, 40.0])
    np.testing.assert_allclose(grow.sigma2(t), np.expm1(t), rtol=1e-13)


def test_linear_sde_constant_and_scalar_callables() -> None:
    # a callable returning a scalar for array input must not be broadcast blindly
    lin = LinearSDE(lambda t: 1.0, lambda t: math.sqrt(2.0), T=3.0)
    ou = OU(T=3.0)
    t = np.array([0.01, 0.5, 2.5])
    np.testing.assert_allclose(lin.sigma2(t), ou.sigma2(t), rtol=1e-13)
    np.testing.assert_allclose(lin.f(t), 1.0)
    branchy = LinearSDE(lambda t: 1.0 if t < 0.5 else 2.0, lambda t: 1.0, panels=2)
    assert branchy.log_alpha(1.0) == pytest.approx(-1.5, rel=1e-13)


def test_linear_sde_options() -> None:
    lin = LinearSDE(lambda t: 0 * t + 1.0, lambda t: 0 * t + 1.0, prior_var=3.0)
    assert lin.prior_var == 3.0
    assert lin.kind == "general"
    with pytest.raises(TypeError, match="f"):
        LinearSDE(1.0, lambda t: t)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="t_max"):
        LinearSDE(lambda t: t, lambda t: t, t_max=-1.0)
    with pytest.raises(ValueError, match="T"):
        LinearSDE(lambda t: t, lambda t: t, T=2.0, t_max=1.0)
    with pytest.raises(ValueError, match="prior_var"):
        LinearSDE(lambda t: t, lambda t: t, prior_var=0.0)
    with pytest.raises(ValueError, match="panels"):
        LinearSDE(lambda t: t, lambda t: t, panels=0)


# ---------------------------------------------------------------------------
# defaults, priors, identity
# ---------------------------------------------------------------------------


def test_paper2_defaults() -> None:
    p7 = VEPower()
    assert p7.rho == 7.0
    assert p7.sigma_vp(0.0) == pytest.approx(0.01, rel=1e-13)
    assert p7.sigma_vp(1.0) == pytest.approx(50.0, rel=1e-13)
    assert VEPower(rho=2.0).sigma_vp(1.0) == pytest.approx(50.0, rel=1e-13)
    for cls in (VE, VELinear, VEQuadratic):
        ve = cls()
        assert ve.sigma_vp(0.0) == pytest.approx(0.01, rel=1e-14)
        assert ve.sigma_vp(1.0) == pytest.approx(50.0, rel=1e-13)
    assert VPExponential().beta(1.0) == pytest.approx(30.0, rel=1e-13)
    assert VPExponential().beta(0.0) == pytest.approx(0.1, rel=1e-14)
    assert VP().beta(1.0) == pytest.approx(20.0, rel=1e-14)
    for rho in (2.0, 5.0):
        poly = VPPolynomial(rho=rho)
        assert poly.beta(0.0) == pytest.approx(0.1, rel=1e-13)
        assert poly.beta(1.0) == pytest.approx(20.0, rel=1e-13)
    assert VPConstant().beta(0.3) == 5.05
    assert VPPolynomial().integrated_beta(0.4) == pytest.approx(
        _int(_poly_beta(0.1, 20.0, 2.0), 0.0, 0.4), rel=1e-13
    )
    assert OU().T == 10.0 and VP().T == 1.0 and CosineVP().T == 0.999


def test_prior_variances() -> None:
    for cls in (VE, VELinear, VEQuadratic, VEPower):
        assert cls().prior_var == 2500.0
        assert cls(sigma_max=7.0).prior_variance() == 49.0
    for p in (VP(), VPConstant(), VPPolynomial(), VPExponential(), CosineVP(), SubVP()):
        assert p.prior_var == 1.0
    assert OU().prior_var == pytest.approx(1.0, rel=1e-15)
    assert OU(2.0, 3.0).prior_var == pytest.approx(9.0 / 4.0, rel=1e-15)
    for make, _ in CASES.values():
        p = make()
        assert p.prior_variance() == p.prior_var
        assert p.prior_variance("zero-data") == pytest.approx(
            float(p.sigma(p.T)) ** 2, rel=1e-14
        )
        half = 0.5 * p.T
        assert p.prior_variance("zero-data", T=half) == pytest.approx(
            float(p.sigma2(half)), rel=1e-14
        )
    with pytest.raises(ValueError, match="init.*zero-data"):
        VP().prior_variance("stationary")


def test_cosine_t_max() -> None:
    p = CosineVP()
    assert 0.999 < p.t_max < 1.0
    assert p.alpha(p.t_max) == pytest.approx(1e-8, rel=1e-6)
    lam = p.log_snr(p.t_max)
    assert p.t_from_log_snr(lam) == pytest.approx(p.t_max, rel=1e-12)
    with pytest.raises(ValueError, match="t"):
        p.alpha(1.0)
    with pytest.raises(ValueError, match="lam"):
        p.t_from_log_snr(lam - 1.0)
    # alpha matches the textbook formula
    s, t = 0.008, np.array([0.0, 0.2, 0.7, 0.999])
    ref = np.cos((t + s) / (1 + s) * np.pi / 2) / np.cos(s / (1 + s) * np.pi / 2)
    np.testing.assert_allclose(p.alpha(t), ref, rtol=1e-12)


def test_equality_hash_repr_immutability() -> None:
    assert VP() == VP()
    assert hash(VP()) == hash(VP(0.1, 20.0, 1.0))
    assert VP() != VP(beta_max=19.0)
    assert VP() != SubVP()
    assert len({VP(), VP(), VE(), VEPower(), VEPower(rho=2.0)}) == 4
    for make, _ in CASES.values():
        p = make()
        if not isinstance(p, LinearSDE):
            q = eval(repr(p))
            assert q == p and type(q) is type(p)
        assert type(p)(**p.params()) == p
        assert p.m == 1
        assert p.kind in {"vp", "ve", "subvp", "ou", "general"}
    p = VP()
    with pytest.raises(AttributeError):
        p.T = 2.0  # type: ignore[misc]
    assert "beta_max=20.0" in repr(p)


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------

BAD_PARAMS = [
    (OU, {"alpha0": 0.0}, "alpha0"),
    (OU, {"sigma0": -1.0}, "sigma0"),
    (OU, {"T": math.inf}, "T"),
    (VP, {"beta_min": -0.1}, "beta_min"),
    (VP, {"beta_max": math.nan}, "beta_max"),
    (VP, {"beta_min": 30.0}, "beta_min"),
    (VP, {"T": 0.0}, "T"),
    (VPConstant, {"beta": 0.0}, "beta"),
    (VPPolynomial, {"rho": 0.0}, "rho"),
    (VPPolynomial, {"beta_max": 0.05}, "beta_min"),
    (VPExponential, {"beta_min": math.inf}, "beta_min"),
    (CosineVP, {"s": -0.01}, "s"),
    (CosineVP, {"T": 1.0}, "T"),
    (SubVP, {"beta_max": 0.0}, "beta_max"),
    (VE, {"sigma_min": 0.0}, "sigma_min"),
    (VE, {"sigma_min": 60.0}, "sigma_min"),
    (VELinear, {"sigma_max": math.inf}, "sigma_max"),
    (VEQuadratic, {"sigma_max": -5.0}, "sigma_max"),
    (VEPower, {"rho": -7.0}, "rho"),
    (VEPower, {"T": -1.0}, "T"),
]


@pytest.mark.parametrize(("cls", "kwargs", "name"), BAD_PARAMS)
def test_bad_parameters(cls: type[Process], kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        cls(**kwargs)


def test_bad_times() -> None:
    p = VP()
    for bad in (-1e-9, math.nan, math.inf, [0.5, -0.1]):
        with pytest.raises(ValueError, match=r"^t\b"):
            p.sigma(bad)
    with pytest.raises(TypeError, match=r"^t\b"):
        p.alpha("0.5")
    with pytest.raises(ValueError, match="t_lo"):
        p.ei_coefficients(0.5, 0.5)
    with pytest.raises(ValueError, match="t_lo"):
        p.ei_coefficients(0.5, -0.1)
    with pytest.raises(ValueError, match="t_hi"):
        p.ei_coefficients(math.nan, 0.1)
    with pytest.raises(ValueError, match="lam"):
        p.t_from_log_snr(math.nan)
    with pytest.raises(ValueError, match="T"):
        p.prior_variance("zero-data", T=-1.0)
