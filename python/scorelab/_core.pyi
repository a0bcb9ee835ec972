# Type stubs for scorelab._core, the private compiled module (thin bindings over
# the header-only C++ core in cpp/include/scorelab). Validation happens in Python.

import numpy as np
import numpy.typing as npt

__version__: str
build_info: str
INIT_LANE: int

_F64 = npt.NDArray[np.float64]
_F32 = npt.NDArray[np.float32]
_I32 = npt.NDArray[np.int32]

def philox_normals(seed: int, particle0: int, n: int, lane: int, D: int) -> _F64: ...
def philox4x32_10(
    c0: int, c1: int, c2: int, c3: int, k0: int, k1: int
) -> tuple[int, int, int, int]: ...
def mixture_logpdf_score(
    weights: _F64,
    means: _F64,
    covs: _F64,
    cov_type: int,
    x: _F64 | _F32,
    threads: int = 1,
) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]: ...
def w2_squared_batch(
    m1: _F64,
    S1: _F64,
    m2: _F64,
    S2: _F64,
    sym_tol: float,
    eig_tol: float,
    threads: int = 1,
) -> tuple[_F64, npt.NDArray[np.int32]]: ...
def run_table_f64(
    weights: _F64,
    means: _F64,
    covs: _F64,
    cov_type: int,
    m: int,
    Y: _F64,
    Sc: _F64,
    Hc: _F64,
    C: _F64,
    eval: _I32,
    keep: _I32,
    H: int,
    Phi: _F64,
    Ncov: _F64,
    bias: _F64 | None,
    lin: _F64 | None,
    lin_scalar: _F64 | None,
    ff_eps: _F64 | None,
    ff_freq: _F64 | None,
    ff_phase: _F64 | None,
    ff_amp: _F64 | None,
    x0: _F64 | None,
    init_mean: _F64 | None,
    init_chol: _F64 | None,
    n: int,
    seed: int,
    particle_offset: int,
    threads: int,
    block: int,
) -> tuple[_F64, int, int]: ...
def run_table_f32(
    weights: _F64,
    means: _F64,
    covs: _F64,
    cov_type: int,
    m: int,
    Y: _F64,
    Sc: _F64,
    Hc: _F64,
    C: _F64,
    eval: _I32,
    keep: _I32,
    H: int,
    Phi: _F64,
    Ncov: _F64,
    bias: _F64 | None,
    lin: _F64 | None,
    lin_scalar: _F64 | None,
    ff_eps: _F64 | None,
    ff_freq: _F64 | None,
    ff_phase: _F64 | None,
    ff_amp: _F64 | None,
    x0: _F64 | None,
    init_mean: _F64 | None,
    init_chol: _F64 | None,
    n: int,
    seed: int,
    particle_offset: int,
    threads: int,
    block: int,
) -> tuple[_F32, int, int]: ...
