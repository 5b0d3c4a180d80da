# Oracle: the object-region RANet with its regions forced to the GT segments of the label (the connected
# components of each class at the region grid, force_regions='ground_truth'); everything else (scores, J,
# representatives, attentions, losses) unchanged. It reads the label at inference too, so it is a
# diagnostic of what perfect regions are worth to this head, not a model to deploy. RegionEncoderDecoder
# (the base config's model type) hands the label to the head.
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions.py"]
model = dict(decode_head=dict(construction=dict(force_regions="ground_truth")))
