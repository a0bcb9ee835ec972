"""Target presets, registries of processes/errors/metrics/bounds, cached builders."""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import math
import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .schema import _canon_json

__all__ = ["SPECTRA", "SPECTRAL_KEYS", "file_sha256", "make_target"]

# ---------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------
_PRESETS: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    ("gaussian-{d}d", re.compile(r"gaussian-(\d+)d"), ()),
    ("gaussian-{d}d-aniso", re.compile(r"gaussian-(\d+)d-aniso"), ("seed",)),
    ("gmm-{d}d-{K}", re.compile(r"gmm-(\d+)d-(\d+)"), ("radius", "var")),
)
_TARGET_KEYS = ("preset", "mean", "cov", "weights", "means", "covs", "covariance_type")
#: Keys of the spectral targets (:meth:`scorelab.Gaussian.from_spectrum`), by
#: the key that selects them.
SPECTRAL_KEYS: dict[str, tuple[str, ...]] = {
    "spectrum": ("spectrum", "dim", "alpha", "scale", "mean"),
    "eigenvalues": ("eigenvalues", "basis", "mean"),
    "data": ("data", "sha256"),
}
#: Spectra of ``{spectrum = ...}`` targets: ``lambda_k = scale * k**-alpha``,
#: ``k = 1..dim``.
SPECTRA: tuple[str, ...] = ("power-law",)


def file_sha256(path: str) -> str:
    """SHA-256 of a file's content (hex), read in blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _spectral_target(spec: Mapping[str, Any]) -> Any:
    """A spectral Gaussian from ``{spectrum = ...}``, ``{eigenvalues = ...}`` or
    ``{data = ...}`` (see :func:`make_target`)."""
    from ..targets import Gaussian

    kind = next(k for k in SPECTRAL_KEYS if k in spec)
    extra = sorted(set(spec) - set(SPECTRAL_KEYS[kind]))
    if extra:
        raise ValueError(
            f"a {kind!r} target has no key {extra[0]!r} (keys: "
            f"{', '.join(SPECTRAL_KEYS[kind])})"
        )
    if kind == "data":
        path = spec["data"]
        if not isinstance(path, str) or not path.endswith(".npy"):
            raise ValueError(f"data must be the path of a .npy file, got {path!r}")
        try:
            if "sha256" in spec and file_sha256(path) != spec["sha256"]:
                raise ValueError(
                    f"data file {path!r} changed since the study was read "
                    "(its SHA-256 differs)"
                )
            X = np.load(path, allow_pickle=False)
        except OSError as exc:
            raise ValueError(f"cannot read data file {path!r}: {exc}") from None
        return Gaussian.from_data(X)

    def mean_of(d: int) -> Any:
        m = np.asarray(spec.get("mean", 0.0), dtype=np.float64)
        return np.full(d, float(m)) if m.ndim == 0 else m

    if kind == "eigenvalues":
        lam = np.asarray(spec["eigenvalues"], dtype=np.float64)
        if lam.ndim != 1:
            raise ValueError("eigenvalues must be a list of numbers")
        return Gaussian.from_spectrum(lam, spec.get("basis"), mean_of(lam.shape[0]))
    name = spec["spectrum"]
    if name not in SPECTRA:
        raise ValueError(
            f"unknown spectrum {name!r} (spectra: {', '.join(map(repr, SPECTRA))})"
        )
    d = spec.get("dim")
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"a spectrum needs dim, an integer >= 1, got {d!r}")
    alpha = float(spec.get("alpha", 1.0))
    scale = float(spec.get("scale", 1.0))
    if not (math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be finite and >= 0, got {alpha!r}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be finite and > 0, got {scale!r}")
    lam = scale * np.arange(1, d + 1, dtype=np.float64) ** -alpha
    return Gaussian.from_spectrum(lam, None, mean_of(d))


def _preset(name: str, opts: Mapping[str, Any]) -> Any:
    from ..targets import Gaussian, GaussianMixture

    for pattern, rx, allowed in _PRESETS:
        m = rx.fullmatch(name)
        if m is None:
            continue
        bad = sorted(set(opts) - set(allowed))
        if bad:
            raise KeyError((bad[0], allowed))
        d = int(m.group(1))
        if d < 1:
            raise ValueError(f"preset {name!r}: dimension must be >= 1")
        if pattern == "gaussian-{d}d":
            return Gaussian(np.zeros(d), np.eye(d))
        if pattern == "gaussian-{d}d-aniso":
            seed = opts.get("seed", 0)
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
            rng = np.random.default_rng(seed)
            Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
            cov = Q @ np.diag(np.geomspace(0.05, 4.0, d)) @ Q.T
            return Gaussian(rng.standard_normal(d), 0.5 * (cov + cov.T))
        K = int(m.group(2))
        if K < 1:
            raise ValueError(f"preset {name!r}: number of components must be >= 1")
        radius = float(opts.get("radius", 4.0))
        var = float(opts.get("var", 0.1))
        if not (math.isfinite(radius) and radius >= 0):
            raise ValueError(f"radius must be finite and >= 0, got {radius!r}")
        if not (math.isfinite(var) and var > 0):
            raise ValueError(f"var must be finite and > 0, got {var!r}")
        means = np.zeros((K, d))
        if d == 1:
            means[:, 0] = np.linspace(-radius, radius, K) if K > 1 else 0.0
        else:
            ang = 2 * np.pi * np.arange(K) / K
            means[:, 0] = radius * np.cos(ang)
            means[:, 1] = radius * np.sin(ang)
        return GaussianMixture(np.full(K, 1.0 / K), means, np.full(K, var), "spherical")
    raise LookupError(name)


def make_target(spec: str | Mapping[str, Any]) -> Any:
    """Build a target from a preset name or a table (see the module docstring).

    Parameters
    ----------
    spec : str or mapping
        ``"gaussian-{d}d"``, ``"gaussian-{d}d-aniso"``, ``"gmm-{d}d-{K}"``;
        ``{"preset": ..., **options}``; ``{"mean": (d,), "cov": scalar, (d,) or
        (d, d)}`` (a scalar means ``cov * I``, a vector a diagonal); or
        ``{"weights": (K,), "means": (K, d), "covs": ..., "covariance_type": ...}``.
        Spectral Gaussians (:meth:`~scorelab.Gaussian.from_spectrum`: exact
        laws and metrics in O(d) per step, no d x d matrix):
        ``{"spectrum": "power-law", "dim": d, "alpha": a, "scale": c,
        "mean": m}`` (eigenvalues :math:`c k^{-a}`, ``k = 1..d``, diagonal;
        ``alpha`` default 1, ``scale`` 1, ``mean`` 0, a number or a list);
        ``{"eigenvalues": (d,), "basis": (d, d), "mean": m}`` (``basis``
        optional: the identity); ``{"data": "X.npy", "sha256": hex}`` (the
        sample mean and covariance of a data matrix (n, d),
        :meth:`~scorelab.Gaussian.from_data`; ``sha256``, optional, must
        match the file).

    Returns
    -------
    Gaussian or GaussianMixture

    Raises
    ------
    ValueError
        Unknown preset or key, or invalid parameters.
    """
    from ..targets import Gaussian, GaussianMixture

    if isinstance(spec, str):
        spec = {"preset": spec}
    if not isinstance(spec, Mapping):
        raise TypeError(f"target spec must be a str or a table, got {spec!r}")
    spec = dict(spec)
    if "preset" in spec:
        name = spec.pop("preset")
        if not isinstance(name, str):
            raise TypeError(f"preset must be a string, got {name!r}")
        try:
            return _preset(name, spec)
        except LookupError as exc:
            if isinstance(exc, KeyError):
                bad, allowed = exc.args[0]
                raise ValueError(
                    f"preset {name!r} has no option {bad!r} (options: "
                    f"{', '.join(allowed) or 'none'})"
                ) from None
            raise ValueError(
                f"unknown target preset {name!r}; presets: "
                + ", ".join(p for p, _, _ in _PRESETS)
            ) from None
    if any(k in spec for k in SPECTRAL_KEYS):
        kinds = [k for k in SPECTRAL_KEYS if k in spec]
        if len(kinds) > 1:
            raise ValueError(f"give one of the keys {', '.join(kinds)}, not several")
        return _spectral_target(spec)
    unknown = sorted(set(spec) - set(_TARGET_KEYS))
    if unknown:
        raise ValueError(
            f"unknown target key {unknown[0]!r} (keys: {', '.join(_TARGET_KEYS)})"
        )
    if "mean" in spec or "cov" in spec:
        extra = sorted(set(spec) - {"mean", "cov"})
        if extra or "mean" not in spec or "cov" not in spec:
            raise ValueError(
                "a Gaussian target needs exactly the keys 'mean' and 'cov'"
            )
        mean = np.asarray(spec["mean"], dtype=np.float64)
        if mean.ndim != 1:
            raise ValueError(f"mean must be a list of numbers, got {spec['mean']!r}")
        cov = np.asarray(spec["cov"], dtype=np.float64)
        if cov.ndim == 0:
            cov = float(cov) * np.eye(mean.shape[0])
        elif cov.ndim == 1:
            cov = np.diag(cov)
        return Gaussian(mean, cov)
    need = {"weights", "means", "covs"}
    if not need <= set(spec):
        raise ValueError(
            "a target table needs 'preset', or 'mean' and 'cov', or 'weights', "
            "'means', 'covs' (and optionally 'covariance_type')"
        )
    return GaussianMixture(
        spec["weights"],
        spec["means"],
        spec["covs"],
        covariance_type=spec.get("covariance_type", "full"),
    )


# ---------------------------------------------------------------------------
# registries (resolved lazily: other modules may be added later)
# ---------------------------------------------------------------------------
def _process_classes() -> dict[str, type]:
    from .. import processes as P

    modules: list[Any] = [P]
    with contextlib.suppress(ImportError):
        modules.append(importlib.import_module("scorelab.cld"))
    out: dict[str, type] = {}
    for mod in modules:
        for name in getattr(mod, "__all__", None) or dir(mod):
            obj = getattr(mod, name, None)
            if (
                isinstance(obj, type)
                and issubclass(obj, P.Process)
                and not inspect.isabstract(obj)
                and obj is not P.LinearSDE
            ):
                out[name] = obj
    return dict(sorted(out.items()))


def _error_classes() -> dict[str, type]:
    from .. import errors as E

    out: dict[str, type] = {}
    for name in getattr(E, "__all__", []):
        obj = getattr(E, name, None)
        if (
            isinstance(obj, type)
            and issubclass(obj, E.ScoreError)
            and obj not in (E.ScoreError, getattr(E, "Sum", None))
        ):
            out[name] = obj
    return dict(sorted(out.items()))


def _metrics_module() -> Any:
    try:
        from .. import metrics
    except ImportError:
        return None
    return metrics


def _bounds_module() -> Any:
    try:
        from .. import bounds
    except ImportError:
        return None
    return bounds


def _public_functions(mod: Any) -> list[str]:
    names = getattr(mod, "__all__", None) or [n for n in dir(mod) if n[:1] != "_"]
    return sorted(n for n in names if inspect.isfunction(getattr(mod, n, None)))


def _empirical_metrics(mod: Any) -> list[str]:
    """Functions of ``mod`` called as ``fn(samples, target, ...)``."""
    out = []
    for name in _public_functions(mod):
        params = [p.name for p in _parameters(getattr(mod, name))]
        if params[:2] == ["samples", "target"]:
            out.append(name)
    return out


def _parameters(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return []
    return [
        p
        for p in sig.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


# ---------------------------------------------------------------------------
# building objects from canonical specs (cached; also used on Dask workers)
# ---------------------------------------------------------------------------
_CACHE: dict[str, Any] = {}
_CACHE_MAX = 256


def _cached(kind: str, spec: Any, build: Callable[[], Any]) -> Any:
    key = kind + ":" + _canon_json(spec)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = build()
    return _CACHE[key]


def _build_target(spec: Any) -> Any:
    return _cached("target", spec, lambda: make_target(copy.deepcopy(spec)))


def _build_process(spec: Mapping[str, Any]) -> Any:
    def build() -> Any:
        cls = _process_classes()[spec["name"]]
        return cls(**spec["params"])

    return _cached("process", spec, build)


def _build_error(spec: Mapping[str, Any] | None, dim: int) -> Any:
    if spec is None:
        return None

    def build() -> Any:
        cls = _error_classes()[spec["name"]]
        kwargs = dict(spec["params"])
        if "vector" in kwargs and isinstance(kwargs["vector"], numbers.Real):
            kwargs["vector"] = np.full(dim, float(kwargs["vector"]))
        if "other" in kwargs:
            kwargs["other"] = _build_target(kwargs["other"])
        return cls(**kwargs)

    return _cached("error", {"spec": spec, "dim": dim}, build)
