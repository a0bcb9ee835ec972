// scorelab bindings — shared helpers (thin: shape checks only; validation lives in Python).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <scorelab/table.hpp>

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace py = pybind11;

namespace scorelab_py {

template <class T>
using carray = py::array_t<T, py::array::c_style>;

/// Pointer to the data of a C-contiguous array after checking its element count.
template <class T>
const T* checked(const carray<T>& a, std::size_t expected, const char* name) {
  if (static_cast<std::size_t>(a.size()) != expected)
    throw std::invalid_argument(std::string(name) + ": expected " + std::to_string(expected) +
                                " elements, got " + std::to_string(a.size()));
  return a.data();
}

template <class T>
const T* checked_opt(const std::optional<carray<T>>& a, std::size_t expected, const char* name) {
  if (!a) return nullptr;
  return checked(*a, expected, name);
}

/// A mixture view (K components in dimension D) of weights (K), means (K, D) and
/// covariances (K, D, D) | (K, D) | (K) for cov_type 0 (full) | 1 (diag) | 2 (spherical).
inline scorelab::Mixture mixture_view(const carray<double>& weights, const carray<double>& means,
                                      const carray<double>& covariances, int cov_type) {
  if (means.ndim() != 2) throw std::invalid_argument("means must be 2-D (K, D)");
  if (cov_type < 0 || cov_type > 2) throw std::invalid_argument("cov_type must be 0, 1 or 2");
  const int K = static_cast<int>(means.shape(0)), D = static_cast<int>(means.shape(1));
  if (K < 1 || D < 1) throw std::invalid_argument("bad mixture shape");
  const std::size_t KD = static_cast<std::size_t>(K) * D;
  scorelab::Mixture mix;
  mix.K = K;
  mix.D = D;
  mix.cov_type = static_cast<scorelab::CovType>(cov_type);
  mix.weights = checked(weights, K, "weights");
  mix.means = means.data();
  mix.covariances = checked(covariances, cov_type == 0 ? KD * D : cov_type == 1 ? KD : K, "covariances");
  return mix;
}

/// Poll for Ctrl-C from a worker-waiting thread: takes the GIL briefly.
inline std::function<bool()> signal_poll() {
  return []() {
    py::gil_scoped_acquire g;
    return PyErr_CheckSignals() != 0;
  };
}

void register_rng(py::module_& m);
void register_gmm(py::module_& m);
void register_sampler(py::module_& m);
void register_gaussian(py::module_& m);

}  // namespace scorelab_py
