_base_ = [
    "../_base_/models/ranet_hr48.py",
    "mmseg::_base_/datasets/cityscapes_769x769.py",
    "mmseg::_base_/default_runtime.py",
    "mmseg::_base_/schedules/schedule_80k.py",
]
crop_size = (769, 769)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=19, align_corners=True),
    # 769x769 crops give a 97x97 region grid; whole 1024x2048 images would need 4.3 GB per pairwise table.
    test_cfg=dict(mode="slide", crop_size=(769, 769), stride=(513, 513)),
)
# Boundary labels (gt_edge_map) for the boundary losses; training only, after the geometric augmentations.
train_pipeline = _base_.train_pipeline[:-1] + [
    dict(type="GenerateRegionBoundary", radius=2),
    dict(type="PackSegInputs"),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
custom_imports = dict(imports=["mmseg_ranet"], allow_failed_imports=False)
