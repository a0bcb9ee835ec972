# Stubs of scorelab._core, generated from the built module by pybind11-stubgen
# and normalised by tools/check_stubs.py (run it with --write after changing the
# bindings; CI checks that this file is up to date). Do not edit by hand.
"""
scorelab compiled core (private; use the scorelab package)
"""

from __future__ import annotations

import typing

import numpy
import numpy.typing

__all__: list[str] = [
    "INIT_LANE",
    "build_info",
    "mixture_logpdf_score",
    "philox4x32_10",
    "philox_normals",
    "run_table_f32",
    "run_table_f64",
    "w2_squared_batch",
]

@typing.overload
def mixture_logpdf_score(
    weights: numpy.typing.NDArray[numpy.float64],
    means: numpy.typing.NDArray[numpy.float64],
    covs: numpy.typing.NDArray[numpy.float64],
    cov_type: typing.SupportsInt | typing.SupportsIndex,
    x: numpy.typing.NDArray[numpy.float64],
    threads: typing.SupportsInt | typing.SupportsIndex = 1,
) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]:
    """
    (logpdf (n,), score (n, D)) of a Gaussian mixture at x (n, D), float64.
    """

@typing.overload
def mixture_logpdf_score(
    weights: numpy.typing.NDArray[numpy.float64],
    means: numpy.typing.NDArray[numpy.float64],
    covs: numpy.typing.NDArray[numpy.float64],
    cov_type: typing.SupportsInt | typing.SupportsIndex,
    x: numpy.typing.NDArray[numpy.float32],
    threads: typing.SupportsInt | typing.SupportsIndex = 1,
) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32]]:
    """
    (logpdf (n,), score (n, D)) of a Gaussian mixture at x (n, D), float32.
    """

def philox4x32_10(
    c0: typing.SupportsInt | typing.SupportsIndex,
    c1: typing.SupportsInt | typing.SupportsIndex,
    c2: typing.SupportsInt | typing.SupportsIndex,
    c3: typing.SupportsInt | typing.SupportsIndex,
    k0: typing.SupportsInt | typing.SupportsIndex,
    k1: typing.SupportsInt | typing.SupportsIndex,
) -> tuple[int, int, int, int]:
    """
    One raw Philox4x32-10 block (for known-answer tests).
    """

def philox_normals(
    seed: typing.SupportsInt | typing.SupportsIndex,
    particle0: typing.SupportsInt | typing.SupportsIndex,
    n: typing.SupportsInt | typing.SupportsIndex,
    lane: typing.SupportsInt | typing.SupportsIndex,
    D: typing.SupportsInt | typing.SupportsIndex,
    dtype: str = "float64",
    vectorised: bool = False,
) -> numpy.typing.NDArray[numpy.float64] | numpy.typing.NDArray[numpy.float32]:
    """
    N(0, 1) draws of shape (n, D) for particles particle0.. on one lane: the stage noise
    of a run in that dtype, one particle at a time (normal_pair_as) or through the
    executors' blocked, vectorised generator (the same numbers).
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
) -> tuple[numpy.typing.NDArray[numpy.float32], int, int]:
    """
    Run a coefficient table; returns (state (n, D), first_bad_step, bad_particles).
    mixture, table, errors and init are dicts with the fields of scorelab/table.hpp,
    built by scorelab.sample.run_arguments.
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
) -> tuple[numpy.typing.NDArray[numpy.float64], int, int]:
    """
    Run a coefficient table; returns (state (n, D), first_bad_step, bad_particles).
    mixture, table, errors and init are dicts with the fields of scorelab/table.hpp,
    built by scorelab.sample.run_arguments.
    """

def w2_squared_batch(
    m1: numpy.typing.NDArray[numpy.float64],
    S1: numpy.typing.NDArray[numpy.float64],
    m2: numpy.typing.NDArray[numpy.float64],
    S2: numpy.typing.NDArray[numpy.float64],
    sym_tol: typing.SupportsFloat | typing.SupportsIndex,
    eig_tol: typing.SupportsFloat | typing.SupportsIndex,
    threads: typing.SupportsInt | typing.SupportsIndex = 1,
) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.int32]]:
    """
    (W2^2 (N,), status (N,)) for stacked Gaussians, float64; status 0 ok,
    1/2 S1/S2 not PSD, 3/4 S1/S2 not symmetric.
    """

INIT_LANE: int = 4294967295
__version__: str
build_info: str
