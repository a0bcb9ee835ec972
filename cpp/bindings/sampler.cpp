// Bindings: execute a coefficient table on particles (scorelab.sample).
#include <pybind11/stl.h>

#include <scorelab/scheme.hpp>

#include "common.hpp"
#include "table_inputs.hpp"

namespace scorelab_py {

namespace {

template <class Scalar>
py::tuple run(const carray<double>& weights, const carray<double>& means, const carray<double>& covs, int cov,
              int m, const carray<double>& Y, const carray<double>& Sc, const carray<double>& Hc,
              const carray<double>& C, const carray<int>& eval, const carray<int>& keep, int H,
              const carray<double>& Phi, const carray<double>& Ncov, const opt_arr& bias, const opt_arr& lin,
              const opt_arr& lin_scalar, const opt_arr& ff_eps, const opt_arr& ff_freq, const opt_arr& ff_phase,
              const opt_arr& ff_amp, const opt_arr& x0, const opt_arr& init_mean, const opt_arr& init_chol,
              std::size_t n, std::uint64_t seed, std::uint64_t particle_offset, int threads, int block) {
  const TableInputs in = make_table_inputs(weights, means, covs, cov, m, Y, Sc, Hc, C, eval, keep, H, Phi, Ncov,
                                           bias, lin, lin_scalar, ff_eps, ff_freq, ff_phase, ff_amp);
  const int D = in.mix.D;
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
    res = scorelab::run_table<Scalar>(in.mix, in.T, in.SD, init, n, state.mutable_data(), opt, signal_poll());
  }
  if (res.cancelled) {
    if (PyErr_Occurred()) throw py::error_already_set();
    throw std::runtime_error("sampling was cancelled");
  }
  return py::make_tuple(state, res.first_bad_step, res.bad_particles);
}

}  // namespace

void register_sampler(py::module_& m) {
  const char* doc = "Run a coefficient table; returns (state (n, D), first_bad_step, bad_particles).";
  const auto args = std::tuple_cat(table_args(), run_args());
  def_with_args(m, "run_table_f64", &run<double>, args, doc);
  def_with_args(m, "run_table_f32", &run<float>, args, doc);
}

}  // namespace scorelab_py
