_base_ = [
    "../_base_/models/ranet_r50-d8.py",
    "mmseg::_base_/datasets/coco-stuff164k.py",
    "mmseg::_base_/default_runtime.py",
    "mmseg::_base_/schedules/schedule_80k.py",
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained="open-mmlab://resnet101_v1c",
    backbone=dict(depth=101),
    decode_head=dict(num_classes=171),
    test_cfg=dict(mode="slide", crop_size=(512, 512), stride=(341, 341)),
)
# Boundary labels (gt_edge_map) for the boundary losses; training only, after the geometric augmentations.
train_pipeline = _base_.train_pipeline[:-1] + [
    dict(type="GenerateRegionBoundary", radius=2),
    dict(type="PackSegInputs"),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
custom_imports = dict(imports=["mmseg_ranet"], allow_failed_imports=False)
