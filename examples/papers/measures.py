"""Measurements of paper 1's claims beyond Gaussian data, shared by ``paper1.py``
and ``tests/test_papers.py`` (one source of truth for each estimator).

- :func:`ks_to_gaussian_1d`: Kolmogorov distance of a 1-D sample to a Gaussian
  (a lower bound on TV; documented estimator, positive bias about 0.87/sqrt(n)).
- :func:`l2_vs_sup`: output error under two score errors with the same L2(p_t)
  size at every score-evaluation time, one concentrated where p_t is small
  (``scorelab.errors.Concentrated``), one spatially uniform
  (``scorelab.errors.equal_l2_bias``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import norm

from scorelab.errors import Concentrated, equal_l2_bias
from scorelab.grids import grid
from scorelab.processes import OU
from scorelab.sample import sample
from scorelab.targets import Gaussian

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
