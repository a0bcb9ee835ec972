r"""Time grids optimised against the exact error of a Gaussian target.

:func:`optimize_grid` minimises the exact final-law error

.. math::

    J(t) = D\bigl(\operatorname{Law}(\hat x_N;\ t),\; p_\delta\bigr),
    \qquad D \in \{W_2, \mathrm{KL}\},

over decreasing grids :math:`T = t_0 > \dots > t_N = \delta`, with the law from
:func:`scorelab.exact_law` (O(N d) for a spectral target).

Parametrisation (monotone by construction): free logits :math:`z \in
\mathbb R^N`, increments :math:`w = \operatorname{softmax}(z)`, and
:math:`\lambda_k = \lambda(T) + (\lambda(\delta) - \lambda(T)) \sum_{j<k} w_j`
in log-SNR (in time for processes without a log-SNR), mapped back by
``process.t_from_log_snr``; both endpoints are fixed.

Gradients are exact where the spectral recursion applies (``gradient="auto"``,
the default): the objective is a function of a coefficient vector
:math:`\theta(u)` of O(N S^2 + N d) numbers (the scheme's table, the forward maps
at the stage times, the error terms, the reference marginals), and
:math:`\partial J/\partial\theta` is computed by reverse mode through the very
recursion that computes the law (:mod:`scorelab._adjoint`; no second
implementation of any scheme). :math:`\partial\theta/\partial u` is banded
(step k's coefficients depend only on its window of times) and is obtained by
central differences of the coefficient tables (step 1e-5 of the log-SNR gap;
they agree with a fourth-order stencil to 1e-10 .. 5e-9), with columns grouped
by a colouring of the sparsity pattern (so 2 x a few table builds per
gradient, whatever N; never a difference of the d-dimensional law). Measured
agreement with central differences of the objective: 1e-11 .. 1e-8 relative
(the differences' own error) for every scheme tested. Elsewhere (dense
targets) the gradient is central finite differences over the logits (2 N exact
laws), recorded in :attr:`OptimizedGrid.gradient`.

A worst case over several smooth pieces (``spectra=[...]``, or
``objective="profile-max"``) is minimised in epigraph form by SLSQP
(:func:`_minimax`); L-BFGS-B on the maximum stalls at the kinks where two
pieces cross.

Measured on the 10-D example (dpm-solver++-2m, 10 steps, spectra x 0.5, 1, 2),
the ``"profile"`` objective does not protect against a changed spectrum (its
grid's error is about 0.07 on all three, against 0.13 for the best family;
the final-only optimum reaches 5.6e-5 nominal but 1.9e-2 on the doubled
spectrum); ``spectra=[...]`` gives 6.2e-4 on all three.

Cancellation: on a single Gaussian, the final-law error of a multistep
scheme is a sum of per-eigenvalue errors of both signs, and an optimiser can
place steps so that they cancel at the final time for *this* spectrum only; the
grid then has a tiny final error but no smaller error along the path, nor on a
nearby spectrum. ``objective="profile"`` (mean of :math:`W_2` over the time
profile, :func:`scorelab.analysis.w2_profile`) and ``spectra=[...]`` (worst
error over a family of targets) are the robust alternatives.
"""

from __future__ import annotations

import copy
import dataclasses
import time as _time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["GRADIENTS", "OBJECTIVES", "METRICS", "OptimizedGrid", "optimize_grid"]

METRICS: tuple[str, ...] = ("w2", "kl")
GRADIENTS: tuple[str, ...] = ("auto", "adjoint", "fd")
_FD_DOC = "central finite differences over the logits"
_ADJOINT_DOC = (
    "adjoint: exact reverse mode through the spectral recursion; the table "
    "coefficients' time derivatives by central differences"
)
OBJECTIVES: tuple[str, ...] = ("final", "profile", "profile-max")


@dataclass(frozen=True)
class OptimizedGrid:
    """Result of :func:`optimize_grid`.

    ``grid`` (shape (N + 1,)) is strictly decreasing from T to delta;
    ``error_before``/``error_after`` are the objective at ``start_grid`` and
    ``grid``; ``history`` the objective per optimiser iteration.
    """

    grid: npt.NDArray[np.float64]
    start_grid: npt.NDArray[np.float64]
    start: str
    error_before: float
    error_after: float
    history: tuple[float, ...]
    metric: str
    objective: str
    evaluations: int
    seconds: float
    gradient: str = _FD_DOC
    family_errors: dict[str, float] = field(default_factory=dict)


def _has_log_snr(process: Any) -> bool:
    try:
        process.log_snr(process.T)
        process.t_from_log_snr(float(process.log_snr(process.T)))
    except (AttributeError, NotImplementedError, ValueError):
        return False
    return True


#: Share of the log-SNR (or time) range spread evenly over the increments.
_FLOOR = 1e-6


class _Param:
    """Logits <-> grid map (softmax of increments in log-SNR or time)."""

    def __init__(self, process: Any, T: float, delta: float, steps: int) -> None:
        self.process = process
        self.steps = steps
        self.use_lam = _has_log_snr(process)
        if self.use_lam:
            self.a = float(process.log_snr(T))
            self.b = float(process.log_snr(delta))
        else:
            self.a, self.b = T, delta
        self.T, self.delta = T, delta

    def u(self, z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The N - 1 interior log-SNRs (times) of the logits z."""
        w = _softmax(z)
        # a floor on every increment (a fraction _FLOOR / N of the range): extreme
        # logits must not merge two times into one float
        n = w.size
        w = (1.0 - _FLOOR) * w + _FLOOR / n
        c = np.concatenate([[0.0], np.cumsum(w)])
        u = self.a + (self.b - self.a) * c
        return u[1:-1]

    def grid(self, z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        inner = self.u(z)
        t = np.asarray(self.process.t_from_log_snr(inner)) if self.use_lam else inner
        return np.concatenate([[self.T], np.atleast_1d(t), [self.delta]]).astype(
            np.float64
        )

    def logits(self, g: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        u = np.asarray(self.process.log_snr(g)) if self.use_lam else np.asarray(g)
        u = u.astype(np.float64).copy()
        u[0], u[-1] = self.a, self.b
        inc = np.diff(u) / (self.b - self.a)
        n = inc.size
        inc = np.maximum((inc - _FLOOR / n) / (1.0 - _FLOOR), 1e-300)
        z: npt.NDArray[np.float64] = np.log(inc)
        return z - z.mean()


def _make_objective(
    targets: list[Any],
    process: Any,
    scheme: Any,
    delta: float,
    metric: str,
    objective: str,
    init: Any,
    score_error: Any,
    opts: dict[str, Any],
) -> Any:
    from .analysis import w2_profile
    from .exact import exact_law
    from .metrics_gaussian import kl_gaussian, w2_gaussian

    refs = [tg.noised(process, delta) for tg in targets]

    def one(tg: Any, ref: Any, g: npt.NDArray[np.float64]) -> float:
        if objective == "final":
            law = exact_law(tg, process, scheme, g, init=init, score_error=score_error,
                            **opts)
            fn = w2_gaussian if metric == "w2" else kl_gaussian
            return float(fn(law, ref))  # type: ignore[arg-type]
        prof = w2_profile(tg, process, scheme, g,
                          init="prior" if init is None else init,
                          score_error=score_error, **opts)
        e = np.asarray(prof.w2[1:], dtype=np.float64)
        return float(e.max() if objective == "profile-max" else e.mean())

    def f(g: npt.NDArray[np.float64]) -> float:
        try:
            vals = [one(tg, ref, g) for tg, ref in zip(targets, refs, strict=True)]
        except FloatingPointError:
            return float("inf")
        v = max(vals)
        return v if np.isfinite(v) else float("inf")

    return f


#: Arrays of the coefficient vector theta (per target), in order: the table's
#: coefficients (m = 1), the forward maps at the score evaluations, the error
#: terms, and the reference marginal's alpha and sigma^2 at the grid times.
_THETA = ("Y", "B", "E", "C", "P", "N", "lin", "lin_scalar", "bias", "ref_a", "ref_s2")


class _Adjoint:
    r"""Exact gradient of the objective with respect to the free log-SNR times.

    The objective is a function of the coefficient vector :math:`\theta(u)` (the
    scheme's table, the forward maps at the stage times, the error terms and the
    reference marginals: O(N S^2 + N d) numbers, no d x d work) through the
    spectral recursion. :math:`\partial J / \partial \theta` is exact: reverse
    mode over the very recursion that computes the law
    (:func:`scorelab.exact._final_moments`, :func:`scorelab.exact._forward_moments`,
    run on :class:`scorelab._adjoint.Var` coefficients). :math:`\partial \theta /
    \partial u` is banded (step k's coefficients depend on the few times of its
    window) and is computed once per gradient by central differences of the
    coefficient tables (never of the d-dimensional law), with the columns
    grouped by a colouring of the sparsity pattern (found once) so that it costs
    2 x (number of colours) table builds, independent of N.
    """

    def __init__(
        self, targets: list[Any], process: Any, scheme: Any, delta: float,
        metric: str, objective: str, init: Any, score_error: Any,
        opts: dict[str, Any], param: _Param,
    ) -> None:
        from .exact import _in_basis

        self.targets, self.process, self.scheme = targets, process, scheme
        self.metric, self.objective = metric, objective
        self.init = None if (isinstance(init, str) and init == "prior") else init
        self.score_error, self.opts, self.param = score_error, opts, param
        self.refs = [tg.noised(process, delta) for tg in targets]
        self._in_basis = _in_basis
        self.pattern: list[list[npt.NDArray[np.intp]]] | None = None
        self._jac_cache: list[Any] = []
        self._layout: dict[int, tuple[bytes, bytes]] = {}
        self._sp0: dict[int, Any] = {}

    # theta ------------------------------------------------------------------
    def _times(self, u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        p = self.param
        t = np.asarray(p.process.t_from_log_snr(u)) if p.use_lam else u
        return np.concatenate([[p.T], np.atleast_1d(t), [p.delta]]).astype(np.float64)

    def theta(self, u: npt.NDArray[np.float64], i: int) -> tuple[Any, Any, Any]:
        """``(tab, sp, arrays)`` for target i at the interior log-SNRs u."""
        from .exact import _spectral_setup
        from .sample import prepare
        from .schemes import compile_scheme

        tg = self.targets[i]
        times = self._times(u)
        sp0 = self._sp0.get(i)
        if sp0 is not None and self.score_error is None:
            # without a score error only the table and the forward maps at its
            # stage times depend on the grid: the rest of the first setup is
            # reused (prepare's target checks skipped: 30-40% faster)
            tab = compile_scheme(self.scheme, self.process, times, **self.opts)
            NC = tab.n_score_evals
            Phi, Ncov = self.process.marginal_maps(tab.stage_times)
            sp = dataclasses.replace(
                sp0, P=np.array(np.asarray(Phi)[:NC, 0, 0], dtype=np.float64),
                N=np.array(np.asarray(Ncov)[:NC, 0, 0], dtype=np.float64))
        else:
            prep = prepare(tg, self.process, self.scheme, times, self.score_error,
                           self.opts)
            sp_ = _spectral_setup(tg, self.process, prep, self.init)
            if (
                sp_ is None
                or not prep.terms.affine
                or self._in_basis(tg, sp_.Q) is None
                or self._in_basis(self.refs[i], sp_.Q) is None
            ):
                raise _NoAdjoint("the spectral recursion does not apply")
            tab, sp = prep.table, sp_
            self._sp0.setdefault(i, sp)
        # the layout of theta (which stages are evaluated, which are kept) must
        # not change with u: the sparsity pattern and the leaves index into it
        sig = (tab.eval.tobytes(), tab.keep.tobytes())
        if self._layout.setdefault(i, sig) != sig:
            raise _NoAdjoint("the table's structure changed with the grid")
        arrays: dict[str, Any] = {
            "Y": tab.Y[..., 0, 0], "B": tab.B[..., 0, 0], "E": tab.E[..., 0, 0],
            "C": tab.C[..., 0, 0], "P": sp.P, "N": sp.N, "lin": sp.lin,
            "lin_scalar": sp.lin_scalar, "bias": sp.bias,
        }
        if self.objective != "final":
            arrays["ref_a"] = np.asarray(self.process.alpha(times), dtype=np.float64)
            arrays["ref_s2"] = np.asarray(self.process.sigma2(times), dtype=np.float64)
        return tab, sp, arrays

    @staticmethod
    def flat(arrays: dict[str, Any]) -> npt.NDArray[np.float64]:
        parts = [np.ravel(np.asarray(arrays[k], dtype=np.float64))
                 for k in _THETA if arrays.get(k) is not None]
        return np.concatenate(parts)

    def steps_h(self, u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Difference step per free log-SNR: 1e-5 of its smaller neighbouring gap
        (measured against a fourth-order stencil at 1e-3: columns agree to
        1e-10 .. 5e-9 relative for ei-sde, dpm-solver++-2m/3m, heun, rk4)."""
        p = self.param
        full = np.concatenate([[p.a], u, [p.b]])
        gaps = np.abs(np.diff(full))
        return 1e-5 * np.minimum(gaps[:-1], gaps[1:])

    def find_pattern(self, u: npt.NDArray[np.float64]) -> None:
        """Which theta entries depend on which free time, and a colouring of the
        free times into groups with disjoint dependencies (once per run)."""
        h = 1e3 * self.steps_h(u)  # a large step: any dependence shows
        self.pattern = []
        self.colours: list[list[list[int]]] = []
        for i in range(len(self.targets)):
            base = self.flat(self.theta(u, i)[2])
            deps = []
            for j in range(u.size):
                e = u.copy()
                e[j] += h[j]
                deps.append(np.flatnonzero(self.flat(self.theta(e, i)[2]) != base))
            self.pattern.append(deps)
            groups: list[list[int]] = []
            used: list[npt.NDArray[np.bool_]] = []
            for j, dj in enumerate(deps):
                for g, m in zip(groups, used):
                    if not m[dj].any():
                        g.append(j)
                        m[dj] = True
                        break
                else:
                    m = np.zeros(base.size, dtype=bool)
                    m[dj] = True
                    groups.append([j])
                    used.append(m)
            self.colours.append(groups)

    def jacobian(
        self, u: npt.NDArray[np.float64], i: int
    ) -> list[npt.NDArray[np.float64]]:
        """Column j: d theta[pattern j] / d u_j (central differences of the tables).

        Without a score error theta does not depend on the target (the table, the
        forward maps and the reference's alpha, sigma^2 are the process's), so the
        last columns are reused for every target at the same u.
        """
        assert self.pattern is not None
        key = (u.tobytes(), None if self.score_error is None else i)
        if self._jac_cache and self._jac_cache[0] == key:
            return self._jac_cache[1]  # type: ignore[no-any-return]
        h = self.steps_h(u)
        deps = self.pattern[i]
        cols: list[npt.NDArray[np.float64]] = [np.empty(0)] * u.size
        for group in self.colours[i]:
            idx = np.array(group)
            th = {}
            for s_ in (1.0, -1.0):
                e = u.copy()
                e[idx] += s_ * h[idx]
                th[s_] = self.flat(self.theta(e, i)[2])
            for j in group:
                dj = deps[j]
                cols[j] = (th[1.0][dj] - th[-1.0][dj]) / (2.0 * h[j])
        self._jac_cache[:] = [key, cols]
        return cols

    # the objective on the tape -------------------------------------------------
    def components_theta(
        self, u: npt.NDArray[np.float64], i: int
    ) -> tuple[list[float], list[npt.NDArray[np.float64]]]:
        """The objective's smooth components for target i and their exact
        gradients with respect to theta: one (the final error, or the profile's
        mean) or, for ``"profile-max"``, the error after every step."""
        from . import _adjoint as ad
        from .exact import _final_moments, _forward_moments

        tab, sp, arrays = self.theta(u, i)
        assert self.pattern is not None
        names = [k for k in _THETA if arrays.get(k) is not None]
        sizes = [int(np.size(arrays[k])) for k in names]
        live_flat = np.zeros(sum(sizes), dtype=bool)
        for dj in self.pattern[i]:
            live_flat[dj] = True
        # per array: its offset in theta, the flat size of one leaf (a scalar, or
        # a row of the (NC, d) error terms), and which entries depend on u
        offsets: dict[str, int] = {}
        live: dict[str, Any] = {}
        pos = 0
        for k, n in zip(names, sizes):
            shp = np.shape(arrays[k])
            offsets[k] = pos
            live[k] = live_flat[pos: pos + n].reshape(shp)
            pos += n
        #: (name, index) -> (leaf, flat offset, flat size)
        leaves: dict[tuple[str, tuple[int, ...]], tuple[Any, int, int]] = {}

        def leaf(name: str, index: tuple[int, ...]) -> Any:
            """A differentiable entry (a row for the (NC, d) error terms), or the
            plain value when it does not depend on u."""
            key = (name, index)
            hit = leaves.get(key)
            if hit is not None:
                return hit[0]
            value = arrays[name][index]
            lv = live[name][index]
            scalar = np.ndim(value) == 0
            if not (lv if scalar else lv.any()):
                return float(value) if scalar else value
            arr = arrays[name]
            row = 1 if scalar else int(np.size(value))
            at = offsets[name] + row * int(
                np.ravel_multi_index(index, np.shape(arr)[: len(index)]))
            v = ad.Var(float(value) if scalar else np.asarray(value, dtype=np.float64))
            leaves[key] = (v, at, row)
            return v

        def coef(name: str, k: int, index: tuple[int, ...]) -> Any:
            return leaf(name, (k, *index))

        NC = tab.n_score_evals
        tg = self.targets[i]
        ref = self.refs[i]
        in_basis = self._in_basis(tg, sp.Q)
        ref_basis = self._in_basis(ref, sp.Q)
        assert in_basis is not None and ref_basis is not None  # checked in theta()
        mu_t, lam_t = in_basis
        with ad.Tape() as tape, np.errstate(over="ignore", invalid="ignore"):
            sv = copy.copy(sp)
            sv.P = [leaf("P", (c,)) for c in range(NC)]  # type: ignore[assignment]
            sv.N = [leaf("N", (c,)) for c in range(NC)]  # type: ignore[assignment]
            for name in ("lin", "lin_scalar", "bias"):
                if arrays[name] is not None:
                    setattr(sv, name, [leaf(name, (c,)) for c in range(NC)])
            if self.objective == "final":
                mean, var = _final_moments(tab, sv, coef)
                comps = [self._metric(mean, var, *ref_basis)]
            else:
                errs = []
                for k, mu, Sig in _forward_moments(tab, sv, coef):
                    if k == 0:
                        continue
                    a = leaf("ref_a", (k,))
                    s2 = leaf("ref_s2", (k,))
                    errs.append(self._metric(mu[0], Sig[0, 0], a * mu_t,
                                             (a * a) * lam_t + s2))
                if self.objective == "profile-max":
                    comps = errs
                else:
                    J = errs[0]
                    for e in errs[1:]:
                        J = J + e
                    comps = [J / float(len(errs))]
        vals: list[float] = []
        grads: list[npt.NDArray[np.float64]] = []
        for J in comps:
            g = np.zeros(pos)
            if not isinstance(J, ad.Var) or not np.isfinite(J.val):
                v = float(J.val if isinstance(J, ad.Var) else J)
                vals.append(v if np.isfinite(v) else float("inf"))
                grads.append(g)
                continue
            ad.backward(J, tape)
            for v, at, row in leaves.values():
                if v.grad is not None:
                    g[at: at + row] = ad.gradient(v) if row > 1 else v.grad
            vals.append(float(J.val))
            grads.append(g)
        return vals, grads

    def _metric(self, mean: Any, var: Any, mref: Any, vref: Any) -> Any:
        from . import _adjoint as ad

        dm = mean - mref
        if self.metric == "w2":
            # (sqrt v - sqrt vr)^2 without cancellation
            dv = (var - vref) / (ad.sqrt(var) + ad.sqrt(vref))
            sq = ad.total(dm * dm) + ad.total(dv * dv)
            return ad.sqrt(sq) if isinstance(sq, ad.Var) else float(np.sqrt(sq))
        t = (var - vref) / vref
        return 0.5 * (ad.total(ad.t_minus_log1p(t)) + ad.total(dm * dm / vref))

    def components(
        self, u: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """All smooth components over the targets, shape (M,), and their
        gradients in u, shape (M, N - 1); the objective is their maximum."""
        if self.pattern is None:
            self.find_pattern(u)
        assert self.pattern is not None
        vals: list[float] = []
        rows: list[npt.NDArray[np.float64]] = []
        for i in range(len(self.targets)):
            v, gth = self.components_theta(u, i)
            vals.extend(v)
            if not all(np.isfinite(v)):
                rows.extend(np.zeros(u.size) for _ in v)
                continue
            cols = self.jacobian(u, i)
            rows.extend(
                np.array([float(g[dj] @ c) for dj, c in zip(self.pattern[i], cols)])
                for g in gth
            )
        return np.array(vals), np.array(rows).reshape(len(vals), u.size)

    def value_grad_u(
        self, u: npt.NDArray[np.float64]
    ) -> tuple[float, npt.NDArray[np.float64]]:
        """The objective (the largest component) and its gradient in u."""
        vals, G = self.components(u)
        j = int(np.argmax(vals))
        if not np.isfinite(vals[j]):
            return float("inf"), np.zeros_like(u)
        return float(vals[j]), G[j]


class _NoAdjoint(Exception):
    """The exact gradient does not apply (no spectral recursion)."""


def _u_to_z_grad(
    param: _Param, z: npt.NDArray[np.float64], gu: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    r"""Chain rule from the interior u (shape (N - 1,)) to the logits z (N,).

    :math:`u_k = a + (b - a) \sum_{j<k} w_j`, :math:`w = (1 - F)\,
    \mathrm{softmax}(z) + F / N`.
    """
    s = _softmax(z)
    # dJ/dw_j = (b - a) sum_{k > j} dJ/du_k over the interior k = 1..N-1
    tail = np.concatenate([np.cumsum(gu[::-1])[::-1], [0.0]])
    gs = (1.0 - _FLOOR) * ((param.b - param.a) * tail)
    return s * (gs - float(s @ gs))


def _softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    w = np.exp(z - z.max())
    return w / w.sum()


def _fd_gradient(
    fz: Any, z: npt.NDArray[np.float64], h: float
) -> npt.NDArray[np.float64]:
    r"""Central differences :math:`(f(z + h e_i) - f(z - h e_i)) / 2h`, shape (n,)."""
    gr = np.zeros_like(z)
    for i in range(z.size):
        e = np.zeros_like(z)
        e[i] = h
        gr[i] = (fz(z + e) - fz(z - e)) / (2 * h)
    return gr


def optimize_grid(
    target: Any,
    process: Any,
    scheme: Any,
    steps: int,
    *,
    metric: str = "w2",
    delta: float = 1e-3,
    init: Any = None,
    score_error: Any = None,
    start: str | npt.ArrayLike = "logsnr",
    objective: str = "final",
    spectra: list[Any] | None = None,
    maxiter: int = 200,
    tol: float = 1e-10,
    fd_step: float = 1e-6,
    gradient: str = "auto",
    **scheme_options: Any,
) -> OptimizedGrid:
    r"""Grid minimising the exact error of ``scheme`` on a Gaussian target.

    Parameters
    ----------
    target : Gaussian
        Data law (spectral for O(N d) cost).
    process : Process
        Forward process; ``process.T`` is the start time.
    scheme : str or Tableau
        Any scheme with an exact law (:func:`scorelab.exact_law`).
    steps : int
        Number of steps N >= 1 (N - 1 free knots).
    metric : {"w2", "kl"}
        Error of the final law to :math:`p_\delta` (``objective="final"``).
    delta : float
        Final time, 0 < delta < T.
    init, score_error, **scheme_options
        Passed to :func:`scorelab.exact_law`.
    start : str, array_like or "best"
        A :data:`scorelab.GRID_KINDS` family, an explicit grid, or ``"best"``:
        every family that works for this process, starting from the smallest
        objective (so the result is never worse than the best family).
    objective : {"final", "profile", "profile-max"}
        Final-law error, or mean / max of W2 over the time profile
        (:func:`scorelab.analysis.w2_profile`; ``metric`` must be "w2").
    spectra : list of Gaussian, optional
        Extra targets; the objective is the worst over ``[target, *spectra]``.
    maxiter, tol : L-BFGS-B iteration limit and tolerance.
    fd_step : float
        Step of the central finite differences over the logits
        (``gradient="fd"``).
    gradient : {"auto", "adjoint", "fd"}
        ``"adjoint"``: exact reverse-mode gradient through the spectral
        recursion (:class:`_Adjoint`; one recursion and its reverse pass per
        gradient, plus 2 x (a few) coefficient-table builds); needs the
        spectral path of :func:`scorelab.exact_law` (scalar process, spectral
        target, initial law and errors in its eigenbasis). ``"fd"``: central
        finite differences over the logits (2 N exact laws per gradient).
        ``"auto"``: the adjoint where it applies, else finite differences.
        :attr:`OptimizedGrid.gradient` records which ran.

    Returns
    -------
    OptimizedGrid
        Never worse than its start (the start is returned if no improvement).

    Raises
    ------
    ValueError
        ``steps < 1``, ``delta`` outside (0, T), unknown ``start``, ``metric``,
        ``objective`` or ``gradient``, or ``gradient="adjoint"`` where the
        spectral recursion does not apply.
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    from .grids import GRID_KINDS, grid, validate_grid

    t0 = _time.perf_counter()
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient must be one of {GRADIENTS}, got {gradient!r}")
    if objective != "final" and metric != "w2":
        raise ValueError(f"objective {objective!r} needs metric='w2'")
    T = float(process.T)
    delta = float(delta)
    if not (0.0 < delta < T):
        raise ValueError(f"delta must lie in (0, T) = (0, {T!r}), got {delta!r}")
    targets = [target, *(spectra or [])]
    f = _make_objective(targets, process, scheme, delta, metric, objective, init,
                        score_error, scheme_options)
    family_errors: dict[str, float] = {}
    if isinstance(start, str):
        if start == "best":
            best: tuple[float, str, Any] | None = None
            for kind in GRID_KINDS:
                try:
                    g = grid(kind, steps, process=process, delta=delta)
                except ValueError:
                    continue
                v = f(g)
                family_errors[kind] = v
                if best is None or v < best[0]:
                    best = (v, kind, g)
            if best is None:
                raise ValueError("no grid family works for this process")
            name, g0 = best[1], best[2]
        elif start in GRID_KINDS:
            name, g0 = start, grid(start, steps, process=process, delta=delta)
        else:
            raise ValueError(
                f"start must be one of {(*GRID_KINDS, 'best')} or an array, "
                f"got {start!r}"
            )
    else:
        g0 = validate_grid(start, process)
        name = "explicit"
        if len(g0) != steps + 1 or g0[0] != T or g0[-1] != delta:
            raise ValueError(
                "an explicit start must have steps + 1 times from T to delta"
            )
    param = _Param(process, T, delta, steps)
    e0 = f(g0)
    evals = [0]
    history: list[float] = [e0]
    if steps == 1:
        return OptimizedGrid(g0, g0, name, e0, e0, tuple(history), metric, objective,
                             1, _time.perf_counter() - t0, family_errors=family_errors)

    z0 = param.logits(g0)
    adj: _Adjoint | None = None
    how = _FD_DOC
    if gradient != "fd":
        adj = _Adjoint(targets, process, scheme, delta, metric, objective, init,
                       score_error, scheme_options, param)
        try:
            adj.find_pattern(param.u(z0))
            how = _ADJOINT_DOC
        except _NoAdjoint:
            if gradient == "adjoint":
                raise ValueError(
                    "gradient='adjoint' needs the spectral exact law (a scalar "
                    "process, a spectral target, an initial law and error terms in "
                    "its eigenbasis); use gradient='fd' or 'auto'"
                ) from None
            adj = None

    def fz(z: npt.NDArray[np.float64]) -> float:
        evals[0] += 1
        return f(param.grid(z))

    last: list[Any] = []

    def fg(z: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        v, gr = fg_(z)
        last[:] = [np.array(z, copy=True), v]
        return v, gr

    def fg_(z: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        if adj is not None:
            evals[0] += 1
            v, gu = adj.value_grad_u(param.u(z))
            if not np.isfinite(v):
                return float("inf"), np.zeros_like(z)
            return v, _u_to_z_grad(param, z, gu)
        v = fz(z)
        gr = _fd_gradient(fz, z, fd_step)
        if not np.isfinite(v) or not np.all(np.isfinite(gr)):
            return (float("inf") if not np.isfinite(v) else v), np.zeros_like(z)
        return v, gr

    scale = max(e0, 1e-300) if np.isfinite(e0) else 1.0

    def fgs(z: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        v, gr = fg(z)
        return v / scale, gr / scale

    def cb(zk: npt.NDArray[np.float64]) -> None:
        # the optimiser has just evaluated its iterate: reuse that value
        if last and np.array_equal(last[0], zk):
            history.append(last[1])
        else:
            history.append(fz(zk))

    # L-BFGS-B's BLAS calls are tiny (N numbers): a threaded BLAS spends more
    # time waking threads than computing (measured 20x per call on 2 cores)
    def run() -> npt.NDArray[np.float64]:
        if adj is not None and (len(targets) > 1 or objective == "profile-max"):
            return _minimax(adj, param, z0, scale, maxiter, tol, history, evals)
        return np.asarray(minimize(fgs, z0, jac=True, method="L-BFGS-B", callback=cb,
                                   options={"maxiter": maxiter, "ftol": tol,
                                            "gtol": 1e-12}).x)

    with threadpool_limits(1, user_api="blas"):
        try:
            x = run()
        except _NoAdjoint as exc:
            # the table's structure changed along the way (e.g. a stage that
            # exists only for some step sizes): restart with differences
            if gradient == "adjoint":
                raise ValueError(f"gradient='adjoint': {exc}") from None
            adj, how = None, f"{_FD_DOC} (after the adjoint stopped: {exc})"
            del history[1:]
            x = run()
    g1 = param.grid(np.asarray(x))
    e1 = f(g1)
    ok = np.all(np.diff(g1) < 0) and np.isfinite(e1) and e1 < e0
    if not ok:
        g1, e1 = g0, e0
    return OptimizedGrid(g1, g0, name, e0, e1, tuple(history), metric, objective,
                         evals[0], _time.perf_counter() - t0, gradient=how,
                         family_errors=family_errors)


def _minimax(
    adj: _Adjoint,
    param: _Param,
    z0: npt.NDArray[np.float64],
    scale: float,
    maxiter: int,
    tol: float,
    history: list[float],
    evals: list[int],
) -> npt.NDArray[np.float64]:
    r"""Minimise the largest of several smooth components (the worst target of
    ``spectra``, or the worst step of ``"profile-max"``) in epigraph form,

    .. math::

        \min_{z, s}\ s \quad \text{subject to} \quad c_m(z) \le s
        \ \text{for every component } m,

    by SLSQP with the exact component gradients. (L-BFGS-B on the maximum
    itself stalls where two components cross: the maximum has a kink there,
    and the gradient of the active one jumps.)
    """
    from scipy.optimize import minimize

    cache: dict[bytes, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {}

    def comps(z: npt.NDArray[np.float64]) -> tuple[Any, Any]:
        key = np.asarray(z, dtype=np.float64).tobytes()
        if key not in cache:
            evals[0] += 1
            vals, G = adj.components(param.u(z))
            gz = np.array([_u_to_z_grad(param, z, g) for g in G])
            cache.clear()  # only the last point is ever asked for again
            cache[key] = (vals / scale, gz / scale)
            m = float(np.max(vals))
            if np.isfinite(m) and m < best[0]:
                best[:] = [m, np.array(z, dtype=np.float64)]
        return cache[key]

    # SLSQP's iterates need not be feasible, and it may stop at one that is worse
    # than a point it visited: the best point evaluated is returned
    best: list[Any] = [float("inf"), np.asarray(z0, dtype=np.float64)]

    n = z0.size

    def con(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        v = comps(x[:n])[0]
        return np.asarray(x[n] - v, dtype=np.float64)

    def con_jac(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        G = comps(x[:n])[1]
        return np.hstack([-G, np.ones((G.shape[0], 1))])

    def obj(x: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        g = np.zeros(n + 1)
        g[n] = 1.0
        return float(x[n]), g

    def cb(xk: npt.NDArray[np.float64]) -> None:
        v = comps(xk[:n])[0]
        history.append(float(np.max(v)) * scale)

    # restarted from the best point while a round improves it by > 1e-3
    # (relative), within maxiter iterations in all
    left = maxiter
    for _ in range(5):
        start_best = best[0] if np.isfinite(best[0]) else None
        z_start = np.asarray(best[1])
        s0 = float(np.max(comps(z_start)[0]))
        res = minimize(obj, np.concatenate([z_start, [s0]]), jac=True,
                       method="SLSQP",
                       constraints=[{"type": "ineq", "fun": con, "jac": con_jac}],
                       callback=cb, options={"maxiter": left, "ftol": tol})
        comps(np.asarray(res.x[:n]))
        left -= int(res.nit)
        if left <= 0 or (start_best is not None and best[0] > start_best * (1 - 1e-3)):
            break
    return np.asarray(best[1])
