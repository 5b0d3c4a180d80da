# PSPNet (pyramid pooling, image-level context) on the generated dataset. Same backbone, head width,
# schedule, data and seed as configs/fcn/fcn_r18-d8_1xb8-600_synthetic-128x128.py.
_base_ = [
    "mmseg::_base_/models/pspnet_r50-d8.py",
    "../_base_/datasets/synthetic_context.py",
    "mmseg::_base_/default_runtime.py",
    "../_base_/schedules/schedule_cpu_demo.py",
]
crop_size = (128, 128)
norm_cfg = dict(type="BN", requires_grad=True)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    # No pretrained weights can be assumed; the backbone trains from scratch.
    pretrained=None,
    # A narrow ResNet-18-D8 (stages 3 and 4 have 128 and 256 channels) that a CPU can train from scratch.
    backbone=dict(depth=18, stem_channels=64, base_channels=32, norm_cfg=norm_cfg),
    # Pool scales 1, 2, 3, 6 on the 16 x 16 stride-8 map of a 128 x 128 crop.
    decode_head=dict(in_channels=256, channels=128, num_classes=5, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=128, channels=64, num_classes=5, norm_cfg=norm_cfg),
)
