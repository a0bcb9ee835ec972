// scorelab bindings — the arrays of one table run, checked and wrapped in the structures
// the executors take. Shared by the CPU module (sampler.cpp) and the CUDA module, so
// both read the Python-built table through the same code.
#pragma once

#include <scorelab/scheme.hpp>

#include "common.hpp"

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace scorelab_py {

using opt_arr = std::optional<carray<double>>;

/// Mixture, coefficient table and per-stage data of one run (views into the arrays).
struct TableInputs {
  scorelab::MixtureSpec mix;
  scorelab::Table T;
  scorelab::StageData SD;
};

/// Check the shapes of the table arrays and fill the executor structures (no copies).
inline TableInputs make_table_inputs(
    const carray<double>& weights, const carray<double>& means, const carray<double>& covs, int cov, int m,
    const carray<double>& Y, const carray<double>& Sc, const carray<double>& Hc, const carray<double>& C,
    const carray<int>& eval, const carray<int>& keep, int H, const carray<double>& Phi,
    const carray<double>& Ncov, const opt_arr& bias, const opt_arr& lin, const opt_arr& lin_scalar,
    const opt_arr& ff_eps, const opt_arr& ff_freq, const opt_arr& ff_phase, const opt_arr& ff_amp) {
  if (means.ndim() != 2) throw std::invalid_argument("means must be 2-D (K, D)");
  if (eval.ndim() != 2) throw std::invalid_argument("eval must be 2-D (N, S)");
  if (cov < 0 || cov > 2) throw std::invalid_argument("cov_type must be 0, 1 or 2");
  if (m < 1 || m > 2) throw std::invalid_argument("m must be 1 or 2");
  if (H < 0) throw std::invalid_argument("H must be >= 0");
  const int K = static_cast<int>(means.shape(0)), D = static_cast<int>(means.shape(1));
  if (K < 1 || D < 1 || D % m) throw std::invalid_argument("bad mixture shape");
  const int N = static_cast<int>(eval.shape(0)), S = static_cast<int>(eval.shape(1));
  if (S < 1) throw std::invalid_argument("S must be >= 1");
  const std::size_t mm = static_cast<std::size_t>(m) * m;
  TableInputs in;
  in.mix.K = K;
  in.mix.D = D;
  in.mix.cov = static_cast<scorelab::CovType>(cov);
  in.mix.weights = checked(weights, K, "weights");
  in.mix.means = means.data();
  in.mix.covs =
      checked(covs, cov == 0 ? std::size_t(K) * D * D : cov == 1 ? std::size_t(K) * D : std::size_t(K), "covs");
  in.T.N = N;
  in.T.S = S;
  in.T.H = H;
  in.T.m = m;
  in.T.Y = checked(Y, std::size_t(N) * S * S * mm, "Y");
  in.T.Sc = checked(Sc, std::size_t(N) * S * S * mm, "Sc");
  in.T.Hc = checked(Hc, std::size_t(N) * S * H * mm, "Hc");
  in.T.C = checked(C, std::size_t(N) * S * mm, "C");
  in.T.eval = eval.data();
  in.T.keep = checked(keep, N, "keep");
  if (Phi.ndim() < 1) throw std::invalid_argument("Phi must have a leading axis");
  in.SD.NC = static_cast<int>(Phi.shape(0));
  in.SD.Phi = checked(Phi, in.SD.NC * mm, "Phi");
  in.SD.Ncov = checked(Ncov, in.SD.NC * mm, "Ncov");
  in.SD.bias = checked_opt(bias, std::size_t(in.SD.NC) * D, "bias");
  in.SD.lin = checked_opt(lin, std::size_t(in.SD.NC) * D * D, "lin");
  in.SD.lin_scalar = checked_opt(lin_scalar, in.SD.NC, "lin_scalar");
  if (ff_freq) {
    if (ff_freq->ndim() != 2) throw std::invalid_argument("ff_freq must be 2-D (F, D)");
    in.SD.F = static_cast<int>(ff_freq->shape(0));
    in.SD.ff_freq = checked(*ff_freq, std::size_t(in.SD.F) * D, "ff_freq");
    in.SD.ff_eps = checked_opt(ff_eps, in.SD.NC, "ff_eps");
    in.SD.ff_phase = checked_opt(ff_phase, in.SD.F, "ff_phase");
    in.SD.ff_amp = checked_opt(ff_amp, std::size_t(in.SD.F) * D, "ff_amp");
    if (!in.SD.ff_eps || !in.SD.ff_phase || !in.SD.ff_amp)
      throw std::invalid_argument("a Fourier field needs ff_eps, ff_phase and ff_amp");
  }
  return in;
}

/// Keyword arguments of a table function: the table (weights .. Ncov).
inline auto table_args() {
  return std::make_tuple(py::arg("weights").noconvert(), py::arg("means").noconvert(), py::arg("covs").noconvert(),
                         py::arg("cov_type"), py::arg("m"), py::arg("Y").noconvert(), py::arg("Sc").noconvert(),
                         py::arg("Hc").noconvert(), py::arg("C").noconvert(), py::arg("eval").noconvert(),
                         py::arg("keep").noconvert(), py::arg("H"), py::arg("Phi").noconvert(),
                         py::arg("Ncov").noconvert());
}

/// Keyword arguments of a run after the table: stage data, initial law and options.
inline auto run_args() {
  return std::make_tuple(py::arg("bias").none(true), py::arg("lin").none(true), py::arg("lin_scalar").none(true),
                         py::arg("ff_eps").none(true), py::arg("ff_freq").none(true),
                         py::arg("ff_phase").none(true), py::arg("ff_amp").none(true), py::arg("x0").none(true),
                         py::arg("init_mean").none(true), py::arg("init_chol").none(true), py::arg("n"),
                         py::arg("seed"), py::arg("particle_offset"), py::arg("threads"), py::arg("block"));
}

/// m.def(name, fn, <args...>, extra..., doc) with args a tuple of keyword arguments
/// (table_args(), or its concatenation with run_args()): the CPU and CUDA modules
/// declare their executors' signatures through these.
template <class F, class Args, class... Extra>
void def_with_args(py::module_& m, const char* name, F fn, const Args& args, const char* doc, Extra... extra) {
  std::apply([&](const auto&... a) { m.def(name, fn, a..., extra..., doc); }, args);
}

}  // namespace scorelab_py
