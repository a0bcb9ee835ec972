"""Access to the compiled extension with a friendly error when it is missing."""

from __future__ import annotations

from types import ModuleType

__all__ = ["core"]

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
                "scorelab's compiled core (scorelab._core) is not available. Install the "
                "package with `pip install .` from the source tree (it needs a C++17 "
                "compiler; Eigen comes from the `cmeel-eigen` build requirement), and do "
                "not run Python from inside the source tree's python/ folder."
            ) from exc
        _CORE = _core
    return _CORE
