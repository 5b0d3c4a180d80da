// Python bindings of mmseg_ranet's compiled operators (module mmseg_ranet._ext).
#include "boundary_max_table.h"
#include "jensen_shannon.h"
#include "region_scores.h"

#include <torch/extension.h>

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Compiled operators of mmseg_ranet (RANet tables D and E, regions from the score table).";
  m.def("boundary_max_table_forward", &mmseg_ranet::boundary_max_table_forward, "D = boundary max table (CPU)",
        pybind11::arg("boundary"));
  m.def("boundary_max_table_backward", &mmseg_ranet::boundary_max_table_backward,
        "gradient of D with respect to the boundary map (CPU)", pybind11::arg("grad_table"),
        pybind11::arg("boundary"));
  m.def("jensen_shannon_rows_forward", &mmseg_ranet::jensen_shannon_rows_forward,
        "rows [start, stop) of the full-class Jensen-Shannon table (CPU)", pybind11::arg("log_probs"),
        pybind11::arg("start"), pybind11::arg("stop"));
  m.def("jensen_shannon_rows_backward", &mmseg_ranet::jensen_shannon_rows_backward,
        "gradient of a block of rows of the Jensen-Shannon table with respect to the log-probabilities (CPU)",
        pybind11::arg("grad_rows"), pybind11::arg("log_probs"), pybind11::arg("start"));
  m.def("jensen_shannon_binary_rows_forward", &mmseg_ranet::jensen_shannon_binary_rows_forward,
        "rows [start, stop) of the binary (released-code) Jensen-Shannon table (CPU)", pybind11::arg("log_probs"),
        pybind11::arg("start"), pybind11::arg("stop"), pybind11::arg("low"), pybind11::arg("high"));
  m.def("jensen_shannon_binary_rows_backward", &mmseg_ranet::jensen_shannon_binary_rows_backward,
        "gradient of a block of rows of the binary Jensen-Shannon table (CPU)", pybind11::arg("grad_rows"),
        pybind11::arg("log_probs"), pybind11::arg("start"), pybind11::arg("low"), pybind11::arg("high"));
  m.def("region_roots_from_scores", &mmseg_ranet::region_roots_from_scores,
        "region roots (components) or greedy parents of one image from its score table (CPU)",
        pybind11::arg("score"), pybind11::arg("weight"), pybind11::arg("bias"), pybind11::arg("components"));
  m.def("region_row_sums", &mmseg_ranet::region_row_sums, "sum of each row of F over the row's own region (CPU)",
        pybind11::arg("score"), pybind11::arg("region"));
  m.def("built_with_openmp", &mmseg_ranet::built_with_openmp, "whether the extension was built with OpenMP");
}
