# RANet on a dilated ResNet-50 (output stride 8): stage 3 feeds the class/boundary branch (C, B), stage 4
# the region features A. The stage-3 branch doubles as the auxiliary head, so there is no auxiliary_head.
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
    pretrained="open-mmlab://resnet50_v1c",
    backbone=dict(
        type="ResNetV1c",
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style="pytorch",
        contract_dilation=True,
    ),
    decode_head=dict(
        type="RANetHead",
        in_channels=[1024, 2048],
        in_index=[2, 3],
        input_transform="multiple_select",
        channels=512,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        # The released loss weights: 1.0 seg(final) + 0.4 seg(C) + 0.2 boundary(final) + 0.08 boundary(B).
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
    # model training and testing settings
    train_cfg=dict(),
    test_cfg=dict(mode="whole"),
)
