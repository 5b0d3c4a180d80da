// Boundary term D of RANet's Region Construction Block, compiled CPU path.
//
// Semantics are those of the released code and of mmseg_ranet/models/ops/boundary_max_table.py: for
// d = p_j - p_i and L = max(|dx|, |dy|), samples p_i + t * d / L for t = 1 .. L - 1; the major-axis
// coordinate is an integer, the minor one is linearly interpolated; D_ij = max(0, max_t sample); D = 0 for
// L <= 1. The gradient of D_ij and D_ji goes to the two interpolation neighbours of the first (smallest t,
// counted from the raster-earlier pixel) maximal sample; none when that maximum is negative.
//
// Layout of the work: one task is (image b, a block of source rows y, row offset dy >= 0). Within a task
// every column offset dx is a "displacement"; its sample offsets and weights are computed once and shared
// by the rows of the block, and for a fixed displacement and step all sources of a row read the same
// relative neighbours with the same weight, so the inner loop runs over contiguous source columns in
// vector registers. The results for a source row are the W x W block D[(y, .), (y + dy, .)] and its mirror
// D[(y + dy, .), (y, .)] (D is symmetric: from j the samples are the same points, bitwise), staged in
// small buffers and written as contiguous runs of W values, so the N x N table is written once, row segment
// by row segment, instead of one scattered element per pair.
// The backward pass recomputes the arg-max per pair instead of keeping an index table (N^2 ints), with the
// same task layout, and accumulates into per-thread gradient maps.

#include "boundary_max_table.h"
#include "vector_clones.h"

#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace mmseg_ranet {
namespace {


// Columns of zeros right of every row of the padded map: the vector loops run over whole vectors of
// sources, and the extra (discarded) sources past the row end read these instead of leaving the buffer.
constexpr int64_t kPad = 16;

// One sample step of a displacement, relative to the source pixel: the lower interpolation neighbour is
// (floor_y, floor_x), the upper one is one row down (x-major) or one column right (y-major), with weight
// remainder / length. Offsets are given in the padded map (`stride` = W + kPad); `upper_offset` is 0 when
// the weight is 0 (the sample sits on a pixel), so such samples read a single pixel.
struct Step {
  int64_t floor_y;
  int64_t floor_x;
  int64_t remainder;
  bool x_major;
  int64_t lower_offset;
  int64_t upper_offset;
  // remainder / length divided in each dtype, as the PyTorch op does, so the weights agree bitwise.
  float weight_float;
  double weight_double;
  template <typename scalar_t>
  scalar_t weight() const;
};
template <>
inline float Step::weight<float>() const {
  return weight_float;
}
template <>
inline double Step::weight<double>() const {
  return weight_double;
}

// Steps t = 1 .. L - 1 of displacement (dy >= 0, dx): floor(t * d / L) and the remainder, as in
// segment_sample_geometry, so positions are exact. Updated incrementally (|dy|, |dx| <= L, so each
// coordinate carries at most once per step) because integer division here showed up in profiles.
inline void displacement_steps(int64_t dy, int64_t dx, int64_t stride, std::vector<Step>& steps) {
  const int64_t length = std::max(dy, std::abs(dx));
  const bool x_major = std::abs(dx) >= dy;
  steps.clear();
  int64_t floor_y = 0, floor_x = 0, rem_y = 0, rem_x = 0;  // t * d = floor * length + rem, 0 <= rem < length
  for (int64_t t = 1; t < length; ++t) {
    rem_y += dy;
    if (rem_y >= length) {
      rem_y -= length;
      floor_y += 1;
    }
    rem_x += dx;
    if (rem_x >= length) {
      rem_x -= length;
      floor_x += 1;
    } else if (rem_x < 0) {
      rem_x += length;
      floor_x -= 1;
    }
    Step step;
    step.floor_y = floor_y;
    step.floor_x = floor_x;
    step.remainder = x_major ? rem_y : rem_x;
    step.x_major = x_major;
    step.lower_offset = floor_y * stride + floor_x;
    step.upper_offset = step.remainder == 0 ? 0 : (x_major ? stride : 1);
    step.weight_float = static_cast<float>(step.remainder) / static_cast<float>(length);
    step.weight_double = static_cast<double>(step.remainder) / static_cast<double>(length);
    steps.push_back(step);
  }
}

// The maps of all images copied with kPad zero columns right of each row.
template <typename scalar_t>
std::vector<scalar_t> pad_maps(const scalar_t* boundary, int64_t batch, int64_t height, int64_t width) {
  const int64_t stride = width + kPad;
  std::vector<scalar_t> padded(static_cast<size_t>(batch * height * stride), scalar_t(0));
  for (int64_t r = 0; r < batch * height; ++r)
    std::memcpy(padded.data() + r * stride, boundary + r * width, width * sizeof(scalar_t));
  return padded;
}

inline int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// Rows of one task that share their step tables (the tables depend on the displacement only).
constexpr int64_t kRowBlock = 4;

template <typename scalar_t>
struct Buffers {
  std::vector<scalar_t> best;     // max per source column, one displacement and row
  std::vector<int32_t> arg;       // step of that max (backward only)
  std::vector<scalar_t> forward;  // per row r of the block: [x][x'] = D[(y + r, x), (y + r + dy, x')]
  std::vector<scalar_t> mirror;   // [x'][x] = D[(y + dy, x'), (y, x)], one row at a time
  std::vector<Step> steps;
  // The hot loop reads these compact copies of the steps (structure of arrays).
  std::vector<int64_t> lower_offset;
  std::vector<int64_t> upper_offset;
  std::vector<scalar_t> weight;
  explicit Buffers(int64_t width)
      : best(width + kPad), arg(width + kPad), forward(kRowBlock * width * width), mirror(width * width) {}
  void set_steps(int64_t dy, int64_t dx, int64_t stride) {
    displacement_steps(dy, dx, stride, steps);
    lower_offset.resize(steps.size());
    upper_offset.resize(steps.size());
    weight.resize(steps.size());
    for (size_t s = 0; s < steps.size(); ++s) {
      lower_offset[s] = steps[s].lower_offset;
      upper_offset[s] = steps[s].upper_offset;
      weight[s] = steps[s].template weight<scalar_t>();
    }
  }
};

// Max over the steps of one displacement for the sources x in [x_begin, x_end) of one row, where
// x_end - x_begin is a multiple of kPad (the extra sources are discarded by the caller). `row` points at
// b[y, 0] in the padded map. Sources are taken kPad at a time with the running max held in registers
// across all steps. A sample is a + w (c - a): exact when both neighbours are equal (so ties on flat maps
// stay ties) and when w = 0, where c is a itself (upper_offset 0). Ties keep the first (smallest) step, as
// torch.max does.
#if defined(__GNUC__)
// GCC/Clang vector extensions: the compiler left the plain-array version's accumulators in memory (masked
// stores and store-forwarding stalls in the arg-max loop); vector types pin them to registers, and each
// target clone lowers them to its own vector width.
template <typename scalar_t>
struct Lanes {
  typedef scalar_t vec __attribute__((vector_size(kPad * sizeof(scalar_t))));
  typedef decltype(vec() > vec()) mask;  // integer lanes of the same width
};

template <typename scalar_t>
RANET_VECTOR_CLONES void max_over_steps(const scalar_t* __restrict row, const int64_t* __restrict lower_offset,
                                        const int64_t* __restrict upper_offset, const scalar_t* __restrict weight,
                                        int64_t num_steps, int64_t x_begin, int64_t x_end,
                                        scalar_t* __restrict best, int32_t* __restrict arg, bool track_arg) {
  typedef typename Lanes<scalar_t>::vec vec;
  typedef typename Lanes<scalar_t>::mask mask;
  const scalar_t lowest = -std::numeric_limits<scalar_t>::infinity();
  for (int64_t x0 = x_begin; x0 < x_end; x0 += kPad) {
    vec acc = vec() + lowest;
    if (track_arg) {
      mask acc_arg = mask() + 0;
      mask step = mask() + 0;
      for (int64_t s = 0; s < num_steps; ++s) {
        step += 1;  // the step number t = s + 1, in every lane
        vec a, c;
        std::memcpy(&a, row + x0 + lower_offset[s], sizeof(vec));
        std::memcpy(&c, row + x0 + lower_offset[s] + upper_offset[s], sizeof(vec));
        const vec v = a + weight[s] * (c - a);
        const mask better = v > acc;
        acc = better ? v : acc;
        acc_arg = better ? step : acc_arg;
      }
      for (int64_t i = 0; i < kPad; ++i) arg[x0 + i] = static_cast<int32_t>(acc_arg[i]);
    } else {
      for (int64_t s = 0; s < num_steps; ++s) {
        vec a, c;
        std::memcpy(&a, row + x0 + lower_offset[s], sizeof(vec));
        std::memcpy(&c, row + x0 + lower_offset[s] + upper_offset[s], sizeof(vec));
        const vec v = a + weight[s] * (c - a);
        acc = v > acc ? v : acc;
      }
    }
    std::memcpy(best + x0, &acc, sizeof(vec));
  }
}
#else
template <typename scalar_t>
void max_over_steps(const scalar_t* __restrict row, const int64_t* __restrict lower_offset,
                    const int64_t* __restrict upper_offset, const scalar_t* __restrict weight, int64_t num_steps,
                    int64_t x_begin, int64_t x_end, scalar_t* __restrict best, int32_t* __restrict arg,
                    bool track_arg) {
  const scalar_t lowest = -std::numeric_limits<scalar_t>::infinity();
  for (int64_t x = x_begin; x < x_end; ++x) {
    scalar_t acc = lowest;
    int32_t acc_arg = 0;
    for (int64_t s = 0; s < num_steps; ++s) {
      const scalar_t a = row[x + lower_offset[s]];
      const scalar_t c = row[x + lower_offset[s] + upper_offset[s]];
      const scalar_t v = a + weight[s] * (c - a);
      if (v > acc) {
        acc = v;
        acc_arg = static_cast<int32_t>(s + 1);
      }
    }
    best[x] = acc;
    if (track_arg) arg[x] = acc_arg;
  }
}
#endif

struct Task {
  int64_t batch;
  int64_t row;   // first source row of the block
  int64_t rows;  // rows in the block (<= kRowBlock)
  int64_t dy;
};

// Tasks ordered longest first (small dy covers the most steps), which helps dynamic scheduling.
std::vector<Task> make_tasks(int64_t batch, int64_t height) {
  std::vector<Task> tasks;
  for (int64_t dy = 0; dy < height; ++dy)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t y = 0; y + dy < height; y += kRowBlock)
        tasks.push_back({b, y, std::min(kRowBlock, height - dy - y), dy});
  return tasks;
}

int num_threads_for(int64_t tasks) {
  const int threads = at::get_num_threads();
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, tasks)));
}

template <typename scalar_t>
void forward_impl(const scalar_t* boundary, scalar_t* table, int64_t batch, int64_t height, int64_t width) {
  const int64_t pixels = height * width;
  const int64_t stride = width + kPad;
  const int64_t block = width * width;
  const std::vector<scalar_t> padded = pad_maps(boundary, batch, height, width);
  const std::vector<Task> tasks = make_tasks(batch, height);
  const int64_t num_tasks = static_cast<int64_t>(tasks.size());
#pragma omp parallel num_threads(num_threads_for(num_tasks))
  {
    Buffers<scalar_t> buf(width);
#pragma omp for schedule(dynamic, 1)
    for (int64_t k = 0; k < num_tasks; ++k) {
      const Task task = tasks[k];
      std::fill(buf.forward.begin(), buf.forward.begin() + task.rows * block, scalar_t(0));
      for (int64_t dx = -(width - 1); dx < width; ++dx) {
        const int64_t length = std::max(task.dy, std::abs(dx));
        if (length <= 1) continue;  // self and 8-neighbours stay 0
        const int64_t x_begin = std::max<int64_t>(0, -dx);
        const int64_t x_end = std::min<int64_t>(width, width - dx);
        buf.set_steps(task.dy, dx, stride);
        for (int64_t r = 0; r < task.rows; ++r) {
          const scalar_t* row = padded.data() + (task.batch * height + task.row + r) * stride;
          max_over_steps<scalar_t>(row, buf.lower_offset.data(), buf.upper_offset.data(), buf.weight.data(),
                                   static_cast<int64_t>(buf.steps.size()), x_begin,
                                   x_begin + round_up(x_end - x_begin, kPad), buf.best.data(), buf.arg.data(),
                                   false);
          scalar_t* forward = buf.forward.data() + r * block;
          for (int64_t x = x_begin; x < x_end; ++x) forward[x * width + x + dx] = std::max(buf.best[x], scalar_t(0));
        }
      }
      scalar_t* image = table + task.batch * pixels * pixels;
      for (int64_t r = 0; r < task.rows; ++r) {
        const int64_t source_row = task.row + r;
        const int64_t target_row = source_row + task.dy;
        const scalar_t* forward = buf.forward.data() + r * block;
        for (int64_t x = 0; x < width; ++x)
          std::memcpy(image + (source_row * width + x) * pixels + target_row * width, forward + x * width,
                      width * sizeof(scalar_t));
        if (task.dy == 0) continue;  // within one row the forward block already holds both directions
        for (int64_t x = 0; x < width; ++x)
          for (int64_t xt = 0; xt < width; ++xt) buf.mirror[xt * width + x] = forward[x * width + xt];
        for (int64_t xt = 0; xt < width; ++xt)
          std::memcpy(image + (target_row * width + xt) * pixels + source_row * width, buf.mirror.data() + xt * width,
                      width * sizeof(scalar_t));
      }
    }
  }
}

template <typename scalar_t>
void backward_impl(const scalar_t* boundary, const scalar_t* grad_table, scalar_t* grad_boundary, int64_t batch,
                   int64_t height, int64_t width) {
  const int64_t pixels = height * width;
  const int64_t stride = width + kPad;
  const int64_t block = width * width;
  const std::vector<scalar_t> padded = pad_maps(boundary, batch, height, width);
  const std::vector<Task> tasks = make_tasks(batch, height);
  const int64_t num_tasks = static_cast<int64_t>(tasks.size());
  const int threads = num_threads_for(num_tasks);
  // Many pairs send gradient to the same pixel: each thread accumulates privately, then one reduction.
  // A static schedule keeps the summation order, hence the float result, fixed for a given thread count.
  std::vector<scalar_t> partial(static_cast<size_t>(threads) * batch * pixels, scalar_t(0));
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    scalar_t* mine = partial.data() + static_cast<int64_t>(omp_get_thread_num()) * batch * pixels;
#else
    scalar_t* mine = partial.data();
#endif
    Buffers<scalar_t> buf(width);
    // Per row of the block: [x][x'] = dL/dD_ij + dL/dD_ji for i = (y + r, x), j = (y + r + dy, x').
    std::vector<scalar_t> pair_grad(kRowBlock * block);
    std::vector<char> row_needed(kRowBlock);
#pragma omp for schedule(static, 1)
    for (int64_t k = 0; k < num_tasks; ++k) {
      const Task task = tasks[k];
      const scalar_t* image = grad_table + task.batch * pixels * pixels;
      // D_ij and D_ji read the same samples: their upstream gradients travel together.
      for (int64_t r = 0; r < task.rows; ++r) {
        const int64_t source_row = task.row + r;
        const int64_t target_row = source_row + task.dy;
        scalar_t* forward = buf.forward.data();
        for (int64_t x = 0; x < width; ++x)
          std::memcpy(forward + x * width, image + (source_row * width + x) * pixels + target_row * width,
                      width * sizeof(scalar_t));
        for (int64_t xt = 0; xt < width; ++xt)
          std::memcpy(buf.mirror.data() + xt * width, image + (target_row * width + xt) * pixels + source_row * width,
                      width * sizeof(scalar_t));
        scalar_t* pair = pair_grad.data() + r * block;
        for (int64_t x = 0; x < width; ++x)
          for (int64_t xt = 0; xt < width; ++xt) pair[x * width + xt] = forward[x * width + xt] + buf.mirror[xt * width + x];
      }
      scalar_t* grad_image = mine + task.batch * pixels;
      // Within one row only dx > 0 is visited (the raster-earlier pixel is the source, as in the forward tie
      // rule); across rows the source row is the earlier one for every dx.
      const int64_t dx_first = task.dy == 0 ? 2 : -(width - 1);
      for (int64_t dx = dx_first; dx < width; ++dx) {
        const int64_t length = std::max(task.dy, std::abs(dx));
        if (length <= 1) continue;
        const int64_t x_begin = std::max<int64_t>(0, -dx);
        const int64_t x_end = std::min<int64_t>(width, width - dx);
        bool any = false;
        for (int64_t r = 0; r < task.rows; ++r) {
          const scalar_t* pair = pair_grad.data() + r * block;
          bool row_any = false;
          for (int64_t x = x_begin; x < x_end; ++x) row_any |= pair[x * width + x + dx] != scalar_t(0);
          row_needed[r] = row_any;
          any |= row_any;
        }
        if (!any) continue;  // sparse upstream gradients (masked tables) skip the recomputation
        buf.set_steps(task.dy, dx, stride);
        for (int64_t r = 0; r < task.rows; ++r) {
          if (!row_needed[r]) continue;
          const int64_t source_row = task.row + r;
          const scalar_t* row = padded.data() + (task.batch * height + source_row) * stride;
          max_over_steps<scalar_t>(row, buf.lower_offset.data(), buf.upper_offset.data(), buf.weight.data(),
                                   static_cast<int64_t>(buf.steps.size()), x_begin,
                                   x_begin + round_up(x_end - x_begin, kPad), buf.best.data(), buf.arg.data(),
                                   true);
          const scalar_t* pair = pair_grad.data() + r * block;
          for (int64_t x = x_begin; x < x_end; ++x) {
            const scalar_t g = pair[x * width + x + dx];
            // Matches clamp_min(0): a negative maximum was clipped and passes no gradient; 0 itself does.
            if (g == scalar_t(0) || !(buf.best[x] >= scalar_t(0))) continue;
            const Step& step = buf.steps[buf.arg[x] - 1];
            const int64_t lower = (source_row + step.floor_y) * width + x + step.floor_x;
            const scalar_t w = step.template weight<scalar_t>();
            grad_image[lower] += g * (scalar_t(1) - w);
            if (step.remainder != 0) grad_image[lower + (step.x_major ? width : 1)] += g * w;
          }
        }
      }
    }
  }
  const int64_t total = batch * pixels;
  for (int t = 0; t < threads; ++t) {
    const scalar_t* part = partial.data() + static_cast<int64_t>(t) * total;
    for (int64_t i = 0; i < total; ++i) grad_boundary[i] += part[i];
  }
}

void check_boundary(const at::Tensor& boundary, const char* name) {
  TORCH_CHECK(boundary.dim() == 3, name, " must have shape (B, H, W), got ", boundary.sizes());
  TORCH_CHECK(boundary.device().is_cpu(), name, " must be a CPU tensor for the compiled CPU operator, got ",
              boundary.device());
  TORCH_CHECK(boundary.scalar_type() == at::kFloat || boundary.scalar_type() == at::kDouble, name,
              " must be float32 or float64, got ", boundary.scalar_type());
  TORCH_CHECK(boundary.size(1) < (int64_t(1) << 15) && boundary.size(2) < (int64_t(1) << 15), name,
              " map too large: ", boundary.sizes());
}

}  // namespace

at::Tensor boundary_max_table_forward(const at::Tensor& boundary_in) {
  check_boundary(boundary_in, "boundary");
  const at::Tensor boundary = boundary_in.contiguous();
  const int64_t batch = boundary.size(0), height = boundary.size(1), width = boundary.size(2);
  const int64_t pixels = height * width;
  // Every element is written exactly once by the tasks (zeros included), so no zero-fill pass is needed.
  at::Tensor table = at::empty({batch, pixels, pixels}, boundary.options());
  if (table.numel() == 0) return table;
  AT_DISPATCH_FLOATING_TYPES(boundary.scalar_type(), "boundary_max_table_forward", [&] {
    forward_impl<scalar_t>(boundary.data_ptr<scalar_t>(), table.data_ptr<scalar_t>(), batch, height, width);
  });
  return table;
}

at::Tensor boundary_max_table_backward(const at::Tensor& grad_table_in, const at::Tensor& boundary_in) {
  check_boundary(boundary_in, "boundary");
  const at::Tensor boundary = boundary_in.contiguous();
  const int64_t batch = boundary.size(0), height = boundary.size(1), width = boundary.size(2);
  const int64_t pixels = height * width;
  TORCH_CHECK(grad_table_in.sizes() == at::IntArrayRef({batch, pixels, pixels}),
              "grad_table must have shape (B, N, N) = ", at::IntArrayRef({batch, pixels, pixels}), ", got ",
              grad_table_in.sizes());
  const at::Tensor grad_table = grad_table_in.to(boundary.scalar_type()).contiguous();
  at::Tensor grad_boundary = at::zeros_like(boundary);
  if (boundary.numel() == 0) return grad_boundary;
  AT_DISPATCH_FLOATING_TYPES(boundary.scalar_type(), "boundary_max_table_backward", [&] {
    backward_impl<scalar_t>(boundary.data_ptr<scalar_t>(), grad_table.data_ptr<scalar_t>(),
                            grad_boundary.data_ptr<scalar_t>(), batch, height, width);
  });
  return grad_boundary;
}

bool built_with_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace mmseg_ranet
