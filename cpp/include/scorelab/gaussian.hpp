// scorelab — batched Bures–Wasserstein distances between Gaussians.
//
//   W2^2(N(m1, S1), N(m2, S2)) = |m1 - m2|^2 + tr S1 + tr S2 - 2 tr (S2^1/2 S1 S2^1/2)^1/2
//
// Trace form (every pair). With S2 = L L^T (Cholesky, or the eigen factor
// V diag(sqrt(max(w, 0))) when S2 is singular), L^T S1 L is orthogonally similar to
// S2^1/2 S1 S2^1/2, so the trace term is sum_i sqrt(max(lambda_i(L^T S1 L), 0)) from
// a symmetric eigenvalue problem. Its terms are O(tr S) and cancel: the covariance
// part comes out with an absolute error ~ d eps (tr S1 + tr S2), i.e. W2 is lost below
// ~ sqrt(d eps tr S) ~ 1e-8 sqrt(tr S).
//
// Near pairs (the trace-form covariance part < kW2NearRatio (tr S1 + tr S2), where the
// trace form's relative error, ~ d eps tr S / W2^2, could exceed ~1e-12): recomputed
// without cancellation. Take a positive definite reference R = L L^T (Cholesky; the
// better conditioned of S1, S2, as W2 is symmetric; the trace form is kept when
// neither has (min L_ii / max L_ii)^2 >= kW2NearMinRcond), the other covariance O and their
// difference D = O - R, formed from the inputs (exact in floating point up to one
// rounding relative to D itself). With G = L^T L and M = L^T O L = G^2 + K,
// K = L^T D L, let X = M^1/2 - G (symmetric, O(|D|)). Then
//   tr R = tr G, tr O = tr(G^-1 M), tr (R^1/2 O R^1/2)^1/2 = tr M^1/2, so
//   W2cov^2 = tr G + tr(G^-1 M) - 2 tr M^1/2 = tr(G^-1 X^2) = |L^-T X|_F^2
// (expand tr(G^-1 (M^1/2 - G)^2) and use tr(G^-1 M^1/2 G) = tr M^1/2): a sum of
// squares of O(|D|) numbers, no cancellation. X solves (G + X)^2 = M, i.e.
//   M^1/2 X + X M^1/2 - X^2 = K
// (G = M^1/2 - X). In the eigenbasis M = W diag(s^2) W^T this is, for X' = W^T X W,
//   X'_ij = (K'_ij + (X'^2)_ij) / (s_i + s_j),   K' = F^T D F,  F = L W,
// and one step from the (cancelling) estimate X~' = diag(s) - F^T F, whose absolute
// error is ~ eps |G|, gives X' with a relative error ~ eps |G| / s_min: X~'^2 enters
// only through a second-order term. Finally W2cov^2 = |L^-T W X'|_F^2 (a triangular
// solve). Entries with s_i + s_j <= 2 |X~'|_F (a singular other covariance, only far
// from R) keep X~'. The data are effectively (R, D) exact and O(1) quantities (L, W,
// s) perturbed by ~eps relative, so the relative error of W2 is ~ c d eps kappa with
// kappa ~ cond(R) cond(O) (the eigenbasis error of M^1/2), about 1e-14 for
// well-conditioned covariances, whatever the size of W2.
//
// Inputs are checked for symmetry (the test of scorelab._validate) and symmetrised on
// the fly. Positive semi-definiteness: S2 passes if its Cholesky factorisation
// succeeds; S1 then passes if L^T S1 L (congruent to S1) has no negative eigenvalue.
// Otherwise a matrix passes if its smallest eigenvalue is >= -eig_tol * max
// |eigenvalue| (the test of scorelab._validate.check_psd).
// Eigenvalues: Householder tridiagonalisation and implicit QR with Wilkinson shifts,
// written for small matrices (no allocation, no LAPACK call per pair).
// Cost per pair O(d^3): one Cholesky factorisation, two triangular products and one
// eigenvalue-only symmetric eigensolve; near pairs add one Cholesky factorisation,
// one eigensolve with vectors (Eigen) and about six d x d products.
// d == 1: (s1 - s2)^2 = ((S1 - S2) / (sqrt S1 + sqrt S2))^2, again cancellation-free.
#pragma once

#include "parallel.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <vector>

namespace scorelab {

/// Per-thread workspace of the batched W2 (sized once for dimension d).
struct W2Workspace {
  int d;
  std::vector<double> A, B, L, T, M, diag, off;
  Eigen::MatrixXd Ed;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig;  // singular S2; near pairs
  // near pairs only (detail::w2_cov_near): reference factor, difference, work
  Eigen::MatrixXd R, Dl, F, K, G, X, Y;
  Eigen::VectorXd s;
  explicit W2Workspace(int d_)
      : d(d_), A(sq(d_)), B(sq(d_)), L(sq(d_)), T(sq(d_)), M(sq(d_)), diag(d_), off(d_), Ed(d_, d_), eig(d_),
        R(d_, d_), Dl(d_, d_), F(d_, d_), K(d_, d_), G(d_, d_), X(d_, d_), Y(d_, d_), s(d_) {}
  static std::size_t sq(int n) { return static_cast<std::size_t>(n) * n; }
};

namespace detail {

/// Symmetry test of scorelab._validate: max |S - S^T| <= tol * max |S|; on success
/// dst = (S + S^T) / 2 (row-major d x d).
inline bool load_symmetric(const double* S, int d, double tol, double* dst) {
  double asym = 0.0, scale = 0.0;
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) {
      const double a = S[static_cast<std::size_t>(i) * d + j], b = S[static_cast<std::size_t>(j) * d + i];
      asym = std::max(asym, std::abs(a - b));
      scale = std::max(scale, std::abs(a));
      dst[static_cast<std::size_t>(i) * d + j] = 0.5 * (a + b);
    }
  return !(asym > tol * scale);
}

/// In-place lower Cholesky factor of a symmetric row-major matrix (upper part zeroed).
/// Returns false if a pivot is not positive and finite.
inline bool cholesky_lower(double* A, int d) {
  for (int j = 0; j < d; ++j) {
    double* Aj = A + static_cast<std::size_t>(j) * d;
    double s = Aj[j];
    for (int k = 0; k < j; ++k) s -= Aj[k] * Aj[k];
    if (!(s > 0.0) || !std::isfinite(s)) return false;
    const double ljj = std::sqrt(s), inv = 1.0 / ljj;
    Aj[j] = ljj;
    for (int i = j + 1; i < d; ++i) {
      double* Ai = A + static_cast<std::size_t>(i) * d;
      double t = Ai[j];
      for (int k = 0; k < j; ++k) t -= Ai[k] * Aj[k];
      Ai[j] = t * inv;
    }
    for (int k = j + 1; k < d; ++k) Aj[k] = 0.0;
  }
  return true;
}

/// Eigenvalues (unsorted) of a symmetric row-major d x d matrix A (destroyed):
/// Householder reduction to tridiagonal form, then implicit symmetric QR steps with
/// Wilkinson shifts (Golub & Van Loan, Matrix Computations, 4th ed., 8.3.1-8.3.3).
/// diag, off: d each; the eigenvalues are returned in diag. O(4/3 d^3) flops.
inline void symmetric_eigenvalues(double* A, int d, double* diag, double* off) {
  const std::size_t n = static_cast<std::size_t>(d);
  // --- tridiagonalisation: for column k, reflect x = A[k+1:, k] onto alpha e_1
  for (int k = 0; k + 2 < d; ++k) {
    const int m = d - k - 1;
    double xnorm2 = 0.0;
    for (int i = 0; i < m; ++i) {
      const double x = A[(k + 1 + i) * n + k];
      diag[i] = x;  // diag[0..m) holds the Householder vector v
      xnorm2 += x * x;
    }
    const double x0 = diag[0];
    const double xnorm = std::sqrt(xnorm2);
    if (xnorm == 0.0) {
      A[(k + 1) * n + k] = 0.0;
      continue;
    }
    const double alpha = x0 >= 0.0 ? -xnorm : xnorm;
    // v = x - alpha e_1, beta = 2 / v^T v = 1 / (xnorm^2 - alpha x0)
    double* vv = diag;
    vv[0] = x0 - alpha;
    const double beta = 1.0 / (xnorm2 - alpha * x0);
    // p = beta * B v with B = A[k+1:, k+1:] (symmetric, full storage)
    double* p = off;  // off[0..m) holds p, then w; off is rewritten below
    for (int i = 0; i < m; ++i) {
      const double* Bi = A + (k + 1 + i) * n + (k + 1);
      double s = 0.0;
      for (int j = 0; j < m; ++j) s += Bi[j] * vv[j];
      p[i] = beta * s;
    }
    double pv = 0.0;
    for (int i = 0; i < m; ++i) pv += p[i] * vv[i];
    const double h = 0.5 * beta * pv;
    for (int i = 0; i < m; ++i) p[i] -= h * vv[i];  // w = p - (beta p.v / 2) v
    // B -= v w^T + w v^T
    for (int i = 0; i < m; ++i) {
      double* Bi = A + (k + 1 + i) * n + (k + 1);
      const double vi = vv[i], wi = p[i];
      for (int j = 0; j < m; ++j) Bi[j] -= vi * p[j] + wi * vv[j];
    }
    A[(k + 1) * n + k] = alpha;
  }
  for (int i = 0; i < d; ++i) diag[i] = A[i * n + i];
  for (int i = 0; i + 1 < d; ++i) off[i] = A[(i + 1) * n + i];
  off[d - 1] = 0.0;
  // --- implicit symmetric QR with Wilkinson shift on the unreduced blocks
  const double eps = std::numeric_limits<double>::epsilon();
  int hi = d - 1, iters = 0;
  while (hi > 0 && iters < 64 * d) {
    if (std::abs(off[hi - 1]) <= eps * (std::abs(diag[hi - 1]) + std::abs(diag[hi]))) {
      off[hi - 1] = 0.0;
      --hi;
      continue;
    }
    int lo = hi - 1;
    while (lo > 0 && std::abs(off[lo - 1]) > eps * (std::abs(diag[lo - 1]) + std::abs(diag[lo]))) --lo;
    ++iters;
    const double dd = 0.5 * (diag[hi - 1] - diag[hi]);
    const double b2 = off[hi - 1] * off[hi - 1];
    const double mu = diag[hi] - b2 / (dd + std::copysign(std::sqrt(dd * dd + b2), dd));
    double x = diag[lo] - mu, z = off[lo], bulge = 0.0;
    for (int k = lo; k < hi; ++k) {
      const double r = std::sqrt(x * x + z * z);  // no hypot: entries are O(|A|), far from overflow
      const double ir = r == 0.0 ? 0.0 : 1.0 / r;
      const double c = r == 0.0 ? 1.0 : x * ir, s = z * ir;
      if (k > lo) off[k - 1] = r;
      const double ak = diag[k], ak1 = diag[k + 1], bk = off[k];
      diag[k] = c * c * ak + 2.0 * c * s * bk + s * s * ak1;
      diag[k + 1] = s * s * ak - 2.0 * c * s * bk + c * c * ak1;
      off[k] = c * s * (ak1 - ak) + (c * c - s * s) * bk;
      if (k + 1 < hi) {
        bulge = s * off[k + 1];
        off[k + 1] *= c;
        x = off[k];
        z = bulge;
      }
    }
  }
}

/// Near pairs switch to the cancellation-free form when the trace-form covariance
/// part is below this fraction of tr S1 + tr S2 (see the file header).
constexpr double kW2NearRatio = 1e-3;
/// ... provided the reference has (min_i L_ii / max_i L_ii)^2 >= kW2NearMinRcond
/// (an estimate of 1 / cond): near-singular pairs keep the trace form.
constexpr double kW2NearMinRcond = 1e-6;

/// Covariance part of W2^2, cancellation-free (file header). Lref: lower Cholesky
/// factor (row-major, upper part zero) of the symmetrised reference covariance;
/// Oth: the symmetrised other covariance; Rraw, Oraw: the raw inputs, for the
/// difference D = sym(Oraw - Rraw). All d x d row-major.
inline double w2_cov_near(int d, const double* Lref, const double* Oth, const double* Rraw, const double* Oraw,
                          W2Workspace& ws) {
  using RowMap = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  const std::size_t n = static_cast<std::size_t>(d);
  ws.R = RowMap(Lref, d, d);
  ws.Ed = RowMap(Oth, d, d);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j)
      ws.Dl(i, j) = 0.5 * ((Oraw[i * n + j] - Rraw[i * n + j]) + (Oraw[j * n + i] - Rraw[j * n + i]));
  const auto L = ws.R.triangularView<Eigen::Lower>();
  ws.F.noalias() = ws.Ed * L;                                             // O L
  ws.K.noalias() = ws.R.transpose().triangularView<Eigen::Upper>() * ws.F;  // M = L^T O L
  ws.G = 0.5 * (ws.K + ws.K.transpose());
  ws.eig.compute(ws.G, Eigen::ComputeEigenvectors);
  const Eigen::MatrixXd& W = ws.eig.eigenvectors();
  ws.s = ws.eig.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  ws.F.noalias() = L * W;              // F = L W
  ws.X.noalias() = ws.Dl * ws.F;       // D F
  ws.K.noalias() = ws.F.transpose() * ws.X;  // K' = F^T D F
  ws.G.noalias() = ws.F.transpose() * ws.F;  // G' = W^T G W
  ws.Y = -ws.G;                        // X~' = diag(s) - G'
  ws.Y.diagonal() += ws.s;
  ws.X.noalias() = ws.Y * ws.Y;
  const double guard = 2.0 * ws.Y.norm();
  for (int j = 0; j < d; ++j)
    for (int i = 0; i <= j; ++i) {
      const double den = ws.s(i) + ws.s(j);
      const double v = den > guard ? (0.5 * (ws.K(i, j) + ws.K(j, i)) + 0.5 * (ws.X(i, j) + ws.X(j, i))) / den
                                   : 0.5 * (ws.Y(i, j) + ws.Y(j, i));
      ws.G(i, j) = v;
      ws.G(j, i) = v;
    }
  ws.Y.noalias() = W * ws.G;  // W X'
  ws.R.transpose().triangularView<Eigen::Upper>().solveInPlace(ws.Y);
  return ws.Y.squaredNorm();
}

}  // namespace detail

/// Squared Bures W2 of one pair. S1, S2 row-major d x d (symmetrised here).
/// Returns 0 on success, 1 / 2 if S1 / S2 fails the PSD check, 3 / 4 if S1 / S2 is
/// not symmetric within sym_tol.
inline int w2_squared_pair(int d, const double* m1, const double* S1, const double* m2, const double* S2,
                           double sym_tol, double eig_tol, W2Workspace& ws, double& out) {
  const std::size_t n = static_cast<std::size_t>(d), dd = n * n;
  double mean_term = 0.0;
  for (int i = 0; i < d; ++i) {
    const double df = m1[i] - m2[i];
    mean_term += df * df;
  }
  double* A = ws.A.data();
  double* B = ws.B.data();
  if (!detail::load_symmetric(S1, d, sym_tol, A)) return 3;
  if (!detail::load_symmetric(S2, d, sym_tol, B)) return 4;
  double tr = 0.0;
  for (int i = 0; i < d; ++i) tr += A[i * n + i] + B[i * n + i];
  auto psd_ok = [&](const double* S) {  // the eigenvalue test, on a copy
    double* W = ws.M.data();
    std::copy(S, S + dd, W);
    detail::symmetric_eigenvalues(W, d, ws.diag.data(), ws.off.data());
    double lo = ws.diag[0], scale = 0.0;
    for (int i = 0; i < d; ++i) {
      lo = std::min(lo, ws.diag[i]);
      scale = std::max(scale, std::abs(ws.diag[i]));
    }
    return !(lo < -eig_tol * scale);
  };
  if (d == 1) {
    if (!psd_ok(A)) return 1;
    if (!psd_ok(B)) return 2;
    const double v1 = std::max(A[0], 0.0), v2 = std::max(B[0], 0.0);
    const double den = std::sqrt(v1) + std::sqrt(v2);
    const double ds = den > 0.0 ? (v1 - v2) / den : 0.0;  // sqrt v1 - sqrt v2, no cancellation
    out = mean_term + ds * ds;
    return 0;
  }
  double* L = ws.L.data();
  double* T = ws.T.data();
  double* M = ws.M.data();
  std::copy(B, B + dd, L);
  const bool s2_pd = detail::cholesky_lower(L, d);
  if (s2_pd) {
    // T = S1 L (L lower), then M = L^T T (lower triangle used)
    std::fill(T, T + dd, 0.0);
    for (int i = 0; i < d; ++i)
      for (int k = 0; k < d; ++k) {
        const double a = A[i * n + k];
        const double* Lk = L + k * n;
        double* Ti = T + i * n;
        for (int j = 0; j <= k; ++j) Ti[j] += a * Lk[j];
      }
    std::fill(M, M + dd, 0.0);
    for (int k = 0; k < d; ++k) {
      const double* Lk = L + k * n;
      const double* Tk = T + k * n;
      for (int i = 0; i <= k; ++i) {
        const double l = Lk[i];
        double* Mi = M + i * n;
        for (int j = 0; j < d; ++j) Mi[j] += l * Tk[j];
      }
    }
  } else {
    if (!psd_ok(A)) return 1;  // S1 is checked first, as in the NumPy path
    if (!psd_ok(B)) return 2;
    ws.Ed = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(B, d, d);
    ws.eig.compute(ws.Ed, Eigen::ComputeEigenvectors);
    const Eigen::MatrixXd F =
        ws.eig.eigenvectors() * ws.eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal();
    const Eigen::MatrixXd Ea =
        Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(A, d, d);
    const Eigen::MatrixXd Mm = F.transpose() * Ea * F;
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j) M[i * n + j] = Mm(i, j);
  }
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < i; ++j) {
      const double v = 0.5 * (M[i * n + j] + M[j * n + i]);
      M[i * n + j] = v;
      M[j * n + i] = v;
    }
  detail::symmetric_eigenvalues(M, d, ws.diag.data(), ws.off.data());
  double cross = 0.0, lo = 0.0;
  for (int i = 0; i < d; ++i) {
    cross += std::sqrt(std::max(ws.diag[i], 0.0));
    lo = std::min(lo, ws.diag[i]);
  }
  // With S2 = L L^T positive definite, L^T S1 L is congruent to S1 (Sylvester's law
  // of inertia): no negative eigenvalue there means S1 is positive semi-definite.
  // Otherwise S1 gets the eigenvalue test (it passes tiny negative eigenvalues).
  if (s2_pd && lo < 0.0 && !psd_ok(A)) return 1;
  double cov = tr - 2.0 * cross;
  if (cov < detail::kW2NearRatio * tr) {
    // near pair: the trace form cancels; reference = the better conditioned of the
    // positive definite ones (Cholesky of S2 is in L, of S1 goes to T)
    std::copy(A, A + dd, T);
    const bool s1_pd = detail::cholesky_lower(T, d);
    auto ratio = [&](const double* F) {
      double mn = F[0], mx = F[0];
      for (int i = 1; i < d; ++i) {
        mn = std::min(mn, F[i * n + i]);
        mx = std::max(mx, F[i * n + i]);
      }
      return (mn / mx) * (mn / mx);
    };
    const double r1 = s1_pd ? ratio(T) : 0.0, r2 = s2_pd ? ratio(L) : 0.0;
    if (r1 > r2 && r1 >= detail::kW2NearMinRcond)
      cov = detail::w2_cov_near(d, T, B, S1, S2, ws);
    else if (r2 >= detail::kW2NearMinRcond)
      cov = detail::w2_cov_near(d, L, A, S2, S1, ws);
  }
  out = std::max(mean_term + cov, 0.0);
  return 0;
}

/// Squared Bures W2 of N stacked pairs: m1, m2 (N x d), S1, S2 (N x d x d), all
/// row-major; out (N), status (N; see w2_squared_pair). Threads over chunks
/// of pairs. Returns false if poll() asked to cancel.
inline bool w2_squared_batch(std::size_t N, int d, const double* m1, const double* S1, const double* m2,
                             const double* S2, double sym_tol, double eig_tol, double* out, int* status, int threads,
                             const std::function<bool()>& poll) {
  constexpr std::size_t chunk = 128;
  const std::size_t nchunks = (N + chunk - 1) / chunk;
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  std::atomic<bool> cancel{false};
  auto body = [&](std::size_t c) {
    W2Workspace ws(d);
    const std::size_t i1 = std::min(N, (c + 1) * chunk);
    for (std::size_t i = c * chunk; i < i1; ++i)
      status[i] = w2_squared_pair(d, m1 + i * d, S1 + i * dd, m2 + i * d, S2 + i * dd, sym_tol, eig_tol, ws, out[i]);
  };
  return parallel_for(nchunks, threads, body, poll, cancel);
}

}  // namespace scorelab
