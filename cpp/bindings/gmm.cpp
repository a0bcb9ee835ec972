// Bindings: log-density and score of a Gaussian mixture.
#include <scorelab/scheme.hpp>

#include "common.hpp"

namespace scorelab_py {

namespace {

std::size_t cov_size(int cov, int K, int D) {
  return cov == 0 ? static_cast<std::size_t>(K) * D * D : cov == 1 ? static_cast<std::size_t>(K) * D : K;
}

template <class Scalar>
py::tuple logpdf_score(const carray<double>& weights, const carray<double>& means, const carray<double>& covs,
                       int cov, const carray<Scalar>& x, int threads) {
  if (means.ndim() != 2 || x.ndim() != 2) throw std::invalid_argument("means and x must be 2-D");
  if (cov < 0 || cov > 2) throw std::invalid_argument("cov_type must be 0, 1 or 2");
  const int K = static_cast<int>(means.shape(0)), D = static_cast<int>(means.shape(1));
  if (K < 1 || D < 1 || x.shape(1) != D) throw std::invalid_argument("inconsistent shapes");
  scorelab::MixtureSpec mix;
  mix.K = K;
  mix.D = D;
  mix.cov = static_cast<scorelab::CovType>(cov);
  mix.weights = checked(weights, K, "weights");
  mix.means = means.data();
  mix.covs = checked(covs, cov_size(cov, K, D), "covs");
  const std::size_t n = static_cast<std::size_t>(x.shape(0));
  carray<Scalar> lp({static_cast<py::ssize_t>(n)});
  carray<Scalar> sc({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(D)});
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
