// scorelab CUDA backend — the flat form of one sampling run that the GPU executor reads.
//
// Plain C++17 (no CUDA, no Eigen): included by the kernels (nvcc) and by the host-side
// packing code (pack.hpp, g++). The table is the one Python built for the CPU executor
// (schemes.py); pack.hpp turns it into this form with the CPU executor's own
// detail::compile_ops (the sparse term lists) and build_cache (Cholesky factors and
// log-normalisers), so both executors run the same coefficients on the same
// component data.
#pragma once

#include <scorelab/table.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace scorelab {
namespace cuda {

/// One term of a stage: y_j += (coef ⊗ I_d) src, src = y_idx (0), s_idx (1) or the
/// idx-th most recent history entry (2). coef is an m x m row-major block (m <= 2).
struct PackedTerm {
  double coef[4];
  int src;
  int idx;
};

/// Everything the kernels read, in host memory. Scalar is the arithmetic type of the
/// run; component data are stored in it (the CPU executor casts the same way), error
/// terms stay double (cast per use, as on the CPU).
template <class Scalar>
struct PackedRun {
  int N = 0, S = 0, H = 0, m = 1;  ///< steps, stages, history length, block size
  int K = 0, D = 0, cov = 0;       ///< components, state dimension, CovType code
  int NC = 0;                      ///< score-evaluation times (stage-data entries)
  int F = 0;                       ///< Fourier features of the error field (0: none)
  // ---- table: ops of step k, stage j (1..S) are terms[op_begin[k*S+j-1] .. op_begin[k*S+j])
  std::vector<int> op_begin;        ///< N*S + 1
  std::vector<PackedTerm> terms;    ///< all terms, in the order the CPU executor applies them
  std::vector<double> noise;        ///< N*S*4: noise block of each stage (m x m, row-major)
  std::vector<int> has_noise;       ///< N*S
  std::vector<int> eval;            ///< N*S: stage-data index of the score at y_i, or -1
  std::vector<int> keep;            ///< N: history push (i: s_i; S+i: y_i; -1: none)
  int max_terms_per_step = 0;       ///< max over k of the terms of step k (all stages)
  // ---- component data of each stage-data index c (zeros for indices never evaluated):
  //      [logc (K)] [mean (K x D)] [U (K x UD)], UD = D*D (full), D (diag), 1 (spherical)
  int comp_stride = 0;
  std::vector<Scalar> comp;  ///< NC x comp_stride
  // ---- error terms (null/empty when absent), double, as ErrorTerms
  std::vector<double> bias;        ///< NC x D
  std::vector<double> lin;         ///< NC x D x D
  std::vector<double> lin_scalar;  ///< NC
  std::vector<double> ff_eps;      ///< NC
  std::vector<double> ff_freq;     ///< F x D
  std::vector<double> ff_phase;    ///< F
  std::vector<double> ff_amp;      ///< F x D

  int ud() const { return cov == 0 ? D * D : cov == 1 ? D : 1; }
};

struct GpuRunResult {
  bool cancelled = false;
  long long first_bad_step = -1;
  long long bad_particles = 0;
};

}  // namespace cuda
}  // namespace scorelab
