// Bindings: execute a coefficient table on particles (scorelab.sample).
#include <pybind11/stl.h>

#include <scorelab/scheme.hpp>

#include "common.hpp"

namespace scorelab_py {

namespace {

using opt_arr = std::optional<carray<double>>;

template <class Scalar>
py::tuple run(const carray<double>& weights, const carray<double>& means, const carray<double>& covs, int cov,
              int m, const carray<double>& Y, const carray<double>& Sc, const carray<double>& Hc,
              const carray<double>& C, const carray<int>& eval, const carray<int>& keep, int H,
              const carray<double>& Phi, const carray<double>& Ncov, const opt_arr& bias, const opt_arr& lin,
              const opt_arr& lin_scalar, const opt_arr& ff_eps, const opt_arr& ff_freq, const opt_arr& ff_phase,
              const opt_arr& ff_amp, const opt_arr& x0, const opt_arr& init_mean, const opt_arr& init_chol,
              std::size_t n, std::uint64_t seed, std::uint64_t particle_offset, int threads, int block) {
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
  scorelab::MixtureSpec mix;
  mix.K = K;
  mix.D = D;
  mix.cov = static_cast<scorelab::CovType>(cov);
  mix.weights = checked(weights, K, "weights");
  mix.means = means.data();
  mix.covs = checked(covs, cov == 0 ? std::size_t(K) * D * D : cov == 1 ? std::size_t(K) * D : std::size_t(K), "covs");
  scorelab::Table T;
  T.N = N;
  T.S = S;
  T.H = H;
  T.m = m;
  T.Y = checked(Y, std::size_t(N) * S * S * mm, "Y");
  T.Sc = checked(Sc, std::size_t(N) * S * S * mm, "Sc");
  T.Hc = checked(Hc, std::size_t(N) * S * H * mm, "Hc");
  T.C = checked(C, std::size_t(N) * S * mm, "C");
  T.eval = eval.data();
  T.keep = checked(keep, N, "keep");
  if (Phi.ndim() < 1) throw std::invalid_argument("Phi must have a leading axis");
  scorelab::StageData SD;
  SD.NC = static_cast<int>(Phi.shape(0));
  SD.Phi = checked(Phi, SD.NC * mm, "Phi");
  SD.Ncov = checked(Ncov, SD.NC * mm, "Ncov");
  SD.bias = checked_opt(bias, std::size_t(SD.NC) * D, "bias");
  SD.lin = checked_opt(lin, std::size_t(SD.NC) * D * D, "lin");
  SD.lin_scalar = checked_opt(lin_scalar, SD.NC, "lin_scalar");
  if (ff_freq) {
    if (ff_freq->ndim() != 2) throw std::invalid_argument("ff_freq must be 2-D (F, D)");
    SD.F = static_cast<int>(ff_freq->shape(0));
    SD.ff_freq = checked(*ff_freq, std::size_t(SD.F) * D, "ff_freq");
    SD.ff_eps = checked_opt(ff_eps, SD.NC, "ff_eps");
    SD.ff_phase = checked_opt(ff_phase, SD.F, "ff_phase");
    SD.ff_amp = checked_opt(ff_amp, std::size_t(SD.F) * D, "ff_amp");
    if (!SD.ff_eps || !SD.ff_phase || !SD.ff_amp)
      throw std::invalid_argument("a Fourier field needs ff_eps, ff_phase and ff_amp");
  }
  scorelab::InitSpec init;
  init.x0 = checked_opt(x0, n * D, "x0");
  init.mean = checked_opt(init_mean, D, "init_mean");
  init.chol = checked_opt(init_chol, std::size_t(D) * D, "init_chol");
  if (!init.x0 && (!init.mean || !init.chol)) throw std::invalid_argument("give x0 or (init_mean, init_chol)");
  scorelab::RunOptions opt;
  opt.seed = seed;
  opt.particle_offset = particle_offset;
  opt.threads = std::max(1, threads);
  opt.block = block;
  carray<Scalar> state({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(D)});
  scorelab::RunResult res;
  {
    py::gil_scoped_release nogil;  // whole trajectories run in C++; the GIL is retaken only to poll Ctrl-C
    res = scorelab::run_table<Scalar>(mix, T, SD, init, n, state.mutable_data(), opt, signal_poll());
  }
  if (res.cancelled) {
    if (PyErr_Occurred()) throw py::error_already_set();
    throw std::runtime_error("sampling was cancelled");
  }
  return py::make_tuple(state, res.first_bad_step, res.bad_particles);
}

}  // namespace

void register_sampler(py::module_& m) {
  auto def = [&m](const char* name, auto fn) {
    m.def(name, fn, py::arg("weights").noconvert(), py::arg("means").noconvert(), py::arg("covs").noconvert(),
          py::arg("cov_type"), py::arg("m"), py::arg("Y").noconvert(), py::arg("Sc").noconvert(),
          py::arg("Hc").noconvert(), py::arg("C").noconvert(), py::arg("eval").noconvert(),
          py::arg("keep").noconvert(), py::arg("H"), py::arg("Phi").noconvert(), py::arg("Ncov").noconvert(),
          py::arg("bias").none(true), py::arg("lin").none(true), py::arg("lin_scalar").none(true),
          py::arg("ff_eps").none(true), py::arg("ff_freq").none(true), py::arg("ff_phase").none(true),
          py::arg("ff_amp").none(true), py::arg("x0").none(true), py::arg("init_mean").none(true),
          py::arg("init_chol").none(true), py::arg("n"), py::arg("seed"), py::arg("particle_offset"),
          py::arg("threads"), py::arg("block"),
          "Run a coefficient table; returns (state (n, D), first_bad_step, bad_particles).");
  };
  def("run_table_f64", &run<double>);
  def("run_table_f32", &run<float>);
}

}  // namespace scorelab_py
