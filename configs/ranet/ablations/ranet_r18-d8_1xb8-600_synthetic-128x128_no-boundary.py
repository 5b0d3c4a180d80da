# Ablation: no boundary term (D = 0, so F = 1 - E): regions come from the class distributions alone.
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128.py"]
model = dict(decode_head=dict(construction=dict(use_boundary_term=False)))
