"""Paper 1: S. Chen, S. Chewi, J. Li, Y. Li, A. Salim, A. R. Zhang, "Sampling is
as easy as learning the score", arXiv:2209.11215 (ICLR 2023).

TV and KL bounds of the exponential-integrator DDPM on OU (:func:`chen_tv_bound`,
:func:`chen_kl_bound`, :func:`chen_iteration_complexity`) and the critically damped
Langevin statements (:func:`chen_cld_tv_bound`,
:func:`chen_cld_path_kl_lower_bound`). Formulas and provenance tags:
``docs/papers.md``.
"""

from __future__ import annotations

import math
from typing import Any

from .._validate import check_int, check_nonnegative, check_positive
from ._common import Bound, Complexity

__all__ = [
    "chen_cld_path_kl_lower_bound",
    "chen_cld_tv_bound",
    "chen_iteration_complexity",
    "chen_kl_bound",
    "chen_tv_bound",
]


def _chen_constants(
    L: float,
    d: int,
    m2: float,
    h: float,
    T: float,
    eps_score: float,
    kl_init: float,
    C: float,
) -> dict[str, Any]:
    """Paper 1's constants, validated, in the order of the bounds' signatures."""
    return {
        "L": check_positive(L, "L"),
        "d": check_int(d, "d", 1),
        "m2": check_nonnegative(m2, "m2"),
        "h": check_positive(h, "h"),
        "T": check_positive(T, "T"),
        "eps_score": check_nonnegative(eps_score, "eps_score"),
        "kl_init": check_nonnegative(kl_init, "kl_init"),
        "C": check_positive(C, "C"),
    }


def chen_tv_bound(
    L: float,
    d: int,
    m2: float,
    h: float,
    T: float,
    eps_score: float,
    kl_init: float,
    C: float = 1.0,
) -> Bound:
    r"""Paper 1, Theorem 2: TV error of the exponential-integrator DDPM on OU.

    .. math::

        \mathrm{TV}(p_T, q) \le C\Big(\sqrt{\mathrm{KL}(q\|N(0,I))}\,e^{-T}
        + (L\sqrt{d h} + L m_2 h)\sqrt T + \varepsilon_{score}\sqrt T\Big),

    for the OU process :math:`dX = -X dt + \sqrt2 dB` (``scorelab.OU()``), the
    score-frozen EI with constant step h, N = T/h steps, started at
    :math:`N(0, I)` without early stopping [read]. Hypotheses: the score of
    every :math:`q_t` is L-Lipschitz with :math:`L \ge 1`; :math:`m_2^2 =
    E|X_0|^2`; :math:`E_{q_{kh}}|s_{kh} - \nabla\log q_{kh}|^2 \le
    \varepsilon_{score}^2`; :math:`h \lesssim 1/L`. The paper states the
    bound up to a universal constant that it does not give: ``C`` (default 1)
    multiplies every term. ``valid`` is ``h * L <= 1`` and ``L >= 1``.

    Parameters
    ----------
    L : float
        Lipschitz constant of the scores along the flow (>= 1 in the paper).
    d : int
        Dimension.
    m2 : float
        :math:`m_2 = \sqrt{E|X_0|^2}`.
    h : float
        Step size.
    T : float
        Horizon.
    eps_score : float
        L2 score error.
    kl_init : float
        :math:`\mathrm{KL}(q \| N(0, I))`.
    C : float, default 1
        Universal constant.

    Returns
    -------
    Bound
        ``metric="TV"``; terms initialisation, discretisation, score.
    """
    k = _chen_constants(L, d, m2, h, T, eps_score, kl_init, C)
    L, d, m2, h, T, eps, kl, C = k.values()
    init = C * math.sqrt(kl) * math.exp(-T)
    disc = C * (L * math.sqrt(d * h) + L * m2 * h) * math.sqrt(T)
    score = C * eps * math.sqrt(T)
    return Bound.of_terms(
        metric="TV",
        initialisation=init,
        discretisation=disc,
        score=score,
        paper="Chen et al. 2023 (arXiv:2209.11215), Theorem 2",
        form="C (sqrt(KL) e^-T + (L sqrt(dh) + L m2 h) sqrt(T) + eps sqrt(T)) "
        "[read; universal constant C not given in the paper]",
        constants=k,
        valid=bool(h * L <= 1.0 and L >= 1.0),
        provenance="read",
    )


def chen_kl_bound(
    L: float,
    d: int,
    m2: float,
    h: float,
    T: float,
    eps_score: float,
    kl_init: float,
    C: float = 1.0,
) -> Bound:
    r"""Paper 1, path-space version (Girsanov, Theorem 9 form): KL of the output.

    .. math::

        \mathrm{KL}(q \| p_T) \le \mathrm{KL}(q\|N(0,I))\,e^{-2T}
        + C(L^2 d h + L^2 m_2^2 h^2)\,T + C\varepsilon_{score}^2 T.

    The last two terms bound the KL between the path measures of the exact
    reverse process and of the sampler started at the same point [read, up to
    the universal constant C, default 1]; the first is the KL of the
    initialisation, which contracts as :math:`e^{-2T}` under OU (log-Sobolev
    constant 1 of N(0, I)), and the chain rule for KL adds them. Hypotheses as
    in :func:`chen_tv_bound`.

    Returns
    -------
    Bound
        ``metric="KL"``.
    """
    k = _chen_constants(L, d, m2, h, T, eps_score, kl_init, C)
    L, d, m2, h, T, eps, kl, C = k.values()
    init = kl * math.exp(-2.0 * T)
    disc = C * (L * L * d * h + L * L * m2 * m2 * h * h) * T
    score = C * eps * eps * T
    return Bound.of_terms(
        metric="KL",
        initialisation=init,
        discretisation=disc,
        score=score,
        paper="Chen et al. 2023 (arXiv:2209.11215), path-space KL (Girsanov)",
        form="KL e^{-2T} + C (L^2 d h + L^2 m2^2 h^2) T + C eps^2 T "
        "[read up to C; the e^{-2T} initialisation term derived]",
        constants=k,
        valid=bool(h * L <= 1.0 and L >= 1.0),
        provenance="read",
    )


def chen_cld_tv_bound(
    L: float,
    d: int,
    m2: float,
    h: float,
    T: float,
    eps_score: float,
    kl_init: float,
    fi_init: float,
    c: float = 1.0,
    C: float = 1.0,
) -> Bound:
    r"""Paper 1, Theorem 6: TV of the critically damped Langevin (CLD) sampler.

    .. math::

        \mathrm{TV}(p_T, q) \lesssim \sqrt{\mathrm{KL}(q\|N(0,I)) + \mathrm{FI}(q\|
        N(0,I))}\;e^{-cT} + (L\sqrt{d h} + L m_2 h)\sqrt T
        + \varepsilon_{score}\sqrt T,

    the three terms of :func:`chen_tv_bound` with the initialisation term
    carrying the relative Fisher information :math:`\mathrm{FI}(q\|N(0,I)) =
    E_q|\nabla\log q - \nabla\log\gamma|^2` (for :math:`q = N(m, S)`:
    :math:`|m|^2 + \mathrm{tr}(S - 2I + S^{-1})`) and a decay rate c: CLD is not
    better than DDPM in this bound [read]. The rate c and the factor C are
    universal constants the paper does not give [read]; both are parameters
    (default 1). ``eps_score`` bounds the L2 error of the *velocity* score, the
    only one the reverse CLD uses. Hypotheses as in :func:`chen_tv_bound`.

    Returns
    -------
    Bound
        ``metric="TV"``; terms initialisation, discretisation, score.
    """
    k = _chen_constants(L, d, m2, h, T, eps_score, kl_init, C)
    L, d, m2, h, T, eps, kl, C = k.values()
    fi = check_nonnegative(fi_init, "fi_init")
    c = check_positive(c, "c")
    init = C * math.sqrt(kl + fi) * math.exp(-c * T)
    disc = C * (L * math.sqrt(d * h) + L * m2 * h) * math.sqrt(T)
    score = C * eps * math.sqrt(T)
    return Bound.of_terms(
        metric="TV",
        initialisation=init,
        discretisation=disc,
        score=score,
        paper="Chen et al. 2023 (arXiv:2209.11215), Theorem 6 (CLD)",
        form="C (sqrt(KL + FI) e^{-cT} + (L sqrt(dh) + L m2 h) sqrt(T) + eps sqrt(T)) "
        "[read; universal constants c and C not given in the paper]",
        constants={**k, "fi_init": fi, "c": c},
        valid=bool(h * L <= 1.0 and L >= 1.0),
        provenance="read",
    )


def chen_cld_path_kl_lower_bound(d: int, h: float, T: float, C: float = 1.0) -> Bound:
    r"""Paper 1, Theorem 7: the path-space KL of CLD's sampler is at least ~ d h T.

    .. math::

        \mathrm{KL}(\text{exact reverse path} \,\|\, \text{sampler path})
        \gtrsim d\,h\,T,

    even with the exact score, i.e. CLD's discretisation term in the
    path-space analysis is no smaller than DDPM's (:func:`chen_kl_bound`), which
    is why the paper conjectures no improvement in the dimension dependence
    [read]. The universal constant C is not given [read]; a parameter (default
    1). A lower bound: its value is in ``total`` (and ``discretisation``).

    Returns
    -------
    Bound
        ``metric="KL"``; only the discretisation term is non-zero.
    """
    d = check_int(d, "d", 1)
    h = check_positive(h, "h")
    T = check_positive(T, "T")
    C = check_positive(C, "C")
    disc = C * d * h * T
    return Bound(
        metric="KL",
        initialisation=0.0,
        discretisation=disc,
        score=0.0,
        total=disc,
        paper="Chen et al. 2023 (arXiv:2209.11215), Theorem 7 (CLD lower bound)",
        form="C d h T [read up to C; a LOWER bound on the path KL]",
        constants={"d": d, "h": h, "T": T, "C": C},
        valid=True,
        provenance="read",
    )


def chen_iteration_complexity(
    L: float, d: int, m2: float, eps: float, kl_init: float, C: float = 1.0
) -> Complexity:
    r"""Steps for :math:`\mathrm{TV} \le \varepsilon` from :func:`chen_tv_bound`.

    Splits :math:`\varepsilon` in thirds: :math:`T = \log(3C\sqrt{\mathrm{KL}}/
    \varepsilon)` (at least 0), the largest h with :math:`C(L\sqrt{dh} +
    L m_2 h)\sqrt T \le \varepsilon/3` (a quadratic in :math:`\sqrt h`, capped
    at :math:`1/L`), N = ceil(T/h), and score error at most
    :math:`\varepsilon/(3C\sqrt T)`. To leading order
    :math:`N = \tilde\Theta(L^2 d/\varepsilon^2)` [read].
    """
    L = check_positive(L, "L")
    d = check_int(d, "d", 1)
    m2 = check_nonnegative(m2, "m2")
    eps = check_positive(eps, "eps")
    kl = check_nonnegative(kl_init, "kl_init")
    C = check_positive(C, "C")
    T = max(math.log(3.0 * C * math.sqrt(kl) / eps), 1e-12) if kl > 0 else 1e-12
    rhs = eps / (3.0 * C * math.sqrt(T))
    a, b = L * m2, L * math.sqrt(d)
    x = (-b + math.sqrt(b * b + 4.0 * a * rhs)) / (2.0 * a) if a > 0 else rhs / b
    h = min(x * x, 1.0 / L)
    N = math.ceil(T / h)
    return Complexity(
        steps=float(N),
        step_size=h,
        T=T,
        score_error=rhs,
        formula="T = log(3C sqrt(KL)/eps); C(L sqrt(dh) + L m2 h) sqrt(T) = eps/3; "
        "N = T/h ~ L^2 d T^2 / eps^2",
        paper="Chen et al. 2023, Theorem 2 / Corollary",
        provenance="read",
    )
