# The generated dataset in which object-level context decides the class
# (python -m mmseg_ranet.datasets.generate --out data/synthetic_context).
custom_imports = dict(imports=["mmseg_ranet"], allow_failed_imports=False)

dataset_type = "SyntheticContextDataset"
data_root = "data/synthetic_context"
crop_size = (128, 128)
num_classes = 5
train_pipeline = [
    dict(type="CheckedLoadImageFromFile"),
    dict(type="CheckedLoadAnnotations"),
    dict(type="ValidateSegMap", num_classes=num_classes),
    dict(type="RandomFlip", prob=0.5, direction=["horizontal", "vertical"]),
    dict(type="PackSegInputs"),
]
test_pipeline = [
    dict(type="CheckedLoadImageFromFile"),
    dict(type="CheckedLoadAnnotations"),
    dict(type="ValidateSegMap", num_classes=num_classes),
    dict(type="PackSegInputs"),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path="img_dir/train", seg_map_path="ann_dir/train"),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path="img_dir/val", seg_map_path="ann_dir/val"),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="IoUMetric", iou_metrics=["mIoU"])
test_evaluator = val_evaluator
