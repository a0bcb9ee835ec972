// scorelab — Gaussian-mixture components at one time and their batched score.
//
// A mixture p(y) = sum_k w_k N(y; m_k, C_k) is evaluated through a per-component
// cache built once per (mixture, time): the mean m_k, the inverse Cholesky factor
// U_k = L_k^{-1} (C_k = L_k L_k^T; lower triangular, or diagonal), and the constant
// log w_k - log det L_k - D/2 log(2 pi). For a block of P particles stored as
// structure-of-arrays (D rows of P), with z_k = U_k (y - m_k),
//   log p(y)        = logsumexp_k (c_k - |z_k|^2 / 2)
//   grad log p(y)   = - sum_k r_k(y) U_k^T z_k,     r = softmax_k(c_k - |z_k|^2 / 2).
// Cost per particle: O(K D^2) full, O(K D) diagonal/spherical; the only temporaries
// are K x D x P values of z for one block (never N x K x D).
#pragma once

#include "fastmath.hpp"
#include "parallel.hpp"
#include "table.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace scorelab {

using MatrixXdR = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Per-component data of a mixture at one time, ready for score evaluation.
template <class Scalar>
struct ComponentCache {
  int K = 0;
  int D = 0;
  CovType cov = CovType::Full;
  std::vector<Scalar> mean;  ///< K x D
  std::vector<Scalar> U;     ///< Full: K x D x D lower-triangular rows; Diag: K x D; Spherical: K
  std::vector<Scalar> logc;  ///< K: log w_k - log det L_k - D/2 log(2 pi)
};

/// Build the cache from weights (K), means (K x D) and covariances — (K x D x D)
/// full, (K x D) diagonal variances, or (K) spherical variances — all row-major
/// double. Throws std::invalid_argument if a covariance is not positive definite.
template <class Scalar>
void build_cache(ComponentCache<Scalar>& cc, int K, int D, CovType cov, const double* weights,
                 const double* means, const double* covs) {
  cc.K = K;
  cc.D = D;
  cc.cov = cov;
  cc.mean.assign(means, means + static_cast<std::size_t>(K) * D);
  cc.logc.resize(K);
  const double half_log_2pi = 0.91893853320467274178032973640562;
  if (cov == CovType::Full) {
    cc.U.assign(static_cast<std::size_t>(K) * D * D, Scalar(0));
    MatrixXdR Ck(D, D);
    for (int k = 0; k < K; ++k) {
      Ck = Eigen::Map<const MatrixXdR>(covs + static_cast<std::size_t>(k) * D * D, D, D);
      Eigen::LLT<Eigen::MatrixXd> llt(Ck);
      if (llt.info() != Eigen::Success)
        throw std::invalid_argument("covariance of component " + std::to_string(k) +
                                    " is not positive definite");
      Eigen::MatrixXd L = llt.matrixL();
      double logdet = 0.0;
      for (int i = 0; i < D; ++i) {
        if (!(L(i, i) > 0.0) || !std::isfinite(L(i, i)))
          throw std::invalid_argument("covariance of component " + std::to_string(k) +
                                      " is not positive definite");
        logdet += std::log(L(i, i));
      }
      Eigen::MatrixXd Uinv = L.triangularView<Eigen::Lower>().solve(Eigen::MatrixXd::Identity(D, D));
      Scalar* Uk = cc.U.data() + static_cast<std::size_t>(k) * D * D;
      for (int r = 0; r < D; ++r)
        for (int c = 0; c <= r; ++c) Uk[static_cast<std::size_t>(r) * D + c] = static_cast<Scalar>(Uinv(r, c));
      cc.logc[k] = static_cast<Scalar>(std::log(weights[k]) - logdet - D * half_log_2pi);
    }
  } else if (cov == CovType::Diag) {
    cc.U.resize(static_cast<std::size_t>(K) * D);
    for (int k = 0; k < K; ++k) {
      double logdet = 0.0;
      for (int i = 0; i < D; ++i) {
        const double v = covs[static_cast<std::size_t>(k) * D + i];
        if (!(v > 0.0) || !std::isfinite(v))
          throw std::invalid_argument("variance of component " + std::to_string(k) + " is not positive");
        cc.U[static_cast<std::size_t>(k) * D + i] = static_cast<Scalar>(1.0 / std::sqrt(v));
        logdet += 0.5 * std::log(v);
      }
      cc.logc[k] = static_cast<Scalar>(std::log(weights[k]) - logdet - D * half_log_2pi);
    }
  } else {
    cc.U.resize(K);
    for (int k = 0; k < K; ++k) {
      const double v = covs[k];
      if (!(v > 0.0) || !std::isfinite(v))
        throw std::invalid_argument("variance of component " + std::to_string(k) + " is not positive");
      cc.U[k] = static_cast<Scalar>(1.0 / std::sqrt(v));
      cc.logc[k] = static_cast<Scalar>(std::log(weights[k]) - 0.5 * D * std::log(v) - D * half_log_2pi);
    }
  }
}

/// Scratch space for one block; sized once per thread, reused for every stage.
template <class Scalar>
struct ScoreScratch {
  std::vector<Scalar> z;    ///< K x D x P
  std::vector<Scalar> lp;   ///< K x P
  std::vector<Scalar> mx;   ///< P
  std::vector<Scalar> sum;  ///< P
  std::vector<Scalar> yd;   ///< D x P (y - m_k of one component)
  void reserve(int K, int D, int P) {
    yd.resize(static_cast<std::size_t>(D) * P);
    z.resize(static_cast<std::size_t>(K) * D * P);
    lp.resize(static_cast<std::size_t>(K) * P);
    mx.resize(P);
    sum.resize(P);
  }
};


namespace detail {

/// Softmax over components, in place on lp (K x P): lp <- exp(lp - max), sm <- 1 / sum,
/// logp <- max + log(sum) if requested.
template <class Scalar>
inline void softmax_block(int K, int P, Scalar* lp, Scalar* mx, Scalar* sm, Scalar* logp) {
  const std::size_t sP = static_cast<std::size_t>(P);
  if (K == 1) {
    // one component: its weight is exactly 1, even where |z|^2 overflows (lp = -inf
    // would give exp(-inf - -inf) = NaN below); same values as the general path
    for (int p = 0; p < P; ++p) {
      if (logp) logp[p] = lp[p];
      lp[p] = Scalar(1);
      sm[p] = Scalar(1);
    }
    return;
  }
  for (int p = 0; p < P; ++p) mx[p] = lp[p];
  for (int k = 1; k < K; ++k)
    for (int p = 0; p < P; ++p) mx[p] = std::max(mx[p], lp[static_cast<std::size_t>(k) * sP + p]);
  for (int p = 0; p < P; ++p) sm[p] = Scalar(0);
  for (int k = 0; k < K; ++k) {
    Scalar* lpk = lp + static_cast<std::size_t>(k) * sP;
    for (int p = 0; p < P; ++p) {
      lpk[p] = fastmath::exp_nonpositive(lpk[p] - mx[p]);
      sm[p] += lpk[p];
    }
  }
  if (logp)
    for (int p = 0; p < P; ++p) logp[p] = mx[p] + std::log(sm[p]);
  for (int p = 0; p < P; ++p) sm[p] = Scalar(1) / sm[p];
}

/// Full-covariance score for a compile-time dimension DD <= 2: one pass over the block
/// per component and per pass (the D x D loops are unrolled inside the particle loop,
/// which vectorises); the same operations in the same order as score_group_fixed. For
/// d <= 2 this layout is faster (d = 2, K = 8: 5.8e7 against 5.3e7 particle-steps/s);
/// from d = 3 the grouped one is (d = 3: 1.4x, d = 8: 2x).
template <int DD, class Scalar>
void mixture_score_full_passes(const ComponentCache<Scalar>& cc, const Scalar* y, std::size_t ld, int P,
                              Scalar* out, std::size_t ldo, Scalar* logp, ScoreScratch<Scalar>& ws) {
  const int K = cc.K;
  const std::size_t sP = static_cast<std::size_t>(P);
  Scalar* z = ws.z.data();
  Scalar* lp = ws.lp.data();
  const Scalar* yr[DD];
  SCORELAB_UNROLL
  for (int r = 0; r < DD; ++r) yr[r] = y + static_cast<std::size_t>(r) * ld;
  for (int k = 0; k < K; ++k) {
    Scalar u[DD][DD], m[DD];
    const Scalar* Uk = cc.U.data() + static_cast<std::size_t>(k) * DD * DD;
    SCORELAB_UNROLL
    for (int r = 0; r < DD; ++r) {
      m[r] = cc.mean[static_cast<std::size_t>(k) * DD + r];
      SCORELAB_UNROLL
      for (int c = 0; c < DD; ++c) u[r][c] = Uk[r * DD + c];
    }
    Scalar* zk = z + static_cast<std::size_t>(k) * DD * sP;
    Scalar* lpk = lp + static_cast<std::size_t>(k) * sP;
    const Scalar lc = cc.logc[k];
    for (int p = 0; p < P; ++p) {
      Scalar dv[DD];
      SCORELAB_UNROLL
      for (int c = 0; c < DD; ++c) dv[c] = yr[c][p] - m[c];
      Scalar nrm = Scalar(0);
      SCORELAB_UNROLL
      for (int r = 0; r < DD; ++r) {
        Scalar acc = Scalar(0);
        SCORELAB_UNROLL
        for (int c = 0; c <= r; ++c) acc += u[r][c] * dv[c];
        zk[static_cast<std::size_t>(r) * sP + p] = acc;
        nrm += acc * acc;
      }
      lpk[p] = lc - Scalar(0.5) * nrm;
    }
  }
  softmax_block(K, P, lp, ws.mx.data(), ws.sum.data(), logp);
  const Scalar* sm = ws.sum.data();
  Scalar* o[DD];
  SCORELAB_UNROLL
  for (int r = 0; r < DD; ++r) {
    o[r] = out + static_cast<std::size_t>(r) * ldo;
    for (int p = 0; p < P; ++p) o[r][p] = Scalar(0);
  }
  for (int k = 0; k < K; ++k) {
    Scalar u[DD][DD];
    const Scalar* Uk = cc.U.data() + static_cast<std::size_t>(k) * DD * DD;
    SCORELAB_UNROLL
    for (int r = 0; r < DD; ++r)
      SCORELAB_UNROLL
      for (int c = 0; c < DD; ++c) u[r][c] = Uk[r * DD + c];
    const Scalar* zk = z + static_cast<std::size_t>(k) * DD * sP;
    const Scalar* lpk = lp + static_cast<std::size_t>(k) * sP;
    for (int p = 0; p < P; ++p) {
      const Scalar w = lpk[p] * sm[p];
      Scalar acc[DD];
      SCORELAB_UNROLL
      for (int c = 0; c < DD; ++c) acc[c] = o[c][p];
      SCORELAB_UNROLL
      for (int r = 0; r < DD; ++r) {
        const Scalar zr = zk[static_cast<std::size_t>(r) * sP + p] * w;
        SCORELAB_UNROLL
        for (int c = 0; c <= r; ++c) acc[c] -= u[r][c] * zr;
      }
      SCORELAB_UNROLL
      for (int c = 0; c < DD; ++c) o[c][p] = acc[c];
    }
  }
}

/// SIMD vector of PB/2 Scalars (GCC/Clang vector extensions: explicit SIMD without
/// intrinsics; a scalar operand is broadcast). Loads and stores are unaligned.
template <class Scalar, int N>
struct Vec {
  typedef Scalar type __attribute__((vector_size(N * sizeof(Scalar))));
};
#if defined(__GNUC__) && !defined(__clang__)
// 32-byte vectors are only used inside the AVX2 kernel, where these helpers are inlined
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
template <class V, class Scalar>
inline V vload(const Scalar* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <class V, class Scalar>
inline void vstore(Scalar* p, const V& v) {
  std::memcpy(p, &v, sizeof(V));
}

/// The fixed-dimension score of one group of particles: T = Scalar (one particle) or
/// a SIMD vector of W Scalars (W consecutive particles from p), I the matching
/// unsigned integer type. The group goes through all K components while its
/// coordinates stay in registers; per component only z_k = U_k (y - m_k) and the
/// log-weight (then the softmax weight) are kept, in zs (K x DD groups) and lw (K
/// groups), which stay in L1. The operations and their order are those of
/// mixture_score_full_passes (z, |z|^2 and the log-weight per component; max, exp and
/// sum over components in order; then -sum_k w_k U_k^T z_k with w_k = e_k / sum), so
/// every lane, and the scalar remainder, gets the same bits.
template <int DD, class Scalar, class T, class I>
SCORELAB_ALWAYS_INLINE void score_group_fixed(const ComponentCache<Scalar>& cc, const Scalar* y, std::size_t ld,
                                                  int p, Scalar* out, std::size_t ldo, Scalar* logp, Scalar* lw,
                                                  Scalar* zs) {
  constexpr int W = static_cast<int>(sizeof(T) / sizeof(Scalar));
  const int K = cc.K;
  T yv[DD];
  SCORELAB_UNROLL
  for (int r = 0; r < DD; ++r) yv[r] = vload<T>(y + static_cast<std::size_t>(r) * ld + p);
  T mx = T{};
  for (int k = 0; k < K; ++k) {
    const Scalar* Uk = cc.U.data() + static_cast<std::size_t>(k) * DD * DD;
    const Scalar* mk = cc.mean.data() + static_cast<std::size_t>(k) * DD;
    T dv[DD];
    SCORELAB_UNROLL
    for (int c = 0; c < DD; ++c) dv[c] = yv[c] - mk[c];
    T nrm = T{};
    SCORELAB_UNROLL
    for (int r = 0; r < DD; ++r) {
      T acc = T{};
      SCORELAB_UNROLL
      for (int c = 0; c <= r; ++c) acc += Uk[r * DD + c] * dv[c];
      vstore(zs + (static_cast<std::size_t>(k) * DD + r) * W, acc);
      nrm += acc * acc;
    }
    const T lp = cc.logc[k] - Scalar(0.5) * nrm;
    vstore(lw + static_cast<std::size_t>(k) * W, lp);
    mx = k == 0 ? lp : (mx < lp ? lp : mx);  // std::max(mx, lp)
  }
  T sm = T{} + Scalar(1);
  if (K == 1) {
    // one component: its weight is exactly 1, even where |z|^2 overflows
    if (logp) std::memcpy(logp + p, lw, sizeof(T));
    vstore(lw, sm);
  } else {
    T sum = T{};
    for (int k = 0; k < K; ++k) {
      const T e = fastmath::exp_nonpositive_t<Scalar, T, I>(vload<T>(lw + static_cast<std::size_t>(k) * W) - mx);
      vstore(lw + static_cast<std::size_t>(k) * W, e);
      sum += e;
    }
    if (logp) {
      Scalar m[W], su[W];
      std::memcpy(m, &mx, sizeof(T));
      std::memcpy(su, &sum, sizeof(T));
      for (int l = 0; l < W; ++l) logp[p + l] = m[l] + std::log(su[l]);
    }
    sm = Scalar(1) / sum;
  }
  T acc[DD];
  SCORELAB_UNROLL
  for (int c = 0; c < DD; ++c) acc[c] = T{};
  for (int k = 0; k < K; ++k) {
    const Scalar* Uk = cc.U.data() + static_cast<std::size_t>(k) * DD * DD;
    const T w = vload<T>(lw + static_cast<std::size_t>(k) * W) * sm;
    T z[DD];
    SCORELAB_UNROLL
    for (int r = 0; r < DD; ++r) z[r] = vload<T>(zs + (static_cast<std::size_t>(k) * DD + r) * W);
    SCORELAB_UNROLL
    for (int r = 0; r < DD; ++r) {
      const T zr = z[r] * w;
      SCORELAB_UNROLL
      for (int c = 0; c <= r; ++c) acc[c] -= Uk[r * DD + c] * zr;
    }
  }
  SCORELAB_UNROLL
  for (int c = 0; c < DD; ++c) vstore(out + static_cast<std::size_t>(c) * ldo + p, acc[c]);
}

/// Full-covariance score for a compile-time dimension 3 <= DD <= 8: groups of W
/// particles in SIMD vectors (score_group_fixed), the remainder one at a time with the
/// same operations.
template <int DD, int W, class Scalar>
void mixture_score_full_fixed(const ComponentCache<Scalar>& cc, const Scalar* y, std::size_t ld, int P,
                              Scalar* out, std::size_t ldo, Scalar* logp, ScoreScratch<Scalar>& ws) {
  typedef typename Vec<Scalar, W>::type V;
  typedef std::conditional_t<sizeof(Scalar) == 8, std::uint64_t, std::uint32_t> U;
  typedef typename Vec<U, W>::type VU;
  Scalar* lw = ws.lp.data();  // K x W scratch (the block's K x P)
  Scalar* zs = ws.z.data();   // K x DD x W (when z is kept rather than recomputed)
  int p = 0;
  if (P >= W)
    for (; p + W <= P; p += W) score_group_fixed<DD, Scalar, V, VU>(cc, y, ld, p, out, ldo, logp, lw, zs);
  for (; p < P; ++p) score_group_fixed<DD, Scalar, Scalar, U>(cc, y, ld, p, out, ldo, logp, lw, zs);
}

/// Z[rb + i][p] = sum_{c <= rb + i} U[rb + i][c] X[c][p] for i < NR and particles p0 <= p <
/// p0 + PB (X: rows of stride sP). U is lower triangular with explicit zeros above the
/// diagonal, so the c loop may run to rb + NR - 1: the extra terms add +0 and change
/// no bit. Register-blocked NR x PB tile (two SIMD vectors per row); every element
/// sums over c in increasing order (a multiply and an add, each rounded). The tile also
/// adds its rows' squares to N[p] (|z|^2 accumulated row by row, in increasing order).
template <int NR, int PB, class Scalar>
inline void tri_tile(const Scalar* U, int D, int rb, const Scalar* X, std::size_t sP, int p0, Scalar* Z,
                     Scalar* N) {
  if constexpr (PB == 1) {
    Scalar a[NR];
    for (int i = 0; i < NR; ++i) a[i] = Scalar(0);
    for (int c = 0; c < rb + NR; ++c) {
      const Scalar x = X[static_cast<std::size_t>(c) * sP + p0];
      for (int i = 0; i < NR; ++i) a[i] += U[static_cast<std::size_t>(rb + i) * D + c] * x;
    }
    for (int i = 0; i < NR; ++i) Z[static_cast<std::size_t>(rb + i) * sP + p0] = a[i];
    Scalar nrm = N[p0];
    for (int i = 0; i < NR; ++i) nrm += a[i] * a[i];
    N[p0] = nrm;
  } else {
    typedef typename Vec<Scalar, PB / 2>::type V;
    V a0[NR], a1[NR];
    SCORELAB_UNROLL
    for (int i = 0; i < NR; ++i) {
      a0[i] = V{} * Scalar(0);
      a1[i] = a0[i];
    }
    for (int c = 0; c < rb + NR; ++c) {
      const Scalar* xc = X + static_cast<std::size_t>(c) * sP + p0;
      const V x0 = vload<V>(xc), x1 = vload<V>(xc + PB / 2);
      SCORELAB_UNROLL
      for (int i = 0; i < NR; ++i) {
        const Scalar u = U[static_cast<std::size_t>(rb + i) * D + c];
        a0[i] += u * x0;
        a1[i] += u * x1;
      }
    }
    V n0 = vload<V>(N + p0), n1 = vload<V>(N + p0 + PB / 2);
    SCORELAB_UNROLL
    for (int i = 0; i < NR; ++i) {
      Scalar* zr = Z + static_cast<std::size_t>(rb + i) * sP + p0;
      vstore(zr, a0[i]);
      vstore(zr + PB / 2, a1[i]);
      n0 += a0[i] * a0[i];
      n1 += a1[i] * a1[i];
    }
    vstore(N + p0, n0);
    vstore(N + p0 + PB / 2, n1);
  }
}

/// O[cb + i][p] -= wt[p] * sum_{r >= cb + i} U[r][cb + i] Z[r][p]: the sum over r in
/// increasing order (the terms with r < cb + i are +0 and change no bit), then one
/// multiply by the particle's weight (the softmax responsibility) per tile row.
template <int NC, int PB, class Scalar>
inline void tri_t_tile(const Scalar* U, int D, int cb, const Scalar* Z, std::size_t sP, int p0, const Scalar* wt,
                       Scalar* O, std::size_t ldo) {
  if constexpr (PB == 1) {
    Scalar a[NC];
    for (int i = 0; i < NC; ++i) a[i] = Scalar(0);
    for (int r = cb; r < D; ++r) {
      const Scalar z = Z[static_cast<std::size_t>(r) * sP + p0];
      for (int i = 0; i < NC; ++i) a[i] += U[static_cast<std::size_t>(r) * D + cb + i] * z;
    }
    for (int i = 0; i < NC; ++i) O[static_cast<std::size_t>(cb + i) * ldo + p0] -= wt[p0] * a[i];
  } else {
    typedef typename Vec<Scalar, PB / 2>::type V;
    V a0[NC], a1[NC];
    SCORELAB_UNROLL
    for (int i = 0; i < NC; ++i) {
      a0[i] = V{} * Scalar(0);
      a1[i] = a0[i];
    }
    for (int r = cb; r < D; ++r) {
      const Scalar* zr = Z + static_cast<std::size_t>(r) * sP + p0;
      const V z0 = vload<V>(zr), z1 = vload<V>(zr + PB / 2);
      SCORELAB_UNROLL
      for (int i = 0; i < NC; ++i) {
        const Scalar u = U[static_cast<std::size_t>(r) * D + cb + i];
        a0[i] += u * z0;
        a1[i] += u * z1;
      }
    }
    const V w0 = vload<V>(wt + p0), w1 = vload<V>(wt + p0 + PB / 2);
    SCORELAB_UNROLL
    for (int i = 0; i < NC; ++i) {
      Scalar* o = O + static_cast<std::size_t>(cb + i) * ldo + p0;
      vstore(o, vload<V>(o) - w0 * a0[i]);
      vstore(o + PB / 2, vload<V>(o + PB / 2) - w1 * a1[i]);
    }
  }
}

/// Particles per tile: two SIMD registers' worth of `bytes`-wide registers.
template <class Scalar>
constexpr int tile_particles(int bytes) {
  return 2 * bytes / static_cast<int>(sizeof(Scalar));
}

template <int NR, int PB, class Scalar>
inline void tri_rows(const Scalar* U, int D, int rb, const Scalar* X, std::size_t sP, int P, Scalar* Z,
                     Scalar* N) {
  int p = 0;
  for (; p + PB <= P; p += PB) tri_tile<NR, PB>(U, D, rb, X, sP, p, Z, N);
  for (; p < P; ++p) tri_tile<NR, 1>(U, D, rb, X, sP, p, Z, N);
}

template <int NC, int PB, class Scalar>
inline void tri_t_cols(const Scalar* U, int D, int cb, const Scalar* Z, std::size_t sP, int P, const Scalar* wt,
                       Scalar* O, std::size_t ldo) {
  int p = 0;
  for (; p + PB <= P; p += PB) tri_t_tile<NC, PB>(U, D, cb, Z, sP, p, wt, O, ldo);
  for (; p < P; ++p) tri_t_tile<NC, 1>(U, D, cb, Z, sP, p, wt, O, ldo);
}

/// Full-covariance score for any dimension: register-blocked triangular products
/// (4 rows x PB particles per tile), |z|^2 accumulated inside the tiles and the
/// responsibilities applied once per tile row (no separate passes over z).
template <int PB, class Scalar>
void mixture_score_full_blocked(const ComponentCache<Scalar>& cc, const Scalar* y, std::size_t ld, int P,
                                Scalar* out, std::size_t ldo, Scalar* logp, ScoreScratch<Scalar>& ws) {
  const int K = cc.K, D = cc.D;
  const std::size_t sP = static_cast<std::size_t>(P);
  Scalar* z = ws.z.data();
  Scalar* lp = ws.lp.data();
  Scalar* yd = ws.yd.data();
  for (int k = 0; k < K; ++k) {
    const Scalar* mk = cc.mean.data() + static_cast<std::size_t>(k) * D;
    const Scalar* Uk = cc.U.data() + static_cast<std::size_t>(k) * D * D;
    Scalar* zk = z + static_cast<std::size_t>(k) * D * sP;
    Scalar* lpk = lp + static_cast<std::size_t>(k) * sP;
    for (int c = 0; c < D; ++c) {
      const Scalar* yc = y + static_cast<std::size_t>(c) * ld;
      Scalar* dc = yd + static_cast<std::size_t>(c) * sP;
      const Scalar m = mk[c];
      for (int p = 0; p < P; ++p) dc[p] = yc[p] - m;
    }
    for (int p = 0; p < P; ++p) lpk[p] = Scalar(0);  // |z|^2, accumulated by the tiles
    int rb = 0;
    for (; rb + 4 <= D; rb += 4) tri_rows<4, PB>(Uk, D, rb, yd, sP, P, zk, lpk);
    switch (D - rb) {
      case 3: tri_rows<3, PB>(Uk, D, rb, yd, sP, P, zk, lpk); break;
      case 2: tri_rows<2, PB>(Uk, D, rb, yd, sP, P, zk, lpk); break;
      case 1: tri_rows<1, PB>(Uk, D, rb, yd, sP, P, zk, lpk); break;
      default: break;
    }
    const Scalar c = cc.logc[k];
    for (int p = 0; p < P; ++p) lpk[p] = c - Scalar(0.5) * lpk[p];
  }
  softmax_block(K, P, lp, ws.mx.data(), ws.sum.data(), logp);
  const Scalar* sm = ws.sum.data();
  for (int r = 0; r < D; ++r) {
    Scalar* o = out + static_cast<std::size_t>(r) * ldo;
    for (int p = 0; p < P; ++p) o[p] = Scalar(0);
  }
  Scalar* wt = ws.mx.data();  // the max is no longer needed: responsibilities of one component
  for (int k = 0; k < K; ++k) {
    const Scalar* lpk = lp + static_cast<std::size_t>(k) * sP;
    const Scalar* Uk = cc.U.data() + static_cast<std::size_t>(k) * D * D;
    const Scalar* zk = z + static_cast<std::size_t>(k) * D * sP;
    for (int p = 0; p < P; ++p) wt[p] = lpk[p] * sm[p];
    int cb = 0;
    for (; cb + 4 <= D; cb += 4) tri_t_cols<4, PB>(Uk, D, cb, zk, sP, P, wt, out, ldo);
    switch (D - cb) {
      case 3: tri_t_cols<3, PB>(Uk, D, cb, zk, sP, P, wt, out, ldo); break;
      case 2: tri_t_cols<2, PB>(Uk, D, cb, zk, sP, P, wt, out, ldo); break;
      case 1: tri_t_cols<1, PB>(Uk, D, cb, zk, sP, P, wt, out, ldo); break;
      default: break;
    }
  }
}

/// Implementation of mixture_score_block with PB-particle tiles (see below).
template <int PB, class Scalar>
void mixture_score_block_impl(const ComponentCache<Scalar>& cc, const Scalar* y, std::size_t ld, int P,
                              Scalar* out, std::size_t ldo, Scalar* logp, ScoreScratch<Scalar>& ws) {
  const int K = cc.K, D = cc.D;
  if (cc.cov == CovType::Full) {
    switch (D) {
      case 1: return detail::mixture_score_full_passes<1>(cc, y, ld, P, out, ldo, logp, ws);
      case 2: return detail::mixture_score_full_passes<2>(cc, y, ld, P, out, ldo, logp, ws);
      case 3: return detail::mixture_score_full_fixed<3, PB / 2>(cc, y, ld, P, out, ldo, logp, ws);
      case 4: return detail::mixture_score_full_fixed<4, PB / 2>(cc, y, ld, P, out, ldo, logp, ws);
      case 5: return detail::mixture_score_full_fixed<5, PB / 2>(cc, y, ld, P, out, ldo, logp, ws);
      case 6: return detail::mixture_score_full_fixed<6, PB / 2>(cc, y, ld, P, out, ldo, logp, ws);
      case 7: return detail::mixture_score_full_fixed<7, PB / 2>(cc, y, ld, P, out, ldo, logp, ws);
      case 8: return detail::mixture_score_full_fixed<8, PB / 2>(cc, y, ld, P, out, ldo, logp, ws);
      default: return detail::mixture_score_full_blocked<PB>(cc, y, ld, P, out, ldo, logp, ws);
    }
  }
  const std::size_t sP = static_cast<std::size_t>(P);
  Scalar* z = ws.z.data();
  Scalar* lp = ws.lp.data();
  // pass 1: z_k = U_k (y - m_k) and log weights
  for (int k = 0; k < K; ++k) {
    const Scalar* mk = cc.mean.data() + static_cast<std::size_t>(k) * D;
    Scalar* zk = z + static_cast<std::size_t>(k) * D * sP;
    Scalar* lpk = lp + static_cast<std::size_t>(k) * sP;
    for (int p = 0; p < P; ++p) lpk[p] = Scalar(0);
    if (cc.cov == CovType::Full) {
      const Scalar* Uk = cc.U.data() + static_cast<std::size_t>(k) * D * D;
      for (int r = 0; r < D; ++r) {
        Scalar* zr = zk + static_cast<std::size_t>(r) * sP;
        for (int p = 0; p < P; ++p) zr[p] = Scalar(0);
        for (int c = 0; c <= r; ++c) {
          const Scalar u = Uk[static_cast<std::size_t>(r) * D + c];
          const Scalar m = mk[c];
          const Scalar* yc = y + static_cast<std::size_t>(c) * ld;
          for (int p = 0; p < P; ++p) zr[p] += u * (yc[p] - m);
        }
        for (int p = 0; p < P; ++p) lpk[p] += zr[p] * zr[p];
      }
    } else {
      for (int r = 0; r < D; ++r) {
        const Scalar u = cc.cov == CovType::Diag ? cc.U[static_cast<std::size_t>(k) * D + r] : cc.U[k];
        const Scalar m = mk[r];
        Scalar* zr = zk + static_cast<std::size_t>(r) * sP;
        const Scalar* yr = y + static_cast<std::size_t>(r) * ld;
        for (int p = 0; p < P; ++p) {
          zr[p] = u * (yr[p] - m);
          lpk[p] += zr[p] * zr[p];
        }
      }
    }
    const Scalar c = cc.logc[k];
    for (int p = 0; p < P; ++p) lpk[p] = c - Scalar(0.5) * lpk[p];
  }
  detail::softmax_block(K, P, lp, ws.mx.data(), ws.sum.data(), logp);
  const Scalar* sm = ws.sum.data();
  // pass 2: out = - sum_k r_k U_k^T z_k
  for (int r = 0; r < D; ++r) {
    Scalar* o = out + static_cast<std::size_t>(r) * ldo;
    for (int p = 0; p < P; ++p) o[p] = Scalar(0);
  }
  for (int k = 0; k < K; ++k) {
    const Scalar* lpk = lp + static_cast<std::size_t>(k) * sP;
    Scalar* zk = z + static_cast<std::size_t>(k) * D * sP;
    // fold the responsibility into z once
    for (int r = 0; r < D; ++r) {
      Scalar* zr = zk + static_cast<std::size_t>(r) * sP;
      for (int p = 0; p < P; ++p) zr[p] *= lpk[p] * sm[p];
    }
    if (cc.cov == CovType::Full) {
      const Scalar* Uk = cc.U.data() + static_cast<std::size_t>(k) * D * D;
      for (int r = 0; r < D; ++r) {
        const Scalar* zr = zk + static_cast<std::size_t>(r) * sP;
        for (int c = 0; c <= r; ++c) {
          const Scalar u = Uk[static_cast<std::size_t>(r) * D + c];
          Scalar* o = out + static_cast<std::size_t>(c) * ldo;
          for (int p = 0; p < P; ++p) o[p] -= u * zr[p];
        }
      }
    } else {
      for (int r = 0; r < D; ++r) {
        const Scalar u = cc.cov == CovType::Diag ? cc.U[static_cast<std::size_t>(k) * D + r] : cc.U[k];
        const Scalar* zr = zk + static_cast<std::size_t>(r) * sP;
        Scalar* o = out + static_cast<std::size_t>(r) * ldo;
        for (int p = 0; p < P; ++p) o[p] -= u * zr[p];
      }
    }
  }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__AVX2__) && \
    !defined(SCORELAB_NO_DISPATCH)
#define SCORELAB_DISPATCH_AVX2 1
/// The same kernel compiled for AVX2 (256-bit registers; no FMA, so every result is
/// bit-for-bit the one of the SSE2 build): chosen at run time on CPUs that have AVX2,
/// so portable wheels (no -march) still use the wide registers. `flatten` inlines the
/// whole kernel (fastmath included) into this function, compiled for AVX2.
template <class Scalar>
__attribute__((target("avx2"), flatten)) void mixture_score_block_avx2(
    const ComponentCache<Scalar>& cc, const Scalar* y, std::size_t ld, int P, Scalar* out, std::size_t ldo,
    Scalar* logp, ScoreScratch<Scalar>& ws) {
  mixture_score_block_impl<tile_particles<Scalar>(32)>(cc, y, ld, P, out, ldo, logp, ws);
}
#endif

}  // namespace detail

/// True if the AVX2 kernels may be used: the CPU has AVX2 and the environment
/// variable SCORELAB_NO_AVX2 is unset (set it to compare with the SSE2 kernels).
inline bool use_avx2() {
#if defined(SCORELAB_DISPATCH_AVX2)
  static const bool ok = __builtin_cpu_supports("avx2") && std::getenv("SCORELAB_NO_AVX2") == nullptr;
  return ok;
#else
  return false;
#endif
}

/// Score (and optionally log-density) of the mixture for a block of P particles.
/// y, out: D rows of stride ld (>= P), structure-of-arrays. logp may be null.
/// Full covariances: an unrolled kernel for dimension <= 8, register-blocked
/// triangular products above (same sums in the same order as the plain loops of
/// mixture_score_block_impl). On x86-64 CPUs with AVX2 the kernel compiled for AVX2
/// runs (same results).
template <class Scalar>
void mixture_score_block(const ComponentCache<Scalar>& cc, const Scalar* y, std::size_t ld, int P,
                         Scalar* out, std::size_t ldo, Scalar* logp, ScoreScratch<Scalar>& ws) {
#if defined(SCORELAB_DISPATCH_AVX2)
  if (use_avx2()) return detail::mixture_score_block_avx2(cc, y, ld, P, out, ldo, logp, ws);
#endif
#if defined(__AVX__)
  detail::mixture_score_block_impl<detail::tile_particles<Scalar>(32)>(cc, y, ld, P, out, ldo, logp, ws);
#else
  detail::mixture_score_block_impl<detail::tile_particles<Scalar>(16)>(cc, y, ld, P, out, ldo, logp, ws);
#endif
}

/// Particles per block so that the block's z temporaries stay near L2 size.
inline int default_block_size(int K, int D) {
  // z (K x D x P), y, s, noise and y - m (about 4 x D x P) within ~192 KiB of the
  // 512 KiB+ L2; at least 16 particles so the 4-particle tiles and SIMD loops stay busy;
  // at most 128 (d = 2, K = 8: 128 measured 2-3% faster than 256)
  const std::size_t budget = 192 * 1024 / sizeof(double);
  std::size_t P = budget / (static_cast<std::size_t>(K) * D + 5 * D + 8);
  P = std::max<std::size_t>(16, std::min<std::size_t>(128, P));
  return static_cast<int>(P / 8 * 8);
}

/// Log-density and score of a mixture at n points (x: n x D row-major), threads over blocks.
template <class Scalar>
bool mixture_logpdf_score(const Mixture& mix, const Scalar* x, std::size_t n, Scalar* logp, Scalar* score,
                          int threads, const std::function<bool()>& poll) {
  ComponentCache<Scalar> cc;
  build_cache(cc, mix.K, mix.D, mix.cov_type, mix.weights, mix.means, mix.covariances);
  const int D = mix.D;
  const int P = default_block_size(mix.K, D);
  const std::size_t nblocks = (n + P - 1) / P;
  std::atomic<bool> cancel{false};
  auto body = [&](std::size_t b) {
    const std::size_t p0 = b * P;
    const int pn = static_cast<int>(std::min<std::size_t>(P, n - p0));
    std::vector<Scalar> y(static_cast<std::size_t>(D) * P), s(static_cast<std::size_t>(D) * P), lp(P);
    ScoreScratch<Scalar> ws;
    ws.reserve(mix.K, D, P);
    for (int p = 0; p < pn; ++p)
      for (int r = 0; r < D; ++r) y[static_cast<std::size_t>(r) * P + p] = x[(p0 + p) * D + r];
    mixture_score_block(cc, y.data(), P, pn, s.data(), P, lp.data(), ws);
    for (int p = 0; p < pn; ++p) {
      if (logp) logp[p0 + p] = lp[p];
      if (score)
        for (int r = 0; r < D; ++r) score[(p0 + p) * D + r] = s[static_cast<std::size_t>(r) * P + p];
    }
  };
  return parallel_for(nblocks, threads, body, poll, cancel);
}

}  // namespace scorelab

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
