// scorelab._core — the compiled module; each topic registers itself.
#include "common.hpp"

#ifndef SCORELAB_VERSION
#define SCORELAB_VERSION "unknown"
#endif
#ifndef SCORELAB_BUILD_INFO
#define SCORELAB_BUILD_INFO ""
#endif

PYBIND11_MODULE(_core, m) {
  m.doc() = "scorelab compiled core (private; use the scorelab package)";
  m.attr("__version__") = SCORELAB_VERSION;
  m.attr("build_info") = SCORELAB_BUILD_INFO;
  scorelab_py::register_rng(m);
  scorelab_py::register_gmm(m);
  scorelab_py::register_sampler(m);
  scorelab_py::register_gaussian(m);
}
