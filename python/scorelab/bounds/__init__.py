r"""The three papers' error bounds as functions of (process, grid, constants).

Every bound returns a frozen :class:`Bound` record with named terms
(``initialisation``, ``discretisation``, ``score``) and their ``total``; every
iteration-complexity statement returns a :class:`Complexity` record. Helpers
compute the constants for scorelab's targets (:mod:`scorelab.bounds.regularity`:
:func:`gaussian_constants`, :func:`mixture_constants`,
:func:`log_concavity_profile`, :func:`weak_convexity_profile`,
:func:`regime_shift_time`).

Papers, one module each (formulas and provenance tags in ``docs/papers.md``; we
could not consult the PDFs, so every statement marked [recall] there is
implemented in the form written here and documented as such):

1. S. Chen, S. Chewi, J. Li, Y. Li, A. Salim, A. R. Zhang, "Sampling is as easy
   as learning the score", arXiv:2209.11215 (ICLR 2023),
   :mod:`scorelab.bounds.chen`: :func:`chen_tv_bound`, :func:`chen_kl_bound`,
   :func:`chen_iteration_complexity`, :func:`chen_cld_tv_bound`,
   :func:`chen_cld_path_kl_lower_bound`.
2. X. Gao, H. M. Nguyen, L. Zhu, "Wasserstein convergence guarantees for a
   general class of score-based generative models", arXiv:2311.11003 (JMLR 2025),
   :mod:`scorelab.bounds.gao`: :func:`certified_sde_w2` (derived here in the
   paper's structure; alias ``gao_w2_bound``), :func:`gao_gaussian_lower_bound`,
   :func:`gao_iteration_complexity`,
   :func:`gao_horizon`, :func:`gao_steps_needed` (and the exact Gaussian
   reference :func:`gaussian_ei_w2`).
3. M. Kremling, F. Iafrate, M. Taheri, J. Lederer, "Non-asymptotic error bounds
   for probability flow ODEs under weak log-concavity", arXiv:2510.17608,
   :mod:`scorelab.bounds.kremling`: :func:`certified_pfode_w2` (certified
   one-step recursion), :func:`kremling_w2_bound` (the paper's structure,
   constants ours), :func:`pfode_local_rate`; its regime shift and
   weak-convexity profile are :func:`regime_shift_time` and
   :func:`weak_convexity_profile`.

Provenance: every record says where its statement comes from in
``Bound.provenance`` / ``Complexity.provenance`` (``"read"``: recorded from the
paper, its unspecified universal constants exposed as parameters with default 1;
``"recall"``: from a secondary summary, not checked against the paper;
``"derived"``: derived here — :func:`certified_sde_w2`,
:func:`certified_pfode_w2`, :func:`gao_gaussian_lower_bound` and
:func:`gao_steps_needed` are of this kind, whatever paper's setting they serve).

Conventions: forward SDE :math:`dX = -f X dt + g dB`, :math:`X_t = \alpha_t X_0 +
\sigma_t Z`; reverse grid :math:`T = t_0 > \dots > t_N = \delta`; one reverse
exponential-integrator step from :math:`t_{hi}` to :math:`t_{lo}` is
:math:`y' = r y + c\, \hat s(y, t_{hi}) + \sqrt n \xi` (SDE) or
:math:`y' = r y + \frac c2 \hat s(y, t_{hi})` (probability-flow ODE), with the
coefficients of :meth:`~scorelab.processes.Process.ei_coefficients`.

The W2 recursions all rest on one synchronous-coupling argument (derived here,
[derived]): with :math:`X` the exact reverse process (:math:`X_{t} \sim p_t`) and
:math:`Y` the scheme driven by the same Brownian increments,

.. math::

    Y_{lo} - X_{lo} = \underbrace{r(Y_{hi} - X_{hi}) + c\,(s(Y_{hi}) -
    s(X_{hi}))}_{\text{Lipschitz } \rho_k} + c\,(\hat s - s)(Y_{hi})
    + \underbrace{\int_{lo}^{hi} \tfrac{\alpha_{lo}}{\alpha_u} g(u)^2
    (s(X_{hi}, t_{hi}) - s(X_u, u))\, du}_{\text{local error } \delta_k},

so by Minkowski :math:`e_{k+1} \le \rho_k e_k + \lVert\delta_k\rVert_{L^2} + c_k M`
with :math:`e_k = \lVert Y_{t_k} - X_{t_k}\rVert_{L^2} \ge W_2` and
:math:`\rho_k = \max(|r - c\kappa_{hi}|, |r - cL_{hi}|)` when
:math:`\kappa_t I \preceq -\nabla^2\log p_t \preceq L_t I` (the ODE uses
:math:`c/2`).
"""

from __future__ import annotations

# the aliases and LOCAL_NODES: importable as before, not in __all__
from ._common import LOCAL_NODES as LOCAL_NODES
from ._common import Bound, Complexity
from ._common import FloatArray as FloatArray
from ._common import GridLike as GridLike
from .chen import (
    chen_cld_path_kl_lower_bound,
    chen_cld_tv_bound,
    chen_iteration_complexity,
    chen_kl_bound,
    chen_tv_bound,
)
from .gao import (
    certified_sde_w2,
    gao_gaussian_lower_bound,
    gao_horizon,
    gao_iteration_complexity,
    gao_steps_needed,
    gao_w2_bound,
    gaussian_ei_w2,
)
from .kremling import certified_pfode_w2, kremling_w2_bound, pfode_local_rate
from .regularity import (
    FlowConstants,
    GaussianConstants,
    gaussian_constants,
    log_concavity_profile,
    mixture_constants,
    regime_shift_time,
    weak_convexity_profile,
)

__all__ = [
    "Bound",
    "Complexity",
    "FlowConstants",
    "GaussianConstants",
    "certified_pfode_w2",
    "certified_sde_w2",
    "chen_cld_path_kl_lower_bound",
    "chen_cld_tv_bound",
    "chen_iteration_complexity",
    "chen_kl_bound",
    "chen_tv_bound",
    "gao_gaussian_lower_bound",
    "gao_iteration_complexity",
    "gao_horizon",
    "gao_steps_needed",
    "gao_w2_bound",
    "gaussian_constants",
    "gaussian_ei_w2",
    "kremling_w2_bound",
    "log_concavity_profile",
    "mixture_constants",
    "pfode_local_rate",
    "regime_shift_time",
    "weak_convexity_profile",
]
