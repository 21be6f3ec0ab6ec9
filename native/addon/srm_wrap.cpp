// NativeSrm: the JS face of lmrec::srm::SequentialModel. Sequences arrive as a flat Int32Array of
// items plus a Float64Array of offsets (CSR); training, batched scoring and file I/O run off
// the JS thread.
#include "srm_wrap.h"

#include <memory>

#include "addon_data.h"
#include "args.h"
#include "errors.h"
#include "srm/sequential_model.h"

namespace lmrec::addon {
namespace {

using srm::SequentialModel;
using RecPtr = std::shared_ptr<SequentialModel>;

srm::Sequences read_sequences(const Napi::Value& items_v, const Napi::Value& offsets_v) {
  const Int32Span items = int32_array(items_v, "items");
  if (!offsets_v.IsTypedArray() || offsets_v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Error(ErrorCode::InvalidArgument, "offsets must be a Float64Array");
  auto off = offsets_v.As<Napi::Float64Array>();
  if (off.ElementLength() < 1 || off[0] != 0.0 || off[off.ElementLength() - 1] != double(items.size))
    throw Error(ErrorCode::InvalidArgument, "offsets must start at 0 and end at the number of items");
  srm::Sequences s;
  s.items.assign(items.data, items.data + items.size);
  s.offsets.resize(off.ElementLength());
  for (size_t i = 0; i < s.offsets.size(); ++i) {
    const double o = off[i];
    if (!(o >= 0 && o <= double(items.size)) || o != double(uint64_t(o)) || (i && o < double(s.offsets[i - 1])))
      throw Error(ErrorCode::InvalidArgument, "offsets must be non-decreasing integers");
    s.offsets[i] = uint64_t(o);
  }
  return s;
}

uint32_t u32_or(const Napi::Object& o, const char* key, uint32_t fallback, uint32_t max) {
  const Napi::Value v = o.Get(key);
  return v.IsUndefined() ? fallback : uint32_t(count(v, key, max));
}

srm::TrainOptions read_train_options(const Napi::Value& v) {
  const Napi::Object o = options_object(v);
  srm::TrainOptions t;
  t.adam.lr = float(number_or(o, "lr", t.adam.lr));
  t.adam.beta1 = float(number_or(o, "beta1", t.adam.beta1));
  t.adam.beta2 = float(number_or(o, "beta2", t.adam.beta2));
  t.adam.eps = float(number_or(o, "eps", t.adam.eps));
  t.adam.weight_decay = float(number_or(o, "weightDecay", t.adam.weight_decay));
  t.dropout = float(number_or(o, "dropout", t.dropout));
  t.batch_size = u32_or(o, "batchSize", t.batch_size, 1u << 20);
  const std::string loss = string_or(o, "loss", "full");
  if (loss != "full" && loss != "sampled")
    throw Error(ErrorCode::InvalidArgument, "loss must be 'full' or 'sampled', got '" + loss + "'");
  t.loss = loss == "full" ? srm::Loss::Full : srm::Loss::Sampled;
  t.negatives = u32_or(o, "negatives", t.negatives, 1u << 20);
  t.sample_power = float(number_or(o, "samplePower", t.sample_power));
  t.logits_bytes = size_t(number_or(o, "logitsBytes", double(t.logits_bytes)));
  const Napi::Value seed = o.Get("seed");
  if (!seed.IsUndefined()) t.seed = uint64_t(count(seed, "seed", 9007199254740991.0));
  t.threads = parse_threads(o);
  t.code_noise = float(number_or(o, "codeNoise", t.code_noise));
  t.id_dropout = float(number_or(o, "idDropout", t.id_dropout));
  t.validate();
  return t;
}

Napi::Object report_object(Napi::Env env, const srm::TrainReport& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", r.loss);
  o.Set("steps", double(r.steps));
  o.Set("windows", double(r.windows));
  o.Set("targets", double(r.targets));
  o.Set("cancelled", r.cancelled);
  return o;
}

Napi::Float32Array float32_copy(Napi::Env env, const std::vector<float>& v) {
  auto a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

class SrmWrap : public Napi::ObjectWrap<SrmWrap> {
 public:
  explicit SrmWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SrmWrap>(info) {
    guard(info.Env(), [&] {
      const Napi::Value first = arg(info, 0);
      if (first.IsExternal()) {  // from load()
        rec_ = *first.As<Napi::External<RecPtr>>().Data();
        return;
      }
      const Napi::Object o = options_object(first);
      srm::Shape s;
      s.items = uint32_t(count(o.Get("items"), "items", 2e9));
      s.dim = u32_or(o, "dim", s.dim, 1u << 20);
      s.blocks = u32_or(o, "blocks", s.blocks, 1024);
      s.heads = u32_or(o, "heads", s.heads, 1u << 20);
      s.max_len = u32_or(o, "maxLen", s.max_len, 1u << 20);
      s.code_in = u32_or(o, "codeIn", s.code_in, 1u << 20);
      s.code_dim = u32_or(o, "codeDim", s.code_dim, 1u << 20);
      s.code_hidden = u32_or(o, "codeHidden", s.code_hidden, 1u << 20);
      const Napi::Value int8 = o.Get("codeInt8");
      if (!int8.IsUndefined()) s.code_int8 = int8.ToBoolean().Value();
      const Napi::Value seed = o.Get("seed");
      rec_ = std::make_shared<SequentialModel>(s, seed.IsUndefined() ? 1 : uint64_t(count(seed, "seed", 9007199254740991.0)));
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return info_object(info.Env(), *live()); });
  }

  static Napi::Value info_object(Napi::Env env, const SequentialModel& rec) {
    const srm::Shape s = rec.shape();
    Napi::Object o = Napi::Object::New(env);
    o.Set("items", double(s.items));
    o.Set("dim", double(s.dim));
    o.Set("blocks", double(s.blocks));
    o.Set("heads", double(s.heads));
    o.Set("maxLen", double(s.max_len));
    o.Set("codeIn", double(s.code_in));
    o.Set("codeDim", double(s.has_codes() ? s.code_dim : 0));
    o.Set("codeHidden", double(s.code_hidden));
    o.Set("codeInt8", s.code_int8);
    o.Set("steps", double(rec.steps_done()));
    o.Set("parameters", double(rec.param_count()));
    return o;
  }

  Napi::Value Layout(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return layout_array(info.Env(), *live()); });
  }

  static Napi::Value layout_array(Napi::Env env, const SequentialModel& rec) {
    const auto layout = srm::param_layout(rec.shape());
    Napi::Array out = Napi::Array::New(env, layout.size());
    for (size_t i = 0; i < layout.size(); ++i) {
      Napi::Object t = Napi::Object::New(env);
      t.Set("name", layout[i].name);
      t.Set("rows", double(layout[i].rows));
      t.Set("cols", double(layout[i].cols));
      t.Set("offset", double(layout[i].offset));
      out.Set(uint32_t(i), t);
    }
    return out;
  }

  Napi::Value SetItemEmbeddings(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const FloatSpan v = float32_array(arg(info, 0), "vectors");
      const srm::Shape s = live()->shape();
      if (v.size != size_t(s.items) * s.dim)
        throw Error(ErrorCode::DimMismatch, "item vectors must hold items x dim = " + std::to_string(s.items) + " x " +
                                                std::to_string(s.dim) + " floats, got " + std::to_string(v.size));
      live()->set_item_embeddings(v.data);
      return info.Env().Undefined();
    });
  }

  Napi::Value CountPopularity(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const srm::Sequences s = read_sequences(arg(info, 0), arg(info, 1));
      live()->count_popularity(s, arg(info, 2).ToBoolean().Value());
      return info.Env().Undefined();
    });
  }

  Napi::Value Popularity(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return float32_copy(info.Env(), live()->popularity()); });
  }

  Napi::Value TrainEpoch(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto data = std::make_shared<srm::Sequences>(read_sequences(arg(info, 0), arg(info, 1)));
      const srm::TrainOptions o = read_train_options(arg(info, 2));
      const uint64_t epoch = count(arg(info, 3), "epoch", 1e15);
      return train(info.Env(), [data, o, epoch](SequentialModel& r, const srm::TrainingLease& l) {
        return r.train_epoch(*data, o, epoch, l);
      });
    });
  }

  Napi::Value TrainRecent(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto data = std::make_shared<srm::Sequences>(read_sequences(arg(info, 0), arg(info, 1)));
      const uint32_t fresh = uint32_t(count(arg(info, 2), "fresh", 1e9));
      const srm::TrainOptions o = read_train_options(arg(info, 3));
      const uint32_t passes = uint32_t(count(arg(info, 4), "passes", 1e6));
      return train(info.Env(), [data, fresh, o, passes](SequentialModel& r, const srm::TrainingLease& l) {
        return r.train_recent(*data, fresh, o, passes, l);
      });
    });
  }

  // Scores of every item after each history, as one Float32Array [histories x items].
  Napi::Value ScoreAll(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto data = std::make_shared<srm::Sequences>(read_sequences(arg(info, 0), arg(info, 1)));
      live()->check_items(*data, "the histories");
      const int threads = parse_threads(options_object(arg(info, 2)));
      const size_t items = live()->shape().items;
      if (double(data->count()) * double(items) > double(1u << 30))
        throw Error(ErrorCode::RequestTooLarge, "histories x items exceeds 2^30 scores; score fewer histories at a time");
      auto out = std::make_shared<std::vector<float>>();
      RecPtr rec = live();
      return PromiseWorker::run(
          info.Env(), "lmrec.srm.scoreAll", [rec, data, out, threads] { rec->score_all(*data, *out, threads); },
          [out](Napi::Env env) -> Napi::Value { return float32_copy(env, *out); });
    });
  }

  // Sync: one history, a few candidates; cheaper than a thread hop.
  Napi::Value Score(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const Int32Span h = int32_array(arg(info, 0), "history");
      const Int32Span c = int32_array(arg(info, 1), "candidates");
      live()->check_items(h.data, h.size, "the history");
      live()->check_items(c.data, c.size, "the candidates");
      if (h.size == 0) throw Error(ErrorCode::InvalidArgument, "the history is empty");
      auto out = Napi::Float32Array::New(info.Env(), c.size);
      live()->score(h.data, uint32_t(h.size), c.data, c.size, out.Data());
      return out;
    });
  }

  Napi::Value TopK(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const Int32Span h = int32_array(arg(info, 0), "history");
      const size_t k = count(arg(info, 1), "k", 1e9, ErrorCode::InvalidK);
      const bool exclude = arg(info, 2).ToBoolean().Value();
      live()->check_items(h.data, h.size, "the history");
      if (h.size == 0) throw Error(ErrorCode::InvalidArgument, "the history is empty");
      if (k == 0) throw Error(ErrorCode::InvalidK, "k must be at least 1");
      std::vector<int32_t> items(std::min<size_t>(k, live()->shape().items));
      std::vector<float> scores(items.size());
      // items.size(), not k: the catalog may have grown since it was sized
      const size_t got = live()->top_k(h.data, uint32_t(h.size), items.size(), exclude, items.data(), scores.data());
      auto out_items = Napi::Int32Array::New(info.Env(), got);
      auto out_scores = Napi::Float32Array::New(info.Env(), got);
      std::copy_n(items.data(), got, out_items.Data());
      std::copy_n(scores.data(), got, out_scores.Data());
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("items", out_items);
      o.Set("scores", out_scores);
      return o;
    });
  }

  // --- The compression module ---
  Napi::Value SetFeatures(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const FloatSpan f = float32_array(arg(info, 0), "features");
      const srm::Shape s = live()->shape();
      if (!s.has_codes()) throw Error(ErrorCode::InvalidArgument, "this model has no compression module (codeIn is 0)");
      if (f.size != size_t(s.items) * s.code_in)
        throw Error(ErrorCode::DimMismatch, "features must hold items x codeIn = " + std::to_string(s.items) + " x " +
                                                std::to_string(s.code_in) + " floats, got " + std::to_string(f.size));
      live()->set_features(f.data, s.items);
      return info.Env().Undefined();
    });
  }

  Napi::Value DropFeatures(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      live()->drop_features();
      return info.Env().Undefined();
    });
  }

  Napi::Value SetIdMask(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const Napi::Value v = arg(info, 0);
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
        throw Error(ErrorCode::InvalidArgument, "the ID flags must be a Uint8Array");
      auto a = v.As<Napi::Uint8Array>();
      live()->set_id_mask(a.Data(), a.ElementLength());
      return info.Env().Undefined();
    });
  }

  Napi::Value IdMask(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const std::vector<uint8_t> m = live()->id_mask();
      auto a = Napi::Uint8Array::New(info.Env(), m.size());
      std::copy(m.begin(), m.end(), a.Data());
      return a;
    });
  }

  Napi::Value WarmItems(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const Int32Span items = int32_array(arg(info, 0), "items");
      live()->warm_items(items.data, items.size);
      return info.Env().Undefined();
    });
  }

  // Off the JS thread: it takes the training slot (BUSY during a training).
  Napi::Value AddItems(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const FloatSpan f = float32_array(arg(info, 0), "features");
      const srm::Shape s = live()->shape();
      if (!s.has_codes()) throw Error(ErrorCode::InvalidArgument, "this model has no compression module: items cannot be added");
      if (f.size % s.code_in)
        throw Error(ErrorCode::DimMismatch, "features must hold n x codeIn (" + std::to_string(s.code_in) + ") floats, got " +
                                                std::to_string(f.size));
      auto features = std::make_shared<std::vector<float>>(f.data, f.data + f.size);
      const size_t n = f.size / s.code_in;
      RecPtr rec = live();
      auto lease = std::shared_ptr<srm::TrainingLease>(rec->lease_training());
      return PromiseWorker::run(
          info.Env(), "lmrec.srm.addItems", [rec, features, n, lease] { rec->add_items(features->data(), n, *lease); },
          [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
    });
  }

  Napi::Value Codes(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return float32_copy(info.Env(), live()->codes()); });
  }

  // codesInto(out): the stored codes (items x codeDim) written into the caller's Float32Array
  // off the JS thread: they are computed for every item, too long a wait for the event loop.
  Napi::Value CodesInto(const Napi::CallbackInfo& info) {
    return into_array(info, "lmrec.srm.codes", [](const RecPtr& rec, float* out, size_t n) {
      const std::vector<float> codes = rec->codes();
      if (codes.size() != n)
        throw Error(ErrorCode::DimMismatch, "the codes are " + std::to_string(codes.size()) + " floats, the array holds " + std::to_string(n));
      std::copy(codes.begin(), codes.end(), out);
    });
  }

  Napi::Value ItemVectors(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return float32_copy(info.Env(), live()->item_vectors()); });
  }

  // itemVectorsInto(out): the item vectors written into the caller's Float32Array off the JS
  // thread (no new array, no copy on the JS thread). DIM_MISMATCH unless it holds items x dim floats.
  Napi::Value ItemVectorsInto(const Napi::CallbackInfo& info) {
    return into_array(info, "lmrec.srm.itemVectors", [](const RecPtr& rec, float* out, size_t n) { rec->item_vectors_into(out, n); });
  }

  // The caller's Float32Array (argument 0) filled by `fill` on libuv's thread; the caller leaves
  // it alone until the promise settles. The reference keeps the array alive while the worker
  // writes, and is released on the JS thread with the worker.
  template <class Fill>
  Napi::Value into_array(const Napi::CallbackInfo& info, const char* name, Fill fill) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const Napi::Value v = arg(info, 0);
      const FloatSpan out = float32_array(v, "out");
      auto keep = std::make_shared<Napi::ObjectReference>(Napi::Persistent(v.As<Napi::Object>()));
      float* data = const_cast<float*>(out.data);
      const size_t n = out.size;
      RecPtr rec = live();
      return PromiseWorker::run(
          info.Env(), name, [rec, data, n, keep, fill] { fill(rec, data, n); }, [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
    });
  }

  // Sync: one or a few histories, cheaper than a thread hop.
  Napi::Value UserVectors(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const srm::Sequences data = read_sequences(arg(info, 0), arg(info, 1));
      if (data.count() > 4096) throw Error(ErrorCode::RequestTooLarge, "at most 4096 histories a call");
      // no shape()/check_items here: they wait for a training step's lock (user_vectors checks)
      auto out = Napi::Float32Array::New(info.Env(), data.count() * live()->serving_dim());
      live()->user_vectors(data, out.Data(), 1);
      return out;
    });
  }

  Napi::Value LossAndGradients(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const srm::Sequences data = read_sequences(arg(info, 0), arg(info, 1));
      const srm::TrainOptions o = read_train_options(arg(info, 2));
      const uint64_t step = count(arg(info, 3), "step", 1e15);
      std::vector<float> grads;
      const double loss = live()->loss_and_gradients(data, o, step < 1 ? 1 : step, grads);
      Napi::Object out = Napi::Object::New(info.Env());
      out.Set("loss", loss);
      out.Set("gradients", float32_copy(info.Env(), grads));
      return out;
    });
  }

  Napi::Value Params(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return float32_copy(info.Env(), live()->params()); });
  }

  Napi::Value SetParams(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const FloatSpan v = float32_array(arg(info, 0), "params");
      live()->set_params(v.data, v.size);
      return info.Env().Undefined();
    });
  }

  Napi::Value Checkpoint(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      live()->checkpoint();
      return info.Env().Undefined();
    });
  }

  Napi::Value Restore(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      live()->restore();
      return info.Env().Undefined();
    });
  }

  Napi::Value Save(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const std::string path = path_arg(arg(info, 0));
      RecPtr rec = live();
      return PromiseWorker::run(
          info.Env(), "lmrec.srm.save", [rec, path] { rec->save(path); },
          [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
    });
  }

  static Napi::Value Load(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const std::string path = path_arg(arg(info, 0));
      auto loaded = std::make_shared<RecPtr>();
      return PromiseWorker::run(
          info.Env(), "lmrec.srm.load", [loaded, path] { *loaded = SequentialModel::load(path); },
          [loaded](Napi::Env env) -> Napi::Value {
            return addon_data(env).srm_class.New({Napi::External<RecPtr>::New(env, loaded.get())});
          });
    });
  }

  // Stops a training in progress at its next step.
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      live()->cancel();
      return info.Env().Undefined();
    });
  }

  // Drops this handle's reference; work in flight keeps its own until it ends.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    rec_.reset();
    return info.Env().Undefined();
  }

 private:
  RecPtr live() const {
    if (!rec_) throw Error(ErrorCode::Closed, "this model was closed");
    return rec_;
  }

  // The training slot is taken here, on the JS thread, and held until the promise settles:
  // the worker (and the lease it holds) is destroyed on the JS thread right after settling,
  // before any code awaiting the promise runs.
  template <class F>
  Napi::Value train(Napi::Env env, F run) {
    RecPtr rec = live();
    std::shared_ptr<srm::TrainingLease> lease = rec->lease_training();
    auto report = std::make_shared<srm::TrainReport>();
    return PromiseWorker::run(
        env, "lmrec.srm.train", [rec, run, report, lease] { *report = run(*rec, *lease); },
        [report](Napi::Env e) -> Napi::Value { return report_object(e, *report); });
  }

  RecPtr rec_;
};

}  // namespace

Napi::Function init_srm_class(Napi::Env env) {
  Napi::Function cls = SrmWrap::DefineClass(
      env, "NativeSrm",
      {
          SrmWrap::InstanceMethod<&SrmWrap::Info>("info"),
          SrmWrap::InstanceMethod<&SrmWrap::Layout>("layout"),
          SrmWrap::InstanceMethod<&SrmWrap::SetItemEmbeddings>("setItemEmbeddings"),
          SrmWrap::InstanceMethod<&SrmWrap::CountPopularity>("countPopularity"),
          SrmWrap::InstanceMethod<&SrmWrap::Popularity>("popularity"),
          SrmWrap::InstanceMethod<&SrmWrap::TrainEpoch>("trainEpoch"),
          SrmWrap::InstanceMethod<&SrmWrap::TrainRecent>("trainRecent"),
          SrmWrap::InstanceMethod<&SrmWrap::ScoreAll>("scoreAll"),
          SrmWrap::InstanceMethod<&SrmWrap::Score>("score"),
          SrmWrap::InstanceMethod<&SrmWrap::TopK>("topK"),
          SrmWrap::InstanceMethod<&SrmWrap::SetFeatures>("setFeatures"),
          SrmWrap::InstanceMethod<&SrmWrap::DropFeatures>("dropFeatures"),
          SrmWrap::InstanceMethod<&SrmWrap::SetIdMask>("setIdMask"),
          SrmWrap::InstanceMethod<&SrmWrap::IdMask>("idMask"),
          SrmWrap::InstanceMethod<&SrmWrap::WarmItems>("warmItems"),
          SrmWrap::InstanceMethod<&SrmWrap::AddItems>("addItems"),
          SrmWrap::InstanceMethod<&SrmWrap::Codes>("codes"),
          SrmWrap::InstanceMethod<&SrmWrap::CodesInto>("codesInto"),
          SrmWrap::InstanceMethod<&SrmWrap::ItemVectors>("itemVectors"),
          SrmWrap::InstanceMethod<&SrmWrap::ItemVectorsInto>("itemVectorsInto"),
          SrmWrap::InstanceMethod<&SrmWrap::UserVectors>("userVectors"),
          SrmWrap::InstanceMethod<&SrmWrap::LossAndGradients>("lossAndGradients"),
          SrmWrap::InstanceMethod<&SrmWrap::Params>("params"),
          SrmWrap::InstanceMethod<&SrmWrap::SetParams>("setParams"),
          SrmWrap::InstanceMethod<&SrmWrap::Checkpoint>("checkpoint"),
          SrmWrap::InstanceMethod<&SrmWrap::Restore>("restore"),
          SrmWrap::InstanceMethod<&SrmWrap::Save>("save"),
          SrmWrap::InstanceMethod<&SrmWrap::Cancel>("cancel"),
          SrmWrap::InstanceMethod<&SrmWrap::Close>("close"),
          SrmWrap::StaticMethod<&SrmWrap::Load>("load"),
      });
  addon_data(env).srm_class = Napi::Persistent(cls);
  return cls;
}

}  // namespace lmrec::addon
