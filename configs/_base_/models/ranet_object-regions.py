# The paper variant whose regions follow objects:
#   * D counts the segment's end points, D_ij = max(b_i, b_j, samples between) (boundary_endpoints), so a
#     cell on an outline separates the cells on both sides of it;
#   * W^g learns from the partition loss only (representativeness_trains_decision=False): through J it
#     drifts until G links nothing or everything;
#   * a partition loss on the region decision of sampled pixel pairs (RegionPartitionLoss, logged as
#     loss_partition): pairs should be linked exactly when they lie in the same ground-truth segment;
#   * threshold 0.5: with the end points F_ij <= 1 - max(b_i, b_j), and the untrained b is about 0.5, so at
#     0.8 every cell starts as its own region (measured: 256 of 256 cells after 15 iterations), at 0.5
#     about 15 regions;
#   * regions by average linkage of the decision margins (ops.region_linkage), not connected components of
#     G: trained, the decision still links 8-12% of the neighbour pairs across object borders, and one such
#     link makes connected components merge two objects (objects scenes, 300 x 4, seed 0: ASA 0.71 and 0.85
#     regions per GT segment with components, 0.87 and 2.15 with average linkage).
# On top of a RANet model config:
#   _base_ = ["<a RANet config>", "<this file>"]
#   model = dict(decode_head=_base_.ranet_object_regions)
ranet_object_regions = dict(
    construction=dict(
        region_threshold=0.5,
        divergence="full",
        jsd_normalize=True,
        learnable_decision=True,
        representativeness_source="decision",
        region_rule="average_linkage",
        boundary_endpoints=True,
        representativeness_trains_decision=False,
    ),
    interaction=dict(
        num_representatives=8,
        local_mask=True,
        global_mask=True,
        global_softmax="per_region",
        distribution_mask=True,
        feature_convs=False,
        refine_convs=False,
    ),
    loss_partition=dict(type="RegionPartitionLoss", loss_weight=1.0, num_pairs=1024),
)
