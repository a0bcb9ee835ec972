// Bindings: counter-based normals (for tests and for reproducible host-side draws).
#include <scorelab/philox.hpp>

#include "common.hpp"

namespace scorelab_py {

void register_rng(py::module_& m) {
  m.def(
      "philox_normals",
      [](std::uint64_t seed, std::uint64_t particle0, std::size_t n, std::uint32_t lane, int D) {
        if (D < 1) throw std::invalid_argument("D must be >= 1");
        carray<double> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(D)});
        double* o = out.mutable_data();
        {
          py::gil_scoped_release nogil;  // pure arithmetic on an owned buffer
          for (std::size_t p = 0; p < n; ++p)
            for (int q = 0; q < (D + 1) / 2; ++q) {
              double z0, z1;
              scorelab::normal_pair(seed, particle0 + p, lane, static_cast<std::uint32_t>(q), z0, z1);
              o[p * D + 2 * q] = z0;
              if (2 * q + 1 < D) o[p * D + 2 * q + 1] = z1;
            }
        }
        return out;
      },
      py::arg("seed"), py::arg("particle0"), py::arg("n"), py::arg("lane"), py::arg("D"),
      "N(0, 1) draws of shape (n, D) for particles particle0.. on one lane.");
  m.def(
      "philox4x32_10",
      [](std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3, std::uint32_t k0,
         std::uint32_t k1) {
        auto r = scorelab::philox4x32_10(c0, c1, c2, c3, k0, k1);
        return py::make_tuple(r.v[0], r.v[1], r.v[2], r.v[3]);
      },
      "One raw Philox4x32-10 block (for known-answer tests).");
  m.attr("INIT_LANE") = scorelab::kInitLane;
}

}  // namespace scorelab_py
