// Compiled CPU operator for RANet's semantic term E (see jensen_shannon.cpp).
#pragma once

#include <torch/extension.h>

namespace mmseg_ranet {

// Rows [start, stop) of the full-class JSD table (natural log) of log-probabilities (B, C, N):
// returns (B, stop - start, N).
at::Tensor jensen_shannon_rows_forward(const at::Tensor& log_probs, int64_t start, int64_t stop);

// Gradient of sum(E[:, start:start + rows] * grad_rows) with respect to the log-probabilities (B, C, N).
at::Tensor jensen_shannon_rows_backward(const at::Tensor& grad_rows, const at::Tensor& log_probs, int64_t start);

// Binary (released-code) form: rows [start, stop) of JSD(Bern(p), Bern(q)) with p = clip(P_i[c_i]),
// q = clip(P_j[c_i]), c_i = argmax P_i, clip to [low, high]; natural log.
at::Tensor jensen_shannon_binary_rows_forward(const at::Tensor& log_probs, int64_t start, int64_t stop, double low,
                                              double high);

// Gradient of sum(E_binary[:, start:start + rows] * grad_rows) with respect to the log-probabilities.
at::Tensor jensen_shannon_binary_rows_backward(const at::Tensor& grad_rows, const at::Tensor& log_probs,
                                               int64_t start, double low, double high);

}  // namespace mmseg_ranet
