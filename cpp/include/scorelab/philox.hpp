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

/// Box–Muller: two N(0, 1) draws from u1 in (0, 1] and u2 in [0, 1), with the
/// branch-free log and sin/cos of fastmath.hpp (so that loops over particles vectorise).
SCORELAB_HD void box_muller(double u1, double u2, double& z0, double& z1) {
  const double rad = std::sqrt(-2.0 * fastmath::log(u1));
  double c, s;
  fastmath::sincos_turns(u2, c, s);
  z0 = rad * c;
  z1 = rad * s;
}

/// Two independent N(0, 1) draws for coordinates (2*pair, 2*pair + 1) of the given
/// (lane, particle) under `seed`. Computed in double precision on every backend.
SCORELAB_HD void normal_pair(std::uint64_t seed, std::uint64_t particle, std::uint32_t lane,
                             std::uint32_t pair, double& z0, double& z1) {
  const Philox4x32 r = philox4x32_10(pair, lane, static_cast<std::uint32_t>(particle),
                                     static_cast<std::uint32_t>(particle >> 32),
                                     static_cast<std::uint32_t>(seed),
                                     static_cast<std::uint32_t>(seed >> 32));
  box_muller(u01_open_closed(r.v[0], r.v[1]), u01_closed_open(r.v[2], r.v[3]), z0, z1);
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
// (pmuludq). Integer operations only: the same numbers as philox_uniforms.
#define SCORELAB_PHILOX_BODY(V, SET1, MUL, SRLI, SLLI, XOR, AND, OR, ADD, LOAD, CASTPD, SUBPD, MULPD, ADDPD, STOREPD, W) \
  const V m0 = SET1(0xD2511F53ll), m1 = SET1(0xCD9E8D57ll), lo32 = SET1(0xFFFFFFFFll);                        \
  const V lo26 = SET1((1ll << 26) - 1), magic = SET1(0x4330000000000000ll), lo53 = SET1((1ll << 53) - 1);       \
  std::uint64_t kk0[10], kk1[10];                                                                             \
  {                                                                                                           \
    std::uint64_t k0 = seed & 0xFFFFFFFFull, k1 = seed >> 32;                                                 \
    for (int r = 0; r < 10; ++r) {                                                                            \
      kk0[r] = r == 0 ? k0 ^ lane : k0;                                                                       \
      kk1[r] = k1;                                                                                            \
      k0 = (k0 + 0x9E3779B9ull) & 0xFFFFFFFFull;                                                              \
      k1 = (k1 + 0xBB67AE85ull) & 0xFFFFFFFFull;                                                              \
    }                                                                                                         \
  }                                                                                                           \
  std::int64_t iota_[2 * W];                                                                                  \
  for (int i = 0; i < 2 * W; ++i) iota_[i] = i;                                                               \
  const V iota_a = LOAD(reinterpret_cast<const V*>(iota_)), iota_b = LOAD(reinterpret_cast<const V*>(iota_ + W)); \
  const V cpair = SET1(static_cast<long long>(pair));                                                         \
  int p = 0;                                                                                                  \
  /* two registers of particles at a time: independent chains hide the multiply latency */                  \
  for (; p + 2 * W <= P; p += 2 * W) {                                                                        \
    const V base = SET1(static_cast<long long>(p0 + static_cast<std::uint64_t>(p)));                          \
    const V pa = ADD(base, iota_a), pb = ADD(base, iota_b);                                                   \
    V a0 = cpair, a1 = SET1(0), a2 = AND(pa, lo32), a3 = SRLI(pa, 32);                                        \
    V b0 = cpair, b1 = SET1(0), b2 = AND(pb, lo32), b3 = SRLI(pb, 32);                                        \
    for (int r = 0; r < 10; ++r) {                                                                            \
      const V key0 = SET1(static_cast<long long>(kk0[r])), key1 = SET1(static_cast<long long>(kk1[r]));       \
      const V qa0 = MUL(a0, m0), qa1 = MUL(a2, m1), qb0 = MUL(b0, m0), qb1 = MUL(b2, m1);                     \
      const V na0 = XOR(XOR(SRLI(qa1, 32), a1), key0), na2 = XOR(XOR(SRLI(qa0, 32), a3), key1);               \
      const V nb0 = XOR(XOR(SRLI(qb1, 32), b1), key0), nb2 = XOR(XOR(SRLI(qb0, 32), b3), key1);               \
      a1 = AND(qa1, lo32);                                                                                    \
      a3 = AND(qa0, lo32);                                                                                    \
      b1 = AND(qb1, lo32);                                                                                    \
      b3 = AND(qb0, lo32);                                                                                    \
      a0 = na0;                                                                                               \
      a2 = na2;                                                                                               \
      b0 = nb0;                                                                                               \
      b2 = nb2;                                                                                               \
    }                                                                                                         \
    {                                                                                                        \
    const V u1 = AND(XOR(SLLI(a0, 21), SRLI(a1, 11)), lo53), u2 = AND(XOR(SLLI(a2, 21), SRLI(a3, 11)), lo53);  \
    const auto h1 = SUBPD(CASTPD(OR(magic, SRLI(u1, 26))), two52);                                             \
    const auto l1 = SUBPD(CASTPD(OR(magic, AND(u1, lo26))), two52);                                            \
    const auto h2 = SUBPD(CASTPD(OR(magic, SRLI(u2, 26))), two52);                                             \
    const auto l2 = SUBPD(CASTPD(OR(magic, AND(u2, lo26))), two52);                                            \
    STOREPD(z0 + (p), MULPD(ADDPD(ADDPD(MULPD(h1, two26), l1), one), inv53));                                  \
    STOREPD(z1 + (p), MULPD(ADDPD(MULPD(h2, two26), l2), inv53));                                              \
    }                                                                                                         \
    {                                                                                                        \
    const V u1 = AND(XOR(SLLI(b0, 21), SRLI(b1, 11)), lo53), u2 = AND(XOR(SLLI(b2, 21), SRLI(b3, 11)), lo53);  \
    const auto h1 = SUBPD(CASTPD(OR(magic, SRLI(u1, 26))), two52);                                             \
    const auto l1 = SUBPD(CASTPD(OR(magic, AND(u1, lo26))), two52);                                            \
    const auto h2 = SUBPD(CASTPD(OR(magic, SRLI(u2, 26))), two52);                                             \
    const auto l2 = SUBPD(CASTPD(OR(magic, AND(u2, lo26))), two52);                                            \
    STOREPD(z0 + (p + W), MULPD(ADDPD(ADDPD(MULPD(h1, two26), l1), one), inv53));                              \
    STOREPD(z1 + (p + W), MULPD(ADDPD(MULPD(h2, two26), l2), inv53));                                          \
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
  // c1 starts as the lane: folded into the round-0 key (kk0[0] = k0 ^ lane), c1 = 0
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

/// normal_pair for P consecutive particles p0, ..., p0 + P - 1 (the same numbers, in
/// loops that vectorise): z0[p], z1[p] for p < P.
inline void normal_pairs(std::uint64_t seed, std::uint64_t p0, std::uint32_t lane, std::uint32_t pair, int P,
                         double* z0, double* z1) {
#if defined(SCORELAB_PHILOX_X86) && defined(__AVX2__)
  detail::philox_uniforms_avx2(seed, p0, lane, pair, P, z0, z1);
#elif defined(SCORELAB_PHILOX_X86)
  detail::philox_uniforms_sse2(seed, p0, lane, pair, P, z0, z1);
#else
  philox_uniforms(seed, p0, lane, pair, 0, P, z0, z1);
#endif
  for (int p = 0; p < P; ++p) box_muller(z0[p], z1[p], z0[p], z1[p]);
}


}  // namespace scorelab
