"""Exact output law of a sampler on a Gaussian target (no Monte Carlo noise).

With a Gaussian target and an affine score error, the score at every stage is
affine, :math:`\\hat s(y) = M_c y + v_c` with :math:`M_c = -C_c^{-1} + A_c` and
:math:`v_c = C_c^{-1} m_c + b_c`, so every stage of a scheme's coefficient table
(:mod:`scorelab.schemes`) is an affine map of the step's input and its fresh noise.
:func:`exact_law` executes the *same table* as :func:`scorelab.sample` on the mean
and covariance of the joint state (position plus kept scores): per step,

.. math::

    z' = \\mathcal A_k z + \\beta_k + \\mathcal G_k \\xi, \\qquad
    \\mu' = \\mathcal A_k \\mu + \\beta_k, \\quad
    \\Sigma' = \\mathcal A_k \\Sigma \\mathcal A_k^\\top
    + \\mathcal G_k \\mathcal G_k^\\top.

When the target covariance, the initial law and the error matrices share one
eigenbasis (the usual case), the recursion runs independently per eigen-direction
(blocks of size m); otherwise it runs on the full D x D covariance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import ScoreError
from .processes import Process
from .sample import init_law, prepare
from .schemes import Tableau
from .targets import Gaussian

__all__ = ["exact_law"]

FloatArray = npt.NDArray[np.float64]


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


def exact_law(
    target: Gaussian,
    process: Process,
    scheme: str | Tableau,
    grid: npt.ArrayLike,
    init: Any = None,
    score_error: ScoreError | None = None,
    return_state: bool = False,
    **scheme_options: Any,
) -> Gaussian:
    """Exact law of the scheme's output when the target is Gaussian.

    Parameters
    ----------
    target : Gaussian
        Data distribution :math:`\\mathcal N(\\mu, \\Sigma)`.
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
    **scheme_options
        Options of the scheme.

    Returns
    -------
    Gaussian
        Law of the output at ``grid[-1]`` (dimension d, or m d with
        ``return_state``).

    Notes
    -----
    Cost O(N S d (1 + H)^3 m^3) in a shared eigenbasis, O(N S (D (1 + H))^3)
    otherwise. Compare with ``target.noised(process, grid[-1])`` to isolate the
    discretisation (and initialisation) error.
    """
    if not isinstance(target, Gaussian):
        raise TypeError(
            f"target must be a scorelab Gaussian (exact laws need a Gaussian target), "
            f"got {type(target).__name__}"
        )
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
    m, D = tab.m, prep.D
    d = D // m
    phase = prep.phase
    mu0 = phase.means[0]
    S0 = phase.full_covariances()[0]
    if isinstance(init, str) and init == "exact":
        t0 = float(tab.times[0])
        if m == 1:
            marg = target.noised(process, t0)
        else:
            marg = process.marginal(target, t0)  # type: ignore[attr-defined]
        init_mean, init_cov = marg.mean, marg.cov
    elif not (init is None or isinstance(init, (str, Gaussian))):
        raise TypeError(
            "init must be a law (None, 'zero-data', 'exact' or a Gaussian) here"
        )
    else:
        il = init_law(init, process, target, float(tab.times[0]), 1, 0)
        assert il.mean is not None and il.chol is not None
        init_mean, init_cov = il.mean, il.chol @ il.chol.T
    terms = prep.terms
    NC = tab.n_score_evals

    # choose the basis: per eigen-direction of the position covariance, or dense
    Sx = S0[:d, :d]
    _, Q = np.linalg.eigh(Sx)
    Qf = np.kron(np.eye(m), Q)
    mats = [S0, init_cov]
    if terms.lin is not None:
        mats.extend(terms.lin[c] for c in range(NC))
    rot = [Qf.T @ M @ Qf for M in mats]
    blockwise = all(_is_blockwise(M, m, d) for M in rot)
    if blockwise:
        nb, B = d, m
        S0b = _blocks(rot[0], m, d)
        Pib = _blocks(rot[1], m, d)
        mu0b = _vec_blocks(Qf.T @ mu0, m, d)
        mib = _vec_blocks(Qf.T @ init_mean, m, d)
        lin_b = [_blocks(M, m, d) for M in rot[2:]] if terms.lin is not None else None
        bias_b = (
            np.stack([_vec_blocks(Qf.T @ terms.bias[c], m, d) for c in range(NC)])
            if terms.bias is not None
            else None
        )
        rep = 1  # coefficient m x m acts directly on a block
    else:
        nb, B = 1, D
        S0b, Pib = S0[None], init_cov[None]
        mu0b, mib = mu0[None], init_mean[None]
        lin_b = (
            [terms.lin[c][None] for c in range(NC)] if terms.lin is not None else None
        )
        bias_b = terms.bias[:, None, :] if terms.bias is not None else None
        rep = d  # coefficient acts as coef ⊗ I_d

    eyeB = np.eye(B)

    def kron_coef(c: FloatArray) -> FloatArray:
        return c if rep == 1 else np.asarray(np.kron(c, np.eye(rep)), dtype=np.float64)

    H, S, N = tab.history, tab.stages, tab.steps
    Z = (1 + H) * B
    mu = np.zeros((nb, Z))
    Sig = np.zeros((nb, Z, Z))
    mu[:, :B] = mib
    Sig[:, :B, :B] = Pib
    lin_s = terms.lin_scalar

    def score_affine(c: int) -> tuple[FloatArray, FloatArray]:
        Phi, Nc = prep.Phi[c], prep.Ncov[c]
        Pk, Nk = kron_coef(Phi), kron_coef(Nc)
        mean_c = np.einsum("ij,nj->ni", Pk, mu0b)
        cov_c = np.einsum("ij,njk,lk->nil", Pk, S0b, Pk) + Nk[None]
        cov_c = 0.5 * (cov_c + np.swapaxes(cov_c, 1, 2))
        Prec = np.linalg.inv(cov_c)
        Ms = -Prec
        v = np.einsum("nij,nj->ni", Prec, mean_c)
        if lin_b is not None:
            Ms = Ms + lin_b[c]
        if lin_s is not None:
            Ms = Ms + lin_s[c] * eyeB[None]
        if bias_b is not None:
            v = v + bias_b[c]
        return Ms, v

    SB = S * B
    for k in range(N):
        # registers as affine maps of (z, xi): A (nb, B, Z), b (nb, B), G (nb, B, SB)
        yA = [np.zeros((nb, B, Z))]
        yA[0][:, :, :B] = eyeB
        yb = [np.zeros((nb, B))]
        yG = [np.zeros((nb, B, SB))]
        sA: list[FloatArray | None] = [None] * S
        sb: list[FloatArray | None] = [None] * S
        sG: list[FloatArray | None] = [None] * S

        def eval_score(
            i: int,
            k: int = k,
            yA: list[FloatArray] = yA,
            yb: list[FloatArray] = yb,
            yG: list[FloatArray] = yG,
            sA: list[FloatArray | None] = sA,
            sb: list[FloatArray | None] = sb,
            sG: list[FloatArray | None] = sG,
        ) -> None:
            """Score of register i of step k as an affine map of (z, xi)."""
            c = int(tab.eval[k, i])
            if c < 0:
                return
            Ms, v = score_affine(c)
            sA[i] = np.einsum("nij,njk->nik", Ms, yA[i])
            sb[i] = np.einsum("nij,nj->ni", Ms, yb[i]) + v
            sG[i] = np.einsum("nij,njk->nik", Ms, yG[i])

        eval_score(0)
        for j in range(1, S + 1):
            A = np.zeros((nb, B, Z))
            b = np.zeros((nb, B))
            G = np.zeros((nb, B, SB))
            for i in range(j):
                cy = tab.Y[k, j - 1, i]
                if np.any(cy):
                    Kc = kron_coef(cy)
                    A += Kc @ yA[i]
                    b += yb[i] @ Kc.T
                    G += Kc @ yG[i]
                cs = tab.B[k, j - 1, i]
                if np.any(cs):
                    Kc = kron_coef(cs)
                    A += Kc @ sA[i]  # type: ignore[operator]
                    b += sb[i] @ Kc.T  # type: ignore[operator]
                    G += Kc @ sG[i]  # type: ignore[operator]
            for h in range(H):
                ch = tab.E[k, j - 1, h]
                if np.any(ch):
                    A[:, :, (1 + h) * B : (2 + h) * B] += kron_coef(ch)
            cn = tab.C[k, j - 1]
            if np.any(cn):
                G[:, :, (j - 1) * B : j * B] += kron_coef(cn)
            if j < S:
                yA.append(A)
                yb.append(b)
                yG.append(G)
                eval_score(j)
            else:
                xA, xb, xG = A, b, G
        # new joint state z' = (x', kept scores)
        nA = np.zeros((nb, Z, Z))
        nbv = np.zeros((nb, Z))
        nG = np.zeros((nb, Z, SB))
        nA[:, :B], nbv[:, :B], nG[:, :B] = xA, xb, xG
        kp = int(tab.keep[k])
        if H > 0:
            if kp >= 0:
                if kp < S:  # a score
                    src = (sA[kp], sb[kp], sG[kp])
                else:  # a stage state
                    src = (yA[kp - S], yb[kp - S], yG[kp - S])
                nA[:, B : 2 * B] = src[0]  # type: ignore[assignment]
                nbv[:, B : 2 * B] = src[1]  # type: ignore[assignment]
                nG[:, B : 2 * B] = src[2]  # type: ignore[assignment]
                for h in range(1, H):
                    nA[:, (1 + h) * B : (2 + h) * B, h * B : (1 + h) * B] = eyeB
            else:
                for h in range(H):
                    nA[:, (1 + h) * B : (2 + h) * B, (1 + h) * B : (2 + h) * B] = eyeB
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            mu = np.einsum("nij,nj->ni", nA, mu) + nbv
            Sig = np.einsum("nij,njk,nlk->nil", nA, Sig, nA) + np.einsum(
                "nij,nkj->nik", nG, nG
            )
            Sig = 0.5 * (Sig + np.swapaxes(Sig, 1, 2))
        if not (np.all(np.isfinite(Sig)) and np.all(np.isfinite(mu))):
            raise FloatingPointError(
                f"exact_law: the output law became non-finite at step {k} (from "
                f"t={tab.times[k]:.6g} to t={tab.times[k + 1]:.6g}) of scheme "
                f"{tab.name!r}: the scheme is unstable on this grid (steps too "
                "large), or a stage register overflows float64 (data-prediction "
                "schemes keep x / alpha(t), and its variance needs alpha(t) > 1e-150)"
            )

    mx, Sx_out = mu[:, :B], Sig[:, :B, :B]
    if blockwise:
        # back from per-direction blocks to the (m blocks of d) layout
        mean_full = Qf @ mx.T.reshape(-1)
        Cb = np.zeros((m, d, m, d))
        idx = np.arange(d)
        Cb[:, idx, :, idx] = Sx_out
        cov_full = Qf @ Cb.reshape(D, D) @ Qf.T
    else:
        mean_full, cov_full = mx[0], Sx_out[0]
    cov_full = 0.5 * (cov_full + cov_full.T)
    if return_state or m == 1:
        return Gaussian(mean_full, cov_full)
    return Gaussian(mean_full[:d], cov_full[:d, :d])
