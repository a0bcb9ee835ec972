"""Shared hypothesis strategies for scorelab's tests.

Import from test modules as ``from strategies import spd_matrices, ...`` (pytest
puts ``tests/`` on ``sys.path``). All arrays are ``float64``.

Random matrices are built from a drawn integer seed (NumPy ``default_rng``) for
the orthogonal part and from drawn floats for the spectrum, so hypothesis can
shrink the spectrum while the eigenvectors stay generic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "COVARIANCE_TYPES",
    "HOSTILE_DTYPES",
    "MAGNITUDES",
    "array_variant",
    "hostile_scalars",
    "is_real_dtype",
    "dims",
    "gaussians",
    "means",
    "mixtures",
    "orthogonal_matrices",
    "psd_matrices",
    "seeds",
    "spd_matrices",
    "spectra",
]

_Float = npt.NDArray[np.float64]

#: Covariance types of scikit-learn's ``GaussianMixture``.
COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")


def seeds() -> st.SearchStrategy[int]:
    """Seeds for ``numpy.random.default_rng``."""
    return st.integers(min_value=0, max_value=2**32 - 1)


def dims(max_d: int = 8, min_d: int = 1) -> st.SearchStrategy[int]:
    """Dimensions ``d`` in ``[min_d, max_d]``."""
    return st.integers(min_value=min_d, max_value=max_d)


@st.composite
def orthogonal_matrices(draw: st.DrawFn, d: int) -> _Float:
    """Random ``(d, d)`` orthogonal matrices (Haar, via QR of a Gaussian matrix)."""
    rng = np.random.default_rng(draw(seeds()))
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    signs = np.where(np.diag(r) < 0, -1.0, 1.0)
    return q * signs


@st.composite
def spectra(draw: st.DrawFn, d: int, cond_max: float = 1e3) -> _Float:
    """Eigenvalues ``scale * l_i`` with ``l_i in [1, cond_max]``, scale in [1e-2, 1e2].

    Returns
    -------
    numpy.ndarray, shape (d,)
        Positive values whose ratio max/min is at most ``cond_max``.
    """
    unit = st.floats(min_value=1.0, max_value=cond_max)
    lam = np.array(draw(st.lists(unit, min_size=d, max_size=d)), dtype=np.float64)
    scale = draw(st.floats(min_value=1e-2, max_value=1e2))
    return scale * lam


def _symmetric(a: _Float) -> _Float:
    return 0.5 * (a + a.T)


@st.composite
def spd_matrices(draw: st.DrawFn, d: int, cond_max: float = 1e3) -> _Float:
    """Symmetric positive definite ``(d, d)`` matrices with bounded condition number.

    ``S = Q diag(lam) Q^T`` with ``Q`` orthogonal (QR of a Gaussian matrix drawn
    from a seed) and ``lam`` from :func:`spectra`, so ``cond(S) <= cond_max``
    (up to rounding) and the eigenvalues lie in ``[1e-2, 1e2 * cond_max]``.
    The result is exactly symmetric.
    """
    q = draw(orthogonal_matrices(d))
    lam = draw(spectra(d, cond_max))
    return _symmetric((q * lam) @ q.T)


@st.composite
def psd_matrices(
    draw: st.DrawFn, d: int, rank: int | None = None, cond_max: float = 1e3
) -> _Float:
    """Symmetric positive semi-definite ``(d, d)`` matrices of a given rank.

    ``rank`` defaults to a drawn value in ``[0, d - 1]`` (singular). The nonzero
    eigenvalues follow :func:`spectra`.
    """
    if rank is None:
        rank = draw(st.integers(min_value=0, max_value=max(d - 1, 0)))
    q = draw(orthogonal_matrices(d))
    lam = np.zeros(d)
    if rank > 0:
        lam[:rank] = draw(spectra(rank, cond_max))
    return _symmetric((q * lam) @ q.T)


def means(d: int, bound: float = 10.0) -> st.SearchStrategy[_Float]:
    """Mean vectors of shape ``(d,)`` with entries in ``[-bound, bound]``."""
    elements = st.floats(
        min_value=-bound, max_value=bound, allow_nan=False, allow_infinity=False
    )
    return hnp.arrays(np.float64, (d,), elements=elements)


@st.composite
def gaussians(
    draw: st.DrawFn, max_d: int = 8, cond_max: float = 1e3, d: int | None = None
) -> tuple[_Float, _Float]:
    """Gaussians as ``(mean, cov)`` with shapes ``(d,)`` and ``(d, d)``.

    ``d`` is drawn from :func:`dims` unless given.
    """
    if d is None:
        d = draw(dims(max_d))
    return draw(means(d)), draw(spd_matrices(d, cond_max))


@st.composite
def mixtures(
    draw: st.DrawFn,
    max_d: int = 4,
    max_k: int = 4,
    covariance_type: str = "full",
    cond_max: float = 1e3,
    d: int | None = None,
) -> tuple[_Float, _Float, _Float]:
    """Gaussian mixtures as ``(weights, means, covs)``, scikit-learn layout.

    Shapes follow ``sklearn.mixture.GaussianMixture``'s ``weights_``,
    ``means_`` and ``covariances_``: weights ``(K,)`` (positive, summing to 1),
    means ``(K, d)`` and covariances ``(K, d, d)`` for ``"full"``, ``(K, d)``
    for ``"diag"``, ``(K,)`` for ``"spherical"`` and ``(d, d)`` for ``"tied"``.
    Every covariance has condition number at most ``cond_max``.
    """
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, got "
            f"{covariance_type!r}"
        )
    if d is None:
        d = draw(dims(max_d))
    k = draw(st.integers(min_value=1, max_value=max_k))
    raw = st.floats(min_value=0.05, max_value=1.0)
    w = np.array(draw(st.lists(raw, min_size=k, max_size=k)), dtype=np.float64)
    weights = w / w.sum()
    mu = np.stack([draw(means(d)) for _ in range(k)])
    covs: _Float
    if covariance_type == "full":
        covs = np.stack([draw(spd_matrices(d, cond_max)) for _ in range(k)])
    elif covariance_type == "tied":
        covs = draw(spd_matrices(d, cond_max))
    elif covariance_type == "diag":
        covs = np.stack([draw(spectra(d, cond_max)) for _ in range(k)])
    else:
        covs = np.array(
            [draw(st.floats(min_value=1e-2, max_value=1e2)) for _ in range(k)],
            dtype=np.float64,
        )
    return weights, mu, covs


# ---------------------------------------------------------------------------
# hostile inputs for the boundary fuzz tests
# ---------------------------------------------------------------------------
#: dtypes a user may pass by accident; only real ones may be accepted.
HOSTILE_DTYPES = (
    np.float64,
    np.float32,
    np.int64,
    np.int32,
    np.complex128,
    object,
    bool,
)

#: magnitudes spanning float64's range (squares of the extremes over/underflow).
MAGNITUDES = (1.0, 1e-3, 1e3, 1e-300, 1e150, 1e-150)


def array_variant(draw: st.DrawFn, a: npt.NDArray[np.generic]) -> npt.NDArray[Any]:
    """The same values as another dtype, Fortran order, a strided view or read-only.

    Returns ``a`` itself for ``"plain"``; a cast that raises returns ``a``.
    """
    kind = draw(
        st.sampled_from(["plain", "dtype", "fortran", "strided", "readonly", "list"])
    )
    if kind == "dtype":
        dt = draw(st.sampled_from(HOSTILE_DTYPES))
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                return a.astype(dt)
        except (TypeError, ValueError, OverflowError):
            return a
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "strided" and a.ndim >= 1:
        big = np.repeat(a, 2, axis=-1)
        view = big[..., ::2]
        assert not view.flags.c_contiguous or view.size <= 1
        return view
    if kind == "readonly":
        b = a.copy()
        b.setflags(write=False)
        return b
    if kind == "list":
        return a.tolist()  # type: ignore[no-any-return]
    return a


def is_real_dtype(a: object) -> bool:
    """Whether ``a`` converts to an integer or real floating array (not bool)."""
    try:
        kind = np.asarray(a).dtype.kind
    except (TypeError, ValueError):
        return False
    return kind in "iuf"


def hostile_scalars() -> st.SearchStrategy[object]:
    """Scalars a user may pass for a real parameter, valid or not."""
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.integers(min_value=-5, max_value=5),
        st.sampled_from(
            [None, "x", "1.0", True, 1j, [1.0], np.float32(0.5), np.array(2.0)]
        ),
    )
