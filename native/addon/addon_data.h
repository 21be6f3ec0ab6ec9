// Per-environment state of the addon (one per Node.js main thread or worker thread).
#pragma once
#include <napi.h>

namespace lmrec::addon {

struct AddonData {
  Napi::FunctionReference error_class;  // LmrecError, registered by src/native.ts
  Napi::FunctionReference index_class;  // NativeIndex
  Napi::FunctionReference srm_class;    // NativeSrm
  Napi::FunctionReference lm_trainer_class;  // NativeLmTrainer
  Napi::FunctionReference segment_cache_class;  // NativeSegmentCache
  Napi::FunctionReference lexical_class;  // NativeLexicalIndex
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace lmrec::addon
