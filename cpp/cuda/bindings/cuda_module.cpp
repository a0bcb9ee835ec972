// scorelab._cuda — the optional CUDA backend (built only with SCORELAB_CUDA=ON).
//
// Thin bindings, compiled by the host C++ compiler: the kernels live in the
// scorelab_cuda_kernels library behind the plain C++ API of cuda_api.hpp. The run
// functions take exactly the arguments of scorelab._core.run_table_f64/f32 (the named
// dicts Python built once, read by the CPU module's own builder, run_inputs.hpp), pack
// them with the CPU executor's own table compiler and component cache (pack.hpp), and
// run them on the current device. Results come back
// as NumPy arrays, or stay on the device as a DeviceArray exposing
// __cuda_array_interface__ (v3) and __dlpack__.
#include "../../bindings/common.hpp"
#include "../../bindings/run_inputs.hpp"
#include "../cuda_api.hpp"
#include "../emulate.hpp"
#include "../pack.hpp"

#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

using scorelab_py::carray;
using scorelab_py::def_with_args;
using scorelab_py::Fieldset;
using scorelab_py::read_run;
using scorelab_py::read_table;
using scorelab_py::run_args;
using scorelab_py::RunInputs;
using scorelab_py::table_args;
namespace sc = scorelab::cuda;

// ---- DLPack (ABI of dlpack.h v0.8, the unversioned "dltensor" capsule) -----------
struct DLDevice {
  std::int32_t device_type;  // kDLCUDA = 2
  std::int32_t device_id;
};
struct DLDataType {
  std::uint8_t code;  // kDLFloat = 2
  std::uint8_t bits;
  std::uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  std::int32_t ndim;
  DLDataType dtype;
  std::int64_t* shape;
  std::int64_t* strides;
  std::uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor*);
};
constexpr std::int32_t kDLCUDA = 2;
constexpr std::uint8_t kDLFloat = 2;

/// An owning, C-contiguous float buffer in device memory.
class DeviceArray {
 public:
  DeviceArray(std::vector<std::int64_t> shape, int itemsize)
      : shape_(std::move(shape)), itemsize_(itemsize), device_(sc::current_device()) {
    buf_ = std::shared_ptr<void>(sc::device_alloc(nbytes()), sc::device_free);
  }
  std::size_t size() const {
    std::size_t s = 1;
    for (auto v : shape_) s *= static_cast<std::size_t>(v);
    return s;
  }
  std::size_t nbytes() const { return size() * itemsize_; }
  void* ptr() const { return buf_.get(); }
  int itemsize() const { return itemsize_; }
  int device() const { return device_; }
  const std::vector<std::int64_t>& shape() const { return shape_; }
  std::string typestr() const { return itemsize_ == 8 ? "<f8" : "<f4"; }
  py::dtype dtype() const { return itemsize_ == 8 ? py::dtype::of<double>() : py::dtype::of<float>(); }

  py::array to_host() const {
    std::vector<py::ssize_t> shp(shape_.begin(), shape_.end());
    py::array out(dtype(), shp);
    {
      py::gil_scoped_release nogil;  // a device-to-host copy may take a while
      sc::copy_device_to_host(out.mutable_data(), ptr(), nbytes());
    }
    return out;
  }

  /// A new array with the first `cols` columns of a 2-D array.
  DeviceArray columns(std::int64_t cols) const {
    if (shape_.size() != 2 || cols < 0 || cols > shape_[1]) throw std::invalid_argument("columns: bad column count");
    DeviceArray out({shape_[0], cols}, itemsize_);
    sc::copy_device_2d(out.ptr(), cols * itemsize_, ptr(), shape_[1] * itemsize_, cols * itemsize_,
                       static_cast<std::size_t>(shape_[0]));
    return out;
  }

  Fieldset cuda_array_interface() const {
    Fieldset d;
    py::tuple shp(shape_.size());
    for (std::size_t i = 0; i < shape_.size(); ++i) shp[i] = shape_[i];
    d["shape"] = shp;
    d["typestr"] = typestr();
    d["data"] = py::make_tuple(reinterpret_cast<std::uintptr_t>(ptr()), false);
    d["version"] = 3;
    d["strides"] = py::none();
    d["stream"] = py::none();  // the producer synchronised before returning the array
    return d;
  }

  py::object dlpack() const {
    struct Ctx {
      std::shared_ptr<void> buf;
      std::vector<std::int64_t> shape;
      DLManagedTensor mt;
    };
    auto* ctx = new Ctx{buf_, shape_, DLManagedTensor{}};
    DLTensor& t = ctx->mt.dl_tensor;
    t.data = ptr();
    t.device = DLDevice{kDLCUDA, device_};
    t.ndim = static_cast<std::int32_t>(shape_.size());
    t.dtype = DLDataType{kDLFloat, static_cast<std::uint8_t>(8 * itemsize_), 1};
    t.shape = ctx->shape.data();
    t.strides = nullptr;  // C-contiguous
    t.byte_offset = 0;
    ctx->mt.manager_ctx = ctx;
    ctx->mt.deleter = [](DLManagedTensor* self) { delete static_cast<Ctx*>(self->manager_ctx); };
    PyObject* cap = PyCapsule_New(&ctx->mt, "dltensor", [](PyObject* c) {
      // a consumer renames the capsule "used_dltensor" and owns the tensor from then on
      if (PyCapsule_IsValid(c, "dltensor")) {
        auto* mt = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
        if (mt && mt->deleter) mt->deleter(mt);
      }
    });
    if (!cap) {
      delete ctx;
      throw py::error_already_set();
    }
    return py::reinterpret_steal<py::object>(cap);
  }

 private:
  std::shared_ptr<void> buf_;
  std::vector<std::int64_t> shape_;
  int itemsize_;
  int device_;
};

void require_device() {
  if (sc::device_count() < 1)
    throw std::runtime_error(
        "scorelab._cuda: no CUDA device is visible (no NVIDIA driver or GPU on this machine); use device='cpu'");
}

template <class Scalar>
auto run(const Fieldset& mixture, const Fieldset& table, const Fieldset& errors, const Fieldset& init,
              std::size_t n, std::uint64_t seed, std::uint64_t particle_offset, int threads, int block,
              bool return_device_array, int steps_per_launch) {
  (void)threads;  // CPU threads: meaningless here; the GPU runs one particle per thread
  const RunInputs in = read_run(mixture, table, errors, init, n);
  if (block < 0 || block > 1024 || block % 32)
    throw std::invalid_argument("block (CUDA threads per block) must be a multiple of 32 in [32, 1024]");
  if (steps_per_launch < 0) throw std::invalid_argument("steps_per_launch must be >= 0");
  require_device();
  const sc::PackedRun<Scalar> packed = sc::pack_run<Scalar>(in.mixture, in.table, in.errors);
  DeviceArray state({static_cast<std::int64_t>(n), static_cast<std::int64_t>(in.mixture.D)}, sizeof(Scalar));
  sc::GpuRunResult res;
  {
    py::gil_scoped_release nogil;  // kernels run for seconds; the GIL is retaken only to poll Ctrl-C
    res = sc::run_table_gpu<Scalar>(packed, in.init, n, seed, particle_offset, static_cast<Scalar*>(state.ptr()),
                                    block, steps_per_launch, scorelab_py::signal_poll());
  }
  if (res.cancelled) {
    if (PyErr_Occurred()) throw py::error_already_set();
    throw std::runtime_error("sampling was cancelled");
  }
  py::object out = return_device_array ? py::cast(std::move(state)) : py::object(state.to_host());
  return py::make_tuple(out, res.first_bad_step, res.bad_particles);
}

/// Host-only: the GPU algorithm (particle.hpp) emulated on the CPU, for tests.
template <class Scalar>
auto emulate(const Fieldset& mixture, const Fieldset& table, const Fieldset& errors, const Fieldset& init,
                  std::size_t n, std::uint64_t seed, std::uint64_t particle_offset, int threads, int block,
                  int steps_per_launch) {
  const RunInputs in = read_run(mixture, table, errors, init, n);
  if (steps_per_launch < 0) throw std::invalid_argument("steps_per_launch must be >= 0");
  const sc::PackedRun<Scalar> packed = sc::pack_run<Scalar>(in.mixture, in.table, in.errors);
  carray<Scalar> state({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(in.mixture.D)});
  sc::GpuRunResult res;
  {
    py::gil_scoped_release nogil;  // pure C++ loop over particles
    res = sc::emulate_run<Scalar>(packed, in.init, n, seed, particle_offset, state.mutable_data(), steps_per_launch);
  }
  return py::make_tuple(state, res.first_bad_step, res.bad_particles);
}

/// Host-only: the packed form of a table (for tests and inspection; needs no GPU).
template <class Scalar>
Fieldset pack(const Fieldset& mixture, const Fieldset& table) {
  const RunInputs in = read_table(mixture, table);
  const sc::PackedRun<Scalar> P = sc::pack_run<Scalar>(in.mixture, in.table, in.errors);
  const auto nt = static_cast<py::ssize_t>(P.terms.size());
  carray<int> src({nt}), idx({nt});
  carray<double> coef({nt, py::ssize_t(4)});
  for (py::ssize_t t = 0; t < nt; ++t) {
    src.mutable_at(t) = P.terms[t].src;
    idx.mutable_at(t) = P.terms[t].idx;
    for (int q = 0; q < 4; ++q) coef.mutable_at(t, q) = P.terms[t].coef[q];
  }
  auto vec = [](const auto& v) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    carray<T> a({static_cast<py::ssize_t>(v.size())});
    std::copy(v.begin(), v.end(), a.mutable_data());
    return a;
  };
  Fieldset d;
  d["N"] = P.N;
  d["S"] = P.S;
  d["H"] = P.H;
  d["m"] = P.m;
  d["K"] = P.K;
  d["D"] = P.D;
  d["cov"] = P.cov;
  d["NC"] = P.NC;
  d["op_begin"] = vec(P.op_begin);
  d["term_src"] = src;
  d["term_idx"] = idx;
  d["term_coef"] = coef;
  d["noise"] = vec(P.noise);
  d["has_noise"] = vec(P.has_noise);
  d["eval"] = vec(P.eval);
  d["keep"] = vec(P.keep);
  d["max_terms_per_step"] = P.max_terms_per_step;
  d["comp_stride"] = P.comp_stride;
  d["comp"] = vec(P.comp);
  return d;
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "scorelab CUDA backend (private; use scorelab.sample(..., device='cuda'))";
  m.def("device_count", &sc::device_count, "Number of visible CUDA devices (0 without driver or GPU).");
  m.def("device_description", &sc::device_description, py::arg("device") = 0, "Name, compute capability, memory.");
  m.def(
      "device_attributes",
      [](int dev) {
        const sc::DeviceAttributes a = sc::device_attributes(dev);
        Fieldset d;
        d["sm_count"] = a.sm_count;
        d["clock_khz"] = a.clock_khz;
        d["compute_capability"] = py::make_tuple(a.cc_major, a.cc_minor);
        return d;
      },
      py::arg("device") = 0, "SM count, SM clock (kHz) and compute capability of a device.");
  m.def("runtime_version", &sc::runtime_version, "CUDA runtime version linked into the module.");
  m.def("driver_version", &sc::driver_version, "CUDA driver version (0 when no driver is installed).");

  py::class_<DeviceArray>(m, "DeviceArray",
                          "Owning C-contiguous float array in GPU memory (from sample(...,\n"
                          "return_device_array=True)); exposes __cuda_array_interface__ and\n"
                          "__dlpack__.")
      .def_property_readonly("shape",
                             [](const DeviceArray& a) {
                               py::typing::Tuple<int, py::ellipsis> t(a.shape().size());
                               for (std::size_t i = 0; i < a.shape().size(); ++i) t[i] = a.shape()[i];
                               return t;
                             })
      .def_property_readonly("dtype", &DeviceArray::dtype)
      .def_property_readonly("ndim", [](const DeviceArray& a) { return a.shape().size(); })
      .def_property_readonly("size", &DeviceArray::size)
      .def_property_readonly("nbytes", &DeviceArray::nbytes)
      .def_property_readonly("device", &DeviceArray::device)
      .def_property_readonly("ptr", [](const DeviceArray& a) { return reinterpret_cast<std::uintptr_t>(a.ptr()); })
      .def_property_readonly("__cuda_array_interface__", &DeviceArray::cuda_array_interface)
      .def("__dlpack_device__", [](const DeviceArray& a) { return py::make_tuple(kDLCUDA, a.device()); })
      .def(
          "__dlpack__",
          [](const DeviceArray& a, py::object stream, py::object max_version, py::object dl_device, py::object copy) {
            (void)stream;       // data are ready: the run synchronised before returning
            (void)max_version;  // we export the unversioned capsule, which every consumer accepts
            (void)dl_device;
            if (!copy.is_none() && copy.cast<bool>())
              throw py::buffer_error("DeviceArray.__dlpack__: copy=True is not supported");
            return a.dlpack();
          },
          py::kw_only(), py::arg("stream") = py::none(), py::arg("max_version") = py::none(),
          py::arg("dl_device") = py::none(), py::arg("copy") = py::none())
      .def("get", &DeviceArray::to_host, "Copy to a new NumPy array.")
      .def(
          "__array__",
          [](const DeviceArray& a, py::object dtype, py::object copy) {
            py::array h = a.to_host();
            return dtype.is_none() ? h : py::array(h.attr("astype")(dtype));
          },
          py::arg("dtype") = py::none(), py::arg("copy") = py::none())
      .def("columns", &DeviceArray::columns, py::arg("cols"), "A new device array with the first `cols` columns.")
      .def("__len__", [](const DeviceArray& a) { return a.shape().empty() ? 0 : a.shape()[0]; })
      .def("__repr__", [](const DeviceArray& a) {
        std::string s = "DeviceArray(shape=(";
        for (std::size_t i = 0; i < a.shape().size(); ++i) s += (i ? ", " : "") + std::to_string(a.shape()[i]);
        if (a.shape().size() == 1) s += ",";
        return s + "), dtype=" + (a.itemsize() == 8 ? "float64" : "float32") + ", device=" +
               std::to_string(a.device()) + ")";
      });

  const char* run_doc =
      "Run a coefficient table on the GPU; returns (state, first_bad_step, bad_particles)\n"
      "with state a NumPy array (n, D) or, with return_device_array=True, a DeviceArray.\n"
      "Same arguments as scorelab._core.run_table_*; `threads` is ignored, `block` is\n"
      "CUDA threads per block (0: default).";
  const auto args = std::tuple_cat(table_args(), run_args());
  def_with_args(m, "run_table_f64", &run<double>, args, run_doc, py::arg("return_device_array") = false,
                py::arg("steps_per_launch") = 0);
  def_with_args(m, "run_table_f32", &run<float>, args, run_doc, py::arg("return_device_array") = false,
                py::arg("steps_per_launch") = 0);
  const char* pack_doc = "Host only: the packed form of a table as the kernels read it (dict of arrays).";
  def_with_args(m, "pack_table_f64", &pack<double>, table_args(), pack_doc);
  def_with_args(m, "pack_table_f32", &pack<float>, table_args(), pack_doc);
  const char* emu_doc =
      "Host only: the GPU executor's per-particle code (cpp/cuda/particle.hpp) run on\n"
      "the CPU, one particle after another (slow; for tests on machines without a GPU).\n"
      "Same arguments and result as run_table_*.";
  def_with_args(m, "emulate_table_f64", &emulate<double>, args, emu_doc, py::arg("steps_per_launch") = 0);
  def_with_args(m, "emulate_table_f32", &emulate<float>, args, emu_doc, py::arg("steps_per_launch") = 0);
}
