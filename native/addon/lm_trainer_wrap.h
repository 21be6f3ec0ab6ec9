#pragma once
#include <napi.h>

namespace lmrec::addon {

// Registers the NativeLmTrainer class (wrapping lmrec::lm::Trainer) and returns its constructor.
Napi::Function init_lm_trainer_class(Napi::Env env);

}  // namespace lmrec::addon
