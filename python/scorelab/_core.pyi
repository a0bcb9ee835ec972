# Type stubs for scorelab._core, the private compiled module (thin bindings over
# the header-only C++ core in cpp/include/scorelab). Validation happens in Python.
from typing import Optional

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
def run_table_f64(
    weights: _F64, means: _F64, covs: _F64, cov_type: int, m: int,
    Y: _F64, Sc: _F64, Hc: _F64, C: _F64, eval: _I32, keep: _I32, H: int,
    Phi: _F64, Ncov: _F64, bias: Optional[_F64], lin: Optional[_F64],
    lin_scalar: Optional[_F64], ff_eps: Optional[_F64], ff_freq: Optional[_F64],
    ff_phase: Optional[_F64], ff_amp: Optional[_F64], x0: Optional[_F64],
    init_mean: Optional[_F64], init_chol: Optional[_F64], n: int, seed: int,
    particle_offset: int, threads: int, block: int,
) -> tuple[_F64, int, int]: ...
def run_table_f32(
    weights: _F64, means: _F64, covs: _F64, cov_type: int, m: int,
    Y: _F64, Sc: _F64, Hc: _F64, C: _F64, eval: _I32, keep: _I32, H: int,
    Phi: _F64, Ncov: _F64, bias: Optional[_F64], lin: Optional[_F64],
    lin_scalar: Optional[_F64], ff_eps: Optional[_F64], ff_freq: Optional[_F64],
    ff_phase: Optional[_F64], ff_amp: Optional[_F64], x0: Optional[_F64],
    init_mean: Optional[_F64], init_chol: Optional[_F64], n: int, seed: int,
    particle_offset: int, threads: int, block: int,
) -> tuple[_F32, int, int]: ...
