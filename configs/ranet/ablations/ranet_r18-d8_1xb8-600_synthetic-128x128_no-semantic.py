# Ablation: no semantic term (E = 0, so F = 1 - D): regions come from the boundary map alone.
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128.py"]
model = dict(decode_head=dict(construction=dict(use_semantic_term=False)))
