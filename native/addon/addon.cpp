// Entry point of lmrec.node. Algorithms live in native/core; this layer only adapts them.
#include <napi.h>

#include "addon_data.h"
#include "index_wrap.h"
#include "lexical_wrap.h"
#include "lm_trainer_wrap.h"
#include "machine_wrap.h"
#include "segment_cache_wrap.h"
#include "srm_wrap.h"
#include "source_hash.h"
#include "util/error.h"

namespace lmrec::addon {
namespace {

// src/native.ts registers its LmrecError class so native errors arrive as instances of it.
Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction())
    throw Napi::TypeError::New(info.Env(), "setErrorClass expects a constructor");
  addon_data(info.Env()).error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// The code names the native core can throw (test/error-codes.test.ts ties them to src/errors.ts).
Napi::Value ErrorCodes(const Napi::CallbackInfo& info) {
  Napi::Array out = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (ErrorCode c : kAllErrorCodes) out.Set(i++, error_code_name(c));
  out.Set(i, "OUT_OF_MEMORY");  // std::bad_alloc, mapped in errors.cpp
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("setErrorClass", Napi::Function::New<SetErrorClass>(env, "setErrorClass"));
  exports.Set("errorCodes", Napi::Function::New<ErrorCodes>(env, "errorCodes"));
  exports.Set("sourceHash", Napi::String::New(env, LMREC_SOURCE_HASH));
  exports.Set("NativeIndex", init_index_class(env));
  exports.Set("NativeSrm", init_srm_class(env));
  exports.Set("NativeLmTrainer", init_lm_trainer_class(env));
  exports.Set("NativeSegmentCache", init_segment_cache_class(env));
  exports.Set("NativeLexicalIndex", init_lexical_class(env));
  init_machine_functions(env, exports);
  return exports;
}

}  // namespace
}  // namespace lmrec::addon

// NODE_API_MODULE pastes the name into an identifier, so it needs an unqualified one.
static Napi::Object InitLmrec(Napi::Env env, Napi::Object exports) { return lmrec::addon::Init(env, exports); }
NODE_API_MODULE(lmrec, InitLmrec)
