// The built-in SGEMM: packed panels (MR x KC of A, KC x NR of B) and a 6x16 register-blocked micro-kernel,
// compiled twice on x86 (AVX2+FMA and the x86-64-v2 baseline) and chosen at run time, once elsewhere (generic vectors
// the compiler maps to e.g. NEON); threads split the larger of M, N.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels.h"

namespace dg {
namespace {

constexpr int64_t MR = 6, NR = 16, KC = 256, MC = 96, NC = 2048;
typedef float v8 __attribute__((vector_size(32), aligned(4)));
typedef int i8 __attribute__((vector_size(32)));
// All lanes = s (v8{} + s would cost an extra add on the FMA ports: -0.0 + 0 is not -0.0).
__attribute__((always_inline)) inline v8 splat(float s) { return __builtin_shuffle(v8{s}, i8{}); }

// Packs op(A)[i0:i0+mc, k0:k0+kc] * alpha into row panels: Ap[panel][k][r].
void pack_a(bool transA, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float alpha,
            float* Ap) {
  for (int64_t ip = 0; ip < mc; ip += MR) {
    int64_t mr = std::min(MR, mc - ip);
    if (!transA) {
      // Row by row: reading MR rows in lock step would hit the same cache sets when lda is a power of two.
      for (int64_t r = 0; r < MR; r++) {
        const float* src = A + (i0 + ip + r) * lda + k0;
        for (int64_t k = 0; k < kc; k++) Ap[k * MR + r] = r < mr ? alpha * src[k] : 0.f;
      }
      Ap += kc * MR;
      continue;
    }
    for (int64_t k = 0; k < kc; k++) {
      for (int64_t r = 0; r < MR; r++) {
        float v = 0.f;
        if (r < mr) {
          int64_t i = i0 + ip + r, kk = k0 + k;
          v = alpha * (transA ? A[kk * lda + i] : A[i * lda + kk]);
        }
        *Ap++ = v;
      }
    }
  }
}

// Packs op(B)[k0:k0+kc, j0:j0+nc] into column panels: Bp[panel][k][c].
void pack_b(bool transB, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* Bp) {
  for (int64_t jp = 0; jp < nc; jp += NR) {
    int64_t nr = std::min(NR, nc - jp);
    for (int64_t k = 0; k < kc; k++) {
      int64_t kk = k0 + k;
      if (!transB && nr == NR) {
        std::memcpy(Bp, B + kk * ldb + j0 + jp, NR * sizeof(float));
        Bp += NR;
        continue;
      }
      for (int64_t c = 0; c < NR; c++) {
        float v = 0.f;
        if (c < nr) {
          int64_t j = j0 + jp + c;
          v = transB ? B[j * ldb + kk] : B[kk * ldb + j];
        }
        *Bp++ = v;
      }
    }
  }
}

// C[mr, nr] += Ap (MR x kc) * Bp (kc x NR).
__attribute__((always_inline)) inline void micro(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
                                                 int64_t mr, int64_t nr) {
  v8 c00 = {}, c01 = {}, c10 = {}, c11 = {}, c20 = {}, c21 = {}, c30 = {}, c31 = {}, c40 = {}, c41 = {}, c50 = {},
     c51 = {};
  for (int64_t k = 0; k < kc; k++) {
    v8 b0 = *(const v8*)(Bp), b1 = *(const v8*)(Bp + 8);
    v8 a;
    a = splat(Ap[0]); c00 += a * b0; c01 += a * b1;
    a = splat(Ap[1]); c10 += a * b0; c11 += a * b1;
    a = splat(Ap[2]); c20 += a * b0; c21 += a * b1;
    a = splat(Ap[3]); c30 += a * b0; c31 += a * b1;
    a = splat(Ap[4]); c40 += a * b0; c41 += a * b1;
    a = splat(Ap[5]); c50 += a * b0; c51 += a * b1;
    Ap += MR;
    Bp += NR;
  }
  alignas(32) float t[MR][NR];
  *(v8*)&t[0][0] = c00; *(v8*)&t[0][8] = c01;
  *(v8*)&t[1][0] = c10; *(v8*)&t[1][8] = c11;
  *(v8*)&t[2][0] = c20; *(v8*)&t[2][8] = c21;
  *(v8*)&t[3][0] = c30; *(v8*)&t[3][8] = c31;
  *(v8*)&t[4][0] = c40; *(v8*)&t[4][8] = c41;
  *(v8*)&t[5][0] = c50; *(v8*)&t[5][8] = c51;
  if (nr == NR) {
    for (int64_t r = 0; r < mr; r++) {
      v8* row = (v8*)(C + r * ldc);
      row[0] += *(v8*)&t[r][0];
      row[1] += *(v8*)&t[r][8];
    }
  } else {
    for (int64_t r = 0; r < mr; r++)
      for (int64_t c = 0; c < nr; c++) C[r * ldc + c] += t[r][c];
  }
}

#define DG_MACRO_BODY                                                                         \
  for (int64_t jp = 0; jp < nc; jp += NR)                                                     \
    for (int64_t ip = 0; ip < mc; ip += MR)                                                   \
      micro(kc, Ap + ip * kc, Bp + jp * kc, C + ip * ldc + jp, ldc, std::min(MR, mc - ip), std::min(NR, nc - jp));

#if DG_X86
__attribute__((target("avx2,fma"))) void macro_avx2(int64_t mc, int64_t nc, int64_t kc, const float* Ap,
                                                     const float* Bp, float* C, int64_t ldc) {
  DG_MACRO_BODY
}
#endif
void macro_generic(int64_t mc, int64_t nc, int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc) {
  DG_MACRO_BODY
}

// One thread's share: the full blocked algorithm on a sub-problem (C already scaled by beta).
void gemm_serial(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float* C, int64_t ldc) {
#if DG_X86
  auto macro = cpu_avx2_fma() ? macro_avx2 : macro_generic;
#else
  auto macro = macro_generic;
#endif
  int64_t ncMax = std::min(NC, (N + NR - 1) / NR * NR), kcMax = std::min(KC, K);
  std::vector<float> bbuf(ncMax * kcMax + 16), abuf(MC * kcMax + 16);
  float* Bp = bbuf.data();
  float* Ap = abuf.data();
  for (int64_t j0 = 0; j0 < N; j0 += NC) {
    int64_t nc = std::min(NC, N - j0);
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
      int64_t kc = std::min(KC, K - k0);
      pack_b(transB, B, ldb, k0, kc, j0, nc, Bp);
      for (int64_t i0 = 0; i0 < M; i0 += MC) {
        int64_t mc = std::min(MC, M - i0);
        pack_a(transA, A, lda, i0, mc, k0, kc, alpha, Ap);
        macro(mc, nc, kc, Ap, Bp, C + i0 * ldc + j0, ldc);
      }
    }
  }
}

}  // namespace

const char* simd_name() {
#if DG_X86
  return cpu_avx2_fma() ? "avx2+fma" : "sse4.2";
#elif defined(__aarch64__)
  return "neon";
#else
  return "generic";
#endif
}

void sgemm_builtin(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  for (int64_t i = 0; i < M; i++) {
    float* row = C + i * ldc;
    if (beta == 0.f) std::memset(row, 0, N * sizeof(float));
    else if (beta != 1.f) for (int64_t j = 0; j < N; j++) row[j] *= beta;
  }
  if (K <= 0 || alpha == 0.f) return;
  const double flops = double(M) * double(N) * double(K);
  const int64_t minWork = flops < 4e6 ? (M > N ? M : N) + 1 : 1;  // small problems stay on one thread
  // one contiguous share per thread (each share packs the shared operand once)
  auto share = [&](int64_t panels) { return std::max<int64_t>(minWork, (panels + threads() - 1) / threads()); };
  if (N >= M) {
    int64_t panels = (N + NR - 1) / NR;
    parallel_for(panels, share(panels), [&](int64_t b, int64_t e) {
      int64_t j0 = b * NR, j1 = std::min(N, e * NR);
      gemm_serial(transA, transB, M, j1 - j0, K, alpha, A, lda, transB ? B + j0 * ldb : B + j0, ldb, C + j0, ldc);
    });
  } else {
    int64_t panels = (M + MR - 1) / MR;
    parallel_for(panels, share(panels), [&](int64_t b, int64_t e) {
      int64_t i0 = b * MR, i1 = std::min(M, e * MR);
      gemm_serial(transA, transB, i1 - i0, N, K, alpha, transA ? A + i0 : A + i0 * lda, lda, B, ldb, C + i0 * ldc,
                  ldc);
    });
  }
}

}  // namespace dg
