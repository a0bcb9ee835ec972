// scorelab CUDA backend — execute a packed coefficient table, one particle per thread.
//
// The recursion is the CPU executor's (cpp/include/scorelab/scheme.hpp), term for term
// and in the same order:
//   y_j = sum_terms (coef ⊗ I_d) src + (noise ⊗ I_d) xi_{k,j},   s_j = score(y_j) + error,
// with the same Philox streams (philox.hpp, compiled __host__ __device__), so for a
// given seed GPU and CPU outputs differ only by floating-point rounding.
//
// Layout. The per-particle code is cpp/cuda/particle.hpp (shared with the host
// emulator that tests it without a GPU). A thread keeps its particle's whole trajectory
// state — the S + 1 stage states y, the S stage scores s, the H history scores and two
// work vectors — in a per-thread array of compile-time size (instantiated for D <= 2,
// 4, 8, 16, 32; as stage slots are chosen at run time it lives in local memory, i.e.
// L1), and the hot loop of the score (y - m_k, z_k, the accumulated gradient) in
// registers; for larger D or deeper tables the state goes to a global scratch laid out
// [vector][coordinate][particle] so that accesses stay coalesced. All threads of a block
// walk the same (step, stage) sequence, so per step the block stages the step's term
// list and noise blocks in shared memory, and per score evaluation the component data
// of that stage time (log-normalisers, means, inverse Cholesky factors) — when they fit
// in shared memory (up to the opt-in size); otherwise they are read from global memory
// through the cache. The mixture score uses a one-pass (online) log-sum-exp, so per
// particle it needs O(D) memory for any K. Cost per particle-stage: O(K D^2) full,
// O(K D) diagonal/spherical.
//
// Steps run in chunks (one kernel launch each) so that Ctrl-C is honoured between
// launches; state and history go through global memory between chunks.
#include "cuda_api.hpp"
#include "particle.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
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

/// The kernels' stager: per step, the block copies the step's terms, noise blocks and
/// noise flags to shared memory; per score evaluation, the component data of that stage
/// time when they fit (else they are read from global memory through the cache).
template <class Scalar>
struct SharedStager {
  PackedTerm* s_terms;
  double* s_noise;
  int* s_has;
  Scalar* s_comp;
  const Scalar* comp;
  __device__ void begin_step(const RunView& P, int k) {
    const int tb = P.op_begin[k * P.S], te = P.op_begin[k * P.S + P.S];
    __syncthreads();  // everyone is done with the previous step's lists
    for (int i = threadIdx.x; i < te - tb; i += blockDim.x) s_terms[i] = P.terms[tb + i];
    for (int i = threadIdx.x; i < 4 * P.S; i += blockDim.x)
      s_noise[i] = P.noise[static_cast<std::size_t>(k) * P.S * 4 + i];
    for (int i = threadIdx.x; i < P.S; i += blockDim.x) s_has[i] = P.has_noise[k * P.S + i];
    __syncthreads();
  }
  __device__ const PackedTerm* terms() const { return s_terms; }
  __device__ const double* noise() const { return s_noise; }
  __device__ const int* has_noise() const { return s_has; }
  __device__ const Scalar* components(const RunView& P, int e) {
    const Scalar* cd = comp + static_cast<std::size_t>(e) * P.comp_stride;
    if (!P.comp_in_smem) return cd;
    __syncthreads();
    for (int i = threadIdx.x; i < P.comp_stride; i += blockDim.x) s_comp[i] = cd[i];
    __syncthreads();
    return s_comp;
  }
  __device__ void atomic_min(unsigned long long* a, unsigned long long v) { atomicMin(a, v); }
  __device__ void atomic_add(unsigned long long* a, unsigned long long v) { atomicAdd(a, v); }
};

/// Bytes of dynamic shared memory before the component data (8-aligned).
SCORELAB_HD std::size_t shared_base_bytes(int max_terms, int S) {
  const std::size_t b = sizeof(PackedTerm) * max_terms + sizeof(double) * 4 * S + sizeof(int) * S;
  return (b + 7) / 8 * 8;
}

template <class Scalar, int DMAX>
__global__ void init_kernel(RunView P, const double* __restrict__ x0, const double* __restrict__ mean,
                            const double* __restrict__ chol, double* __restrict__ dscratch, Scalar* __restrict__ state) {
  const unsigned long long p = blockIdx.x * static_cast<unsigned long long>(blockDim.x) + threadIdx.x;
  if (p >= P.n) return;
  init_particle<Scalar, DMAX>(P, p, x0, mean, chol, dscratch, state + p * P.D);
}

/// Steps [k0, k1) for every particle, one per thread; head0: history ring head at k0.
template <class Scalar, int DMAX>
__global__ void steps_kernel(RunView P, const Scalar* __restrict__ comp, Scalar* __restrict__ state,
                             Scalar* __restrict__ hist, Scalar* __restrict__ gscratch, int k0, int k1, int head0,
                             int last_chunk, unsigned long long* first_bad, unsigned long long* bad_count) {
  extern __shared__ double smem_d[];  // double-aligned dynamic shared memory
  char* base = reinterpret_cast<char*>(smem_d);
  SharedStager<Scalar> sg;
  sg.s_terms = reinterpret_cast<PackedTerm*>(base);
  sg.s_noise = reinterpret_cast<double*>(base + sizeof(PackedTerm) * P.max_terms);
  sg.s_has = reinterpret_cast<int*>(base + sizeof(PackedTerm) * P.max_terms + sizeof(double) * 4 * P.S);
  sg.s_comp = reinterpret_cast<Scalar*>(base + shared_base_bytes(P.max_terms, P.S));
  sg.comp = comp;
  const unsigned long long p = blockIdx.x * static_cast<unsigned long long>(blockDim.x) + threadIdx.x;
  run_steps<Scalar, DMAX>(P, sg, p, state, hist, gscratch, k0, k1, head0, last_chunk != 0, first_bad, bad_count);
}

template <class Scalar, int DMAX>
void launch_all(const RunView& P, const int* keep_host, const InitLaw& init, const double* d_x0,
                const double* d_mean, const double* d_chol, const Scalar* d_comp, Scalar* state, int tpb,
                int max_steps, const std::function<bool()>& poll, GpuRunResult& res) {
  const unsigned long long n = P.n;
  const unsigned int blocks = static_cast<unsigned int>((n + tpb - 1) / tpb);
  DevVec<double> dscr;
  if (DMAX == 0 && !init.x0) dscr.alloc(static_cast<std::size_t>(n) * P.D);
  init_kernel<Scalar, DMAX><<<blocks, tpb>>>(P, d_x0, d_mean, d_chol, dscr.get(), state);
  SCORELAB_CUDA_CHECK(cudaGetLastError());
  SCORELAB_CUDA_CHECK(cudaDeviceSynchronize());

  const std::size_t hist_len = static_cast<std::size_t>(n) * P.H * P.D;
  DevVec<Scalar> hist(hist_len);
  if (hist_len) SCORELAB_CUDA_CHECK(cudaMemset(hist.get(), 0, hist_len * sizeof(Scalar)));
  DevVec<Scalar> gscr;
  if (DMAX == 0) gscr.alloc(static_cast<std::size_t>(n) * vectors_needed(P.S, P.H) * P.D);
  DevVec<unsigned long long> flags(2);
  const unsigned long long init_flags[2] = {~0ull, 0ull};
  SCORELAB_CUDA_CHECK(cudaMemcpy(flags.get(), init_flags, sizeof(init_flags), cudaMemcpyHostToDevice));

  // shared memory: the step's lists, plus the component data of a stage when they fit
  RunView Q = P;
  const std::size_t base = shared_base_bytes(P.max_terms, P.S);
  const std::size_t comp_bytes = sizeof(Scalar) * static_cast<std::size_t>(P.comp_stride);
  int dev = 0, optin = 0;
  SCORELAB_CUDA_CHECK(cudaGetDevice(&dev));
  SCORELAB_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  Q.comp_in_smem = base + comp_bytes <= static_cast<std::size_t>(optin) ? 1 : 0;
  const std::size_t smem = base + (Q.comp_in_smem ? comp_bytes : 0);
  if (smem > static_cast<std::size_t>(optin))
    throw std::invalid_argument("table too large for the CUDA backend: a step has too many terms");
  if (smem > 48 * 1024)
    SCORELAB_CUDA_CHECK(cudaFuncSetAttribute(steps_kernel<Scalar, DMAX>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(smem)));

  const int chunk = steps_per_launch(P, max_steps);
  for (int k0 = 0; k0 < P.N; k0 += chunk) {
    const int k1 = std::min(P.N, k0 + chunk);
    steps_kernel<Scalar, DMAX><<<blocks, tpb, smem>>>(Q, d_comp, state, hist.get(), gscr.get(), k0, k1,
                                                       ring_head(keep_host, P.H, k0), k1 == P.N ? 1 : 0,
                                                       flags.get(), flags.get() + 1);
    SCORELAB_CUDA_CHECK(cudaGetLastError());
    SCORELAB_CUDA_CHECK(cudaDeviceSynchronize());
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

DeviceAttributes device_attributes(int dev) {
  DeviceAttributes a;
  SCORELAB_CUDA_CHECK(cudaDeviceGetAttribute(&a.sm_count, cudaDevAttrMultiProcessorCount, dev));
  SCORELAB_CUDA_CHECK(cudaDeviceGetAttribute(&a.clock_khz, cudaDevAttrClockRate, dev));
  SCORELAB_CUDA_CHECK(cudaDeviceGetAttribute(&a.cc_major, cudaDevAttrComputeCapabilityMajor, dev));
  SCORELAB_CUDA_CHECK(cudaDeviceGetAttribute(&a.cc_minor, cudaDevAttrComputeCapabilityMinor, dev));
  return a;
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
GpuRunResult run_table_gpu(const PackedRun<Scalar>& run, const InitLaw& init, std::size_t n, std::uint64_t seed,
                           std::uint64_t particle_offset, Scalar* state, int threads_per_block,
                           int max_steps_per_launch, const std::function<bool()>& poll) {
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

  RunView P = make_view(run, n, seed, particle_offset);
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
  if (threads_per_block < 0 || threads_per_block > 1024 || threads_per_block % 32)
    throw std::invalid_argument("CUDA threads per block must be a multiple of 32 in [32, 1024]");
  const int tpb = threads_per_block > 0 ? threads_per_block : 128;
  dispatch_store(D, S, H, [&](auto tag) {
    constexpr int DM = decltype(tag)::value;
    launch_all<Scalar, DM>(P, run.keep.data(), init, x0.get(), mean.get(), chol.get(), comp.get(), state, tpb,
                           max_steps_per_launch, poll, res);
  });
  return res;
}

template GpuRunResult run_table_gpu<double>(const PackedRun<double>&, const InitLaw&, std::size_t, std::uint64_t,
                                            std::uint64_t, double*, int, int,
                                            const std::function<bool()>&);
template GpuRunResult run_table_gpu<float>(const PackedRun<float>&, const InitLaw&, std::size_t, std::uint64_t,
                                           std::uint64_t, float*, int, int,
                                           const std::function<bool()>&);

}  // namespace cuda
}  // namespace scorelab
