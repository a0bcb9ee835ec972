r"""Reverse-time grids :math:`T = t_0 > t_1 > \dots > t_N = \delta`.

:func:`grid` builds the standard schedules and validates user-supplied grids;
:func:`validate_grid` is the validator other modules call on user arrays.

Kinds (``N = steps``, :math:`i = 0, \dots, N`):

``"uniform"``
    :math:`t_i = T + \frac{i}{N}(\delta - T)`.
``"logsnr"``
    uniform in the log-SNR :math:`\lambda(t) = \log(\alpha/\sigma)` between
    :math:`\lambda(T)` and :math:`\lambda(\delta)`, mapped back with
    :meth:`~scorelab.processes.Process.t_from_log_snr` (needs a process).
``"karras"``
    EDM's schedule (Karras et al. 2022) in the noise level
    :math:`s(t) = \sigma(t)/\alpha(t) = e^{-\lambda(t)}`:
    :math:`s_i = (s_{max}^{1/\rho} + \frac{i}{N}(s_{min}^{1/\rho} -
    s_{max}^{1/\rho}))^\rho`, :math:`s_{max} = s(T)`, :math:`s_{min} = s(\delta)`,
    :math:`\rho = 7` by default, mapped back to ``t`` (needs a process).
``"power"``
    :math:`t_i = (T^{1/\rho} + \frac{i}{N}(\delta^{1/\rho} - T^{1/\rho}))^\rho`,
    :math:`\rho = 2` by default (denser near :math:`\delta`).
``"exponential"``
    the early-stopping schedule of the theory papers (Benton et al.; Chen et al.):
    step :math:`h_k = \kappa \min(1, t_k)`, i.e. constant steps while
    :math:`t \ge 1` and geometric decay below 1, with :math:`\kappa \in (0, 1)`
    found by bisection so that exactly ``N`` steps lead from :math:`T` to
    :math:`\delta` (so ``N`` must exceed :math:`T - \delta`; ValueError
    otherwise). For :math:`T \le 1` this is the geometric grid
    :math:`t_i = T (\delta/T)^{i/N}`.
``"quadratic"``
    the time-quadratic schedule of DDIM (Song, Meng & Ermon 2021, "Denoising
    Diffusion Implicit Models", Sec. D.2: :math:`\tau_i \propto i^2`), counted
    from the early-stopping time: :math:`t_i = \delta + (T - \delta)(1 - i/N)^2`.
``"ays"``
    the closed-form schedule that Align Your Steps (Sabour, Fidler & Kreis 2024,
    "Align Your Steps", Sec. 3, Gaussian data :math:`N(0, c^2 I)`) derives for a
    Gaussian of variance :math:`c^2`: uniform in :math:`\arctan(s/c)`, where
    :math:`s(t) = \sigma(t)/\alpha(t) = e^{-\lambda(t)}` is the noise level,
    :math:`s_i = c \tan((1 - \frac{i}{N}) \arctan(s_{max}/c) + \frac{i}{N}
    \arctan(s_{min}/c))`, mapped back to ``t`` (needs a process; ``c = 1`` by
    default, option ``c``).
``"cosine"``
    the log-SNR of the cosine schedule (Nichol & Dhariwal 2021, "Improved
    Denoising Diffusion Probabilistic Models", Eq. 17:
    :math:`\bar\alpha(u) = \cos^2(\frac{\pi}{2}\frac{u + s}{1 + s})`, so
    :math:`\lambda(u) = -\log\tan(\frac{\pi}{2}\frac{u + s}{1 + s})`) at
    uniform :math:`u`, between :math:`\lambda(T)` and :math:`\lambda(\delta)`.
    Since :math:`(u + s)/(1 + s)` is affine in ``u``, the offset ``s`` drops out
    once both endpoints are fixed, and the grid is ``"ays"`` with ``c = 1``
    (uniform in :math:`\arctan e^{-\lambda}`); needs a process.
``"beta_a"``
    the parametric noise schedules of Strasman, Ocello, Boyer, Le Corff &
    Lemaire (2025), "An analysis of the noise schedule for score-based
    generative models" (TMLR; arXiv:2402.04650), as defined in the authors'
    code (class ``beta_parametric`` of their repository
    StanislasStrasman/Noise_Schedule_for_Score-based_Generative_Models):
    :math:`\beta_a(u) = \beta_{min} + (\beta_{max} - \beta_{min})
    \frac{e^{au} - 1}{e^{aT_a} - 1}` on :math:`u \in [0, T_a]`, linear at
    :math:`a = 0`, convex for :math:`a > 0`, concave for :math:`a < 0`, with the
    values of the authors' experiments :math:`\beta_{min} = 0.1`,
    :math:`\beta_{max} = 20`, :math:`T_a = 1` (the paper's equation number is
    not quoted here: the definition was taken from that code and its
    documentation). The authors' samplers step uniformly in the time ``u`` of
    the variance-preserving process with this schedule, whose marginals depend
    on :math:`B_a(u) = \int_0^u \beta_a` alone (:math:`\alpha = e^{-B_a/2}`,
    :math:`\lambda = -\frac12 \log(e^{B_a} - 1)`). The grid carries that
    uniform ``u`` grid to the given process by matching noise levels:
    :math:`u_i = u_T + \frac{i}{N}(u_\delta - u_T)` with :math:`u_T, u_\delta`
    solving :math:`\lambda_a(u) = \lambda(T), \lambda(\delta)`, and
    :math:`t_i = \lambda^{-1}(\lambda_a(u_i))`. Under ``VP()`` (the same linear
    schedule 0.1 to 20 on [0, 1]) ``a = 0`` gives the ``"uniform"`` grid. Option
    ``a`` (default 0, :math:`|a| \le 100`; the authors scan
    :math:`a \in [-10, 10]`); needs a process.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._validate import check_int, check_positive, check_process, check_real

if TYPE_CHECKING:
    from .processes import Process

__all__ = ["GRID_KINDS", "GRID_KIND_OPTIONS", "grid", "validate_grid"]

#: Names of the built-in grid kinds accepted by :func:`grid`.
GRID_KINDS: tuple[str, ...] = (
    "uniform",
    "logsnr",
    "karras",
    "power",
    "exponential",
    "quadratic",
    "ays",
    "cosine",
    "beta_a",
)

_NEEDS_PROCESS = ("logsnr", "karras", "ays", "cosine", "beta_a")
_DEFAULT_RHO = {"karras": 7.0, "power": 2.0}
_ALLOW_ZERO = ("uniform", "power", "quadratic")

#: Keyword options of :func:`grid` per kind (``rho``: the exponent of
#: ``karras`` and ``power``; ``c``: the data standard deviation of ``ays``);
#: a kind not listed takes none. Study files accept exactly these options
#: (:data:`scorelab.study.parse.GRID_OPTIONS`).
GRID_KIND_OPTIONS: dict[str, tuple[str, ...]] = {
    "karras": ("rho",),
    "power": ("rho",),
    "ays": ("c",),
    "beta_a": ("a",),
}


def _steps_for_nfe(
    nfe: int,
    scheme: str,
    process: Process | None,
    options: dict[str, Any] | None,
) -> int:
    """Largest number of steps whose score evaluations under ``scheme`` fit in nfe."""
    from .schemes import scheme_nfe

    budget = check_int(nfe, "nfe", 1)
    opts = dict(options or {})
    if scheme_nfe(scheme, 1, process, **opts) > budget:
        raise ValueError(
            f"nfe = {budget} is too small for scheme {scheme!r}: one step needs "
            f"{scheme_nfe(scheme, 1, process, **opts)} score evaluations"
        )
    # evaluations grow with the number of steps (at least one per step): bisect
    lo, hi = 1, budget
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if scheme_nfe(scheme, mid, process, **opts) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def validate_grid(
    t: npt.ArrayLike, process: Process | None = None, allow_zero: bool = False
) -> npt.NDArray[np.float64]:
    """Validate a user-supplied reverse-time grid.

    Parameters
    ----------
    t : array_like, shape (N + 1,)
        Times ``t_0 > t_1 > ... > t_N > 0`` (``t_N >= 0`` with ``allow_zero``).
    process : Process, optional
        If given, ``t_0`` must not exceed ``process.t_max``.
    allow_zero : bool, default False
        Accept a grid ending at exactly ``t_N = 0`` (the samplers accept it, see
        :func:`scorelab.compile_scheme`; the bounds and error models need
        ``t_N > 0``).

    Returns
    -------
    numpy.ndarray, shape (N + 1,)
        A ``float64`` copy of ``t``.

    Raises
    ------
    TypeError
        If ``t`` is not real-valued.
    ValueError
        If ``t`` is not 1-D, has fewer than 2 entries, contains NaN or inf, is not
        strictly decreasing, ends at a time ``<= 0`` (``< 0`` with
        ``allow_zero``) or starts after
        ``process.t_max``.
    """
    try:
        raw = np.asarray(t)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"t must be a 1-D array of times ({exc})") from exc
    if raw.dtype.kind not in "iuf":
        raise TypeError(f"t must be real numbers, got dtype {raw.dtype}")
    arr = np.array(raw, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"t must be 1-D, got shape {arr.shape}")
    if arr.size < 2:
        raise ValueError(f"t must have at least 2 entries, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("t must be finite (no NaN or inf)")
    if not np.all(np.diff(arr) < 0.0):
        k = int(np.argmax(np.diff(arr) >= 0.0))
        raise ValueError(
            f"t must be strictly decreasing, got t[{k}] = {arr[k]!r} <= "
            f"t[{k + 1}] = {arr[k + 1]!r}"
        )
    if arr[-1] < 0.0 or (arr[-1] == 0.0 and not allow_zero):
        raise ValueError(f"t must end at a positive time, got t[-1] = {arr[-1]!r}")
    if process is not None:
        process = check_process(process)
    if process is not None and arr[0] > process.t_max:
        raise ValueError(
            f"t must start at or before process.t_max = {process.t_max!r}, "
            f"got t[0] = {arr[0]!r}"
        )
    return arr


def _exponential(T: float, delta: float, N: int) -> npt.NDArray[np.float64]:
    r"""Grid with steps :math:`h_k = \kappa \min(1, t_k)` from T to delta in N steps."""
    i = np.arange(N + 1, dtype=np.float64)
    if T <= 1.0:
        return T * np.exp(i / N * math.log(delta / T))

    def end(kappa: float) -> float:
        # number of constant steps (t_k >= 1 for k < M), then geometric decay
        M = math.floor((T - 1.0) / kappa) + 1
        if M >= N:
            return T - N * kappa
        return (T - M * kappa) * (1.0 - kappa) ** (N - M)

    lo, hi = 0.0, 1.0 - 1e-15
    if end(hi) >= delta:
        raise ValueError(
            f"steps = {N} is too small for an exponential grid from T = {T!r} to "
            f"delta = {delta!r}: steps of at most 1 need steps > T - delta"
        )
    # t_N(kappa) is continuous and strictly decreasing in kappa on (0, 1)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if end(mid) > delta:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 4e-16 * hi:
            break
    kappa = 0.5 * (lo + hi)
    M = min(math.floor((T - 1.0) / kappa) + 1, N)
    out = np.empty(N + 1)
    out[: M + 1] = T - kappa * i[: M + 1]
    if M < N:
        out[M + 1 :] = out[M] * (1.0 - kappa) ** (i[M + 1 :] - M)
    return out


def _arctan_lam(
    lam_T: float, lam_d: float, frac: npt.NDArray[np.float64], c: float
) -> npt.NDArray[np.float64]:
    r"""Log-SNR of the grid uniform in :math:`\theta = \arctan(e^{-\lambda}/c)`.

    With :math:`\phi = \pi/2 - \theta = \arctan(c e^{\lambda})` both angles are
    interpolated linearly, and :math:`\lambda = -\log c - \log\tan\theta` is
    evaluated as :math:`-\log c + \log\tan\phi` where :math:`\theta > \pi/4`,
    so that no angle near :math:`\pi/2` loses its precision.
    """
    lc = math.log(c)

    def angles(lam: float) -> tuple[float, float]:
        z = -lam - lc  # log(s / c)
        if z > 0.0:
            phi = math.atan(math.exp(-z))
            return math.pi / 2 - phi, phi
        th = math.atan(math.exp(z))
        return th, math.pi / 2 - th

    th_T, ph_T = angles(lam_T)
    th_d, ph_d = angles(lam_d)
    th = th_T + frac * (th_d - th_T)
    ph = ph_T + frac * (ph_d - ph_T)
    with np.errstate(divide="ignore"):
        lam = np.where(
            th <= math.pi / 4,
            -lc - np.log(np.tan(np.minimum(th, math.pi / 4))),
            -lc + np.log(np.tan(np.minimum(ph, math.pi / 4))),
        )
    return np.asarray(lam, dtype=np.float64)


#: :math:`\beta_{min}`, :math:`\beta_{max}` and :math:`T_a` of the ``"beta_a"`` family.
_BETA_A = (0.1, 20.0, 1.0)
#: Largest :math:`|a|` of ``"beta_a"`` (keeps :math:`e^{aT_a}` far from overflow).
_BETA_A_MAX = 100.0


def _phi(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    r""":math:`(e^x - 1 - x)/x^2`, by its Taylor series where :math:`|x| < 0.1`."""
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) < 0.1
    xs = np.where(small, x, 0.0)
    series = np.zeros_like(xs)
    fact = 2.0
    for k in range(9):  # sum_k x^k / (k + 2)!
        series = series + xs**k / fact
        fact *= k + 3
    xl = np.where(small, 1.0, x)
    with np.errstate(over="ignore", invalid="ignore"):
        direct = (np.expm1(xl) - xl) / xl**2
    return np.where(small, series, direct)


def _beta_a_B(u: npt.ArrayLike, a: float) -> npt.NDArray[np.float64]:
    r"""Cumulative rate :math:`B_a(u) = \int_0^u \beta_a` of the ``"beta_a"`` family.

    :math:`B_a(u) = \beta_{min} u + (\beta_{max} - \beta_{min})
    (\frac{e^{au} - 1}{a} - u)/(e^{aT_a} - 1)`, written as
    :math:`\beta_{min} u + (\beta_{max} - \beta_{min}) u^2 \phi(au) /
    (T_a + a T_a^2 \phi(aT_a))` with :math:`\phi(x) = (e^x - 1 - x)/x^2`
    (since :math:`(e^{aT_a} - 1)/a = T_a + a T_a^2 \phi(aT_a)`), which has no
    cancellation as :math:`a \to 0` (the linear schedule's
    :math:`\beta_{min} u + \frac12 (\beta_{max} - \beta_{min}) u^2 / T_a`).
    """
    b0, b1, Ta = _BETA_A
    uu = np.asarray(u, dtype=np.float64)
    den = Ta + a * Ta**2 * float(_phi(np.array(a * Ta)))
    with np.errstate(over="ignore"):
        return np.asarray(b0 * uu + (b1 - b0) * uu**2 * _phi(a * uu) / den)


def _beta_a_lam(
    lam_T: float, lam_d: float, frac: npt.NDArray[np.float64], a: float
) -> npt.NDArray[np.float64]:
    r"""Log-SNR of the ``"beta_a"`` grid: uniform in the family's time ``u``.

    The endpoints :math:`u_T, u_\delta` solve :math:`B_a(u) = \log(1 +
    e^{-2\lambda})` (the variance-preserving relation between cumulative rate
    and log-SNR) by Brent's method; :math:`B_a` is strictly increasing since
    :math:`\beta_a \ge \beta_{min} > 0`.
    """
    from scipy.optimize import brentq

    def u_of(lam: float) -> float:
        target = float(np.logaddexp(0.0, -2.0 * lam))
        hi = 1.0
        while float(_beta_a_B(hi, a)) < target:
            hi *= 2.0
        return float(
            brentq(
                lambda u: float(_beta_a_B(u, a)) - target,
                0.0,
                hi,
                xtol=1e-300,
                rtol=4.0 * np.finfo(float).eps,
            )
        )

    u_T, u_d = u_of(lam_T), u_of(lam_d)
    B = _beta_a_B(u_T + frac * (u_d - u_T), a)
    with np.errstate(divide="ignore"):
        lam = -0.5 * (B + np.log(-np.expm1(-B)))
    lam[0], lam[-1] = lam_T, lam_d
    return np.asarray(lam, dtype=np.float64)


def grid(
    kind: str | npt.ArrayLike,
    steps: int | None = None,
    T: float | None = None,
    delta: float = 1e-3,
    process: Process | None = None,
    rho: float | None = None,
    nfe: int | None = None,
    scheme: str | None = None,
    scheme_options: dict[str, Any] | None = None,
    c: float | None = None,
    a: float | None = None,
) -> npt.NDArray[np.float64]:
    r"""Reverse-time grid :math:`T = t_0 > \dots > t_N = \delta`.

    Parameters
    ----------
    kind : str (one of :data:`GRID_KINDS`) or array_like
        Schedule (see the module docstring for the formulas), or an explicit grid,
        which is validated with :func:`validate_grid` (so it must end at a
        positive time; pass an array ending at 0 directly to the samplers) and
        returned as a copy; then
        ``steps``, ``T`` and ``rho`` must be left as ``None`` (``delta`` is
        ignored).
    steps : int, optional
        Number of steps ``N >= 1``; give either ``steps`` or ``nfe``.
    T : float, optional
        Initial (largest) time; defaults to ``process.T``.
    delta : float, default 1e-3
        Final (early-stopping) time, ``0 < delta < T``; ``delta = 0`` (stop at
        the data) is allowed for ``"uniform"`` and ``"power"`` (the log-SNR
        kinds and ``"exponential"`` need ``delta > 0``).
    process : Process, optional
        Forward process; required for ``"logsnr"`` and ``"karras"`` and for
        defaulting ``T``; ``T`` must not exceed ``process.t_max``.
    rho : float, optional
        Exponent of ``"karras"`` (default 7) and ``"power"`` (default 2).
    nfe : int, optional
        Budget of score evaluations instead of ``steps``: the grid has the
        largest number of steps whose evaluations under ``scheme`` (see
        :func:`scorelab.schemes.scheme_nfe`: evaluations per step times steps,
        plus warm-up evaluations of multistep schemes) do not exceed ``nfe``.
    scheme : str, optional
        Scheme whose evaluation count ``nfe`` refers to (required with ``nfe``).
    scheme_options : dict, optional
        Options of ``scheme`` (e.g. ``{"predictor": "heun", "corrector_steps":
        2}`` for ``"pc"``), used only to count evaluations.

    c : float, optional
        Data standard deviation of ``"ays"`` (default 1); only for ``"ays"``.
    a : float, optional
        Shape parameter of ``"beta_a"`` (default 0, the linear schedule;
        :math:`|a| \le 100`); only for ``"beta_a"``.

    Returns
    -------
    numpy.ndarray, shape (steps + 1,)
        Strictly decreasing ``float64`` times with ``t[0] = T`` and
        ``t[-1] = delta`` exactly.

    Raises
    ------
    TypeError
        If ``steps`` is not an integer.
    ValueError
        For an unknown kind (the message lists :data:`GRID_KINDS`), ``steps < 1``,
        invalid ``T``/``delta``/``rho``/``c``/``a``, or a missing process.

    Examples
    --------
    >>> from scorelab.processes import VP
    >>> grid("uniform", 4, T=1.0, delta=0.5)
    array([1.   , 0.875, 0.75 , 0.625, 0.5  ])
    >>> t = grid("logsnr", 10, process=VP())
    """
    if not isinstance(kind, str):
        given = (
            ("steps", steps), ("T", T), ("rho", rho), ("nfe", nfe), ("c", c), ("a", a)
        )
        for name, value in (*given, ("scheme", scheme)):
            if value is not None:
                raise ValueError(
                    f"{name} must be None when an explicit grid array is given"
                )
        return validate_grid(kind, process)
    if kind not in GRID_KINDS:
        raise ValueError(
            f"kind must be one of {', '.join(map(repr, GRID_KINDS))} or an array "
            f"of times; got {kind!r}"
        )
    if process is not None:
        process = check_process(process)
    if nfe is not None or scheme is not None or scheme_options is not None:
        if steps is not None:
            raise ValueError("give either steps or nfe, not both")
        if nfe is None or scheme is None:
            raise ValueError("nfe and scheme must be given together")
        steps = _steps_for_nfe(nfe, scheme, process, scheme_options)
    if steps is None:
        raise ValueError(f"steps (or nfe and scheme) is required for kind {kind!r}")
    N = check_int(steps, "steps", 1)
    if process is None and kind in _NEEDS_PROCESS:
        raise ValueError(f"kind {kind!r} needs a process (pass process=...)")
    if T is None:
        if process is None:
            raise ValueError("T must be given when no process is given")
        T = process.T
    T_val = check_positive(T, "T")
    if process is not None and T_val > process.t_max:
        raise ValueError(
            f"T must be <= process.t_max = {process.t_max!r}, got {T_val!r}"
        )
    if kind in _ALLOW_ZERO and check_real(delta, "delta") == 0.0:
        d = 0.0
    else:
        d = check_positive(delta, "delta")
    if not d < T_val:
        raise ValueError(f"delta must be < T = {T_val!r}, got {d!r}")
    if rho is not None and kind not in _DEFAULT_RHO:
        raise ValueError(
            f"rho only applies to kinds 'karras' and 'power', not {kind!r}"
        )
    r = _DEFAULT_RHO.get(kind, 1.0) if rho is None else check_positive(rho, "rho")
    if c is not None and kind != "ays":
        raise ValueError(f"c only applies to kind 'ays', not {kind!r}")
    c_val = 1.0 if c is None else check_positive(c, "c")
    if a is not None and kind != "beta_a":
        raise ValueError(f"a only applies to kind 'beta_a', not {kind!r}")
    a_val = 0.0 if a is None else check_real(a, "a")
    if not abs(a_val) <= _BETA_A_MAX:  # also rejects NaN
        raise ValueError(
            f"a must be a finite number with |a| <= {_BETA_A_MAX:g}, got {a_val!r}"
        )

    frac = np.arange(N + 1, dtype=np.float64) / N
    if kind == "uniform":
        t = T_val + frac * (d - T_val)
    elif kind == "power":
        if d == 0.0:
            t = (1.0 - frac) ** r * T_val
        elif max(abs(math.log(T_val)), abs(math.log(d))) / r < 700.0:
            a, b = T_val ** (1.0 / r), d ** (1.0 / r)
            t = (a + frac * (b - a)) ** r
        else:  # the same in log space (T^(1/rho) or delta^(1/rho) over/underflow)
            with np.errstate(divide="ignore"):
                la = np.log1p(-frac) + math.log(T_val) / r
                lb = np.log(frac) + math.log(d) / r
            t = np.exp(r * np.logaddexp(la, lb))
    elif kind == "exponential":
        t = _exponential(T_val, d, N)
    elif kind == "quadratic":
        t = d + (T_val - d) * (1.0 - frac) ** 2
    else:
        assert process is not None
        lam_T = float(process.log_snr(T_val))
        lam_d = float(process.log_snr(d))
        if kind == "logsnr":
            lam = lam_T + frac * (lam_d - lam_T)
        elif kind in ("ays", "cosine"):
            lam = _arctan_lam(lam_T, lam_d, frac, c_val)
        elif kind == "beta_a":
            lam = _beta_a_lam(lam_T, lam_d, frac, a_val)
        else:  # karras, in log space: s^(1/rho) = exp(-lambda/rho)
            # log((1 - f) a + f b) with log a = -lam_T / r, log b = -lam_d / r, as
            # a log-sum-exp: exp(-lam_T / r) overflows for large T, and a + f (b - a)
            # cancels to 0 at f = 1 when b << a
            with np.errstate(divide="ignore"):
                la = np.log1p(-frac) - lam_T / r
                lb = np.log(frac) - lam_d / r
            lam = -r * np.logaddexp(la, lb)
        t = np.asarray(process.t_from_log_snr(lam), dtype=np.float64)
    t = np.array(t, dtype=np.float64)
    t[0], t[-1] = T_val, d
    if not np.all(np.diff(t) < 0.0):
        raise ValueError(
            f"steps = {N} is too large: the {kind!r} grid from T = {T_val!r} to "
            f"delta = {d!r} is not strictly decreasing in float64"
        )
    return t
