#include "machine_wrap.h"

#include "args.h"
#include "errors.h"
#include "machine/probe.h"
#include "nn/gemm.h"
#include "util/memory.h"
#include "util/thread_pool.h"

namespace lmrec::addon {
namespace {

const simd::Kernels& kernels_arg(const Napi::Value& v) {
  if (v.IsUndefined()) return simd::best_kernels();
  if (!v.IsString()) throw Error(ErrorCode::InvalidArgument, "kernel must be a string");
  const std::string name = v.As<Napi::String>().Utf8Value();
  const simd::Kernels* k = simd::find_kernels(name.c_str());
  if (!k) throw Error(ErrorCode::Unsupported, "kernel '" + name + "' is not available on this CPU");
  return *k;
}

Napi::Value Kernels(const Napi::CallbackInfo& info) {
  const simd::Kernels* list[8];
  const int n = simd::available_kernels(list, 8);
  Napi::Array out = Napi::Array::New(info.Env(), n);
  for (int i = 0; i < n; ++i) out.Set(uint32_t(i), list[i]->name);
  return out;
}

// sgemm(kernel, m, n, k, alpha, a, transA, b, transB, beta, c, threads): C is updated in place.
// Exposed so tests can hold every micro-kernel against the reference.
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const simd::Kernels& k = kernels_arg(arg(info, 0));
    const size_t m = count(arg(info, 1), "m", 1 << 16), n = count(arg(info, 2), "n", 1 << 16);
    const size_t depth = count(arg(info, 3), "k", 1 << 16);
    const float alpha = float(number(arg(info, 4), "alpha")), beta = float(number(arg(info, 9), "beta"));
    const FloatSpan a = float32_array(arg(info, 5), "a"), b = float32_array(arg(info, 7), "b");
    const FloatSpan c = float32_array(arg(info, 10), "c");
    const bool ta = arg(info, 6).ToBoolean().Value(), tb = arg(info, 8).ToBoolean().Value();
    const int threads = int(count(arg(info, 11), "threads", 1024));
    if (a.size != m * depth || b.size != depth * n || c.size != m * n)
      throw Error(ErrorCode::DimMismatch, "sgemm operand sizes do not match m, n, k");
    const nn::Mat A{a.data, ta ? m : depth, ta}, B{b.data, tb ? depth : n, tb};
    nn::sgemm_parallel(m, n, depth, alpha, A, B, beta, const_cast<float*>(c.data), n, threads, k);
    return info.Env().Undefined();
  });
}

// dotRows(kernel, x, dim, q): dot products of q with every dim-float row of x (tests).
Napi::Value DotRows(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const simd::Kernels& k = kernels_arg(arg(info, 0));
    const FloatSpan x = float32_array(arg(info, 1), "x"), q = float32_array(arg(info, 3), "q");
    const size_t dim = count(arg(info, 2), "dim", 1 << 20);
    if (dim == 0 || q.size != dim || x.size % dim)
      throw Error(ErrorCode::DimMismatch, "dotRows: x must hold whole rows of dim floats and q one row");
    auto out = Napi::Float32Array::New(info.Env(), x.size / dim);
    k.dot_rows(x.data, x.size / dim, dim, q.data, out.Data());
    return out;
  });
}

// expShifted(kernel, x, shift): exp(x - shift) elementwise into a new array, and its sum (tests).
Napi::Value ExpShifted(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const simd::Kernels& k = kernels_arg(arg(info, 0));
    const FloatSpan x = float32_array(arg(info, 1), "x");
    const float shift = float(number(arg(info, 2), "shift"));
    auto values = Napi::Float32Array::New(info.Env(), x.size);
    std::copy(x.data, x.data + x.size, values.Data());
    const float sum = k.exp_shifted(values.Data(), x.size, shift);
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("values", values);
    out.Set("sum", sum);
    return out;
  });
}

Napi::Value HardwareThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), hardware_threads());
}

// probeInt8Peak(seconds, kernel?) -> Promise<multiply-adds per second, one core>
Napi::Value ProbeInt8Peak(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const double seconds = number(arg(info, 0), "seconds");
    if (!(seconds > 0 && seconds <= 60)) throw Error(ErrorCode::InvalidArgument, "seconds must be in (0, 60]");
    const simd::Kernels* k = &kernels_arg(arg(info, 1));
    auto result = std::make_shared<double>(0);
    return PromiseWorker::run(
        info.Env(), "lmrec.probe", [k, seconds, result] { *result = machine::int8_macs_per_second(*k, seconds); },
        [result](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *result); });
  });
}

// probeReadBandwidth(bytes, threads, repeats) -> Promise<bytes per second>
Napi::Value ProbeReadBandwidth(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const size_t bytes = count(arg(info, 0), "bytes", double(size_t(1) << 36));
    const int threads = int(count(arg(info, 1), "threads", 1024));
    const int repeats = int(count(arg(info, 2), "repeats", 100));
    if (bytes < (1 << 20) || threads < 1 || repeats < 1)
      throw Error(ErrorCode::InvalidArgument, "need bytes >= 1 MiB, threads >= 1, repeats >= 1");
    auto result = std::make_shared<double>(0);
    return PromiseWorker::run(
        info.Env(), "lmrec.probe",
        [bytes, threads, repeats, result] {
          *result = machine::read_bytes_per_second(simd::best_kernels(), bytes, threads, repeats);
        },
        [result](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *result); });
  });
}

// releaseMemory() -> Promise<boolean>: free heap memory given back to the operating system
// (glibc's malloc_trim), off the JS thread; false where nothing was released or the C library
// cannot.
Napi::Value ReleaseMemory(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto released = std::make_shared<bool>(false);
    return PromiseWorker::run(
        info.Env(), "lmrec.releaseMemory", [released] { *released = release_free_memory(); },
        [released](Napi::Env env) -> Napi::Value { return Napi::Boolean::New(env, *released); });
  });
}

// limitHeapArenas(count) -> boolean: caps glibc's heap arenas (mallopt M_ARENA_MAX) for
// arenas made from now on; false where the C library has no such setting.
Napi::Value LimitHeapArenas(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const size_t arenas = count(arg(info, 0), "count", 1024);
    if (arenas == 0) throw Error(ErrorCode::InvalidArgument, "count must be at least 1");
    return Napi::Boolean::New(info.Env(), limit_heap_arenas(int(arenas)));
  });
}

// heapStats() -> { inUse, held }: the C heap's bytes in use and held from the OS (-1 where the
// C library cannot tell). Walks every arena under its lock: for metrics, not a hot path.
Napi::Value HeapStatsFn(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const HeapStats h = heap_stats();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("inUse", h.in_use);
    o.Set("held", h.held);
    return o;
  });
}

}  // namespace

void init_machine_functions(Napi::Env env, Napi::Object exports) {
  exports.Set("kernels", Napi::Function::New<Kernels>(env, "kernels"));
  exports.Set("sgemm", Napi::Function::New<Sgemm>(env, "sgemm"));
  exports.Set("dotRows", Napi::Function::New<DotRows>(env, "dotRows"));
  exports.Set("expShifted", Napi::Function::New<ExpShifted>(env, "expShifted"));
  exports.Set("hardwareThreads", Napi::Function::New<HardwareThreads>(env, "hardwareThreads"));
  exports.Set("probeInt8Peak", Napi::Function::New<ProbeInt8Peak>(env, "probeInt8Peak"));
  exports.Set("probeReadBandwidth", Napi::Function::New<ProbeReadBandwidth>(env, "probeReadBandwidth"));
  exports.Set("releaseMemory", Napi::Function::New<ReleaseMemory>(env, "releaseMemory"));
  exports.Set("heapStats", Napi::Function::New<HeapStatsFn>(env, "heapStats"));
  exports.Set("limitHeapArenas", Napi::Function::New<LimitHeapArenas>(env, "limitHeapArenas"));
}

}  // namespace lmrec::addon
