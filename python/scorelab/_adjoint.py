r"""Reverse-mode differentiation of elementwise array arithmetic (a small tape).

:class:`Var` wraps a float or an array of shape (d,) and records the
operations applied to it (``+ - * /``, :func:`sqrt`, :func:`log`,
:func:`total`); :func:`backward` then returns the exact gradient of a scalar
result with respect to every leaf, by the chain rule applied in reverse
creation order. Every recorded operation is elementwise with NumPy
broadcasting between a scalar and an array, so a local derivative is one
factor, and a gradient flowing into a scalar from an array is summed.

It differentiates the spectral exact-law recursions of :mod:`scorelab.exact`
with respect to the coefficients of a scheme's table: those functions run
unchanged on :class:`Var` coefficients (``__array_ufunc__ = None`` makes NumPy
arrays defer to :class:`Var`'s operators), so the derivative is that of the
very code that computes the law (:func:`scorelab.schedules.optimize_grid`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "Tape", "Var", "backward", "gradient", "log", "sqrt", "t_minus_log1p", "total",
]


class Var:
    """A value (float or array (d,)) with its parents on the tape.

    ``parents`` holds ``(var, factor)`` pairs: the local derivative of this
    value with respect to the parent's, elementwise (``None``: 1).
    """

    __slots__ = ("val", "parents", "order", "grad")
    __array_ufunc__ = None  # ndarray <op> Var -> Var's reflected operator
    _counter = 0

    def __init__(self, val: Any, parents: tuple[tuple[Var, Any], ...] = ()) -> None:
        self.val = val
        self.parents = parents
        Var._counter += 1
        self.order = Var._counter
        self.grad: Any = None
        if _ACTIVE:
            _ACTIVE[-1].vars.append(self)

    def __repr__(self) -> str:
        return f"Var({self.val!r})"

    # arithmetic -----------------------------------------------------------
    def __add__(self, o: Any) -> Var:
        if isinstance(o, Var):
            return Var(self.val + o.val, ((self, None), (o, None)))
        return Var(self.val + o, ((self, None),))

    __radd__ = __add__

    def __sub__(self, o: Any) -> Var:
        if isinstance(o, Var):
            return Var(self.val - o.val, ((self, None), (o, -1.0)))
        return Var(self.val - o, ((self, None),))

    def __rsub__(self, o: Any) -> Var:
        return Var(o - self.val, ((self, -1.0),))

    def __neg__(self) -> Var:
        return Var(-self.val, ((self, -1.0),))

    def __mul__(self, o: Any) -> Var:
        if isinstance(o, Var):
            return Var(self.val * o.val, ((self, o.val), (o, self.val)))
        return Var(self.val * o, ((self, o),))

    __rmul__ = __mul__

    def __truediv__(self, o: Any) -> Var:
        if isinstance(o, Var):
            q = self.val / o.val
            return Var(q, ((self, 1.0 / o.val), (o, -q / o.val)))
        return Var(self.val / o, ((self, 1.0 / o),))

    def __rtruediv__(self, o: Any) -> Var:
        q = o / self.val
        return Var(q, ((self, -q / self.val),))


def sqrt(x: Any) -> Any:
    """Elementwise square root (of a Var, a float or an array)."""
    if not isinstance(x, Var):
        return np.sqrt(x)
    r = np.sqrt(x.val)
    return Var(r, ((x, 0.5 / r),))


def log(x: Var) -> Var:
    """Elementwise natural logarithm."""
    return Var(np.log(x.val), ((x, 1.0 / x.val),))


def t_minus_log1p(x: Any) -> Any:
    r"""Elementwise :math:`\varphi(x) = x - \log(1 + x)` (the per-direction KL
    term), with :math:`\varphi'(x) = x / (1 + x)` formed without cancellation."""
    if not isinstance(x, Var):
        return x - np.log1p(x)
    v = x.val
    return Var(v - np.log1p(v), ((x, v / (1.0 + v)),))


def total(x: Any) -> Any:
    """Sum of the entries (a float for a float)."""
    if not isinstance(x, Var):
        return float(np.sum(x))
    return Var(float(np.sum(x.val)), ((x, None),))


class Tape:
    """Records every :class:`Var` created inside ``with Tape() as tape:``, in
    creation order (a topological order), so :func:`backward` need not search
    the graph."""

    def __init__(self) -> None:
        self.vars: list[Var] = []

    def __enter__(self) -> Tape:
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.remove(self)


#: The tapes being recorded (the innermost last).
_ACTIVE: list[Tape] = []


def backward(out: Var, tape: Tape | None = None) -> None:
    """Set ``.grad`` of every Var that ``out`` depends on to
    :math:`\\partial\\, \\mathrm{out} / \\partial\\, \\mathrm{var}` (``out``
    must be a scalar); with the ``tape`` that recorded them, without a graph
    search (every var on it is reset)."""
    if isinstance(out.val, np.ndarray) and out.val.ndim != 0:
        raise ValueError("backward needs a scalar output")
    if tape is not None:
        for v in tape.vars:
            v.grad = None
        order: Any = reversed(tape.vars)
    else:
        # the vars that out depends on, in reverse creation order
        seen: dict[int, Var] = {}
        stack = [out]
        while stack:
            v = stack.pop()
            if id(v) in seen:
                continue
            seen[id(v)] = v
            v.grad = None
            stack.extend(p for p, _ in v.parents)
        order = sorted(seen.values(), key=lambda u: -u.order)
    out.grad = 1.0
    ndarray = np.ndarray
    for v in order:
        g = v.grad
        if g is None:
            continue
        for p, factor in v.parents:
            c = g if factor is None else g * factor
            # into a scalar: sum; into an array, a scalar stays a scalar (it
            # broadcasts; gradient() expands it)
            if isinstance(c, ndarray) and not isinstance(p.val, ndarray):
                c = float(c.sum())
            p.grad = c if p.grad is None else p.grad + c


def gradient(v: Var) -> Any:
    """``v.grad`` after :func:`backward`, in the shape of ``v.val`` (0 when
    ``out`` does not depend on v)."""
    g = 0.0 if v.grad is None else v.grad
    if isinstance(v.val, np.ndarray):
        return np.broadcast_to(np.asarray(g, dtype=np.float64), v.val.shape)
    return float(g)
