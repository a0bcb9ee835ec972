// Bindings: batched Bures-Wasserstein distances between Gaussians.
#include <scorelab/gaussian.hpp>

#include "common.hpp"

namespace scorelab_py {

namespace {

auto w2_squared(const carray<double>& m1, const carray<double>& S1, const carray<double>& m2,
                     const carray<double>& S2, double sym_tol, double eig_tol, int threads) {
  if (m1.ndim() != 2 || S1.ndim() != 3) throw std::invalid_argument("m1 must be (N, d) and S1 (N, d, d)");
  const std::size_t N = static_cast<std::size_t>(m1.shape(0));
  const int d = static_cast<int>(m1.shape(1));
  if (d < 1) throw std::invalid_argument("d must be >= 1");
  const std::size_t dd = static_cast<std::size_t>(d) * d;
  const double* a = checked(m1, N * d, "m1");
  const double* A = checked(S1, N * dd, "S1");
  const double* b = checked(m2, N * d, "m2");
  const double* B = checked(S2, N * dd, "S2");
  carray<double> out({static_cast<py::ssize_t>(N)});
  carray<int> status({static_cast<py::ssize_t>(N)});
  bool ok;
  {
    py::gil_scoped_release nogil;  // pure C++ on owned buffers; the GIL is retaken only to poll signals
    ok = scorelab::w2_squared_batch(N, d, a, A, b, B, sym_tol, eig_tol, out.mutable_data(), status.mutable_data(),
                                    std::max(1, threads), signal_poll());
  }
  if (!ok) throw py::error_already_set();
  return py::make_tuple(out, status);
}

}  // namespace

void register_gaussian(py::module_& m) {
  m.def("w2_squared_batch", &w2_squared, py::arg("m1").noconvert(), py::arg("S1").noconvert(),
        py::arg("m2").noconvert(), py::arg("S2").noconvert(), py::arg("sym_tol"), py::arg("eig_tol"), py::arg("threads") = 1,
        "(W2^2 (N,), status (N,)) for stacked Gaussians, float64; status 0 ok,\n"
        "1/2 S1/S2 not PSD, 3/4 S1/S2 not symmetric.");
}

}  // namespace scorelab_py
