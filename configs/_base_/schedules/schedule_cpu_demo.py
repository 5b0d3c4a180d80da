# A short schedule that trains a small model on a CPU in minutes: validate and checkpoint at the end.
# From scratch and in a few hundred iterations, AdamW learns the generated dataset's cue colours where
# SGD (lr 0.02, momentum 0.9) does not: FCN, RANet paper and RANet official all stayed near 30 mIoU
# with SGD after 600 iterations.
max_iters = 600
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.01)
optim_wrapper = dict(type="OptimWrapper", optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type="PolyLR", eta_min=1e-4, power=0.9, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=200, max_keep_ckpts=2),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="SegVisualizationHook"),
)
randomness = dict(seed=0)
