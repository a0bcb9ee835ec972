"""scorelab — an exact-score laboratory for diffusion-model theory.

Forward processes (:mod:`scorelab.processes`), targets with exact scores
(:mod:`scorelab.targets`), time grids (:mod:`scorelab.grids`), samplers as
coefficient tables (:mod:`scorelab.schemes`), a fast native executor
(:func:`sample`), exact output laws on Gaussian targets (:func:`exact_law`) and
metrics (:mod:`scorelab.metrics`), the papers' bounds (:mod:`scorelab.bounds`),
studies (:class:`Study`, :func:`read_results`) and plots
(:func:`plot_convergence`). The last four load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import errors, grids, processes, schemes
from .cld import CLD
from .exact import LawPath, exact_law
from .grids import GRID_KINDS, grid
from .metrics_gaussian import kl_gaussian, w2_gaussian
from .processes import *  # noqa: F403
from .processes import __all__ as _processes_all
from .sample import sample
from .schemes import Tableau, compile_scheme, scheme_names
from .targets import Gaussian, GaussianMixture

if TYPE_CHECKING:  # loaded lazily at run time, see __getattr__
    from . import analysis, bounds, metrics, plots, schedules, study
    from .analysis import error_budget, exact_errors, w2_profile
    from .plots import fit_rate, plot_convergence
    from .schedules import optimize_grid
    from .study import Study, read_results

__version__ = "0.1.0"


def build_info() -> dict[str, str]:
    """Version and build options of the compiled core."""
    from ._native import core

    c = core()
    info = {"version": __version__, "core_version": str(c.__version__)}
    for item in str(c.build_info).split():
        key, _, value = item.partition("=")
        info[key] = value
    return info


def cuda_available() -> bool:
    """Whether the optional CUDA backend was built and sees a GPU."""
    try:
        from . import _cuda  # type: ignore[attr-defined]
    except ImportError:
        return False
    return bool(_cuda.device_count() > 0)


# loaded on first access (PEP 562): they pull in scipy.optimize, matplotlib, ...
_LAZY = {
    "analysis": ("analysis", None),
    "exact_errors": ("analysis", "exact_errors"),
    "error_budget": ("analysis", "error_budget"),
    "w2_profile": ("analysis", "w2_profile"),
    "bounds": ("bounds", None),
    "metrics": ("metrics", None),
    "study": ("study", None),
    "plots": ("plots", None),
    "Study": ("study", "Study"),
    "read_results": ("study", "read_results"),
    "plot_convergence": ("plots", "plot_convergence"),
    "fit_rate": ("plots", "fit_rate"),
    "schedules": ("schedules", None),
    "optimize_grid": ("schedules", "optimize_grid"),
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'scorelab' has no attribute {name!r}")
    import importlib

    mod_name, attr = _LAZY[name]
    mod = importlib.import_module(f".{mod_name}", __name__)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CLD",
    "LawPath",
    "analysis",
    "error_budget",
    "exact_errors",
    "w2_profile",
    "Study",
    "bounds",
    "fit_rate",
    "metrics",
    "plot_convergence",
    "plots",
    "read_results",
    "study",
    "GRID_KINDS",
    "Gaussian",
    "GaussianMixture",
    "Tableau",
    "build_info",
    "compile_scheme",
    "cuda_available",
    "errors",
    "exact_law",
    "grid",
    "grids",
    "kl_gaussian",
    "processes",
    "sample",
    "scheme_names",
    "schemes",
    "w2_gaussian",
    "optimize_grid",
    "schedules",
    *_processes_all,
]
