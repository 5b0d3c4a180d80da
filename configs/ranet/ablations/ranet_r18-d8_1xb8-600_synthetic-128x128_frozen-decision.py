# Ablation: W^g (decision_conv) frozen at its initialisation (identity weight, bias -0.8), which is the
# released threshold G = 1[(F + F^T) / 2 > 0.8]. Trained freely, W^g drifts until every pixel is its own
# region; frozen, the paper variant keeps multi-pixel regions.
# Not a hard freeze: PolyLR's absolute eta_min (1e-4) pulls this group's learning rate from 0 towards 1e-4
# after the warm-up, so W^g still moves a little (0.985 F - 0.805 after 600 iterations of batch 8).
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128.py"]
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={"decision_conv": dict(lr_mult=0.0, decay_mult=0.0)}))
