// Bindings: log-density and score of a Gaussian mixture.
#include <scorelab/gmm.hpp>

#include "common.hpp"

namespace scorelab_py {

namespace {

template <class Scalar>
auto logpdf_score(const carray<double>& weights, const carray<double>& means, const carray<double>& covs,
                       int cov, const carray<Scalar>& x, int threads) {
  const scorelab::Mixture mix = mixture_view(weights, means, covs, cov);
  if (x.ndim() != 2 || x.shape(1) != mix.D) throw std::invalid_argument("x must be 2-D (n, D)");
  const std::size_t n = static_cast<std::size_t>(x.shape(0));
  carray<Scalar> lp({static_cast<py::ssize_t>(n)});
  carray<Scalar> sc({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(mix.D)});
  bool ok;
  {
    py::gil_scoped_release nogil;  // threads compute on owned buffers; the GIL is retaken only to poll signals
    ok = scorelab::mixture_logpdf_score<Scalar>(mix, x.data(), n, lp.mutable_data(), sc.mutable_data(),
                                                std::max(1, threads), signal_poll());
  }
  if (!ok) throw py::error_already_set();
  return py::make_tuple(lp, sc);
}

}  // namespace

void register_gmm(py::module_& m) {
  m.def("mixture_logpdf_score", &logpdf_score<double>, py::arg("weights").noconvert(),
        py::arg("means").noconvert(), py::arg("covs").noconvert(), py::arg("cov_type"),
        py::arg("x").noconvert(), py::arg("threads") = 1,
        "(logpdf (n,), score (n, D)) of a Gaussian mixture at x (n, D), float64.");
  m.def("mixture_logpdf_score", &logpdf_score<float>, py::arg("weights").noconvert(),
        py::arg("means").noconvert(), py::arg("covs").noconvert(), py::arg("cov_type"),
        py::arg("x").noconvert(), py::arg("threads") = 1,
        "(logpdf (n,), score (n, D)) of a Gaussian mixture at x (n, D), float32.");
}

}  // namespace scorelab_py
