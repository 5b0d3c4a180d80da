# Ablation: the object-region RANet with the paper's region rule, connected components of G
# (region_rule='components'), instead of the preset's average linkage of the decision margins; everything
# else unchanged. One linked pair across an object border is enough for components to merge two objects.
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions.py"]
model = dict(decode_head=dict(construction=dict(region_rule="components")))
