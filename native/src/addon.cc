// N-API surface of the addon: argument checks (sizes against the typed arrays, so a wrong call throws instead of
// corrupting memory) and the calls into the kernels. All arrays are Float32Array views (e.g. over the wasm heap).
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <vector>
#include <string>

#include "kernels.h"
#include "napi-args.h"

namespace {

using dg_napi::F32;
using dg_napi::f32;
using dg_napi::i64;
using dg_napi::need;

// Elements spanned by a row-major matrix of `rows` x `cols` with leading dimension ld.
int64_t span(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }

Napi::Value Info(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const auto& b = dg::blas_info();
  auto o = Napi::Object::New(env);
  o.Set("blas", b.name);
  o.Set("blasPath", b.path);
  o.Set("blasConfig", b.config);
  o.Set("warning", b.warning);
  o.Set("threads", dg::threads());
  o.Set("simd", dg::simd_name());
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  dg::set_threads(int(i64(info[0], "threads")));
  return Napi::Number::New(info.Env(), dg::threads());
}

// sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, builtin?)
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  bool tA = info[0].ToBoolean(), tB = info[1].ToBoolean();
  int64_t M = i64(info[2], "M"), N = i64(info[3], "N"), K = i64(info[4], "K");
  float alpha = info[5].ToNumber().FloatValue();
  F32 A = f32(info[6], "A"), B = f32(info[8], "B"), C = f32(info[11], "C");
  int64_t lda = i64(info[7], "lda"), ldb = i64(info[9], "ldb"), ldc = i64(info[12], "ldc");
  float beta = info[10].ToNumber().FloatValue();
  bool builtin = info.Length() > 13 && info[13].ToBoolean();
  if (lda < (tA ? M : K) || ldb < (tB ? K : N) || ldc < N)
    throw Napi::RangeError::New(env, "leading dimension smaller than the matrix width");
  need(env, A, tA ? span(K, M, lda) : span(M, K, lda), "A");
  need(env, B, tB ? span(N, K, ldb) : span(K, N, ldb), "B");
  need(env, C, span(M, N, ldc), "C");
  (builtin ? dg::sgemm_builtin : dg::sgemm)(tA, tB, M, N, K, alpha, A.p, lda, B.p, ldb, beta, C.p, ldc);
  return env.Undefined();
}

// batchMatMul(A, B, C, aIndex: Int32Array, bIndex: Int32Array, M, N, K, transA, transB):
// C[i] = op(A[aIndex[i]]) * op(B[bIndex[i]]) for every output batch i (the caller resolves broadcasting).
Napi::Value BatchMatMul(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  F32 A = f32(info[0], "A"), B = f32(info[1], "B"), C = f32(info[2], "C");
  if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      !info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(env, "batch indices must be Int32Arrays");
  auto ai = info[3].As<Napi::Int32Array>(), bi = info[4].As<Napi::Int32Array>();
  int64_t M = i64(info[5], "M"), N = i64(info[6], "N"), K = i64(info[7], "K");
  bool tA = info[8].ToBoolean(), tB = info[9].ToBoolean();
  int64_t batch = int64_t(ai.ElementLength());
  if (int64_t(bi.ElementLength()) != batch) throw Napi::RangeError::New(env, "batch index lengths differ");
  need(env, C, batch * M * N, "C");
  for (int64_t i = 0; i < batch; i++) {
    int64_t a = ai.Data()[i], b = bi.Data()[i];
    if (a < 0 || b < 0) throw Napi::RangeError::New(env, "negative batch index");
    need(env, A, (a + 1) * M * K, "A");
    need(env, B, (b + 1) * K * N, "B");
  }
  const int32_t *ap = ai.Data(), *bp = bi.Data();
  auto one = [&](int64_t i, bool builtin) {
    (builtin ? dg::sgemm_builtin : dg::sgemm)(tA, tB, M, N, K, 1.f, A.p + ap[i] * M * K, tA ? M : K, B.p + bp[i] * K * N,
                                             tB ? K : N, 0.f, C.p + i * M * N, N);
  };
  if (batch > 1 && double(M) * double(N) * double(K) < double(1 << 22)) {
    // many small products (e.g. attention): one thread per product with the built-in kernel (run serially inside
    // the pool), instead of a BLAS call per product whose thread start-up dwarfs the work
    dg::parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; i++) one(i, true);
    });
  } else {
    for (int64_t i = 0; i < batch; i++) one(i, false);
  }
  return env.Undefined();
}

dg::ConvGeom geom(const Napi::Value& v) {
  auto env = v.Env();
  if (!v.IsArray()) throw Napi::TypeError::New(env, "conv geometry must be an array of 15 integers");
  auto a = v.As<Napi::Array>();
  if (a.Length() != 15) throw Napi::TypeError::New(env, "conv geometry must be an array of 15 integers");
  int64_t g[15];
  for (uint32_t i = 0; i < 15; i++) {
    Napi::Value e = a[i];
    if (!e.IsNumber()) throw Napi::TypeError::New(env, "conv geometry must be integers");
    g[i] = e.As<Napi::Number>().Int64Value();
  }
  dg::ConvGeom c{g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13], g[14]};
  for (int i = 0; i < 9; i++)
    if (g[i] < 0) throw Napi::RangeError::New(env, "negative conv size");
  if (c.strideH < 1 || c.strideW < 1 || c.dilH < 1 || c.dilW < 1)
    throw Napi::RangeError::New(env, "strides and dilations must be >= 1");
  return c;
}

// conv2d(x, w, y, geom, bias?, relu?), conv2dBackpropInput(dy, w, dx, geom), conv2dBackpropFilter(x, dy, dw, geom)
// geom = [N, H, W, C, KH, KW, OC, OH, OW, strideH, strideW, dilH, dilW, padTop, padLeft]
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto g = geom(info[3]);
  F32 x = f32(info[0], "x"), w = f32(info[1], "filter"), y = f32(info[2], "y");
  need(env, x, g.N * g.H * g.W * g.C, "x");
  need(env, w, g.KH * g.KW * g.C * g.OC, "filter");
  need(env, y, g.N * g.OH * g.OW * g.OC, "y");
  // optional epilogue: bias [OC] (or null) and relu (boolean)
  F32 bias{nullptr, 0};
  if (info.Length() > 4 && !info[4].IsNull() && !info[4].IsUndefined()) {
    bias = f32(info[4], "bias");
    if (bias.n != g.OC) throw Napi::RangeError::New(env, "bias length must equal the output channels");
  }
  bool relu = info.Length() > 5 && info[5].ToBoolean();
  dg::conv2d_forward(g, x.p, w.p, y.p, bias.p, relu);
  return env.Undefined();
}
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto g = geom(info[3]);
  F32 dy = f32(info[0], "dy"), w = f32(info[1], "filter"), dx = f32(info[2], "dx");
  need(env, dy, g.N * g.OH * g.OW * g.OC, "dy");
  need(env, w, g.KH * g.KW * g.C * g.OC, "filter");
  need(env, dx, g.N * g.H * g.W * g.C, "dx");
  dg::conv2d_backprop_input(g, dy.p, w.p, dx.p);
  return env.Undefined();
}
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto g = geom(info[3]);
  F32 x = f32(info[0], "x"), dy = f32(info[1], "dy"), dw = f32(info[2], "dw");
  need(env, x, g.N * g.H * g.W * g.C, "x");
  need(env, dy, g.N * g.OH * g.OW * g.OC, "dy");
  need(env, dw, g.KH * g.KW * g.C * g.OC, "dw");
  dg::conv2d_backprop_filter(g, x.p, dy.p, dw.p);
  return env.Undefined();
}

Napi::Value ConvAlgo(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    int64_t a = i64(info[0], "algo");
    if (a > 2) throw Napi::RangeError::New(info.Env(), "conv algorithm must be 0 (auto), 1 (im2col) or 2 (direct)");
    dg::set_conv_algo(int(a));
  }
  return Napi::Number::New(info.Env(), dg::conv_algo());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  dg::blas_init();
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("sgemm", Napi::Function::New(env, Sgemm));
  exports.Set("batchMatMul", Napi::Function::New(env, BatchMatMul));
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBackpropInput));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBackpropFilter));
  exports.Set("convAlgo", Napi::Function::New(env, ConvAlgo));
  exports.Set("directConv", Napi::Boolean::New(env, dg::conv2d_direct_available()));
  dg::register_bias(env, exports);
  dg::register_norm(env, exports);
  dg::register_copy(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(deepgen_native, Init)
