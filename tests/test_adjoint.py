"""Tests of the reverse-mode tape (scorelab._adjoint) against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorelab import _adjoint as ad

_pos = st.floats(0.1, 10.0)


@settings(max_examples=40, deadline=None)
@given(a=_pos, b=_pos, c=_pos)
def test_scalar_expression_gradient_is_the_closed_form(a, b, c):
    # f = sqrt(a b) / c - log(a) + (a - b) * (c - 1) + 2 / b
    A, B, C = ad.Var(a), ad.Var(b), ad.Var(c)
    f = ad.sqrt(A * B) / C - ad.log(A) + (A - B) * (C - 1.0) + 2.0 / B
    ad.backward(f)
    r = np.sqrt(a * b)
    assert f.val == pytest.approx(r / c - np.log(a) + (a - b) * (c - 1) + 2 / b)
    assert ad.gradient(A) == pytest.approx(0.5 * b / (r * c) - 1 / a + (c - 1))
    assert ad.gradient(B) == pytest.approx(0.5 * a / (r * c) - (c - 1) - 2 / b**2)
    assert ad.gradient(C) == pytest.approx(-r / c**2 + (a - b))


def test_broadcasting_between_a_scalar_and_arrays():
    x = np.array([0.5, 1.0, 2.0])
    s, v = ad.Var(1.5), ad.Var(x.copy())
    # f = sum(s * v * v - v / s) + sum(t - log1p(t)) at t = s * x - 1
    f = ad.total(s * v * v - v / s) + ad.total(ad.t_minus_log1p(s * x - 1.0))
    ad.backward(f)
    t = 1.5 * x - 1.0
    ds = np.sum(x * x + x / 1.5**2) + np.sum(x * t / (1 + t))
    dv = 2 * 1.5 * x - 1 / 1.5
    assert ad.gradient(s) == pytest.approx(ds, rel=1e-13)
    np.testing.assert_allclose(ad.gradient(v), dv, rtol=1e-13)


def test_unused_leaf_has_zero_gradient_and_output_must_be_scalar():
    a, b = ad.Var(2.0), ad.Var(np.ones(3))
    f = a * a
    ad.backward(f)
    assert ad.gradient(a) == 4.0
    np.testing.assert_array_equal(ad.gradient(b), np.zeros(3))
    with pytest.raises(ValueError, match="scalar"):
        ad.backward(b * 2.0)


def test_numpy_arrays_defer_to_var():
    v = ad.Var(2.0)
    out = np.array([1.0, 2.0]) * v
    assert isinstance(out, ad.Var)
    np.testing.assert_array_equal(out.val, [2.0, 4.0])


def test_tape_backward_equals_graph_search():
    x = np.array([0.3, 1.2, 2.0])
    with ad.Tape() as tape:
        a, v = ad.Var(0.7), ad.Var(x.copy())
        unused = a * 3.0  # on the tape, not an ancestor of f
        f = ad.total(ad.sqrt(v * a + 1.0) / (a - 2.0))
    ad.backward(f, tape)
    with_tape = (ad.gradient(a), ad.gradient(v).copy())
    ad.backward(f)
    assert with_tape[0] == pytest.approx(ad.gradient(a), rel=1e-15)
    np.testing.assert_allclose(with_tape[1], ad.gradient(v), rtol=1e-15)
    assert unused.grad is None
