// Argument readers shared by the wrappers. Each throws an LmrecError naming the argument.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "util/error.h"

namespace lmrec::addon {

struct FloatSpan {
  const float* data;
  size_t size;
};

inline Napi::Value arg(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() ? info[i] : info.Env().Undefined();
}

inline FloatSpan float32_array(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Error(ErrorCode::InvalidArgument, std::string(name) + " must be a Float32Array");
  auto a = v.As<Napi::Float32Array>();
  return {a.Data(), a.ElementLength()};
}

// Ids travel as a Float64Array of non-negative safe integers.
inline std::vector<uint64_t> id_array(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Error(ErrorCode::InvalidArgument, std::string(name) + " must be a Float64Array");
  auto a = v.As<Napi::Float64Array>();
  std::vector<uint64_t> ids(a.ElementLength());
  for (size_t i = 0; i < ids.size(); ++i) {
    const double d = a[i];
    if (!(d >= 0 && d <= 9007199254740991.0) || d != double(uint64_t(d)))
      throw Error(ErrorCode::InvalidArgument, std::string(name) + "[" + std::to_string(i) +
                                                  "] is not a non-negative safe integer id");
    ids[i] = uint64_t(d);
  }
  return ids;
}

inline double number(const Napi::Value& v, const char* name) {
  if (!v.IsNumber()) throw Error(ErrorCode::InvalidArgument, std::string(name) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

// A non-negative integer no larger than `max`.
inline size_t count(const Napi::Value& v, const char* name, double max, ErrorCode code = ErrorCode::InvalidArgument) {
  const double d = number(v, name);
  if (!(d >= 0 && d <= max) || d != double(size_t(d)))
    throw Error(code, std::string(name) + " must be an integer between 0 and " + std::to_string(size_t(max)) +
                          ", got " + std::to_string(d));
  return size_t(d);
}

inline std::string string_or(const Napi::Object& o, const char* key, const std::string& fallback) {
  const Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsString()) throw Error(ErrorCode::InvalidArgument, std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

inline int parse_threads(const Napi::Object& o) {
  const Napi::Value v = o.Get("threads");
  return v.IsUndefined() ? 0 : int(count(v, "threads", 1024));
}

inline Napi::Object options_object(const Napi::Value& v) {
  if (v.IsUndefined()) return Napi::Object::New(v.Env());
  if (!v.IsObject()) throw Error(ErrorCode::InvalidArgument, "options must be an object");
  return v.As<Napi::Object>();
}

inline std::string path_arg(const Napi::Value& v) {
  if (!v.IsString()) throw Error(ErrorCode::InvalidArgument, "path must be a string");
  return v.As<Napi::String>().Utf8Value();
}

struct Int32Span {
  const int32_t* data;
  size_t size;
};

inline Int32Span int32_array(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Error(ErrorCode::InvalidArgument, std::string(name) + " must be an Int32Array");
  auto a = v.As<Napi::Int32Array>();
  return {a.Data(), a.ElementLength()};
}

// A Uint32Array or Uint8Array, read in place.
template <class T>
struct Span {
  const T* data;
  size_t size;
};

inline Span<uint32_t> uint32_array(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    throw Error(ErrorCode::InvalidArgument, std::string(name) + " must be a Uint32Array");
  auto a = v.As<Napi::Uint32Array>();
  return {a.Data(), a.ElementLength()};
}

inline Span<uint8_t> uint8_array(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Error(ErrorCode::InvalidArgument, std::string(name) + " must be a Uint8Array");
  auto a = v.As<Napi::Uint8Array>();
  return {a.Data(), a.ElementLength()};
}

// An optional number option; `fallback` when absent.
inline double number_or(const Napi::Object& o, const char* key, double fallback) {
  const Napi::Value v = o.Get(key);
  return v.IsUndefined() ? fallback : number(v, key);
}

}  // namespace lmrec::addon
