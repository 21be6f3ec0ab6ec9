// NativeLexicalIndex: the JS face of lmrec::LexicalIndex, the content part of served requests.
// Building, growing and batched queries run off the JS thread; the sync query serves single
// requests that a thread hop would only slow.
#include "lexical_wrap.h"

#include <cmath>
#include <memory>

#include "addon_data.h"
#include "args.h"
#include "content/lexical_index.h"
#include "errors.h"

namespace lmrec::addon {
namespace {

using LexicalPtr = std::shared_ptr<LexicalIndex>;

// Rows as JS holds them (ptr, index: Uint32Array; value: Float32Array), copied.
SparseRows read_rows(const Napi::CallbackInfo& info, size_t at) {
  const Span<uint32_t> ptr = uint32_array(arg(info, at), "ptr");
  const Span<uint32_t> index = uint32_array(arg(info, at + 1), "index");
  const FloatSpan value = float32_array(arg(info, at + 2), "value");
  SparseRows r;
  r.ptr.assign(ptr.data, ptr.data + ptr.size);
  r.index.assign(index.data, index.data + index.size);
  r.value.assign(value.data, value.data + value.size);
  return r;
}

// Offsets of a batch's runs: batch + 1 non-decreasing entries from 0 to `total`.
void check_offsets(Span<uint32_t> ptr, size_t batch, size_t total, const char* name) {
  bool ok = ptr.size == batch + 1 && ptr.data[0] == 0 && ptr.data[batch] == total;
  for (size_t j = 0; ok && j < batch; ++j) ok = ptr.data[j] <= ptr.data[j + 1];
  if (!ok) throw Error(ErrorCode::InvalidArgument, std::string(name) + " must rise from 0 to its list's length, one entry per request and one more");
}

// A batch of queries: (historyPtr, history, givenPtr, given, limits, postings, warm, weight,
// coldWeight). Copied when async work reads it later; results sized after the work.
struct Batch {
  std::vector<uint32_t> history_ptr, history, given_ptr, given, limits;
  std::vector<uint8_t> warm;
  size_t postings = SIZE_MAX;
  double weight = 0, cold_weight = 0;
  std::vector<LexicalAnswer> answers;

  void run(const LexicalIndex& index) {
    const size_t batch = limits.size();
    answers.resize(batch);
    const LexicalWeights w{weight, cold_weight, warm.data(), warm.size()};
    for (size_t j = 0; j < batch; ++j) {
      LexicalQuery q;
      q.history = history.data() + history_ptr[j];
      q.history_size = history_ptr[j + 1] - history_ptr[j];
      q.given = given.data() + given_ptr[j];
      q.given_size = given_ptr[j + 1] - given_ptr[j];
      q.limit = limits[j];
      q.postings = postings;
      answers[j] = index.query(q, w);
    }
  }
};

Batch read_batch(const Napi::CallbackInfo& info) {
  Batch b;
  const auto copy = [](Span<uint32_t> s) { return std::vector<uint32_t>(s.data, s.data + s.size); };
  const Span<uint32_t> limits = uint32_array(arg(info, 4), "limits");
  const Span<uint32_t> history = uint32_array(arg(info, 1), "history");
  const Span<uint32_t> given = uint32_array(arg(info, 3), "given");
  const Span<uint32_t> history_ptr = uint32_array(arg(info, 0), "historyPtr");
  const Span<uint32_t> given_ptr = uint32_array(arg(info, 2), "givenPtr");
  check_offsets(history_ptr, limits.size, history.size, "historyPtr");
  check_offsets(given_ptr, limits.size, given.size, "givenPtr");
  const Napi::Value postings = arg(info, 5);
  const double p = number(postings, "postings");
  if (!(p >= 0)) throw Error(ErrorCode::InvalidArgument, "postings must be a non-negative number (Infinity: all)");
  b.postings = p >= 9007199254740991.0 ? SIZE_MAX : size_t(p);
  const Span<uint8_t> warm = uint8_array(arg(info, 6), "warm");
  b.weight = number(arg(info, 7), "weight");
  b.cold_weight = number(arg(info, 8), "coldWeight");
  if (!(std::isfinite(b.weight) && b.weight >= 0 && std::isfinite(b.cold_weight) && b.cold_weight >= 0))
    throw Error(ErrorCode::InvalidArgument, "weights must be non-negative finite numbers");
  b.history_ptr = copy(history_ptr);
  b.history = copy(history);
  b.given_ptr = copy(given_ptr);
  b.given = copy(given);
  b.limits = copy(limits);
  b.warm.assign(warm.data, warm.data + warm.size);
  return b;
}

// { given: Float64Array, itemsPtr: Uint32Array, items: Uint32Array, scores: Float64Array }
Napi::Object batch_result(Napi::Env env, const Batch& b) {
  size_t found = 0;
  for (const LexicalAnswer& a : b.answers) found += a.items.size();
  auto given = Napi::Float64Array::New(env, b.given.size());
  auto items_ptr = Napi::Uint32Array::New(env, b.answers.size() + 1);
  auto items = Napi::Uint32Array::New(env, found);
  auto scores = Napi::Float64Array::New(env, found);
  size_t g = 0, at = 0;
  items_ptr[0] = 0;
  for (size_t j = 0; j < b.answers.size(); ++j) {
    const LexicalAnswer& a = b.answers[j];
    std::copy(a.given.begin(), a.given.end(), given.Data() + g);
    g += a.given.size();
    std::copy(a.items.begin(), a.items.end(), items.Data() + at);
    std::copy(a.scores.begin(), a.scores.end(), scores.Data() + at);
    at += a.items.size();
    items_ptr[j + 1] = uint32_t(at);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("given", given);
  o.Set("itemsPtr", items_ptr);
  o.Set("items", items);
  o.Set("scores", scores);
  return o;
}

Napi::Value wrap(Napi::Env env, LexicalPtr index) {
  return addon_data(env).lexical_class.New({Napi::External<LexicalPtr>::New(env, &index)});
}

class LexicalWrap : public Napi::ObjectWrap<LexicalWrap> {
 public:
  // Only build() and withItems() make one: they pass the index built off-thread.
  explicit LexicalWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LexicalWrap>(info) {
    guard(info.Env(), [&] {
      const Napi::Value first = arg(info, 0);
      if (!first.IsExternal()) throw Error(ErrorCode::InvalidArgument, "use NativeLexicalIndex.build()");
      index_ = *first.As<Napi::External<LexicalPtr>>().Data();
    });
  }

  // build(words, ptr, index, value) -> Promise<NativeLexicalIndex>; the inverted index is made off the JS thread.
  static Napi::Value Build(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const size_t words = count(arg(info, 0), "words", double(LexicalIndex::kMaxWords), ErrorCode::RequestTooLarge);
      auto rows = std::make_shared<SparseRows>(read_rows(info, 1));
      auto built = std::make_shared<LexicalPtr>();
      return PromiseWorker::run(
          info.Env(), "lmrec.lexical.build", [built, rows, words] { *built = std::make_shared<LexicalIndex>(words, std::move(*rows)); },
          [built](Napi::Env env) { return wrap(env, *built); });
    });
  }

  // withItems(ptr, index, value) -> Promise<NativeLexicalIndex>: this index grown by the rows.
  Napi::Value WithItems(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      LexicalPtr index = live();
      auto rows = std::make_shared<SparseRows>(read_rows(info, 0));
      auto grown = std::make_shared<LexicalPtr>();
      return PromiseWorker::run(
          info.Env(), "lmrec.lexical.grow", [index, rows, grown] { *grown = index->with_items(std::move(*rows)); },
          [grown](Napi::Env env) { return wrap(env, *grown); });
    });
  }

  Napi::Value Query(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      LexicalPtr index = live();
      Batch b = read_batch(info);
      b.run(*index);
      return batch_result(info.Env(), b);
    });
  }

  Napi::Value QueryAsync(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      LexicalPtr index = live();
      auto b = std::make_shared<Batch>(read_batch(info));
      return PromiseWorker::run(
          info.Env(), "lmrec.lexical.query", [index, b] { b->run(*index); },
          [b](Napi::Env env) -> Napi::Value { return batch_result(env, *b); });
    });
  }

  Napi::Value Items(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), double(live()->items())); });
  }

  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), double(live()->memory_bytes())); });
  }

  // Drops this handle's reference off the JS thread (freeing tens of MB there stalled requests);
  // work in flight keeps its own until it ends.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    auto doomed = std::make_shared<LexicalPtr>(std::move(index_));
    return PromiseWorker::run(
        info.Env(), "lmrec.lexical.close", [doomed] { doomed->reset(); },
        [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  }

 private:
  LexicalPtr live() const {
    if (!index_) throw Error(ErrorCode::Closed, "this lexical index was closed");
    return index_;
  }

  LexicalPtr index_;
};

}  // namespace

Napi::Function init_lexical_class(Napi::Env env) {
  Napi::Function cls = LexicalWrap::DefineClass(
      env, "NativeLexicalIndex",
      {
          LexicalWrap::StaticMethod<&LexicalWrap::Build>("build"),
          LexicalWrap::InstanceMethod<&LexicalWrap::WithItems>("withItems"),
          LexicalWrap::InstanceMethod<&LexicalWrap::Query>("query"),
          LexicalWrap::InstanceMethod<&LexicalWrap::QueryAsync>("queryAsync"),
          LexicalWrap::InstanceMethod<&LexicalWrap::Items>("items"),
          LexicalWrap::InstanceMethod<&LexicalWrap::MemoryBytes>("memoryBytes"),
          LexicalWrap::InstanceMethod<&LexicalWrap::Close>("close"),
      });
  addon_data(env).lexical_class = Napi::Persistent(cls);
  return cls;
}

}  // namespace lmrec::addon
