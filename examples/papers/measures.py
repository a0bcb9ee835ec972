"""Measurements of paper 1's claims beyond Gaussian data, shared by ``paper1.py``
and ``tests/test_papers.py`` (one source of truth for each estimator).

- :func:`ks_to_gaussian_1d`: Kolmogorov distance of a 1-D sample to a Gaussian
  (a lower bound on TV; documented estimator, positive bias about 0.87/sqrt(n)).
- :func:`l2_vs_sup`: output error under two score errors with the same L2(p_t)
  size at every score-evaluation time, one concentrated where p_t is small
  (``scorelab.errors.Concentrated``), one spatially uniform
  (``scorelab.errors.equal_l2_bias``).
- :func:`girsanov_path_kl`: KL between the path laws of the exact reverse
  process and of the exponential integrator (continuous time, Girsanov), by
  Monte Carlo with a standard error, for any mixture; :func:`gaussian_girsanov_kl`
  is the same integral in closed form for Gaussian data (its oracle).
- :func:`gaussian_chain_kl`: KL between the grid chains of the exact reverse
  process and of the EI-SDE for Gaussian data and any linear process, CLD
  included (dense D x D, D = m d; exact).
- :func:`ring`, :func:`two_modes`, :func:`thin_modes`: the non-log-concave
  targets (the last one nearly without a density as its variance -> 0).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import norm

from scorelab.errors import Concentrated, equal_l2_bias
from scorelab.grids import grid
from scorelab.processes import OU, Process
from scorelab.sample import sample
from scorelab.targets import Gaussian, GaussianMixture, Target

FloatArray = np.ndarray


def ks_to_gaussian_1d(x: FloatArray, mean: float, sd: float) -> float:
    r"""Kolmogorov distance :math:`\sup_z |F_n(z) - \Phi((z - m)/s)|`.

    It is :math:`\sup_A |P(A) - Q(A)|` over half-lines, hence a lower bound on
    TV(law of x, N(m, s^2)); the empirical value is biased upwards by about
    :math:`0.87/\sqrt n` when the laws agree (the sampling floor).
    """
    z = np.sort(np.asarray(x, dtype=np.float64).ravel())
    n = z.size
    F = norm.cdf(z, mean, sd)
    up = np.arange(1, n + 1) / n - F
    down = F - np.arange(n) / n
    return float(max(up.max(), down.max()))


def l2_vs_sup(
    weights: list[float],
    n: int,
    reps: int,
    steps: int = 400,
    T: float = 8.0,
    delta: float = 1e-3,
    center: float = 4.0,
    width: float = 0.3,
    l2_samples: int = 20000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    r"""Output error of the EI-SDE under a concentrated and a uniform score error
    of equal :math:`L^2(p_t)` size.

    Data N(0, 1) in 1-D, OU forward process with horizon T, uniform grid of
    ``steps`` steps down to ``delta``, initial law N(0, 1). For each bump
    weight w: the concentrated error is ``Concentrated([center], w, width)``
    (the score of :math:`(1 - w) p_0 + w N(c, s^2)`); the uniform one is the
    bias of :func:`scorelab.errors.equal_l2_bias` with the same
    :math:`E_{p_{t_k}}|e|^2` at every score-evaluation time :math:`t_k`
    (importance-sampled, ``l2_samples`` draws per time). Output error: the
    Kolmogorov distance to :math:`p_\delta` (:func:`ks_to_gaussian_1d`, a
    lower bound on TV), mean and standard error over ``reps`` independent runs
    of ``n`` particles; ``w = 0`` rows give the error without score error (the
    discretisation error plus the sampling floor).

    Returns
    -------
    list of dict
        Keys ``weight``, ``l2_max`` (:math:`\max_k \epsilon_k`, A3's
        :math:`\epsilon_{score}`), ``l2_int`` (:math:`(\sum_k h_k
        \epsilon_k^2)^{1/2}`), ``l2_rel_se`` (largest relative standard error of
        the :math:`\epsilon_k^2`), ``sup`` (max of :math:`|e|` at the last
        evaluation time over a fine grid of y), ``ks_concentrated``,
        ``ks_uniform`` and their ``*_se``.
    """
    tg = Gaussian(np.zeros(1), np.eye(1))
    proc = OU(T=T)
    g = grid("uniform", steps, T=T, delta=delta)
    ref = tg.noised(proc, delta)
    m_ref, s_ref = float(ref.mean[0]), math.sqrt(float(ref.cov[0, 0]))
    h = g[:-1] - g[1:]

    def ks_runs(err: Any) -> tuple[float, float]:
        v = [
            ks_to_gaussian_1d(
                sample(
                    tg,
                    proc,
                    "ei-sde",
                    g,
                    n,
                    seed=np.random.SeedSequence([seed, r]),
                    score_error=err,
                ),
                m_ref,
                s_ref,
            )
            for r in range(reps)
        ]
        return float(np.mean(v)), float(np.std(v, ddof=1) / math.sqrt(reps))

    out: list[dict[str, Any]] = []
    k0, k0se = ks_runs(None)
    out.append(
        {
            "weight": 0.0,
            "l2_max": 0.0,
            "l2_int": 0.0,
            "l2_rel_se": 0.0,
            "sup": 0.0,
            "ks_concentrated": k0,
            "ks_concentrated_se": k0se,
            "ks_uniform": k0,
            "ks_uniform_se": k0se,
        }
    )
    y = np.linspace(-8.0, 8.0, 16001)[:, None]
    for w in weights:
        conc = Concentrated([center], w, width)
        bias, sizes, se = equal_l2_bias(conc, tg, proc, g[:-1], n=l2_samples, seed=seed)
        # sizes are at the sorted (increasing) times; the steps at decreasing ones
        eps_k = sizes[::-1]
        kc, kcse = ks_runs(conc)
        ku, kuse = ks_runs(bias)
        sup = float(np.max(np.abs(conc.error_field(tg, proc, float(g[-2]), y))))
        out.append(
            {
                "weight": w,
                "l2_max": float(sizes.max()),
                "l2_int": float(math.sqrt(np.sum(h * eps_k**2))),
                "l2_rel_se": float(np.max(se / np.maximum(sizes**2, 1e-300))),
                "sup": sup,
                "ks_concentrated": kc,
                "ks_concentrated_se": kcse,
                "ks_uniform": ku,
                "ks_uniform_se": kuse,
            }
        )
    return out


def ring(k: int = 8, radius: float = 4.0, var: float = 0.04) -> GaussianMixture:
    """Equal-weight 2-D mixture of k spherical Gaussians on a circle."""
    a = 2.0 * np.pi * np.arange(k) / k
    means = radius * np.stack([np.cos(a), np.sin(a)], axis=1)
    return GaussianMixture(np.full(k, 1.0 / k), means, np.full(k, var), "spherical")


def two_modes(d: int, dist: float = 10.0, var: float = 1.0) -> GaussianMixture:
    """(N(-dist/2 e_1, var I) + N(dist/2 e_1, var I))/2 in dimension d."""
    means = np.zeros((2, d))
    means[0, 0], means[1, 0] = -dist / 2, dist / 2
    return GaussianMixture([0.5, 0.5], means, np.full(2, var), "spherical")


def thin_modes(var: float) -> GaussianMixture:
    """Four modes at (+-1, +-1) with variance ``var`` (-> 0: no density)."""
    means = np.array([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    return GaussianMixture(np.full(4, 0.25), means, np.full(4, var), "spherical")


def _gl_nodes(k: int) -> tuple[FloatArray, FloatArray]:
    x, w = np.polynomial.legendre.leggauss(k)
    return 0.5 * (x + 1.0), 0.5 * w


def _forward_pair_law(proc: Process, t: float, t_hi: float) -> tuple[float, float]:
    """(a, s2): X_hi = a X_t + sqrt(s2) xi for the scalar forward process."""
    a = float(proc.alpha(t_hi)) / float(proc.alpha(t))
    s2 = float(proc.sigma2(t_hi)) - a * a * float(proc.sigma2(t))
    return a, max(s2, 0.0)


def girsanov_path_kl(
    target: Target,
    proc: Process,
    g: FloatArray,
    n: int = 2000,
    nodes: int = 4,
    seed: int = 0,
) -> tuple[float, float, FloatArray]:
    r"""Discretisation part of KL(exact reverse path || EI-SDE path), Monte Carlo.

    Both processes solve, in reverse time on :math:`[t_{k+1}, t_k]`,
    :math:`dY = (f Y + g^2 b)\,d\tau + g\,dB`, with :math:`b =
    \nabla\log p_t(Y_t)` for the exact reverse process and :math:`b =
    \nabla\log p_{t_k}(Y_{t_k})` (frozen at the left end of the step) for the
    exponential integrator (the EI-SDE step is the exact solution of that
    linear SDE). Girsanov's theorem with the expectation under the exact path
    law Q gives, for the part after a common initial law,

    .. math::

        \mathrm{KL}(Q \| \hat P) = \sum_k \int_{t_{k+1}}^{t_k}
        \frac{g(t)^2}{2}\, E_Q\big|\nabla\log p_t(X_t) -
        \nabla\log p_{t_k}(X_{t_k})\big|^2 dt.

    Under Q the pair :math:`(X_t, X_{t_k})` has the law of the *forward*
    process: :math:`X_t \sim p_t` and :math:`X_{t_k} = (\alpha_{t_k}/\alpha_t)
    X_t + (\sigma_{t_k}^2 - (\alpha_{t_k}/\alpha_t)^2\sigma_t^2)^{1/2}\xi`,
    both exact for mixtures. Each step's integral uses ``nodes``
    Gauss-Legendre nodes with ``n`` independent pairs per node; the standard
    error is that of the Monte Carlo means (the quadrature error is checked on
    Gaussians against :func:`gaussian_girsanov_kl`). The chain rule adds
    KL(p_T || initial law) for a sampler not started at p_T; Pinsker then
    bounds the TV of the output by :math:`\sqrt{\mathrm{KL}/2}`.

    Parameters
    ----------
    target : Gaussian or GaussianMixture
    proc : Process
        Scalar forward process.
    g : ndarray (N + 1,)
        Decreasing grid.
    n, nodes, seed
        Pairs per node, nodes per step, seed.

    Returns
    -------
    kl, stderr : float
    per_step : ndarray (N,)
        Each step's contribution.
    """
    x, w = _gl_nodes(nodes)
    ss = np.random.SeedSequence(seed).spawn(len(g) - 1)
    per = np.empty(len(g) - 1)
    var = 0.0
    for k in range(len(g) - 1):
        hi, lo = float(g[k]), float(g[k + 1])
        p_hi = target.noised(proc, hi)
        kids = ss[k].spawn(2 * nodes)
        tot = 0.0
        for j in range(nodes):
            t = lo + (hi - lo) * x[j]
            a, s2 = _forward_pair_law(proc, t, hi)
            xt = target.noised(proc, t).sample(n, kids[2 * j])
            z = np.random.default_rng(kids[2 * j + 1]).standard_normal(xt.shape)
            xh = a * xt + math.sqrt(s2) * z
            diff = target.noised(proc, t).score(xt) - p_hi.score(xh)
            v = np.einsum("ij,ij->i", diff, diff)
            c = (hi - lo) * w[j] * 0.5 * float(proc.g2(t))
            tot += c * float(v.mean())
            var += c * c * float(v.var(ddof=1)) / n
        per[k] = tot
    return float(per.sum()), math.sqrt(var), per


def gaussian_girsanov_kl(
    target: Gaussian, proc: Process, g: FloatArray, nodes: int = 4
) -> float:
    r""":func:`girsanov_path_kl` in closed form for Gaussian data (same quadrature).

    With :math:`p_t = N(m_t, S_t)`, :math:`X_{t_k} = a X_t + \epsilon`,
    :math:`\epsilon \sim N(0, s^2 I)`, :math:`m_{t_k} = a m_t`:
    :math:`E|S_t^{-1}(X_t - m_t) - S_{t_k}^{-1}(X_{t_k} - m_{t_k})|^2 =
    \mathrm{tr}(M S_t M^\top) + s^2\,\mathrm{tr}(S_{t_k}^{-2})`,
    :math:`M = a S_{t_k}^{-1} - S_t^{-1}`.
    """
    x, w = _gl_nodes(nodes)
    total = 0.0
    for k in range(len(g) - 1):
        hi, lo = float(g[k]), float(g[k + 1])
        Sh_inv = np.linalg.inv(target.noised(proc, hi).cov)
        for j in range(nodes):
            t = lo + (hi - lo) * x[j]
            a, s2 = _forward_pair_law(proc, t, hi)
            St = target.noised(proc, t).cov
            M = a * Sh_inv - np.linalg.inv(St)
            e2 = float(np.trace(M @ St @ M.T)) + s2 * float(np.trace(Sh_inv @ Sh_inv))
            total += (hi - lo) * w[j] * 0.5 * float(proc.g2(t)) * e2
    return total


def gaussian_chain_kl(target: Gaussian, proc: Process, g: FloatArray) -> float:
    r"""KL(exact reverse chain on the grid || EI-SDE chain), transitions only.

    Any linear process with blocks of size m (1, or 2 for CLD; state
    :math:`z = (x, v)` stacked as blocks of d). Forward transition from
    :math:`t_{k+1}` to :math:`t_k`: :math:`Z_{hi} = \Phi Z_{lo} + N(0, Q)`,
    :math:`\Phi = \Phi(t_k)\Phi(t_{k+1})^{-1}`, :math:`Q = N(t_k) - \Phi
    N(t_{k+1})\Phi^\top` (Kronecker with :math:`I_d`), so the exact reverse
    transition is :math:`N(m_{lo} + K(z - m_{hi}), V)`, :math:`K = S_{lo}
    \Phi^\top S_{hi}^{-1}`, :math:`V = S_{lo} - K S_{hi} K^\top`. The EI-SDE
    step is :math:`N(A z + b, \Sigma)`, :math:`A = r - c S_{hi}^{-1}`,
    :math:`b = c S_{hi}^{-1} m_{hi}`, :math:`\Sigma = n` (the coefficients of
    ``proc.ei_coefficients``). Averaging the Gaussian KL over
    :math:`z \sim p_{hi}` gives per step
    :math:`\tfrac12[\mathrm{tr}(\Sigma^{-1}V) - D + \log\det\Sigma -
    \log\det V + \mathrm{tr}(\Sigma^{-1}(K - A) S_{hi}(K - A)^\top) +
    u^\top\Sigma^{-1}u]`, :math:`u = m_{lo} - K m_{hi} - (A m_{hi} + b) +
    K m_{hi}`; the chain rule sums the steps.
    """
    d = target.dim
    eye = np.eye(d)
    hi, lo = g[:-1], g[1:]
    r, c, nn = proc.ei_coefficients(hi, lo)
    m = int(getattr(proc, "m", 1))
    shape = (hi.size, m, m)
    r, c, nn = (
        np.broadcast_to(
            np.asarray(v, dtype=float).reshape(-1, 1, 1)
            if np.ndim(v) <= 1
            else np.asarray(v, dtype=float),
            shape,
        )
        for v in (r, c, nn)
    )
    Phi, Nc = proc.marginal_maps(np.asarray(g, dtype=float))
    total = 0.0
    for k in range(hi.size):
        ph = proc.marginal(target, float(hi[k]))
        pl = proc.marginal(target, float(lo[k]))
        mh, Sh = ph.mean, ph.cov
        ml, Sl = pl.mean, pl.cov
        P = Phi[k] @ np.linalg.inv(Phi[k + 1])
        Pd = np.kron(P, eye)
        Shi = np.linalg.inv(Sh)
        K = Sl @ Pd.T @ Shi
        V = Sl - K @ Sh @ K.T
        V = 0.5 * (V + V.T)
        R, C, Sig = (np.kron(v[k], eye) for v in (r, c, nn))
        A = R - C @ Shi
        b = C @ Shi @ mh
        Sinv = np.linalg.inv(Sig)
        u = ml - A @ mh - b
        KA = K - A
        D = Sl.shape[0]
        _, ld_sig = np.linalg.slogdet(Sig)
        _, ld_v = np.linalg.slogdet(V)
        total += 0.5 * (
            float(np.trace(Sinv @ V))
            - D
            + ld_sig
            - ld_v
            + float(np.trace(Sinv @ KA @ Sh @ KA.T))
            + float(u @ Sinv @ u)
        )
    return total
