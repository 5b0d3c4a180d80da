# Ablation: K = 4 representative pixels per region (the main config uses K = 8).
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128.py"]
model = dict(decode_head=dict(interaction=dict(num_representatives=4)))
