"""Access to the compiled extension with a friendly error when it is missing."""

from __future__ import annotations

from types import ModuleType

__all__ = ["core", "cuda_core"]

_CORE: ModuleType | None = None


def core() -> ModuleType:
    """Return the compiled module ``scorelab._core``.

    Raises
    ------
    ImportError
        If the extension was not built, with instructions to build it.
    """
    global _CORE
    if _CORE is None:
        try:
            from . import _core  # type: ignore[attr-defined]
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "scorelab's compiled core (scorelab._core) is not available. Install "
                "the package with `pip install .` from the source tree (it needs a "
                "C++17 compiler; Eigen comes from the `cmeel-eigen` build "
                "requirement), and do not run Python from inside the source tree's "
                "python/ folder."
            ) from exc
        _CORE = _core
    return _CORE


_BUILD_HINT = (
    "Build it on a machine with the CUDA toolkit (nvcc) with "
    "`SCORELAB_CUDA=ON pip install .` from the source tree (an NVIDIA driver and GPU "
    "are needed only to run it), or use device='cpu'."
)


def cuda_core() -> ModuleType:
    """Return the CUDA backend ``scorelab._cuda`` when it is built and sees a GPU.

    Raises
    ------
    RuntimeError
        If the module was not built (``SCORELAB_CUDA=OFF``, the default) or no CUDA
        device is visible, with instructions.
    """
    try:
        from . import _cuda  # type: ignore[attr-defined]
    except ImportError as exc:
        raise RuntimeError(
            "device='cuda' needs scorelab's optional CUDA backend (scorelab._cuda), "
            "which this installation was built without. " + _BUILD_HINT
        ) from exc
    if _cuda.device_count() < 1:
        raise RuntimeError(
            "device='cuda': scorelab's CUDA backend is built, but no CUDA device is "
            "visible (no NVIDIA driver or GPU on this machine). " + _BUILD_HINT
        )
    return _cuda
