// Fused bias + activation (the epilogue of fused matMul/conv2d) and leading-axis sums (bias gradients), with their
// N-API wrappers. The activation codes are one enum, exported to JS as `activations` (kernels.ts reads them there).
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "napi-args.h"

namespace {

using dg_napi::F32;
using dg_napi::f32;
using dg_napi::i64;
using dg_napi::need;

// TensorFlow.js's fused activations; kActNames[code] is the name its attrs use.
enum class Act { Linear, Relu, Relu6, Elu, LeakyRelu, Sigmoid, Prelu, Count };
constexpr const char* kActNames[] = {"linear", "relu", "relu6", "elu", "leakyrelu", "sigmoid", "prelu"};
static_assert(sizeof(kActNames) / sizeof(kActNames[0]) == size_t(Act::Count), "one name per activation");

// biasAct(y, bias | null, activation: an Act code, leakyAlpha, preluAlpha | null), in place.
// bias and preluAlpha repeat along y (length 1 or the last dimension).
Napi::Value BiasAct(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  F32 y = f32(info[0], "y");
  F32 b{nullptr, 0}, p{nullptr, 0};
  if (!info[1].IsNull() && !info[1].IsUndefined()) b = f32(info[1], "bias");
  int64_t code = i64(info[2], "activation");
  if (code >= int64_t(Act::Count)) throw Napi::RangeError::New(env, "unknown activation code (see the addon's activations)");
  const Act act = Act(code);
  float leaky = info[3].ToNumber().FloatValue();
  if (info.Length() > 4 && !info[4].IsNull() && !info[4].IsUndefined()) p = f32(info[4], "preluAlpha");
  if ((b.p && (b.n == 0 || y.n % b.n)) || (p.p && (p.n == 0 || y.n % p.n)))
    throw Napi::RangeError::New(env, "bias/alpha length must divide the output size");
  if (act == Act::Prelu && !p.p) throw Napi::TypeError::New(env, "prelu needs alpha");
  float* o = y.p;
  const int64_t n = y.n;
  dg::parallel_for(n, int64_t(1) << 18, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; i++) {
      float v = o[i];
      if (b.p) v += b.p[i % b.n];
      switch (act) {
        case Act::Relu: v = v > 0.f ? v : 0.f; break;
        case Act::Relu6: v = v < 0.f ? 0.f : (v > 6.f ? 6.f : v); break;
        case Act::Elu: v = v > 0.f ? v : std::expm1(v); break;
        case Act::LeakyRelu: v = v > 0.f ? v : leaky * v; break;
        case Act::Sigmoid: v = 1.f / (1.f + std::exp(-v)); break;
        case Act::Prelu: v = v > 0.f ? v : p.p[i % p.n] * v; break;
        case Act::Linear: case Act::Count: break;
      }
      o[i] = v;
    }
  });
  return env.Undefined();
}

// sumOuter(x, y, outer, inner): y[j] = sum_i x[i * inner + j], the bias gradient of NHWC and dense layers
// (tfjs-backend-wasm transposes the whole tensor first for such reductions). Threads split i into partial sums.
Napi::Value SumOuter(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  F32 x = f32(info[0], "x"), y = f32(info[1], "y");
  int64_t outer = i64(info[2], "outer"), inner = i64(info[3], "inner");
  need(env, x, outer * inner, "x");
  need(env, y, inner, "y");
  // Blocks of 64 rows are summed in float (vectorised along j), then added into double partial sums per block.
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (outer + kBlock - 1) / kBlock;
  int64_t t = std::max<int64_t>(1, std::min<int64_t>(dg::threads(), outer * inner / (int64_t(1) << 16)));
  t = std::min(t, blocks);
  std::vector<double> partial(size_t(std::max<int64_t>(t, 1) * inner), 0.0);
  dg::parallel_for(t, 1, [&](int64_t b, int64_t e) {
    std::vector<float> blockSum(inner);
    for (int64_t p = b; p < e; p++) {
      double* acc = partial.data() + p * inner;
      for (int64_t blk = p * blocks / t; blk < (p + 1) * blocks / t; blk++) {
        const int64_t i0 = blk * kBlock, i1 = std::min(outer, i0 + kBlock);
        std::fill(blockSum.begin(), blockSum.end(), 0.f);
        float* bs = blockSum.data();
        for (int64_t i = i0; i < i1; i++) {
          const float* row = x.p + i * inner;
          for (int64_t j = 0; j < inner; j++) bs[j] += row[j];
        }
        for (int64_t j = 0; j < inner; j++) acc[j] += bs[j];
      }
    }
  });
  for (int64_t j = 0; j < inner; j++) {
    double s = 0;
    for (int64_t p = 0; p < t; p++) s += partial[p * inner + j];
    y.p[j] = float(s);
  }
  return env.Undefined();
}

}  // namespace

namespace dg {
void register_bias(Napi::Env env, Napi::Object exports) {
  exports.Set("biasAct", Napi::Function::New(env, BiasAct));
  exports.Set("sumOuter", Napi::Function::New(env, SumOuter));
  auto codes = Napi::Object::New(env);
  for (int i = 0; i < int(Act::Count); i++) codes.Set(kActNames[i], i);
  codes.Freeze();
  exports.Set("activations", codes);
}
}  // namespace dg
