#pragma once
#include <napi.h>

namespace lmrec::addon {

// Registers the NativeIndex class (wrapping lmrec::VectorIndex) and returns its constructor.
Napi::Function init_index_class(Napi::Env env);

}  // namespace lmrec::addon
