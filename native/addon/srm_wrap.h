#pragma once
#include <napi.h>

namespace lmrec::addon {

// Registers the NativeSrm class (wrapping lmrec::srm::SequentialModel) and returns its constructor.
Napi::Function init_srm_class(Napi::Env env);

}  // namespace lmrec::addon
