// NativeLmTrainer: the JS face of lmrec::lm::Trainer. Training steps, evaluation, scoring and
// checkpoint I/O run off the JS thread; one operation at a time holds the trainer (a second
// one is refused with BUSY, decided on the JS thread), so no request ever reads weights that
// a step is changing.
#include "lm_trainer_wrap.h"

#include <atomic>
#include <cmath>
#include <memory>

#include "addon_data.h"
#include "args.h"
#include "errors.h"
#include "lm/lm_trainer.h"

namespace lmrec::addon {
namespace {

using lm::Trainer;
using TrainerPtr = std::shared_ptr<Trainer>;

// Holds the trainer's one operation slot until destroyed.
class Slot {
 public:
  explicit Slot(std::shared_ptr<std::atomic<bool>> flag) : flag_(std::move(flag)) {
    if (flag_->exchange(true)) throw Error(ErrorCode::Busy, "this trainer is busy with another operation; await it first");
  }
  ~Slot() { *flag_ = false; }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

uint32_t u32_or(const Napi::Object& o, const char* key, uint32_t fallback, double max) {
  const Napi::Value v = o.Get(key);
  return v.IsUndefined() ? fallback : uint32_t(count(v, key, max));
}

uint64_t u64_or(const Napi::Object& o, const char* key, uint64_t fallback) {
  const Napi::Value v = o.Get(key);
  return v.IsUndefined() ? fallback : uint64_t(count(v, key, 9007199254740991.0));
}

std::vector<uint64_t> index_array(const Napi::Value& v, const char* name, uint64_t end) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Error(ErrorCode::InvalidArgument, std::string(name) + " must be a Float64Array");
  auto a = v.As<Napi::Float64Array>();
  std::vector<uint64_t> out(a.ElementLength());
  for (size_t i = 0; i < out.size(); ++i) {
    const double d = a[i];
    if (!(d >= 0 && d <= double(end)) || d != double(uint64_t(d)))
      throw Error(ErrorCode::InvalidArgument, std::string(name) + "[" + std::to_string(i) + "] is not an integer in [0, " + std::to_string(end) + "]");
    out[i] = uint64_t(d);
  }
  return out;
}

// { tokens: Int32Array, offsets: Float64Array, eventEnds?: Float64Array, nextItems?: Int32Array,
//   teacher?: Float32Array, teacherPoints?: number }
std::shared_ptr<lm::Corpus> read_corpus(const Napi::Value& v) {
  const Napi::Object o = options_object(v);
  auto c = std::make_shared<lm::Corpus>();
  const Int32Span tokens = int32_array(o.Get("tokens"), "tokens");
  c->tokens.assign(tokens.data, tokens.data + tokens.size);
  c->offsets = index_array(o.Get("offsets"), "offsets", tokens.size);
  if (!o.Get("eventEnds").IsUndefined()) {
    c->event_ends = index_array(o.Get("eventEnds"), "eventEnds", tokens.size);
    const Int32Span next = int32_array(o.Get("nextItems"), "nextItems");
    c->next_items.assign(next.data, next.data + next.size);
  }
  if (!o.Get("scoreFrom").IsUndefined()) c->score_from = index_array(o.Get("scoreFrom"), "scoreFrom", tokens.size);
  if (!o.Get("teacher").IsUndefined()) {
    const FloatSpan t = float32_array(o.Get("teacher"), "teacher");
    c->teacher.assign(t.data, t.data + t.size);
    c->teacher_points = uint32_t(count(o.Get("teacherPoints"), "teacherPoints", 64));
    c->teacher_dim = c->teacher_points && c->count() ? uint32_t(t.size / (size_t(c->teacher_points) * c->count())) : 0;
  }
  return c;
}

lm::TrainOptions read_options(const Napi::Value& v) {
  const Napi::Object o = options_object(v);
  lm::TrainOptions t;
  t.adam.lr = float(number_or(o, "lr", t.adam.lr));
  t.adam.beta1 = float(number_or(o, "beta1", t.adam.beta1));
  t.adam.beta2 = float(number_or(o, "beta2", t.adam.beta2));
  t.adam.eps = float(number_or(o, "eps", t.adam.eps));
  t.adam.weight_decay = float(number_or(o, "weightDecay", t.adam.weight_decay));
  t.min_lr_ratio = float(number_or(o, "minLrRatio", t.min_lr_ratio));
  t.warmup_steps = u64_or(o, "warmupSteps", t.warmup_steps);
  t.total_steps = u64_or(o, "totalSteps", t.total_steps);
  t.clip_norm = float(number_or(o, "clipNorm", t.clip_norm));
  t.batch_tokens = u32_or(o, "batchTokens", t.batch_tokens, 1u << 24);
  t.context = u32_or(o, "context", t.context, 1u << 20);
  t.lm_weight = float(number_or(o, "lmWeight", t.lm_weight));
  t.item_weight = float(number_or(o, "itemWeight", t.item_weight));
  t.aux_weight = float(number_or(o, "auxWeight", t.aux_weight));
  t.align_weight = float(number_or(o, "alignWeight", t.align_weight));
  t.freeze_layers = u32_or(o, "freezeLayers", t.freeze_layers, 1024);
  t.local_layers = u32_or(o, "localLayers", t.local_layers, 1024);
  t.logits_bytes = size_t(u64_or(o, "logitsBytes", t.logits_bytes));
  t.seed = u64_or(o, "seed", t.seed);
  t.threads = parse_threads(o);
  return t;
}

Napi::Object options_to_js(Napi::Env env, const lm::TrainOptions& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("lr", t.adam.lr);
  o.Set("beta1", t.adam.beta1);
  o.Set("beta2", t.adam.beta2);
  o.Set("eps", t.adam.eps);
  o.Set("weightDecay", t.adam.weight_decay);
  o.Set("minLrRatio", t.min_lr_ratio);
  o.Set("warmupSteps", double(t.warmup_steps));
  o.Set("totalSteps", double(t.total_steps));
  o.Set("clipNorm", t.clip_norm);
  o.Set("batchTokens", double(t.batch_tokens));
  o.Set("context", double(t.context));
  o.Set("lmWeight", t.lm_weight);
  o.Set("itemWeight", t.item_weight);
  o.Set("auxWeight", t.aux_weight);
  o.Set("alignWeight", t.align_weight);
  o.Set("freezeLayers", double(t.freeze_layers));
  o.Set("localLayers", double(t.local_layers));
  o.Set("logitsBytes", double(t.logits_bytes));
  o.Set("seed", double(t.seed));
  return o;
}

// { threads?, context?, localLayers? } of evaluate, itemScores and lastHidden.
lm::Trainer::Inference parse_inference(const Napi::Object& o) {
  lm::Trainer::Inference how;
  how.threads = parse_threads(o);
  how.context = u32_or(o, "context", 0, 1u << 20);
  if (!o.Get("localLayers").IsUndefined()) how.local_layers = int(count(o.Get("localLayers"), "localLayers", 1024));
  return how;
}

Napi::Float32Array float32_copy(Napi::Env env, const float* p, size_t n) {
  auto a = Napi::Float32Array::New(env, n);
  std::copy_n(p, n, a.Data());
  return a;
}

class LmTrainerWrap : public Napi::ObjectWrap<LmTrainerWrap> {
 public:
  explicit LmTrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LmTrainerWrap>(info) {
    guard(info.Env(), [&] {
      const Napi::Value first = arg(info, 0);
      if (first.IsExternal()) {  // from loadCheckpoint()
        trainer_ = *first.As<Napi::External<TrainerPtr>>().Data();
        return;
      }
      const Napi::Object o = options_object(first);
      lm::LlamaShape s;
      s.vocab = uint32_t(count(o.Get("vocab"), "vocab", 1u << 24));
      s.dim = u32_or(o, "dim", s.dim, 1u << 20);
      s.layers = u32_or(o, "layers", s.layers, 1024);
      s.heads = u32_or(o, "heads", s.heads, 1u << 20);
      s.kv_heads = u32_or(o, "kvHeads", s.heads, 1u << 20);
      s.ffn = u32_or(o, "ffn", s.ffn, 1u << 24);
      s.max_positions = u32_or(o, "maxPositions", s.max_positions, 1u << 24);
      s.items = u32_or(o, "items", 0, 1u << 30);
      s.aux_heads = u32_or(o, "auxHeads", 0, 1024);
      s.tied = o.Get("tied").IsUndefined() || o.Get("tied").ToBoolean().Value();
      s.rope_theta = float(number_or(o, "ropeTheta", s.rope_theta));
      s.norm_eps = float(number_or(o, "normEps", s.norm_eps));
      trainer_ = std::make_shared<Trainer>(s, u64_or(o, "seed", 1));
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const TrainerPtr t = live();
      const lm::LlamaShape& s = t->shape();
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("vocab", double(s.vocab));
      o.Set("dim", double(s.dim));
      o.Set("layers", double(s.layers));
      o.Set("heads", double(s.heads));
      o.Set("kvHeads", double(s.kv_heads));
      o.Set("ffn", double(s.ffn));
      o.Set("maxPositions", double(s.max_positions));
      o.Set("items", double(s.items));
      o.Set("auxHeads", double(s.aux_heads));
      o.Set("tied", s.tied);
      o.Set("ropeTheta", s.rope_theta);
      o.Set("normEps", s.norm_eps);
      o.Set("step", double(t->step()));
      o.Set("parameters", double(t->params().size()));
      o.Set("options", options_to_js(info.Env(), t->options()));
      return o;
    });
  }

  Napi::Value Layout(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const auto& layout = live()->layout();
      Napi::Array out = Napi::Array::New(info.Env(), layout.size());
      for (size_t i = 0; i < layout.size(); ++i) {
        Napi::Object t = Napi::Object::New(info.Env());
        t.Set("name", layout[i].name);
        t.Set("rows", double(layout[i].rows));
        t.Set("cols", double(layout[i].cols));
        t.Set("offset", double(layout[i].offset));
        out.Set(uint32_t(i), t);
      }
      return out;
    });
  }

  Napi::Value Params(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      Slot slot(busy_);
      const auto& p = live()->params();
      return float32_copy(info.Env(), p.data(), p.size());
    });
  }

  // Replaces the weights (all of them, in layout order); the optimiser starts afresh.
  Napi::Value SetParams(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      Slot slot(busy_);
      const FloatSpan v = float32_array(arg(info, 0), "params");
      auto& p = live()->params();
      if (v.size != p.size())
        throw Error(ErrorCode::DimMismatch, "params must hold " + std::to_string(p.size()) + " floats, got " + std::to_string(v.size));
      for (size_t i = 0; i < v.size; ++i)
        if (!std::isfinite(v.data[i])) throw Error(ErrorCode::NonFinite, "params[" + std::to_string(i) + "] is not finite");
      std::copy_n(v.data, v.size, p.data());
      if (!arg(info, 1).ToBoolean().Value()) live()->reset_optimizer();
      return info.Env().Undefined();
    });
  }

  Napi::Value SetCorpus(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      Slot slot(busy_);
      live()->set_corpus(read_corpus(arg(info, 0)), read_options(arg(info, 1)), arg(info, 2).ToBoolean().Value());
      return info.Env().Undefined();
    });
  }

  Napi::Value Train(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const uint64_t steps = count(arg(info, 0), "steps", 1e12);
      TrainerPtr t = live();
      auto slot = std::make_shared<Slot>(busy_);
      t->clear_cancel();  // a cancel() before this train() was for an earlier one
      auto r = std::make_shared<lm::StepReport>();
      return PromiseWorker::run(
          info.Env(), "lmrec.lm.train", [t, steps, r, slot] { *r = t->train(steps); },
          [r](Napi::Env env) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("steps", double(r->steps));
            o.Set("tokens", double(r->tokens));
            o.Set("itemTargets", double(r->item_targets));
            o.Set("lmLoss", r->lm_loss);
            o.Set("itemLoss", r->item_loss);
            o.Set("auxLoss", r->aux_loss);
            o.Set("alignLoss", r->align_loss);
            o.Set("gradNorm", r->grad_norm);
            o.Set("lr", r->lr);
            o.Set("cancelled", r->cancelled);
            return o;
          });
    });
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      live()->cancel();
      return info.Env().Undefined();
    });
  }

  Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto c = read_corpus(arg(info, 0));
      const Napi::Object o = options_object(arg(info, 1));
      const lm::Trainer::Inference how = parse_inference(o);
      TrainerPtr t = live();
      auto slot = std::make_shared<Slot>(busy_);
      auto r = std::make_shared<lm::EvalReport>();
      return PromiseWorker::run(
          info.Env(), "lmrec.lm.evaluate", [t, c, r, slot, how] { *r = t->evaluate(*c, how); },
          [r](Napi::Env env) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("lmLoss", r->lm_loss);
            o.Set("itemLoss", r->item_loss);
            o.Set("tokens", double(r->tokens));
            o.Set("itemTargets", double(r->item_targets));
            return o;
          });
    });
  }

  // Item-head scores after each sequence: [sequences x items].
  Napi::Value ItemScores(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto c = read_corpus(arg(info, 0));
      const Napi::Object o = options_object(arg(info, 1));
      const lm::Trainer::Inference how = parse_inference(o);
      TrainerPtr t = live();
      if (double(c->count()) * t->shape().items > double(1u << 30))
        throw Error(ErrorCode::RequestTooLarge, "sequences x items exceeds 2^30 scores; score fewer sequences at a time");
      c->validate(t->shape());
      auto slot = std::make_shared<Slot>(busy_);
      auto out = std::make_shared<std::vector<float>>();
      return PromiseWorker::run(
          info.Env(), "lmrec.lm.itemScores",
          [t, c, out, slot, how] {
            out->resize(c->count() * t->shape().items);
            t->item_scores(*c, how, out->data());
          },
          [out](Napi::Env env) -> Napi::Value { return float32_copy(env, out->data(), out->size()); });
    });
  }

  // Hidden states after layer `layer` at each sequence's last token: [sequences x dim].
  Napi::Value LastHidden(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      auto c = read_corpus(arg(info, 0));
      const uint32_t layer = uint32_t(count(arg(info, 1), "layer", 1024));
      const Napi::Object o = options_object(arg(info, 2));
      const lm::Trainer::Inference how = parse_inference(o);
      TrainerPtr t = live();
      if (double(c->count()) * t->shape().dim > double(1u << 30))
        throw Error(ErrorCode::RequestTooLarge, "sequences x dim exceeds 2^30 floats; ask for fewer sequences at a time");
      c->validate(t->shape());
      auto slot = std::make_shared<Slot>(busy_);
      auto out = std::make_shared<std::vector<float>>();
      return PromiseWorker::run(
          info.Env(), "lmrec.lm.lastHidden",
          [t, c, out, slot, layer, how] {
            out->resize(c->count() * t->shape().dim);
            t->last_hidden(*c, layer, how, out->data());
          },
          [out](Napi::Env env) -> Napi::Value { return float32_copy(env, out->data(), out->size()); });
    });
  }

  // Sync, for tests and checks on small inputs: tied-head logits of every token.
  Napi::Value Logits(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      Slot slot(busy_);
      const Int32Span tokens = int32_array(arg(info, 0), "tokens");
      const TrainerPtr t = live();
      if (tokens.size == 0 || tokens.size > t->shape().max_positions)
        throw Error(ErrorCode::InvalidArgument, "logits() takes 1 to maxPositions tokens");
      if (double(tokens.size) * t->shape().vocab > double(1u << 28)) throw Error(ErrorCode::RequestTooLarge, "too many logits");
      std::vector<float> out(tokens.size * t->shape().vocab);
      t->logits(tokens.data, uint32_t(tokens.size), out.data(), 0);
      return float32_copy(info.Env(), out.data(), out.size());
    });
  }

  Napi::Value LossAndGradients(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      Slot slot(busy_);
      const uint64_t step = count(arg(info, 0), "step", 1e15);
      std::vector<float> grads;
      const double loss = live()->loss_and_gradients(step, grads);
      Napi::Object out = Napi::Object::New(info.Env());
      out.Set("loss", loss);
      out.Set("gradients", float32_copy(info.Env(), grads.data(), grads.size()));
      return out;
    });
  }

  Napi::Value SaveCheckpoint(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const std::string path = path_arg(arg(info, 0));
      TrainerPtr t = live();
      auto slot = std::make_shared<Slot>(busy_);
      return PromiseWorker::run(
          info.Env(), "lmrec.lm.saveCheckpoint", [t, path, slot] { t->save_checkpoint(path); },
          [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
    });
  }

  static Napi::Value LoadCheckpoint(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const std::string path = path_arg(arg(info, 0));
      auto loaded = std::make_shared<TrainerPtr>();
      return PromiseWorker::run(
          info.Env(), "lmrec.lm.loadCheckpoint", [loaded, path] { *loaded = Trainer::load_checkpoint(path); },
          [loaded](Napi::Env env) -> Napi::Value {
            return addon_data(env).lm_trainer_class.New({Napi::External<TrainerPtr>::New(env, loaded.get())});
          });
    });
  }

  // Drops this handle's reference; work in flight keeps its own until it ends.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (trainer_) trainer_->cancel();
    trainer_.reset();
    return info.Env().Undefined();
  }

 private:
  TrainerPtr live() const {
    if (!trainer_) throw Error(ErrorCode::Closed, "this trainer was closed");
    return trainer_;
  }

  TrainerPtr trainer_;
  std::shared_ptr<std::atomic<bool>> busy_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

Napi::Function init_lm_trainer_class(Napi::Env env) {
  using W = LmTrainerWrap;
  Napi::Function cls = W::DefineClass(env, "NativeLmTrainer",
                                      {
                                          W::InstanceMethod<&W::Info>("info"),
                                          W::InstanceMethod<&W::Layout>("layout"),
                                          W::InstanceMethod<&W::Params>("params"),
                                          W::InstanceMethod<&W::SetParams>("setParams"),
                                          W::InstanceMethod<&W::SetCorpus>("setCorpus"),
                                          W::InstanceMethod<&W::Train>("train"),
                                          W::InstanceMethod<&W::Cancel>("cancel"),
                                          W::InstanceMethod<&W::Evaluate>("evaluate"),
                                          W::InstanceMethod<&W::ItemScores>("itemScores"),
                                          W::InstanceMethod<&W::LastHidden>("lastHidden"),
                                          W::InstanceMethod<&W::Logits>("logits"),
                                          W::InstanceMethod<&W::LossAndGradients>("lossAndGradients"),
                                          W::InstanceMethod<&W::SaveCheckpoint>("saveCheckpoint"),
                                          W::InstanceMethod<&W::Close>("close"),
                                          W::StaticMethod<&W::LoadCheckpoint>("loadCheckpoint"),
                                      });
  addon_data(env).lm_trainer_class = Napi::Persistent(cls);
  return cls;
}

}  // namespace lmrec::addon
