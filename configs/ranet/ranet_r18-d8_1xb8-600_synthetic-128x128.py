# RANet (paper variant) on the generated dataset in which object-level context decides the class.
# A small ResNet-18-D8 trained from scratch; trains on a CPU in minutes and reports val mIoU at the end.
#   python -m mmseg_ranet.datasets.generate --out data/synthetic_context
#   OMP_NUM_THREADS=1 python tools/train.py configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py
# (on a small shared machine one thread per process is much faster than several competing ones)
_base_ = [
    "../_base_/models/ranet_r50-d8.py",
    "../_base_/datasets/synthetic_context.py",
    "mmseg::_base_/default_runtime.py",
    "../_base_/schedules/schedule_cpu_demo.py",
    "../_base_/cpu_reproducible.py",
]
crop_size = (128, 128)
num_classes = 5
norm_cfg = dict(type="BN", requires_grad=True)
data_preprocessor = dict(size=crop_size)
model = dict(
    # EncoderDecoder that also hands the head's region map to the evaluator (pred_regions), same weights.
    type="RegionEncoderDecoder",
    data_preprocessor=data_preprocessor,
    # No pretrained weights can be assumed for the demo; the backbone trains from scratch.
    pretrained=None,
    backbone=dict(depth=18, stem_channels=64, base_channels=32, norm_cfg=norm_cfg),
    decode_head=dict(
        # ResNet-18 stages 3 and 4 of a base width of 32 have 128 and 256 channels.
        in_channels=[128, 256],
        channels=128,
        interaction=dict(num_representatives=8),
        num_classes=num_classes,
        norm_cfg=norm_cfg,
    ),
)
train_pipeline = _base_.train_pipeline[:-1] + [
    dict(type="GenerateRegionBoundary", radius=2),
    dict(type="PackSegInputs"),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
# mIoU, and the superpixel measures of the regions on the stride-8 grid (region/asa, region/ue, ...).
val_evaluator = [
    dict(type="IoUMetric", iou_metrics=["mIoU"]),
    dict(type="RegionQualityMetric", tolerance=1),
]
test_evaluator = val_evaluator
custom_imports = dict(imports=["mmseg_ranet"], allow_failed_imports=False)
