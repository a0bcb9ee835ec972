r"""Targets with exact scores: Gaussians and Gaussian mixtures in any dimension.

A target is the data distribution :math:`p_0`. Under a linear forward process
:math:`X_t = \alpha_t X_0 + \sigma_t Z`, a mixture stays a mixture,

.. math::

    p_t = \sum_k w_k\, \mathcal N(\alpha_t \mu_k,\; \alpha_t^2 \Sigma_k
    + \sigma_t^2 I),

so its score :math:`\nabla \log p_t(x) = -\sum_k r_k(x) C_k^{-1}(x - \alpha_t
\mu_k)` (responsibilities :math:`r = \operatorname{softmax}_k \log(w_k
\mathcal N_k(x))`) is known exactly. Scores and log-densities are evaluated in
the compiled core: per-component Cholesky factors are computed once per call,
log-sum-exp keeps far-away points finite, and no ``n x K x d`` temporary is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._native import core
from ._runtime import as_seed, default_threads
from ._validate import as_float_array, check_int, check_process, check_spd

if TYPE_CHECKING:
    from .processes import Process

__all__ = ["COVARIANCE_TYPES", "Gaussian", "GaussianMixture", "Target", "as_seed"]

COVARIANCE_TYPES = ("full", "diag", "spherical")
_COV_CODE = {"full": 0, "diag": 1, "spherical": 2}

FloatArray = npt.NDArray[np.float64]


class Target:
    """Base class of targets: a Gaussian mixture ``sum_k w_k N(mu_k, Sigma_k)``.

    Subclasses store ``weights`` (K,), ``means`` (K, d) and the covariances in the
    representation given by ``covariance_type``: ``"full"`` (K, d, d), ``"diag"``
    (K, d) variances or ``"spherical"`` (K,) variances.
    """

    weights: FloatArray
    means: FloatArray
    covariances: FloatArray
    covariance_type: str

    @property
    def dim(self) -> int:
        """Dimension d."""
        return int(self.means.shape[1])

    @property
    def n_components(self) -> int:
        """Number of components K."""
        return int(self.means.shape[0])

    # -- moments -------------------------------------------------------------
    def full_covariances(self) -> FloatArray:
        """Component covariances as full matrices, shape (K, d, d)."""
        K, d = self.means.shape
        if self.covariance_type == "full":
            return self.covariances.copy()
        if self.covariance_type == "diag":
            out = np.zeros((K, d, d))
            out[:, np.arange(d), np.arange(d)] = self.covariances
            return out
        return self.covariances[:, None, None] * np.eye(d)[None]

    @property
    def mean(self) -> FloatArray:
        r"""Mean :math:`\sum_k w_k \mu_k`, shape (d,)."""
        return np.asarray(self.weights @ self.means, dtype=np.float64)

    @property
    def cov(self) -> FloatArray:
        r"""Covariance, (d, d).

        :math:`\sum_k w_k (\Sigma_k + \mu_k\mu_k^T) - m m^T`.
        """
        m = self.mean
        c = self.means - m
        S = np.einsum("k,kij->ij", self.weights, self.full_covariances())
        S += np.einsum("k,ki,kj->ij", self.weights, c, c)
        return np.asarray(0.5 * (S + S.T))

    # -- density and score ---------------------------------------------------
    def _check_x(self, x: npt.ArrayLike) -> tuple[FloatArray, bool]:
        arr = as_float_array(x, "x", allow_empty=True)
        single = arr.ndim == 1
        if single:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise ValueError(
                f"x must have shape (n, {self.dim}) or ({self.dim},), got {np.shape(x)}"
            )
        return np.ascontiguousarray(arr), single

    def _logpdf_score(
        self, x: npt.ArrayLike, threads: int | None
    ) -> tuple[FloatArray, FloatArray, bool]:
        arr, single = self._check_x(x)
        t = default_threads() if threads is None else check_int(threads, "threads", 1)
        if arr.shape[0] == 0:
            return np.zeros(0), np.zeros((0, self.dim)), single
        lp, sc = core().mixture_logpdf_score(
            self.weights,
            self.means,
            self.covariances,
            _COV_CODE[self.covariance_type],
            arr,
            t,
        )
        bad = ~np.isfinite(sc).all(axis=1)
        if np.any(bad):
            lp, sc = self._far_rows(arr, lp, sc, bad)
        return lp, sc, single

    def _far_rows(
        self, arr: FloatArray, lp: FloatArray, sc: FloatArray, bad: Any
    ) -> tuple[FloatArray, FloatArray]:
        """Rows whose quadratic form overflowed float64 in the core (|z| > 1e154).

        A single Gaussian's score is affine, so it is recomputed exactly (the log
        density is then below -1e308 and rounds to -inf). For a mixture the
        responsibilities are not representable: raise instead of returning NaN.
        """
        i = int(np.argmax(bad))
        if self.n_components != 1:
            raise ValueError(
                f"x[{i}] is too far from the mixture (max |x| = "
                f"{np.max(np.abs(arr[i])):.3g}): its squared Mahalanobis distance "
                "overflows float64, so the responsibilities are undefined; points "
                "must lie within about 1e150 standard deviations"
            )
        L = np.linalg.cholesky(self.full_covariances()[0])
        diff = (arr[bad] - self.means[0]).T
        with np.errstate(over="ignore", invalid="ignore"):
            z = np.linalg.solve(L, diff)
            s = -np.linalg.solve(L.T, z).T
            q = np.sum(z * z, axis=0)
        if not np.all(np.isfinite(s)):
            raise ValueError(
                f"x[{i}]: the score overflows float64 (max |x| = "
                f"{np.max(np.abs(arr[i])):.3g} for a covariance with smallest "
                "eigenvalue "
                f"{np.min(np.linalg.eigvalsh(self.full_covariances()[0])):.3g})"
            )
        lp = lp.copy()
        sc = sc.copy()
        sc[bad] = s
        lp[bad] = np.where(np.isfinite(q), lp[bad], -np.inf)
        return lp, sc

    def logpdf(self, x: npt.ArrayLike, threads: int | None = None) -> Any:
        """Log-density at ``x``.

        Parameters
        ----------
        x : array_like, shape (n, d) or (d,)
            Points.
        threads : int, optional
            CPU threads (default: all available).

        Returns
        -------
        numpy.ndarray, shape (n,), or float for a single point.
        """
        lp, _, single = self._logpdf_score(x, threads)
        return float(lp[0]) if single else lp

    def score(self, x: npt.ArrayLike, threads: int | None = None) -> FloatArray:
        r"""Score :math:`\nabla_x \log p(x)`.

        Parameters
        ----------
        x : array_like, shape (n, d) or (d,)
            Points.
        threads : int, optional
            CPU threads (default: all available).

        Returns
        -------
        numpy.ndarray, shape (n, d) or (d,).
        """
        _, sc, single = self._logpdf_score(x, threads)
        return sc[0] if single else sc

    def pdf(self, x: npt.ArrayLike, threads: int | None = None) -> Any:
        """Density at ``x`` (``exp(logpdf)``)."""
        return np.exp(self.logpdf(x, threads))

    # -- sampling --------------------------------------------------------------
    def sample(self, n: int, seed: Any = 0) -> FloatArray:
        """Draw ``n`` independent samples, shape (n, d).

        Parameters
        ----------
        n : int
            Number of samples (>= 1).
        seed : int or numpy.random.SeedSequence
            Seed; the same seed gives the same samples.
        """
        n = check_int(n, "n", 1)
        rng = np.random.default_rng(as_seed(seed))
        K, d = self.means.shape
        comp = rng.choice(K, size=n, p=self.weights) if K > 1 else np.zeros(n, int)
        z = rng.standard_normal((n, d))
        out = np.empty((n, d))
        if self.covariance_type == "full":
            L = np.linalg.cholesky(self.covariances)
            for k in range(K):
                idx = comp == k
                out[idx] = self.means[k] + z[idx] @ L[k].T
        elif self.covariance_type == "diag":
            out = self.means[comp] + z * np.sqrt(self.covariances[comp])
        else:
            out = self.means[comp] + z * np.sqrt(self.covariances[comp])[:, None]
        return out

    # -- forward process -----------------------------------------------------
    def _marginal_under(self, process: Process, t: float) -> Target:
        """``process.marginal(self, t)`` for a scalar ``process`` (see ``noised``)."""
        process = check_process(
            process,
            scalar="noised() needs a scalar process; phase-space processes have "
            "their own marginal (see the process's documentation)",
        )
        return process.marginal(self, t)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(d={self.dim}, K={self.n_components}, "
            f"covariance_type={self.covariance_type!r})"
        )


class GaussianMixture(Target):
    r"""Gaussian mixture :math:`\sum_{k=1}^K w_k \mathcal N(\mu_k, \Sigma_k)`.

    Parameters
    ----------
    weights : array_like, shape (K,)
        Non-negative weights summing to 1 (within 1e-8; renormalised exactly).
    means : array_like, shape (K, d)
        Component means.
    covs : array_like
        Covariances: (K, d, d) SPD matrices for ``"full"``, (K, d) positive
        variances for ``"diag"``, (K,) positive variances for ``"spherical"``.
    covariance_type : {"full", "diag", "spherical"}
        Representation of ``covs`` (scikit-learn's names).

    Examples
    --------
    >>> import numpy as np, scorelab as sl
    >>> gm = sl.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.25, 0.25],
    ...                         covariance_type="spherical")
    >>> gm.score(np.array([[0.0]]))
    array([[0.]])
    """

    def __init__(
        self,
        weights: npt.ArrayLike,
        means: npt.ArrayLike,
        covs: npt.ArrayLike,
        covariance_type: str = "full",
    ) -> None:
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {COVARIANCE_TYPES}, got "
                f"{covariance_type!r}"
            )
        w = as_float_array(weights, "weights", ndim=1)
        mu = as_float_array(means, "means", ndim=2)
        K, d = mu.shape
        if w.shape[0] != K:
            raise ValueError(
                f"weights must have shape ({K},) to match means of shape {mu.shape}, "
                f"got {w.shape}"
            )
        if np.any(w < 0):
            raise ValueError("weights must be non-negative")
        if abs(w.sum() - 1.0) > 1e-8:
            raise ValueError(f"weights must sum to 1 (within 1e-8), got {w.sum()!r}")
        if np.any(w == 0):
            raise ValueError(
                "weights must be positive (drop components with zero weight)"
            )
        w = w / w.sum()
        if covariance_type == "full":
            C = as_float_array(covs, "covs", shape=(K, d, d))
            C = check_spd(C, "covs")
        elif covariance_type == "diag":
            C = as_float_array(covs, "covs", shape=(K, d))
            if np.any(C <= 0):
                raise ValueError("covs (diagonal variances) must be positive")
        else:
            C = as_float_array(covs, "covs", shape=(K,))
            if np.any(C <= 0):
                raise ValueError("covs (spherical variances) must be positive")
        self.weights = w
        self.means = mu.copy()  # never alias the caller's arrays
        self.covariances = np.array(C, dtype=np.float64, order="C", copy=True)
        self.covariance_type = covariance_type

    @classmethod
    def from_sklearn(cls, model: Any) -> GaussianMixture:
        """Build from a fitted ``sklearn.mixture.GaussianMixture``.

        All four of scikit-learn's covariance types are accepted; ``"tied"``
        becomes ``"full"`` with the shared matrix repeated.
        """
        for attr in ("weights_", "means_", "covariances_", "covariance_type"):
            if not hasattr(model, attr):
                raise TypeError(
                    "model must be a fitted sklearn.mixture.GaussianMixture "
                    f"(missing attribute {attr!r})"
                )
        ct = model.covariance_type
        covs = np.asarray(model.covariances_, dtype=np.float64)
        if ct == "tied":
            K = np.asarray(model.means_).shape[0]
            covs = np.repeat(covs[None], K, axis=0)
            ct = "full"
        return cls(model.weights_, model.means_, covs, covariance_type=ct)

    def noised(self, process: Process, t: float) -> GaussianMixture:
        """The marginal :math:`p_t` under ``process`` at time ``t`` (same kind)."""
        marg = self._marginal_under(process, t)
        assert isinstance(marg, GaussianMixture)
        return marg

    def component(self, k: int) -> Gaussian:
        """Component ``k`` as a :class:`Gaussian`."""
        k = check_int(k, "k", 0)
        if k >= self.n_components:
            raise ValueError(f"k must be < {self.n_components}, got {k}")
        return Gaussian(self.means[k], self.full_covariances()[k])


class Gaussian(Target):
    r"""Multivariate normal :math:`\mathcal N(m, \Sigma)`.

    Parameters
    ----------
    mean : array_like, shape (d,)
        Mean.
    cov : array_like, shape (d, d)
        Symmetric positive definite covariance.
    """

    #: Structure of a spectral Gaussian (see :meth:`from_spectrum`): per-direction
    #: variances and the orthonormal eigenbasis (None: the identity); both None for
    #: a Gaussian built from a dense covariance.
    _eigenvalues: FloatArray | None = None
    _basis: FloatArray | None = None
    _dense: FloatArray | None = None

    def __init__(self, mean: npt.ArrayLike, cov: npt.ArrayLike) -> None:
        m = as_float_array(mean, "mean", ndim=1)
        d = m.shape[0]
        C = check_spd(as_float_array(cov, "cov", shape=(d, d)), "cov")
        self.weights = np.ones(1)
        self.means = m[None, :].copy()
        self.covariances = np.ascontiguousarray(C[None])
        self.covariance_type = "full"

    @property  # type: ignore[override]
    def covariances(self) -> FloatArray:
        """Covariance as a (1, d, d) array (densified on first access if spectral)."""
        if self._dense is None:
            lam, Q = self._eigenvalues, self._basis
            assert lam is not None
            if Q is None:
                C = np.diag(lam)
            else:
                C = (Q * lam) @ Q.T
                C = 0.5 * (C + C.T)
            self._dense = np.ascontiguousarray(C[None])
        return self._dense

    @covariances.setter
    def covariances(self, value: FloatArray) -> None:
        self._dense = value

    @classmethod
    def from_spectrum(
        cls,
        eigenvalues: npt.ArrayLike,
        basis: npt.ArrayLike | None = None,
        mean: npt.ArrayLike | None = None,
    ) -> Gaussian:
        r"""Gaussian :math:`\mathcal N(m, Q \operatorname{diag}(\lambda) Q^\top)`
        that keeps its eigen-structure.

        The covariance is stored as per-direction variances and an eigenbasis;
        :attr:`cov` densifies it (O(d^2) memory) only when accessed.
        :func:`scorelab.exact_law` and the Gaussian metrics use the structure;
        :meth:`score`, :meth:`logpdf` and :meth:`sample` use the dense
        covariance and need it positive definite (laws at t > 0 are).

        Parameters
        ----------
        eigenvalues : array_like, shape (d,)
            Variances along the basis directions, finite and ``>= 0`` (zero
            eigenvalues, i.e. singular covariances, are allowed).
        basis : array_like, shape (d, d), optional
            Orthonormal eigenvectors as columns (``||Q^T Q - I|| <= 1e-10``);
            None (default) means the identity, i.e. a diagonal covariance.
        mean : array_like, shape (d,), optional
            Mean (default 0).

        Returns
        -------
        Gaussian

        Raises
        ------
        ValueError
            If an eigenvalue is negative or not finite, the shapes do not match,
            or the basis is not orthonormal.
        """
        lam = np.array(eigenvalues, dtype=np.float64, copy=True)
        if lam.ndim != 1 or lam.shape[0] == 0:
            raise ValueError(
                f"eigenvalues must have shape (d,) with d >= 1, got {lam.shape}"
            )
        bad = np.flatnonzero(~np.isfinite(lam) | (lam < 0))
        if bad.size:
            shown = ", ".join(f"eigenvalues[{i}] = {float(lam[i])!r}" for i in bad[:5])
            raise ValueError(
                f"eigenvalues must be finite and >= 0; got {shown}"
                + (f" (and {bad.size - 5} more)" if bad.size > 5 else "")
            )
        d = lam.shape[0]
        Q: FloatArray | None = None
        if basis is not None:
            Q = np.array(as_float_array(basis, "basis", shape=(d, d)), copy=True)
            err = float(np.linalg.norm(Q.T @ Q - np.eye(d)))
            if not err <= 1e-10:
                raise ValueError(
                    f"basis must be orthonormal (||Q^T Q - I|| = {err:.3g} > 1e-10)"
                )
        m = np.zeros(d) if mean is None else as_float_array(mean, "mean", shape=(d,))
        g = cls.__new__(cls)
        g.weights = np.ones(1)
        g.means = np.array(m, dtype=np.float64)[None, :].copy()
        g.covariance_type = "full"
        g._eigenvalues = lam
        g._basis = Q
        g._dense = None
        return g

    @classmethod
    def from_data(cls, X: npt.ArrayLike) -> Gaussian:
        """Spectral Gaussian fitted to data: sample mean and covariance.

        Parameters
        ----------
        X : array_like, shape (n, d)
            Data matrix (n >= 2 rows); the covariance is the unbiased sample
            covariance, eigen-decomposed (eigenvalues below 0 from rounding
            are set to 0, so rank-deficient data are allowed).

        Returns
        -------
        Gaussian
            As :meth:`from_spectrum`.
        """
        A = as_float_array(X, "X", ndim=2)
        n, d = A.shape
        if n < 2 or d < 1:
            raise ValueError(f"X must have shape (n, d) with n >= 2, got {A.shape}")
        mu = A.mean(axis=0)
        Xc = A - mu
        C = Xc.T @ Xc / (n - 1)
        lam, Q = np.linalg.eigh(0.5 * (C + C.T))
        return cls.from_spectrum(np.maximum(lam, 0.0), Q, mu)

    @property
    def spectrum(self) -> tuple[FloatArray, FloatArray | None] | None:
        """``(eigenvalues, basis)`` of a spectral Gaussian (basis None: identity);
        None for a Gaussian built from a dense covariance."""
        if self._eigenvalues is None:
            return None
        return self._eigenvalues, self._basis

    @property
    def mean(self) -> FloatArray:
        return self.means[0].copy()

    @property
    def cov(self) -> FloatArray:
        return self.covariances[0].copy()

    def noised(self, process: Process, t: float) -> Gaussian:
        r"""The marginal :math:`p_t = \mathcal N(\alpha_t m, \alpha_t^2\Sigma +
        \sigma_t^2 I)`."""
        spec = self.spectrum
        if spec is not None and getattr(process, "m", 1) == 1:
            check_process(process)
            tt = float(as_float_array(t, "t", ndim=0))
            if tt < 0:
                raise ValueError(f"t must be >= 0, got {tt}")
            a, s2 = float(process.alpha(tt)), float(process.sigma2(tt))
            return Gaussian.from_spectrum(a * a * spec[0] + s2, spec[1], a * self.mean)
        marg = self._marginal_under(process, t)
        assert isinstance(marg, Gaussian)
        return marg

    def as_mixture(self) -> GaussianMixture:
        """This Gaussian as a one-component :class:`GaussianMixture`."""
        return GaussianMixture(self.weights, self.means, self.covariances, "full")

    def __repr__(self) -> str:
        return f"Gaussian(d={self.dim})"
