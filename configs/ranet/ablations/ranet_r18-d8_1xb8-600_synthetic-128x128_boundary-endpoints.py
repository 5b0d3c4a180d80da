# Ablation: the paper variant with the object-region preset's boundary term, which includes the end points
# (D_ij = max(b_i, b_j, samples between), boundary_endpoints=True); everything else is the paper's.
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128.py"]
model = dict(decode_head=dict(construction=dict(boundary_endpoints=True)))
