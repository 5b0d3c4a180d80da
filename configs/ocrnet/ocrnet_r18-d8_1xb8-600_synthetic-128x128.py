# OCRNet (FCNHead soft regions + OCRHead object-contextual representations, CascadeEncoderDecoder) on the
# generated dataset. Same backbone, head width, schedule, data and seed as
# configs/fcn/fcn_r18-d8_1xb8-600_synthetic-128x128.py; the stage-3 FCNHead is the cascade's first stage
# and plays the auxiliary head's role (width 64, loss weight 0.4).
_base_ = [
    "mmseg::_base_/models/ocrnet_r50-d8.py",
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
    decode_head=[
        dict(
            type="FCNHead",
            in_channels=128,
            in_index=2,
            channels=64,
            num_convs=1,
            concat_input=False,
            dropout_ratio=0.1,
            num_classes=5,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=0.4),
        ),
        dict(
            type="OCRHead",
            in_channels=256,
            in_index=3,
            channels=128,
            ocr_channels=64,
            dropout_ratio=0.1,
            num_classes=5,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
        ),
    ],
)
