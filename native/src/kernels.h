// Kernel entry points shared by the addon files. Row-major float32 throughout; NHWC images, HWIO filters.
#pragma once
#include <cstdint>
#include <algorithm>
#include <string>

namespace Napi {
class Env;
class Object;
}  // namespace Napi

// x86 builds carry AVX2 (+ AVX-512) variants of the hot loops, picked at run time by the CPU's features; other
// architectures (e.g. aarch64) compile only the portable code, and the functions below report no AVX2.
#if defined(__x86_64__) || defined(__i386__)
#define DG_X86 1
#else
#define DG_X86 0
#endif

namespace dg {

// Whether this CPU runs the AVX2+FMA variants (always false off x86). Asked once.
inline bool cpu_avx2_fma() {
#if DG_X86
  static const bool v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return v;
#else
  return false;
#endif
}
// Whether this CPU runs the AVX-512 (F + VL) variants (always false off x86).
inline bool cpu_avx512() {
#if DG_X86
  static const bool v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  return v;
#else
  return false;
#endif
}

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, row-major with leading dimensions.
void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// The built-in blocked, threaded kernel (used when no BLAS library was found; exported for tests).
void sgemm_builtin(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

struct BlasInfo {
  std::string name;     // "OpenBLAS", "MKL", "BLIS", "builtin"
  std::string path;     // resolved library path, or ""
  std::string config;   // e.g. openblas_get_config()
  std::string warning;  // e.g. why a library was rejected
};
const BlasInfo& blas_info();
void blas_init();
int threads();
void set_threads(int n);
const char* simd_name();

// Conv geometry: [N,H,W,C] * [KH,KW,C,OC] -> [N,OH,OW,OC].
struct ConvGeom {
  int64_t N, H, W, C, KH, KW, OC, OH, OW, strideH, strideW, dilH, dilW, padTop, padLeft;
};
// y = act(conv(x, w) + bias): bias [OC] or null, relu or linear.
void conv2d_forward(const ConvGeom& g, const float* x, const float* w, float* y, const float* bias = nullptr,
                    bool relu = false);
void conv2d_backprop_input(const ConvGeom& g, const float* dy, const float* w, float* dx);
void conv2d_backprop_filter(const ConvGeom& g, const float* x, const float* dy, float* dw);
// The direct kernels (conv-direct.cc; need AVX2+FMA or AVX-512). conv2d_forward/backprop_input pick them by
// conv_algo(): 0 auto, 1 always im2col + sgemm, 2 direct whenever it applies.
bool conv2d_direct_available();
void conv2d_forward_direct(const ConvGeom& g, const float* x, const float* w, float* y, const float* bias, bool relu);
void conv2d_backprop_input_direct(const ConvGeom& g, const float* dy, const float* w, float* dx);
bool conv2d_backprop_filter_direct_applies(const ConvGeom& g);
void conv2d_backprop_filter_direct(const ConvGeom& g, const float* x, const float* dy, float* dw);
int conv_algo();
void set_conv_algo(int algo);

// Group norm over NHWC [B, P = H*W, C] with G groups (norm.cc); silu fuses y = z * sigmoid(z). gamma, beta (and
// dgamma, dbeta) are [C], or [B, C] when per_sample.
void group_norm_forward(int64_t B, int64_t P, int64_t C, int64_t G, const float* x, const float* gamma,
                        const float* beta, bool per_sample, float eps, bool silu, float* y, float* mean, float* rstd);
void group_norm_backward(int64_t B, int64_t P, int64_t C, int64_t G, const float* dy, const float* x,
                         const float* gamma, const float* beta, bool per_sample, const float* mean, const float* rstd,
                         bool silu, float* dx, float* dgamma, float* dbeta);
// dst[i . dstStrides] = src[i . srcStrides] for every index i of shape (rank <= 8, 4-byte elements; copy.cc).
void strided_copy4(const uint32_t* src, uint32_t* dst, int rank, const int64_t* shape, const int64_t* srcStrides,
                   const int64_t* dstStrides);
// N-API registration of bias.cc's, norm.cc's and copy.cc's functions (called from addon.cc's Init).
void register_bias(Napi::Env env, Napi::Object exports);
void register_norm(Napi::Env env, Napi::Object exports);
void register_copy(Napi::Env env, Napi::Object exports);

// Runs call(ctx, begin, end) over chunks of [0, n) of `grain` indices on the pool's threads and the caller (pool.cc).
void run_parallel(int64_t n, int64_t grain, void (*call)(void*, int64_t, int64_t), void* ctx);

// Run fn(begin, end) over [0, n) on up to threads() threads, in chunks of at least minPerThread indices (a few
// chunks per thread, handed out dynamically); small ranges run on the caller alone.
template <class F>
void parallel_for(int64_t n, int64_t minPerThread, F fn) {
  if (n <= 0) return;
  const int64_t t = threads();
  if (minPerThread < 1) minPerThread = 1;
  if (t <= 1 || n <= minPerThread) {
    fn(int64_t(0), n);
    return;
  }
  int64_t grain = (n + 4 * t - 1) / (4 * t);
  if (grain < minPerThread) grain = minPerThread;
  run_parallel(n, grain, [](void* c, int64_t b, int64_t e) { (*static_cast<F*>(c))(b, e); }, &fn);
}

}  // namespace dg
