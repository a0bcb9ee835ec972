// scorelab — execute a sampler's coefficient table on blocks of particles.
//
// A scheme, for a fixed grid, is a table (docs/design.md section 3). Step k has S stages;
// with y_0 = x (the state at t_k), stage j = 1..S forms
//   y_j = sum_{i<j} Y[k,j,i] y_i + sum_{i<j} B[k,j,i] s_i + sum_h E[k,j,h] h_h
//         + C[k,j] xi_{k,j}
// where s_i = score(y_i, tau_{k,i}) + error terms is evaluated iff eval[k,i] >= 0
// (the index of the stage's score data), h_h is the h-th most recent history score
// (history: after step k the score s_{keep[k]} is pushed if keep[k] < S, the stage
// state y_{keep[k]-S} if S <= keep[k] < 2S), xi_{k,j} ~ N(0, I_D) is
// fresh Philox noise on lane k*S + j - 1, and x_{k+1} = y_S. Every coefficient is an
// m x m block acting as (coef ⊗ I_d) on a state of D = m d coordinates laid out as m
// blocks of d (m = 1 for scalar processes, m = 2 for phase-space processes).
//
// The score data of index c is the mixture pushed forward to time tau_c:
// mean (Phi_c ⊗ I_d) mu_k, covariance (Phi_c ⊗ I_d) Sigma_k (Phi_c ⊗ I_d)^T + N_c ⊗ I_d,
// plus optional error terms bias_c (D), lin_c (D x D) or lin_scalar_c, and a random
// Fourier field eps_c * sum_f a_f cos(w_f . y + phi_f). The inputs (Mixture, Table,
// ErrorTerms, InitLaw) are declared in table.hpp with the Python side's field names.
#pragma once

#include "gmm.hpp"
#include "parallel.hpp"
#include "philox.hpp"
#include "table.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace scorelab {

struct RunOptions {
  std::uint64_t seed = 0;
  std::uint64_t particle_offset = 0;  ///< global index of the first particle (for splits)
  int threads = 1;
  int block = 0;  ///< particles per block; 0 = automatic
  std::size_t cache_budget_bytes = std::size_t(64) << 20;
};

struct RunResult {
  bool cancelled = false;
  long long first_bad_step = -1;  ///< first step after which some state was not finite
  long long bad_particles = 0;    ///< number of particles with a non-finite final state
};

namespace detail {

struct Term {
  int src;    // 0: y_i, 1: s_i, 2: history h
  int idx;
  double c[4];  // m x m block, row-major (m <= 2)
};

struct StageOps {
  std::vector<Term> terms;
  double noise[4] = {0, 0, 0, 0};
  bool has_noise = false;
};

inline bool block_nonzero(const double* c, int m) {
  for (int i = 0; i < m * m; ++i)
    if (c[i] != 0.0) return true;
  return false;
}

/// Build the sparse term lists, one per (step, stage), skipping zero blocks.
inline std::vector<StageOps> compile_ops(const Table& T) {
  const int N = T.N, S = T.S, H = T.history, m = T.m, mm = m * m;
  std::vector<StageOps> ops(static_cast<std::size_t>(N) * S);
  for (int k = 0; k < N; ++k)
    for (int j = 1; j <= S; ++j) {
      StageOps& op = ops[static_cast<std::size_t>(k) * S + (j - 1)];
      const std::size_t base = (static_cast<std::size_t>(k) * S + (j - 1));
      for (int i = 0; i < j && i < S; ++i) {
        const double* cy = T.Y + (base * S + i) * mm;
        if (block_nonzero(cy, m)) {
          Term t{0, i, {0, 0, 0, 0}};
          for (int q = 0; q < mm; ++q) t.c[q] = cy[q];
          op.terms.push_back(t);
        }
        const double* cs = T.B + (base * S + i) * mm;
        if (block_nonzero(cs, m)) {
          if (T.eval[static_cast<std::size_t>(k) * S + i] < 0)
            throw std::invalid_argument("table uses the score of stage " + std::to_string(i) + " of step " +
                                        std::to_string(k) + ", which is not evaluated");
          Term t{1, i, {0, 0, 0, 0}};
          for (int q = 0; q < mm; ++q) t.c[q] = cs[q];
          op.terms.push_back(t);
        }
      }
      for (int h = 0; h < H; ++h) {
        const double* ch = T.E + (base * H + h) * mm;
        if (block_nonzero(ch, m)) {
          Term t{2, h, {0, 0, 0, 0}};
          for (int q = 0; q < mm; ++q) t.c[q] = ch[q];
          op.terms.push_back(t);
        }
      }
      const double* cn = T.C + base * mm;
      op.has_noise = block_nonzero(cn, m);
      for (int q = 0; q < mm; ++q) op.noise[q] = cn[q];
    }
  return ops;
}

/// out += (c ⊗ I_d) src on a block (D = m d rows of stride ld, P columns).
template <class Scalar>
SCORELAB_ALWAYS_INLINE void block_axpy(const double* c, int m, int d, const Scalar* src, Scalar* out, std::size_t ld, int P) {
  for (int a = 0; a < m; ++a)
    for (int b = 0; b < m; ++b) {
      const Scalar cab = static_cast<Scalar>(c[a * m + b]);
      if (cab == Scalar(0)) continue;
      for (int r = 0; r < d; ++r) {
        const Scalar* s = src + static_cast<std::size_t>(b * d + r) * ld;
        Scalar* o = out + static_cast<std::size_t>(a * d + r) * ld;
        for (int p = 0; p < P; ++p) o[p] += cab * s[p];
      }
    }
}

#if defined(SCORELAB_DISPATCH_AVX2)
/// normal_pairs compiled for AVX2 (the same numbers: integer ops, and no FMA).
template <class Scalar>
__attribute__((target("avx2"), flatten)) inline void normal_pairs_avx2(std::uint64_t seed, std::uint64_t p0,
                                                                      std::uint32_t lane, std::uint32_t pair,
                                                                      int P, Scalar* z0, Scalar* z1) {
  double u1[64], u2[64];
  philox_uniforms_avx2(seed, p0, lane, pair, P, u1, u2);
  box_muller_block(u1, u2, P, z0, z1);
}
#endif

/// Fill xi (D rows of stride ld) with N(0, 1) noise of `lane` for particles p0..p0+P-1
/// (normal_pair_as<Scalar>: double or single-precision Box–Muller).
template <class Scalar>
inline void fill_normals(std::uint64_t seed, std::uint64_t p0, std::uint32_t lane, int D, Scalar* xi,
                         std::size_t ld, int P) {
  constexpr int chunk = 64;
  Scalar z0[chunk], z1[chunk];
  const int pairs = (D + 1) / 2;
  for (int q = 0; q < pairs; ++q) {
    Scalar* r0 = xi + static_cast<std::size_t>(2 * q) * ld;
    Scalar* r1 = 2 * q + 1 < D ? xi + static_cast<std::size_t>(2 * q + 1) * ld : nullptr;
    for (int c0 = 0; c0 < P; c0 += chunk) {
      const int pc = std::min(chunk, P - c0);
#if defined(SCORELAB_DISPATCH_AVX2)
      if (use_avx2())
        normal_pairs_avx2(seed, p0 + static_cast<std::uint64_t>(c0), lane, static_cast<std::uint32_t>(q), pc, z0,
                          z1);
      else
#endif
        normal_pairs(seed, p0 + static_cast<std::uint64_t>(c0), lane, static_cast<std::uint32_t>(q), pc, z0, z1);
      for (int p = 0; p < pc; ++p) r0[c0 + p] = z0[p];
      if (r1)
        for (int p = 0; p < pc; ++p) r1[c0 + p] = z1[p];
    }
  }
}

/// True if some of x[0..n) is infinite or NaN (exponent bits all ones); a branch-free
/// integer OR-reduction that vectorises.
SCORELAB_ALWAYS_INLINE bool any_nonfinite(const double* x, int n) {
  std::uint64_t acc = 0;
  for (int p = 0; p < n; ++p) acc |= (~fastmath::as_u64(x[p]) & 0x7FF0000000000000ull) ? 0u : 1u;
  return acc != 0;
}
SCORELAB_ALWAYS_INLINE bool any_nonfinite(const float* x, int n) {
  std::uint32_t acc = 0;
  for (int p = 0; p < n; ++p) acc |= (~fastmath::as_u32(x[p]) & 0x7F800000u) ? 0u : 1u;
  return acc != 0;
}

/// Mixture components pushed forward to one score-evaluation time.
inline void forward_components(const Mixture& mix, int m, const double* Phi, const double* Ncov,
                               std::vector<double>& means, std::vector<double>& covs) {
  const int K = mix.K, D = mix.D, d = D / m;
  means.assign(static_cast<std::size_t>(K) * D, 0.0);
  // mean = (Phi ⊗ I) mu
  for (int k = 0; k < K; ++k)
    for (int a = 0; a < m; ++a)
      for (int r = 0; r < d; ++r) {
        double s = 0;
        for (int b = 0; b < m; ++b) s += Phi[a * m + b] * mix.means[static_cast<std::size_t>(k) * D + b * d + r];
        means[static_cast<std::size_t>(k) * D + a * d + r] = s;
      }
  if (mix.cov_type == CovType::Full) {
    covs.assign(static_cast<std::size_t>(K) * D * D, 0.0);
    if (m == 1) {
      const double a2 = Phi[0] * Phi[0], nv = Ncov[0];
      for (int k = 0; k < K; ++k) {
        const double* S0 = mix.covariances + static_cast<std::size_t>(k) * D * D;
        double* Ck = covs.data() + static_cast<std::size_t>(k) * D * D;
        for (int i = 0; i < D; ++i)
          for (int j = 0; j < D; ++j)
            Ck[static_cast<std::size_t>(i) * D + j] = a2 * 0.5 * (S0[static_cast<std::size_t>(i) * D + j] + S0[static_cast<std::size_t>(j) * D + i]) + (i == j ? nv : 0.0);
      }
    } else {
      // C = (Phi ⊗ I) S0 (Phi ⊗ I)^T + Ncov ⊗ I, blockwise over the m x m blocks of S0
      for (int k = 0; k < K; ++k) {
        const double* S0 = mix.covariances + static_cast<std::size_t>(k) * D * D;
        double* Ck = covs.data() + static_cast<std::size_t>(k) * D * D;
        for (int a = 0; a < m; ++a)
          for (int b = 0; b < m; ++b)
            for (int i = 0; i < d; ++i)
              for (int j = 0; j < d; ++j) {
                double s = 0;
                for (int p = 0; p < m; ++p)
                  for (int q = 0; q < m; ++q)
                    s += Phi[a * m + p] * Phi[b * m + q] * S0[static_cast<std::size_t>(p * d + i) * D + (q * d + j)];
                if (i == j) s += Ncov[a * m + b];
                Ck[static_cast<std::size_t>(a * d + i) * D + (b * d + j)] = s;
              }
        for (int i = 0; i < D; ++i)
          for (int j = 0; j < i; ++j) {
            const double v = 0.5 * (Ck[static_cast<std::size_t>(i) * D + j] + Ck[static_cast<std::size_t>(j) * D + i]);
            Ck[static_cast<std::size_t>(i) * D + j] = v;
            Ck[static_cast<std::size_t>(j) * D + i] = v;
          }
      }
    }
  } else {
    if (m != 1) throw std::invalid_argument("diagonal/spherical components need a scalar (m = 1) process");
    const std::size_t nc = mix.cov_type == CovType::Diag ? static_cast<std::size_t>(K) * D : static_cast<std::size_t>(K);
    covs.resize(nc);
    const double a2 = Phi[0] * Phi[0], nv = Ncov[0];
    for (std::size_t i = 0; i < nc; ++i) covs[i] = a2 * mix.covariances[i] + nv;
  }
}


constexpr int kMaxFusedTerms = 8;

/// y = sum_t coef[t] src[t] + cn xi for a scalar (m = 1) process, xi the noise of
/// `lane`, in one pass over chunks of particles: the same operations in the same order
/// as zeroing y, block_axpy per term and block_axpy of fill_normals' xi (same bits).
template <class Scalar>
SCORELAB_ALWAYS_INLINE void fused_stage_m1(const Scalar* const* src, const Scalar* coef, int nt, Scalar cn,
                                           Scalar* y, std::size_t ld, int D, int P, std::uint64_t seed,
                                           std::uint64_t p0, std::uint32_t lane, bool avx2) {
  constexpr int chunk = 64;
  Scalar z[2][chunk];
  const int pairs = (D + 1) / 2;
  for (int q = 0; q < pairs; ++q) {
    for (int c0 = 0; c0 < P; c0 += chunk) {
      const int pc = std::min(chunk, P - c0);
#if defined(SCORELAB_DISPATCH_AVX2)
      if (avx2)
        normal_pairs_avx2(seed, p0 + static_cast<std::uint64_t>(c0), lane, static_cast<std::uint32_t>(q), pc, z[0],
                          z[1]);
      else
#endif
        normal_pairs(seed, p0 + static_cast<std::uint64_t>(c0), lane, static_cast<std::uint32_t>(q), pc, z[0], z[1]);
      for (int h = 0; h < 2 && 2 * q + h < D; ++h) {
        const std::size_t off = static_cast<std::size_t>(2 * q + h) * ld + static_cast<std::size_t>(c0);
        Scalar* o = y + off;
        const Scalar* zh = z[h];
        if (nt == 2) {
          const Scalar a0 = coef[0], a1 = coef[1];
          const Scalar* s0 = src[0] + off;
          const Scalar* s1 = src[1] + off;
          for (int p = 0; p < pc; ++p)
            o[p] = ((Scalar(0) + a0 * s0[p]) + a1 * s1[p]) + cn * zh[p];
        } else {
          for (int p = 0; p < pc; ++p) o[p] = Scalar(0);
          for (int t = 0; t < nt; ++t) {
            const Scalar a = coef[t];
            const Scalar* st = src[t] + off;
            for (int p = 0; p < pc; ++p) o[p] += a * st[p];
          }
          for (int p = 0; p < pc; ++p) o[p] += cn * zh[p];
        }
      }
    }
  }
}

/// Everything the step loop of one block needs (see run_table).
template <class Scalar>
struct BlockWork {
  const std::vector<StageOps>* ops;
  const Table* T;
  const ErrorTerms* err;
  const ComponentCache<Scalar>* caches;
  Scalar** Yp;
  Scalar* sbuf;
  Scalar* hbuf;
  Scalar* xi;
  ScoreScratch<Scalar>* ws;
  int k0, k1, S, H, m, d, D, pn;
  std::size_t ld, slab;
  std::uint64_t seed, pbase;  ///< seed; global index of the block's first particle
  int head;
  long long bad_step;
};

/// The steps k0..k1-1 of one block (the body of run_table). Always inlined into the
/// generic and the AVX2 entry points below, so that its loops are compiled for each.
template <class Scalar>
SCORELAB_ALWAYS_INLINE void block_steps_impl(BlockWork<Scalar>& w, bool avx2) {
  const std::vector<StageOps>& ops = *w.ops;
  const Table& T = *w.T;
  const ErrorTerms& err = *w.err;
  const ComponentCache<Scalar>* caches = w.caches;
  Scalar** Yp = w.Yp;
  Scalar* sbuf = w.sbuf;
  Scalar* hbuf = w.hbuf;
  ScoreScratch<Scalar>& ws = *w.ws;
  const int k0 = w.k0, k1 = w.k1, S = w.S, H = w.H, m = w.m, d = w.d, D = w.D, pn = w.pn;
  const std::size_t ld = w.ld, slab = w.slab;
  int head = w.head;
  long long bad_step = -1;
  for (int k = k0; k < k1; ++k) {
    for (int j = 0; j <= S; ++j) {
      Scalar* y = (j == S) ? Yp[S] : Yp[j];
      if (j > 0) {
        const StageOps& op = ops[static_cast<std::size_t>(k) * S + (j - 1)];
        const std::uint32_t lane = static_cast<std::uint32_t>(static_cast<std::uint64_t>(k) * S + (j - 1));
        const int nt = static_cast<int>(op.terms.size());
        auto term_src = [&](const Term& t) -> const Scalar* {
          return t.src == 0   ? Yp[t.idx]
                 : t.src == 1 ? sbuf + static_cast<std::size_t>(t.idx) * slab
                              : hbuf + static_cast<std::size_t>((head + t.idx) % H) * slab;
        };
        if (m == 1 && op.has_noise && nt <= kMaxFusedTerms) {
          // one pass: the noise of a chunk of particles goes straight into y
          const Scalar* src[kMaxFusedTerms];
          Scalar coef[kMaxFusedTerms];
          for (int t = 0; t < nt; ++t) {
            src[t] = term_src(op.terms[t]);
            coef[t] = static_cast<Scalar>(op.terms[t].c[0]);
          }
          fused_stage_m1(src, coef, nt, static_cast<Scalar>(op.noise[0]), y, ld, D, pn, w.seed, w.pbase, lane,
                         avx2);
        } else {
          for (std::size_t q = 0; q < slab; ++q) y[q] = Scalar(0);
          for (const Term& t : op.terms) block_axpy(t.c, m, d, term_src(t), y, ld, pn);
          if (op.has_noise) {
            fill_normals(w.seed, w.pbase, lane, D, w.xi, ld, pn);
            block_axpy(op.noise, m, d, w.xi, y, ld, pn);
          }
        }
      }
      if (j == S) break;
      const int e = T.eval[static_cast<std::size_t>(k) * S + j];
      if (e < 0) continue;
      Scalar* s = sbuf + static_cast<std::size_t>(j) * slab;
      mixture_score_block(caches[e], y, ld, pn, s, ld, static_cast<Scalar*>(nullptr), ws);
      if (err.bias) {
        const double* bv = err.bias + static_cast<std::size_t>(e) * D;
        for (int r = 0; r < D; ++r) {
          const Scalar br = static_cast<Scalar>(bv[r]);
          for (int p = 0; p < pn; ++p) s[static_cast<std::size_t>(r) * ld + p] += br;
        }
      }
      if (err.lin_scalar) {
        const Scalar l = static_cast<Scalar>(err.lin_scalar[e]);
        if (l != Scalar(0))
          for (std::size_t q = 0; q < slab; ++q) s[q] += l * y[q];
      }
      if (err.lin) {
        const double* A = err.lin + static_cast<std::size_t>(e) * D * D;
        for (int r = 0; r < D; ++r) {
          Scalar* sr = s + static_cast<std::size_t>(r) * ld;
          for (int c = 0; c < D; ++c) {
            const Scalar a = static_cast<Scalar>(A[static_cast<std::size_t>(r) * D + c]);
            if (a == Scalar(0)) continue;
            const Scalar* yc = y + static_cast<std::size_t>(c) * ld;
            for (int p = 0; p < pn; ++p) sr[p] += a * yc[p];
          }
        }
      }
      if (err.F > 0 && err.ff_eps && err.ff_eps[e] != 0.0) {
        const Scalar eps = static_cast<Scalar>(err.ff_eps[e]);
        for (int f = 0; f < err.F; ++f) {
          const double* w = err.ff_freq + static_cast<std::size_t>(f) * D;
          const double* a = err.ff_amp + static_cast<std::size_t>(f) * D;
          for (int p = 0; p < pn; ++p) {
            double arg = err.ff_phase[f];
            for (int r = 0; r < D; ++r) arg += w[r] * static_cast<double>(y[static_cast<std::size_t>(r) * ld + p]);
            const Scalar cf = eps * static_cast<Scalar>(std::cos(arg));
            for (int r = 0; r < D; ++r) s[static_cast<std::size_t>(r) * ld + p] += cf * static_cast<Scalar>(a[r]);
          }
        }
      }
    }
    // history push, then x <- y_S
    const int kp = T.keep[k];
    if (H > 0 && kp >= 0) {
      head = (head + H - 1) % H;
      Scalar* dst = hbuf + static_cast<std::size_t>(head) * slab;
      const Scalar* src = kp < S ? sbuf + static_cast<std::size_t>(kp) * slab : Yp[kp - S];
      for (std::size_t q = 0; q < slab; ++q) dst[q] = src[q];
    }
    std::swap(Yp[0], Yp[S]);
    if (bad_step < 0) {
      const Scalar* x = Yp[0];
      bool bad = false;
      for (int r = 0; r < D; ++r) bad |= detail::any_nonfinite(x + static_cast<std::size_t>(r) * ld, pn);
      if (bad) bad_step = k;
    }
  }
  w.head = head;
  w.bad_step = bad_step;
}

template <class Scalar>
__attribute__((noinline)) void block_steps_generic(BlockWork<Scalar>& w) {
  block_steps_impl(w, false);
}

#if defined(SCORELAB_DISPATCH_AVX2)
/// The same step loop compiled for AVX2 (no FMA: the same bits as the generic copy).
template <class Scalar>
__attribute__((target("avx2"), noinline)) void block_steps_avx2(BlockWork<Scalar>& w) {
  block_steps_impl(w, true);
}
#endif

template <class Scalar>
inline void block_steps(BlockWork<Scalar>& w) {
#if defined(SCORELAB_DISPATCH_AVX2)
  if (use_avx2()) return block_steps_avx2(w);
#endif
  block_steps_generic(w);
}

}  // namespace detail

/// Check a table against its mixture and stage data (throws std::invalid_argument):
/// run_table and the CUDA packer call it before anything else.
inline void check_table(const Mixture& mix, const Table& T) {
  const int D = mix.D, m = T.m, S = T.S, N = T.N;
  if (m < 1 || m > 2 || D % m != 0) throw std::invalid_argument("block size m must be 1 or 2 and divide D");
  if (S < 1) throw std::invalid_argument("a table needs at least one stage");
  if (static_cast<std::uint64_t>(N) * S >= 0xFFFFFFFFull) throw std::invalid_argument("too many stages");
  for (int k = 0; k < N; ++k) {
    for (int i = 0; i < S; ++i) {
      const int e = T.eval[static_cast<std::size_t>(k) * S + i];
      if (e >= T.NC || e < -1) throw std::invalid_argument("score data index out of range");
    }
    const int kp = T.keep[k];
    if (kp >= 2 * S || kp < -1 || (kp >= 0 && kp < S && T.eval[static_cast<std::size_t>(k) * S + kp] < 0))
      throw std::invalid_argument("history keeps a score that is not evaluated");
  }
}

/// Run the table on n particles; `state` (n x D, row-major) receives the final states.
/// poll() is called from the calling thread about every 50 ms; returning true cancels.
/// Allocation happens once per call and per thread, never per step.
template <class Scalar>
RunResult run_table(const Mixture& mix, const Table& T, const ErrorTerms& err, const InitLaw& init,
                    std::size_t n, Scalar* state, const RunOptions& opt, const std::function<bool()>& poll) {
  check_table(mix, T);
  const int D = mix.D, m = T.m, S = T.S, H = T.history, N = T.N, K = mix.K;
  const int d = D / m;
  const std::vector<detail::StageOps> ops = detail::compile_ops(T);
  const int P = opt.block > 0 ? opt.block : default_block_size(K, D);
  const std::size_t nblocks = (n + P - 1) / P;
  std::atomic<bool> cancel{false};
  std::atomic<long long> first_bad{std::numeric_limits<long long>::max()};
  std::atomic<long long> bad_count{0};

  // initial states: the noise of the reserved lane, drawn per block in vector loops
  // (fill_normals gives the numbers of normal_pair), then x = mean + L z
  {
    auto body = [&](std::size_t b) {
      const std::size_t p0 = b * P, pn = std::min<std::size_t>(P, n - p0);
      if (init.x0) {
        for (std::size_t q = 0; q < pn * D; ++q) state[p0 * D + q] = static_cast<Scalar>(init.x0[p0 * D + q]);
        return;
      }
      const std::size_t ld = static_cast<std::size_t>(P);
      std::vector<double> z(static_cast<std::size_t>(D) * ld);
      detail::fill_normals(opt.seed, opt.particle_offset + p0, kInitLane, D, z.data(), ld, static_cast<int>(pn));
      for (std::size_t p = 0; p < pn; ++p) {
        Scalar* x = state + (p0 + p) * D;
        for (int r = 0; r < D; ++r) {
          double s = init.mean[r];
          for (int c = 0; c <= r; ++c) s += init.chol[static_cast<std::size_t>(r) * D + c] * z[static_cast<std::size_t>(c) * ld + p];
          x[r] = static_cast<Scalar>(s);
        }
      }
    };
    if (!parallel_for(nblocks, opt.threads, body, poll, cancel)) return RunResult{true, -1, 0};
  }
  // history of scores: n x H x D, kept only when H > 0
  std::vector<Scalar> hist_global(static_cast<std::size_t>(H) * n * D, Scalar(0));
  std::vector<int> ring_head(nblocks, 0);

  // time chunks bounded by the cache budget
  std::size_t per_cache = sizeof(Scalar) * static_cast<std::size_t>(K) *
                          (static_cast<std::size_t>(D) * (mix.cov_type == CovType::Full ? D : 1) + D + 1);
  std::size_t steps_per_chunk = std::max<std::size_t>(1, opt.cache_budget_bytes / std::max<std::size_t>(1, per_cache * S));
  std::vector<ComponentCache<Scalar>> caches(T.NC);

  for (int k0 = 0; k0 < N; k0 += static_cast<int>(steps_per_chunk)) {
    const int k1 = static_cast<int>(std::min<std::size_t>(N, k0 + steps_per_chunk));
    // build the caches used in [k0, k1)
    std::vector<int> need;
    std::vector<char> scheduled(T.NC, 0);
    for (int k = k0; k < k1; ++k)
      for (int i = 0; i < S; ++i) {
        const int e = T.eval[static_cast<std::size_t>(k) * S + i];
        if (e >= 0 && !scheduled[e]) {
          scheduled[e] = 1;
          need.push_back(e);
        }
      }
    auto build = [&](std::size_t q) {
      const int e = need[q];
      std::vector<double> means, covs;
      detail::forward_components(mix, m, T.Phi + static_cast<std::size_t>(e) * m * m,
                                 T.Ncov + static_cast<std::size_t>(e) * m * m, means, covs);
      build_cache(caches[e], K, D, mix.cov_type, mix.weights, means.data(), covs.data());
    };
    if (!parallel_for(need.size(), opt.threads, build, poll, cancel)) return RunResult{true, -1, 0};

    auto body = [&](std::size_t b) {
      const std::size_t p0 = b * P;
      const int pn = static_cast<int>(std::min<std::size_t>(P, n - p0));
      const std::size_t ld = static_cast<std::size_t>(P);
      const std::size_t slab = static_cast<std::size_t>(D) * ld;
      std::vector<Scalar> ybuf(static_cast<std::size_t>(S + 1) * slab, Scalar(0));
      std::vector<Scalar> sbuf(static_cast<std::size_t>(S) * slab, Scalar(0));
      std::vector<Scalar> hbuf(static_cast<std::size_t>(H) * slab, Scalar(0));
      std::vector<Scalar> xi(slab, Scalar(0));
      ScoreScratch<Scalar> ws;
      ws.reserve(K, D, P);
      std::vector<Scalar*> Yp(S + 1);
      for (int i = 0; i <= S; ++i) Yp[i] = ybuf.data() + static_cast<std::size_t>(i) * slab;
      // load x and history (structure of arrays)
      for (int p = 0; p < pn; ++p)
        for (int r = 0; r < D; ++r) Yp[0][static_cast<std::size_t>(r) * ld + p] = state[(p0 + p) * D + r];
      for (int h = 0; h < H; ++h)
        for (int p = 0; p < pn; ++p)
          for (int r = 0; r < D; ++r)
            hbuf[h * slab + static_cast<std::size_t>(r) * ld + p] = hist_global[((p0 + p) * H + h) * D + r];
      detail::BlockWork<Scalar> w{&ops, &T, &err, caches.data(), Yp.data(), sbuf.data(), hbuf.data(), xi.data(),
                                  &ws, k0, k1, S, H, m, d, D, pn, ld, slab, opt.seed, opt.particle_offset + p0,
                                  ring_head[b], -1};
      detail::block_steps(w);
      ring_head[b] = w.head;
      const long long bad_step = w.bad_step;
      for (int p = 0; p < pn; ++p)
        for (int r = 0; r < D; ++r) state[(p0 + p) * D + r] = Yp[0][static_cast<std::size_t>(r) * ld + p];
      for (int h = 0; h < H; ++h)
        for (int p = 0; p < pn; ++p)
          for (int r = 0; r < D; ++r)
            hist_global[((p0 + p) * H + h) * D + r] = hbuf[h * slab + static_cast<std::size_t>(r) * ld + p];
      if (bad_step >= 0) {
        long long cur = first_bad.load();
        while (bad_step < cur && !first_bad.compare_exchange_weak(cur, bad_step)) {
        }
      }
    };
    if (!parallel_for(nblocks, opt.threads, body, poll, cancel)) return RunResult{true, -1, 0};
    for (int e : need) caches[e] = ComponentCache<Scalar>();  // free before the next chunk
  }
  RunResult res;
  res.first_bad_step = first_bad.load() == std::numeric_limits<long long>::max() ? -1 : first_bad.load();
  if (res.first_bad_step >= 0) {
    long long cnt = 0;
    for (std::size_t p = 0; p < n; ++p)
      for (int r = 0; r < D; ++r)
        if (!std::isfinite(static_cast<double>(state[p * D + r]))) {
          ++cnt;
          break;
        }
    res.bad_particles = cnt;
  }
  return res;
}

}  // namespace scorelab
