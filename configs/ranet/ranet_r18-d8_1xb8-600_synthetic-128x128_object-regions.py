# RANet whose regions follow objects (variant='object_regions'): the paper variant plus
#   * the boundary term with its end points, D_ij = max(b_i, b_j, samples between) (boundary_endpoints),
#     so that a cell on an outline separates the cells on both sides of it;
#   * a partition loss on the region decision of sampled pixel pairs (RegionPartitionLoss, logged as
#     loss_partition): pairs should be linked exactly when they lie in the same ground-truth segment;
#   * W^g learns from that loss only (representativeness_trains_decision=False): through J alone it drifts
#     until G links nothing or everything.
# Each fix is a switch of RANetHead and can be turned off on its own on top of this config, e.g.
#   --cfg-options model.decode_head.boundary_endpoints=False
#   --cfg-options model.decode_head.loss_partition=False
#   --cfg-options model.decode_head.representativeness_trains_decision=True
_base_ = ["./ranet_r18-d8_1xb8-600_synthetic-128x128.py"]
model = dict(
    decode_head=dict(
        variant="object_regions",
        # Written out (it is also the preset's) so that its weight and pair count are visible here.
        loss_partition=dict(type="RegionPartitionLoss", loss_weight=1.0, num_pairs=1024),
    )
)
custom_imports = dict(imports=["mmseg_ranet"], allow_failed_imports=False)
