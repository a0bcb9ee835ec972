// scorelab CUDA backend — host API of the kernel library (scorelab_cuda_kernels).
//
// Plain C++17: no CUDA header is needed to call it, so the pybind11 module is compiled
// by the ordinary C++ compiler and only the .cu files go through nvcc. Every function
// reports CUDA failures by throwing std::runtime_error, except device_count(), which
// answers 0 when no driver or device is present (that is how "no GPU" is detected).
#pragma once

#include "packed.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace scorelab {
namespace cuda {

/// Number of CUDA devices visible to the runtime; 0 without driver or device. Never throws.
int device_count() noexcept;

/// Human-readable description of device `dev`: name, compute capability, memory.
std::string device_description(int dev);

/// CUDA runtime version linked into the module (e.g. 13000), and the driver's (0 if none).
int runtime_version() noexcept;
int driver_version() noexcept;

/// Numbers needed to estimate a device's peak arithmetic rate (benchmarks).
struct DeviceAttributes {
  int sm_count = 0, clock_khz = 0, cc_major = 0, cc_minor = 0;
};
DeviceAttributes device_attributes(int dev);

/// The current device index.
int current_device();

/// Device memory (owning helpers used by the Python-facing device array).
void* device_alloc(std::size_t bytes);
void device_free(void* p) noexcept;
void copy_device_to_host(void* dst, const void* src, std::size_t bytes);
/// Copy `rows` rows of `width` bytes between pitched device buffers.
void copy_device_2d(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                    std::size_t rows);

/// Run a packed table on n particles. `state` is a device buffer of n x D Scalars
/// (row-major) that receives the final states. poll() is called between kernel
/// launches (chunks of steps); returning true cancels. threads_per_block: 0 = default
/// (128), else a multiple of 32; max_steps_per_launch: 0 = automatic.
template <class Scalar>
GpuRunResult run_table_gpu(const PackedRun<Scalar>& run, const InitLaw& init, std::size_t n, std::uint64_t seed,
                           std::uint64_t particle_offset, Scalar* state, int threads_per_block,
                           int max_steps_per_launch, const std::function<bool()>& poll);

extern template GpuRunResult run_table_gpu<double>(const PackedRun<double>&, const InitLaw&, std::size_t,
                                                   std::uint64_t, std::uint64_t, double*, int, int,
                                                   const std::function<bool()>&);
extern template GpuRunResult run_table_gpu<float>(const PackedRun<float>&, const InitLaw&, std::size_t,
                                                  std::uint64_t, std::uint64_t, float*, int, int,
                                                  const std::function<bool()>&);

}  // namespace cuda
}  // namespace scorelab
