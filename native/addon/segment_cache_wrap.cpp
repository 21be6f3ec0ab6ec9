// NativeSegmentCache: the JS face of lmrec::cache::SegmentCache. Lookups and inserts are
// small copies under one mutex and run on the calling thread; save and load run off it.
#include "segment_cache_wrap.h"

#include <memory>

#include "addon_data.h"
#include "args.h"
#include "cache/segment_cache.h"
#include "cache/stress.h"
#include "errors.h"

namespace lmrec::addon {
namespace {

using cache::SegmentCache;
using CachePtr = std::shared_ptr<SegmentCache>;

cache::Storage parse_storage(const std::string& s) {
  if (s == "f16") return cache::Storage::F16;
  if (s == "int8") return cache::Storage::Int8;
  if (s == "f32") return cache::Storage::F32;
  throw Error(ErrorCode::InvalidArgument, "storage must be 'f16', 'int8' or 'f32', got '" + s + "'");
}

class SegmentCacheWrap : public Napi::ObjectWrap<SegmentCacheWrap> {
 public:
  explicit SegmentCacheWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SegmentCacheWrap>(info) {
    guard(info.Env(), [&] {
      const Napi::Value first = arg(info, 0);
      if (first.IsExternal()) {  // from load()
        cache_ = *first.As<Napi::External<CachePtr>>().Data();
        return;
      }
      const Napi::Object o = options_object(first);
      const size_t budget = count(o.Get("budgetBytes"), "budgetBytes", 9007199254740991.0);
      cache_ = std::make_shared<SegmentCache>(budget, parse_storage(string_or(o, "storage", "f16")));
    });
  }

  // get(model, layer, tokens, dim) -> Float32Array [tokens x dim] or null
  Napi::Value Get(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const uint64_t model = cache::model_id(info[0].ToString().Utf8Value());
      const uint32_t layer = uint32_t(count(arg(info, 1), "layer", 1e6));
      const Int32Span tokens = int32_array(arg(info, 2), "tokens");
      const size_t dim = count(arg(info, 3), "dim", 1 << 20);
      if (tokens.size == 0 || dim == 0) throw Error(ErrorCode::InvalidArgument, "an empty segment has no cache entry");
      auto out = Napi::Float32Array::New(info.Env(), tokens.size * dim);
      if (!live()->get(model, layer, tokens.data, tokens.size, dim, out.Data())) return info.Env().Null();
      return out;
    });
  }

  // put(model, layer, tokens, states) -> whether it was cached
  Napi::Value Put(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const uint64_t model = cache::model_id(info[0].ToString().Utf8Value());
      const uint32_t layer = uint32_t(count(arg(info, 1), "layer", 1e6));
      const Int32Span tokens = int32_array(arg(info, 2), "tokens");
      const FloatSpan states = float32_array(arg(info, 3), "states");
      if (tokens.size == 0 || states.size == 0 || states.size % tokens.size)
        throw Error(ErrorCode::DimMismatch, "states must hold tokens x dim floats");
      return Napi::Boolean::New(info.Env(), live()->put(model, layer, tokens.data, tokens.size, states.data, states.size / tokens.size));
    });
  }

  Napi::Value KeepOnly(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      live()->keep_only(cache::model_id(info[0].ToString().Utf8Value()));
      return info.Env().Undefined();
    });
  }

  Napi::Value Clear(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      live()->clear();
      return info.Env().Undefined();
    });
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const cache::CacheStats s = live()->stats();
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("hits", double(s.hits));
      o.Set("misses", double(s.misses));
      o.Set("insertions", double(s.insertions));
      o.Set("evictions", double(s.evictions));
      o.Set("rejected", double(s.rejected));
      o.Set("entries", double(s.entries));
      o.Set("bytes", double(s.bytes));
      o.Set("budgetBytes", double(s.budget));
      const cache::Storage st = live()->storage();
      o.Set("storage", st == cache::Storage::F16 ? "f16" : st == cache::Storage::F32 ? "f32" : "int8");
      return o;
    });
  }

  Napi::Value Save(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const std::string path = path_arg(arg(info, 0));
      CachePtr c = live();
      return PromiseWorker::run(
          info.Env(), "lmrec.cache.save", [c, path] { c->save(path); },
          [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
    });
  }

  static Napi::Value Load(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const std::string path = path_arg(arg(info, 0));
      const size_t budget = count(arg(info, 1), "budgetBytes", 9007199254740991.0);
      auto loaded = std::make_shared<CachePtr>();
      return PromiseWorker::run(
          info.Env(), "lmrec.cache.load", [loaded, path, budget] { *loaded = SegmentCache::load(path, budget); },
          [loaded](Napi::Env env) -> Napi::Value {
            return addon_data(env).segment_cache_class.New({Napi::External<CachePtr>::New(env, loaded.get())});
          });
    });
  }

  // stress(threads, opsPerThread, seed): the concurrency check of cache/stress.h, off the JS thread
  Napi::Value Stress(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const int threads = int(count(arg(info, 0), "threads", 64));
      const size_t ops = count(arg(info, 1), "ops", 1e9);
      const uint64_t seed = count(arg(info, 2), "seed", 1e15);
      CachePtr c = live();
      auto report = std::make_shared<cache::StressReport>();
      return PromiseWorker::run(
          info.Env(), "lmrec.cache.stress", [c, threads, ops, seed, report] { *report = cache::stress(*c, threads, ops, seed); },
          [report](Napi::Env env) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("ops", double(report->ops));
            o.Set("hits", double(report->hits));
            o.Set("wrongValues", double(report->wrong_values));
            o.Set("overBudget", double(report->over_budget));
            o.Set("maxBytes", double(report->max_bytes));
            return o;
          });
    });
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    cache_.reset();
    return info.Env().Undefined();
  }

 private:
  CachePtr live() const {
    if (!cache_) throw Error(ErrorCode::Closed, "this cache was closed");
    return cache_;
  }

  CachePtr cache_;
};

}  // namespace

Napi::Function init_segment_cache_class(Napi::Env env) {
  Napi::Function cls = SegmentCacheWrap::DefineClass(
      env, "NativeSegmentCache",
      {
          SegmentCacheWrap::InstanceMethod<&SegmentCacheWrap::Get>("get"),
          SegmentCacheWrap::InstanceMethod<&SegmentCacheWrap::Put>("put"),
          SegmentCacheWrap::InstanceMethod<&SegmentCacheWrap::KeepOnly>("keepOnly"),
          SegmentCacheWrap::InstanceMethod<&SegmentCacheWrap::Clear>("clear"),
          SegmentCacheWrap::InstanceMethod<&SegmentCacheWrap::Stats>("stats"),
          SegmentCacheWrap::InstanceMethod<&SegmentCacheWrap::Save>("save"),
          SegmentCacheWrap::InstanceMethod<&SegmentCacheWrap::Stress>("stress"),
          SegmentCacheWrap::InstanceMethod<&SegmentCacheWrap::Close>("close"),
          SegmentCacheWrap::StaticMethod<&SegmentCacheWrap::Load>("load"),
      });
  addon_data(env).segment_cache_class = Napi::Persistent(cls);
  return cls;
}

}  // namespace lmrec::addon
