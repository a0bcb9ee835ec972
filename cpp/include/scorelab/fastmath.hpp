// scorelab — branch-free exp, log and sin/cos that compilers vectorise.
//
// Each function is plain arithmetic and bit manipulation on one value, with no
// branches and no calls, so that a loop over particles calling it is vectorised
// (SSE2 on any x86-64, wider with SCORELAB_NATIVE) and the scalar remainder of such
// a loop computes bit-for-bit the same results as the vector body: outputs never
// depend on the block size, the thread count or the position of a particle.
// (GCC vectorises the comparisons only without FP-exception semantics: the build uses
// -fno-trapping-math, which changes no result.)
// Accuracy: within about 2 ulp of the correctly rounded result on the stated domain
// (Cody–Waite range reduction and Taylor / atanh series of sufficient degree).
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define SCORELAB_FM __host__ __device__ __forceinline__
#else
#define SCORELAB_FM inline
#endif

// Loop unrolling hint, defined once for every header: nvcc's device pass and clang
// take "unroll"; GCC its own spelling; nvcc's host pass none (its front end would
// warn about the GCC pragma).
#if defined(__CUDA_ARCH__) || defined(__clang__)
#define SCORELAB_UNROLL _Pragma("unroll")
#elif defined(__GNUC__) && !defined(__CUDACC__)
#define SCORELAB_UNROLL _Pragma("GCC unroll 16")
#else
#define SCORELAB_UNROLL
#endif

namespace scorelab {
namespace fastmath {

SCORELAB_FM double as_double(std::uint64_t u) {
  double d;
  std::memcpy(&d, &u, sizeof d);
  return d;
}
SCORELAB_FM std::uint64_t as_u64(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}
SCORELAB_FM float as_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
SCORELAB_FM std::uint32_t as_u32(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

/// exp(x) in double precision; 0 below -708, clamped at exp(709) above.
SCORELAB_FM double exp(double x) {
  constexpr double shifter = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  constexpr double log2e = 1.4426950408889634074;
  constexpr double ln2_hi = 6.93147180369123816490e-01;  // 32 trailing zero bits: k * ln2_hi exact
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  const bool tiny = x < -708.0;
  double xc = x < -708.0 ? -708.0 : x;
  xc = xc > 709.0 ? 709.0 : xc;
  const double kd = xc * log2e + shifter;
  const std::uint64_t kbits = as_u64(kd);  // low bits: k + 1.5 * 2^52 (k two's complement)
  const double k = kd - shifter;
  const double r = (xc - k * ln2_hi) - k * ln2_lo;  // |r| <= ln 2 / 2
  // Taylor series to degree 13 (truncation below 4e-18 relative on |r| <= 0.347),
  // evaluated by Estrin's scheme: a short dependency chain for pipelined SIMD loops.
  const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  const double a0 = 1.0 + r, a1 = 0.5 + r * (1.0 / 6.0);
  const double a2 = 1.0 / 24.0 + r * (1.0 / 120.0), a3 = 1.0 / 720.0 + r * (1.0 / 5040.0);
  const double a4 = 1.0 / 40320.0 + r * (1.0 / 362880.0), a5 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
  const double a6 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
  const double b0 = a0 + r2 * a1, b1 = a2 + r2 * a3, b2 = a4 + r2 * a5;
  const double p = (b0 + r4 * b1) + r8 * (b2 + r4 * a6);
  const double scale = as_double((kbits + 1023u) << 52);  // 2^k, k in [-1022, 1023]
  const double v = p * scale;  // computed unconditionally: selects, not branches
  return tiny ? 0.0 : v;
}

/// exp(x) in single precision; 0 below -87, clamped at exp(88) above.
SCORELAB_FM float exp(float x) {
  constexpr float shifter = 12582912.0f;  // 1.5 * 2^23
  constexpr float log2e = 1.44269502f;
  constexpr float ln2_hi = 0.693145751953125f;  // 12 trailing zero bits
  constexpr float ln2_lo = 1.428606765330187045e-06f;
  const bool tiny = x < -87.0f;
  float xc = x < -87.0f ? -87.0f : x;
  xc = xc > 88.0f ? 88.0f : xc;
  const float kd = xc * log2e + shifter;
  const std::uint32_t kbits = as_u32(kd);
  const float k = kd - shifter;
  const float r = (xc - k * ln2_hi) - k * ln2_lo;
  // degree 7 (truncation below 1e-8 relative), Estrin's scheme
  const float r2 = r * r, r4 = r2 * r2;
  const float a0 = 1.0f + r, a1 = 0.5f + r * (1.0f / 6.0f);
  const float a2 = 1.0f / 24.0f + r * (1.0f / 120.0f), a3 = 1.0f / 720.0f + r * (1.0f / 5040.0f);
  const float p = (a0 + r2 * a1) + r4 * (a2 + r2 * a3);
  const float scale = as_float((kbits + 127u) << 23);
  const float v = p * scale;
  return tiny ? 0.0f : v;
}

/// Natural logarithm of a positive normal double (as for uniforms in (0, 1]).
SCORELAB_FM double log(double x) {
  constexpr std::uint64_t sqrt_half_bits = 0x3FE6A09E667F3BCDull;  // bits of sqrt(1/2)
  constexpr double ln2_hi = 6.93147180369123816490e-01;
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  const std::uint64_t b = as_u64(x);
  // biased exponent of x / sqrt(1/2): x = m 2^e with m in [sqrt(1/2), sqrt(2))
  const std::uint64_t eb = (b - sqrt_half_bits + 0x3FF0000000000000ull) >> 52;  // e + 1023
  const double m = as_double(b - (eb << 52) + 0x3FF0000000000000ull);
  const double e = as_double(0x4330000000000000ull | eb) - (4503599627370496.0 + 1023.0);
  // log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716, z = s^2 <= 0.0295
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double z = s * s;
  // p = sum_{i=0}^{10} 2 z^i / (2 i + 3), Estrin's scheme
  const double z2 = z * z, z4 = z2 * z2, z8 = z4 * z4;
  const double e0 = 2.0 / 3.0 + z * (2.0 / 5.0), e1 = 2.0 / 7.0 + z * (2.0 / 9.0);
  const double e2 = 2.0 / 11.0 + z * (2.0 / 13.0), e3 = 2.0 / 15.0 + z * (2.0 / 17.0);
  const double e4 = 2.0 / 19.0 + z * (2.0 / 21.0), e5 = 2.0 / 23.0;
  const double p = ((e0 + z2 * e1) + z4 * (e2 + z2 * e3)) + z8 * (e4 + z2 * e5);
  // log m = 2 s + s z p = f - s (f - z p) ... written as f - (s f - s z p) for accuracy
  const double logm = f - s * (f - z * p);
  return e * ln2_hi + (e * ln2_lo + logm);
}

/// cos(2 pi u) and sin(2 pi u) for u in [0, 1) (an angle in turns).
SCORELAB_FM void sincos_turns(double u, double& c_out, double& s_out) {
  constexpr double shifter = 6755399441055744.0;
  constexpr double two_pi = 6.283185307179586476925286766559;
  const double q = (4.0 * u + shifter) - shifter;  // nearest quarter turn, 0..4
  const double x = (u - 0.25 * q) * two_pi;         // |x| <= pi / 4 (u - q/4 is exact)
  // Taylor series: sin to x^17, cos to x^18 (truncation below 5e-17 on |x| <= pi/4),
  // in powers of y = x^2 by Estrin's scheme
  const double y = x * x, y2 = y * y, y4 = y2 * y2;
  const double g0 = 1.0 / 6.0 - y * (1.0 / 120.0), g1 = 1.0 / 5040.0 - y * (1.0 / 362880.0);
  const double g2 = 1.0 / 39916800.0 - y * (1.0 / 6227020800.0);
  const double g3 = 1.0 / 1307674368000.0 - y * (1.0 / 355687428096000.0);
  const double sp = (g0 + y2 * g1) + y4 * (g2 + y2 * g3);
  const double s = x - (x * y) * sp;
  const double k0 = 0.5 - y * (1.0 / 24.0), k1 = 1.0 / 720.0 - y * (1.0 / 40320.0);
  const double k2 = 1.0 / 3628800.0 - y * (1.0 / 479001600.0);
  const double k3 = 1.0 / 87178291200.0 - y * (1.0 / 20922789888000.0);
  const double k4 = 1.0 / 6402373705728000.0;
  const double cq = ((k0 + y2 * k1) + y4 * (k2 + y2 * k3)) + (y4 * y4) * k4;
  const double c = 1.0 - y * cq;
  // rotate by q quarter turns
  const bool odd = (q == 1.0) | (q == 3.0);
  const double cs = odd ? s : c;
  const double sn = odd ? c : s;
  c_out = ((q == 1.0) | (q == 2.0)) ? -cs : cs;
  s_out = ((q == 2.0) | (q == 3.0)) ? -sn : sn;
}

}  // namespace fastmath
}  // namespace scorelab
