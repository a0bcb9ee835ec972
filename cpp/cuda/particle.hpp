// scorelab CUDA backend — the per-particle recursion, shared by the kernels and the host
// emulator.
//
// Everything a GPU thread does to its particle lives here as SCORELAB_HD functions
// (__host__ __device__ under nvcc, plain inline otherwise; no CUDA header), so the
// exact same code also runs on the CPU through emulate.hpp — which is how the GPU
// algorithm (packed terms, stage slots, history ring, online log-sum-exp score, noise
// lanes, error terms, chunking) is tested on machines without a GPU. Only the staging
// of shared memory and the launch are CUDA-specific (run_table.cu).
//
// The recursion is the CPU executor's (cpp/include/scorelab/scheme.hpp), term for term
// and in the same order, with the same Philox streams:
//   y_j = sum_terms (coef ⊗ I_d) src + (noise ⊗ I_d) xi_{k,j},   s_j = score(y_j) + error.
#pragma once

#include <scorelab/philox.hpp>

#include "packed.hpp"

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace scorelab {
namespace cuda {

/// The packed run as raw pointers (device memory for the kernels, host for the emulator).
struct RunView {
  int N, S, H, m, D, d, K, cov, F, comp_stride;
  unsigned long long n, seed, offset;
  const int* op_begin;
  const PackedTerm* terms;
  const double* noise;
  const int* has_noise;
  const int* eval;
  const int* keep;
  const double* bias;
  const double* lin;
  const double* lin_scalar;
  const double* ff_eps;
  const double* ff_freq;
  const double* ff_phase;
  const double* ff_amp;
  int comp_in_smem;  ///< kernels: stage the component data in shared memory
  int max_terms;     ///< kernels: capacity of the shared term list
};

/// A view of a packed run in host memory (the launcher swaps in device pointers).
template <class Scalar>
RunView make_view(const PackedRun<Scalar>& run, unsigned long long n, unsigned long long seed,
                  unsigned long long offset) {
  auto ptr = [](const auto& v) { return v.empty() ? nullptr : v.data(); };
  RunView P{};
  P.N = run.N;
  P.S = run.S;
  P.H = run.H;
  P.m = run.m;
  P.D = run.D;
  P.d = run.D / run.m;
  P.K = run.K;
  P.cov = run.cov;
  P.F = run.F;
  P.comp_stride = run.comp_stride;
  P.n = n;
  P.seed = seed;
  P.offset = offset;
  P.op_begin = ptr(run.op_begin);
  P.terms = ptr(run.terms);
  P.noise = ptr(run.noise);
  P.has_noise = ptr(run.has_noise);
  P.eval = ptr(run.eval);
  P.keep = ptr(run.keep);
  P.bias = ptr(run.bias);
  P.lin = ptr(run.lin);
  P.lin_scalar = ptr(run.lin_scalar);
  P.ff_eps = ptr(run.ff_eps);
  P.ff_freq = ptr(run.ff_freq);
  P.ff_phase = ptr(run.ff_phase);
  P.ff_amp = ptr(run.ff_amp);
  P.comp_in_smem = 0;
  P.max_terms = run.max_terms_per_step > 0 ? run.max_terms_per_step : 1;
  return P;
}

/// Capacity (in D-vectors) of the per-thread array of the fixed-size store.
constexpr int kMaxVectors = 12;

/// Vectors a particle needs: S + 1 stage states, S scores, H history entries, 2 work.
inline int vectors_needed(int S, int H) { return 2 * S + H + 3; }

/// Per-particle state: a local array of DMAX-strided vectors (DMAX > 0; registers or
/// local memory on the GPU), or a scratch buffer laid out [vector][coordinate][particle]
/// (DMAX == 0) so that neighbouring threads touch neighbouring addresses.
template <class Scalar, int DMAX, int NVEC = kMaxVectors>
struct Store {
  Scalar v[NVEC * DMAX];
  SCORELAB_HD Store(Scalar*, unsigned long long, unsigned long long, int) {}
  SCORELAB_HD Scalar& at(int vec, int r) { return v[vec * DMAX + r]; }
};
template <class Scalar, int NVEC>
struct Store<Scalar, 0, NVEC> {
  Scalar* base;
  unsigned long long stride;
  int D;
  SCORELAB_HD Store(Scalar* g, unsigned long long p, unsigned long long n, int D_) : base(g + p), stride(n), D(D_) {}
  SCORELAB_HD Scalar& at(int vec, int r) { return base[(static_cast<unsigned long long>(vec) * D + r) * stride]; }
};

/// Call f(std::integral_constant<int, DMAX>) with the store size used for (D, S, H):
/// the smallest of 2, 4, 8, 16, 32 holding D when the vectors fit, else 0 (scratch).
template <class F>
void dispatch_store(int D, int S, int H, F&& f) {
  const bool local = vectors_needed(S, H) <= kMaxVectors;
  if (local && D <= 2)
    f(std::integral_constant<int, 2>{});
  else if (local && D <= 4)
    f(std::integral_constant<int, 4>{});
  else if (local && D <= 8)
    f(std::integral_constant<int, 8>{});
  else if (local && D <= 16)
    f(std::integral_constant<int, 16>{});
  else if (local && D <= 32)
    f(std::integral_constant<int, 32>{});
  else
    f(std::integral_constant<int, 0>{});
}

/// Steps per kernel launch: about 2^33 multiply-adds of score work per launch, so that
/// Ctrl-C is answered within seconds; max_steps > 0 caps it (tests force small chunks).
inline int steps_per_launch(const RunView& P, int max_steps) {
  const double per_step = static_cast<double>(P.n) * P.S * P.K * P.D * (P.cov == 0 ? P.D : 1) + 1.0;
  double c = 8.6e9 / per_step;
  if (c > P.N) c = P.N;
  if (c < 1) c = 1;
  int chunk = static_cast<int>(c);
  if (max_steps > 0 && chunk > max_steps) chunk = max_steps;
  return chunk;
}

/// Ring head after steps [0, k) (the history ring turns once per pushed entry).
inline int ring_head(const int* keep_host, int H, int k) {
  int head = 0;
  for (int q = 0; q < k; ++q)
    if (H > 0 && keep_host[q] >= 0) head = (head + H - 1) % H;
  return head;
}


/// Loop over coordinates: compile-time bound (guarded) for the fixed-size store.
#define SCORELAB_FOR_R(r, D, DMAX) \
  for (int r = 0; r < ((DMAX) > 0 ? (DMAX) : (D)); ++r) if ((DMAX) == 0 || r < (D))

/// dst += (c ⊗ I_d) src, skipping zero entries (as the CPU's block_axpy).
template <class Scalar, class St>
SCORELAB_HD void axpy_block(St& st, const double* c, int m, int d, int src, int dst) {
  for (int a = 0; a < m; ++a)
    for (int b = 0; b < m; ++b) {
      const Scalar cab = static_cast<Scalar>(c[a * m + b]);
      if (cab == Scalar(0)) continue;
      for (int r = 0; r < d; ++r) st.at(dst, a * d + r) += cab * st.at(src, b * d + r);
    }
}

/// Initial state of particle p: x0 row, or mean + chol z with z from the initial-state
/// lane, accumulated in double exactly as the CPU executor (s = mean_r + sum_{c<=r} L_rc z_c).
template <class Scalar, int DMAX>
SCORELAB_HD void init_particle(const RunView& P, unsigned long long p, const double* x0, const double* mean,
                               const double* chol, double* dscratch, Scalar* x) {
  const int D = P.D;
  if (x0) {
    for (int r = 0; r < D; ++r) x[r] = static_cast<Scalar>(x0[p * D + r]);
    return;
  }
  Store<double, DMAX, 1> acc(dscratch, p, P.n, D);
  SCORELAB_FOR_R(r, D, DMAX) { acc.at(0, r) = mean[r]; }
  for (int q = 0; q < (D + 1) / 2; ++q) {
    double z[2];
    normal_pair(P.seed, P.offset + p, kInitLane, static_cast<std::uint32_t>(q), z[0], z[1]);
    for (int h = 0; h < 2; ++h) {
      const int c = 2 * q + h;
      if (c >= D) break;
      for (int r = c; r < D; ++r) acc.at(0, r) += chol[r * D + c] * z[h];
    }
  }
  SCORELAB_FOR_R(r, D, DMAX) { x[r] = static_cast<Scalar>(acc.at(0, r)); }
}

/// Vector slots: y_0 = x is slot xs (0 or S), y_S slot os (the other), y_i slot i
/// otherwise; scores s_i at S + 1 + i; history h at 2S + 1 + h; two work vectors.
struct Slots {
  int S, H;
  SCORELAB_HD int y(int i, int xs, int os) const { return i == 0 ? xs : (i == S ? os : i); }
  SCORELAB_HD int s(int i) const { return S + 1 + i; }
  SCORELAB_HD int h(int i) const { return 2 * S + 1 + i; }
  SCORELAB_HD int z() const { return 2 * S + H + 1; }
  SCORELAB_HD int acc() const { return 2 * S + H + 2; }
};

/// Stage j (1..S) of step k: y_j from its terms (terms[0..nt)), then its noise.
template <class Scalar, int DMAX, class St>
SCORELAB_HD void combine_stage(const RunView& P, const PackedTerm* terms, int nt, const double* noise,
                               int has_noise, int k, int j, int xs, int os, int head, unsigned long long p,
                               St& st) {
  const int D = P.D, m = P.m, d = P.d, S = P.S;
  const Slots sl{S, P.H};
  const int yj = sl.y(j, xs, os);
  SCORELAB_FOR_R(r, D, DMAX) { st.at(yj, r) = Scalar(0); }
  for (int t = 0; t < nt; ++t) {
    const PackedTerm& term = terms[t];
    const int src = term.src == 0 ? sl.y(term.idx, xs, os) : term.src == 1 ? sl.s(term.idx)
                                                                           : sl.h((head + term.idx) % P.H);
    axpy_block<Scalar>(st, term.coef, m, d, src, yj);
  }
  if (!has_noise) return;
  const std::uint32_t lane = static_cast<std::uint32_t>(static_cast<std::uint64_t>(k) * S + (j - 1));
  for (int q = 0; q < (D + 1) / 2; ++q) {
    Scalar z[2];
    normal_pair_as<Scalar>(P.seed, P.offset + p, lane, static_cast<std::uint32_t>(q), z[0], z[1]);
    for (int h = 0; h < 2; ++h) {
      const int coord = 2 * q + h;
      if (coord >= D) break;
      // coordinate b*d + r of xi feeds y[a*d + r] for every a; for a fixed target the
      // b = 0 contribution comes first, as in the CPU's block loop
      const int b = coord / d, r = coord - b * d;
      const Scalar xi = z[h];
      for (int a = 0; a < m; ++a) {
        const Scalar cab = static_cast<Scalar>(noise[a * m + b]);
        if (cab == Scalar(0)) continue;
        st.at(yj, a * d + r) += cab * xi;
      }
    }
  }
}

/// Mixture score at vector yv into sv, one pass over the components (online
/// log-sum-exp: the accumulated gradient is rescaled when the running max grows).
/// cd: [logc K][mean K x D][U K x UD]. With a fixed-size store (DMAX > 0) the loops
/// over coordinates are unrolled, so y - m_k, z_k and the accumulated gradient live in
/// registers and the state is read O(K D) times per call; otherwise zv, av (work
/// vectors of the store) hold z and the gradient. Same operations, same order.
template <class Scalar, int DMAX, class St>
SCORELAB_HD void mixture_score(const RunView& P, const Scalar* cd, St& st, int yv, int sv, int zv, int av) {
  const int K = P.K, D = P.D;
  const Scalar* logc = cd;
  const Scalar* mean = cd + K;
  const Scalar* U = cd + K + K * D;
  Scalar M = static_cast<Scalar>(-INFINITY);
  Scalar sum = Scalar(0);
  if constexpr (DMAX > 0) {
    Scalar dv[DMAX], z[DMAX], acc[DMAX];
    SCORELAB_UNROLL
    for (int r = 0; r < DMAX; ++r) acc[r] = Scalar(0);
    for (int k = 0; k < K; ++k) {
      const Scalar* mk = mean + k * D;
      SCORELAB_UNROLL
      for (int r = 0; r < DMAX; ++r) dv[r] = r < D ? st.at(yv, r) - mk[r] : Scalar(0);
      Scalar q = Scalar(0);
      if (P.cov == 0) {
        const Scalar* Uk = U + static_cast<std::size_t>(k) * D * D;
        SCORELAB_UNROLL
        for (int r = 0; r < DMAX; ++r) {
          if (r < D) {
            Scalar zr = Scalar(0);
            SCORELAB_UNROLL
            for (int c = 0; c <= r; ++c) zr += Uk[r * D + c] * dv[c];
            z[r] = zr;
            q += zr * zr;
          }
        }
      } else {
        SCORELAB_UNROLL
        for (int r = 0; r < DMAX; ++r) {
          if (r < D) {
            const Scalar u = P.cov == 1 ? U[k * D + r] : U[k];
            z[r] = u * dv[r];
            q += z[r] * z[r];
          }
        }
      }
      const Scalar lp = logc[k] - Scalar(0.5) * q;
      if (lp > M) {
        const Scalar scale = std::exp(M - lp);
        sum *= scale;
        SCORELAB_UNROLL
        for (int r = 0; r < DMAX; ++r) acc[r] *= scale;
        M = lp;
      }
      // K = 1: weight exactly 1, even where q overflows (lp = M = -inf)
      const Scalar w = K == 1 ? Scalar(1) : std::exp(lp - M);
      sum += w;
      if (P.cov == 0) {
        const Scalar* Uk = U + static_cast<std::size_t>(k) * D * D;
        SCORELAB_UNROLL
        for (int r = 0; r < DMAX; ++r) {
          if (r < D) {
            const Scalar wz = w * z[r];
            SCORELAB_UNROLL
            for (int c = 0; c <= r; ++c) acc[c] += Uk[r * D + c] * wz;
          }
        }
      } else {
        SCORELAB_UNROLL
        for (int r = 0; r < DMAX; ++r) {
          if (r < D) {
            const Scalar u = P.cov == 1 ? U[k * D + r] : U[k];
            acc[r] += u * (w * z[r]);
          }
        }
      }
    }
    const Scalar inv = Scalar(1) / sum;
    SCORELAB_UNROLL
    for (int r = 0; r < DMAX; ++r)
      if (r < D) st.at(sv, r) = -(acc[r] * inv);
  } else {
    SCORELAB_FOR_R(r, D, DMAX) { st.at(av, r) = Scalar(0); }
    for (int k = 0; k < K; ++k) {
      const Scalar* mk = mean + k * D;
      Scalar q = Scalar(0);
      if (P.cov == 0) {
        const Scalar* Uk = U + static_cast<std::size_t>(k) * D * D;
        SCORELAB_FOR_R(r, D, DMAX) {
          Scalar zr = Scalar(0);
          for (int c = 0; c <= r; ++c) zr += Uk[r * D + c] * (st.at(yv, c) - mk[c]);
          st.at(zv, r) = zr;
          q += zr * zr;
        }
      } else {
        SCORELAB_FOR_R(r, D, DMAX) {
          const Scalar u = P.cov == 1 ? U[k * D + r] : U[k];
          const Scalar zr = u * (st.at(yv, r) - mk[r]);
          st.at(zv, r) = zr;
          q += zr * zr;
        }
      }
      const Scalar lp = logc[k] - Scalar(0.5) * q;
      if (lp > M) {
        const Scalar scale = std::exp(M - lp);
        sum *= scale;
        SCORELAB_FOR_R(r, D, DMAX) { st.at(av, r) *= scale; }
        M = lp;
      }
      // K = 1: weight exactly 1, even where q overflows (lp = M = -inf)
      const Scalar w = K == 1 ? Scalar(1) : std::exp(lp - M);
      sum += w;
      if (P.cov == 0) {
        const Scalar* Uk = U + static_cast<std::size_t>(k) * D * D;
        SCORELAB_FOR_R(r, D, DMAX) {
          const Scalar wz = w * st.at(zv, r);
          for (int c = 0; c <= r; ++c) st.at(av, c) += Uk[r * D + c] * wz;
        }
      } else {
        SCORELAB_FOR_R(r, D, DMAX) {
          const Scalar u = P.cov == 1 ? U[k * D + r] : U[k];
          st.at(av, r) += u * (w * st.at(zv, r));
        }
      }
    }
    const Scalar inv = Scalar(1) / sum;
    SCORELAB_FOR_R(r, D, DMAX) { st.at(sv, r) = -(st.at(av, r) * inv); }
  }
}

/// Error-model terms added to the score at stage-data index e (the CPU's order).
template <class Scalar, int DMAX, class St>
SCORELAB_HD void add_error_terms(const RunView& P, int e, St& st, int yv, int sv) {
  const int D = P.D;
  if (P.bias) {
    const double* bv = P.bias + static_cast<std::size_t>(e) * D;
    SCORELAB_FOR_R(r, D, DMAX) { st.at(sv, r) += static_cast<Scalar>(bv[r]); }
  }
  if (P.lin_scalar) {
    const Scalar l = static_cast<Scalar>(P.lin_scalar[e]);
    if (l != Scalar(0)) {
      SCORELAB_FOR_R(r, D, DMAX) { st.at(sv, r) += l * st.at(yv, r); }
    }
  }
  if (P.lin) {
    const double* A = P.lin + static_cast<std::size_t>(e) * D * D;
    SCORELAB_FOR_R(r, D, DMAX) {
      for (int c = 0; c < D; ++c) {
        const Scalar a = static_cast<Scalar>(A[r * D + c]);
        if (a == Scalar(0)) continue;
        st.at(sv, r) += a * st.at(yv, c);
      }
    }
  }
  if (P.F > 0 && P.ff_eps && P.ff_eps[e] != 0.0) {
    const Scalar eps = static_cast<Scalar>(P.ff_eps[e]);
    for (int f = 0; f < P.F; ++f) {
      const double* w = P.ff_freq + static_cast<std::size_t>(f) * D;
      const double* a = P.ff_amp + static_cast<std::size_t>(f) * D;
      double arg = P.ff_phase[f];
      SCORELAB_FOR_R(r, D, DMAX) { arg += w[r] * static_cast<double>(st.at(yv, r)); }
      const Scalar cf = eps * static_cast<Scalar>(std::cos(arg));
      SCORELAB_FOR_R(r, D, DMAX) { st.at(sv, r) += cf * static_cast<Scalar>(a[r]); }
    }
  }
}

/// After the stages of step k: push the kept vector into the history ring (returns the
/// new head). Call before x moves to slot os.
template <class Scalar, int DMAX, class St>
SCORELAB_HD int push_history(const RunView& P, int k, int xs, int os, int head, bool active, St& st) {
  const int kp = P.keep[k];
  if (P.H == 0 || kp < 0) return head;
  const Slots sl{P.S, P.H};
  head = (head + P.H - 1) % P.H;
  if (active) {
    const int src = kp < P.S ? sl.s(kp) : sl.y(kp - P.S, xs, os);
    SCORELAB_FOR_R(r, P.D, DMAX) { st.at(sl.h(head), r) = st.at(src, r); }
  }
  return head;
}

/// Load x and the history of particle p from the chunk buffers.
template <class Scalar, int DMAX, class St>
SCORELAB_HD void load_particle(const RunView& P, unsigned long long p, const Scalar* state, const Scalar* hist,
                               St& st) {
  const int D = P.D;
  const Slots sl{P.S, P.H};
  SCORELAB_FOR_R(r, D, DMAX) { st.at(0, r) = state[p * D + r]; }
  for (int h = 0; h < P.H; ++h) {
    SCORELAB_FOR_R(r, D, DMAX) { st.at(sl.h(h), r) = hist[(p * P.H + h) * D + r]; }
  }
}

/// Store x (slot xs) and the history of particle p; returns whether x is all finite.
template <class Scalar, int DMAX, class St>
SCORELAB_HD bool store_particle(const RunView& P, unsigned long long p, int xs, Scalar* state, Scalar* hist,
                                St& st) {
  const int D = P.D;
  const Slots sl{P.S, P.H};
  bool finite = true;
  SCORELAB_FOR_R(r, D, DMAX) {
    const Scalar v = st.at(xs, r);
    state[p * D + r] = v;
    if (!std::isfinite(static_cast<double>(v))) finite = false;
  }
  for (int h = 0; h < P.H; ++h) {
    SCORELAB_FOR_R(r, D, DMAX) { hist[(p * P.H + h) * D + r] = st.at(sl.h(h), r); }
  }
  return finite;
}

/// Whether x (slot xs) is all finite.
template <class Scalar, int DMAX, class St>
SCORELAB_HD bool all_finite(const RunView& P, int xs, St& st) {
  bool ok = true;
  SCORELAB_FOR_R(r, P.D, DMAX) {
    if (!std::isfinite(static_cast<double>(st.at(xs, r)))) ok = false;
  }
  return ok;
}

/// Steps [k0, k1) of particle p: the body of the GPU kernel, and of the host emulator.
/// The Stager supplies, for each step, its term list, noise blocks and noise flags
/// (begin_step, terms, noise, has_noise), the component data of a stage-data index
/// (components) and the two atomics. Every thread of a block calls begin_step and
/// components for the same (k, e) sequence — eval is uniform — so a kernel stager may
/// place barriers there. Inactive threads (p >= n) only take part in the staging.
#if defined(__CUDACC__)
#pragma nv_exec_check_disable
#endif
template <class Scalar, int DMAX, class Stager>
SCORELAB_HD void run_steps(const RunView& P, Stager& sg, unsigned long long p, Scalar* state, Scalar* hist,
                           Scalar* gscratch, int k0, int k1, int head, bool last, unsigned long long* first_bad,
                           unsigned long long* bad_count) {
  const bool active = p < P.n;
  const int S = P.S;
  const Slots sl{S, P.H};
  Store<Scalar, DMAX> st(gscratch, p, P.n, P.D);
  if (active) load_particle<Scalar, DMAX>(P, p, state, hist, st);
  int xs = 0;  // slot of x_k (0 or S); the other one receives x_{k+1}
  long long bad_step = -1;
  for (int k = k0; k < k1; ++k) {
    sg.begin_step(P, k);
    const int os = xs == 0 ? S : 0;
    const int t0 = P.op_begin[k * S];
    for (int j = 0; j <= S; ++j) {
      if (j > 0 && active) {
        const int tb = P.op_begin[k * S + j - 1], te = P.op_begin[k * S + j];
        combine_stage<Scalar, DMAX>(P, sg.terms() + (tb - t0), te - tb, sg.noise() + 4 * (j - 1),
                                    sg.has_noise()[j - 1], k, j, xs, os, head, p, st);
      }
      if (j == S) break;
      const int e = P.eval[k * S + j];
      if (e < 0) continue;
      const Scalar* cd = sg.components(P, e);
      if (active) {
        const int yv = sl.y(j, xs, os);
        mixture_score<Scalar, DMAX>(P, cd, st, yv, sl.s(j), sl.z(), sl.acc());
        add_error_terms<Scalar, DMAX>(P, e, st, yv, sl.s(j));
      }
    }
    head = push_history<Scalar, DMAX>(P, k, xs, os, head, active, st);
    xs = os;
    if (active && bad_step < 0 && !all_finite<Scalar, DMAX>(P, xs, st)) bad_step = k;
  }
  if (!active) return;
  const bool finite = store_particle<Scalar, DMAX>(P, p, xs, state, hist, st);
  if (bad_step >= 0) sg.atomic_min(first_bad, static_cast<unsigned long long>(bad_step));
  if (last && !finite) sg.atomic_add(bad_count, 1ull);
}

}  // namespace cuda
}  // namespace scorelab
