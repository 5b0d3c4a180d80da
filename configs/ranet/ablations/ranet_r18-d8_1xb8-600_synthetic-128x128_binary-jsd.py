# Ablation: the released code's binary JSD on i's arg-max class (natural log, not normalised) in place of
# the paper variant's full, ln 2-normalised JSD.
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128.py"]
model = dict(decode_head=dict(construction=dict(divergence="binary", jsd_normalize=False)))
