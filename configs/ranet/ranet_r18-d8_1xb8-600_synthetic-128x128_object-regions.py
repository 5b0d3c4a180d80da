# RANet whose regions follow objects (configs/_base_/models/ranet_object-regions.py): the paper variant plus
#   * the boundary term with its end points, D_ij = max(b_i, b_j, samples between)
#     (construction.boundary_endpoints), so that a cell on an outline separates the cells on both sides of it;
#   * a partition loss on the region decision of sampled pixel pairs (loss_partition=RegionPartitionLoss,
#     logged as loss_partition): pairs should be linked exactly when they lie in the same ground-truth segment;
#   * W^g learns from that loss only (construction.representativeness_trains_decision=False): through J alone
#     it drifts until G links nothing or everything; it starts at threshold 0.5
#     (construction.region_threshold) and learns at 10x the base learning rate (below);
#   * regions by average linkage of the decision margins (construction.region_rule='average_linkage'): two
#     regions merge while the mean margin between them is positive, so a few wrong links across a border do
#     not merge two objects as connected components of G do (ablation: ablations/..._object-regions_components.py).
# Each fix is one nested key of RANetHead and can be turned off on its own on top of this config, e.g.
#   --cfg-options model.decode_head.construction.boundary_endpoints=False
#   --cfg-options model.decode_head.loss_partition=None
#   --cfg-options model.decode_head.construction.representativeness_trains_decision=True
#   --cfg-options model.decode_head.construction.region_rule=components
_base_ = ["./ranet_r18-d8_1xb8-600_synthetic-128x128.py", "../_base_/models/ranet_object-regions.py"]
model = dict(decode_head=_base_.ranet_object_regions)
# W^g is two numbers; under AdamW each moves by about the learning rate per step, so at lr 2e-3 its bias needs
# hundreds of iterations to follow the partition loss. Measured after 25 iterations of batch 4: 29.2 regions
# per image at the base rate, 8.6 with lr_mult=10 (3.5 ground-truth segments per image).
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={"decision_conv": dict(lr_mult=10.0)}))
custom_imports = dict(imports=["mmseg_ranet"], allow_failed_imports=False)
