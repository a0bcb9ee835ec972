# Stubs of scorelab._cuda, generated from the built module by pybind11-stubgen
# and normalised by tools/check_stubs.py (run it with --write after changing the
# bindings; CI checks that this file is up to date). Do not edit by hand.
"""
scorelab CUDA backend (private; use scorelab.sample(..., device='cuda'))
"""

from __future__ import annotations

import typing

import numpy
import numpy.typing

__all__: list[str] = [
    "DeviceArray",
    "device_attributes",
    "device_count",
    "device_description",
    "driver_version",
    "emulate_table_f32",
    "emulate_table_f64",
    "pack_table_f32",
    "pack_table_f64",
    "run_table_f32",
    "run_table_f64",
    "runtime_version",
]

class DeviceArray:
    """
    Owning C-contiguous float array in GPU memory (from sample(...,
    return_device_array=True)); exposes __cuda_array_interface__ and
    __dlpack__.
    """
    def __array__(
        self, dtype: typing.Any = None, copy: typing.Any = None
    ) -> numpy.ndarray: ...
    def __dlpack__(
        self,
        *,
        stream: typing.Any = None,
        max_version: typing.Any = None,
        dl_device: typing.Any = None,
        copy: typing.Any = None,
    ) -> typing.Any: ...
    def __dlpack_device__(self) -> tuple[int, int]: ...
    def __len__(self) -> int: ...
    def __repr__(self) -> str: ...
    def columns(self, cols: typing.SupportsInt | typing.SupportsIndex) -> DeviceArray:
        """
        A new device array with the first `cols` columns.
        """
    def get(self) -> numpy.ndarray:
        """
        Copy to a new NumPy array.
        """
    @property
    def __cuda_array_interface__(self) -> dict[str, typing.Any]: ...
    @property
    def device(self) -> int: ...
    @property
    def dtype(self) -> numpy.dtype[typing.Any]: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def ndim(self) -> int: ...
    @property
    def ptr(self) -> int: ...
    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def size(self) -> int: ...

def device_attributes(
    device: typing.SupportsInt | typing.SupportsIndex = 0,
) -> dict[str, typing.Any]:
    """
    SM count, SM clock (kHz) and compute capability of a device.
    """

def device_count() -> int:
    """
    Number of visible CUDA devices (0 without driver or GPU).
    """

def device_description(device: typing.SupportsInt | typing.SupportsIndex = 0) -> str:
    """
    Name, compute capability, memory.
    """

def driver_version() -> int:
    """
    CUDA driver version (0 when no driver is installed).
    """

def emulate_table_f32(
    mixture: dict[str, typing.Any],
    table: dict[str, typing.Any],
    errors: dict[str, typing.Any],
    init: dict[str, typing.Any],
    n: typing.SupportsInt | typing.SupportsIndex,
    seed: typing.SupportsInt | typing.SupportsIndex,
    particle_offset: typing.SupportsInt | typing.SupportsIndex,
    threads: typing.SupportsInt | typing.SupportsIndex,
    block: typing.SupportsInt | typing.SupportsIndex,
    steps_per_launch: typing.SupportsInt | typing.SupportsIndex = 0,
) -> tuple[numpy.typing.NDArray[numpy.float32], int, int]:
    """
    Host only: the GPU executor's per-particle code (cpp/cuda/particle.hpp) run on
    the CPU, one particle after another (slow; for tests on machines without a GPU).
    Same arguments and result as run_table_*.
    """

def emulate_table_f64(
    mixture: dict[str, typing.Any],
    table: dict[str, typing.Any],
    errors: dict[str, typing.Any],
    init: dict[str, typing.Any],
    n: typing.SupportsInt | typing.SupportsIndex,
    seed: typing.SupportsInt | typing.SupportsIndex,
    particle_offset: typing.SupportsInt | typing.SupportsIndex,
    threads: typing.SupportsInt | typing.SupportsIndex,
    block: typing.SupportsInt | typing.SupportsIndex,
    steps_per_launch: typing.SupportsInt | typing.SupportsIndex = 0,
) -> tuple[numpy.typing.NDArray[numpy.float64], int, int]:
    """
    Host only: the GPU executor's per-particle code (cpp/cuda/particle.hpp) run on
    the CPU, one particle after another (slow; for tests on machines without a GPU).
    Same arguments and result as run_table_*.
    """

def pack_table_f32(
    mixture: dict[str, typing.Any], table: dict[str, typing.Any]
) -> dict[str, typing.Any]:
    """
    Host only: the packed form of a table as the kernels read it (dict of arrays).
    """

def pack_table_f64(
    mixture: dict[str, typing.Any], table: dict[str, typing.Any]
) -> dict[str, typing.Any]:
    """
    Host only: the packed form of a table as the kernels read it (dict of arrays).
    """

def run_table_f32(
    mixture: dict[str, typing.Any],
    table: dict[str, typing.Any],
    errors: dict[str, typing.Any],
    init: dict[str, typing.Any],
    n: typing.SupportsInt | typing.SupportsIndex,
    seed: typing.SupportsInt | typing.SupportsIndex,
    particle_offset: typing.SupportsInt | typing.SupportsIndex,
    threads: typing.SupportsInt | typing.SupportsIndex,
    block: typing.SupportsInt | typing.SupportsIndex,
    return_device_array: bool = False,
    steps_per_launch: typing.SupportsInt | typing.SupportsIndex = 0,
) -> tuple[typing.Any, int, int]:
    """
    Run a coefficient table on the GPU; returns (state, first_bad_step, bad_particles)
    with state a NumPy array (n, D) or, with return_device_array=True, a DeviceArray.
    Same arguments as scorelab._core.run_table_*; `threads` is ignored, `block` is
    CUDA threads per block (0: default).
    """

def run_table_f64(
    mixture: dict[str, typing.Any],
    table: dict[str, typing.Any],
    errors: dict[str, typing.Any],
    init: dict[str, typing.Any],
    n: typing.SupportsInt | typing.SupportsIndex,
    seed: typing.SupportsInt | typing.SupportsIndex,
    particle_offset: typing.SupportsInt | typing.SupportsIndex,
    threads: typing.SupportsInt | typing.SupportsIndex,
    block: typing.SupportsInt | typing.SupportsIndex,
    return_device_array: bool = False,
    steps_per_launch: typing.SupportsInt | typing.SupportsIndex = 0,
) -> tuple[typing.Any, int, int]:
    """
    Run a coefficient table on the GPU; returns (state, first_bad_step, bad_particles)
    with state a NumPy array (n, D) or, with return_device_array=True, a DeviceArray.
    Same arguments as scorelab._core.run_table_*; `threads` is ignored, `block` is
    CUDA threads per block (0: default).
    """

def runtime_version() -> int:
    """
    CUDA runtime version linked into the module.
    """
