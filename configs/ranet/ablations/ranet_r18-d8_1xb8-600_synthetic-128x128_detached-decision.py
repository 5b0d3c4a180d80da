# Ablation: the paper variant with the object-region preset's W^g that does not learn through the
# representativeness J (representativeness_trains_decision=False); with no partition loss W^g then keeps
# its initial value. Everything else is the paper's.
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128.py"]
model = dict(decode_head=dict(construction=dict(representativeness_trains_decision=False)))
