// scorelab CUDA backend — host-side packing of a run for the GPU executor.
//
// Input: exactly the structures the CPU executor run_table() receives (Mixture,
// Table, ErrorTerms of scorelab/table.hpp), which the bindings fill from the arrays
// Python built once.
// The sparse term lists come from the CPU executor's detail::compile_ops and the
// per-stage component data from detail::forward_components + build_cache, so the
// two executors cannot disagree about what a table means. Host-only (Eigen); never
// included by .cu files.
#pragma once

#include <scorelab/scheme.hpp>

#include "packed.hpp"

#include <stdexcept>
#include <vector>

namespace scorelab {
namespace cuda {

/// Pack a run for the GPU. Component data are built in double (as on the CPU) and
/// stored as Scalar; indices that no stage evaluates are left zero.
template <class Scalar>
PackedRun<Scalar> pack_run(const Mixture& mix, const Table& T, const ErrorTerms& err) {
  check_table(mix, T);
  PackedRun<Scalar> P;
  P.N = T.N;
  P.S = T.S;
  P.H = T.history;
  P.m = T.m;
  P.K = mix.K;
  P.D = mix.D;
  P.cov = static_cast<int>(mix.cov_type);
  P.NC = T.NC;
  P.F = err.F;
  const std::size_t NS = static_cast<std::size_t>(T.N) * T.S;
  const int mm = T.m * T.m;

  const std::vector<detail::StageOps> ops = detail::compile_ops(T);
  P.op_begin.assign(NS + 1, 0);
  P.noise.assign(NS * 4, 0.0);
  P.has_noise.assign(NS, 0);
  for (std::size_t q = 0; q < NS; ++q) {
    P.op_begin[q] = static_cast<int>(P.terms.size());
    for (const detail::Term& t : ops[q].terms) {
      PackedTerm pt{{0, 0, 0, 0}, t.src, t.idx};
      for (int i = 0; i < mm; ++i) pt.coef[i] = t.c[i];
      P.terms.push_back(pt);
    }
    for (int i = 0; i < mm; ++i) P.noise[q * 4 + i] = ops[q].noise[i];
    P.has_noise[q] = ops[q].has_noise ? 1 : 0;
  }
  P.op_begin[NS] = static_cast<int>(P.terms.size());
  for (int k = 0; k < T.N; ++k) {
    const std::size_t a = static_cast<std::size_t>(k) * T.S;
    P.max_terms_per_step = std::max(P.max_terms_per_step, P.op_begin[a + T.S] - P.op_begin[a]);
  }
  P.eval.assign(T.eval, T.eval + NS);
  P.keep.assign(T.keep, T.keep + T.N);

  // component data of every evaluated index
  const int K = mix.K, D = mix.D, UD = P.ud();
  P.comp_stride = K * (1 + D + UD);
  P.comp.assign(static_cast<std::size_t>(T.NC) * P.comp_stride, Scalar(0));
  std::vector<char> used(T.NC, 0);
  for (std::size_t q = 0; q < NS; ++q)
    if (P.eval[q] >= 0) used[P.eval[q]] = 1;
  std::vector<double> means, covs;
  ComponentCache<Scalar> cc;
  for (int e = 0; e < T.NC; ++e) {
    if (!used[e]) continue;
    detail::forward_components(mix, T.m, T.Phi + static_cast<std::size_t>(e) * mm,
                               T.Ncov + static_cast<std::size_t>(e) * mm, means, covs);
    build_cache(cc, K, D, mix.cov_type, mix.weights, means.data(), covs.data());
    Scalar* dst = P.comp.data() + static_cast<std::size_t>(e) * P.comp_stride;
    for (int k = 0; k < K; ++k) dst[k] = cc.logc[k];
    for (std::size_t i = 0; i < static_cast<std::size_t>(K) * D; ++i) dst[K + i] = cc.mean[i];
    for (std::size_t i = 0; i < static_cast<std::size_t>(K) * UD; ++i)
      dst[K + static_cast<std::size_t>(K) * D + i] = cc.U[i];
  }

  auto copy = [](std::vector<double>& v, const double* p, std::size_t cnt) {
    if (p) v.assign(p, p + cnt);
  };
  const std::size_t NC = static_cast<std::size_t>(T.NC);
  copy(P.bias, err.bias, NC * D);
  copy(P.lin, err.lin, NC * D * D);
  copy(P.lin_scalar, err.lin_scalar, NC);
  if (err.F > 0) {
    copy(P.ff_eps, err.ff_eps, NC);
    copy(P.ff_freq, err.ff_freq, static_cast<std::size_t>(err.F) * D);
    copy(P.ff_phase, err.ff_phase, err.F);
    copy(P.ff_amp, err.ff_amp, static_cast<std::size_t>(err.F) * D);
  }
  return P;
}

}  // namespace cuda
}  // namespace scorelab
