// Argument checks shared by the addon's N-API wrappers (addon.cc, norm.cc, copy.cc): typed-array views with their
// lengths, non-negative integers, and size checks, so a wrong call throws instead of corrupting memory.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace dg_napi {

struct F32 {
  float* p;
  int64_t n;
};

inline F32 f32(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a Float32Array");
  auto a = v.As<Napi::Float32Array>();
  return {a.Data(), int64_t(a.ElementLength())};
}

inline int64_t i64(const Napi::Value& v, const char* name) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d != std::floor(d) || d > 9.0e15)
    throw Napi::RangeError::New(v.Env(), std::string(name) + " must be a non-negative integer");
  return int64_t(d);
}

inline void need(Napi::Env env, const F32& a, int64_t n, const char* name) {
  if (n > a.n) throw Napi::RangeError::New(env, std::string(name) + " is too small for the given sizes");
}

}  // namespace dg_napi
