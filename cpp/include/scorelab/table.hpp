// scorelab — the inputs of one sampling run, as plain views over row-major arrays.
//
// One struct per concept, with the field names of the Python side that builds them
// (python/scorelab/sample.py: run_arguments): the target mixture (targets.py), the
// coefficient table (schemes.py, class Tableau, plus the forward maps Phi and Ncov of
// its score-evaluation times), the score-error terms (errors.py, class StageTerms)
// and the initial law (sample.py, class InitLaw). The meaning of the table is stated
// in scheme.hpp. Plain C++17 (no Eigen, no CUDA): the CPU executor, the CUDA packer
// and the kernels' host API all read these.
#pragma once

namespace scorelab {

enum class CovType : int { Full = 0, Diag = 1, Spherical = 2 };

/// The mixture whose score drives the sampler, at data time (t = 0), in phase space.
struct Mixture {
  int K = 0;  ///< components
  int D = 0;  ///< dimension of the state (m d)
  CovType cov_type = CovType::Full;
  const double* weights = nullptr;      ///< K
  const double* means = nullptr;        ///< K x D
  const double* covariances = nullptr;  ///< K x D x D (full) | K x D (diag) | K (spherical)
};

/// Coefficient table of a scheme on a grid, with the forward map of every
/// score-evaluation time (see scheme.hpp for the recursion it encodes).
struct Table {
  int N = 0;        ///< steps
  int S = 0;        ///< stages per step
  int m = 1;        ///< block size: 1 for scalar processes, 2 for phase-space ones
  int history = 0;  ///< history scores kept across steps
  const double* Y = nullptr;  ///< N x S x S x m x m        (stage j = 1..S on y_i, i = 0..S-1)
  const double* B = nullptr;  ///< N x S x S x m x m        (on s_i)
  const double* E = nullptr;  ///< N x S x history x m x m  (on history scores; may be null if history = 0)
  const double* C = nullptr;  ///< N x S x m x m            (noise on the stage's own lane)
  const int* eval = nullptr;  ///< N x S                    (score data index at y_i, or -1)
  const int* keep = nullptr;  ///< N  (push s_i: i; push y_i: S + i; nothing: -1)
  int NC = 0;                    ///< score-evaluation times (leading axis of Phi, Ncov)
  const double* Phi = nullptr;   ///< NC x m x m  forward map: mean (Phi ⊗ I_d) mu
  const double* Ncov = nullptr;  ///< NC x m x m  added covariance Ncov ⊗ I_d
};

/// Score-error terms at the score-evaluation times (all optional: null when absent):
/// bias_c, lin_c y (or lin_scalar_c y) and a random Fourier field
/// ff_eps_c * sum_f ff_amp[f] cos(ff_freq[f] . y + ff_phase[f]).
struct ErrorTerms {
  const double* bias = nullptr;        ///< NC x D
  const double* lin = nullptr;         ///< NC x D x D
  const double* lin_scalar = nullptr;  ///< NC
  int F = 0;                           ///< Fourier features (0: no field)
  const double* ff_eps = nullptr;      ///< NC (or null when F = 0)
  const double* ff_freq = nullptr;     ///< F x D
  const double* ff_phase = nullptr;    ///< F
  const double* ff_amp = nullptr;      ///< F x D
};

/// Law of the state at t_0: explicit states x0, or N(mean, chol chol^T) sampled with
/// the initial-state Philox lane.
struct InitLaw {
  const double* x0 = nullptr;    ///< n x D initial states, or null
  const double* mean = nullptr;  ///< D
  const double* chol = nullptr;  ///< D x D lower-triangular factor
};

}  // namespace scorelab
