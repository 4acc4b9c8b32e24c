// Group normalisation over NHWC float32 [B, H, W, C] (optionally fused with SiLU), with gamma/beta per channel [C] or
// per image and channel [B, C] (AdaGN's scale-shift folded in), forward and gradient, and their N-API wrappers. Threads split the batch; sums use float blocks flushed into double accumulators.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels.h"
#include "napi-args.h"

namespace dg {
namespace {

constexpr int64_t kBlock = 64;  // pixels summed in float before flushing into the double accumulators

// exp(x), Cephes-style polynomial (relative error ~1e-7), x clamped to [-80, 80]; vectorises, unlike std::exp
// (the clamps need -fno-trapping-math, set in binding.gyp). n = round(x / ln2) by the 1.5 * 2^23 trick. The clamp
// keeps sigmoid's constant-folded saturated branches normal: a denormal constant there cost ~7x (microcode assists).
__attribute__((always_inline)) inline float exp_fast(float x) {
  x = x < -80.f ? -80.f : x;
  x = x > 80.f ? 80.f : x;
  float n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  uint32_t e = uint32_t(int32_t(n) + 127) << 23;
  float s;
  std::memcpy(&s, &e, 4);
  return p * s;
}

__attribute__((always_inline)) inline float sigmoid_fast(float z) { return 1.f / (1.f + exp_fast(-z)); }

struct GnShape {
  int64_t B, P, C, G;
};

// acc[c] += sum_p f(p, c) over a [P, C] slab, summed in float blocks of kBlock pixels.
template <class F>
__attribute__((always_inline)) inline void channel_sums(int64_t P, int64_t C, float* blk, double* acc, F f) {
  for (int64_t p0 = 0; p0 < P; p0 += kBlock) {
    int64_t p1 = p0 + kBlock < P ? p0 + kBlock : P;
    for (int64_t c = 0; c < C; c++) blk[c] = 0.f;
    for (int64_t p = p0; p < p1; p++) f(p, blk);
    for (int64_t c = 0; c < C; c++) acc[c] += blk[c];
  }
}

// One image: y, mean[G], rstd[G]. ws holds 5*C floats/doubles of scratch.
__attribute__((always_inline)) inline void gn_forward_image(const GnShape& s, const float* x, const float* gamma,
                                                            const float* beta, float eps, bool silu, float* y,
                                                            float* mean, float* rstd, float* fw, double* dw) {
  const int64_t P = s.P, C = s.C, G = s.G, Cg = C / G;
  const double n = double(P) * double(Cg);
  float *blk = fw, *mc = fw + C, *scale = fw + 2 * C, *shift = fw + 3 * C;
  double *acc = dw, *gm = dw + C, *gr = dw + C + G;
  for (int64_t c = 0; c < C; c++) acc[c] = 0;
  channel_sums(P, C, blk, acc, [&](int64_t p, float* b) {
    const float* xp = x + p * C;
    for (int64_t c = 0; c < C; c++) b[c] += xp[c];
  });
  for (int64_t g = 0; g < G; g++) {
    double t = 0;
    for (int64_t c = g * Cg; c < (g + 1) * Cg; c++) t += acc[c];
    gm[g] = t / n;
    for (int64_t c = g * Cg; c < (g + 1) * Cg; c++) mc[c] = float(gm[g]);
  }
  // second pass: centred squares (no cancellation for large means)
  for (int64_t c = 0; c < C; c++) acc[c] = 0;
  channel_sums(P, C, blk, acc, [&](int64_t p, float* b) {
    const float* xp = x + p * C;
    for (int64_t c = 0; c < C; c++) {
      float d = xp[c] - mc[c];
      b[c] += d * d;
    }
  });
  for (int64_t g = 0; g < G; g++) {
    double t = 0;
    for (int64_t c = g * Cg; c < (g + 1) * Cg; c++) t += acc[c];
    gr[g] = 1.0 / std::sqrt(t / n + double(eps));
    mean[g] = float(gm[g]);
    rstd[g] = float(gr[g]);
  }
  for (int64_t c = 0; c < C; c++) {
    double r = gr[c / Cg], sc = r * double(gamma[c]);
    scale[c] = float(sc);
    shift[c] = float(double(beta[c]) - gm[c / Cg] * sc);
  }
  const int64_t total = P * C;
  if (silu) {
    for (int64_t p = 0; p < total; p += C) {
      const float* xp = x + p;
      float* yp = y + p;
      for (int64_t c = 0; c < C; c++) {
        float z = xp[c] * scale[c] + shift[c];
        yp[c] = z * sigmoid_fast(z);
      }
    }
  } else {
    for (int64_t p = 0; p < total; p += C) {
      const float* xp = x + p;
      float* yp = y + p;
      for (int64_t c = 0; c < C; c++) yp[c] = xp[c] * scale[c] + shift[c];
    }
  }
}

// One image of the gradient: dx, and per-channel sums of dz (sumDz) and dz * xhat (sumDzXhat) for dbeta/dgamma.
__attribute__((always_inline)) inline void gn_backward_image(const GnShape& s, const float* dy, const float* x,
                                                             const float* gamma, const float* beta, const float* mean,
                                                             const float* rstd, bool silu, float* dx, double* sumDz,
                                                             double* sumDzXhat, float* fw, double* dw) {
  const int64_t P = s.P, C = s.C, G = s.G, Cg = C / G;
  const double n = double(P) * double(Cg);
  float *blk = fw, *mc = fw + C, *scale = fw + 2 * C, *shift = fw + 3 * C, *blk2 = fw + 4 * C;
  double *accA = dw, *accB = dw + C, *sA = dw + 2 * C, *sB = dw + 2 * C + G;
  for (int64_t c = 0; c < C; c++) {
    float r = rstd[c / Cg], m = mean[c / Cg];
    mc[c] = m;
    double sc = double(r) * double(gamma[c]);
    scale[c] = float(sc);
    shift[c] = float(double(beta[c]) - double(m) * sc);
    accA[c] = 0;
    accB[c] = 0;
  }
  const float* dz = dy;
  if (silu) {
    // dz = dy * sig * (1 + z * (1 - sig)), stored in dx until pass 2
    const int64_t total = P * C;
    for (int64_t p = 0; p < total; p += C) {
      const float *xp = x + p, *dyp = dy + p;
      float* dxp = dx + p;
      for (int64_t c = 0; c < C; c++) {
        float z = xp[c] * scale[c] + shift[c], sg = sigmoid_fast(z);
        dxp[c] = dyp[c] * sg * (1.f + z * (1.f - sg));
      }
    }
    dz = dx;
  }
  // sums of dz and dz * (x - mean), in float blocks
  for (int64_t p0 = 0; p0 < P; p0 += kBlock) {
    int64_t p1 = p0 + kBlock < P ? p0 + kBlock : P;
    for (int64_t c = 0; c < C; c++) blk[c] = blk2[c] = 0.f;
    for (int64_t p = p0; p < p1; p++) {
      const float *xp = x + p * C, *dp = dz + p * C;
      for (int64_t c = 0; c < C; c++) {
        blk[c] += dp[c];
        blk2[c] += dp[c] * (xp[c] - mc[c]);
      }
    }
    for (int64_t c = 0; c < C; c++) {
      accA[c] += blk[c];
      accB[c] += blk2[c];
    }
  }
  for (int64_t g = 0; g < G; g++) sA[g] = sB[g] = 0;
  for (int64_t c = 0; c < C; c++) {
    double r = rstd[c / Cg];
    sumDz[c] = accA[c];
    sumDzXhat[c] = r * accB[c];
    sA[c / Cg] += accA[c] * gamma[c];          // sum of dxhat
    sB[c / Cg] += r * accB[c] * gamma[c];      // sum of dxhat * xhat
  }
  // dx = rstd * (dz * gamma - mean(dxhat) - xhat * mean(dxhat * xhat)) = dz * k1 + x * k2 + k3
  float *k1 = scale, *k2 = shift, *k3 = blk;
  for (int64_t c = 0; c < C; c++) {
    double r = rstd[c / Cg], m = mean[c / Cg], a = sA[c / Cg] / n, b = sB[c / Cg] / n;
    k1[c] = float(r * gamma[c]);
    k2[c] = float(-r * r * b);
    k3[c] = float(-r * a + r * r * m * b);
  }
  const int64_t total = P * C;
  for (int64_t p = 0; p < total; p += C) {
    const float *xp = x + p, *dp = dz + p;
    float* dxp = dx + p;
    for (int64_t c = 0; c < C; c++) dxp[c] = dp[c] * k1[c] + xp[c] * k2[c] + k3[c];
  }
}

// ps: gamma and beta hold one row of C per image ([B, C]) instead of one row for all ([C]).
void gn_forward_range(const GnShape& s, const float* x, const float* gamma, const float* beta, bool ps, float eps,
                      bool silu, float* y, float* mean, float* rstd, int64_t b0, int64_t b1, float* fw, double* dw) {
  const int64_t slab = s.P * s.C, gs = ps ? s.C : 0;
  for (int64_t b = b0; b < b1; b++)
    gn_forward_image(s, x + b * slab, gamma + b * gs, beta + b * gs, eps, silu, y + b * slab, mean + b * s.G,
                     rstd + b * s.G, fw, dw);
}
#if DG_X86
__attribute__((target("avx2,fma"))) void gn_forward_range_avx2(const GnShape& s, const float* x, const float* gamma,
                                                                const float* beta, bool ps, float eps, bool silu,
                                                                float* y, float* mean, float* rstd, int64_t b0,
                                                                int64_t b1, float* fw, double* dw) {
  const int64_t slab = s.P * s.C, gs = ps ? s.C : 0;
  for (int64_t b = b0; b < b1; b++)
    gn_forward_image(s, x + b * slab, gamma + b * gs, beta + b * gs, eps, silu, y + b * slab, mean + b * s.G,
                     rstd + b * s.G, fw, dw);
}
#endif

void gn_backward_range(const GnShape& s, const float* dy, const float* x, const float* gamma, const float* beta,
                       bool ps, const float* mean, const float* rstd, bool silu, float* dx, double* sums, int64_t b0,
                       int64_t b1, float* fw, double* dw) {
  const int64_t slab = s.P * s.C, gs = ps ? s.C : 0;
  for (int64_t b = b0; b < b1; b++)
    gn_backward_image(s, dy + b * slab, x + b * slab, gamma + b * gs, beta + b * gs, mean + b * s.G, rstd + b * s.G,
                      silu, dx + b * slab, sums + 2 * b * s.C, sums + (2 * b + 1) * s.C, fw, dw);
}
#if DG_X86
__attribute__((target("avx2,fma"))) void gn_backward_range_avx2(const GnShape& s, const float* dy, const float* x,
                                                                 const float* gamma, const float* beta, bool ps,
                                                                 const float* mean, const float* rstd, bool silu,
                                                                 float* dx, double* sums, int64_t b0, int64_t b1,
                                                                 float* fw, double* dw) {
  const int64_t slab = s.P * s.C, gs = ps ? s.C : 0;
  for (int64_t b = b0; b < b1; b++)
    gn_backward_image(s, dy + b * slab, x + b * slab, gamma + b * gs, beta + b * gs, mean + b * s.G, rstd + b * s.G,
                      silu, dx + b * slab, sums + 2 * b * s.C, sums + (2 * b + 1) * s.C, fw, dw);
}
#endif

// Threads split the batch once there is at least ~64K elements per thread.
int64_t images_per_thread(const GnShape& s) {
  int64_t slab = s.P * s.C > 0 ? s.P * s.C : 1;
  int64_t m = (int64_t(1) << 16) / slab;
  return m < 1 ? 1 : m;
}

}  // namespace

void group_norm_forward(int64_t B, int64_t P, int64_t C, int64_t G, const float* x, const float* gamma,
                        const float* beta, bool per_sample, float eps, bool silu, float* y, float* mean, float* rstd) {
  GnShape s{B, P, C, G};
#if DG_X86
  auto fn = cpu_avx2_fma() ? gn_forward_range_avx2 : gn_forward_range;
#else
  auto fn = gn_forward_range;
#endif
  parallel_for(B, images_per_thread(s), [&](int64_t b0, int64_t b1) {
    std::vector<float> fw(size_t(5 * C + 8));
    std::vector<double> dw(size_t(3 * C + 2 * G + 8));
    fn(s, x, gamma, beta, per_sample, eps, silu, y, mean, rstd, b0, b1, fw.data(), dw.data());
  });
}

void group_norm_backward(int64_t B, int64_t P, int64_t C, int64_t G, const float* dy, const float* x,
                         const float* gamma, const float* beta, bool per_sample, const float* mean, const float* rstd,
                         bool silu, float* dx, float* dgamma, float* dbeta) {
  GnShape s{B, P, C, G};
  std::vector<double> sums(size_t(2 * B * C));  // per image: sum dz [C], sum dz * xhat [C]
#if DG_X86
  auto fn = cpu_avx2_fma() ? gn_backward_range_avx2 : gn_backward_range;
#else
  auto fn = gn_backward_range;
#endif
  parallel_for(B, images_per_thread(s), [&](int64_t b0, int64_t b1) {
    std::vector<float> fw(size_t(5 * C + 8));
    std::vector<double> dw(size_t(3 * C + 2 * G + 8));
    fn(s, dy, x, gamma, beta, per_sample, mean, rstd, silu, dx, sums.data(), b0, b1, fw.data(), dw.data());
  });
  if (per_sample) {  // dgamma, dbeta [B, C]: each image's own sums
    for (int64_t b = 0; b < B; b++)
      for (int64_t c = 0; c < C; c++) {
        dbeta[b * C + c] = float(sums[2 * b * C + c]);
        dgamma[b * C + c] = float(sums[(2 * b + 1) * C + c]);
      }
    return;
  }
  // fixed summation order over the batch: results do not depend on the thread count
  for (int64_t c = 0; c < C; c++) {
    double a = 0, g = 0;
    for (int64_t b = 0; b < B; b++) {
      a += sums[2 * b * C + c];
      g += sums[(2 * b + 1) * C + c];
    }
    dbeta[c] = float(a);
    dgamma[c] = float(g);
  }
}

}  // namespace dg

// ---- N-API wrappers
namespace {

using dg_napi::F32;
using dg_napi::f32;
using dg_napi::i64;
using dg_napi::need;

struct GnSizes {
  int64_t B, P, C, G;
};

// Checks B, P, C, G (info[first..first+3]); C must split into G groups.
GnSizes gn_sizes(const Napi::CallbackInfo& info, size_t first) {
  auto env = info.Env();
  int64_t B = i64(info[first], "B"), P = i64(info[first + 1], "P"), C = i64(info[first + 2], "C"),
          G = i64(info[first + 3], "groups");
  if (G < 1 || C % G != 0) throw Napi::RangeError::New(env, "channels must split into groups (groups >= 1)");
  if (B > (int64_t(1) << 40) || P > (int64_t(1) << 40) || C > (int64_t(1) << 30) ||
      double(B) * double(P) * double(C) > 9.0e15)
    throw Napi::RangeError::New(env, "group norm sizes too large");
  return {B, P, C, G};
}

// True when gamma and beta are [B, C] (one row per image), false when [C]; anything else is an error.
bool per_sample_affine(Napi::Env env, const F32& gamma, const F32& beta, int64_t B, int64_t C) {
  if (gamma.n != beta.n) throw Napi::RangeError::New(env, "gamma and beta must have the same length");
  if (gamma.n == C) return false;
  if (gamma.n == B * C) return true;
  throw Napi::RangeError::New(env, "gamma and beta must have C or B * C elements");
}

// groupNorm(x, gamma, beta, y, mean, rstd, B, P, C, groups, epsilon, silu): x, y [B, P, C]; gamma, beta [C] or [B, C];
// mean, rstd [B, groups].
Napi::Value GroupNorm(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  F32 x = f32(info[0], "x"), gamma = f32(info[1], "gamma"), beta = f32(info[2], "beta"), y = f32(info[3], "y"),
      mean = f32(info[4], "mean"), rstd = f32(info[5], "rstd");
  auto s = gn_sizes(info, 6);
  if (!info[10].IsNumber()) throw Napi::TypeError::New(env, "epsilon must be a number");
  float eps = info[10].As<Napi::Number>().FloatValue();
  bool silu = info[11].ToBoolean();
  need(env, x, s.B * s.P * s.C, "x");
  need(env, y, s.B * s.P * s.C, "y");
  need(env, gamma, s.C, "gamma");
  need(env, beta, s.C, "beta");
  need(env, mean, s.B * s.G, "mean");
  need(env, rstd, s.B * s.G, "rstd");
  bool ps = per_sample_affine(env, gamma, beta, s.B, s.C);
  dg::group_norm_forward(s.B, s.P, s.C, s.G, x.p, gamma.p, beta.p, ps, eps, silu, y.p, mean.p, rstd.p);
  return env.Undefined();
}

// groupNormGrad(dy, x, gamma, beta, mean, rstd, dx, dgamma, dbeta, B, P, C, groups, silu): dgamma, dbeta have gamma's length
Napi::Value GroupNormGrad(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  F32 dy = f32(info[0], "dy"), x = f32(info[1], "x"), gamma = f32(info[2], "gamma"), beta = f32(info[3], "beta"),
      mean = f32(info[4], "mean"), rstd = f32(info[5], "rstd"), dx = f32(info[6], "dx"),
      dgamma = f32(info[7], "dgamma"), dbeta = f32(info[8], "dbeta");
  auto s = gn_sizes(info, 9);
  bool silu = info[13].ToBoolean();
  int64_t n = s.B * s.P * s.C;
  need(env, dy, n, "dy");
  need(env, x, n, "x");
  need(env, dx, n, "dx");
  need(env, gamma, s.C, "gamma");
  need(env, beta, s.C, "beta");
  need(env, mean, s.B * s.G, "mean");
  need(env, rstd, s.B * s.G, "rstd");
  bool ps = per_sample_affine(env, gamma, beta, s.B, s.C);
  need(env, dgamma, gamma.n, "dgamma");
  need(env, dbeta, gamma.n, "dbeta");
  dg::group_norm_backward(s.B, s.P, s.C, s.G, dy.p, x.p, gamma.p, beta.p, ps, mean.p, rstd.p, silu, dx.p, dgamma.p,
                          dbeta.p);
  return env.Undefined();
}

}  // namespace

namespace dg {
void register_norm(Napi::Env env, Napi::Object exports) {
  exports.Set("groupNorm", Napi::Function::New(env, GroupNorm));
  exports.Set("groupNormGrad", Napi::Function::New(env, GroupNormGrad));
}
}  // namespace dg
