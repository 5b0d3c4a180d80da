# Ablation: the object-region RANet with the boundary end points in the region decision only
# (boundary_endpoints='decision'): D' = max(D, b_i, b_j) decides the partition (G and the partition loss),
# while J averages F with the released D, so a cell on an outline is no longer cut out of J. Measured on the
# objects scenes, the end points everywhere cost the paper variant 4.1 mIoU (ablations/..._boundary-endpoints.py).
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions.py"]
model = dict(decode_head=dict(construction=dict(boundary_endpoints="decision")))
