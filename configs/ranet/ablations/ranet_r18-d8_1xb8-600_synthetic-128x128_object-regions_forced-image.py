# Ablation: the object-region RANet with its regions forced to one region per image (force_regions='image');
# everything else (scores, J, representatives, attentions, losses) unchanged.
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions.py"]
model = dict(decode_head=dict(construction=dict(force_regions="image")))
