// Compiled CPU helpers of RANet's streamed Region Construction Block (see region_scores.cpp).
#pragma once

#include <torch/extension.h>

namespace mmseg_ranet {

// Region roots of one image from its score table F (N, N) and the decision margin(x) = x * weight + bias:
// with components=true the smallest pixel index of each connected component of G; otherwise the released
// greedy parent (smallest j <= i with G_ij), to be followed to the root by pointer jumping.
at::Tensor region_roots_from_scores(const at::Tensor& score, double weight, double bias, bool components);

// sum_j F_ij [region_j == region_i] for every row i of F (N, N).
at::Tensor region_row_sums(const at::Tensor& score, const at::Tensor& region);

}  // namespace mmseg_ranet
