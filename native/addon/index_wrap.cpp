// NativeIndex: the JS face of lmrec::KnnIndex (flat VectorIndex or partitioned IvfIndex). Validates arguments, copies inputs that
// async work reads later, and runs long work (batched search, save, load) off the JS thread.
#include "index_wrap.h"

#include <memory>

#include "addon_data.h"
#include "args.h"
#include "errors.h"
#include "index/ivf_index.h"
#include "index/vector_index.h"

namespace lmrec::addon {
namespace {

using IndexPtr = std::shared_ptr<KnnIndex>;

Metric parse_metric(const std::string& s) {
  if (s == "ip") return Metric::InnerProduct;
  if (s == "cosine") return Metric::Cosine;
  if (s == "l2") return Metric::L2;
  throw Error(ErrorCode::InvalidArgument, "metric must be 'ip', 'cosine' or 'l2', got '" + s + "'");
}

simd::Storage parse_storage(const std::string& s) {
  if (s == "int8") return simd::Storage::Int8;
  if (s == "f16") return simd::Storage::F16;
  if (s == "f32") return simd::Storage::F32;
  throw Error(ErrorCode::InvalidArgument, "storage must be 'int8', 'f16' or 'f32', got '" + s + "'");
}

const simd::Kernels* parse_kernels(const Napi::Object& o) {
  const std::string name = string_or(o, "kernel", "");
  if (name.empty()) return nullptr;
  if (const simd::Kernels* k = simd::find_kernels(name.c_str())) return k;
  throw Error(ErrorCode::Unsupported, "kernel '" + name + "' is not available on this CPU (see kernels())");
}

// A search request: its queries (copied when async work reads them later), its parameters,
// and output arrays sized before any work, once k is bounded by the index size and the
// per-call limit (a huge k or batch fails here, before memory is touched).
struct SearchRequest {
  std::vector<float> queries;
  size_t nq = 0;
  SearchParams params;
  std::shared_ptr<IdFilter> filter;  // params.filter points at it
  std::vector<uint64_t> ids;
  std::vector<float> scores;
  size_t per_query = 0;  // results per query the search returned
};

SearchRequest read_search(const Napi::CallbackInfo& info, const KnnIndex& index, bool copy,
                          FloatSpan* view) {
  SearchRequest r;
  const FloatSpan q = float32_array(arg(info, 0), "queries");
  const size_t dim = index.options().dim;
  if (q.size == 0) throw Error(ErrorCode::InvalidArgument, "no queries given");
  if (q.size % dim != 0)
    throw Error(ErrorCode::DimMismatch, "queries hold " + std::to_string(q.size) +
                                            " floats, not a multiple of the index dimension " + std::to_string(dim));
  r.nq = q.size / dim;
  r.params.k = count(arg(info, 1), "k", 9007199254740991.0, ErrorCode::InvalidK);
  const Napi::Value rescore = arg(info, 2);
  r.params.rescore = rescore.IsUndefined() ? 0 : count(rescore, "rescore", 1024);
  // optional filter: { ids: Float64Array, only: boolean }
  const Napi::Value filter = arg(info, 3);
  if (!filter.IsUndefined()) {
    const Napi::Object f = options_object(filter);
    const std::vector<uint64_t> ids = id_array(f.Get("ids"), "filter ids");
    r.filter = std::make_shared<IdFilter>(ids.data(), ids.size(), f.Get("only").ToBoolean().Value());
    r.params.filter = r.filter.get();
  }
  // partitioned indexes: { probe, recall }
  const Napi::Value probe = arg(info, 4);
  if (!probe.IsUndefined()) {
    r.params.probe = count(probe, "probe", double(IvfIndex::kMaxPartitions));
    if (r.params.probe == 0) throw Error(ErrorCode::InvalidArgument, "probe must be at least 1");
  }
  const Napi::Value recall = arg(info, 5);
  if (!recall.IsUndefined()) {
    const double v = number(recall, "recall");
    if (!(v > 0 && v <= 1)) throw Error(ErrorCode::InvalidArgument, "recall must be greater than 0 and at most 1");
    r.params.recall = v;
  }
  // k = 0 and an empty index come out as 0 results here; the search itself reports them
  r.params.k = index.result_count(r.nq, r.params.k);
  r.ids.resize(r.nq * r.params.k);
  r.scores.resize(r.ids.size());
  if (copy) r.queries.assign(q.data, q.data + q.size);
  *view = q;
  return r;
}

Napi::Object result_object(Napi::Env env, const SearchRequest& r) {
  const size_t n = r.nq * r.per_query;
  auto out_ids = Napi::Float64Array::New(env, n);
  auto out_scores = Napi::Float32Array::New(env, n);
  for (size_t i = 0; i < n; ++i) out_ids[i] = double(r.ids[i]);
  std::copy_n(r.scores.begin(), n, out_scores.Data());
  Napi::Object o = Napi::Object::New(env);
  o.Set("ids", out_ids);
  o.Set("scores", out_scores);
  o.Set("k", double(r.per_query));
  return o;
}

// Ids and vectors of an add, copied for the worker thread.
// The vectors are read where they lie, in the caller's Float32Array, on libuv's thread: a copy
// on the JS thread (tens of MB for a catalog) stalled the event loop. The reference keeps the
// array alive; the caller leaves it alone until the promise settles (as fs.write's buffers).
struct AddRequest {
  std::vector<uint64_t> ids;
  std::shared_ptr<Napi::ObjectReference> keep;
  const float* vectors = nullptr;
};

class IndexWrap : public Napi::ObjectWrap<IndexWrap> {
 public:
  explicit IndexWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IndexWrap>(info) {
    guard(info.Env(), [&] {
      const Napi::Value first = arg(info, 0);
      if (first.IsExternal()) {  // from load(): adopts an index built off-thread
        index_ = *first.As<Napi::External<IndexPtr>>().Data();
        return;
      }
      const Napi::Object o = options_object(first);
      IndexOptions opt;
      opt.dim = count(o.Get("dim"), "dim", double(KnnIndex::kMaxDim));
      opt.metric = parse_metric(string_or(o, "metric", "ip"));
      opt.storage = parse_storage(string_or(o, "storage", "int8"));
      const Napi::Value keep = o.Get("keepOriginals");
      opt.keep_originals = keep.IsBoolean() && keep.As<Napi::Boolean>().Value();
      opt.threads = parse_threads(o);
      opt.kernels = parse_kernels(o);
      const Napi::Value partitions = o.Get("partitions");
      if (!partitions.IsUndefined()) {
        opt.partitioned = true;
        if (!(partitions.IsString() && partitions.As<Napi::String>().Utf8Value() == "auto")) {
          if (!partitions.IsNumber()) throw Error(ErrorCode::InvalidArgument, "partitions must be 'auto' or a number");
          opt.partitions = count(partitions, "partitions", double(IvfIndex::kMaxPartitions));
          if (opt.partitions == 0) throw Error(ErrorCode::InvalidArgument, "partitions must be at least 1 (or 'auto')");
        }
        const Napi::Value seed = o.Get("seed");
        if (!seed.IsUndefined()) opt.seed = uint64_t(count(seed, "seed", 4294967295.0));
      }
      if (opt.partitioned) index_ = std::make_shared<IvfIndex>(opt);
      else index_ = std::make_shared<VectorIndex>(opt);
    });
  }

  // add and remove run on libuv's threads: they wait for searches in flight, which must not
  // stall the event loop.
  Napi::Value Add(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      IndexPtr index = live();
      auto r = std::make_shared<AddRequest>();
      r->ids = id_array(arg(info, 0), "ids");
      const FloatSpan v = float32_array(arg(info, 1), "vectors");
      const size_t dim = index->options().dim;
      if (v.size != r->ids.size() * dim)
        throw Error(ErrorCode::DimMismatch, std::to_string(r->ids.size()) + " ids need " +
                                                std::to_string(r->ids.size() * dim) + " floats (dim " +
                                                std::to_string(dim) + "), got " + std::to_string(v.size));
      r->keep = std::make_shared<Napi::ObjectReference>(Napi::Persistent(arg(info, 1).As<Napi::Object>()));
      r->vectors = v.data;
      return PromiseWorker::run(
          info.Env(), "lmrec.add", [index, r] { index->add(r->ids.data(), r->vectors, r->ids.size()); },
          [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
    });
  }

  Napi::Value Remove(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      IndexPtr index = live();
      auto ids = std::make_shared<std::vector<uint64_t>>(id_array(arg(info, 0), "ids"));
      return PromiseWorker::run(
          info.Env(), "lmrec.remove", [index, ids] { index->remove(ids->data(), ids->size()); },
          [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
    });
  }

  // Drops this handle's reference off the JS thread: freeing a catalog's vectors there stalled
  // the requests behind it. Work in flight keeps its own reference until it ends.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    auto doomed = std::make_shared<IndexPtr>(std::move(index_));
    return PromiseWorker::run(
        info.Env(), "lmrec.close", [doomed] { doomed->reset(); },
        [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value Has(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const double d = number(arg(info, 0), "id");
      const bool valid = d >= 0 && d <= 9007199254740991.0 && d == double(uint64_t(d));
      return Napi::Boolean::New(info.Env(), valid && live()->has(uint64_t(d)));
    });
  }

  Napi::Value Size(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), double(live()->size())); });
  }

  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      return Napi::Number::New(info.Env(), double(live()->memory_bytes()));
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!index_) return env.Null();
    const IndexOptions& o = index_->options();
    Napi::Object out = Napi::Object::New(env);
    out.Set("dim", double(o.dim));
    out.Set("metric", metric_name(o.metric));
    out.Set("storage", storage_name(o.storage));
    out.Set("keepOriginals", o.keep_originals);
    out.Set("threads", double(o.threads));
    out.Set("kernel", o.kernels->name);
    out.Set("partitioned", o.partitioned);
    return out;
  }

  // Partitioned indexes: partitions in use and the last training's probe-vs-recall curve.
  Napi::Value Partitions(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      IndexPtr index = live();
      Napi::Env env = info.Env();
      Napi::Object out = Napi::Object::New(env);
      out.Set("count", double(index->partitions()));
      Napi::Array curve = Napi::Array::New(env);
      if (auto* ivf = dynamic_cast<const IvfIndex*>(index.get())) {
        const std::vector<CalibrationPoint> c = ivf->calibration();
        for (size_t i = 0; i < c.size(); ++i) {
          Napi::Object point = Napi::Object::New(env);
          point.Set("probe", double(c[i].probe));
          point.Set("recall", double(c[i].recall));
          curve.Set(uint32_t(i), point);
        }
      }
      out.Set("calibration", curve);
      return out;
    });
  }

  // Sync search: for small indexes and single queries where a thread hop costs more.
  Napi::Value Search(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      IndexPtr index = live();
      FloatSpan q;
      SearchRequest r = read_search(info, *index, false, &q);
      r.per_query = index->search(q.data, r.nq, r.params, r.ids.data(), r.scores.data());
      return result_object(info.Env(), r);
    });
  }

  Napi::Value SearchAsync(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      IndexPtr index = live();
      FloatSpan q;
      auto r = std::make_shared<SearchRequest>(read_search(info, *index, true, &q));
      return PromiseWorker::run(
          info.Env(), "lmrec.search",
          [index, r] { r->per_query = index->search(r->queries.data(), r->nq, r->params, r->ids.data(), r->scores.data()); },
          [r](Napi::Env env) -> Napi::Value { return result_object(env, *r); });
    });
  }

  Napi::Value Save(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const std::string path = path_arg(arg(info, 0));
      IndexPtr index = live();
      return PromiseWorker::run(
          info.Env(), "lmrec.save", [index, path] { index->save(path); },
          [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
    });
  }

  // emptyCopy() -> NativeIndex: no vectors, these options and (partitioned) these partitions.
  Napi::Value EmptyCopy(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      IndexPtr copy = live()->empty_copy();
      return addon_data(info.Env()).index_class.New({Napi::External<IndexPtr>::New(info.Env(), &copy)});
    });
  }

  static Napi::Value Load(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const std::string path = path_arg(arg(info, 0));
      const Napi::Object o = options_object(arg(info, 1));
      LoadOptions opt;
      const Napi::Value map = o.Get("mmap"), verify = o.Get("verify");
      opt.map = map.IsBoolean() && map.As<Napi::Boolean>().Value();
      opt.verify = !verify.IsBoolean() || verify.As<Napi::Boolean>().Value();
      opt.threads = parse_threads(o);
      opt.kernels = parse_kernels(o);
      auto loaded = std::make_shared<IndexPtr>();
      return PromiseWorker::run(
          info.Env(), "lmrec.load", [loaded, path, opt] { *loaded = load_index(path, opt); },
          [loaded](Napi::Env env) -> Napi::Value {
            return addon_data(env).index_class.New({Napi::External<IndexPtr>::New(env, loaded.get())});
          });
    });
  }

 private:
  IndexPtr live() const {
    if (!index_) throw Error(ErrorCode::Closed, "this index was closed");
    return index_;
  }

  IndexPtr index_;
};

}  // namespace

Napi::Function init_index_class(Napi::Env env) {
  Napi::Function cls = IndexWrap::DefineClass(
      env, "NativeIndex",
      {
          IndexWrap::InstanceMethod<&IndexWrap::Add>("add"),
          IndexWrap::InstanceMethod<&IndexWrap::Remove>("remove"),
          IndexWrap::InstanceMethod<&IndexWrap::Has>("has"),
          IndexWrap::InstanceMethod<&IndexWrap::Size>("size"),
          IndexWrap::InstanceMethod<&IndexWrap::MemoryBytes>("memoryBytes"),
          IndexWrap::InstanceMethod<&IndexWrap::Info>("info"),
          IndexWrap::InstanceMethod<&IndexWrap::Partitions>("partitions"),
          IndexWrap::InstanceMethod<&IndexWrap::Search>("search"),
          IndexWrap::InstanceMethod<&IndexWrap::SearchAsync>("searchAsync"),
          IndexWrap::InstanceMethod<&IndexWrap::EmptyCopy>("emptyCopy"),
          IndexWrap::InstanceMethod<&IndexWrap::Save>("save"),
          IndexWrap::InstanceMethod<&IndexWrap::Close>("close"),
          IndexWrap::StaticMethod<&IndexWrap::Load>("load"),
      });
  addon_data(env).index_class = Napi::Persistent(cls);
  return cls;
}

}  // namespace lmrec::addon
