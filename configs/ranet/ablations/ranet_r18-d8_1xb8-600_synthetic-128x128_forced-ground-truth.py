# Oracle on the paper variant: its regions forced to the GT segments of the label (each class's connected
# components at the region grid, force_regions='ground_truth'); scores, J, representatives, attentions and
# losses are the paper's. It reads the label at inference too: a diagnostic of what perfect object regions
# are worth to the paper's head (RegionEncoderDecoder, the base config's model, hands the label over).
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128.py"]
model = dict(decode_head=dict(construction=dict(force_regions="ground_truth")))
