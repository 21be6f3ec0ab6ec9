#pragma once
#include <napi.h>

namespace lmrec::addon {

// Registers the NativeSegmentCache class (wrapping lmrec::cache::SegmentCache) and returns its constructor.
Napi::Function init_segment_cache_class(Napi::Env env);

}  // namespace lmrec::addon
