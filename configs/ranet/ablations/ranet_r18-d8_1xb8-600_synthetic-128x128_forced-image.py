# Ablation: the paper variant with one region per image (force_regions='image'); everything else is the
# paper's. With its oracle twin (..._forced-ground-truth.py) it measures what object regions are worth to
# the paper's head.
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128.py"]
model = dict(decode_head=dict(construction=dict(force_regions="image")))
