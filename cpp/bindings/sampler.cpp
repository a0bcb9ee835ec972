// Bindings: execute a coefficient table on particles (scorelab.sample).
#include <scorelab/scheme.hpp>

#include "common.hpp"
#include "run_inputs.hpp"

namespace scorelab_py {

namespace {

template <class Scalar>
auto run(const Fieldset& mixture, const Fieldset& table, const Fieldset& errors, const Fieldset& init,
              std::size_t n, std::uint64_t seed, std::uint64_t particle_offset, int threads, int block) {
  const RunInputs in = read_run(mixture, table, errors, init, n);
  scorelab::RunOptions opt;
  opt.seed = seed;
  opt.particle_offset = particle_offset;
  opt.threads = std::max(1, threads);
  opt.block = block;
  carray<Scalar> state({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(in.mixture.D)});
  scorelab::RunResult res;
  {
    py::gil_scoped_release nogil;  // whole trajectories run in C++; the GIL is retaken only to poll Ctrl-C
    res = scorelab::run_table<Scalar>(in.mixture, in.table, in.errors, in.init, n, state.mutable_data(), opt,
                                      signal_poll());
  }
  if (res.cancelled) {
    if (PyErr_Occurred()) throw py::error_already_set();
    throw std::runtime_error("sampling was cancelled");
  }
  return py::make_tuple(state, res.first_bad_step, res.bad_particles);
}

}  // namespace

void register_sampler(py::module_& m) {
  const char* doc =
      "Run a coefficient table; returns (state (n, D), first_bad_step, bad_particles).\n"
      "mixture, table, errors and init are dicts with the fields of scorelab/table.hpp,\n"
      "built by scorelab.sample.run_arguments.";
  const auto args = std::tuple_cat(table_args(), run_args());
  def_with_args(m, "run_table_f64", &run<double>, args, doc);
  def_with_args(m, "run_table_f32", &run<float>, args, doc);
}

}  // namespace scorelab_py
