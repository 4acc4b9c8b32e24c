// Strided copy of 4-byte elements (float32/int32) behind the native backend's Concat, SplitV and Slice kernels,
// and its N-API wrapper. Dimensions are merged where both sides are contiguous; contiguous runs use memcpy.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <string>

#include "kernels.h"
#include "napi-args.h"

namespace dg {

void strided_copy4(const uint32_t* src, uint32_t* dst, int rank, const int64_t* shape, const int64_t* srcStrides,
                   const int64_t* dstStrides) {
  constexpr int kMax = 8;
  int64_t sh[kMax], ss[kMax], ds[kMax];
  int r = 0;
  for (int i = 0; i < rank; i++) {
    if (shape[i] == 0) return;
    if (shape[i] == 1) continue;
    if (r > 0 && ss[r - 1] == shape[i] * srcStrides[i] && ds[r - 1] == shape[i] * dstStrides[i]) {
      sh[r - 1] *= shape[i];  // merge with the previous dimension
      ss[r - 1] = srcStrides[i];
      ds[r - 1] = dstStrides[i];
      continue;
    }
    sh[r] = shape[i];
    ss[r] = srcStrides[i];
    ds[r] = dstStrides[i];
    r++;
  }
  if (r == 0) {
    *dst = *src;
    return;
  }
  const int64_t len = sh[r - 1], sIn = ss[r - 1], dIn = ds[r - 1];
  const bool contiguous = sIn == 1 && dIn == 1;
  int64_t runs = 1;
  for (int i = 0; i < r - 1; i++) runs *= sh[i];
  const int outer = r - 1;
  // at least ~256K elements per thread
  int64_t minRuns = (int64_t(1) << 18) / len;
  parallel_for(runs, minRuns < 1 ? 1 : minRuns, [&](int64_t r0, int64_t r1) {
    int64_t idx[kMax] = {0}, so = 0, doff = 0, rem = r0;
    for (int i = outer - 1; i >= 0; i--) {
      idx[i] = rem % sh[i];
      rem /= sh[i];
      so += idx[i] * ss[i];
      doff += idx[i] * ds[i];
    }
    for (int64_t k = r0; k < r1; k++) {
      if (contiguous) {
        std::memcpy(dst + doff, src + so, size_t(len) * 4);
      } else {
        const uint32_t* s = src + so;
        uint32_t* d = dst + doff;
        for (int64_t j = 0; j < len; j++) d[j * dIn] = s[j * sIn];
      }
      for (int i = outer - 1; i >= 0; i--) {  // next outer index
        so += ss[i];
        doff += ds[i];
        if (++idx[i] < sh[i]) break;
        so -= ss[i] * sh[i];
        doff -= ds[i] * sh[i];
        idx[i] = 0;
      }
    }
  });
}

}  // namespace dg

namespace {

using dg_napi::i64;

struct U32 {
  uint32_t* p;
  int64_t n;
};

U32 u32(const Napi::Value& v, const char* name) {
  if (v.IsTypedArray()) {
    auto t = v.As<Napi::TypedArray>();
    auto ty = t.TypedArrayType();
    if (ty == napi_float32_array || ty == napi_int32_array || ty == napi_uint32_array) {
      auto* base = static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
      return {reinterpret_cast<uint32_t*>(base), int64_t(t.ElementLength())};
    }
  }
  throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a Float32Array, Int32Array or Uint32Array");
}

// Reads an array of `rank` non-negative integers.
void ints(const Napi::Value& v, uint32_t rank, int64_t* out, const char* name) {
  if (!v.IsArray() || v.As<Napi::Array>().Length() != rank)
    throw Napi::TypeError::New(v.Env(), std::string(name) + " must be an array of the shape's length");
  auto a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < rank; i++) out[i] = i64(a.Get(i), name);
}

// copyStrided(src, srcOffset, dst, dstOffset, shape, srcStrides, dstStrides): for every index i of `shape`,
// dst[dstOffset + i . dstStrides] = src[srcOffset + i . srcStrides]; 4-byte elements, rank <= 8.
Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  U32 src = u32(info[0], "src"), dst = u32(info[2], "dst");
  int64_t so = i64(info[1], "srcOffset"), dof = i64(info[3], "dstOffset");
  if (!info[4].IsArray()) throw Napi::TypeError::New(env, "shape must be an array");
  uint32_t rank = info[4].As<Napi::Array>().Length();
  if (rank > 8) throw Napi::RangeError::New(env, "copyStrided supports rank <= 8");
  int64_t shape[8], ss[8], ds[8];
  ints(info[4], rank, shape, "shape");
  ints(info[5], rank, ss, "srcStrides");
  ints(info[6], rank, ds, "dstStrides");
  double sMax = double(so), dMax = double(dof);
  for (uint32_t i = 0; i < rank; i++) {
    if (shape[i] == 0) return env.Undefined();
    sMax += double(shape[i] - 1) * double(ss[i]);
    dMax += double(shape[i] - 1) * double(ds[i]);
  }
  if (sMax >= double(src.n)) throw Napi::RangeError::New(env, "src is too small for the given shape and strides");
  if (dMax >= double(dst.n)) throw Napi::RangeError::New(env, "dst is too small for the given shape and strides");
  dg::strided_copy4(src.p + so, dst.p + dof, int(rank), shape, ss, ds);
  return env.Undefined();
}

}  // namespace

namespace dg {
void register_copy(Napi::Env env, Napi::Object exports) {
  exports.Set("copyStrided", Napi::Function::New(env, CopyStrided));
}
}  // namespace dg
