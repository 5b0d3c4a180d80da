// Compiled CPU operator for RANet's boundary term D (see boundary_max_table.cpp for the semantics).
#pragma once

#include <torch/extension.h>

namespace mmseg_ranet {

// D for boundary maps (B, H, W), float32 or float64: returns (B, H*W, H*W).
at::Tensor boundary_max_table_forward(const at::Tensor& boundary);

// Gradient of sum(D * grad_table) with respect to the boundary map; recomputes the arg-max samples.
at::Tensor boundary_max_table_backward(const at::Tensor& grad_table, const at::Tensor& boundary);

bool built_with_openmp();

}  // namespace mmseg_ranet
