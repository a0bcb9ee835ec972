// scorelab — counter-based random numbers (Philox4x32-10) and standard normals.
//
// The stream is a pure function of (key, counter): the same seed gives the same
// numbers whatever the thread count, block size or device. scorelab uses
//   key     = (seed_lo, seed_hi)
//   counter = (pair index i, lane, particle_lo, particle_hi)
// where a "lane" is one noise draw of the whole state (one per stage of one step,
// plus a reserved lane for the initial sample), and pair i yields the two normals of
// coordinates 2i and 2i+1 by the Box–Muller transform.
#pragma once

#include "fastmath.hpp"

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define SCORELAB_HD __host__ __device__ __forceinline__
#else
#define SCORELAB_HD inline
#endif

namespace scorelab {

/// Reserved lane for the initial sample x_{t_0}.
constexpr std::uint32_t kInitLane = 0xFFFFFFFFu;

struct Philox4x32 {
  std::uint32_t v[4];
};

/// One Philox4x32-10 block (Salmon et al., SC'11): 10 rounds, Weyl key schedule.
SCORELAB_HD Philox4x32 philox4x32_10(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2,
                                     std::uint32_t c3, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    const std::uint64_t p0 = static_cast<std::uint64_t>(M0) * c0;
    const std::uint64_t p1 = static_cast<std::uint64_t>(M1) * c2;
    const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    const std::uint32_t n0 = hi1 ^ c1 ^ k0;
    const std::uint32_t n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += W0;
    k1 += W1;
  }
  return Philox4x32{{c0, c1, c2, c3}};
}

/// The 53-bit integer x as a double, exactly, with integer and double arithmetic
/// only (a conversion that vectorises without 64-bit integer conversion instructions).
SCORELAB_HD double u53_to_double(std::uint64_t x) {
  constexpr std::uint64_t magic = 0x4330000000000000ull;  // bits of 2^52
  const double hi = fastmath::as_double(magic | (x >> 26)) - 4503599627370496.0;
  const double lo = fastmath::as_double(magic | (x & ((1ull << 26) - 1))) - 4503599627370496.0;
  return hi * 67108864.0 + lo;  // exact: both parts are integers below 2^27
}

/// Uniform in (0, 1] with 53 random bits from two 32-bit words.
SCORELAB_HD double u01_open_closed(std::uint32_t a, std::uint32_t b) {
  const std::uint64_t x = (static_cast<std::uint64_t>(a) << 21) ^ (static_cast<std::uint64_t>(b) >> 11);
  return (u53_to_double(x & ((1ull << 53) - 1)) + 1.0) * (1.0 / 9007199254740992.0);
}

/// Uniform in [0, 1) with 53 random bits.
SCORELAB_HD double u01_closed_open(std::uint32_t a, std::uint32_t b) {
  const std::uint64_t x = (static_cast<std::uint64_t>(a) << 21) ^ (static_cast<std::uint64_t>(b) >> 11);
  return u53_to_double(x & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

/// Box–Muller: two N(0, 1) draws from u1 in (0, 1] and u2 in [0, 1] (a full turn at 1),
/// with the branch-free log and sin/cos of fastmath.hpp (so that loops over particles
/// vectorise); T = double, or float for the noise of dtype="float32" runs.
template <class T>
SCORELAB_HD void box_muller(T u1, T u2, T& z0, T& z1) {
  const T rad = std::sqrt(T(-2) * fastmath::log(u1));
  T c, s;
  fastmath::sincos_turns(u2, c, s);
  z0 = rad * c;
  z1 = rad * s;
}

/// The noise of a run in precision Scalar: normal_pair for double; for float, the
/// same Philox uniforms through the single-precision Box–Muller (what every backend
/// uses for the stage noise of float32 runs; initial draws stay double).
template <class Scalar>
SCORELAB_HD void normal_pair_as(std::uint64_t seed, std::uint64_t particle, std::uint32_t lane, std::uint32_t pair,
                                Scalar& z0, Scalar& z1) {
  const Philox4x32 r = philox4x32_10(pair, lane, static_cast<std::uint32_t>(particle),
                                     static_cast<std::uint32_t>(particle >> 32),
                                     static_cast<std::uint32_t>(seed),
                                     static_cast<std::uint32_t>(seed >> 32));
  const double u1 = u01_open_closed(r.v[0], r.v[1]), u2 = u01_closed_open(r.v[2], r.v[3]);
  box_muller<Scalar>(static_cast<Scalar>(u1), static_cast<Scalar>(u2), z0, z1);
}

/// Two independent N(0, 1) draws for coordinates (2*pair, 2*pair + 1) of the given
/// (lane, particle) under `seed`, in double precision on every backend.
SCORELAB_HD void normal_pair(std::uint64_t seed, std::uint64_t particle, std::uint32_t lane,
                             std::uint32_t pair, double& z0, double& z1) {
  normal_pair_as<double>(seed, particle, lane, pair, z0, z1);
}

/// The uniforms of normal_pair (u1 in (0, 1] into z0, u2 in [0, 1) into z1) for
/// particles p0 + p, p in [pb, P): Philox4x32-10 as in philox4x32_10, with every 32-bit
/// word held in a 64-bit lane (products by 32x32->64 multiplies): the same numbers.
inline void philox_uniforms(std::uint64_t seed, std::uint64_t p0, std::uint32_t lane, std::uint32_t pair, int pb,
                            int P, double* z0, double* z1) {
  constexpr std::uint64_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  constexpr std::uint64_t lo32 = 0xFFFFFFFFull, lo53 = (1ull << 53) - 1;
  for (int p = pb; p < P; ++p) {
    const std::uint64_t particle = p0 + static_cast<std::uint64_t>(p);
    std::uint64_t c0 = pair, c1 = lane, c2 = particle & lo32, c3 = particle >> 32;
    std::uint64_t k0 = seed & lo32, k1 = seed >> 32;
    for (int r = 0; r < 10; ++r) {
      const std::uint64_t q0 = M0 * static_cast<std::uint32_t>(c0), q1 = M1 * static_cast<std::uint32_t>(c2);
      const std::uint64_t n0 = (q1 >> 32) ^ c1 ^ k0, n2 = (q0 >> 32) ^ c3 ^ k1;
      c1 = q1 & lo32;
      c3 = q0 & lo32;
      c0 = n0;
      c2 = n2;
      k0 = (k0 + W0) & lo32;
      k1 = (k1 + W1) & lo32;
    }
    z0[p] = (u53_to_double(((c0 << 21) ^ (c1 >> 11)) & lo53) + 1.0) * (1.0 / 9007199254740992.0);
    z1[p] = u53_to_double(((c2 << 21) ^ (c3 >> 11)) & lo53) * (1.0 / 9007199254740992.0);
  }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__CUDACC__)
#define SCORELAB_PHILOX_X86 1
namespace detail {
// Without a 64-bit vector multiply, GCC's vectoriser turns the products by the Philox
// constants into long shift/add sequences; these spell out the 32x32->64 multiply
// (pmuludq). Integer operations only: the same numbers as philox_uniforms. pmuludq reads
// only the low 32 bits of each lane, so the rounds leave the high halves unmasked; the
// two words shifted right at the end are masked once.
#define SCORELAB_PHILOX_BODY(V, SET1, MUL, SRLI, SLLI, XOR, AND, OR, ADD, LOAD, CASTPD, SUBPD, MULPD, ADDPD, STOREPD, W) \
  /* chains per iteration; measured (AVX2, 64 particles): 2: 3.7, 3: 4.0, 4: 3.1, 8: 3.4 ns a pair */         \
  constexpr int CH = 4;                                                                                       \
  const V m0 = SET1(0xD2511F53ll), m1 = SET1(0xCD9E8D57ll), lo32 = SET1(0xFFFFFFFFll);                        \
  const V lo26 = SET1((1ll << 26) - 1), magic = SET1(0x4330000000000000ll), lo53 = SET1((1ll << 53) - 1);       \
  std::uint64_t kk0[10], kk1[10];                                                                             \
  {                                                                                                           \
    std::uint64_t k0 = seed & 0xFFFFFFFFull, k1 = seed >> 32;                                                 \
    for (int r = 0; r < 10; ++r) {                                                                            \
      kk0[r] = r == 0 ? k0 ^ lane : k0; /* c1 starts as the lane: folded into the round-0 key */              \
      kk1[r] = k1;                                                                                            \
      k0 = (k0 + 0x9E3779B9ull) & 0xFFFFFFFFull;                                                              \
      k1 = (k1 + 0xBB67AE85ull) & 0xFFFFFFFFull;                                                              \
    }                                                                                                         \
  }                                                                                                           \
  std::int64_t iota_[CH * W];                                                                                 \
  for (int i = 0; i < CH * W; ++i) iota_[i] = i;                                                              \
  V iota[CH];                                                                                                 \
  for (int c = 0; c < CH; ++c) iota[c] = LOAD(reinterpret_cast<const V*>(iota_ + c * W));                     \
  const V cpair = SET1(static_cast<long long>(pair));                                                         \
  int p = 0;                                                                                                  \
  /* CH registers of particles at a time: independent chains hide the multiply latency */                    \
  for (; p + CH * W <= P; p += CH * W) {                                                                      \
    const V base = SET1(static_cast<long long>(p0 + static_cast<std::uint64_t>(p)));                          \
    V c0[CH], c1[CH], c2[CH], c3[CH];                                                                         \
    SCORELAB_UNROLL                                                                                           \
    for (int c = 0; c < CH; ++c) {                                                                            \
      const V pc = ADD(base, iota[c]);                                                                        \
      c0[c] = cpair;                                                                                          \
      c1[c] = SET1(0);                                                                                        \
      c2[c] = AND(pc, lo32);                                                                                  \
      c3[c] = SRLI(pc, 32);                                                                                   \
    }                                                                                                         \
    SCORELAB_UNROLL                                                                                           \
    for (int r = 0; r < 10; ++r) {                                                                            \
      const V key0 = SET1(static_cast<long long>(kk0[r])), key1 = SET1(static_cast<long long>(kk1[r]));       \
      SCORELAB_UNROLL                                                                                         \
      for (int c = 0; c < CH; ++c) {                                                                          \
        const V q0 = MUL(c0[c], m0), q1 = MUL(c2[c], m1);                                                     \
        const V n0 = XOR(SRLI(q1, 32), XOR(c1[c], key0)), n2 = XOR(SRLI(q0, 32), XOR(c3[c], key1));           \
        /* MUL reads only the low 32 bits of a lane: the high halves of q stay, masked below */               \
        c1[c] = q1;                                                                                           \
        c3[c] = q0;                                                                                           \
        c0[c] = n0;                                                                                           \
        c2[c] = n2;                                                                                           \
      }                                                                                                       \
    }                                                                                                         \
    SCORELAB_UNROLL                                                                                           \
    for (int c = 0; c < CH; ++c) {                                                                            \
      const V w1 = AND(c1[c], lo32), w3 = AND(c3[c], lo32);                                                   \
      const V u1 = AND(XOR(SLLI(c0[c], 21), SRLI(w1, 11)), lo53), u2 = AND(XOR(SLLI(c2[c], 21), SRLI(w3, 11)), lo53); \
      const auto h1 = SUBPD(CASTPD(OR(magic, SRLI(u1, 26))), two52);                                           \
      const auto l1 = SUBPD(CASTPD(OR(magic, AND(u1, lo26))), two52);                                          \
      const auto h2 = SUBPD(CASTPD(OR(magic, SRLI(u2, 26))), two52);                                           \
      const auto l2 = SUBPD(CASTPD(OR(magic, AND(u2, lo26))), two52);                                          \
      STOREPD(z0 + (p + c * W), MULPD(ADDPD(ADDPD(MULPD(h1, two26), l1), one), inv53));                        \
      STOREPD(z1 + (p + c * W), MULPD(ADDPD(MULPD(h2, two26), l2), inv53));                                    \
    }                                                                                                         \
  }                                                                                                           \
  philox_uniforms(seed, p0, lane, pair, p, P, z0, z1);
}  // namespace detail
#endif

#if defined(SCORELAB_PHILOX_X86)
}  // namespace scorelab
#include <immintrin.h>
namespace scorelab {
namespace detail {
/// philox_uniforms with SSE2 (two particles per register).
inline void philox_uniforms_sse2(std::uint64_t seed, std::uint64_t p0, std::uint32_t lane, std::uint32_t pair, int P,
                                 double* z0, double* z1) {
  const __m128d two52 = _mm_set1_pd(4503599627370496.0), two26 = _mm_set1_pd(67108864.0);
  const __m128d one = _mm_set1_pd(1.0), inv53 = _mm_set1_pd(1.0 / 9007199254740992.0);
  SCORELAB_PHILOX_BODY(__m128i, _mm_set1_epi64x, _mm_mul_epu32, _mm_srli_epi64, _mm_slli_epi64, _mm_xor_si128,
                       _mm_and_si128, _mm_or_si128, _mm_add_epi64,
                       _mm_loadu_si128,
                       _mm_castsi128_pd, _mm_sub_pd, _mm_mul_pd, _mm_add_pd, _mm_storeu_pd, 2)
}
/// philox_uniforms with AVX2 (four particles per register).
__attribute__((target("avx2"))) inline void philox_uniforms_avx2(std::uint64_t seed, std::uint64_t p0,
                                                                 std::uint32_t lane, std::uint32_t pair, int P,
                                                                 double* z0, double* z1) {
  const __m256d two52 = _mm256_set1_pd(4503599627370496.0), two26 = _mm256_set1_pd(67108864.0);
  const __m256d one = _mm256_set1_pd(1.0), inv53 = _mm256_set1_pd(1.0 / 9007199254740992.0);
  SCORELAB_PHILOX_BODY(__m256i, _mm256_set1_epi64x, _mm256_mul_epu32, _mm256_srli_epi64, _mm256_slli_epi64,
                       _mm256_xor_si256, _mm256_and_si256, _mm256_or_si256, _mm256_add_epi64,
                       _mm256_loadu_si256,
                       _mm256_castsi256_pd, _mm256_sub_pd, _mm256_mul_pd, _mm256_add_pd, _mm256_storeu_pd, 4)
}
}  // namespace detail
#undef SCORELAB_PHILOX_BODY
#endif

/// Box–Muller over P uniforms (philox_uniforms' u1, u2) in precision Scalar.
template <class Scalar>
SCORELAB_ALWAYS_INLINE void box_muller_block(const double* u1, const double* u2, int P, Scalar* z0, Scalar* z1) {
  for (int p = 0; p < P; ++p) box_muller<Scalar>(static_cast<Scalar>(u1[p]), static_cast<Scalar>(u2[p]), z0[p], z1[p]);
}

/// normal_pair_as<Scalar> for P <= 64 consecutive particles p0, ..., p0 + P - 1 (the
/// same numbers, in loops that vectorise): z0[p], z1[p] for p < P.
template <class Scalar>
inline void normal_pairs(std::uint64_t seed, std::uint64_t p0, std::uint32_t lane, std::uint32_t pair, int P,
                         Scalar* z0, Scalar* z1) {
  double u1[64], u2[64];
#if defined(SCORELAB_PHILOX_X86) && defined(__AVX2__)
  detail::philox_uniforms_avx2(seed, p0, lane, pair, P, u1, u2);
#elif defined(SCORELAB_PHILOX_X86)
  detail::philox_uniforms_sse2(seed, p0, lane, pair, P, u1, u2);
#else
  philox_uniforms(seed, p0, lane, pair, 0, P, u1, u2);
#endif
  box_muller_block(u1, u2, P, z0, z1);
}

}  // namespace scorelab
