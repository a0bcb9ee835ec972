"""Run a sampler on particles: whole trajectories in the compiled core.

:func:`sample` compiles (scheme, process, grid) into a coefficient table
(:mod:`scorelab.schemes`), pushes the target's components forward to every
score-evaluation time, and hands everything to the C++ executor, which runs blocks
of particles through all steps on several threads with the GIL released. Noise is
Philox4x32-10 keyed by the seed with counter (coordinate pair, stage lane,
particle), so the output is bit-identical for any thread count or block size.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ._native import core, cuda_core
from ._runtime import as_seed, child_seed, default_threads
from ._validate import as_float_array, check_int, check_process, check_target
from .errors import ScoreError, StageTerms
from .processes import Process
from .schemes import Tableau, check_zero_time_scores, compile_scheme
from .targets import Gaussian, GaussianMixture, Target

__all__ = ["InitLaw", "prepare", "sample", "seed_key"]

FloatArray = npt.NDArray[np.float64]
_COV_CODE = {"full": 0, "diag": 1, "spherical": 2}
DTYPES = ("float64", "float32")
DEVICES = ("cpu", "cuda")


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return None


#: Particles drawn at a time by ``init="exact"`` (bounds its temporaries).
EXACT_CHUNK = 1 << 14


def _exact_raw_per(D: int) -> int:
    """Raw uint64 draws per particle of ``init="exact"`` (a multiple of 4)."""
    pairs = (D + 1) // 2
    return 4 * ((1 + 2 * pairs + 3) // 4)


def memory_estimate(
    n: int, D: int, history: int, itemsize: int, x0: bool, exact: bool = False
) -> int:
    """Bytes ``sample`` allocates for n particles.

    The state, the kept scores, the output copy, the float64 initial states
    (``x0``) and, for ``init="exact"`` (``exact``), the temporaries of one chunk
    of :data:`EXACT_CHUNK` initial draws.
    """
    per = D * (itemsize * (1 + history) + (8 if x0 else 0))
    total = int(n) * per
    if exact:
        m = min(int(n), EXACT_CHUNK)
        # raw uint64, uniforms, radii/angles, normals (two copies) and products
        total += m * 8 * (3 * _exact_raw_per(D) + 6 * D)
    return total


def seed_key(seed: Any) -> int:
    """The 64-bit Philox key of a seed (int or ``numpy.random.SeedSequence``)."""
    st = as_seed(seed).generate_state(2, np.uint32)
    return int(st[0]) | (int(st[1]) << 32)


@dataclass
class InitLaw:
    """Law of the state at ``t_0``: Gaussian ``N(mean, chol chol^T)`` or given x0."""

    mean: FloatArray | None = None
    chol: FloatArray | None = None
    x0: FloatArray | None = None


def _exact_draws(marg: Target, n: int, offset: int, seed: Any) -> FloatArray:
    """n draws of ``marg`` for global particles offset..offset+n-1.

    Counter-based (NumPy's Philox, one fixed block of raw draws per particle), so
    batches split with ``particle_offset`` together equal one run.
    """
    K, D = marg.means.shape
    pairs = (D + 1) // 2
    per = _exact_raw_per(D)
    bg = np.random.Philox(key=as_seed(seed).generate_state(2, np.uint64))
    bg.advance(offset * (per // 4))  # advance() counts blocks of 4 raw draws
    cw = np.cumsum(marg.weights)
    L = np.linalg.cholesky(marg.full_covariances())
    x = np.empty((n, D))
    for lo in range(0, n, EXACT_CHUNK):  # chunks: bounded temporaries, same draws
        hi = min(n, lo + EXACT_CHUNK)
        raw = bg.random_raw((hi - lo) * per).reshape(hi - lo, per)
        u = ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53  # (0, 1)
        del raw
        comp = np.minimum(np.searchsorted(cw, u[:, 0]), K - 1)
        rad = np.sqrt(-2.0 * np.log(u[:, 1 : 1 + pairs]))
        ang = 2.0 * np.pi * u[:, 1 + pairs : 1 + 2 * pairs]
        z = np.concatenate([rad * np.cos(ang), rad * np.sin(ang)], axis=1)[:, :D]
        xc = x[lo:hi]
        for k in range(K):  # per component: no (n, D, D) gather
            idx = np.flatnonzero(comp == k)
            if idx.size:
                xc[idx] = marg.means[k] + z[idx] @ L[k].T
    return x


def init_law(
    init: Any,
    process: Process,
    target: Target,
    t0: float,
    n: int,
    seed: Any,
    particle_offset: int = 0,
) -> InitLaw:
    """Resolve the ``init`` argument of :func:`sample` into an :class:`InitLaw`.

    ``init`` may be None (the process's prior), ``"zero-data"`` (the law of
    ``X_{t0}`` when ``X_0 = 0``), ``"exact"`` (the true marginal ``p_{t0}``, sampled
    exactly, which removes the initialisation error), a :class:`Gaussian` in the
    state space, or an array (n, D) of initial states.
    """
    D = target.dim * process.m
    if isinstance(init, Gaussian):
        if init.dim != D:
            raise ValueError(
                f"init must be a Gaussian of dimension {D}, got {init.dim}"
            )
        return InitLaw(
            mean=init.mean,
            chol=np.asarray(np.linalg.cholesky(init.cov), dtype=np.float64),
        )
    if isinstance(init, str) and init == "exact":
        marg = process.marginal(target, t0)
        child = child_seed(seed, 0)
        return InitLaw(x0=_exact_draws(marg, n, particle_offset, child))
    if init is None or isinstance(init, str):
        if init not in (None, "zero-data"):
            raise ValueError(
                f"init must be None, 'zero-data', 'exact', a Gaussian or an array of "
                f"shape (n, {D}); got {init!r}"
            )
        mean, chol = process.prior_factor(target.dim, init=init, T=t0)
        return InitLaw(mean=mean, chol=chol)
    x0 = as_float_array(init, "init", shape=(n, D))
    return InitLaw(x0=x0)


@dataclass
class Prepared:
    """Everything the executors need, computed once per call."""

    table: Tableau
    score_target: Target
    phase: Target
    Phi: FloatArray
    Ncov: FloatArray
    terms: StageTerms
    D: int
    d: int


def prepare(
    target: Target,
    process: Process,
    scheme: str | Tableau,
    grid: npt.ArrayLike,
    score_error: ScoreError | None = None,
    scheme_options: dict[str, Any] | None = None,
) -> Prepared:
    """Compile the table, the forward maps and the error terms (shared by executors)."""
    target = check_target(target)
    process = check_process(process)
    table = compile_scheme(scheme, process, grid, **(scheme_options or {}))
    if score_error is not None and not isinstance(score_error, ScoreError):
        raise TypeError(
            "score_error must be a scorelab.errors model, got "
            f"{type(score_error).__name__}"
        )
    st = score_error.score_target(target) if score_error is not None else target
    st = check_target(st)
    if st.dim != target.dim:
        raise ValueError("score_error: the misspecified target has another dimension")
    check_zero_time_scores(table, st, process)
    phase = process.phase_space_target(st)
    D = phase.dim
    Phi, Ncov = process.marginal_maps(table.stage_times)
    if score_error is not None:
        terms = score_error.stage_terms(target, process, table.stage_times, D)
    else:
        terms = StageTerms()
    return Prepared(
        table,
        st,
        phase,
        np.ascontiguousarray(Phi, dtype=np.float64),
        np.ascontiguousarray(Ncov, dtype=np.float64),
        terms,
        D,
        target.dim,
    )


def table_arguments(prep: Prepared) -> dict[str, dict[str, Any]]:
    """The mixture and the coefficient table, as the executors read them by name.

    The keyword arguments ``mixture`` and ``table`` of ``run_table_f64/f32`` (CPU
    and CUDA modules) and of the CUDA module's ``pack_table_*``; the keys are the
    field names of the C++ structures (``cpp/include/scorelab/table.hpp``).
    """
    tab, ph = prep.table, prep.phase
    return {
        "mixture": {
            "weights": ph.weights,
            "means": ph.means,
            "covariances": ph.covariances,
            "cov_type": _COV_CODE[ph.covariance_type],
        },
        "table": {
            "m": tab.m,
            "history": tab.history,
            "Y": tab.Y,
            "B": tab.B,
            "E": tab.E,
            "C": tab.C,
            "eval": tab.eval,
            "keep": tab.keep,
            "Phi": prep.Phi,
            "Ncov": prep.Ncov,
        },
    }


def run_arguments(
    prep: Prepared,
    il: InitLaw,
    n: int,
    seed: Any,
    particle_offset: int,
    threads: int,
    block: int,
) -> dict[str, Any]:
    """All keyword arguments of ``run_table_f64/f32`` for one run.

    :func:`table_arguments`, the error terms (the fields of
    :class:`~scorelab.errors.StageTerms`) and the initial law (those of
    :class:`InitLaw`) as named dicts, then the run's options.
    """
    t = prep.terms
    return {
        **table_arguments(prep),
        "errors": {
            "bias": t.bias,
            "lin": t.lin,
            "lin_scalar": t.lin_scalar,
            "ff_eps": t.ff_eps,
            "ff_freq": t.ff_freq,
            "ff_phase": t.ff_phase,
            "ff_amp": t.ff_amp,
        },
        "init": {"x0": il.x0, "mean": il.mean, "chol": il.chol},
        "n": n,
        "seed": seed_key(seed),
        "particle_offset": particle_offset,
        "threads": threads,
        "block": block,
    }


def _check_keywords(fn: Any, scheme: Any, options: dict[str, Any]) -> None:
    """Refuse a keyword that is neither an option of ``scheme`` nor a parameter
    of ``fn`` but closest to one of ``fn``'s parameters (e.g. ``sed`` for
    ``seed``): a TypeError naming the parameter, as Python and the CLI do. A
    keyword closest to a scheme option is left to the scheme's own error.
    """
    import difflib
    import inspect

    from .schemes import SCHEMES

    known: tuple[str, ...] = ()
    if isinstance(scheme, str) and scheme in SCHEMES:
        known = tuple(SCHEMES[scheme].options)
    params = [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind is not p.VAR_KEYWORD
    ]
    for key in options:
        if key in known:
            continue
        close = difflib.get_close_matches(key, [*params, *known], n=1)
        if close and close[0] in params:  # else the scheme's error lists options
            raise TypeError(
                f"{fn.__name__}() got an unexpected keyword argument {key!r}; "
                f"did you mean {close[0]!r}?"
            )


def sample(
    target: Target,
    process: Process,
    scheme: str | Tableau,
    grid: npt.ArrayLike,
    n: int,
    seed: Any = 0,
    threads: int | None = None,
    init: Any = None,
    score_error: ScoreError | None = None,
    dtype: str = "float64",
    block: int | None = None,
    on_nonfinite: str = "raise",
    return_state: bool = False,
    particle_offset: int = 0,
    device: str = "cpu",
    return_device_array: bool = False,
    **scheme_options: Any,
) -> FloatArray:
    """Run ``scheme`` from ``t_0 = grid[0]`` down to ``grid[-1]`` on ``n`` particles.

    Parameters
    ----------
    target : Gaussian or GaussianMixture
        Data distribution :math:`p_0` whose exact score (at every time) drives
        the sampler.
    process : Process
        Forward process.
    scheme : str or Tableau
        Sampler name (see :func:`scorelab.scheme_names`) or a compiled table.
    grid : array_like, shape (N + 1,)
        Decreasing times (:func:`scorelab.grid`).
    n : int
        Number of particles (>= 1).
    seed : int or numpy.random.SeedSequence, default 0
        Seed of the counter-based generator. Same seed, same output, whatever
        ``threads`` and ``block``.
    threads : int, optional
        CPU threads (default: all available).
    init : None, "zero-data", "exact", Gaussian or array (n, D), optional
        Law of the state at ``t_0``: the process's prior (default), the law of
        :math:`X_{t_0}` given :math:`X_0 = 0`, the exact marginal
        :math:`p_{t_0}`, a Gaussian, or explicit states.
    score_error : scorelab.errors model, optional
        Error added to the exact score (evaluated in the compiled executor).
    dtype : {"float64", "float32"}
        Arithmetic precision of the executor.
    block : int, optional
        Particles per block (default: sized for the CPU cache); with
        ``device="cuda"``, CUDA threads per block (a multiple of 32; default 128).
    on_nonfinite : {"raise", "warn", "ignore"}
        What to do if a trajectory becomes NaN/inf: raise ``FloatingPointError``
        naming the step and time, warn with the count, or return silently.
    return_state : bool, default False
        Return the whole state (n, m d) for phase-space processes instead of the
        position block (n, d).
    particle_offset : int, default 0
        Global index of the first particle (to split one run into batches that
        together equal the unsplit run).
    device : {"cpu", "cuda"}, default "cpu"
        Executor: the threaded CPU kernel or the optional CUDA backend (built with
        ``SCORELAB_CUDA=ON pip install .``; one particle per GPU thread, the same
        table and the same Philox streams, so both agree to rounding).
    return_device_array : bool, default False
        With ``device="cuda"``, keep the samples on the GPU and return a
        ``scorelab._cuda.DeviceArray`` (``__cuda_array_interface__``,
        ``__dlpack__``; ``.get()`` copies to NumPy).
    **scheme_options
        Options of the scheme.

    Returns
    -------
    numpy.ndarray, shape (n, d)
        Samples at ``grid[-1]`` (a ``DeviceArray`` of that shape with
        ``return_device_array=True``).

    Raises
    ------
    RuntimeError
        With ``device="cuda"`` when the CUDA backend was not built or no GPU is
        visible (the message says how to build it).

    Examples
    --------
    Scheme options are keyword arguments (the same for :func:`scorelab.exact_law`);
    the schemes not listed here have none:

    - ``ddim``: ``eta`` (default 0: deterministic; 1: DDPM-like noise);
    - ``ddpm``: ``beta`` (``"exact"`` or ``"riemann"``), ``variance``
      (``"posterior"`` or ``"beta"``);
    - ``heun``: ``s_churn`` (0: no churn), ``s_tmin``, ``s_tmax``, ``s_noise``
      (EDM's stochastic churn);
    - ``unipc-2``: ``solver_type`` (``"bh2"`` or ``"bh1"``);
    - ``pc``: ``predictor`` (a scheme name, default ``"ei-sde"``),
      ``corrector_steps`` (default 1), ``snr`` (default 0.16),
      ``predictor_options`` (a dict of the predictor's options).

    >>> import numpy as np
    >>> import scorelab as sl
    >>> target = sl.GaussianMixture([0.5, 0.5], [[-2.0, 0.0], [2.0, 0.0]],
    ...                             [0.3, 0.3], covariance_type="spherical")
    >>> process = sl.VP()
    >>> g = sl.grid("uniform", 50, process=process)
    >>> x = sl.sample(target, process, "ei-sde", g, n=1000, seed=0)
    >>> x.shape
    (1000, 2)
    >>> y = sl.sample(target, process, "ddim", g, n=1000, seed=0, eta=0.5)
    >>> z = sl.sample(target, process, "pc", g, n=1000, seed=0, corrector_steps=2,
    ...               snr=0.1, predictor="ddpm", predictor_options={"beta": "riemann"})
    >>> bool(np.isfinite(z).all())
    True
    """
    _check_keywords(sample, scheme, scheme_options)
    n = check_int(n, "n", 1)
    particle_offset = check_int(particle_offset, "particle_offset", 0)
    if particle_offset + n > 2**64:
        raise ValueError(
            f"particle_offset + n must be <= 2**64 (64-bit particle counter), got "
            f"particle_offset={particle_offset}, n={n}"
        )
    threads = default_threads() if threads is None else check_int(threads, "threads", 1)
    blk = 0 if block is None else check_int(block, "block", 1)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if on_nonfinite not in ("raise", "warn", "ignore"):
        raise ValueError(
            f"on_nonfinite must be 'raise', 'warn' or 'ignore', got {on_nonfinite!r}"
        )
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if return_device_array and device != "cuda":
        raise ValueError("return_device_array=True needs device='cuda'")
    cuda = cuda_core() if device == "cuda" else None  # RuntimeError: not built / no GPU
    prep = prepare(target, process, scheme, grid, score_error, scheme_options)
    tab = prep.table
    # check memory before init_law, which may draw n initial states itself
    x0_given = not (init is None or isinstance(init, (str, Gaussian))) or (
        isinstance(init, str) and init == "exact"
    )
    need = memory_estimate(
        n,
        prep.D,
        tab.history,
        8 if dtype == "float64" else 4,
        x0_given,
        exact=isinstance(init, str) and init == "exact",
    )
    avail = available_memory()
    if avail is not None and need > avail:
        raise MemoryError(
            f"sample: n={n} particles in dimension {prep.D} need about "
            f"{need / 2**30:.2f} GiB (state and kept scores), but only "
            f"{avail / 2**30:.2f} GiB are available; sample in batches with "
            f"particle_offset (the batches together equal one run)"
        )
    il = init_law(init, process, target, float(tab.times[0]), n, seed, particle_offset)
    backend = core() if cuda is None else cuda
    fn = backend.run_table_f64 if dtype == "float64" else backend.run_table_f32
    extra = {} if cuda is None else {"return_device_array": bool(return_device_array)}
    state, bad_step, bad_count = fn(
        **run_arguments(prep, il, n, seed, particle_offset, threads, blk), **extra
    )
    if bad_step >= 0 and on_nonfinite != "ignore":
        k = int(bad_step)
        msg = (
            f"sample: {bad_count} of {n} trajectories became non-finite; the first "
            f"at step {k} (from t={tab.times[k]:.6g} to t={tab.times[k + 1]:.6g}) "
            f"of scheme {tab.name!r}"
        )
        if on_nonfinite == "raise":
            raise FloatingPointError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    if return_state or prep.D == prep.d:  # the whole state, or it is the position
        return state
    if return_device_array:
        return state.columns(prep.d)
    return np.ascontiguousarray(state[:, : prep.d])


def _as_mixture(target: Target) -> GaussianMixture:
    if isinstance(target, GaussianMixture):
        return target
    return GaussianMixture(target.weights, target.means, target.covariances, "full")
