"""RANet decode head: wires the stage-3 branch, the Region Construction Block, the Region Interaction
Block and the classifiers together."""

from __future__ import annotations

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, MultiConfig
from torch import Tensor

from ..ops import ground_truth_regions
from .ranet_inputs import check_inputs_config, select_stage_features
from .ranet_loss import RANetLossMixin
from .ranet_presets import (
    CONSTRUCTION_SWITCHES,
    INTERACTION_SWITCHES,
    BlockSwitch,
    resolve_loss_partition,
    resolve_switches,
)
from .ranet_state_dict import upgrade_state_dict_layout
from .region_construction import RegionConstructionBlock
from .region_interaction import RegionInteractionBlock
from .region_outputs import RegionOutputs
from .region_partition_loss import RegionPartitionLoss  # noqa: F401  (registers the loss)


@MODELS.register_module()
class RANetHead(RANetLossMixin, BaseDecodeHead):
    """Region Attention Network head.

    This head is the implementation of `RANet: Region Attention Network for Semantic Segmentation
    <https://arxiv.org/abs/2010.11725>`_ (NeurIPS 2020).

    A stage-3 branch predicts class logits C and boundary logits B. The
    :class:`RegionConstructionBlock` turns them into pairwise scores F = (1 - D)(1 - E), a region
    decision G, regions and the representativeness J. The :class:`RegionInteractionBlock` picks the K
    most representative pixels of every region and runs three attentions on the stage-4 features A:
    local collection inside a region, global interaction between regions and distribution back to the
    pixels. Its output O is fused with A; ``cls_seg`` and a boundary classifier read the fused features.

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

    Every switch below is described in full by the block that keeps it (:class:`RegionConstructionBlock`,
    :class:`RegionInteractionBlock`); the presets are ``RANET_VARIANTS``.

    Args:
        in_channels (int | Sequence[int]): Input channels; (stage 3, stage 4) with ``'multiple_select'``.
        channels (int): Channels of A, of the attentions and of the fused features (512 in the paper).
        variant (str): ``'paper'`` (default) or ``'official'``; fills the switches left as None below.
        stage3_channels (int, optional): Channels of the stage-3 branch. Defaults to ``channels``.
        num_representatives (int): K, representatives per region. Defaults to 8.
        region_threshold (float, optional): Threshold on (F + F^T)/2 for G (initial -bias of W^g); 0.8 in
            ``'paper'`` and ``'official'``, 0.5 in ``'object_regions'``.
        divergence (str, optional): ``'full'`` class JSD (paper) or ``'binary'`` (released code).
        jsd_normalize (bool, optional): Divide E by ln 2 so that E lies in [0, 1] like D (paper).
        learnable_decision (bool, optional): Apply the learnable W^g to F (paper) or threshold F.
        representativeness_source (str, optional): J averages ``'decision'`` = F^g (paper) or ``'score'``.
        region_rule (str, optional): ``'components'`` of G (paper), ``'greedy'`` (released code) or
            ``'average_linkage'`` (see ``RegionConstructionBlock``).
        local_mask (bool, optional): Collect only from the own region's non-representatives.
        global_mask (bool, optional): Interact only with other regions' representatives.
        global_softmax (str, optional): ``'per_region'`` (paper) or ``'joint'`` (released code).
        distribution_mask (bool, optional): Distribute only from the own region's representatives.
        feature_convs (bool, optional): Query/value 3x3 convolutions over A (released code).
        refine_convs (bool, optional): Refinement convolutions after each attention (released code).
        use_boundary_term (bool): Use D in F; False sets D = 0 (an ablation). Defaults to True.
        use_semantic_term (bool): Use E in F; False sets E = 0 (an ablation). Defaults to True.
        boundary_endpoints (bool | str, optional): D counts the segment's end points, max(D_ij, b_i, b_j);
            ``'decision'``: only in the region decision and the partition loss, not in J.
        representativeness_trains_decision (bool, optional): W^g learns through J (paper); False: only
            from ``loss_partition``.
        force_regions (str, optional): ``'image'`` or ``'pixel'`` replaces the partition by one region per
            image or per cell (an ablation), ``'ground_truth'`` by the GT segments of the label (an oracle;
            needs ``RegionEncoderDecoder``); None (default) keeps the regions of G.
        attention_scale (bool): Divide attention scores by sqrt(channels). Defaults to False.
        decision_kernel_size (int): Kernel size of W^g over the (N, N) score table. Defaults to 1.
        region_scale (float): Resize factor of the features before the region blocks. Defaults to 1.
        boundary_impl (str): ``'auto'``, ``'compiled'`` or ``'torch'`` boundary table D (same numbers).
        semantic_impl (str): The same choice for the full-form E (equal to float rounding).
        region_impl (str): The same choice for the streamed decision, regions and region sums.
        stream_tables (bool, optional): Stream the region tables (same numbers); None: when W^g is 1x1.
        boundary_ignore_index (int): Ignored value in ``gt_edge_map``. Defaults to 255.
        loss_stage3 (dict): Loss of C. Defaults to cross-entropy with weight 0.4.
        loss_boundary (dict): Boundary loss of the final features. Defaults to cross-entropy, weight 0.2.
        loss_stage3_boundary (dict): Loss of B. Defaults to cross-entropy with weight 0.08.
        loss_partition (dict | bool, optional): Loss on the region decision of sampled pixel pairs, e.g.
            ``dict(type='RegionPartitionLoss', loss_weight=1.0, num_pairs=1024)``; None takes the
            variant's (``RANET_VARIANT_LOSSES``: only ``'object_regions'`` has one), False turns it off.
        **kwargs: ``BaseDecodeHead`` arguments (``num_classes``, ``loss_decode`` for the final logits with
            weight 1.0, ``dropout_ratio``, ``norm_cfg``, ``sampler``, ...).
    """

    # Version 2 moved W^g and the attention convolutions into the blocks (see ``ranet_state_dict``).
    _version = 2

    def __init__(
        self,
        in_channels: int | list[int],
        channels: int,
        *,
        variant: str = "paper",
        stage3_channels: int | None = None,
        num_representatives: int = 8,
        region_threshold: float | None = None,
        divergence: str | None = None,
        jsd_normalize: bool | None = None,
        learnable_decision: bool | None = None,
        representativeness_source: str | None = None,
        region_rule: str | None = None,
        local_mask: bool | None = None,
        global_mask: bool | None = None,
        global_softmax: str | None = None,
        distribution_mask: bool | None = None,
        feature_convs: bool | None = None,
        refine_convs: bool | None = None,
        use_boundary_term: bool = True,
        use_semantic_term: bool = True,
        boundary_endpoints: bool | str | None = None,
        representativeness_trains_decision: bool | None = None,
        force_regions: str | None = None,
        attention_scale: bool = False,
        decision_kernel_size: int = 1,
        region_scale: float = 1.0,
        boundary_impl: str = "auto",
        semantic_impl: str = "auto",
        region_impl: str = "auto",
        stream_tables: bool | None = None,
        boundary_ignore_index: int = 255,
        loss_stage3: ConfigType = dict(type="CrossEntropyLoss", loss_name="loss_stage3_ce", loss_weight=0.4),
        loss_boundary: ConfigType = dict(type="CrossEntropyLoss", loss_name="loss_boundary", loss_weight=0.2),
        loss_stage3_boundary: ConfigType = dict(
            type="CrossEntropyLoss", loss_name="loss_stage3_boundary", loss_weight=0.08
        ),
        loss_partition: ConfigType | bool | None = None,
        loss_decode: MultiConfig = dict(type="CrossEntropyLoss", loss_name="loss_ce", loss_weight=1.0),
        **kwargs,
    ) -> None:
        input_transform = kwargs.get("input_transform")
        check_inputs_config(in_channels, kwargs.get("in_index", -1), input_transform)
        super().__init__(in_channels, channels, loss_decode=loss_decode, **kwargs)
        switches = resolve_switches(
            variant,
            num_representatives=num_representatives,
            region_threshold=region_threshold,
            divergence=divergence,
            jsd_normalize=jsd_normalize,
            learnable_decision=learnable_decision,
            representativeness_source=representativeness_source,
            region_rule=region_rule,
            local_mask=local_mask,
            global_mask=global_mask,
            global_softmax=global_softmax,
            distribution_mask=distribution_mask,
            feature_convs=feature_convs,
            refine_convs=refine_convs,
            use_boundary_term=use_boundary_term,
            use_semantic_term=use_semantic_term,
            boundary_endpoints=boundary_endpoints,
            representativeness_trains_decision=representativeness_trains_decision,
            force_regions=force_regions,
            attention_scale=attention_scale,
            decision_kernel_size=decision_kernel_size,
            boundary_impl=boundary_impl,
            semantic_impl=semantic_impl,
            region_impl=region_impl,
            stream_tables=stream_tables,
        )
        if not region_scale > 0:
            raise ValueError(f"region_scale must be > 0, got {region_scale!r}")
        self.variant = variant
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
        self.region_construction = RegionConstructionBlock(**{k: switches[k] for k in CONSTRUCTION_SWITCHES})
        self.region_interaction = RegionInteractionBlock(
            channels, **{k: switches[k] for k in INTERACTION_SWITCHES}, **conv_kwargs
        )
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
        partition = resolve_loss_partition(variant, loss_partition)
        self.loss_partition = MODELS.build(partition) if partition is not None else None
        if self.loss_partition is not None and self.learnable_decision and decision_kernel_size != 1:
            raise ValueError(
                "loss_partition needs decision_kernel_size=1: the decision of a pair is computed on its own, "
                f"which a wider W^g does not allow (got decision_kernel_size={decision_kernel_size})"
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

    @property
    def decision_conv(self) -> nn.Conv2d:
        """W^g of the Region Construction Block (absent without a learnable decision)."""
        return self.region_construction.decision_conv

    def _final_losses(self) -> list[nn.Module]:
        return list(self.loss_decode) if isinstance(self.loss_decode, nn.ModuleList) else [self.loss_decode]

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, *args, **kwargs) -> None:
        """Load checkpoints of the version-1 layout too (W^g and attention convolutions on the head)."""
        if local_metadata.get("version") is None or local_metadata["version"] < 2:
            upgrade_state_dict_layout(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, *args, **kwargs)

    def forward_regions(self, inputs: list[Tensor] | tuple[Tensor, ...]) -> RegionOutputs:
        """Run the whole head and return every intermediate the visualisation and the losses need."""
        stage3, stage4 = select_stage_features(self, inputs)
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
        if self.region_construction.force_regions == "ground_truth":
            if self.ground_truth_labels is None:
                raise ValueError(
                    "force_regions='ground_truth' needs the label maps: use model type 'RegionEncoderDecoder', "
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

    def construct_regions(
        self, stage3_logits: Tensor, stage3_boundary_logits: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor, Tensor, Tensor]:
        """The Region Construction Block's dense tables (b, F, F^g, G, regions, counts) for analysis.

        See :meth:`RegionConstructionBlock.dense_tables`.
        """
        return self.region_construction.dense_tables(stage3_logits, stage3_boundary_logits)

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


# Each switch lives on the block that uses it; the head still reads and sets it under its argument name
# (``head.stream_tables = False``), as configs and tools address it.
for _block, _names in (
    ("region_construction", CONSTRUCTION_SWITCHES),
    ("region_interaction", INTERACTION_SWITCHES),
):
    for _name in _names:
        setattr(RANetHead, _name, BlockSwitch(_block, _name))
