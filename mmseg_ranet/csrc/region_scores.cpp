// Region decision, regions and region row sums of RANet's Region Construction Block from one image's score
// table F (N x N), compiled CPU path of mmseg_ranet/models/ops/region_scores.py.
//
// G_ij = [margin(F_ij) + margin(F_ji) > 0] with margin(x) = x * w + b (the 1x1 decision W^g; the released
// threshold is w = 1, b = -threshold). The PyTorch path builds G as a bool table and labels it with
// min-label propagation (several passes over N^2 entries); here the table is never stored:
// * components: union-find over the pairs i < j with G_ij, union by smaller index, so each root is the
//   smallest pixel index of its component (what connected_component_roots returns);
// * greedy (released code): parent(i) = smallest j <= i with G_ij (j = i always counts).
// Both read F in square tiles so that F_ij and F_ji come from cache. margin(F_ij) + margin(F_ji) is
// evaluated without fused multiply-adds, in the order the PyTorch path uses, so the decision matches it.

#include "region_scores.h"

#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace mmseg_ranet {
namespace {

constexpr int64_t kTile = 64;

template <typename scalar_t>
struct Decision {
  scalar_t weight;
  scalar_t bias;
  // Two separate roundings (product, then sum) as in `values * weight + bias` in PyTorch.
  __attribute__((optimize("fp-contract=off"))) bool linked(scalar_t forward, scalar_t backward) const {
    volatile scalar_t a = forward * weight;
    volatile scalar_t b = backward * weight;
    const scalar_t margin_forward = a + bias;
    const scalar_t margin_backward = b + bias;
    return margin_forward + margin_backward > scalar_t(0);
  }
};

int64_t find_root(std::vector<int64_t>& parent, int64_t i) {
  while (parent[i] != i) {
    parent[i] = parent[parent[i]];  // path halving
    i = parent[i];
  }
  return i;
}

template <typename scalar_t>
std::vector<int64_t> component_roots(const scalar_t* score, int64_t pixels, const Decision<scalar_t>& decision) {
  std::vector<int64_t> parent(pixels);
  for (int64_t i = 0; i < pixels; ++i) parent[i] = i;
  for (int64_t i0 = 0; i0 < pixels; i0 += kTile) {
    const int64_t i1 = std::min(pixels, i0 + kTile);
    for (int64_t j0 = i0; j0 < pixels; j0 += kTile) {
      const int64_t j1 = std::min(pixels, j0 + kTile);
      for (int64_t i = i0; i < i1; ++i) {
        const scalar_t* row = score + i * pixels;
        for (int64_t j = std::max(j0, i + 1); j < j1; ++j) {
          if (!decision.linked(row[j], score[j * pixels + i])) continue;
          int64_t a = find_root(parent, i), b = find_root(parent, j);
          if (a == b) continue;
          if (a > b) std::swap(a, b);
          parent[b] = a;  // the smaller index stays the root
        }
      }
    }
  }
  for (int64_t i = 0; i < pixels; ++i) parent[i] = find_root(parent, i);
  return parent;
}

template <typename scalar_t>
std::vector<int64_t> greedy_parents(const scalar_t* score, int64_t pixels, const Decision<scalar_t>& decision) {
  std::vector<int64_t> parent(pixels, -1);
  // Tiles of j in increasing order, j increasing inside a tile: the first hit is the smallest j.
  for (int64_t j0 = 0; j0 < pixels; j0 += kTile) {
    const int64_t j1 = std::min(pixels, j0 + kTile);
    for (int64_t i0 = j0; i0 < pixels; i0 += kTile) {
      const int64_t i1 = std::min(pixels, i0 + kTile);
      for (int64_t i = i0; i < i1; ++i) {
        if (parent[i] >= 0) continue;
        const scalar_t* row = score + i * pixels;
        const int64_t stop = std::min(j1, i);
        for (int64_t j = j0; j < stop; ++j)
          if (decision.linked(row[j], score[j * pixels + i])) {
            parent[i] = j;
            break;
          }
        if (parent[i] < 0 && i >= j0 && i < j1) parent[i] = i;  // reached j = i: linked to itself
      }
    }
  }
  return parent;
}

}  // namespace

at::Tensor region_roots_from_scores(const at::Tensor& score_in, double weight, double bias, bool components) {
  TORCH_CHECK(score_in.dim() == 2 && score_in.size(0) == score_in.size(1),
              "score must be a square (N, N) table, got ", score_in.sizes());
  TORCH_CHECK(score_in.device().is_cpu(), "score must be a CPU tensor, got ", score_in.device());
  TORCH_CHECK(score_in.scalar_type() == at::kFloat || score_in.scalar_type() == at::kDouble,
              "score must be float32 or float64, got ", score_in.scalar_type());
  const at::Tensor score = score_in.contiguous();
  const int64_t pixels = score.size(0);
  at::Tensor out = at::empty({pixels}, score.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES(score.scalar_type(), "region_roots_from_scores", [&] {
    const Decision<scalar_t> decision{static_cast<scalar_t>(weight), static_cast<scalar_t>(bias)};
    const std::vector<int64_t> result = components ? component_roots(score.data_ptr<scalar_t>(), pixels, decision)
                                                   : greedy_parents(score.data_ptr<scalar_t>(), pixels, decision);
    std::copy(result.begin(), result.end(), out.data_ptr<int64_t>());
  });
  return out;
}

at::Tensor region_row_sums(const at::Tensor& score_in, const at::Tensor& region_in) {
  TORCH_CHECK(score_in.dim() == 2 && score_in.size(0) == score_in.size(1),
              "score must be a square (N, N) table, got ", score_in.sizes());
  TORCH_CHECK(region_in.dim() == 1 && region_in.size(0) == score_in.size(0),
              "region must have shape (N,) matching the score table, got ", region_in.sizes());
  TORCH_CHECK(score_in.device().is_cpu() && region_in.device().is_cpu(), "score and region must be CPU tensors");
  TORCH_CHECK(score_in.scalar_type() == at::kFloat || score_in.scalar_type() == at::kDouble,
              "score must be float32 or float64, got ", score_in.scalar_type());
  const at::Tensor score = score_in.contiguous();
  const at::Tensor region = region_in.to(at::kLong).contiguous();
  const int64_t pixels = score.size(0);
  at::Tensor out = at::empty({pixels}, score.options());
  AT_DISPATCH_FLOATING_TYPES(score.scalar_type(), "region_row_sums", [&] {
    const scalar_t* table = score.data_ptr<scalar_t>();
    const int64_t* label = region.data_ptr<int64_t>();
    scalar_t* total = out.data_ptr<scalar_t>();
    at::parallel_for(0, pixels, 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const scalar_t* row = table + i * pixels;
        const int64_t own = label[i];
        scalar_t sum = 0;
        for (int64_t j = 0; j < pixels; ++j) sum += label[j] == own ? row[j] : scalar_t(0);
        total[i] = sum;
      }
    });
  });
  return out;
}

}  // namespace mmseg_ranet
