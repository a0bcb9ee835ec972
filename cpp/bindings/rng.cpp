// Bindings: counter-based normals (for tests and for reproducible host-side draws).
#include <scorelab/philox.hpp>
#include <scorelab/scheme.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "common.hpp"

#include <pybind11/typing.h>

namespace scorelab_py {

namespace {
/// An array of either float type (the dtype argument decides).
using FloatArray = py::typing::Union<carray<double>, carray<float>>;

template <class Scalar>
FloatArray draw(std::uint64_t seed, std::uint64_t particle0, std::size_t n, std::uint32_t lane, int D,
                bool vectorised) {
  carray<Scalar> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(D)});
  Scalar* o = out.mutable_data();
  {
    py::gil_scoped_release nogil;  // pure arithmetic on an owned buffer
    if (vectorised) {
      // blocks of up to 256 particles, structure of arrays, as in the executors
      constexpr std::size_t B = 256;
      std::vector<Scalar> xi(static_cast<std::size_t>(D) * B);
      for (std::size_t p0 = 0; p0 < n; p0 += B) {
        const int pn = static_cast<int>(std::min(B, n - p0));
        scorelab::detail::fill_normals(seed, particle0 + p0, lane, D, xi.data(), B, pn);
        for (int p = 0; p < pn; ++p)
          for (int r = 0; r < D; ++r) o[(p0 + p) * D + r] = xi[static_cast<std::size_t>(r) * B + p];
      }
    } else {
      for (std::size_t p = 0; p < n; ++p)
        for (int q = 0; q < (D + 1) / 2; ++q) {
          Scalar z0, z1;
          scorelab::normal_pair_as<Scalar>(seed, particle0 + p, lane, static_cast<std::uint32_t>(q), z0, z1);
          o[p * D + 2 * q] = z0;
          if (2 * q + 1 < D) o[p * D + 2 * q + 1] = z1;
        }
    }
  }
  return FloatArray(std::move(out));
}
}  // namespace

void register_rng(py::module_& m) {
  m.def(
      "philox_normals",
      [](std::uint64_t seed, std::uint64_t particle0, std::size_t n, std::uint32_t lane, int D,
         const std::string& dtype, bool vectorised) -> FloatArray {
        if (D < 1) throw std::invalid_argument("D must be >= 1");
        if (dtype == "float64") return draw<double>(seed, particle0, n, lane, D, vectorised);
        if (dtype == "float32") return draw<float>(seed, particle0, n, lane, D, vectorised);
        throw std::invalid_argument("dtype must be 'float64' or 'float32', got '" + dtype + "'");
      },
      py::arg("seed"), py::arg("particle0"), py::arg("n"), py::arg("lane"), py::arg("D"),
      py::arg("dtype") = "float64", py::arg("vectorised") = false,
      "N(0, 1) draws of shape (n, D) for particles particle0.. on one lane: the stage noise\n"
      "of a run in that dtype, one particle at a time (normal_pair_as) or through the\n"
      "executors' blocked, vectorised generator (the same numbers).");
  m.def(
      "philox4x32_10",
      [](std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3, std::uint32_t k0,
         std::uint32_t k1) {
        auto r = scorelab::philox4x32_10(c0, c1, c2, c3, k0, k1);
        return py::make_tuple(r.v[0], r.v[1], r.v[2], r.v[3]);
      },
      py::arg("c0"), py::arg("c1"), py::arg("c2"), py::arg("c3"), py::arg("k0"), py::arg("k1"),
      "One raw Philox4x32-10 block (for known-answer tests).");
  m.attr("INIT_LANE") = scorelab::kInitLane;
}

}  // namespace scorelab_py
