_base_ = [
    "../_base_/models/ranet_r50-d8.py",
    "mmseg::_base_/datasets/pascal_context_59.py",
    "mmseg::_base_/default_runtime.py",
    "mmseg::_base_/schedules/schedule_80k.py",
]
crop_size = (480, 480)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained="open-mmlab://resnet101_v1c",
    backbone=dict(depth=101),
    decode_head=dict(num_classes=59),
    test_cfg=dict(mode="slide", crop_size=(480, 480), stride=(320, 320)),
)
optimizer = dict(type="SGD", lr=0.004, momentum=0.9, weight_decay=0.0001)
optim_wrapper = dict(type="OptimWrapper", optimizer=optimizer)
# Boundary labels (gt_edge_map) for the boundary losses; training only, after the geometric augmentations.
train_pipeline = _base_.train_pipeline[:-1] + [
    dict(type="GenerateRegionBoundary", radius=2),
    dict(type="PackSegInputs"),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
custom_imports = dict(imports=["mmseg_ranet"], allow_failed_imports=False)
