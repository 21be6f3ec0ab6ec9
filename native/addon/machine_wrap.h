#pragma once
#include <napi.h>

namespace lmrec::addon {

// Adds kernels(), hardwareThreads(), probeInt8Peak() and probeReadBandwidth().
void init_machine_functions(Napi::Env env, Napi::Object exports);

}  // namespace lmrec::addon
