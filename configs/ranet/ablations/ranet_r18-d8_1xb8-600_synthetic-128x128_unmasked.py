# Ablation: attentions not restricted by region (the released code's choice) in the paper variant:
# collection from all pixels, interaction with all representatives (one softmax), distribution from all
# representatives. Regions still choose the representatives.
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128.py"]
model = dict(
    decode_head=dict(
        interaction=dict(local_mask=False, global_mask=False, global_softmax="joint", distribution_mask=False)
    )
)
