// Softmax of one row, in place, on the run-time chosen exp kernel.
#pragma once
#include <cstddef>

namespace lmrec::nn {

// x = scale * softmax(x) over n floats; returns the log-sum-exp of the input.
double softmax_in_place(float* x, size_t n, float scale = 1.f);

}  // namespace lmrec::nn
