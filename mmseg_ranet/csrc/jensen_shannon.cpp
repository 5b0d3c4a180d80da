// Semantic term E of RANet's Region Construction Block, compiled CPU path: the full-class Jensen-Shannon
// divergence between the class distributions of pixel pairs, for a block of rows of the N x N table.
//
// E_ij = 1/2 sum_c [p_ic log p_ic + p_jc log p_jc] - sum_c m_c log m_c, m = (p_i + p_j) / 2 (natural log),
// which equals 1/2 (KL(P_i || M) + KL(P_j || M)). The per-pixel terms sum_c p log p are computed once; the
// pair loop evaluates N^2 C logarithms. PyTorch evaluates them through (rows, N, C) intermediates and is
// bound by memory traffic (about 5 ns per term on a 2-core machine); here the inner loop runs over
// contiguous columns j of a class-major probability map with a polynomial logarithm the compiler turns
// into vector code, and each term stays in registers.
//
// Gradients (the derivative of the formula above, not of the rounding): dE_ij / dp_ic = 1/2 (log p_ic -
// log m_c), and the same with p_jc for j. They are returned with respect to the log-probabilities
// (times p), so pixels whose probability underflows to 0 get a zero gradient instead of 0 * inf.

#include "jensen_shannon.h"
#include "vector_clones.h"

#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace mmseg_ranet {
namespace {

// Columns handled per inner-loop pass (accumulators stay in L1).
constexpr int64_t kColumnTile = 512;

// Natural logarithm of max(x, FLT_MIN) for x >= 0, without branches or calls, so that the loops around it
// vectorise: the exponent comes from the bit pattern and the logarithm of the mantissa in
// [sqrt(1/2), sqrt(2)) from the minimax polynomial of Cephes' logf (relative error about 1e-7, like the
// library function). Clamping to the smallest normal number happens on the bit pattern: a probability that
// underflowed to 0 only ever meets a factor <= 2 m, so the clamp changes nothing above rounding and keeps
// every term finite. Every selection below is integer arithmetic, without a comparison: GCC if-converts a
// comparison inside this function only with AVX-512 mask registers, so with a ternary the AVX2 and SSE2
// clones of every loop around it stayed scalar (about 30x slower on a machine without AVX-512).
__attribute__((always_inline)) inline float log_clamped(float x) {
  int32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  bits &= 0x7fffffff;  // |x| (x >= 0 here; this also maps -0 to 0)
  {
    const int32_t below = bits - 0x00800000;  // negative when |x| < FLT_MIN
    bits -= below & (below >> 31);            // max(bits, FLT_MIN's bits)
  }
  float exponent = static_cast<float>(((bits >> 23) & 0xff) - 126);
  bits = (bits & 0x007fffff) | 0x3f000000;  // mantissa scaled to [0.5, 1)
  float mantissa;
  std::memcpy(&mantissa, &bits, sizeof(mantissa));
  // low = 1 when the mantissa is below sqrt(1/2): then t = 2 mantissa - 1 and the exponent drops by one.
  // Decided on the bit pattern (0x3f3504f3 is sqrt(1/2) rounded to float; for positive floats the integer
  // order is the float order): the sign bit of bits - 0x3f3504f3.
  const float low = static_cast<float>(static_cast<uint32_t>(bits - 0x3f3504f3) >> 31);
  exponent -= low;
  const float t = mantissa + low * mantissa - 1.0f;
  const float t2 = t * t;
  float poly = 7.0376836292e-2f;
  poly = poly * t - 1.1514610310e-1f;
  poly = poly * t + 1.1676998740e-1f;
  poly = poly * t - 1.2420140846e-1f;
  poly = poly * t + 1.4249322787e-1f;
  poly = poly * t - 1.6668057665e-1f;
  poly = poly * t + 2.0000714765e-1f;
  poly = poly * t - 2.4999993993e-1f;
  poly = poly * t + 3.3333331174e-1f;
  float y = poly * t * t2;
  y += -2.12194440e-4f * exponent;
  y += -0.5f * t2;
  return t + y + 0.693359375f * exponent;
}

// float64 is for tests and references: the library logarithm, no vector code needed.
inline double log_clamped(double x) { return std::log(std::max(x, std::numeric_limits<double>::min())); }

// acc[j] += m log m with m = (p_i + column[j]) / 2 for j < count.
template <typename scalar_t>
RANET_VECTOR_CLONES void accumulate_entropy(scalar_t* __restrict acc, const scalar_t* __restrict column,
                                            scalar_t p_i, int64_t count) {
  const scalar_t half = scalar_t(0.5);
#pragma omp simd
  for (int64_t j = 0; j < count; ++j) {
    const scalar_t m = (p_i + column[j]) * half;
    acc[j] += m * log_clamped(m);
  }
}

// sum_j grad[j] * log m_j with m_j = (p_i + column[j]) / 2.
template <typename scalar_t>
RANET_VECTOR_CLONES scalar_t weighted_log_mean_sum(const scalar_t* __restrict grad, const scalar_t* __restrict column,
                                                   scalar_t p_i, int64_t count) {
  const scalar_t half = scalar_t(0.5);
  scalar_t total = 0;
#pragma omp simd reduction(+ : total)
  for (int64_t j = 0; j < count; ++j) total += grad[j] * log_clamped((p_i + column[j]) * half);
  return total;
}

// acc[j] += grad[j] * log m_j with m_j = (p_i + column[j]) / 2.
template <typename scalar_t>
RANET_VECTOR_CLONES void accumulate_weighted_log_mean(scalar_t* __restrict acc, const scalar_t* __restrict grad,
                                                      const scalar_t* __restrict column, scalar_t p_i,
                                                      int64_t count) {
  const scalar_t half = scalar_t(0.5);
#pragma omp simd
  for (int64_t j = 0; j < count; ++j) acc[j] += grad[j] * log_clamped((p_i + column[j]) * half);
}

// sum_c p_c log p_c per pixel.
template <typename scalar_t>
std::vector<scalar_t> negative_entropy(const scalar_t* prob, int64_t batch, int64_t classes, int64_t pixels) {
  std::vector<scalar_t> out(batch * pixels, scalar_t(0));
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b)
      for (int64_t c = 0; c < classes; ++c) {
        const scalar_t* p = prob + (b * classes + c) * pixels;
        scalar_t* acc = out.data() + b * pixels;
        for (int64_t j = 0; j < pixels; ++j) acc[j] += p[j] * log_clamped(p[j]);
      }
  });
  return out;
}

template <typename scalar_t>
void rows_forward_impl(const scalar_t* prob, scalar_t* out, int64_t batch, int64_t classes, int64_t pixels,
                       int64_t start, int64_t rows) {
  const std::vector<scalar_t> negent = negative_entropy(prob, batch, classes, pixels);
  at::parallel_for(0, batch * rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> acc(kColumnTile);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / rows, i = start + task % rows;
      const scalar_t* p = prob + b * classes * pixels;
      const scalar_t* ne = negent.data() + b * pixels;
      scalar_t* row = out + task * pixels;
      for (int64_t j0 = 0; j0 < pixels; j0 += kColumnTile) {
        const int64_t count = std::min(kColumnTile, pixels - j0);
        std::fill(acc.begin(), acc.begin() + count, scalar_t(0));
        for (int64_t c = 0; c < classes; ++c)
          accumulate_entropy(acc.data(), p + c * pixels + j0, p[c * pixels + i], count);
        for (int64_t j = 0; j < count; ++j) row[j0 + j] = scalar_t(0.5) * (ne[i] + ne[j0 + j]) - acc[j];
      }
      row[i] = 0;  // E_ii = 0 exactly (the two sums above can round differently)
    }
  });
}

template <typename scalar_t>
void rows_backward_impl(const scalar_t* prob, const scalar_t* log_prob, const scalar_t* grad_rows,
                        scalar_t* grad_log_prob, int64_t batch, int64_t classes, int64_t pixels, int64_t start,
                        int64_t rows) {
  // Row part: d/dp_i of the block's entries, one task per row i (writes only pixel i's column).
  std::vector<scalar_t> row_part(batch * classes * rows, scalar_t(0));
  at::parallel_for(0, batch * rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / rows, r = task % rows, i = start + r;
      const scalar_t* p = prob + b * classes * pixels;
      const scalar_t* g = grad_rows + task * pixels;
      scalar_t g_sum = 0;
      for (int64_t j = 0; j < pixels; ++j) g_sum += g[j];
      for (int64_t c = 0; c < classes; ++c) {
        const scalar_t p_ic = p[c * pixels + i];
        const scalar_t log_mean = weighted_log_mean_sum(g, p + c * pixels, p_ic, pixels);
        const scalar_t lp = log_prob[(b * classes + c) * pixels + i];
        row_part[(b * classes + c) * rows + r] = scalar_t(0.5) * p_ic * (lp * g_sum - log_mean);
      }
    }
  });
  // Column part: d/dp_j of the block's entries, one task per tile of columns j (disjoint writes).
  const int64_t tiles = (pixels + kColumnTile - 1) / kColumnTile;
  at::parallel_for(0, batch * tiles, 1, [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> acc(kColumnTile);
    std::vector<scalar_t> g_sum(kColumnTile);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / tiles, j0 = (task % tiles) * kColumnTile;
      const int64_t count = std::min(kColumnTile, pixels - j0);
      const scalar_t* p = prob + b * classes * pixels;
      std::fill(g_sum.begin(), g_sum.begin() + count, scalar_t(0));
      for (int64_t r = 0; r < rows; ++r) {
        const scalar_t* g = grad_rows + (b * rows + r) * pixels + j0;
        for (int64_t j = 0; j < count; ++j) g_sum[j] += g[j];
      }
      for (int64_t c = 0; c < classes; ++c) {
        std::fill(acc.begin(), acc.begin() + count, scalar_t(0));
        const scalar_t* column = p + c * pixels + j0;
        for (int64_t r = 0; r < rows; ++r)
          accumulate_weighted_log_mean(acc.data(), grad_rows + (b * rows + r) * pixels + j0, column,
                                       p[c * pixels + start + r], count);
        const scalar_t* lp = log_prob + (b * classes + c) * pixels + j0;
        scalar_t* out = grad_log_prob + (b * classes + c) * pixels + j0;
        for (int64_t j = 0; j < count; ++j) out[j] = scalar_t(0.5) * column[j] * (lp[j] * g_sum[j] - acc[j]);
      }
    }
  });
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t c = 0; c < classes; ++c)
      for (int64_t r = 0; r < rows; ++r)
        grad_log_prob[(b * classes + c) * pixels + start + r] += row_part[(b * classes + c) * rows + r];
}

// ---- Binary form (released code): E_ij = JSD(Bern(p), Bern(q)), p = clip(P_i[c_i]), q = clip(P_j[c_i]), c_i =
// argmax_c P_ic (first maximum). With h(x) = x log x + (1 - x) log(1 - x), E = (h(p) + h(q)) / 2 - h(m),
// m = (p + q) / 2; h of every clipped probability is computed once, so a pair costs two logarithms.
// dE/dp = (h'(p) - h'(m)) / 2 and dE/dq = (h'(q) - h'(m)) / 2 with h'(x) = log x - log(1 - x); the clip
// passes the gradient where low <= P <= high, as torch.clamp does.

template <typename scalar_t>
__attribute__((always_inline)) inline scalar_t bernoulli_entropy(scalar_t x) {
  return x * log_clamped(x) + (scalar_t(1) - x) * log_clamped(scalar_t(1) - x);
}

template <typename scalar_t>
__attribute__((always_inline)) inline scalar_t bernoulli_entropy_slope(scalar_t x) {
  return log_clamped(x) - log_clamped(scalar_t(1) - x);
}

template <typename scalar_t>
struct BinaryInputs {
  std::vector<scalar_t> clipped;  // (B, C, N) clip(P)
  std::vector<scalar_t> entropy;  // (B, C, N) h(clip(P))
  std::vector<int64_t> top;       // (B, N) arg-max class
};

template <typename scalar_t>
BinaryInputs<scalar_t> binary_inputs(const scalar_t* prob, int64_t batch, int64_t classes, int64_t pixels,
                                     scalar_t low, scalar_t high) {
  BinaryInputs<scalar_t> in;
  const int64_t total = batch * classes * pixels;
  in.clipped.resize(total);
  in.entropy.resize(total);
  in.top.assign(batch * pixels, 0);
  for (int64_t k = 0; k < total; ++k) {
    const scalar_t v = std::min(std::max(prob[k], low), high);
    in.clipped[k] = v;
    in.entropy[k] = bernoulli_entropy(v);
  }
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < pixels; ++i) {
      int64_t best = 0;
      for (int64_t c = 1; c < classes; ++c)
        if (prob[(b * classes + c) * pixels + i] > prob[(b * classes + best) * pixels + i]) best = c;
      in.top[b * pixels + i] = best;
    }
  return in;
}

template <typename scalar_t>
RANET_VECTOR_CLONES void binary_row(scalar_t* __restrict row, const scalar_t* __restrict q,
                                    const scalar_t* __restrict h_q, scalar_t p, scalar_t h_p, int64_t count) {
#pragma omp simd
  for (int64_t j = 0; j < count; ++j) {
    const scalar_t m = (p + q[j]) * scalar_t(0.5);
    row[j] = scalar_t(0.5) * (h_p + h_q[j]) - bernoulli_entropy(m);
  }
}

// row_grad[j] = g[j] * (h'(q_j) - h'(m_j)) / 2 and returns sum_j g[j] * (h'(p) - h'(m_j)) / 2.
template <typename scalar_t>
RANET_VECTOR_CLONES scalar_t binary_row_grad(scalar_t* __restrict column_grad, const scalar_t* __restrict g,
                                             const scalar_t* __restrict q, scalar_t p, int64_t count) {
  const scalar_t slope_p = bernoulli_entropy_slope(p);
  scalar_t total = 0;
#pragma omp simd reduction(+ : total)
  for (int64_t j = 0; j < count; ++j) {
    const scalar_t slope_m = bernoulli_entropy_slope((p + q[j]) * scalar_t(0.5));
    total += g[j] * (slope_p - slope_m);
    column_grad[j] = g[j] * (bernoulli_entropy_slope(q[j]) - slope_m);
  }
  return scalar_t(0.5) * total;
}

template <typename scalar_t>
void binary_rows_forward_impl(const scalar_t* prob, scalar_t* out, int64_t batch, int64_t classes, int64_t pixels,
                              int64_t start, int64_t rows, scalar_t low, scalar_t high) {
  const BinaryInputs<scalar_t> in = binary_inputs(prob, batch, classes, pixels, low, high);
  at::parallel_for(0, batch * rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / rows, i = start + task % rows;
      const int64_t c = in.top[b * pixels + i];
      const int64_t offset = (b * classes + c) * pixels;
      binary_row(out + task * pixels, in.clipped.data() + offset, in.entropy.data() + offset,
                 in.clipped[offset + i], in.entropy[offset + i], pixels);
      out[task * pixels + i] = 0;  // E_ii = 0 exactly
    }
  });
}

template <typename scalar_t>
void binary_rows_backward_impl(const scalar_t* prob, const scalar_t* grad_rows, scalar_t* grad_log_prob,
                               int64_t batch, int64_t classes, int64_t pixels, int64_t start, int64_t rows,
                               scalar_t low, scalar_t high) {
  const BinaryInputs<scalar_t> in = binary_inputs(prob, batch, classes, pixels, low, high);
  // Gradient with respect to the clipped probabilities, one task per tile of columns j (disjoint writes);
  // the row sums of each tile are added up afterwards.
  std::vector<scalar_t> grad_clipped(batch * classes * pixels, scalar_t(0));
  const int64_t tiles = (pixels + kColumnTile - 1) / kColumnTile;
  std::vector<scalar_t> row_partial(batch * tiles * rows, scalar_t(0));
  at::parallel_for(0, batch * tiles, 1, [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> column_grad(kColumnTile);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / tiles, tile = task % tiles, j0 = tile * kColumnTile;
      const int64_t count = std::min(kColumnTile, pixels - j0);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = start + r;
        const int64_t offset = (b * classes + in.top[b * pixels + i]) * pixels;
        row_partial[task * rows + r] =
            binary_row_grad(column_grad.data(), grad_rows + (b * rows + r) * pixels + j0,
                            in.clipped.data() + offset + j0, in.clipped[offset + i], count);
        scalar_t* target = grad_clipped.data() + offset + j0;
        for (int64_t j = 0; j < count; ++j) target[j] += scalar_t(0.5) * column_grad[j];
      }
    }
  });
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = start + r;
      scalar_t sum = 0;
      for (int64_t tile = 0; tile < tiles; ++tile) sum += row_partial[(b * tiles + tile) * rows + r];
      grad_clipped[(b * classes + in.top[b * pixels + i]) * pixels + i] += sum;
    }
  const int64_t total = batch * classes * pixels;
  for (int64_t k = 0; k < total; ++k) {
    const bool inside = prob[k] >= low && prob[k] <= high;
    grad_log_prob[k] = inside ? grad_clipped[k] * prob[k] : scalar_t(0);
  }
}

void check_log_probs(const at::Tensor& log_probs, int64_t start, int64_t stop) {
  TORCH_CHECK(log_probs.dim() == 3, "log_probs must have shape (B, C, N), got ", log_probs.sizes());
  TORCH_CHECK(log_probs.device().is_cpu(), "log_probs must be a CPU tensor for the compiled CPU operator, got ",
              log_probs.device());
  TORCH_CHECK(log_probs.scalar_type() == at::kFloat || log_probs.scalar_type() == at::kDouble,
              "log_probs must be float32 or float64, got ", log_probs.scalar_type());
  TORCH_CHECK(0 <= start && start <= stop && stop <= log_probs.size(2), "rows [", start, ", ", stop,
              ") out of range for ", log_probs.size(2), " pixels");
}

// Inputs of a backward call, checked: contiguous log-probabilities and a (B, rows, N) gradient block of
// their dtype.
struct GradRows {
  at::Tensor log_probs;
  at::Tensor grad_rows;
  int64_t rows;
};

GradRows checked_grad_rows(const at::Tensor& grad_rows_in, const at::Tensor& log_probs_in, int64_t start) {
  const int64_t rows = grad_rows_in.dim() == 3 ? grad_rows_in.size(1) : -1;
  check_log_probs(log_probs_in, start, start + std::max<int64_t>(rows, 0));
  const at::Tensor log_probs = log_probs_in.contiguous();
  const int64_t batch = log_probs.size(0), pixels = log_probs.size(2);
  TORCH_CHECK(grad_rows_in.dim() == 3 && grad_rows_in.size(0) == batch && grad_rows_in.size(2) == pixels,
              "grad_rows must have shape (B, rows, N) = (", batch, ", rows, ", pixels, "), got ",
              grad_rows_in.sizes());
  return {log_probs, grad_rows_in.to(log_probs.scalar_type()).contiguous(), rows};
}

}  // namespace

at::Tensor jensen_shannon_rows_forward(const at::Tensor& log_probs_in, int64_t start, int64_t stop) {
  check_log_probs(log_probs_in, start, stop);
  const at::Tensor log_probs = log_probs_in.contiguous();
  const at::Tensor prob = log_probs.exp();
  const int64_t batch = log_probs.size(0), classes = log_probs.size(1), pixels = log_probs.size(2);
  at::Tensor out = at::empty({batch, stop - start, pixels}, log_probs.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(log_probs.scalar_type(), "jensen_shannon_rows_forward", [&] {
    rows_forward_impl<scalar_t>(prob.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), batch, classes, pixels, start,
                                stop - start);
  });
  return out;
}

at::Tensor jensen_shannon_rows_backward(const at::Tensor& grad_rows_in, const at::Tensor& log_probs_in,
                                        int64_t start) {
  const GradRows in = checked_grad_rows(grad_rows_in, log_probs_in, start);
  const at::Tensor& log_probs = in.log_probs;
  const at::Tensor& grad_rows = in.grad_rows;
  const int64_t rows = in.rows;
  const int64_t batch = log_probs.size(0), classes = log_probs.size(1), pixels = log_probs.size(2);
  const at::Tensor prob = log_probs.exp();
  at::Tensor grad = at::zeros_like(log_probs);
  if (grad_rows.numel() == 0) return grad;
  AT_DISPATCH_FLOATING_TYPES(log_probs.scalar_type(), "jensen_shannon_rows_backward", [&] {
    rows_backward_impl<scalar_t>(prob.data_ptr<scalar_t>(), log_probs.data_ptr<scalar_t>(),
                                 grad_rows.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(), batch, classes, pixels,
                                 start, rows);
  });
  return grad;
}

}  // namespace mmseg_ranet

namespace mmseg_ranet {

at::Tensor jensen_shannon_binary_rows_forward(const at::Tensor& log_probs_in, int64_t start, int64_t stop, double low,
                                              double high) {
  check_log_probs(log_probs_in, start, stop);
  const at::Tensor log_probs = log_probs_in.contiguous();
  const at::Tensor prob = log_probs.exp();
  const int64_t batch = log_probs.size(0), classes = log_probs.size(1), pixels = log_probs.size(2);
  at::Tensor out = at::empty({batch, stop - start, pixels}, log_probs.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(log_probs.scalar_type(), "jensen_shannon_binary_rows_forward", [&] {
    binary_rows_forward_impl<scalar_t>(prob.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), batch, classes, pixels,
                                       start, stop - start, static_cast<scalar_t>(low), static_cast<scalar_t>(high));
  });
  return out;
}

at::Tensor jensen_shannon_binary_rows_backward(const at::Tensor& grad_rows_in, const at::Tensor& log_probs_in,
                                               int64_t start, double low, double high) {
  const GradRows in = checked_grad_rows(grad_rows_in, log_probs_in, start);
  const at::Tensor& log_probs = in.log_probs;
  const at::Tensor& grad_rows = in.grad_rows;
  const int64_t rows = in.rows;
  const int64_t batch = log_probs.size(0), classes = log_probs.size(1), pixels = log_probs.size(2);
  const at::Tensor prob = log_probs.exp();
  at::Tensor grad = at::zeros_like(log_probs);
  if (grad_rows.numel() == 0) return grad;
  AT_DISPATCH_FLOATING_TYPES(log_probs.scalar_type(), "jensen_shannon_binary_rows_backward", [&] {
    binary_rows_backward_impl<scalar_t>(prob.data_ptr<scalar_t>(), grad_rows.data_ptr<scalar_t>(),
                                        grad.data_ptr<scalar_t>(), batch, classes, pixels, start, rows,
                                        static_cast<scalar_t>(low), static_cast<scalar_t>(high));
  });
  return grad;
}

}  // namespace mmseg_ranet
