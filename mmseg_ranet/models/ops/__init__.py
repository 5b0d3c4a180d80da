"""Region operators of RANet: the boundary table D (``boundary_max_table``), the Jensen-Shannon table E
(``jensen_shannon``), region labels from a decision table (``region_labels``), the streamed Region
Construction Block that never keeps an N x N table for autograd (``region_scores``), D with the segment's
end points (``boundary_endpoints``), D and E of sampled pairs (``pair_scores``), forced partitions
(``forced_regions``), full-precision islands under autocast (``precision``), representativeness
and representatives (``region_representatives``) and the three region attentions (``region_attention``;
the region-restricted ones also as segment operations in ``region_segment_attention``).

Every operator has a pure-PyTorch path written with tensor operations (no Python loop over pixels). D,
E and the streamed region pass also have compiled C++/OpenMP kernels for CPU tensors (sources in
``csrc/``, loaded by ``_compiled``), chosen with ``impl='auto' | 'compiled' | 'torch'``. The PyTorch path
is what runs on an accelerator (``'auto'`` picks it for a non-CPU tensor): it runs on the tensor's device
and never reads a tensor on the host inside a forward or backward (no host sync; shapes come from the map
size and static bounds), and it is the tests' reference for the compiled kernels.
"""

from .boundary_endpoints import BoundaryEndpointMax, with_endpoints
from .boundary_max_table import BOUNDARY_IMPLS, BoundaryMaxTable, boundary_max_table, segment_sample_geometry
from .forced_regions import FORCED_REGIONS, forced_regions, forced_regions_and_sums
from .ground_truth_regions import ground_truth_regions, region_counts
from .jensen_shannon import DIVERGENCE_FORMS, JSD_IMPLS, jensen_shannon_rows, jensen_shannon_table
from .masked_batch_norm import masked_batch_norm
from .pair_scores import pair_boundary_term, pair_semantic_term
from .precision import autocast_off, full_precision, in_full_precision
from .region_attention import (
    GLOBAL_SOFTMAX_MODES,
    distribution,
    global_interaction,
    local_collection,
    masked_softmax,
    segment_softmax,
)
from .region_labels import (
    REGION_RULES,
    compact_region_labels,
    connected_component_roots,
    greedy_pointer_roots,
    region_labels,
)
from .region_linkage import average_linkage_labels, average_linkage_roots
from .region_representatives import Representatives, region_representativeness, select_representatives
from .region_scores import REGION_IMPLS, RegionScoreSpec, streamed_region_scores
from .region_segment_attention import grouped_softmax, segment_distribution, segment_local_collection
from .region_slots import RegionSlots, region_slots
from .segment_products import gathered_dot, gathered_sum, segment_sum

__all__ = [
    "BoundaryEndpointMax",
    "BoundaryMaxTable",
    "FORCED_REGIONS",
    "forced_regions",
    "forced_regions_and_sums",
    "autocast_off",
    "full_precision",
    "in_full_precision",
    "DIVERGENCE_FORMS",
    "GLOBAL_SOFTMAX_MODES",
    "JSD_IMPLS",
    "REGION_IMPLS",
    "REGION_RULES",
    "average_linkage_labels",
    "ground_truth_regions",
    "region_counts",
    "average_linkage_roots",
    "RegionScoreSpec",
    "RegionSlots",
    "Representatives",
    "BOUNDARY_IMPLS",
    "boundary_max_table",
    "compact_region_labels",
    "connected_component_roots",
    "distribution",
    "gathered_dot",
    "gathered_sum",
    "global_interaction",
    "greedy_pointer_roots",
    "grouped_softmax",
    "jensen_shannon_rows",
    "jensen_shannon_table",
    "local_collection",
    "masked_batch_norm",
    "masked_softmax",
    "pair_boundary_term",
    "pair_semantic_term",
    "region_labels",
    "region_representativeness",
    "region_slots",
    "segment_distribution",
    "segment_local_collection",
    "segment_sample_geometry",
    "segment_softmax",
    "segment_sum",
    "select_representatives",
    "streamed_region_scores",
    "with_endpoints",
]
