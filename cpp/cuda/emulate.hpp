// scorelab CUDA backend — host emulator of the GPU executor (plain C++, no CUDA).
//
// Runs particle.hpp's run_steps — the very function body of the GPU kernel — on the CPU,
// one particle after another, with the same packed run, the same store choice (fixed
// arrays for small D, strided scratch otherwise), the same chunks of steps with state
// and history going through memory between "launches", and the same ring heads. Only
// the shared-memory staging and the launch itself are left out. It is slow and exists
// for one purpose: testing the GPU algorithm against the CPU executor on machines
// without a GPU (tests/test_cuda.py).
#pragma once

#include "particle.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace scorelab {
namespace cuda {

/// Host stager: the step's lists and the component data straight from the packed run.
template <class Scalar>
struct HostStager {
  const PackedRun<Scalar>* run;
  int k = 0;
  void begin_step(const RunView& P, int k_) { k = k_; }
  const PackedTerm* terms() const { return run->terms.data() + run->op_begin[static_cast<std::size_t>(k) * run->S]; }
  const double* noise() const { return run->noise.data() + static_cast<std::size_t>(k) * run->S * 4; }
  const int* has_noise() const { return run->has_noise.data() + static_cast<std::size_t>(k) * run->S; }
  const Scalar* components(const RunView& P, int e) const {
    return run->comp.data() + static_cast<std::size_t>(e) * run->comp_stride;
  }
  void atomic_min(unsigned long long* a, unsigned long long v) { *a = std::min(*a, v); }
  void atomic_add(unsigned long long* a, unsigned long long v) { *a += v; }
};

/// Emulate run_table_gpu on the host; `state` is a host buffer of n x D Scalars.
template <class Scalar>
GpuRunResult emulate_run(const PackedRun<Scalar>& run, const InitLaw& init, std::size_t n, std::uint64_t seed,
                         std::uint64_t particle_offset, Scalar* state, int max_steps_per_launch) {
  GpuRunResult res;
  if (n == 0) return res;
  const RunView P = make_view(run, n, seed, particle_offset);
  dispatch_store(run.D, run.S, run.H, [&](auto tag) {
    constexpr int DM = decltype(tag)::value;
    std::vector<double> dscr(DM == 0 && !init.x0 ? n * run.D : 0);
    for (std::size_t p = 0; p < n; ++p)
      init_particle<Scalar, DM>(P, p, init.x0, init.mean, init.chol, dscr.data(), state + p * run.D);
    std::vector<Scalar> hist(n * run.H * run.D, Scalar(0));
    std::vector<Scalar> gscr(DM == 0 ? n * vectors_needed(run.S, run.H) * run.D : 0);
    unsigned long long flags[2] = {~0ull, 0ull};
    HostStager<Scalar> sg{&run};
    const int chunk = steps_per_launch(P, max_steps_per_launch);
    for (int k0 = 0; k0 < run.N; k0 += chunk) {
      const int k1 = std::min(run.N, k0 + chunk);
      const int head = ring_head(run.keep.data(), run.H, k0);
      for (std::size_t p = 0; p < n; ++p)
        run_steps<Scalar, DM>(P, sg, p, state, hist.data(), gscr.data(), k0, k1, head, k1 == run.N, flags,
                              flags + 1);
    }
    res.first_bad_step = flags[0] == ~0ull ? -1 : static_cast<long long>(flags[0]);
    res.bad_particles = static_cast<long long>(flags[1]);
  });
  return res;
}

}  // namespace cuda
}  // namespace scorelab
