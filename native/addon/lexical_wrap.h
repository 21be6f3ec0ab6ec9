#pragma once
#include <napi.h>

namespace lmrec::addon {

// Registers the NativeLexicalIndex class (wrapping lmrec::LexicalIndex) and returns its constructor.
Napi::Function init_lexical_class(Napi::Env env);

}  // namespace lmrec::addon
