# RANet on HRNetV2-W48: the four branches are resized to the stride-4 grid and concatenated
# (resize_concat, as mmseg's HRNet heads do); that map feeds both the class/boundary branch (C, B) and the
# region features A through their own convolutions. region_scale=0.5 runs the region blocks on the
# stride-8 grid of the ResNet-D8 configs: the pairwise tables grow with the square of the pixel count.
_base_ = ["./ranet_paper.py"]
norm_cfg = dict(type="SyncBN", requires_grad=True)
data_preprocessor = dict(
    type="SegDataPreProcessor",
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
)
model = dict(
    type="EncoderDecoder",
    data_preprocessor=data_preprocessor,
    pretrained="open-mmlab://msra/hrnetv2_w48",
    backbone=dict(
        type="HRNet",
        norm_cfg=norm_cfg,
        norm_eval=False,
        extra=dict(
            stage1=dict(
                num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(4,), num_channels=(64,)
            ),
            stage2=dict(
                num_modules=1, num_branches=2, block="BASIC", num_blocks=(4, 4), num_channels=(48, 96)
            ),
            stage3=dict(
                num_modules=4, num_branches=3, block="BASIC", num_blocks=(4, 4, 4), num_channels=(48, 96, 192)
            ),
            stage4=dict(
                num_modules=3,
                num_branches=4,
                block="BASIC",
                num_blocks=(4, 4, 4, 4),
                num_channels=(48, 96, 192, 384),
            ),
        ),
    ),
    decode_head=dict(
        type="RANetHead",
        in_channels=[48, 96, 192, 384],
        in_index=(0, 1, 2, 3),
        input_transform="resize_concat",
        region_scale=0.5,
        channels=512,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_name="loss_ce", loss_weight=1.0),
        loss_stage3=dict(
            type="CrossEntropyLoss", use_sigmoid=False, loss_name="loss_stage3_ce", loss_weight=0.4
        ),
        loss_boundary=dict(
            type="CrossEntropyLoss", use_sigmoid=False, loss_name="loss_boundary", loss_weight=0.2
        ),
        loss_stage3_boundary=dict(
            type="CrossEntropyLoss", use_sigmoid=False, loss_name="loss_stage3_boundary", loss_weight=0.08
        ),
        # The paper's region blocks (construction, interaction; no partition loss).
        **_base_.ranet_paper,
    ),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"),
)
