"""RANet decode head: the stage-3 branch, the Region Construction Block, the Region Interaction Block,
the classifiers and their losses."""

from __future__ import annotations

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, MultiConfig, OptConfigType, SampleList
from torch import Tensor

from ..ops import ground_truth_regions
from .ranet_state_dict import upgrade_state_dict_layout
from .region_construction import RegionConstructionBlock, RegionConstructionSpec
from .region_interaction import RegionInteractionBlock, RegionInteractionSpec
from .region_outputs import RegionOutputs
from .region_partition_loss import RegionPartitionLoss  # noqa: F401  (registers the loss)

#: The block settings that a non-CPU tensor gets from the defaults (``'auto'``): the PyTorch operators
#: and lists sized by static bounds, so that no step waits for the device. Given explicitly they put the
#: head on that path on the CPU as well (to test it, or to compare it with the compiled CPU path):
#: ``RANetHead(construction=dict(..., **DEVICE_PATH_SETTINGS['construction']), ...)``.
DEVICE_PATH_SETTINGS = dict(
    construction=dict(boundary_impl="torch", semantic_impl="torch", region_impl="torch"),
    interaction=dict(list_sizes="bounded"),
)


@MODELS.register_module()
class RANetHead(BaseDecodeHead):
    """Region Attention Network head.

    This head is the implementation of `RANet: Region Attention Network for Semantic Segmentation
    <https://arxiv.org/abs/2010.11725>`_ (NeurIPS 2020).

    A stage-3 branch predicts class logits C and boundary logits B. The
    :class:`RegionConstructionBlock` turns them into pairwise scores F = (1 - D)(1 - E), a region
    decision G, regions and the representativeness J. The :class:`RegionInteractionBlock` picks the K
    most representative pixels of every region and runs three attentions on the stage-4 features A:
    local collection inside a region, global interaction between regions and distribution back to the
    pixels. Its output O is fused with A; ``cls_seg`` and a boundary classifier read the fused features.

    Each block takes its settings as one nested dict, validated into its spec
    (:class:`RegionConstructionSpec`, :class:`RegionInteractionSpec`) whose defaults are the paper's, so
    ``dict(type='RANetHead', ...)`` without ``construction`` and ``interaction`` is the paper's head. The
    released code's choices and the object-region variant are config fragments
    (``configs/_base_/models/ranet_official.py``, ``ranet_object-regions.py``), and an ablation overrides
    one nested key, e.g. ``model=dict(decode_head=dict(interaction=dict(num_representatives=1)))``.

    ``forward`` returns ``(seg_logits, stage3_logits, boundary_logits, stage3_boundary_logits)`` in
    training and only ``seg_logits`` in eval. The training losses are
    ``1.0 * seg(final) + 0.4 * seg(C) + 0.2 * boundary(final) + 0.08 * boundary(B)`` (the released
    weights), the boundary labels being ``gt_edge_map`` (see ``GenerateRegionBoundary``). With a pixel
    ``sampler`` (e.g. ``dict(type='OHEMPixelSampler', thresh=0.7, min_kept=100000)``) both segmentation
    losses use the weights it samples from the final logits, as ``BaseDecodeHead.loss_by_feat`` does;
    the boundary losses have their own labels and stay unweighted.

    Inputs: with ResNet, ``in_index=[2, 3]`` and ``input_transform='multiple_select'``: stage 3 feeds the
    C/B branch and stage 4 feeds A. With HRNet, ``input_transform='resize_concat'`` of the four branches:
    the concatenated map feeds both (through their own convolutions), and ``region_scale=0.5`` moves the
    region grid from HRNet's stride 4 to stride 8 (the ResNet-D8 grid) because the pairwise tables grow with
    the square of the pixel count.

    Args:
        in_channels (int | Sequence[int]): Input channels; (stage 3, stage 4) with ``'multiple_select'``.
        channels (int): Channels of A, of the attentions and of the fused features (512 in the paper).
        stage3_channels (int, optional): Channels of the stage-3 branch. Defaults to ``channels``.
        region_scale (float): Resize factor of the features before the region blocks. Defaults to 1.
        construction (dict, optional): Settings of the Region Construction Block
            (:class:`RegionConstructionSpec`: the region threshold, divergence form, learnable decision,
            region rule, boundary end points, forced regions, implementations, ...). Defaults to the paper's.
        interaction (dict, optional): Settings of the Region Interaction Block
            (:class:`RegionInteractionSpec`: K, the attention masks and softmax, the released code's
            convolutions, ...). Defaults to the paper's.
        boundary_ignore_index (int): Ignored value in ``gt_edge_map``. Defaults to 255.
        loss_stage3 (dict): Loss of C. Defaults to cross-entropy with weight 0.4.
        loss_boundary (dict): Boundary loss of the final features. Defaults to cross-entropy, weight 0.2.
        loss_stage3_boundary (dict): Loss of B. Defaults to cross-entropy with weight 0.08.
        loss_partition (dict, optional): Loss on the region decision of sampled pixel pairs, e.g.
            ``dict(type='RegionPartitionLoss', loss_weight=1.0, num_pairs=1024)`` (the object-region
            variant's). Defaults to None (no such loss, as in the paper).
        loss_decode (dict | list[dict]): Loss of the final logits. Defaults to cross-entropy, weight 1.0.
        **kwargs: Other ``BaseDecodeHead`` arguments (``num_classes``, ``dropout_ratio``, ``norm_cfg``,
            ``sampler``, ``in_index``, ``input_transform``, ...).
    """

    # Version 2 moved W^g and the attention convolutions into the blocks (see ``ranet_state_dict``);
    # version 3 took the block settings as nested configs (same parameter names as version 2).
    _version = 3

    def __init__(
        self,
        in_channels: int | list[int],
        channels: int,
        *,
        stage3_channels: int | None = None,
        region_scale: float = 1.0,
        construction: OptConfigType = None,
        interaction: OptConfigType = None,
        boundary_ignore_index: int = 255,
        loss_stage3: ConfigType = dict(type="CrossEntropyLoss", loss_name="loss_stage3_ce", loss_weight=0.4),
        loss_boundary: ConfigType = dict(type="CrossEntropyLoss", loss_name="loss_boundary", loss_weight=0.2),
        loss_stage3_boundary: ConfigType = dict(
            type="CrossEntropyLoss", loss_name="loss_stage3_boundary", loss_weight=0.08
        ),
        loss_partition: OptConfigType = None,
        loss_decode: MultiConfig = dict(type="CrossEntropyLoss", loss_name="loss_ce", loss_weight=1.0),
        **kwargs,
    ) -> None:
        self._check_flat_settings(kwargs)
        input_transform = kwargs.get("input_transform")
        self._check_inputs_config(in_channels, kwargs.get("in_index", -1), input_transform)
        if (
            isinstance(region_scale, bool)
            or not isinstance(region_scale, (int, float))
            or not region_scale > 0
        ):
            raise ValueError(f"region_scale must be a number > 0, got {region_scale!r}")
        if loss_partition is not None and not (isinstance(loss_partition, dict) and "type" in loss_partition):
            raise ValueError(
                "loss_partition must be None (no partition loss) or a loss config dict with a 'type', "
                f"got {loss_partition!r}"
            )
        super().__init__(in_channels, channels, loss_decode=loss_decode, **kwargs)
        self.region_scale = float(region_scale)
        # Region map (B, h, w) of the last ``predict``, for ``RegionEncoderDecoder``'s ``pred_regions``.
        self.predicted_regions: Tensor | None = None
        # Label maps (B, H, W) over the input, set by RegionEncoderDecoder for force_regions='ground_truth'.
        self.ground_truth_labels: Tensor | None = None
        self.boundary_ignore_index = boundary_ignore_index

        if input_transform == "multiple_select":
            stage3_in, stage4_in = self.in_channels
        else:
            stage3_in = stage4_in = self.in_channels
        self.expected_channels = (stage3_in, stage4_in)
        stage3_channels = stage3_channels or channels
        conv_kwargs = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

        # Stage-3 branch: C and B (also the auxiliary head of the released code).
        self.stage3_conv = ConvModule(stage3_in, stage3_channels, 3, padding=1, **conv_kwargs)
        self.stage3_dropout = nn.Dropout2d(self.dropout_ratio) if self.dropout_ratio > 0 else nn.Identity()
        self.stage3_seg = nn.Conv2d(stage3_channels, self.out_channels, 1)
        self.stage3_boundary_seg = nn.Conv2d(stage3_channels, 2, 1)
        # Stage-4 features A.
        self.region_feature_conv = ConvModule(stage4_in, channels, 3, padding=1, **conv_kwargs)
        self.region_construction = RegionConstructionBlock(construction)
        self.region_interaction = RegionInteractionBlock(channels, interaction, **conv_kwargs)
        self.fusion_conv = ConvModule(2 * channels, channels, 3, padding=1, **conv_kwargs)
        # Both classifiers read the same dropped-out fused features (as in the released code), so the
        # dropout is applied once here and ``cls_seg`` is left with ``conv_seg`` alone: its own dropout
        # would draw a second mask for the class logits only.
        self.fusion_dropout = self.dropout if self.dropout is not None else nn.Identity()
        self.dropout = None
        self.boundary_seg = nn.Conv2d(channels, 2, 1)

        self.loss_stage3 = MODELS.build(loss_stage3)
        self.loss_boundary = MODELS.build(loss_boundary)
        self.loss_stage3_boundary = MODELS.build(loss_stage3_boundary)
        self.loss_partition = MODELS.build(loss_partition) if loss_partition is not None else None
        spec = self.region_construction.spec
        if self.loss_partition is not None and spec.learnable_decision and spec.decision_kernel_size != 1:
            raise ValueError(
                "loss_partition needs construction.decision_kernel_size=1: the decision of a pair is computed "
                f"on its own, which a wider W^g does not allow (got {spec.decision_kernel_size})"
            )
        extra = (self.loss_stage3, self.loss_boundary, self.loss_stage3_boundary)
        if self.loss_partition is not None:
            extra += (self.loss_partition,)
        names = [loss.loss_name for loss in (*self._final_losses(), *extra)]
        if len(set(names)) != len(names):
            raise ValueError(
                "the loss configs (loss_decode, loss_stage3, loss_boundary, ...) need distinct loss_name "
                f"values, got {names}"
            )

    @staticmethod
    def _check_flat_settings(kwargs: dict) -> None:
        """Name the block settings given flat, as configs before the nested ``construction`` /
        ``interaction`` dicts did, and where they belong now."""
        upgrade = "tools/upgrade_ranet_config.py rewrites such a config, or a checkpoint's saved one"
        if "variant" in kwargs:
            raise ValueError(
                f"RANetHead takes no variant (got variant={kwargs['variant']!r}): the defaults are the paper's, "
                "and the official and object-region variants are the config fragments "
                "configs/_base_/models/ranet_official.py and ranet_object-regions.py "
                f"(model = dict(decode_head=_base_.ranet_official)); {upgrade}"
            )
        for spec in (RegionConstructionSpec, RegionInteractionSpec):
            flat = [key for key in spec.keys() if key in kwargs]
            if flat:
                moved = ", ".join(f"{key}={kwargs[key]!r}" for key in flat)
                raise ValueError(
                    f"RANetHead got the {spec.section} settings {flat} as head arguments: they belong in "
                    f"{spec.section}=dict({moved}); {upgrade}"
                )

    @staticmethod
    def _check_inputs_config(in_channels, in_index, input_transform) -> None:
        """Clear errors for the input combinations ``BaseDecodeHead`` only asserts on."""
        if input_transform not in (None, "multiple_select", "resize_concat"):
            raise ValueError(
                f"input_transform must be None, 'multiple_select' or 'resize_concat', got {input_transform!r}"
            )
        if input_transform is None:
            if not isinstance(in_channels, int) or not isinstance(in_index, int):
                raise ValueError(
                    "without input_transform, in_channels and in_index must be integers, "
                    f"got {in_channels!r} and {in_index!r}"
                )
            return
        if not isinstance(in_channels, (list, tuple)) or not isinstance(in_index, (list, tuple)):
            raise ValueError(
                f"input_transform={input_transform!r} needs lists for in_channels and in_index, "
                f"got {in_channels!r} and {in_index!r}"
            )
        if len(in_channels) != len(in_index):
            raise ValueError(
                f"in_channels {list(in_channels)} and in_index {list(in_index)} must have the same length"
            )
        if input_transform == "multiple_select" and len(in_channels) != 2:
            raise ValueError(
                "input_transform='multiple_select' takes exactly two inputs (stage 3, stage 4), "
                f"got in_channels={list(in_channels)}"
            )

    @property
    def decision_conv(self) -> nn.Conv2d:
        """W^g of the Region Construction Block (absent without a learnable decision)."""
        return self.region_construction.decision_conv

    def _final_losses(self) -> list[nn.Module]:
        return list(self.loss_decode) if isinstance(self.loss_decode, nn.ModuleList) else [self.loss_decode]

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, *args, **kwargs) -> None:
        """Load checkpoints of the version-1 layout too (W^g and attention convolutions on the head).

        Version 2 and 3 state dicts have the same parameter names.
        """
        if local_metadata.get("version") is None or local_metadata["version"] < 2:
            upgrade_state_dict_layout(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, *args, **kwargs)

    def _stage_features(self, inputs: list[Tensor] | tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        """The stage-3 and stage-4 inputs, checked against ``in_index`` and ``in_channels`` and resized by
        ``region_scale``."""
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(
                f"RANetHead expects a list/tuple of backbone feature maps, got {type(inputs).__name__}"
            )
        indices = self.in_index if isinstance(self.in_index, (list, tuple)) else [self.in_index]
        needed = max(i if i >= 0 else -i - 1 for i in indices) + 1
        if len(inputs) < needed:
            raise ValueError(
                f"RANetHead got {len(inputs)} feature maps but in_index={self.in_index} needs at least {needed}"
            )
        selected = self._transform_inputs(inputs)
        stage3, stage4 = selected if self.input_transform == "multiple_select" else (selected, selected)
        for name, feature, expected in (
            ("stage-3", stage3, self.expected_channels[0]),
            ("stage-4", stage4, self.expected_channels[1]),
        ):
            if feature.dim() != 4 or feature.shape[1] != expected:
                raise ValueError(
                    f"RANetHead {name} input has shape {tuple(feature.shape)} but "
                    f"in_channels={self.in_channels} expects {expected} channels"
                )
        if self.region_scale != 1.0:
            stage3, stage4 = (
                resize(x, scale_factor=self.region_scale, mode="bilinear", align_corners=self.align_corners)
                for x in (stage3, stage4)
            )
        return stage3, stage4

    def forward_regions(self, inputs: list[Tensor] | tuple[Tensor, ...]) -> RegionOutputs:
        """Run the whole head and return every intermediate the visualisation and the losses need."""
        stage3, stage4 = self._stage_features(inputs)
        stage3 = self.stage3_dropout(self.stage3_conv(stage3))
        stage3_logits = self.stage3_seg(stage3)
        stage3_boundary_logits = self.stage3_boundary_seg(stage3)
        features = self.region_feature_conv(stage4)
        batch, _, height, width = features.shape
        if stage3_logits.shape[2:] != features.shape[2:]:
            stage3_logits, stage3_boundary_logits = (
                resize(x, size=(height, width), mode="bilinear", align_corners=self.align_corners)
                for x in (stage3_logits, stage3_boundary_logits)
            )
        given = None
        if self.region_construction.spec.force_regions == "ground_truth":
            if self.ground_truth_labels is None:
                raise ValueError(
                    "construction.force_regions='ground_truth' needs the label maps: use model type 'RegionEncoderDecoder', "
                    "which sets RANetHead.ground_truth_labels from the data samples"
                )
            given = ground_truth_regions(self.ground_truth_labels, (height, width), self.ignore_index)
        boundary_prob, j_values, region, num_regions = self.region_construction(
            stage3_logits, stage3_boundary_logits, given
        )
        context, reps = self.region_interaction(features, j_values, region, num_regions)
        fused = self.fusion_dropout(self.fusion_conv(torch.cat([features, context], dim=1)))
        return RegionOutputs(
            seg_logits=self.cls_seg(fused),
            stage3_logits=stage3_logits,
            boundary_logits=self.boundary_seg(fused),
            stage3_boundary_logits=stage3_boundary_logits,
            boundary_prob=boundary_prob,
            region=region.view(batch, height, width),
            num_regions=num_regions,
            representativeness=j_values,
            representatives=reps,
        )

    def forward(
        self, inputs: list[Tensor] | tuple[Tensor, ...]
    ) -> Tensor | tuple[Tensor, Tensor, Tensor, Tensor]:
        """Final logits in eval; ``(final, stage3, final boundary, stage3 boundary)`` logits in training."""
        outputs = self.forward_regions(inputs)
        # The first four fields of RegionOutputs are the training outputs, in this order.
        return outputs[:4] if self.training else outputs.seg_logits

    def predict(self, inputs: list[Tensor], batch_img_metas: list[dict], test_cfg: ConfigType) -> Tensor:
        """``BaseDecodeHead.predict``, keeping the batch's region map in ``predicted_regions`` (one forward)."""
        outputs = self.forward_regions(inputs)
        self.predicted_regions = outputs.region.detach()
        return self.predict_by_feat(outputs.seg_logits, batch_img_metas)

    def predict_by_feat(self, seg_logits: Tensor | tuple[Tensor, ...], batch_img_metas: list[dict]) -> Tensor:
        """Resize the final logits to the input size (accepts the training tuple as well)."""
        if isinstance(seg_logits, (tuple, list)):
            seg_logits = seg_logits[0]
        return super().predict_by_feat(seg_logits, batch_img_metas)

    def _stack_boundary_gt(self, batch_data_samples: SampleList) -> Tensor:
        missing = [i for i, sample in enumerate(batch_data_samples) if "gt_edge_map" not in sample]
        if missing:
            raise KeyError(
                "RANetHead needs boundary labels 'gt_edge_map' in training; add "
                "dict(type='GenerateRegionBoundary') after the augmentations of the train pipeline "
                f"(missing in samples {missing})"
            )
        return torch.stack([sample.gt_edge_map.data for sample in batch_data_samples], dim=0)

    def loss_by_feat(
        self, seg_logits: tuple[Tensor, Tensor, Tensor, Tensor], batch_data_samples: SampleList
    ) -> dict:
        """Segmentation losses of the final and stage-3 logits, boundary losses of both branches and the
        optional ``loss_partition`` on the region decision (on the region grid, where ``forward`` returns the
        stage-3 logits).

        Args:
            seg_logits (tuple[Tensor]): The training outputs of :meth:`forward`.
            batch_data_samples (list[SegDataSample]): Samples with ``gt_sem_seg`` and ``gt_edge_map``.

        Returns:
            dict[str, Tensor]: The losses keyed by their ``loss_name`` and ``acc_seg``.
        """
        final_logits, stage3_logits, boundary_logits, stage3_boundary_logits = seg_logits
        seg_label = self._stack_batch_gt(batch_data_samples)
        boundary_label = self._stack_boundary_gt(batch_data_samples).squeeze(1)
        size = seg_label.shape[2:]

        def upsample(logits: Tensor) -> Tensor:
            return resize(logits, size=size, mode="bilinear", align_corners=self.align_corners)

        final_logits = upsample(final_logits)
        seg_weight = self.sampler.sample(final_logits, seg_label) if self.sampler is not None else None
        seg_label = seg_label.squeeze(1)
        losses: dict[str, Tensor] = {}
        for loss in self._final_losses():
            losses[loss.loss_name] = loss(
                final_logits, seg_label, weight=seg_weight, ignore_index=self.ignore_index
            )
        losses[self.loss_stage3.loss_name] = self.loss_stage3(
            upsample(stage3_logits), seg_label, weight=seg_weight, ignore_index=self.ignore_index
        )
        losses[self.loss_boundary.loss_name] = self.loss_boundary(
            upsample(boundary_logits), boundary_label, ignore_index=self.boundary_ignore_index
        )
        losses[self.loss_stage3_boundary.loss_name] = self.loss_stage3_boundary(
            upsample(stage3_boundary_logits), boundary_label, ignore_index=self.boundary_ignore_index
        )
        if self.loss_partition is not None:
            losses[self.loss_partition.loss_name] = self.loss_partition(
                self.region_construction,
                stage3_logits,
                stage3_boundary_logits,
                self._stack_batch_gt(batch_data_samples),
                self.ignore_index,
            )
        losses["acc_seg"] = accuracy(final_logits, seg_label, ignore_index=self.ignore_index)
        return losses
