// scorelab bindings — the inputs of one table run, read by name from Python and
// checked: the one builder of the executors' structures (scorelab/table.hpp), shared by
// the CPU module (sampler.cpp) and the CUDA module (cuda/bindings/cuda_module.cpp).
//
// Python (scorelab.sample.run_arguments) passes four dicts whose keys are the field
// names of table.hpp:
//   mixture  {weights, means, covariances, cov_type}
//   table    {m, history, Y, B, E, C, eval, keep, Phi, Ncov}
//   errors   {bias, lin, lin_scalar, ff_eps, ff_freq, ff_phase, ff_amp}   (None: absent)
//   init     {x0, mean, chol}                                            (None: absent)
// Strict like noconvert: every key present and no other, arrays of the exact dtype
// (float64; int32 for eval and keep) and C-contiguous, never converted or copied.
#pragma once

#include <scorelab/table.hpp>

#include "common.hpp"

#include <pybind11/typing.h>

#include <cstddef>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace scorelab_py {

/// A dict of named fields (typed dict[str, Any] in the stubs).
using Fieldset = py::typing::Dict<py::str, py::object>;

/// The executors' structures (views) and the arrays they view.
struct RunInputs {
  scorelab::Mixture mixture;
  scorelab::Table table;
  scorelab::ErrorTerms errors;
  scorelab::InitLaw init;
  std::vector<py::object> arrays;  ///< the viewed arrays, held while the GIL is released
};

/// One dict read field by field; its keys must be exactly `names`.
class Fields {
 public:
  Fields(const py::dict& d, const char* what, std::initializer_list<const char*> names, RunInputs& in)
      : d_(d), what_(what), in_(in) {
    for (const char* name : names)
      if (!d.contains(name)) throw std::invalid_argument(what_ + ": missing field '" + name + "'");
    for (auto item : d) {
      const std::string key = py::str(item.first);
      bool known = false;
      for (const char* name : names) known = known || key == name;
      if (!known) throw std::invalid_argument(what_ + ": unknown field '" + key + "'");
    }
  }

  /// Whether a field is None.
  bool none(const char* name) const { return d_[name].is_none(); }

  /// A C-contiguous array of exactly type T (never converted).
  template <class T>
  carray<T> array(const char* name) {
    py::object v = d_[name];
    if (!carray<T>::check_(v))
      throw std::invalid_argument(what_ + "." + name + ": expected a C-contiguous " +
                                  std::string(py::str(py::dtype::of<T>())) + " array");
    in_.arrays.push_back(v);
    return py::reinterpret_borrow<carray<T>>(v);
  }

  /// Data of an array with `expected` elements; null for None when `optional`.
  template <class T>
  const T* data(const char* name, std::size_t expected, bool optional = false) {
    if (optional && none(name)) return nullptr;
    return checked(array<T>(name), expected, (what_ + "." + name).c_str());
  }

  int integer(const char* name) const {
    try {
      return d_[name].template cast<int>();
    } catch (const py::cast_error&) {
      throw std::invalid_argument(what_ + "." + name + ": expected an int");
    }
  }

 private:
  const py::dict& d_;
  std::string what_;
  RunInputs& in_;
};

/// Read and check the mixture and the table (the packer's inputs; no error terms).
inline RunInputs read_table(const Fieldset& mixture, const Fieldset& table) {
  RunInputs in;
  {
    Fields f(mixture, "mixture", {"weights", "means", "covariances", "cov_type"}, in);
    const carray<double> means = f.array<double>("means");
    in.mixture = mixture_view(f.array<double>("weights"), means, f.array<double>("covariances"),
                              f.integer("cov_type"));
  }
  Fields f(table, "table", {"m", "history", "Y", "B", "E", "C", "eval", "keep", "Phi", "Ncov"}, in);
  scorelab::Table& T = in.table;
  T.m = f.integer("m");
  T.history = f.integer("history");
  if (T.m < 1 || T.m > 2) throw std::invalid_argument("table.m must be 1 or 2");
  if (T.history < 0) throw std::invalid_argument("table.history must be >= 0");
  if (in.mixture.D % T.m) throw std::invalid_argument("table.m must divide the mixture's dimension");
  const carray<int> eval = f.array<int>("eval");
  if (eval.ndim() != 2) throw std::invalid_argument("table.eval must be 2-D (N, S)");
  T.N = static_cast<int>(eval.shape(0));
  T.S = static_cast<int>(eval.shape(1));
  if (T.S < 1) throw std::invalid_argument("table: S must be >= 1");
  T.eval = eval.data();
  const std::size_t N = T.N, S = T.S, mm = static_cast<std::size_t>(T.m) * T.m;
  T.Y = f.data<double>("Y", N * S * S * mm);
  T.B = f.data<double>("B", N * S * S * mm);
  T.E = f.data<double>("E", N * S * T.history * mm);
  T.C = f.data<double>("C", N * S * mm);
  T.keep = f.data<int>("keep", N);
  const carray<double> Phi = f.array<double>("Phi");
  if (Phi.ndim() < 1) throw std::invalid_argument("table.Phi must have a leading axis");
  T.NC = static_cast<int>(Phi.shape(0));
  T.Phi = checked(Phi, T.NC * mm, "table.Phi");
  T.Ncov = f.data<double>("Ncov", T.NC * mm);
  return in;
}

/// Read and check everything a run needs: mixture, table, error terms and the
/// initial law of n particles.
inline RunInputs read_run(const Fieldset& mixture, const Fieldset& table, const Fieldset& errors,
                          const Fieldset& init, std::size_t n) {
  RunInputs in = read_table(mixture, table);
  const std::size_t D = in.mixture.D, NC = in.table.NC;
  {
    Fields f(errors, "errors", {"bias", "lin", "lin_scalar", "ff_eps", "ff_freq", "ff_phase", "ff_amp"}, in);
    scorelab::ErrorTerms& e = in.errors;
    e.bias = f.data<double>("bias", NC * D, true);
    e.lin = f.data<double>("lin", NC * D * D, true);
    e.lin_scalar = f.data<double>("lin_scalar", NC, true);
    if (!f.none("ff_freq")) {
      const carray<double> freq = f.array<double>("ff_freq");
      if (freq.ndim() != 2) throw std::invalid_argument("errors.ff_freq must be 2-D (F, D)");
      e.F = static_cast<int>(freq.shape(0));
      const std::size_t F = e.F;
      e.ff_freq = checked(freq, F * D, "errors.ff_freq");
      e.ff_eps = f.data<double>("ff_eps", NC, true);
      e.ff_phase = f.data<double>("ff_phase", F, true);
      e.ff_amp = f.data<double>("ff_amp", F * D, true);
      if (!e.ff_eps || !e.ff_phase || !e.ff_amp)
        throw std::invalid_argument("errors: a Fourier field needs ff_eps, ff_phase and ff_amp");
    }
  }
  Fields f(init, "init", {"x0", "mean", "chol"}, in);
  in.init.x0 = f.data<double>("x0", n * D, true);
  in.init.mean = f.data<double>("mean", D, true);
  in.init.chol = f.data<double>("chol", D * D, true);
  if (!in.init.x0 && (!in.init.mean || !in.init.chol))
    throw std::invalid_argument("init: give x0 or (mean, chol)");
  return in;
}

/// Keyword arguments of a table function: the mixture and the table.
inline auto table_args() { return std::make_tuple(py::arg("mixture"), py::arg("table")); }

/// Keyword arguments of a run after the table: error terms, initial law and options.
inline auto run_args() {
  return std::make_tuple(py::arg("errors"), py::arg("init"), py::arg("n"), py::arg("seed"),
                         py::arg("particle_offset"), py::arg("threads"), py::arg("block"));
}

/// m.def(name, fn, <args...>, extra..., doc) with args a tuple of keyword arguments
/// (table_args(), or its concatenation with run_args()): the CPU and CUDA modules
/// declare their executors' signatures through these.
template <class F, class Args, class... Extra>
void def_with_args(py::module_& m, const char* name, F fn, const Args& args, const char* doc, Extra... extra) {
  std::apply([&](const auto&... a) { m.def(name, fn, a..., extra..., doc); }, args);
}

}  // namespace scorelab_py
