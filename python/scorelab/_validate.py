"""Input validation shared by scorelab's public functions.

Every helper raises an exception whose message starts with the name of the
offending argument, so that users see *which* input was wrong:

- :class:`TypeError` for a wrong kind of value (complex, boolean, object or
  string arrays; non-integers where an integer is required);
- :class:`ValueError` for a right kind with a wrong value (non-finite entries,
  wrong shape, a matrix that is not symmetric or not positive (semi-)definite,
  an integer below its minimum).

All array helpers return C-contiguous ``float64`` arrays (copied only when
needed) and never modify their input.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from .processes import Process
    from .targets import Gaussian, Target

__all__ = [
    "as_float_array",
    "check_finite_real",
    "check_gaussian",
    "check_int",
    "check_nonnegative",
    "check_positive",
    "check_process",
    "check_psd",
    "check_real",
    "check_spd",
    "check_spd_cholesky",
    "check_square",
    "check_target",
    "cholesky_spd",
    "symmetrize",
]

#: Default relative tolerance for the symmetry check: a matrix ``S`` passes when
#: ``max|S - S^T| <= tol * max|S|``.
SYMMETRY_RTOL = 1e-8

#: Default relative tolerance for positive semi-definiteness: every eigenvalue
#: must be ``>= -PSD_RTOL * max|eigenvalue|``.
PSD_RTOL = 1e-10


def _shape_str(shape: Sequence[int | None]) -> str:
    """Format a shape, writing ``None`` wildcards as ``:``."""
    parts = [":" if s is None else str(s) for s in shape]
    if len(parts) == 1:
        return f"({parts[0]},)"
    return "(" + ", ".join(parts) + ")"


def as_float_array(
    x: npt.ArrayLike,
    name: str,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    allow_empty: bool = False,
    *,
    min_ndim: int | None = None,
) -> npt.NDArray[np.float64]:
    """Convert ``x`` to a finite, C-contiguous ``float64`` array.

    Parameters
    ----------
    x : array_like
        Input. Integer and real floating dtypes are accepted and converted to
        ``float64`` (copied only when needed; the input is never modified).
    name : str
        Name of the argument, used in error messages.
    ndim : int, optional
        Required number of dimensions.
    shape : sequence of int or None, optional
        Required shape; ``None`` entries are wildcards. Implies ``ndim``.
    allow_empty : bool, default False
        Whether an array with zero elements is accepted.
    min_ndim : int, optional
        Required minimum number of dimensions (for batched inputs).

    Returns
    -------
    numpy.ndarray
        C-contiguous ``float64`` array with the same shape as ``x``.

    Raises
    ------
    TypeError
        If ``x`` is boolean, complex, object, string or otherwise non-numeric.
    ValueError
        If ``x`` is ragged, has the wrong number of dimensions or shape, is
        empty (unless ``allow_empty``) or contains NaN or infinity.
    """
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{name} must be a rectangular array of real numbers ({exc})"
        ) from exc
    kind = arr.dtype.kind
    if kind == "b":
        raise TypeError(f"{name} must be real-valued, got a boolean array")
    if kind == "c":
        raise TypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}")
    if kind not in "iuf":
        raise TypeError(
            f"{name} must be an array of real numbers, got dtype {arr.dtype}"
        )
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimension(s), got shape {arr.shape}"
        )
    if shape is not None:
        shape = tuple(shape)
        if arr.ndim != len(shape) or any(
            s is not None and s != a for s, a in zip(shape, arr.shape)
        ):
            raise ValueError(
                f"{name} must have shape {_shape_str(shape)}, got {arr.shape}"
            )
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    out = np.asarray(arr, dtype=np.float64, order="C")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return out


def check_int(n: object, name: str, min_value: int | None = None) -> int:
    """Check that ``n`` is an integer, optionally at least ``min_value``.

    Parameters
    ----------
    n : object
        Value to check. Python and NumPy integers are accepted; booleans,
        floats (even integral ones such as ``3.0``) and other types are not.
    name : str
        Name of the argument, used in error messages.
    min_value : int, optional
        Smallest accepted value.

    Returns
    -------
    int
        ``n`` as a Python ``int``.

    Raises
    ------
    TypeError
        If ``n`` is not an integer.
    ValueError
        If ``n < min_value``.
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(n).__name__} {n!r}")
    value = int(n)
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    return value


def check_real(value: Any, name: str) -> float:
    """Check that ``value`` is a real number and return it as a ``float``.

    Parameters
    ----------
    value : object
        Value to check. Anything ``float()`` accepts, except booleans.
    name : str
        Name of the argument, used in error messages.

    Returns
    -------
    float
        ``float(value)`` (possibly NaN or infinite).

    Raises
    ------
    TypeError
        If ``value`` is a boolean or not convertible to ``float``.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number, got {value!r}") from exc


def _check_finite_bound(value: Any, name: str, bound: str = "") -> float:
    """:func:`check_real`, then finite and, if ``bound`` is given, ``> 0``/``>= 0``."""
    v = check_real(value, name)
    ok = math.isfinite(v) and (
        v > 0.0 if bound == "> 0" else v >= 0.0 if bound == ">= 0" else True
    )
    if not ok:
        raise ValueError(
            f"{name} must be finite{f' and {bound}' if bound else ''}, got {value!r}"
        )
    return v


def check_finite_real(value: Any, name: str) -> float:
    """Check that ``value`` is a finite real number (see :func:`check_real`).

    Raises ``TypeError`` as :func:`check_real`, ``ValueError`` for NaN or
    infinity (message: ``"<name> must be finite, got <value>"``).
    """
    return _check_finite_bound(value, name)


def check_positive(value: Any, name: str) -> float:
    """Check that ``value`` is a finite real number ``> 0`` (see :func:`check_real`).

    Raises ``TypeError`` as :func:`check_real`, ``ValueError`` for NaN, infinity
    or ``value <= 0`` (``"<name> must be finite and > 0, got <value>"``).
    """
    return _check_finite_bound(value, name, "> 0")


def check_nonnegative(value: Any, name: str) -> float:
    """Check that ``value`` is a finite real number ``>= 0`` (see :func:`check_real`).

    Raises ``TypeError`` as :func:`check_real`, ``ValueError`` for NaN, infinity
    or ``value < 0`` (``"<name> must be finite and >= 0, got <value>"``).
    """
    return _check_finite_bound(value, name, ">= 0")


def check_process(
    process: Any, name: str = "process", *, scalar: str | None = None
) -> Process:
    """Check that ``process`` is a scorelab :class:`~scorelab.processes.Process`.

    Parameters
    ----------
    process : object
        Value to check.
    name : str, default "process"
        Name of the argument, used in error messages.
    scalar : str, optional
        If given, the process must also be scalar (``m = 1``); otherwise a
        ``ValueError`` with this message is raised.

    Returns
    -------
    Process
        ``process`` itself.

    Raises
    ------
    TypeError
        If ``process`` is not a :class:`~scorelab.processes.Process`.
    ValueError
        If ``scalar`` is given and ``process`` is a phase-space process.
    """
    from .processes import Process

    if not isinstance(process, Process):
        raise TypeError(
            f"{name} must be a scorelab Process, got {type(process).__name__}"
        )
    if scalar is not None and process.m != 1:
        raise ValueError(scalar)
    return process


def check_target(target: Any, name: str = "target") -> Target:
    """Check that ``target`` is a scorelab Gaussian or GaussianMixture.

    Raises
    ------
    TypeError
        If it is not a :class:`~scorelab.targets.Target`.
    """
    from .targets import Target

    if not isinstance(target, Target):
        raise TypeError(
            f"{name} must be a scorelab Gaussian or GaussianMixture, got "
            f"{type(target).__name__}"
        )
    return target


def check_gaussian(target: Any, name: str = "target", why: str = "") -> Gaussian:
    """Check that ``target`` is a scorelab :class:`~scorelab.targets.Gaussian`.

    Raises ``TypeError`` otherwise, naming ``name`` and stating ``why`` (if
    given) in parentheses.
    """
    from .targets import Gaussian

    if not isinstance(target, Gaussian):
        reason = f" ({why})" if why else ""
        raise TypeError(
            f"{name} must be a scorelab Gaussian{reason}, got {type(target).__name__}"
        )
    return target


def check_square(S: npt.NDArray[np.float64], name: str) -> int:
    """Check that ``S`` is a (batch of) square matrices and return their size.

    Parameters
    ----------
    S : numpy.ndarray, shape (..., d, d)
        Matrices.
    name : str
        Name of the argument, used in error messages.

    Returns
    -------
    int
        The matrix size ``d``.

    Raises
    ------
    ValueError
        If ``S.ndim < 2`` or the last two axes differ in length.
    """
    if S.ndim < 2 or S.shape[-1] != S.shape[-2]:
        raise ValueError(
            f"{name} must be a square matrix or a batch of square matrices of "
            f"shape (..., d, d), got shape {S.shape}"
        )
    return int(S.shape[-1])


def symmetrize(S: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    r"""Return the symmetric part :math:`(S + S^\top)/2` (a new array).

    Parameters
    ----------
    S : numpy.ndarray, shape (..., d, d)
        Matrices.

    Returns
    -------
    numpy.ndarray, shape (..., d, d)
        Symmetric part of each matrix.
    """
    return np.ascontiguousarray(0.5 * (S + np.swapaxes(S, -1, -2)))


def _first_bad(mask: npt.NDArray[np.bool_]) -> str:
    """Describe the batch index of the first ``True`` entry of ``mask``."""
    if mask.ndim == 0:
        return ""
    index = tuple(int(i) for i in np.argwhere(mask)[0])
    return f" at batch index {index}"


def _check_symmetric(
    S: npt.NDArray[np.float64], name: str, what: str, tol: float
) -> None:
    """Raise ``ValueError`` unless each matrix is symmetric within ``tol``."""
    asym = np.max(np.abs(S - np.swapaxes(S, -1, -2)), axis=(-2, -1), initial=0.0)
    scale = np.max(np.abs(S), axis=(-2, -1), initial=0.0)
    bad = asym > tol * scale
    if np.any(bad):
        raise ValueError(
            f"{name} must be {what} (not symmetric{_first_bad(bad)}: "
            f"max |S - S^T| = {np.max(asym):.3g} exceeds {tol:g} * max |S|)"
        )


def cholesky_spd(
    S: npt.NDArray[np.float64], name: str, what: str = "symmetric positive definite"
) -> npt.NDArray[np.float64]:
    r"""Lower Cholesky factors :math:`L` with :math:`S = L L^\top`, batched.

    Only the lower triangle of ``S`` is read (callers symmetrise first).

    Parameters
    ----------
    S : numpy.ndarray, shape (..., d, d)
        Symmetric matrices.
    name : str
        Name of the argument, used in error messages.
    what : str, default "symmetric positive definite"
        Requirement stated in the error message.

    Returns
    -------
    numpy.ndarray, shape (..., d, d)
        Lower-triangular factors with positive diagonals.

    Raises
    ------
    ValueError
        If a matrix is not (numerically) positive definite.
    """
    try:
        return np.asarray(np.linalg.cholesky(S), dtype=np.float64)
    except np.linalg.LinAlgError:
        pass
    bad = np.zeros(S.shape[:-2], dtype=bool)
    for index in np.ndindex(*S.shape[:-2]):
        try:
            np.linalg.cholesky(S[index])
        except np.linalg.LinAlgError:
            bad[index] = True
            break
    raise ValueError(
        f"{name} must be {what} (not positive definite{_first_bad(bad)}: "
        "Cholesky factorisation failed)"
    )


def check_spd_cholesky(
    S: npt.ArrayLike, name: str, tol: float = SYMMETRY_RTOL
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    r"""Validate SPD matrices; return them symmetrised with their Cholesky factors.

    Parameters
    ----------
    S : array_like, shape (..., d, d)
        Matrices to check.
    name : str
        Name of the argument, used in error messages.
    tol : float, default 1e-8
        Relative symmetry tolerance, as in :func:`check_spd`.

    Returns
    -------
    S_sym : numpy.ndarray, shape (..., d, d)
        ``(S + S^T) / 2`` as C-contiguous ``float64``.
    L : numpy.ndarray, shape (..., d, d)
        Lower Cholesky factors, ``S_sym = L @ L^T``.

    Raises
    ------
    TypeError
        If ``S`` is not real-valued.
    ValueError
        As :func:`check_spd`.
    """
    what = "symmetric positive definite"
    arr = as_float_array(S, name, min_ndim=2, allow_empty=True)
    check_square(arr, name)
    _check_symmetric(arr, name, what, tol)
    sym = symmetrize(arr)
    return sym, cholesky_spd(sym, name, what)


def check_spd(
    S: npt.ArrayLike, name: str, tol: float = SYMMETRY_RTOL
) -> npt.NDArray[np.float64]:
    r"""Validate symmetric positive definite matrices and return them symmetrised.

    Parameters
    ----------
    S : array_like, shape (..., d, d)
        Matrices to check.
    name : str
        Name of the argument, used in error messages.
    tol : float, default 1e-8
        Relative symmetry tolerance: each matrix must satisfy
        :math:`\max|S - S^\top| \le \mathrm{tol}\,\max|S|`.

    Returns
    -------
    numpy.ndarray, shape (..., d, d)
        ``(S + S^T) / 2`` as C-contiguous ``float64``.

    Raises
    ------
    TypeError
        If ``S`` is not real-valued.
    ValueError
        If ``S`` has a bad shape or non-finite entries, or a matrix is not
        symmetric or not positive definite (its Cholesky factorisation fails).
    """
    return check_spd_cholesky(S, name, tol)[0]


def check_psd(
    S: npt.ArrayLike,
    name: str,
    tol: float = SYMMETRY_RTOL,
    eig_tol: float = PSD_RTOL,
) -> npt.NDArray[np.float64]:
    r"""Validate symmetric positive semi-definite matrices; return them symmetrised.

    Parameters
    ----------
    S : array_like, shape (..., d, d)
        Matrices to check.
    name : str
        Name of the argument, used in error messages.
    tol : float, default 1e-8
        Relative symmetry tolerance, as in :func:`check_spd`.
    eig_tol : float, default 1e-10
        Relative eigenvalue tolerance: the eigenvalues :math:`\lambda_i` of the
        symmetric part must satisfy
        :math:`\min_i \lambda_i \ge -\mathrm{eig\_tol}\,\max_i |\lambda_i|`.

    Returns
    -------
    numpy.ndarray, shape (..., d, d)
        ``(S + S^T) / 2`` as C-contiguous ``float64``.

    Raises
    ------
    TypeError
        If ``S`` is not real-valued.
    ValueError
        If ``S`` has a bad shape or non-finite entries, or a matrix is not
        symmetric or has an eigenvalue below the tolerance.
    """
    what = "symmetric positive semi-definite"
    arr = as_float_array(S, name, min_ndim=2, allow_empty=True)
    check_square(arr, name)
    _check_symmetric(arr, name, what, tol)
    sym = symmetrize(arr)
    if sym.size == 0:
        return sym
    eig = np.linalg.eigvalsh(sym)
    lo = eig[..., 0]
    scale = np.max(np.abs(eig), axis=-1)
    bad = lo < -eig_tol * scale
    if np.any(bad):
        raise ValueError(
            f"{name} must be {what} (not positive semi-definite{_first_bad(bad)}: "
            f"smallest eigenvalue {np.min(lo):.3g} < -{eig_tol:g} * max |eigenvalue|)"
        )
    return sym
