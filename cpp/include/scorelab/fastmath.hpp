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
// (Cody–Waite range reduction, then polynomials: Chebyshev fits computed in 60-digit
// arithmetic whose approximation error is below 0.2 ulp; the rest is rounding).
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

// Host functions that must be inlined into their caller (the SIMD helpers of the
// AVX2 kernels, so that they are compiled for AVX2 with it).
#if defined(__GNUC__)
#define SCORELAB_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SCORELAB_ALWAYS_INLINE inline
#endif

namespace scorelab {
namespace fastmath {

/// Bits of t reinterpreted as I (same size): scalars, or GCC vectors of them.
template <class I, class T>
SCORELAB_FM I bit_cast_as(const T& t) {
  static_assert(sizeof(I) == sizeof(T), "bit_cast_as needs equal sizes");
  I i;
  std::memcpy(&i, &t, sizeof i);
  return i;
}

SCORELAB_FM double as_double(std::uint64_t u) { return bit_cast_as<double>(u); }
SCORELAB_FM std::uint64_t as_u64(double d) { return bit_cast_as<std::uint64_t>(d); }
SCORELAB_FM float as_float(std::uint32_t u) { return bit_cast_as<float>(u); }
SCORELAB_FM std::uint32_t as_u32(float f) { return bit_cast_as<std::uint32_t>(f); }

/// exp(xc) for xc in [-708, 709] (double; S = double) or [-87, 88] (S = float): the
/// shared core of exp and exp_nonpositive. T is S or a GCC vector of S, I the unsigned
/// integer of S's size (or its vector): the same operations on every lane.
/// Cody–Waite reduction to |r| <= ln 2 / 2, then 1 + r + r^2 q(r) with q the Chebyshev
/// (near-minimax) fit of (e^r - 1 - r) / r^2, fitted in 60-digit arithmetic: degree 9
/// for double (approximation error 1.8e-17 relative), 4 for float (1.1e-8); Estrin's
/// scheme, a short dependency chain for pipelined SIMD loops.
template <class S, class T, class I>
SCORELAB_FM T exp_core_t(T xc) {
  if constexpr (sizeof(S) == 8) {
    constexpr double shifter = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
    constexpr double log2e = 1.4426950408889634074;
    constexpr double ln2_hi = 6.93147180369123816490e-01;  // 32 trailing zero bits: k * ln2_hi exact
    constexpr double ln2_lo = 1.90821492927058770002e-10;
    const T kd = xc * log2e + shifter;
    const I kbits = bit_cast_as<I>(kd);  // low bits: k + 1.5 * 2^52 (k two's complement)
    const T k = kd - shifter;
    const T r = (xc - k * ln2_hi) - k * ln2_lo;  // |r| <= ln 2 / 2
    const T r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const T a0 = 0.5000000000000001 + r * 0.16666666666666669;
    const T a1 = 0.04166666666662413 + r * 0.008333333333330062;
    const T a2 = 0.0013888888917213717 + r * 0.00019841269863053618;
    const T a3 = 2.4801521295954376e-05 + r * 2.7557268459997064e-06;
    const T a4 = 2.7620088445409746e-07 + r * 2.510038549551032e-08;
    const T q = ((a0 + r2 * a1) + r4 * (a2 + r2 * a3)) + r8 * a4;
    const T p = (1.0 + r) + r2 * q;
    const T scale = bit_cast_as<T>(static_cast<I>((kbits + 1023u) << 52));  // 2^k, k in [-1022, 1023]
    return p * scale;
  } else {
    constexpr float shifter = 12582912.0f;  // 1.5 * 2^23
    constexpr float log2e = 1.44269502f;
    constexpr float ln2_hi = 0.693145751953125f;  // 12 trailing zero bits
    constexpr float ln2_lo = 1.428606765330187045e-06f;
    const T kd = xc * log2e + shifter;
    const I kbits = bit_cast_as<I>(kd);
    const T k = kd - shifter;
    const T r = (xc - k * ln2_hi) - k * ln2_lo;
    const T r2 = r * r, r4 = r2 * r2;
    const T q = ((0.5f + r * 0.16666576989698775f) + r2 * (0.041666554617204574f + r * 0.008363179052722578f)) +
                r4 * 0.0013926183587713494f;
    const T p = (1.0f + r) + r2 * q;
    const T scale = bit_cast_as<T>(static_cast<I>((kbits + 127u) << 23));
    return p * scale;
  }
}

/// exp(x) for x <= 0 (softmax weights exp(l - max l)): 0 below -708 (double) or -87
/// (float), NaN for NaN; T, I as in exp_core_t (a vector version for SIMD kernels).
template <class S, class T, class I>
SCORELAB_FM T exp_nonpositive_t(T x) {
  const T lo = T{} + static_cast<S>(sizeof(S) == 8 ? -708.0 : -87.0);
  const auto tiny = x < lo;
  const T v = exp_core_t<S, T, I>(tiny ? lo : x);  // computed unconditionally: selects, not branches
  return tiny ? T{} : v;
}

SCORELAB_FM double exp_core(double xc) { return exp_core_t<double, double, std::uint64_t>(xc); }
SCORELAB_FM float exp_core(float xc) { return exp_core_t<float, float, std::uint32_t>(xc); }
SCORELAB_FM double exp_nonpositive(double x) { return exp_nonpositive_t<double, double, std::uint64_t>(x); }
SCORELAB_FM float exp_nonpositive(float x) { return exp_nonpositive_t<float, float, std::uint32_t>(x); }

/// exp(x) in double precision; 0 below -708, clamped at exp(709) above.
SCORELAB_FM double exp(double x) {
  const bool tiny = x < -708.0;
  double xc = tiny ? -708.0 : x;
  xc = xc > 709.0 ? 709.0 : xc;
  const double v = exp_core(xc);  // computed unconditionally: selects, not branches
  return tiny ? 0.0 : v;
}

/// exp(x) in single precision; 0 below -87, clamped at exp(88) above.
SCORELAB_FM float exp(float x) {
  const bool tiny = x < -87.0f;
  float xc = tiny ? -87.0f : x;
  xc = xc > 88.0f ? 88.0f : xc;
  const float v = exp_core(xc);
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
  // p(z) = (2 atanh(s) / s - 2) / z = 2/3 + 2z/5 + ...: degree-6 Chebyshev fit on
  // [0, 0.0295] (60-digit fit; error 4.6e-18 relative to log m), Estrin's scheme
  const double z2 = z * z, z4 = z2 * z2;
  const double e0 = 0.666666666666667 + z * 0.39999999999899444;
  const double e1 = 0.2857142862600327 + z * 0.22222211130259878;
  const double e2 = 0.18182889455674947 + z * 0.15331710618210773;
  const double p = (e0 + z2 * e1) + z4 * (e2 + z2 * 0.14616585424888623);
  // log m = 2 s + s z p = f - s (f - z p) ... written as f - (s f - s z p) for accuracy
  const double logm = f - s * (f - z * p);
  return e * ln2_hi + (e * ln2_lo + logm);
}

/// (cos, sin) of x + q pi/2 from c = cos x, s = sin x, for the integer q in {0, ..., 4}
/// held in the low bits of qi: swap for odd q, then flip sign bits (integer operations,
/// no compares or blends).
template <class T, class U>
SCORELAB_FM void rotate_quarter_turns(U qi, T c, T s, T& c_out, T& s_out) {
  constexpr int sign_shift = static_cast<int>(sizeof(U)) * 8 - 2;  // bit 1 of q -> sign bit
  const U odd = U(0) - (qi & U(1));                                // all ones for odd q
  const U cb = bit_cast_as<U>(c), sb = bit_cast_as<U>(s);
  const U cs = (sb & odd) | (cb & ~odd), sn = (cb & odd) | (sb & ~odd);
  c_out = bit_cast_as<T>(static_cast<U>(cs ^ (((qi + U(1)) & U(2)) << sign_shift)));  // q = 1, 2: -
  s_out = bit_cast_as<T>(static_cast<U>(sn ^ ((qi & U(2)) << sign_shift)));            // q = 2, 3: -
}

/// cos(2 pi u) and sin(2 pi u) for u in [0, 1] (an angle in turns).
SCORELAB_FM void sincos_turns(double u, double& c_out, double& s_out) {
  constexpr double shifter = 6755399441055744.0;
  constexpr double two_pi = 6.283185307179586476925286766559;
  const double qd = 4.0 * u + shifter;
  const std::uint64_t qi = as_u64(qd);  // low bits: the nearest quarter turn, 0..4
  const double q = qd - shifter;
  const double x = (u - 0.25 * q) * two_pi;         // |x| <= pi / 4 (u - q/4 is exact)
  // sin x = x - x^3 P(y), cos x = 1 - y Q(y), y = x^2: P of degree 5 and Q of degree 6,
  // Chebyshev fits on |x| <= pi/4 (60-digit fits; errors 1.4e-17 and 1.7e-19 relative),
  // Estrin's scheme
  const double y = x * x, y2 = y * y, y4 = y2 * y2;
  const double g0 = 0.16666666666666666 + y * -0.008333333333330946;
  const double g1 = 0.0001984126983675497 + y * -2.755731610068303e-06;
  const double g2 = 2.5051131455427946e-08 + y * -1.591810123027412e-10;
  const double sp = (g0 + y2 * g1) + y4 * g2;
  const double s = x - (x * y) * sp;
  const double k0 = 0.5 + y * -0.04166666666666664, k1 = 0.0013888888888880767 + y * -2.480158729368715e-05;
  const double k2 = 2.755731556415141e-07 + y * -2.0875886390883725e-09;
  const double cq = (k0 + y2 * k1) + y4 * (k2 + y2 * 1.1367978191553177e-11);
  const double c = 1.0 - y * cq;
  rotate_quarter_turns(qi, c, s, c_out, s_out);
}

/// Natural logarithm of a positive normal float (single-precision log above:
/// p(z) of degree 2, error 2.8e-9 relative to log m).
SCORELAB_FM float log(float x) {
  constexpr std::uint32_t sqrt_half_bits = 0x3F3504F3u;  // bits of sqrt(1/2)
  constexpr float ln2_hi = 0.693145751953125f;          // 12 trailing zero bits
  constexpr float ln2_lo = 1.428606765330187045e-06f;
  const std::uint32_t b = as_u32(x);
  const std::uint32_t eb = (b - sqrt_half_bits + 0x3F800000u) >> 23;  // e + 127
  const float m = as_float(b - (eb << 23) + 0x3F800000u);
  const float e = static_cast<float>(static_cast<std::int32_t>(eb) - 127);
  const float f = m - 1.0f;
  const float s = f / (2.0f + f);
  const float z = s * s;
  const float p = (0.6666668504515603f + z * 0.39988778282162807f) + (z * z) * 0.2958005304318844f;
  const float logm = f - s * (f - z * p);
  return e * ln2_hi + (e * ln2_lo + logm);
}

/// cos(2 pi u) and sin(2 pi u) for u in [0, 1] in single precision (P of degree 2,
/// Q of degree 3: errors 1.4e-8 and 2.7e-10 relative).
SCORELAB_FM void sincos_turns(float u, float& c_out, float& s_out) {
  constexpr float shifter = 12582912.0f;  // 1.5 * 2^23
  constexpr float two_pi = 6.28318530717958647692f;
  const float qd = 4.0f * u + shifter;
  const std::uint32_t qi = as_u32(qd);  // low bits: the nearest quarter turn, 0..4
  const float q = qd - shifter;
  const float x = (u - 0.25f * q) * two_pi;         // |x| <= pi / 4
  const float y = x * x, y2 = y * y;
  const float sp = (0.16666664661114838f + y * -0.008332748037517147f) + y2 * 0.00019587840521305324f;
  const float s = x - (x * y) * sp;
  const float cq = (0.49999999969094655f + y * -0.04166665063493084f) +
                   y2 * (0.0013887588637815805f + y * -2.4463721163611998e-05f);
  const float c = 1.0f - y * cq;
  rotate_quarter_turns(qi, c, s, c_out, s_out);
}

}  // namespace fastmath
}  // namespace scorelab
