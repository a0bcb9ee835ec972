// scorelab bindings — shared helpers (thin: shape checks only; validation lives in Python).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

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
