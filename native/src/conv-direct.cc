// Direct NHWC conv2d forward (no im2col): register tiles of MR output pixels x NV vectors of output channels, over an
// input padded once so the inner loop has no bounds checks. AVX-512 and AVX2 variants, picked at run time (x86 only;
// elsewhere conv2d_direct_available() is false).
// conv.cc uses it for forward convs and stride-1 input gradients (a forward conv with the flipped filter).
#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels.h"

namespace dg {
namespace {

typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef int i16 __attribute__((vector_size(64)));
typedef int i8 __attribute__((vector_size(32)));

// All lanes = s. (V{} + s would add to zero first: an extra instruction on the FMA ports, as -0.0 + 0 is not -0.0.)
__attribute__((always_inline)) inline v16 splat(v16*, float s) { return __builtin_shuffle(v16{s}, i16{}); }
__attribute__((always_inline)) inline v8 splat(v8*, float s) { return __builtin_shuffle(v8{s}, i8{}); }


// Arguments of one register tile (forward conv): MR output pixels x NV*VW (or, in the dot kernel, 1) output channels.
struct TileArgs {
  const float* x;         // the tile's first pixel in the padded input; pixel i at x + i * pixStride
  int64_t pixStride;
  const int64_t* koff;    // offsets of the KK filter taps in the padded input
  int64_t KK, C;
  const float* w;         // wide: [KK*C][ldw] at the tile's first channel; dot: [KK*C] of one output channel
  int64_t ldw;
  float* y;               // the tile's first output; pixel i at y + i * ldy
  int64_t ldy, nOut;      // nOut channels stored (wide kernel)
  const float* bias;      // at the tile's first channel, or null
  bool relu;
};

// y[i, 0:nOut] = act(bias + sum_k sum_c x(i)[koff[k] + c] * w[(k*C + c) * ldw + 0:NV*VW]) for the MR pixels i of one
// tile. w holds at least NV*VW readable columns (zero beyond the real channels).
template <class V, int VW, int MR, int NV>
__attribute__((always_inline)) inline void tile_body(const TileArgs& t) {
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[i][v] = V{};
  const int64_t C = t.C, ldw = t.ldw, ps = t.pixStride;
  for (int64_t k = 0; k < t.KK; k++) {
    const float* xk = t.x + t.koff[k];
    const float* wk = t.w + k * C * ldw;
    for (int64_t c = 0; c < C; c++) {
      V b[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) __builtin_memcpy(&b[v], wk + c * ldw + v * VW, sizeof(V));  // unaligned load
#pragma GCC unroll 16
      for (int i = 0; i < MR; i++) {
        V a = splat((V*)nullptr, xk[i * ps + c]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[i][v] += a * b[v];
      }
    }
  }
  if (t.nOut == NV * VW) {
    V bias[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      bias[v] = V{};
      if (t.bias) __builtin_memcpy(&bias[v], t.bias + v * VW, sizeof(V));
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) {
        V o = acc[i][v] + bias[v];
        if (t.relu) o = o > V{} ? o : V{};
        __builtin_memcpy(t.y + i * t.ldy + v * VW, &o, sizeof(V));
      }
  } else {
    for (int i = 0; i < MR; i++) {
      alignas(64) float o[NV * VW];
      for (int v = 0; v < NV; v++) __builtin_memcpy(o + v * VW, &acc[i][v], sizeof(V));
      for (int64_t j = 0; j < t.nOut; j++) {
        float r = o[j] + (t.bias ? t.bias[j] : 0.f);
        t.y[i * t.ldy + j] = t.relu && !(r > 0.f) ? 0.f : r;
      }
    }
  }
}

// Narrow outputs (a few channels): vectors run along the input channels instead, one dot product per output.
// y[i * ldy] = act(bias + sum_k sum_c x(i)[koff[k] + c] * w[k * C + c]) for the MR pixels i of one tile.
template <class V, int VW, int MR>
__attribute__((always_inline)) inline void dot_body(const TileArgs& t) {
  V acc[MR];
  float tail[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) acc[i] = V{}, tail[i] = 0.f;
  const int64_t C = t.C, ps = t.pixStride;
  for (int64_t k = 0; k < t.KK; k++) {
    const float* xk = t.x + t.koff[k];
    const float* wk = t.w + k * C;
    int64_t c = 0;
    for (; c + VW <= C; c += VW) {
      V b;
      __builtin_memcpy(&b, wk + c, sizeof(V));
#pragma GCC unroll 16
      for (int i = 0; i < MR; i++) {
        V a;
        __builtin_memcpy(&a, xk + i * ps + c, sizeof(V));
        acc[i] += a * b;
      }
    }
    for (; c < C; c++)
      for (int i = 0; i < MR; i++) tail[i] += xk[i * ps + c] * wk[c];
  }
  for (int i = 0; i < MR; i++) {
    float s = tail[i] + (t.bias ? t.bias[0] : 0.f);
    for (int l = 0; l < VW; l++) s += acc[i][l];
    t.y[i * t.ldy] = t.relu && !(s > 0.f) ? 0.f : s;
  }
}
using DotFn = void (*)(const TileArgs&);
constexpr int kDotMR = 8;
#if DG_X86  // the AVX-512 and AVX2 instances (never instantiated elsewhere: isa() is null there)
template <int MR>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void dot512(const TileArgs& t) {
  dot_body<v16, 16, MR>(t);
}
template <int MR>
__attribute__((target("avx2,fma"))) void dot256(const TileArgs& t) {
  dot_body<v8, 8, MR>(t);
}
template <size_t... I>
constexpr std::array<DotFn, sizeof...(I)> dots512(std::index_sequence<I...>) {
  return {&dot512<int(I) + 1>...};
}
template <size_t... I>
constexpr std::array<DotFn, sizeof...(I)> dots256(std::index_sequence<I...>) {
  return {&dot256<int(I) + 1>...};
}
#endif

using TileFn = void (*)(const TileArgs&);
constexpr int kMaxMR = 14;  // tables of tile functions are indexed by MR - 1, one table per NV
#if DG_X86  // the AVX-512 and AVX2 instances (never instantiated elsewhere: isa() is null there)
template <int MR, int NV>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void tile512(const TileArgs& t) {
  tile_body<v16, 16, MR, NV>(t);
}
template <int MR, int NV>
__attribute__((target("avx2,fma"))) void tile256(const TileArgs& t) {
  tile_body<v8, 8, MR, NV>(t);
}

template <int NV, size_t... I>
constexpr std::array<TileFn, sizeof...(I)> table512(std::index_sequence<I...>) {
  return {&tile512<int(I) + 1, NV>...};
}
template <int NV, size_t... I>
constexpr std::array<TileFn, sizeof...(I)> table256(std::index_sequence<I...>) {
  return {&tile256<int(I) + 1, NV>...};
}
#endif

// Filter gradient tile: dw[i, 0:NV*VW] += sum over the chunk's output pixels p of x(p)[i] * dy[p, 0:NV*VW] for MR
// consecutive filter rows i (rows (kw, c) of one kh are consecutive in both x and dw when dilW = 1).
// x points at the chunk's padded images (offset to the tile's first row), dy at the chunk's first pixel + oc0.
struct WgradArgs {
  const float* x;
  const float* dy;
  int64_t nImg, OH, OW, imgStrideX, rowStrideX, pixStrideX, OC;
  float* dw;  // row stride OC
};
template <class V, int VW, int MR, int NV>
__attribute__((always_inline)) inline void wgrad_body(const WgradArgs& a) {
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[i][v] = V{};
  const float* d = a.dy;
  for (int64_t n = 0; n < a.nImg; n++)
    for (int64_t oh = 0; oh < a.OH; oh++) {
      const float* xr = a.x + n * a.imgStrideX + oh * a.rowStrideX;
      for (int64_t ow = 0; ow < a.OW; ow++, d += a.OC, xr += a.pixStrideX) {
        V b[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) __builtin_memcpy(&b[v], d + v * VW, sizeof(V));
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
          V s = splat((V*)nullptr, xr[i]);
#pragma GCC unroll 4
          for (int v = 0; v < NV; v++) acc[i][v] += s * b[v];
        }
      }
    }
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      V o;
      __builtin_memcpy(&o, a.dw + i * a.OC + v * VW, sizeof(V));
      o += acc[i][v];
      __builtin_memcpy(a.dw + i * a.OC + v * VW, &o, sizeof(V));
    }
}
using WgradFn = void (*)(const WgradArgs&);
#if DG_X86  // the AVX-512 and AVX2 instances (never instantiated elsewhere: isa() is null there)
template <int MR, int NV>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void wgrad512(const WgradArgs& a) {
  wgrad_body<v16, 16, MR, NV>(a);
}
template <int MR, int NV>
__attribute__((target("avx2,fma"))) void wgrad256(const WgradArgs& a) {
  wgrad_body<v8, 8, MR, NV>(a);
}
template <int NV, size_t... I>
constexpr std::array<WgradFn, sizeof...(I)> wtable512(std::index_sequence<I...>) {
  return {&wgrad512<int(I) + 1, NV>...};
}
template <int NV, size_t... I>
constexpr std::array<WgradFn, sizeof...(I)> wtable256(std::index_sequence<I...>) {
  return {&wgrad256<int(I) + 1, NV>...};
}
#endif

struct Isa {
  int vw;                               // floats per vector
  int maxMR[5];                         // by NV (1, 2, 4)
  const std::array<TileFn, kMaxMR>* t[5];  // by NV
  const std::array<DotFn, kDotMR>* dot;
  const std::array<WgradFn, kMaxMR>* w[5];  // by NV
};

// The kernels for this CPU, or null (no AVX2+FMA, or not x86): conv.cc then uses im2col + sgemm.
const Isa* isa() {
#if !DG_X86
  return nullptr;
#else
  static const std::array<TileFn, kMaxMR> a1 = table512<1>(std::make_index_sequence<kMaxMR>());
  static const std::array<TileFn, kMaxMR> a2 = table512<2>(std::make_index_sequence<kMaxMR>());
  static const std::array<TileFn, kMaxMR> a4 = table512<4>(std::make_index_sequence<kMaxMR>());
  static const std::array<TileFn, kMaxMR> b1 = table256<1>(std::make_index_sequence<kMaxMR>());
  static const std::array<TileFn, kMaxMR> b2 = table256<2>(std::make_index_sequence<kMaxMR>());
  static const std::array<WgradFn, kMaxMR> w1 = wtable512<1>(std::make_index_sequence<kMaxMR>());
  static const std::array<WgradFn, kMaxMR> w2 = wtable512<2>(std::make_index_sequence<kMaxMR>());
  static const std::array<WgradFn, kMaxMR> w4 = wtable512<4>(std::make_index_sequence<kMaxMR>());
  static const std::array<WgradFn, kMaxMR> x1 = wtable256<1>(std::make_index_sequence<kMaxMR>());
  static const std::array<WgradFn, kMaxMR> x2 = wtable256<2>(std::make_index_sequence<kMaxMR>());
  static const std::array<DotFn, kDotMR> d512 = dots512(std::make_index_sequence<kDotMR>());
  static const std::array<DotFn, kDotMR> d256 = dots256(std::make_index_sequence<kDotMR>());
  // AVX-512: 32 registers hold MR*NV accumulators + NV filter vectors + 1 broadcast.
  static const Isa avx512{16, {0, 14, 14, 0, 7}, {nullptr, &a1, &a2, nullptr, &a4}, &d512, {nullptr, &w1, &w2, nullptr, &w4}};
  // AVX2: 16 registers.
  static const Isa avx2{8, {0, 12, 6, 0, 0}, {nullptr, &b1, &b2, nullptr, nullptr}, &d256, {nullptr, &x1, &x2, nullptr, nullptr}};
  static const Isa* chosen = cpu_avx512() ? &avx512 : (cpu_avx2_fma() ? &avx2 : nullptr);
  return chosen;
#endif
}

std::vector<float>& pad_buffer() {
  static std::vector<float> buf;
  return buf;
}
std::vector<float>& filter_buffer() {
  static std::vector<float> buf;
  return buf;
}

}  // namespace

bool conv2d_direct_available() { return isa() != nullptr; }

// Rows [r0, r1) of the padded copy xp[n, r, q, c] = x[n, r - padTop, q - padLeft, c] (zero outside the image), where
// row index = n * Hp + r, written to dst.
static void pad_rows(const ConvGeom& g, const float* x, int64_t Hp, int64_t Wp, int64_t r0, int64_t r1, float* dst) {
  for (int64_t r = r0; r < r1; r++, dst += Wp * g.C) {
    const int64_t n = r / Hp, ih = r % Hp - g.padTop;
    if (ih < 0 || ih >= g.H) {
      std::memset(dst, 0, Wp * g.C * sizeof(float));
      continue;
    }
    const float* src = x + (n * g.H + ih) * g.W * g.C;
    const int64_t q0 = std::min<int64_t>(Wp, std::max<int64_t>(0, g.padLeft));       // first q inside the image
    const int64_t q1 = std::max<int64_t>(q0, std::min<int64_t>(Wp, g.W + g.padLeft));  // end of the inside
    std::memset(dst, 0, q0 * g.C * sizeof(float));
    if (q1 > q0) std::memcpy(dst + q0 * g.C, src + (q0 - g.padLeft) * g.C, (q1 - q0) * g.C * sizeof(float));
    std::memset(dst + q1 * g.C, 0, (Wp - q1) * g.C * sizeof(float));
  }
}

// Whether the narrow-output (dot product) kernel serves this many channels better than padded channel vectors.
static bool use_dot(int64_t C, int64_t OC) { return 2 * OC < isa()->vw && 2 * C >= isa()->vw; }

// y = act(conv(x, w) + bias) for geometry g (bias [OC] or null). Wide outputs: w is [KH, KW, C, OC] with row stride
// ldw >= OC (ldw columns readable, zero beyond OC). Narrow outputs (use_dot): w is [OC, KH, KW, C], ldw unused.
static void run_direct(const ConvGeom& g, const float* x, const float* w, int64_t ldw, float* y, const float* bias,
                       bool relu) {
  const Isa& I = *isa();
  const int64_t Hp = (g.OH - 1) * g.strideH + (g.KH - 1) * g.dilH + 1;
  const int64_t Wp = (g.OW - 1) * g.strideW + (g.KW - 1) * g.dilW + 1;
  std::vector<float>& pb = pad_buffer();
  if (int64_t(pb.size()) < g.N * Hp * Wp * g.C) pb.resize(g.N * Hp * Wp * g.C);
  float* xp = pb.data();
  parallel_for(g.N * Hp, 16, [&](int64_t b, int64_t e) { pad_rows(g, x, Hp, Wp, b, e, xp + b * Wp * g.C); });
  const int64_t KK = g.KH * g.KW;
  std::vector<int64_t> koff(KK);
  for (int64_t kh = 0; kh < g.KH; kh++)
    for (int64_t kw = 0; kw < g.KW; kw++) koff[kh * g.KW + kw] = (kh * g.dilH * Wp + kw * g.dilW) * g.C;
  const int64_t vw = I.vw, pixStride = g.strideW * g.C;
  const int64_t ocVec = (g.OC + vw - 1) / vw;  // vectors of output channels
  if (use_dot(g.C, g.OC)) {
    const auto& fns = *I.dot;
    parallel_for(g.N * g.OH, 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; r++) {
        const int64_t n = r / g.OH, oh = r % g.OH;
        const float* xrow = xp + (n * Hp + oh * g.strideH) * Wp * g.C;
        float* yrow = y + r * g.OW * g.OC;
        for (int64_t o = 0; o < g.OC; o++)
          for (int64_t ow0 = 0; ow0 < g.OW; ow0 += kDotMR) {
            const int64_t mr = std::min<int64_t>(kDotMR, g.OW - ow0);
            fns[mr - 1](TileArgs{xrow + ow0 * pixStride, pixStride, koff.data(), KK, g.C, w + o * KK * g.C, 0,
                                 yrow + ow0 * g.OC + o, g.OC, 1, bias ? bias + o : nullptr, relu});
          }
      }
    });
    return;
  }
  parallel_for(g.N * g.OH, 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) {
      const int64_t n = r / g.OH, oh = r % g.OH;
      const float* xrow = xp + (n * Hp + oh * g.strideH) * Wp * g.C;
      float* yrow = y + r * g.OW * g.OC;
      for (int64_t v0 = 0; v0 < ocVec;) {
        const int64_t left = ocVec - v0;
        const int nv = left >= 4 && I.t[4] ? 4 : left >= 2 ? 2 : 1;
        const int maxMR = I.maxMR[nv];
        const auto& fns = *I.t[nv];
        const int64_t oc0 = v0 * vw, nOut = std::min<int64_t>(nv * vw, g.OC - oc0);
        for (int64_t ow0 = 0; ow0 < g.OW; ow0 += maxMR) {
          const int64_t mr = std::min<int64_t>(maxMR, g.OW - ow0);
          fns[mr - 1](TileArgs{xrow + ow0 * pixStride, pixStride, koff.data(), KK, g.C, w + oc0, ldw,
                               yrow + ow0 * g.OC + oc0, g.OC, nOut, bias ? bias + oc0 : nullptr, relu});
        }
        v0 += nv;
      }
    }
  });
}

// The filter with its channel dimension padded to a whole number of vectors (zeros), when OC is not one already.
static const float* padded_filter(const float* w, int64_t rows, int64_t OC, int64_t ldw) {
  if (ldw == OC) return w;
  std::vector<float>& fb = filter_buffer();
  if (int64_t(fb.size()) < rows * ldw) fb.resize(rows * ldw);
  for (int64_t r = 0; r < rows; r++) {
    std::memcpy(fb.data() + r * ldw, w + r * OC, OC * sizeof(float));
    std::memset(fb.data() + r * ldw + OC, 0, (ldw - OC) * sizeof(float));
  }
  return fb.data();
}

void conv2d_forward_direct(const ConvGeom& g, const float* x, const float* w, float* y, const float* bias, bool relu) {
  const int64_t vw = isa()->vw, ldw = (g.OC + vw - 1) / vw * vw, K = g.KH * g.KW * g.C;
  if (use_dot(g.C, g.OC)) {
    std::vector<float> wt(g.OC * K);  // [OC][KH, KW, C]
    for (int64_t k = 0; k < K; k++)
      for (int64_t o = 0; o < g.OC; o++) wt[o * K + k] = w[k * g.OC + o];
    run_direct(g, x, wt.data(), 0, y, bias, relu);
    return;
  }
  run_direct(g, x, padded_filter(w, g.KH * g.KW * g.C, g.OC, ldw), ldw, y, bias, relu);
}

// Stride-1 input gradient as a forward conv of dy with the filter flipped in space and transposed in channels:
// dx[ih, iw, c] = sum dy[ih - P + kh' d, iw - Q + kw' d, oc] * W[KH-1-kh', KW-1-kw', c, oc], P = (KH-1) d - padTop.
void conv2d_backprop_input_direct(const ConvGeom& g, const float* dy, const float* w, float* dx) {
  const int64_t vw = isa()->vw, ldw = (g.C + vw - 1) / vw * vw, KK = g.KH * g.KW;
  ConvGeom t{g.N, g.OH, g.OW, g.OC, g.KH, g.KW, g.C, g.H, g.W, 1, 1, g.dilH, g.dilW,
             (g.KH - 1) * g.dilH - g.padTop, (g.KW - 1) * g.dilW - g.padLeft};
  if (use_dot(g.OC, g.C)) {
    std::vector<float> wt(g.C * KK * g.OC);  // [C][KH', KW', OC], flipped in space
    for (int64_t k = 0; k < KK; k++) {
      const float* src = w + (KK - 1 - k) * g.C * g.OC;
      for (int64_t c = 0; c < g.C; c++) std::memcpy(wt.data() + (c * KK + k) * g.OC, src + c * g.OC, g.OC * sizeof(float));
    }
    run_direct(t, dy, wt.data(), 0, dx, nullptr, false);
    return;
  }
  std::vector<float> wt(KK * g.OC * ldw, 0.f);
  for (int64_t kh = 0; kh < g.KH; kh++)
    for (int64_t kw = 0; kw < g.KW; kw++) {
      const float* src = w + ((g.KH - 1 - kh) * g.KW + (g.KW - 1 - kw)) * g.C * g.OC;  // [C][OC]
      float* dst = wt.data() + (kh * g.KW + kw) * g.OC * ldw;                         // [OC][ldw]
      for (int64_t c = 0; c < g.C; c++)
        for (int64_t o = 0; o < g.OC; o++) dst[o * ldw + c] = src[c * g.OC + o];
    }
  run_direct(t, dy, wt.data(), ldw, dx, nullptr, false);
}

bool conv2d_backprop_filter_direct_applies(const ConvGeom& g) {
  return isa() != nullptr && g.OC % isa()->vw == 0;
}

// dW[kh, kw, c, oc] = sum over n, oh, ow of xp[n, oh sH + kh dH, ow sW + kw dW, c] * dy[n, oh, ow, oc]. Threads take
// chunks of images (padded into their own buffer, which stays in cache with the chunk's dy) and private sums of dW.
void conv2d_backprop_filter_direct(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  const Isa& I = *isa();
  const int64_t Hp = (g.OH - 1) * g.strideH + (g.KH - 1) * g.dilH + 1;
  const int64_t Wp = (g.OW - 1) * g.strideW + (g.KW - 1) * g.dilW + 1;
  const int64_t imgX = Hp * Wp * g.C, imgDy = g.OH * g.OW * g.OC, K = g.KH * g.KW * g.C;
  const int64_t chunk = std::max<int64_t>(1, (int64_t(384) << 10) / (4 * (imgX + imgDy)));  // ~384 KB per chunk
  const int64_t chunks = (g.N + chunk - 1) / chunk;
  const int64_t T = std::max<int64_t>(1, std::min<int64_t>(threads(), chunks));
  std::vector<std::vector<float>> partial(T);
  // Rows of one tile: (kw, c) runs of one kh when dilW = 1 (contiguous in x and dw), else c runs of one (kh, kw).
  const bool rowsSpanKw = g.dilW == 1;
  const int64_t runs = rowsSpanKw ? g.KH : g.KH * g.KW, runLen = rowsSpanKw ? g.KW * g.C : g.C;
  parallel_for(T, 1, [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; t++) {
      std::vector<float>& acc = partial[t];
      acc.assign(K * g.OC, 0.f);
      std::vector<float> xp(chunk * imgX);
      for (int64_t ch = t * chunks / T; ch < (t + 1) * chunks / T; ch++) {
        const int64_t n0 = ch * chunk, n1 = std::min(g.N, n0 + chunk);
        pad_rows(g, x, Hp, Wp, n0 * Hp, n1 * Hp, xp.data());
        for (int64_t run = 0; run < runs; run++) {
          const int64_t kh = rowsSpanKw ? run : run / g.KW, kw = rowsSpanKw ? 0 : run % g.KW;
          const int64_t xoff = (kh * g.dilH * Wp + kw * g.dilW) * g.C, row0 = (kh * g.KW + kw) * g.C;
          for (int64_t v0 = 0; v0 < g.OC / I.vw;) {
            const int64_t left = g.OC / I.vw - v0;
            const int nv = left >= 4 && I.w[4] ? 4 : left >= 2 ? 2 : 1;
            const int maxMR = I.maxMR[nv];
            for (int64_t r0 = 0; r0 < runLen; r0 += maxMR) {
              const int64_t mr = std::min<int64_t>(maxMR, runLen - r0);
              WgradArgs a{xp.data() + xoff + r0, dy + n0 * imgDy + v0 * I.vw, n1 - n0, g.OH, g.OW, imgX,
                          g.strideH * Wp * g.C, g.strideW * g.C, g.OC, acc.data() + (row0 + r0) * g.OC + v0 * I.vw};
              (*I.w[nv])[mr - 1](a);
            }
            v0 += nv;
          }
        }
      }
    }
  });
  for (int64_t i = 0; i < K * g.OC; i++) {
    float s = 0.f;
    for (int64_t t = 0; t < T; t++) s += partial[t][i];
    dw[i] = s;
  }
}

}  // namespace dg
