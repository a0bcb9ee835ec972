r"""Exact output law of a sampler on a Gaussian target (no Monte Carlo noise).

With a Gaussian target and an affine score error, the score at every stage is
affine, :math:`\hat s(y) = M_c y + v_c` with :math:`M_c = -C_c^{-1} + A_c` and
:math:`v_c = C_c^{-1} m_c + b_c`, so every stage of a scheme's coefficient table
(:mod:`scorelab.schemes`) is an affine map of the step's input and its fresh noise.
:func:`exact_law` executes the *same table* as :func:`scorelab.sample` on the mean
and covariance of the joint state (position plus kept scores): per step,

.. math::

    z' = \mathcal A_k z + \beta_k + \mathcal G_k \xi, \qquad
    \mu' = \mathcal A_k \mu + \beta_k, \quad
    \Sigma' = \mathcal A_k \Sigma \mathcal A_k^\top
    + \mathcal G_k \mathcal G_k^\top.

When the target covariance, the initial law and the error matrices share one
eigenbasis (the usual case), the recursion runs independently per eigen-direction
(blocks of size m); otherwise it runs on the full D x D covariance. For a
*spectral* Gaussian (:meth:`~scorelab.targets.Gaussian.from_spectrum`,
:meth:`~scorelab.targets.Gaussian.from_data`) under a scalar process, with an
initial law and error terms in the same eigenbasis, the recursion runs on the
eigenvalues directly (arrays over all d directions, no d x d work) and returns a
spectral Gaussian: O(N S (1 + H)^3 d) in all. The output law alone is computed
backward (the adjoint recursion of :func:`_spectral_final`: one row of 1 + H
coefficients per direction instead of the covariance of the registers); the laws
at every grid time (``times="all"``, a :class:`LawPath`) forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from ._validate import check_gaussian
from .errors import ScoreError, StageTerms
from .processes import Process
from .sample import Prepared, init_law, prepare
from .schemes import Tableau
from .targets import Gaussian, Target

__all__ = ["LawPath", "exact_law"]

FloatArray = npt.NDArray[np.float64]
#: Affine map of a register (or of the joint state) in the step's input z and its
#: fresh noise xi: ``A z + b + G xi``, as arrays (nb, rows, Z), (nb, rows),
#: (nb, rows, S * bs).
Affine = tuple[FloatArray, FloatArray, FloatArray]

#: Whether :func:`exact_law` takes the per-eigenvalue path when it applies (tests
#: and benchmarks switch it off to time and compare the dense path).
_SPECTRAL = True


def _is_blockwise(M: FloatArray, m: int, d: int, tol: float = 1e-10) -> bool:
    """Whether M (D x D, D = m d) couples only equal coordinates of the m blocks."""
    T = M.reshape(m, d, m, d)
    off = T.copy()
    idx = np.arange(d)
    off[:, idx, :, idx] = 0.0
    scale = max(np.max(np.abs(M)), 1e-300)
    return bool(np.max(np.abs(off)) <= tol * scale)


def _blocks(M: FloatArray, m: int, d: int) -> FloatArray:
    """Per-direction m x m blocks (d, m, m) of a blockwise D x D matrix."""
    T = M.reshape(m, d, m, d)
    idx = np.arange(d)
    return np.ascontiguousarray(np.transpose(T[:, idx, :, idx], (0, 1, 2)))


def _vec_blocks(v: FloatArray, m: int, d: int) -> FloatArray:
    """Per-direction vectors (d, m) of a D vector."""
    return np.ascontiguousarray(v.reshape(m, d).T)


@dataclass
class _Basis:
    """Where the moment recursion runs: ``nb`` independent blocks of size ``bs``.

    Blockwise (a shared eigenbasis): one m x m block per eigen-direction of the
    position covariance (``nb = d``, ``bs = m``), the table's m x m coefficients
    acting directly. Dense: one block of the whole state (``nb = 1``, ``bs = D``),
    each coefficient acting as ``coef ⊗ I_d``. The data law (``mu0``, ``S0``), the
    initial law and the error terms are stored in that basis.
    """

    blockwise: bool
    m: int
    d: int
    nb: int
    bs: int
    Qf: FloatArray
    mu0: FloatArray
    S0: FloatArray
    init_mean: FloatArray
    init_cov: FloatArray
    lin: list[FloatArray] | None
    bias: FloatArray | None

    def kron(self, c: FloatArray) -> FloatArray:
        """A table coefficient (m x m) acting on one block."""
        if self.blockwise:
            return c
        return np.asarray(np.kron(c, np.eye(self.d)), dtype=np.float64)

    def to_state(self, mx: FloatArray, Sx: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Mean and covariance in the state layout (m blocks of d) from the blocks."""
        m, d = self.m, self.d
        if self.blockwise:
            mean_full = self.Qf @ mx.T.reshape(-1)
            Cb = np.zeros((m, d, m, d))
            idx = np.arange(d)
            Cb[:, idx, :, idx] = Sx
            cov_full = self.Qf @ Cb.reshape(m * d, m * d) @ self.Qf.T
        else:
            mean_full, cov_full = mx[0], Sx[0]
        return mean_full, 0.5 * (cov_full + cov_full.T)


def _choose_basis(
    phase: Target,
    init_mean: FloatArray,
    init_cov: FloatArray,
    terms: StageTerms,
    NC: int,
    m: int,
) -> _Basis:
    """Choose where the recursion runs (see :class:`_Basis`).

    Per eigen-direction of the position covariance when the data law, the initial
    law and the linear error matrices all share that eigenbasis, else dense.
    """
    D = phase.dim
    d = D // m
    mu0 = phase.means[0]
    S0 = phase.full_covariances()[0]
    Sx = S0[:d, :d]
    _, Q = np.linalg.eigh(Sx)
    Qf = np.kron(np.eye(m), Q)
    mats = [S0, init_cov]
    if terms.lin is not None:
        mats.extend(terms.lin[c] for c in range(NC))
    rot = [Qf.T @ M @ Qf for M in mats]
    if all(_is_blockwise(M, m, d) for M in rot):
        return _Basis(
            blockwise=True,
            m=m,
            d=d,
            nb=d,
            bs=m,
            Qf=Qf,
            mu0=_vec_blocks(Qf.T @ mu0, m, d),
            S0=_blocks(rot[0], m, d),
            init_mean=_vec_blocks(Qf.T @ init_mean, m, d),
            init_cov=_blocks(rot[1], m, d),
            lin=(
                [_blocks(M, m, d) for M in rot[2:]] if terms.lin is not None else None
            ),
            bias=(
                np.stack([_vec_blocks(Qf.T @ terms.bias[c], m, d) for c in range(NC)])
                if terms.bias is not None
                else None
            ),
        )
    return _Basis(
        blockwise=False,
        m=m,
        d=d,
        nb=1,
        bs=D,
        Qf=Qf,
        mu0=mu0[None],
        S0=S0[None],
        init_mean=init_mean[None],
        init_cov=init_cov[None],
        lin=[terms.lin[c][None] for c in range(NC)] if terms.lin is not None else None,
        bias=terms.bias[:, None, :] if terms.bias is not None else None,
    )


def _affine_score(
    prep: Prepared, basis: _Basis, c: int
) -> tuple[FloatArray, FloatArray]:
    """Score at score-evaluation time c as ``y -> Ms y + v`` per block.

    Exact score of the data component pushed to that time, plus the affine error
    terms: ``Ms = -C_c^{-1} + A_c`` and ``v = C_c^{-1} m_c + b_c``.
    """
    Pk, Nk = basis.kron(prep.Phi[c]), basis.kron(prep.Ncov[c])
    mean_c = np.einsum("ij,nj->ni", Pk, basis.mu0)
    cov_c = np.einsum("ij,njk,lk->nil", Pk, basis.S0, Pk) + Nk[None]
    cov_c = 0.5 * (cov_c + np.swapaxes(cov_c, 1, 2))
    Prec = np.linalg.inv(cov_c)
    Ms = -Prec
    v = np.einsum("nij,nj->ni", Prec, mean_c)
    if basis.lin is not None:
        Ms = Ms + basis.lin[c]
    lin_s = prep.terms.lin_scalar
    if lin_s is not None:
        Ms = Ms + lin_s[c] * np.eye(basis.bs)[None]
    if basis.bias is not None:
        v = v + basis.bias[c]
    return Ms, v


def _step_map(prep: Prepared, basis: _Basis, k: int) -> Affine:
    """Step k of the table as an affine map of the joint state z and the noise.

    The joint state is the position followed by the H kept scores (Z = (1 + H) bs
    rows per block); the map gives z' = (x', kept scores) after the step.
    """
    tab = prep.table
    nb, bs = basis.nb, basis.bs
    H, S = tab.history, tab.stages
    Z, SB = (1 + H) * bs, S * bs
    eye = np.eye(bs)
    # stage states y_i and their scores s_i as affine maps of (z, xi)
    y0: Affine = (np.zeros((nb, bs, Z)), np.zeros((nb, bs)), np.zeros((nb, bs, SB)))
    y0[0][:, :, :bs] = eye
    ys: list[Affine] = [y0]
    scores: dict[int, Affine] = {}

    def evaluate(i: int) -> None:
        c = int(tab.eval[k, i])
        if c < 0:
            return
        Ms, v = _affine_score(prep, basis, c)
        yA, yb, yG = ys[i]
        scores[i] = (
            np.einsum("nij,njk->nik", Ms, yA),
            np.einsum("nij,nj->ni", Ms, yb) + v,
            np.einsum("nij,njk->nik", Ms, yG),
        )

    evaluate(0)
    for j in range(1, S + 1):
        A = np.zeros((nb, bs, Z))
        b = np.zeros((nb, bs))
        G = np.zeros((nb, bs, SB))
        for i in range(j):
            for coef, src in ((tab.Y[k, j - 1, i], ys), (tab.B[k, j - 1, i], scores)):
                if np.any(coef):
                    Kc = basis.kron(coef)
                    sA, sb, sG = src[i]
                    A += Kc @ sA
                    b += sb @ Kc.T
                    G += Kc @ sG
        for h in range(H):
            ch = tab.E[k, j - 1, h]
            if np.any(ch):
                A[:, :, (1 + h) * bs : (2 + h) * bs] += basis.kron(ch)
        cn = tab.C[k, j - 1]
        if np.any(cn):
            G[:, :, (j - 1) * bs : j * bs] += basis.kron(cn)
        if j < S:
            ys.append((A, b, G))
            evaluate(j)
        else:
            xA, xb, xG = A, b, G
    # new joint state z' = (x', kept scores)
    nA = np.zeros((nb, Z, Z))
    nbv = np.zeros((nb, Z))
    nG = np.zeros((nb, Z, SB))
    nA[:, :bs], nbv[:, :bs], nG[:, :bs] = xA, xb, xG
    kp = int(tab.keep[k])
    if H > 0:
        if kp >= 0:
            # a score (kp < S) or a stage state
            kA, kb, kG = scores[kp] if kp < S else ys[kp - S]
            nA[:, bs : 2 * bs] = kA
            nbv[:, bs : 2 * bs] = kb
            nG[:, bs : 2 * bs] = kG
            for h in range(1, H):
                nA[:, (1 + h) * bs : (2 + h) * bs, h * bs : (1 + h) * bs] = eye
        else:
            for h in range(H):
                nA[:, (1 + h) * bs : (2 + h) * bs, (1 + h) * bs : (2 + h) * bs] = eye
    return nA, nbv, nG


def _propagate(
    mu: FloatArray, Sig: FloatArray, step: Affine
) -> tuple[FloatArray, FloatArray]:
    """Mean and covariance after ``z' = A z + b + G xi``; may overflow to inf/NaN."""
    nA, nbv, nG = step
    with np.errstate(over="ignore", invalid="ignore"):  # the caller checks
        mu = np.einsum("nij,nj->ni", nA, mu) + nbv
        Sig = np.einsum("nij,njk,nlk->nil", nA, Sig, nA) + np.einsum(
            "nij,nkj->nik", nG, nG
        )
        Sig = 0.5 * (Sig + np.swapaxes(Sig, 1, 2))
    return mu, Sig


def _initial_law(
    init: Any, prep: Prepared, process: Process, target: Gaussian
) -> tuple[FloatArray, FloatArray]:
    """Mean and covariance of the state at ``t_0`` (``init`` as in exact_law)."""
    t0 = float(prep.table.times[0])
    if isinstance(init, str) and init == "exact":
        marg = process.marginal(target, t0)
        return marg.mean, marg.cov
    if not (init is None or isinstance(init, (str, Gaussian))):
        raise TypeError(
            "init must be a law (None, 'zero-data', 'exact' or a Gaussian) here"
        )
    il = init_law(init, process, target, t0, 1, 0)
    assert il.mean is not None and il.chol is not None
    return il.mean, il.chol @ il.chol.T


def _same_basis(Q1: FloatArray | None, Q2: FloatArray | None) -> bool:
    """Whether two eigenbases (None: the identity) are the same."""
    if Q1 is None or Q2 is None:
        return Q1 is None and Q2 is None
    return Q1 is Q2 or bool(np.array_equal(Q1, Q2))


def _rotate(Q: FloatArray | None, v: FloatArray) -> FloatArray:
    """Coordinates ``Q^T v`` of vectors ``v`` (..., d) in the basis Q."""
    return v if Q is None else np.asarray(v @ Q, dtype=np.float64)


def _in_basis(
    g: Gaussian, Q: FloatArray | None
) -> tuple[FloatArray, FloatArray] | None:
    """Mean (rotated) and variances of a spectral Gaussian with basis Q, else None."""
    spec = g.spectrum
    if spec is None or not _same_basis(spec[1], Q):
        return None
    return _rotate(Q, g.mean), spec[0]


@dataclass
class _Spectral:
    """Inputs of the per-eigenvalue recursion (scalar processes, m = 1).

    ``Q`` is the shared eigenbasis (None: identity), ``lam`` and ``mu0`` the
    eigenvalues and rotated mean of the score target; the affine score ``y -> Ms
    y + v`` of score evaluation c is formed per call of :meth:`score` (O(d); a
    table of all of them would cost O(NC d) memory and, measured, time).
    """

    Q: FloatArray | None
    lam: FloatArray
    mu0: FloatArray
    init_mean: FloatArray
    init_var: FloatArray
    P: FloatArray
    N: FloatArray
    lin: FloatArray | None
    lin_scalar: FloatArray | None
    bias: FloatArray | None
    def score(self, c: int) -> tuple[FloatArray, FloatArray]:
        """``(Ms, v)`` per direction at score evaluation c (:func:`_affine_score`).

        ``P``, ``N`` (and the error terms) may hold differentiable scalars
        (:mod:`scorelab._adjoint`) instead of floats; the arithmetic is the same.
        """
        P, Nc = _scalar(self.P[c]), _scalar(self.N[c])
        Ms = -1.0 / ((P * P) * self.lam + Nc)
        v = Ms * ((-P) * self.mu0)  # = C_c^{-1} P mu0, exactly
        if self.lin is not None:
            Ms = Ms + self.lin[c]
        if self.lin_scalar is not None:
            Ms = Ms + self.lin_scalar[c]
        if self.bias is not None:
            v = v + self.bias[c]
        return Ms, v


def _scalar(x: Any) -> Any:
    """A NumPy scalar as a Python float (faster arithmetic); anything else as is."""
    return float(x) if isinstance(x, np.floating) else x


def _spectral_setup(
    target: Gaussian, process: Process, prep: Prepared, init: Any
) -> _Spectral | None:
    """The per-eigenvalue form of the problem, or None when it does not apply.

    It applies to a scalar process and a spectral score target whose eigenbasis
    is shared by the initial law (prior, zero-data, the exact marginal of a
    spectral target, or a spectral Gaussian) and the linear error matrices.
    """
    tab, phase, terms = prep.table, prep.phase, prep.terms
    if tab.m != 1 or not isinstance(phase, Gaussian) or phase.spectrum is None:
        return None
    lam, Q = phase.spectrum
    d = lam.shape[0]
    t0 = float(tab.times[0])
    if init is None or (isinstance(init, str) and init == "zero-data"):
        init_mean = np.zeros(d)
        init_var = np.full(d, float(process.prior_variance(init, T=t0)))
    elif isinstance(init, str) and init == "exact":
        law = _in_basis(target, Q)
        if law is None:
            return None
        P0, N0 = process.marginal_maps(t0)
        a, s2 = float(P0[0, 0, 0]), float(N0[0, 0, 0])
        init_mean, init_var = a * law[0], a * a * law[1] + s2
    elif isinstance(init, Gaussian) and init.dim == d:
        law = _in_basis(init, Q)
        if law is None:
            return None
        init_mean, init_var = law
    else:
        return None  # the dense path validates and raises
    NC = tab.n_score_evals
    lin = None
    if terms.lin is not None:
        rot = [terms.lin[c] if Q is None else Q.T @ terms.lin[c] @ Q for c in range(NC)]
        if not all(_is_blockwise(R, 1, d) for R in rot):
            return None
        lin = np.stack([np.diagonal(R) for R in rot])
    return _Spectral(
        Q=Q,
        lam=lam,
        mu0=_rotate(Q, phase.mean),
        init_mean=init_mean,
        init_var=init_var,
        P=prep.Phi[:NC, 0, 0].copy(),
        N=prep.Ncov[:NC, 0, 0].copy(),
        lin=lin,
        lin_scalar=terms.lin_scalar,
        bias=None if terms.bias is None else _rotate(Q, terms.bias[:NC]),
    )


#: An affine form per direction, ``sum_key coef[key] * key``, over the keys
#: ``("z", j)`` (register j of the step's input), ``("xi", s)`` (the step's noise
#: s) and ``("b",)`` (the constant); a coefficient is a float when it is the same
#: for all directions, else an array (d,). Absent keys have coefficient 0.
_Form = dict[tuple[Any, ...], Any]
_ONE = ("b",)


def _mul(a: Any, b: Any) -> Any:
    """``a * b``, skipping the multiplication by an exact float 1."""
    if isinstance(a, float) and a == 1.0:
        return b
    if isinstance(b, float) and b == 1.0:
        return a
    return a * b


def _axpy(acc: _Form, c: Any, f: _Form) -> None:
    """``acc += c * f`` (c a float or an array)."""
    for key, val in f.items():
        term = _mul(c, val)
        acc[key] = acc[key] + term if key in acc else term


#: Reads a table coefficient of step k: ``coef(name, k, index)`` with name one of
#: "Y", "B", "E", "C" and index the entry's position after k, as a float (0.0 for
#: an absent term) or a differentiable scalar (:mod:`scorelab._adjoint`).
Coef = Any


def _table_coef(tab: Tableau) -> Coef:
    """The coefficients of ``tab`` as floats (m = 1)."""
    arrays = {"Y": tab.Y, "B": tab.B, "E": tab.E, "C": tab.C}

    def coef(name: str, k: int, index: tuple[int, ...]) -> Any:
        return float(arrays[name][(k, *index)][0, 0])

    return coef


def _is_zero(c: Any) -> bool:
    return isinstance(c, float) and c == 0.0


def _spectral_step(tab: Tableau, sp: _Spectral, k: int, coef: Coef) -> list[_Form]:
    """Step k as affine forms of the new registers ``(x', kept scores)``.

    The m = 1 form of :func:`_step_map`, per direction, with the coefficients
    that are the same for all directions kept as floats. ``coef`` reads the
    table's coefficients (:func:`_table_coef`, or differentiable ones).
    """
    H, S = tab.history, tab.stages
    ys: list[_Form] = [{("z", 0): 1.0}]
    scores: dict[int, _Form] = {}

    def evaluate(i: int) -> None:
        c = int(tab.eval[k, i])
        if c >= 0:
            Ms, v = sp.score(c)
            f: _Form = {key: _mul(Ms, val) for key, val in ys[i].items()}
            f[_ONE] = f[_ONE] + v if _ONE in f else v
            scores[i] = f

    evaluate(0)
    x: _Form = ys[0]
    for j in range(1, S + 1):
        y: _Form = {}
        for i in range(j):
            for name, src in (("Y", ys), ("B", scores)):
                cf = coef(name, k, (j - 1, i))
                if not _is_zero(cf):
                    _axpy(y, cf, src[i])
        for h in range(H):
            ch = coef("E", k, (j - 1, h))
            if not _is_zero(ch):
                _axpy(y, ch, {("z", 1 + h): 1.0})
        cn = coef("C", k, (j - 1,))
        if not _is_zero(cn):
            _axpy(y, cn, {("xi", j - 1): 1.0})
        if j < S:
            ys.append(y)
            evaluate(j)
        else:
            x = y
    new = [x]
    kp = int(tab.keep[k])
    if H > 0:
        if kp >= 0:
            new.append(scores[kp] if kp < S else ys[kp - S])
            new.extend({("z", h): 1.0} for h in range(1, H))
        else:
            new.extend({("z", 1 + h): 1.0} for h in range(H))
    return new


def _forward_moments(
    tab: Tableau, sp: _Spectral, coef: Coef = None
) -> Any:
    """The forward recursion on the registers' moments, one step at a time.

    Yields ``(k, mu, Sig)`` before the first step (k = 0) and after every step
    (k = 1..N): means ``mu[j]`` and covariances ``Sig[(j, l)]`` (j <= l) of the
    registers, arrays over the directions (or differentiable values, with a
    differentiable ``coef``). Non-finite values propagate (NaN is sticky).
    """
    if coef is None:
        coef = _table_coef(tab)
    Z = 1 + tab.history
    d = sp.init_mean.shape[0]
    zero = np.zeros(d)
    mu: list[Any] = [sp.init_mean] + [zero] * (Z - 1)
    Sig: dict[tuple[int, int], Any] = {
        (j, ll): zero for j in range(Z) for ll in range(j, Z)
    }
    Sig[0, 0] = sp.init_var
    yield 0, mu, Sig
    for k in range(tab.steps):
        new = _spectral_step(tab, sp, k, coef)
        zs = [{key[1]: c for key, c in f.items() if key[0] == "z"} for f in new]
        xs = [{key[1]: c for key, c in f.items() if key[0] == "xi"} for f in new]
        mu_new: list[Any] = []
        for f, z in zip(new, zs):
            acc = f.get(_ONE, 0.0)
            for j, c in z.items():
                acc = acc + _mul(c, mu[j])
            mu_new.append(acc if not isinstance(acc, float) else np.full(d, acc))
        Sig_new: dict[tuple[int, int], Any] = {}
        for i in range(Z):
            # row i of A Sig: T[q] = sum_j A[i, j] Sig[j, q]
            T: dict[int, Any] = {}
            for j, c in zs[i].items():
                for q in range(Z):
                    term = _mul(c, Sig[min(j, q), max(j, q)])
                    T[q] = T[q] + term if q in T else term
            for ll in range(i, Z):
                terms = [_mul(c, T[q]) for q, c in zs[ll].items() if q in T]
                terms += [
                    _mul(c, xs[ll][s_]) for s_, c in xs[i].items() if s_ in xs[ll]
                ]
                acc = terms[0] if terms else zero
                for term in terms[1:]:
                    acc = acc + term
                Sig_new[i, ll] = acc if not isinstance(acc, float) else zero + acc
        mu, Sig = mu_new, Sig_new
        yield k + 1, mu, Sig


def _spectral_law(
    tab: Tableau,
    sp: _Spectral,
    check_each: bool = False,
    path: tuple[FloatArray, FloatArray] | None = None,
) -> Gaussian:
    """Run the per-eigenvalue recursion; the output law as a spectral Gaussian.

    :func:`_forward_moments` with checks: finiteness is checked at the end; the
    recursion is then rerun with ``check_each`` to name the step. With ``path =
    (means, variances)``, arrays (N + 1, d), row k receives the position's mean
    (in the basis coordinates) and variances after k steps.
    """

    def finite(mu: list[Any], Sig: dict[tuple[int, int], Any]) -> bool:
        return all(np.all(np.isfinite(a)) for a in (*mu, *Sig.values()))

    with np.errstate(over="ignore", invalid="ignore"):  # checked below
        for k, mu, Sig in _forward_moments(tab, sp):
            if path is not None:
                path[0][k], path[1][k] = mu[0], Sig[0, 0]
            if check_each and k > 0 and not finite(mu, Sig):
                _non_finite(tab, k - 1)
    if not finite(mu, Sig) and not check_each:
        _spectral_law(tab, sp, check_each=True)
        _non_finite(tab, tab.steps - 1)  # not reached: the rerun raises
    mean = mu[0] if sp.Q is None else sp.Q @ mu[0]
    return Gaussian.from_spectrum(np.maximum(Sig[0, 0], 0.0), sp.Q, mean)


@dataclass(frozen=True)
class LawPath:
    r"""Exact laws of a sampler's output after every step of its grid.

    Returned by :func:`exact_law` with ``times="all"``: row k is the law of the
    position after k steps, at time ``times[k]`` (row 0 is the initial law,
    row N the output law).

    Attributes
    ----------
    times : numpy.ndarray, shape (N + 1,)
        The grid :math:`t_0 > \dots > t_N`.
    mean_coords : numpy.ndarray, shape (N + 1, d)
        Means in the coordinates of ``basis`` (:math:`Q^\top m_k`; the means
        themselves when ``basis`` is None).
    variances : numpy.ndarray, shape (N + 1, d), or None
        Spectral paths: the variances along the basis directions (the laws are
        :math:`\mathcal N(Q c_k, Q \operatorname{diag}(v_k) Q^\top)`).
    covariances : numpy.ndarray, shape (N + 1, d, d), or None
        Dense paths: the covariances.
    basis : numpy.ndarray, shape (d, d), or None
        Eigenbasis of a spectral path (None: the identity, or a dense path).
        Exactly one of ``variances`` and ``covariances`` is set
        (:attr:`spectral`).
    """

    times: FloatArray
    mean_coords: FloatArray
    variances: FloatArray | None = None
    covariances: FloatArray | None = None
    basis: FloatArray | None = None
    _means: list[FloatArray] = field(default_factory=list, repr=False, compare=False)

    @property
    def spectral(self) -> bool:
        """Whether the laws are stored per eigen-direction (no d x d matrices)."""
        return self.variances is not None

    @property
    def steps(self) -> int:
        """Number of steps N."""
        return int(self.times.shape[0]) - 1

    @property
    def dim(self) -> int:
        """Dimension d of the laws."""
        return int(self.mean_coords.shape[1])

    @property
    def means(self) -> FloatArray:
        """Means, shape (N + 1, d), in the standard coordinates (O(N d^2) once
        when a basis is set)."""
        if self.basis is None:
            return self.mean_coords
        if not self._means:
            self._means.append(self.mean_coords @ self.basis.T)
        return self._means[0]

    def __len__(self) -> int:
        return int(self.times.shape[0])

    def law(self, k: int) -> Gaussian:
        """The law after k steps (negative k counts from the end) as a Gaussian;
        spectral for a spectral path."""
        n = len(self)
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise TypeError(f"k must be an integer, got {type(k).__name__}")
        if not -n <= k < n:
            raise IndexError(f"k = {k} is out of range for a path of {n} laws")
        c = self.mean_coords[k]
        mean = c if self.basis is None else self.basis @ c
        if self.variances is not None:
            return Gaussian.from_spectrum(
                np.maximum(self.variances[k], 0.0), self.basis, mean
            )
        assert self.covariances is not None
        return Gaussian(mean, self.covariances[k])

    @property
    def final(self) -> Gaussian:
        """The output law (after N steps), as :func:`exact_law` returns it."""
        return self.law(-1)


def _spectral_final(tab: Tableau, sp: _Spectral) -> Gaussian:
    r"""The output law by the adjoint (backward) form of the recursion.

    The output is linear in the initial registers and the noises:
    :math:`x_N = r_0^\top z_0 + \sum_k (r_{k+1}^\top b_k + r_{k+1}^\top G_k
    \xi_k)` with the row :math:`r_N = e_0` and :math:`r_k^\top = r_{k+1}^\top
    A_k`, per direction. Going backward over the steps carries one row of Z
    coefficients instead of the Z (Z + 1) / 2 covariance entries, so each
    step costs O(nnz(A_k) + nnz(G_k)) array operations. The initial law has
    only the position register, so :math:`\operatorname{mean} = r_{0,0} m_0 +
    \sum_k r_{k+1}^\top b_k` and :math:`\operatorname{var} = r_{0,0}^2 v_0 +
    \sum_k \sum_s (r_{k+1}^\top G_{k, s})^2`. A non-finite result falls back
    to the forward recursion (:func:`_spectral_law`), which names the step.
    """
    mean, var = _final_moments(tab, sp)
    d = sp.init_mean.shape[0]
    mean = np.broadcast_to(np.asarray(mean, dtype=np.float64), (d,))
    var = np.broadcast_to(np.asarray(var, dtype=np.float64), (d,))
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var))):
        return _spectral_law(tab, sp)
    out_mean = mean.copy() if sp.Q is None else sp.Q @ mean
    return Gaussian.from_spectrum(np.maximum(var, 0.0), sp.Q, out_mean)


def _final_moments(tab: Tableau, sp: _Spectral, coef: Coef = None) -> tuple[Any, Any]:
    """Mean (basis coordinates) and variances of the output, by the adjoint
    recursion of :func:`_spectral_final` (floats, arrays (d,) or differentiable
    values with a differentiable ``coef``; not checked for finiteness)."""
    if coef is None:
        coef = _table_coef(tab)
    Z = 1 + tab.history
    r: list[Any] = [1.0] + [0.0] * (Z - 1)
    mean_acc: Any = 0.0
    var_acc: Any = 0.0
    with np.errstate(over="ignore", invalid="ignore"):  # checked by the caller
        for k in range(tab.steps - 1, -1, -1):
            new = _spectral_step(tab, sp, k, coef)
            r_old: dict[int, Any] = {}
            noise: dict[int, Any] = {}
            for ri, f in zip(r, new):
                if _is_zero(ri):
                    continue
                for key, c in f.items():
                    term = _mul(ri, c)
                    if key[0] == "z":
                        j = key[1]
                        r_old[j] = r_old[j] + term if j in r_old else term
                    elif key[0] == "xi":
                        s_ = key[1]
                        noise[s_] = noise[s_] + term if s_ in noise else term
                    else:
                        mean_acc = mean_acc + term
            for c in noise.values():
                var_acc = var_acc + c * c
            r = [r_old.get(j, 0.0) for j in range(Z)]
        mean = _mul(r[0], sp.init_mean) + mean_acc
        var = _mul(r[0] * r[0], sp.init_var) + var_acc
    return mean, var


def _non_finite(tab: Tableau, k: int) -> None:
    """Raise the error for a law that became non-finite at step k."""
    raise FloatingPointError(
        f"exact_law: the output law became non-finite at step {k} (from "
        f"t={tab.times[k]:.6g} to t={tab.times[k + 1]:.6g}) of scheme "
        f"{tab.name!r}: the scheme is unstable on this grid (steps too "
        "large), or a stage register overflows float64 (data-prediction "
        "schemes keep x / alpha(t), and its variance needs alpha(t) > 1e-150)"
    )


@overload
def exact_law(
    target: Gaussian,
    process: Process,
    scheme: str | Tableau,
    grid: npt.ArrayLike,
    init: Any = ...,
    score_error: ScoreError | None = ...,
    return_state: bool = ...,
    times: Literal["final"] = ...,
    **scheme_options: Any,
) -> Gaussian: ...


@overload
def exact_law(
    target: Gaussian,
    process: Process,
    scheme: str | Tableau,
    grid: npt.ArrayLike,
    init: Any = ...,
    score_error: ScoreError | None = ...,
    return_state: bool = ...,
    *,
    times: Literal["all"],
    **scheme_options: Any,
) -> LawPath: ...


def exact_law(
    target: Gaussian,
    process: Process,
    scheme: str | Tableau,
    grid: npt.ArrayLike,
    init: Any = None,
    score_error: ScoreError | None = None,
    return_state: bool = False,
    times: str = "final",
    **scheme_options: Any,
) -> Gaussian | LawPath:
    r"""Exact law of the scheme's output when the target is Gaussian.

    Parameters
    ----------
    target : Gaussian
        Data distribution :math:`\mathcal N(\mu, \Sigma)`.
    process : Process
        Forward process.
    scheme : str or Tableau
        Sampler name or compiled table (the same one :func:`scorelab.sample` runs).
    grid : array_like, shape (N + 1,)
        Decreasing times.
    init : None, "zero-data", "exact" or Gaussian, optional
        Law at ``t_0``: the process prior (default), the law of :math:`X_{t_0}`
        given :math:`X_0 = 0`, the exact marginal :math:`p_{t_0}`, or a Gaussian in
        the process's state space.
    score_error : affine scorelab.errors model, optional
        Bias/linear errors (and misspecification by another Gaussian) keep the law
        Gaussian; non-affine models raise ``ValueError``.
    return_state : bool, default False
        For phase-space processes, return the law of the whole state.
    times : {"final", "all"}, default "final"
        ``"final"``: the output law. ``"all"``: the laws after every step, as a
        :class:`LawPath` (O(N d) memory on the spectral path, O(N d^2) dense).
    **scheme_options
        Options of the scheme.

    Returns
    -------
    Gaussian or LawPath
        Law of the output at ``grid[-1]`` (dimension d, or m d with
        ``return_state``); with ``times="all"`` the laws at every grid time.

    Notes
    -----
    Cost O(N S d (1 + H)^3 m^3) in a shared eigenbasis, O(N S (D (1 + H))^3)
    otherwise. A spectral target (:meth:`Gaussian.from_spectrum`,
    :meth:`Gaussian.from_data`) under a scalar process, with ``init`` None,
    "zero-data", "exact" or a spectral Gaussian in the same basis and linear
    errors diagonal in it, skips every d x d operation and returns a spectral
    Gaussian (``.cov`` densifies on access); otherwise the law is dense.
    There the output law is computed backward (adjoint recursion), which
    never forms the variances of the stored registers: a data-prediction
    register that overflows float64 at large T (x / alpha(t)) stops the
    forward recursions (dense, and ``times="all"``) but not this one.
    Compare with ``target.noised(process, grid[-1])`` to isolate the
    discretisation (and initialisation) error;
    :func:`scorelab.analysis.w2_profile` does so at every grid time.

    Examples
    --------
    The schemes' options are those of :func:`scorelab.sample` (listed in its
    Examples): ``ddim`` ``eta``; ``ddpm`` ``beta``, ``variance``; ``heun``
    ``s_churn``, ``s_tmin``, ``s_tmax``, ``s_noise``; ``unipc-2``
    ``solver_type``; ``pc`` ``predictor``, ``corrector_steps``, ``snr``,
    ``predictor_options``; the other schemes have none.

    >>> import numpy as np
    >>> import scorelab as sl
    >>> target = sl.Gaussian(np.zeros(3), np.diag([0.5, 1.0, 2.0]))
    >>> process = sl.VP()
    >>> g = sl.grid("uniform", 100, process=process)
    >>> law = sl.exact_law(target, process, "ei-ode", g, init="exact")
    >>> ref = target.noised(process, g[-1])
    >>> w100 = sl.w2_gaussian(law.mean, law.cov, ref.mean, ref.cov)
    >>> g2 = sl.grid("uniform", 200, process=process)
    >>> law2 = sl.exact_law(target, process, "ei-ode", g2, init="exact")
    >>> ref2 = target.noised(process, g2[-1])
    >>> w200 = sl.w2_gaussian(law2.mean, law2.cov, ref2.mean, ref2.cov)
    >>> 1.8 < w100 / w200 < 2.2  # first order
    True
    >>> law = sl.exact_law(target, process, "heun", g, s_churn=1.0)
    >>> law.cov.shape
    (3, 3)

    Spectral laws (shared eigenbasis) and the whole path:

    >>> import numpy as np
    >>> from scorelab import VP, Gaussian, exact_law, grid, w2_gaussian
    >>> target = Gaussian.from_spectrum(np.arange(1.0, 9.0) ** -1.5)
    >>> proc = VP()
    >>> t = grid("uniform", 100, process=proc, delta=1e-3)
    >>> law = exact_law(target, proc, "ei-sde", t)
    >>> law.spectrum is not None  # spectral in, spectral out
    True
    >>> w2 = w2_gaussian(law, target.noised(proc, t[-1]))
    >>> path = exact_law(target, proc, "ei-sde", t, times="all")
    >>> path.variances.shape
    (101, 8)
    >>> bool(np.allclose(path.final.spectrum[0], law.spectrum[0], rtol=1e-12))
    True
    """
    if times not in ("final", "all"):
        raise ValueError(f"times must be 'final' or 'all', got {times!r}")
    target = check_gaussian(target, why="exact laws need a Gaussian target")
    prep = prepare(target, process, scheme, grid, score_error, scheme_options)
    if not prep.terms.affine:
        raise ValueError(
            "score_error must be affine in y (Bias, Linear, Misspecified by a "
            "Gaussian) for an exact law; use sample() for non-affine errors"
        )
    if (
        not isinstance(prep.score_target, Gaussian)
        and prep.score_target.n_components != 1
    ):
        raise ValueError("exact_law needs a Gaussian score target (K = 1)")
    tab = prep.table
    if _SPECTRAL:
        sp = _spectral_setup(target, process, prep, init)
        if sp is not None:
            if times == "final":
                return _spectral_final(tab, sp)
            d = sp.init_mean.shape[0]
            rec = (np.empty((tab.steps + 1, d)), np.empty((tab.steps + 1, d)))
            _spectral_law(tab, sp, path=rec)
            return LawPath(
                times=np.array(tab.times, dtype=np.float64),
                mean_coords=rec[0],
                variances=np.maximum(rec[1], 0.0),
                basis=sp.Q,
            )
    init_mean, init_cov = _initial_law(init, prep, process, target)
    basis = _choose_basis(
        prep.phase, init_mean, init_cov, prep.terms, tab.n_score_evals, tab.m
    )
    nb, bs = basis.nb, basis.bs
    Z = (1 + tab.history) * bs
    mu = np.zeros((nb, Z))
    Sig = np.zeros((nb, Z, Z))
    mu[:, :bs] = basis.init_mean
    Sig[:, :bs, :bs] = basis.init_cov
    # the position block (the whole state for m = 1) unless return_state
    n_out = basis.d * (basis.m if return_state else 1)

    def output() -> tuple[FloatArray, FloatArray]:
        mean_full, cov_full = basis.to_state(mu[:, :bs], Sig[:, :bs, :bs])
        return mean_full[:n_out], cov_full[:n_out, :n_out]

    laws = [output()] if times == "all" else []
    for k in range(tab.steps):
        mu, Sig = _propagate(mu, Sig, _step_map(prep, basis, k))
        if not (np.all(np.isfinite(Sig)) and np.all(np.isfinite(mu))):
            _non_finite(tab, k)
        if times == "all":
            laws.append(output())
    if times == "all":
        return LawPath(
            times=np.array(tab.times, dtype=np.float64),
            mean_coords=np.stack([m for m, _ in laws]),
            covariances=np.stack([c for _, c in laws]),
        )
    return Gaussian(*output())
