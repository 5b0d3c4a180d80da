# The released code's choices (binary JSD, unnormalised, fixed threshold, greedy regions, unrestricted
# attentions, extra convolutions) on the same model and data as the paper variant.
_base_ = ["./ranet_r18-d8_1xb8-600_synthetic-128x128.py", "../_base_/models/ranet_official.py"]
model = dict(decode_head=_base_.ranet_official)
custom_imports = dict(imports=["mmseg_ranet"], allow_failed_imports=False)
