// Boundary term D of RANet's Region Construction Block, compiled CPU path.
//
// Semantics are those of the released code and of mmseg_ranet/models/ops/boundary_max_table.py: for
// d = p_j - p_i and L = max(|dx|, |dy|), samples p_i + t * d / L for t = 1 .. L - 1; the major-axis
// coordinate is an integer, the minor one is linearly interpolated; D_ij = max(0, max_t sample); D = 0 for
// L <= 1. The gradient of D_ij and D_ji goes to the two interpolation neighbours of the first (smallest t,
// counted from the raster-earlier pixel) maximal sample; none when that maximum is negative.
//
// Layout of the work: one task is (image b, source row y, row offset dy >= 0). Within a task every column
// offset dx is a "displacement", and for a fixed displacement and step t all sources of the row read the
// same relative neighbours with the same weight, so the inner loop runs over contiguous source columns and
// vectorises. The results of a task are the two W x W blocks D[(y, .), (y + dy, .)] and its mirror
// D[(y + dy, .), (y, .)], staged in small buffers and written as contiguous runs of W values, so the
// N x N table is written once, row segment by row segment, instead of one scattered element per pair.
// The backward pass recomputes the arg-max per pair instead of keeping an index table (N^2 ints).

#include "boundary_max_table.h"

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

// Runtime dispatch to the widest vector unit the CPU has while the binary stays portable (built without
// -march=native, so a wheel or a shared cache works on older x86-64 machines too).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define RANET_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RANET_VECTOR_CLONES
#endif

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
  int64_t length;
  bool x_major;
  int64_t lower_offset;
  int64_t upper_offset;
  // Same float division as the PyTorch op (remainder / length in the map's dtype), so weights agree bitwise.
  template <typename scalar_t>
  scalar_t weight() const {
    return static_cast<scalar_t>(remainder) / static_cast<scalar_t>(length);
  }
};

// Steps t = 1 .. L - 1 of displacement (dy >= 0, dx); the integer floor/remainder split of
// segment_sample_geometry, so positions are exact.
inline void displacement_steps(int64_t dy, int64_t dx, int64_t stride, std::vector<Step>& steps) {
  const int64_t length = std::max(dy, std::abs(dx));
  const bool x_major = std::abs(dx) >= dy;
  steps.clear();
  for (int64_t t = 1; t < length; ++t) {
    const int64_t num_y = t * dy;
    const int64_t num_x = t * dx;
    // dy >= 0, so C++ division is already the floor for y; dx may be negative.
    const int64_t floor_y = num_y / length;
    int64_t floor_x = num_x / length;
    if (num_x % length != 0 && num_x < 0) floor_x -= 1;
    Step step;
    step.floor_y = floor_y;
    step.floor_x = floor_x;
    step.remainder = x_major ? num_y - floor_y * length : num_x - floor_x * length;
    step.length = length;
    step.x_major = x_major;
    step.lower_offset = floor_y * stride + floor_x;
    step.upper_offset = step.remainder == 0 ? 0 : (x_major ? stride : 1);
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

template <typename scalar_t>
struct Buffers {
  std::vector<scalar_t> best;     // running max per source column, one displacement
  std::vector<int32_t> arg;       // step of the running max (backward only)
  std::vector<scalar_t> forward;  // [x][x'] = D[(y, x), (y + dy, x')]
  std::vector<scalar_t> mirror;   // [x'][x] = D[(y + dy, x'), (y, x)]
  std::vector<Step> steps;
  explicit Buffers(int64_t width)
      : best(width + kPad), arg(width + kPad), forward(width * width), mirror(width * width) {}
};

// Running max over the steps of one displacement for the sources x in [x_begin, x_end) of one row, where
// x_end - x_begin is a multiple of kPad (no scalar remainder loop; the extra sources are discarded by the
// caller). `row` points at b[y, 0] in the padded map. Ties keep the first (smallest) step, as torch.max.
template <typename scalar_t>
RANET_VECTOR_CLONES void max_over_steps(const scalar_t* __restrict row, const Step* steps, int64_t num_steps,
                                        int64_t x_begin, int64_t x_end, scalar_t* __restrict best,
                                        int32_t* __restrict arg, bool track_arg) {
  const scalar_t lowest = -std::numeric_limits<scalar_t>::infinity();
  for (int64_t x = x_begin; x < x_end; ++x) {
    best[x] = lowest;
    arg[x] = 0;
  }
  for (int64_t s = 0; s < num_steps; ++s) {
    const scalar_t* __restrict lower = row + steps[s].lower_offset;
    const int32_t t = static_cast<int32_t>(s + 1);
    if (steps[s].upper_offset == 0) {
      if (track_arg) {
#pragma omp simd
        for (int64_t x = x_begin; x < x_end; ++x) {
          const scalar_t v = lower[x];
          const scalar_t current = best[x];
          const bool better = v > current;
          best[x] = better ? v : current;
          arg[x] = better ? t : arg[x];
        }
      } else {
#pragma omp simd
        for (int64_t x = x_begin; x < x_end; ++x) {
          const scalar_t v = lower[x];
          const scalar_t current = best[x];
          best[x] = v > current ? v : current;
        }
      }
    } else {
      const scalar_t* __restrict upper = lower + steps[s].upper_offset;
      const scalar_t w = steps[s].template weight<scalar_t>();
      // a + w (c - a): exact when both neighbours are equal, so ties on flat maps stay ties.
      if (track_arg) {
#pragma omp simd
        for (int64_t x = x_begin; x < x_end; ++x) {
          const scalar_t v = lower[x] + w * (upper[x] - lower[x]);
          const scalar_t current = best[x];
          const bool better = v > current;
          best[x] = better ? v : current;
          arg[x] = better ? t : arg[x];
        }
      } else {
#pragma omp simd
        for (int64_t x = x_begin; x < x_end; ++x) {
          // Plain value selects (not std::max, which returns a reference) keep the loop vectorisable.
          const scalar_t v = lower[x] + w * (upper[x] - lower[x]);
          const scalar_t current = best[x];
          best[x] = v > current ? v : current;
        }
      }
    }
  }
}

struct Task {
  int64_t batch;
  int64_t row;
  int64_t dy;
};

// Tasks ordered longest first (small y and dy cover the most steps), which helps dynamic scheduling.
std::vector<Task> make_tasks(int64_t batch, int64_t height) {
  std::vector<Task> tasks;
  tasks.reserve(batch * height * (height + 1) / 2);
  for (int64_t dy = 0; dy < height; ++dy)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t y = 0; y + dy < height; ++y) tasks.push_back({b, y, dy});
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
  const std::vector<scalar_t> padded = pad_maps(boundary, batch, height, width);
  const std::vector<Task> tasks = make_tasks(batch, height);
  const int64_t num_tasks = static_cast<int64_t>(tasks.size());
#pragma omp parallel num_threads(num_threads_for(num_tasks))
  {
    Buffers<scalar_t> buf(width);
#pragma omp for schedule(dynamic, 1)
    for (int64_t k = 0; k < num_tasks; ++k) {
      const Task task = tasks[k];
      const scalar_t* row = padded.data() + (task.batch * height + task.row) * stride;
      std::fill(buf.forward.begin(), buf.forward.end(), scalar_t(0));
      for (int64_t dx = -(width - 1); dx < width; ++dx) {
        const int64_t length = std::max(task.dy, std::abs(dx));
        if (length <= 1) continue;  // self and 8-neighbours stay 0
        const int64_t x_begin = std::max<int64_t>(0, -dx);
        const int64_t x_end = std::min<int64_t>(width, width - dx);
        displacement_steps(task.dy, dx, stride, buf.steps);
        max_over_steps<scalar_t>(row, buf.steps.data(), static_cast<int64_t>(buf.steps.size()), x_begin,
                                 x_begin + round_up(x_end - x_begin, kPad), buf.best.data(), buf.arg.data(), false);
        for (int64_t x = x_begin; x < x_end; ++x)
          buf.forward[x * width + x + dx] = std::max(buf.best[x], scalar_t(0));
      }
      scalar_t* image = table + task.batch * pixels * pixels;
      const int64_t target_row = task.row + task.dy;
      for (int64_t x = 0; x < width; ++x)
        std::memcpy(image + (task.row * width + x) * pixels + target_row * width, buf.forward.data() + x * width,
                    width * sizeof(scalar_t));
      if (task.dy == 0) continue;  // within one row the forward block already holds both directions
      for (int64_t x = 0; x < width; ++x)
        for (int64_t xt = 0; xt < width; ++xt) buf.mirror[xt * width + x] = buf.forward[x * width + xt];
      for (int64_t xt = 0; xt < width; ++xt)
        std::memcpy(image + (target_row * width + xt) * pixels + task.row * width, buf.mirror.data() + xt * width,
                    width * sizeof(scalar_t));
    }
  }
}

template <typename scalar_t>
void backward_impl(const scalar_t* boundary, const scalar_t* grad_table, scalar_t* grad_boundary, int64_t batch,
                   int64_t height, int64_t width) {
  const int64_t pixels = height * width;
  const int64_t stride = width + kPad;
  const std::vector<scalar_t> padded = pad_maps(boundary, batch, height, width);
  const std::vector<Task> tasks = make_tasks(batch, height);
  const int64_t num_tasks = static_cast<int64_t>(tasks.size());
  const int threads = num_threads_for(num_tasks);
  // Many pairs send gradient to the same pixel: each thread accumulates privately, then one reduction.
  std::vector<scalar_t> partial(static_cast<size_t>(threads) * batch * pixels, scalar_t(0));
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    scalar_t* mine = partial.data() + static_cast<int64_t>(omp_get_thread_num()) * batch * pixels;
#else
    scalar_t* mine = partial.data();
#endif
    Buffers<scalar_t> buf(width);
    std::vector<scalar_t> pair_grad(width);
#pragma omp for schedule(dynamic, 1)
    for (int64_t k = 0; k < num_tasks; ++k) {
      const Task task = tasks[k];
      const scalar_t* row = padded.data() + (task.batch * height + task.row) * stride;
      const scalar_t* image = grad_table + task.batch * pixels * pixels;
      const int64_t target_row = task.row + task.dy;
      // D_ij and D_ji read the same samples: their upstream gradients travel together.
      for (int64_t x = 0; x < width; ++x)
        std::memcpy(buf.forward.data() + x * width, image + (task.row * width + x) * pixels + target_row * width,
                    width * sizeof(scalar_t));
      for (int64_t xt = 0; xt < width; ++xt)
        std::memcpy(buf.mirror.data() + xt * width, image + (target_row * width + xt) * pixels + task.row * width,
                    width * sizeof(scalar_t));
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
        for (int64_t x = x_begin; x < x_end; ++x) {
          const scalar_t g = buf.forward[x * width + x + dx] + buf.mirror[(x + dx) * width + x];
          pair_grad[x] = g;
          any |= g != scalar_t(0);
        }
        if (!any) continue;  // sparse upstream gradients (masked tables) skip the recomputation
        displacement_steps(task.dy, dx, stride, buf.steps);
        max_over_steps<scalar_t>(row, buf.steps.data(), static_cast<int64_t>(buf.steps.size()), x_begin,
                                 x_begin + round_up(x_end - x_begin, kPad), buf.best.data(), buf.arg.data(), true);
        for (int64_t x = x_begin; x < x_end; ++x) {
          const scalar_t g = pair_grad[x];
          // Matches clamp_min(0): a negative maximum was clipped and passes no gradient; 0 itself does.
          if (g == scalar_t(0) || !(buf.best[x] >= scalar_t(0))) continue;
          const Step& step = buf.steps[buf.arg[x] - 1];
          const int64_t lower = (task.row + step.floor_y) * width + x + step.floor_x;
          const scalar_t w = step.template weight<scalar_t>();
          grad_image[lower] += g * (scalar_t(1) - w);
          if (step.remainder != 0) grad_image[lower + (step.x_major ? width : 1)] += g * w;
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

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Compiled operators of mmseg_ranet (RANet boundary table D).";
  m.def("boundary_max_table_forward", &mmseg_ranet::boundary_max_table_forward, "D = boundary max table (CPU)",
        pybind11::arg("boundary"));
  m.def("boundary_max_table_backward", &mmseg_ranet::boundary_max_table_backward,
        "gradient of D with respect to the boundary map (CPU)", pybind11::arg("grad_table"),
        pybind11::arg("boundary"));
  m.def("built_with_openmp", &mmseg_ranet::built_with_openmp, "whether the extension was built with OpenMP");
}
