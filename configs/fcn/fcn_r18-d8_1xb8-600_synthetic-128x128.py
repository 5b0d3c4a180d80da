# FCN (no context module) on the generated dataset: the context-free baseline, trains on a CPU in minutes.
# The backbone is a narrow ResNet-18-D8 (base width 16) so that a CPU can train it from scratch.
_base_ = [
    "mmseg::_base_/models/fcn_r50-d8.py",
    "../_base_/datasets/synthetic_context.py",
    "mmseg::_base_/default_runtime.py",
    "../_base_/schedules/schedule_cpu_demo.py",
]
crop_size = (128, 128)
norm_cfg = dict(type="BN", requires_grad=True)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    # No pretrained weights can be assumed for the demo; the backbone trains from scratch.
    pretrained=None,
    backbone=dict(depth=18, stem_channels=16, base_channels=16, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=128, channels=64, num_classes=5, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=64, channels=32, num_classes=5, norm_cfg=norm_cfg),
)
