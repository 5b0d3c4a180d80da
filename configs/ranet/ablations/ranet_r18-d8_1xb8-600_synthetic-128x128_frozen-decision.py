# Ablation: W^g (decision_conv) frozen at its initialisation (identity weight, bias -0.8), which is the
# released threshold G = 1[(F + F^T) / 2 > 0.8]. Trained freely, W^g drifts until every pixel is its own
# region; frozen, the paper variant keeps multi-pixel regions.
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128.py"]
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={"decision_conv": dict(lr_mult=0.0, decay_mult=0.0)}))
