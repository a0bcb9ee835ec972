// scorelab CUDA backend — execute a packed coefficient table, one particle per thread.
//
// The recursion is the CPU executor's (cpp/include/scorelab/scheme.hpp), term for term
// and in the same order:
//   y_j = sum_terms (coef ⊗ I_d) src + (noise ⊗ I_d) xi_{k,j},   s_j = score(y_j) + error,
// with the same Philox streams (philox.hpp, compiled __host__ __device__), so for a
// given seed GPU and CPU outputs differ only by floating-point rounding.
//
// Layout. A thread keeps its particle's whole trajectory state — the S + 1 stage states
// y, the S stage scores s, the H history scores and two work vectors — in a per-thread
// array of compile-time size (registers / local memory; instantiated for D <= 2, 4, 8,
// 16, 32), or, for larger D or deeper tables, in a global scratch laid out
// [vector][coordinate][particle] so that accesses stay coalesced. All threads of a block
// walk the same (step, stage) sequence, so per step the block stages the step's term
// list and noise blocks in shared memory, and per score evaluation the component data
// of that stage time (log-normalisers, means, inverse Cholesky factors) — when they fit
// in shared memory; otherwise they are read through the read-only cache. The mixture
// score uses a one-pass (online) log-sum-exp, so per particle it needs O(D) memory for
// any K. Cost per particle-stage: O(K D^2) full, O(K D) diagonal/spherical.
//
// Steps run in chunks (one kernel launch each) so that Ctrl-C is honoured between
// launches; state and history go through global memory between chunks.
#include <scorelab/philox.hpp>

#include "cuda_api.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace scorelab {
namespace cuda {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorName(e) + " (" +
                             cudaGetErrorString(e) + ")");
}
#define SCORELAB_CUDA_CHECK(expr) check((expr), #expr)

/// Owning device buffer (freed on scope exit, also when an exception unwinds).
template <class T>
class DevVec {
 public:
  DevVec() = default;
  explicit DevVec(std::size_t n) { alloc(n); }
  DevVec(const DevVec&) = delete;
  DevVec& operator=(const DevVec&) = delete;
  ~DevVec() {
    if (p_) cudaFree(p_);
  }
  void alloc(std::size_t n) {
    if (n == 0) return;
    SCORELAB_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T)));
    n_ = n;
  }
  void upload(const T* src, std::size_t n) {
    if (n == 0) return;
    alloc(n);
    SCORELAB_CUDA_CHECK(cudaMemcpy(p_, src, n * sizeof(T), cudaMemcpyHostToDevice));
  }
  void upload(const std::vector<T>& v) { upload(v.data(), v.size()); }
  T* get() const { return p_; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

/// Kernel parameters (plain data, passed by value).
struct KParams {
  int N, S, H, m, D, d, K, cov, F, UD, comp_stride;
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
  int comp_in_smem;  ///< stage the component data in shared memory
  int max_terms;     ///< capacity of the shared term list
};

constexpr int kMaxVectors = 12;  ///< capacity (in D-vectors) of the per-thread array

/// Per-thread state: a local array of DMAX-strided vectors (DMAX > 0) or a global
/// scratch (DMAX == 0) laid out [vector][coordinate][particle].
template <class Scalar, int DMAX, int NVEC = kMaxVectors>
struct Store {
  Scalar v[NVEC * DMAX];
  __device__ Store(Scalar*, unsigned long long, unsigned long long, int) {}
  __device__ Scalar& at(int vec, int r) { return v[vec * DMAX + r]; }
};
template <class Scalar, int NVEC>
struct Store<Scalar, 0, NVEC> {
  Scalar* base;
  unsigned long long stride;
  int D;
  __device__ Store(Scalar* g, unsigned long long p, unsigned long long n, int D_) : base(g + p), stride(n), D(D_) {}
  __device__ Scalar& at(int vec, int r) { return base[(static_cast<unsigned long long>(vec) * D + r) * stride]; }
};

/// Loop bound over coordinates: compile-time (guarded) for the local store.
#define SCORELAB_FOR_R(r, D, DMAX) \
  _Pragma("unroll") for (int r = 0; r < ((DMAX) > 0 ? (DMAX) : (D)); ++r) if ((DMAX) == 0 || r < (D))

/// out_vec += (c ⊗ I_d) src_vec, skipping zero entries (as block_axpy).
template <class Scalar, int DMAX, class St>
__device__ void axpy_block(St& st, const double* c, int m, int d, int src, int dst) {
  for (int a = 0; a < m; ++a)
    for (int b = 0; b < m; ++b) {
      const Scalar cab = static_cast<Scalar>(c[a * m + b]);
      if (cab == Scalar(0)) continue;
      for (int r = 0; r < d; ++r) st.at(dst, a * d + r) += cab * st.at(src, b * d + r);
    }
}

/// Score of the mixture at y (vector yv) into vector sv; zv, av are work vectors.
/// cd: component data [logc K][mean K x D][U K x UD].
template <class Scalar, int DMAX, class St>
__device__ void mixture_score(const KParams& P, const Scalar* __restrict__ cd, St& st, int yv, int sv, int zv,
                              int av) {
  const int K = P.K, D = P.D;
  const Scalar* logc = cd;
  const Scalar* mean = cd + K;
  const Scalar* U = cd + K + K * D;
  Scalar M = static_cast<Scalar>(-INFINITY);
  Scalar sum = Scalar(0);
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
    if (lp > M) {  // online log-sum-exp: rescale what was accumulated under the old max
      const Scalar scale = exp(M - lp);
      sum *= scale;
      SCORELAB_FOR_R(r, D, DMAX) { st.at(av, r) *= scale; }
      M = lp;
    }
    const Scalar w = exp(lp - M);
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

/// Error-model terms added to the score at stage-data index e (same order as the CPU).
template <class Scalar, int DMAX, class St>
__device__ void add_error_terms(const KParams& P, int e, St& st, int yv, int sv) {
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
      const Scalar cf = eps * static_cast<Scalar>(cos(arg));
      SCORELAB_FOR_R(r, D, DMAX) { st.at(sv, r) += cf * static_cast<Scalar>(a[r]); }
    }
  }
}

/// Initial states: copy x0, or mean + chol z with z from the initial-state lane.
/// Accumulates in double exactly as the CPU executor (s = mean_r; s += chol_rc z_c, c <= r).
template <class Scalar, int DMAX>
__global__ void init_kernel(KParams P, const double* __restrict__ x0, const double* __restrict__ mean,
                            const double* __restrict__ chol, double* __restrict__ dscratch, Scalar* __restrict__ state) {
  const unsigned long long p = blockIdx.x * static_cast<unsigned long long>(blockDim.x) + threadIdx.x;
  if (p >= P.n) return;
  const int D = P.D;
  Scalar* x = state + p * D;
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

/// Steps [k0, k1) of the table for every particle. head0: ring head at k0.
template <class Scalar, int DMAX>
__global__ void steps_kernel(KParams P, const Scalar* __restrict__ comp, Scalar* __restrict__ state,
                             Scalar* __restrict__ hist, Scalar* __restrict__ gscratch, int k0, int k1, int head0,
                             int last_chunk, unsigned long long* first_bad, unsigned long long* bad_count) {
  extern __shared__ double smem_d[];  // double-aligned dynamic shared memory
  PackedTerm* s_terms = reinterpret_cast<PackedTerm*>(smem_d);
  double* s_noise = reinterpret_cast<double*>(s_terms + P.max_terms);
  int* s_has = reinterpret_cast<int*>(s_noise + 4 * P.S);
  Scalar* s_comp = reinterpret_cast<Scalar*>(smem_d + ((reinterpret_cast<char*>(s_has + P.S) -
                                                        reinterpret_cast<char*>(smem_d)) + 7) / 8);

  const unsigned long long p = blockIdx.x * static_cast<unsigned long long>(blockDim.x) + threadIdx.x;
  const bool active = p < P.n;
  const int S = P.S, H = P.H, D = P.D, m = P.m, d = P.d;
  const int SOFF = S + 1, HOFF = 2 * S + 1, ZV = 2 * S + H + 1, AV = 2 * S + H + 2;
  Store<Scalar, DMAX> st(gscratch, p, P.n, D);

  if (active) {
    SCORELAB_FOR_R(r, D, DMAX) { st.at(0, r) = state[p * D + r]; }
    for (int h = 0; h < H; ++h) {
      SCORELAB_FOR_R(r, D, DMAX) { st.at(HOFF + h, r) = hist[(p * H + h) * D + r]; }
    }
  }
  int head = head0;
  int xs = 0;  // slot of x_k (0 or S); the other one receives x_{k+1}
  long long bad_step = -1;
  for (int k = k0; k < k1; ++k) {
    const int tb = P.op_begin[k * S], te = P.op_begin[k * S + S];
    __syncthreads();  // the previous step is done with the shared term list
    for (int i = threadIdx.x; i < te - tb; i += blockDim.x) s_terms[i] = P.terms[tb + i];
    for (int i = threadIdx.x; i < 4 * S; i += blockDim.x) s_noise[i] = P.noise[static_cast<std::size_t>(k) * S * 4 + i];
    for (int i = threadIdx.x; i < S; i += blockDim.x) s_has[i] = P.has_noise[k * S + i];
    __syncthreads();
    const int os = xs == 0 ? S : 0;
    for (int j = 0; j <= S; ++j) {
      if (j > 0 && active) {
        const int yj = j == S ? os : j;
        SCORELAB_FOR_R(r, D, DMAX) { st.at(yj, r) = Scalar(0); }
        const int t1 = P.op_begin[k * S + j] - tb;
        for (int t = P.op_begin[k * S + j - 1] - tb; t < t1; ++t) {
          const PackedTerm& term = s_terms[t];
          const int src = term.src == 0   ? (term.idx == 0 ? xs : term.idx)
                          : term.src == 1 ? SOFF + term.idx
                                          : HOFF + (head + term.idx) % H;
          axpy_block<Scalar, DMAX>(st, term.coef, m, d, src, yj);
        }
        if (s_has[j - 1]) {
          const double* c = s_noise + 4 * (j - 1);
          const std::uint32_t lane = static_cast<std::uint32_t>(static_cast<std::uint64_t>(k) * S + (j - 1));
          for (int q = 0; q < (D + 1) / 2; ++q) {
            double z[2];
            normal_pair(P.seed, P.offset + p, lane, static_cast<std::uint32_t>(q), z[0], z[1]);
            for (int h = 0; h < 2; ++h) {
              const int coord = 2 * q + h;
              if (coord >= D) break;
              const int b = coord / d, r = coord - b * d;
              const Scalar xi = static_cast<Scalar>(z[h]);
              for (int a = 0; a < m; ++a) {
                const Scalar cab = static_cast<Scalar>(c[a * m + b]);
                if (cab == Scalar(0)) continue;
                st.at(yj, a * d + r) += cab * xi;
              }
            }
          }
        }
      }
      if (j == S) break;
      const int e = P.eval[k * S + j];
      if (e < 0) continue;  // uniform over the block: the barriers below are safe
      const Scalar* cd = comp + static_cast<std::size_t>(e) * P.comp_stride;
      if (P.comp_in_smem) {
        __syncthreads();
        for (int i = threadIdx.x; i < P.comp_stride; i += blockDim.x) s_comp[i] = cd[i];
        __syncthreads();
        cd = s_comp;
      }
      if (active) {
        const int yv = j == 0 ? xs : j;
        mixture_score<Scalar, DMAX>(P, cd, st, yv, SOFF + j, ZV, AV);
        add_error_terms<Scalar, DMAX>(P, e, st, yv, SOFF + j);
      }
    }
    const int kp = P.keep[k];
    if (H > 0 && kp >= 0) {
      head = (head + H - 1) % H;
      if (active) {
        const int src = kp < S ? SOFF + kp : (kp - S == 0 ? xs : kp - S);
        SCORELAB_FOR_R(r, D, DMAX) { st.at(HOFF + head, r) = st.at(src, r); }
      }
    }
    xs = os;
    if (active && bad_step < 0) {
      SCORELAB_FOR_R(r, D, DMAX) {
        if (!isfinite(static_cast<double>(st.at(xs, r)))) bad_step = k;
      }
    }
  }
  if (!active) return;
  bool bad = false;
  SCORELAB_FOR_R(r, D, DMAX) {
    const Scalar v = st.at(xs, r);
    state[p * D + r] = v;
    if (!isfinite(static_cast<double>(v))) bad = true;
  }
  for (int h = 0; h < H; ++h) {
    SCORELAB_FOR_R(r, D, DMAX) { hist[(p * H + h) * D + r] = st.at(HOFF + h, r); }
  }
  if (bad_step >= 0) atomicMin(first_bad, static_cast<unsigned long long>(bad_step));
  if (last_chunk && bad) atomicAdd(bad_count, 1ull);
}

template <class Scalar, int DMAX>
void launch_all(const KParams& P, const int* keep_host, const InitHost& init, const double* d_x0, const double* d_mean,
                const double* d_chol, const Scalar* d_comp, Scalar* state, int tpb, std::size_t smem_base,
                std::size_t smem_comp, const std::function<bool()>& poll, GpuRunResult& res) {
  const unsigned long long n = P.n;
  const unsigned int blocks = static_cast<unsigned int>((n + tpb - 1) / tpb);
  DevVec<double> dscr;
  if (DMAX == 0 && !init.x0) dscr.alloc(static_cast<std::size_t>(n) * P.D);
  init_kernel<Scalar, DMAX><<<blocks, tpb>>>(P, d_x0, d_mean, d_chol, dscr.get(), state);
  SCORELAB_CUDA_CHECK(cudaGetLastError());
  SCORELAB_CUDA_CHECK(cudaDeviceSynchronize());

  DevVec<Scalar> hist(static_cast<std::size_t>(n) * P.H * P.D);
  if (P.H > 0) SCORELAB_CUDA_CHECK(cudaMemset(hist.get(), 0, static_cast<std::size_t>(n) * P.H * P.D * sizeof(Scalar)));
  DevVec<Scalar> gscr;
  if (DMAX == 0) gscr.alloc(static_cast<std::size_t>(n) * (2 * P.S + P.H + 3) * P.D);
  DevVec<unsigned long long> flags(2);
  const unsigned long long init_flags[2] = {~0ull, 0ull};
  SCORELAB_CUDA_CHECK(cudaMemcpy(flags.get(), init_flags, sizeof(init_flags), cudaMemcpyHostToDevice));

  KParams Q = P;
  std::size_t smem = smem_base;
  if (smem_base + smem_comp <= 48 * 1024) {
    Q.comp_in_smem = 1;
    smem += smem_comp;
  } else {
    int dev = 0, optin = 0;
    SCORELAB_CUDA_CHECK(cudaGetDevice(&dev));
    SCORELAB_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (smem_base + smem_comp <= static_cast<std::size_t>(optin)) {
      Q.comp_in_smem = 1;
      smem += smem_comp;
    } else {
      Q.comp_in_smem = 0;
    }
    if (smem > 48 * 1024)
      SCORELAB_CUDA_CHECK(cudaFuncSetAttribute(steps_kernel<Scalar, DMAX>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  }
  // steps per launch: about 2^33 multiply-adds of score work, so Ctrl-C answers within seconds
  const double per_step = static_cast<double>(n) * P.S * P.K * P.D * (P.cov == 0 ? P.D : 1) + 1.0;
  const int chunk = static_cast<int>(std::max(1.0, std::min<double>(P.N, 8.6e9 / per_step)));
  int head = 0;
  for (int k0 = 0; k0 < P.N; k0 += chunk) {
    const int k1 = std::min(P.N, k0 + chunk);
    steps_kernel<Scalar, DMAX><<<blocks, tpb, smem>>>(Q, d_comp, state, hist.get(), gscr.get(), k0, k1, head,
                                                       k1 == P.N ? 1 : 0, flags.get(), flags.get() + 1);
    SCORELAB_CUDA_CHECK(cudaGetLastError());
    SCORELAB_CUDA_CHECK(cudaDeviceSynchronize());
    for (int k = k0; k < k1; ++k)
      if (P.H > 0 && keep_host[k] >= 0) head = (head + P.H - 1) % P.H;
    if (k1 < P.N && poll && poll()) {
      res.cancelled = true;
      return;
    }
  }
  unsigned long long out_flags[2];
  SCORELAB_CUDA_CHECK(cudaMemcpy(out_flags, flags.get(), sizeof(out_flags), cudaMemcpyDeviceToHost));
  res.first_bad_step = out_flags[0] == ~0ull ? -1 : static_cast<long long>(out_flags[0]);
  res.bad_particles = static_cast<long long>(out_flags[1]);
}

}  // namespace

int device_count() noexcept {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return 0;
  }
  return n;
}

int runtime_version() noexcept {
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return v;
}

int driver_version() noexcept {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return v;
}

std::string device_description(int dev) {
  cudaDeviceProp prop;
  SCORELAB_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
         std::to_string(prop.totalGlobalMem >> 20) + " MiB)";
}

int current_device() {
  int dev = 0;
  SCORELAB_CUDA_CHECK(cudaGetDevice(&dev));
  return dev;
}

void* device_alloc(std::size_t bytes) {
  void* p = nullptr;
  SCORELAB_CUDA_CHECK(cudaMalloc(&p, bytes == 0 ? 1 : bytes));
  return p;
}

void device_free(void* p) noexcept {
  if (p) cudaFree(p);
}

void copy_device_to_host(void* dst, const void* src, std::size_t bytes) {
  if (bytes) SCORELAB_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void copy_device_2d(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                    std::size_t rows) {
  if (width && rows)
    SCORELAB_CUDA_CHECK(cudaMemcpy2D(dst, dpitch, src, spitch, width, rows, cudaMemcpyDeviceToDevice));
}

template <class Scalar>
GpuRunResult run_table_gpu(const PackedRun<Scalar>& run, const InitHost& init, std::size_t n, std::uint64_t seed,
                           std::uint64_t particle_offset, Scalar* state, int threads_per_block,
                           const std::function<bool()>& poll) {
  GpuRunResult res;
  if (n == 0) return res;
  const int D = run.D, S = run.S, H = run.H;
  DevVec<int> op_begin, has_noise, eval;
  DevVec<PackedTerm> terms;
  DevVec<double> noise, bias, lin, lin_scalar, ff_eps, ff_freq, ff_phase, ff_amp, x0, mean, chol;
  DevVec<Scalar> comp;
  op_begin.upload(run.op_begin);
  terms.upload(run.terms);
  noise.upload(run.noise);
  has_noise.upload(run.has_noise);
  eval.upload(run.eval);
  DevVec<int> keep;
  keep.upload(run.keep);
  comp.upload(run.comp);
  bias.upload(run.bias);
  lin.upload(run.lin);
  lin_scalar.upload(run.lin_scalar);
  ff_eps.upload(run.ff_eps);
  ff_freq.upload(run.ff_freq);
  ff_phase.upload(run.ff_phase);
  ff_amp.upload(run.ff_amp);
  if (init.x0) {
    x0.upload(init.x0, n * D);
  } else {
    mean.upload(init.mean, D);
    chol.upload(init.chol, static_cast<std::size_t>(D) * D);
  }

  KParams P{};
  P.N = run.N;
  P.S = S;
  P.H = H;
  P.m = run.m;
  P.D = D;
  P.d = D / run.m;
  P.K = run.K;
  P.cov = run.cov;
  P.F = run.F;
  P.UD = run.ud();
  P.comp_stride = run.comp_stride;
  P.n = n;
  P.seed = seed;
  P.offset = particle_offset;
  P.op_begin = op_begin.get();
  P.terms = terms.get();
  P.noise = noise.get();
  P.has_noise = has_noise.get();
  P.eval = eval.get();
  P.keep = keep.get();
  P.bias = bias.get();
  P.lin = lin.get();
  P.lin_scalar = lin_scalar.get();
  P.ff_eps = ff_eps.get();
  P.ff_freq = ff_freq.get();
  P.ff_phase = ff_phase.get();
  P.ff_amp = ff_amp.get();
  P.max_terms = std::max(1, run.max_terms_per_step);

  const int tpb = threads_per_block > 0 ? threads_per_block : 128;
  std::size_t base = sizeof(PackedTerm) * P.max_terms + sizeof(double) * 4 * S + sizeof(int) * S;
  base = (base + 7) / 8 * 8;
  const std::size_t comp_bytes = sizeof(Scalar) * static_cast<std::size_t>(run.comp_stride);
  const bool local = 2 * S + H + 3 <= kMaxVectors;
#define SCORELAB_LAUNCH(DM)                                                                                    \
  launch_all<Scalar, DM>(P, run.keep.data(), init, x0.get(), mean.get(), chol.get(), comp.get(), state, tpb, \
                         base, comp_bytes, poll, res)
  if (local && D <= 2)
    SCORELAB_LAUNCH(2);
  else if (local && D <= 4)
    SCORELAB_LAUNCH(4);
  else if (local && D <= 8)
    SCORELAB_LAUNCH(8);
  else if (local && D <= 16)
    SCORELAB_LAUNCH(16);
  else if (local && D <= 32)
    SCORELAB_LAUNCH(32);
  else
    SCORELAB_LAUNCH(0);
#undef SCORELAB_LAUNCH
  return res;
}

template GpuRunResult run_table_gpu<double>(const PackedRun<double>&, const InitHost&, std::size_t, std::uint64_t,
                                            std::uint64_t, double*, int, const std::function<bool()>&);
template GpuRunResult run_table_gpu<float>(const PackedRun<float>&, const InitHost&, std::size_t, std::uint64_t,
                                           std::uint64_t, float*, int, const std::function<bool()>&);

}  // namespace cuda
}  // namespace scorelab
