"""RANet decode head: Region Construction Block (RCB) and Region Interaction Block (RIB)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, MultiConfig, SampleList
from torch import Tensor

from ..ops import (
    BOUNDARY_IMPLS,
    DIVERGENCE_FORMS,
    GLOBAL_SOFTMAX_MODES,
    JSD_IMPLS,
    REGION_IMPLS,
    REGION_RULES,
    RegionScoreSpec,
    Representatives,
    boundary_max_table,
    distribution,
    global_interaction,
    jensen_shannon_table,
    local_collection,
    region_labels,
    region_representativeness,
    select_representatives,
    streamed_region_scores,
)

#: The two published behaviours. Every entry is also a constructor argument, so any single choice can be
#: ablated on top of either variant.
RANET_VARIANTS: dict[str, dict] = {
    # What the paper describes.
    "paper": dict(
        divergence="full",
        jsd_normalize=True,
        learnable_decision=True,
        representativeness_source="decision",
        region_rule="components",
        local_mask=True,
        global_mask=True,
        global_softmax="per_region",
        distribution_mask=True,
        feature_convs=False,
        refine_convs=False,
    ),
    # What the authors' released code does.
    "official": dict(
        divergence="binary",
        jsd_normalize=False,
        learnable_decision=False,
        representativeness_source="score",
        region_rule="greedy",
        local_mask=False,
        global_mask=False,
        global_softmax="joint",
        distribution_mask=False,
        feature_convs=True,
        refine_convs=True,
    ),
}
REPRESENTATIVENESS_SOURCES = ("decision", "score")


class RegionOutputs(NamedTuple):
    """Everything the head computes for one batch (used by training, inference and visualisation).

    Attributes:
        seg_logits (Tensor): Final class logits (B, num_classes, h, w).
        stage3_logits (Tensor): Class logits C of the stage-3 branch (B, num_classes, h, w).
        boundary_logits (Tensor): Boundary logits of the final features (B, 2, h, w).
        stage3_boundary_logits (Tensor): Boundary logits B of the stage-3 branch (B, 2, h, w).
        boundary_prob (Tensor): b = softmax(B)[1] on the region grid (B, h, w).
        region (Tensor): Region id of every pixel of the region grid (B, h, w).
        num_regions (Tensor): Number of regions per image (B,).
        representativeness (Tensor): J (B, h*w).
        representatives (Representatives): The padded representative list.
    """

    seg_logits: Tensor
    stage3_logits: Tensor
    boundary_logits: Tensor
    stage3_boundary_logits: Tensor
    boundary_prob: Tensor
    region: Tensor
    num_regions: Tensor
    representativeness: Tensor
    representatives: Representatives


@MODELS.register_module()
class RANetHead(BaseDecodeHead):
    """Region Attention Network head.

    This head is the implementation of `RANet: Region Attention Network for Semantic Segmentation
    <https://arxiv.org/abs/2010.11725>`_ (NeurIPS 2020).

    A stage-3 branch predicts class logits C and boundary logits B. The Region Construction Block turns
    them into pairwise scores F = (1 - D)(1 - E) (D: largest boundary probability on the segment between
    two pixels; E: Jensen-Shannon divergence of their class distributions), a region decision G and
    regions. The Region Interaction Block picks the K most representative pixels of every region
    (representativeness J) and runs three attentions on the stage-4 features A: local collection inside a
    region, global interaction between regions and distribution back to the pixels. The output O is fused
    with A and classified.

    ``forward`` returns ``(seg_logits, stage3_logits, boundary_logits, stage3_boundary_logits)`` in
    training and only ``seg_logits`` in eval. The training losses are
    ``1.0 * seg(final) + 0.4 * seg(C) + 0.2 * boundary(final) + 0.08 * boundary(B)`` (the released
    weights), the boundary labels being ``gt_edge_map`` (see ``GenerateRegionBoundary``).

    Inputs: with ResNet, ``in_index=[2, 3]`` and ``input_transform='multiple_select'``: stage 3 feeds the
    C/B branch and stage 4 feeds A. With HRNet, ``input_transform='resize_concat'`` of the four branches:
    the concatenated map feeds both (through their own convolutions), and ``region_scale=0.5`` moves the
    region grid from HRNet's stride 4 to stride 8 (the ResNet-D8 grid) because the pairwise tables grow with
    the square of the pixel count.

    Args:
        in_channels (int | Sequence[int]): Input channels; two entries (stage 3, stage 4) with
            ``'multiple_select'``.
        channels (int): Channels of A, of the attentions and of the fused features (512 in the paper).
        variant (str): ``'paper'`` (default) or ``'official'`` (the released code); fills every switch
            below that is left as None.
        stage3_channels (int, optional): Channels of the stage-3 branch. Defaults to ``channels``.
        num_representatives (int): K, representatives per region. Defaults to 8.
        region_threshold (float): Threshold on the symmetrised score (F + F^T)/2 for G; with a learnable
            decision it initialises the bias of W^g to ``-region_threshold``. Defaults to 0.8.
        divergence (str, optional): ``'full'`` class JSD (paper) or ``'binary'`` JSD on i's arg-max class
            (released code).
        jsd_normalize (bool, optional): Divide E by ln 2 so that E lies in [0, 1] like D (base-2 JSD). The
            paper leaves the base open; the released code does not normalise (E <= ln 2 there). The paper
            variant normalises so that 1 - E spans [0, 1] and F can reach 0 between confident pixels of
            different classes.
        learnable_decision (bool, optional): Apply the learnable convolution W^g to F (paper). Without
            it, G thresholds F directly (released code).
        representativeness_source (str, optional): J averages ``'decision'`` = F^g (paper; how W^g
            learns) or ``'score'`` = F (released code).
        region_rule (str, optional): ``'components'`` (connected components of G) or ``'greedy'``
            (released pointer-jumping partition).
        local_mask (bool, optional): Collect only from the own region's non-representatives.
        global_mask (bool, optional): Interact only with other regions' representatives.
        global_softmax (str, optional): ``'per_region'`` softmax over each other region's
            representatives (paper) or one ``'joint'`` softmax (released code).
        distribution_mask (bool, optional): Distribute only from the own region's representatives.
        feature_convs (bool, optional): Query/value 3x3 convolutions over A (released code).
        refine_convs (bool, optional): 3x3 convolutions over the representative list after collection
            and after interaction, and over the map after distribution (released code).
        use_boundary_term (bool): Use the boundary term D in F = (1 - D)(1 - E). False sets D = 0 (an
            ablation: regions from semantics only). Defaults to True.
        use_semantic_term (bool): Use the semantic term E. False sets E = 0 (regions from boundaries
            only). Defaults to True.
        attention_scale (bool): Divide attention scores by sqrt(channels). Neither paper nor released
            code does. Defaults to False.
        decision_kernel_size (int): Kernel size of W^g over the (N, N) score table. The table's axes are
            raster indices, not image axes, so the default 1 (a learned affine map) is the natural reading.
        region_scale (float): Resize factor of the features before the region blocks. Defaults to 1.
        boundary_impl (str): Implementation of the boundary table D: ``'auto'`` (the compiled operator
            when available, else PyTorch), ``'compiled'`` or ``'torch'``. Both give the same numbers.
            Defaults to ``'auto'``.
        semantic_impl (str): Implementation of the full-form semantic table E, with the same choices
            (the compiled one evaluates its logarithms with a vectorised polynomial, so values agree to
            float rounding). Defaults to ``'auto'``.
        region_impl (str): Implementation of the streamed decision, regions and region sums: ``'auto'``
            (the compiled single pass over F when available), ``'compiled'`` or ``'torch'`` (a bool
            decision table and min-label propagation). Same regions. Defaults to ``'auto'``.
        stream_tables (bool, optional): Compute the Region Construction Block table by table and row block
            by row block without keeping N x N tables for autograd (the decision carries no gradient and J
            is a masked row mean, recomputed in backward; see ``mmseg_ranet.models.ops.region_scores``).
            Same numbers as the straightforward computation, with a fraction of its memory. Needs a 1x1
            decision convolution; None (default) streams whenever ``decision_kernel_size == 1``.
        boundary_ignore_index (int): Ignored value in ``gt_edge_map``. Defaults to 255.
        loss_stage3 (dict): Loss of C. Defaults to cross-entropy with weight 0.4.
        loss_boundary (dict): Boundary loss of the final features. Defaults to cross-entropy, weight 0.2.
        loss_stage3_boundary (dict): Loss of B. Defaults to cross-entropy with weight 0.08.
        **kwargs: ``BaseDecodeHead`` arguments (``num_classes``, ``loss_decode`` for the final logits with
            weight 1.0, ``dropout_ratio``, ``norm_cfg``, ...).
    """

    def __init__(
        self,
        in_channels: int | list[int],
        channels: int,
        *,
        variant: str = "paper",
        stage3_channels: int | None = None,
        num_representatives: int = 8,
        region_threshold: float = 0.8,
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
        loss_decode: MultiConfig = dict(type="CrossEntropyLoss", loss_name="loss_ce", loss_weight=1.0),
        **kwargs,
    ) -> None:
        input_transform = kwargs.get("input_transform")
        _check_inputs_config(in_channels, kwargs.get("in_index", -1), input_transform)
        super().__init__(in_channels, channels, loss_decode=loss_decode, **kwargs)
        switches = _resolve_switches(
            variant,
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
        )
        if not isinstance(num_representatives, int) or num_representatives < 1:
            raise ValueError(f"num_representatives (K) must be an integer >= 1, got {num_representatives!r}")
        if (
            not isinstance(decision_kernel_size, int)
            or decision_kernel_size < 1
            or decision_kernel_size % 2 == 0
        ):
            raise ValueError(
                f"decision_kernel_size must be a positive odd integer, got {decision_kernel_size!r}"
            )
        if not region_scale > 0:
            raise ValueError(f"region_scale must be > 0, got {region_scale!r}")
        if boundary_impl not in BOUNDARY_IMPLS:
            raise ValueError(f"boundary_impl must be one of {BOUNDARY_IMPLS}, got {boundary_impl!r}")
        if semantic_impl not in JSD_IMPLS:
            raise ValueError(f"semantic_impl must be one of {JSD_IMPLS}, got {semantic_impl!r}")
        if region_impl not in REGION_IMPLS:
            raise ValueError(f"region_impl must be one of {REGION_IMPLS}, got {region_impl!r}")
        if stream_tables is None:
            stream_tables = decision_kernel_size == 1
        elif stream_tables not in (True, False):
            raise ValueError(f"stream_tables must be True, False or None, got {stream_tables!r}")
        elif stream_tables and decision_kernel_size != 1:
            raise ValueError(
                "stream_tables=True needs decision_kernel_size=1: a wider decision convolution mixes "
                f"neighbouring rows of the score table (got decision_kernel_size={decision_kernel_size})"
            )
        self.variant = variant
        self.num_representatives = num_representatives
        self.region_threshold = float(region_threshold)
        for name, value in (
            ("use_boundary_term", use_boundary_term),
            ("use_semantic_term", use_semantic_term),
        ):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False, got {value!r}")
        self.use_boundary_term = use_boundary_term
        self.use_semantic_term = use_semantic_term
        self.attention_scale = attention_scale
        self.decision_kernel_size = decision_kernel_size
        self.region_scale = float(region_scale)
        self.boundary_impl = boundary_impl
        self.semantic_impl = semantic_impl
        self.region_impl = region_impl
        self.stream_tables = stream_tables
        self.boundary_ignore_index = boundary_ignore_index
        for name, value in switches.items():
            setattr(self, name, value)

        if input_transform == "multiple_select":
            stage3_in, stage4_in = self.in_channels
        else:
            stage3_in = stage4_in = self.in_channels
        self.expected_channels = (stage3_in, stage4_in)
        stage3_channels = stage3_channels or channels
        conv_kwargs = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

        self.stage3_conv = ConvModule(stage3_in, stage3_channels, 3, padding=1, **conv_kwargs)
        self.stage3_dropout = nn.Dropout2d(self.dropout_ratio) if self.dropout_ratio > 0 else nn.Identity()
        self.stage3_seg = nn.Conv2d(stage3_channels, self.out_channels, 1)
        self.stage3_boundary_seg = nn.Conv2d(stage3_channels, 2, 1)
        self.region_feature_conv = ConvModule(stage4_in, channels, 3, padding=1, **conv_kwargs)
        if self.learnable_decision:
            # W^g starts as identity with bias -threshold: sgn(W^g (x) F) then equals the released threshold.
            self.decision_conv = nn.Conv2d(1, 1, decision_kernel_size, padding=decision_kernel_size // 2)
            with torch.no_grad():
                self.decision_conv.weight.zero_()
                self.decision_conv.weight[0, 0, decision_kernel_size // 2, decision_kernel_size // 2] = 1.0
                self.decision_conv.bias.fill_(-self.region_threshold)
        if self.feature_convs:
            self.query_conv = ConvModule(channels, channels, 3, padding=1, **conv_kwargs)
            self.value_conv = ConvModule(channels, channels, 3, padding=1, **conv_kwargs)
        if self.refine_convs:
            self.collection_refine = ConvModule(channels, channels, 3, padding=1, **conv_kwargs)
            self.interaction_refine = ConvModule(channels, channels, 3, padding=1, **conv_kwargs)
            self.distribution_refine = ConvModule(channels, channels, 3, padding=1, **conv_kwargs)
        self.fusion_conv = ConvModule(2 * channels, channels, 3, padding=1, **conv_kwargs)
        self.boundary_seg = nn.Conv2d(channels, 2, 1)

        self.loss_stage3 = MODELS.build(loss_stage3)
        self.loss_boundary = MODELS.build(loss_boundary)
        self.loss_stage3_boundary = MODELS.build(loss_stage3_boundary)
        final_losses = self.loss_decode if isinstance(self.loss_decode, nn.ModuleList) else [self.loss_decode]
        names = [loss.loss_name for loss in final_losses]
        names += [
            self.loss_stage3.loss_name,
            self.loss_boundary.loss_name,
            self.loss_stage3_boundary.loss_name,
        ]
        if len(set(names)) != len(names):
            raise ValueError(
                f"the loss configs (loss_decode, loss_stage3, loss_boundary, ...) need distinct loss_name values, got {names}"
            )

    def _select_features(self, inputs: list[Tensor] | tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        """Stage-3 and stage-4 inputs, checked against ``in_index`` and ``in_channels``."""
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
                    f"RANetHead {name} input has shape {tuple(feature.shape)} but in_channels={self.in_channels} "
                    f"expects {expected} channels"
                )
        if self.region_scale != 1.0:
            stage3 = resize(
                stage3, scale_factor=self.region_scale, mode="bilinear", align_corners=self.align_corners
            )
            stage4 = resize(
                stage4, scale_factor=self.region_scale, mode="bilinear", align_corners=self.align_corners
            )
        return stage3, stage4

    def forward_regions(self, inputs: list[Tensor] | tuple[Tensor, ...]) -> RegionOutputs:
        """Run the whole head and return every intermediate the visualisation and the losses need."""
        stage3, stage4 = self._select_features(inputs)
        stage3 = self.stage3_dropout(self.stage3_conv(stage3))
        stage3_logits = self.stage3_seg(stage3)
        stage3_boundary_logits = self.stage3_boundary_seg(stage3)
        features = self.region_feature_conv(stage4)
        batch, channels, height, width = features.shape
        if stage3_logits.shape[2:] != features.shape[2:]:
            stage3_logits = resize(
                stage3_logits, size=(height, width), mode="bilinear", align_corners=self.align_corners
            )
            stage3_boundary_logits = resize(
                stage3_boundary_logits,
                size=(height, width),
                mode="bilinear",
                align_corners=self.align_corners,
            )

        if self.stream_tables:
            boundary_prob, j_values, region, num_regions = self.construct_regions_streamed(
                stage3_logits, stage3_boundary_logits
            )
        else:
            boundary_prob, score, decision, _, region, num_regions = self.construct_regions(
                stage3_logits, stage3_boundary_logits
            )
            j_values = region_representativeness(
                decision if self.representativeness_source == "decision" else score, region
            )

        # Region Interaction Block.
        reps = select_representatives(j_values.detach(), region, self.num_representatives)
        query = self.query_conv(features) if self.feature_convs else features
        value = self.value_conv(features) if self.feature_convs else features
        query = query.flatten(2).transpose(1, 2)
        value = value.flatten(2).transpose(1, 2)
        local = local_collection(
            query,
            value,
            j_values,
            region,
            reps.pixel,
            reps.region,
            reps.valid,
            self.local_mask,
            self.attention_scale,
        )
        if self.refine_convs:
            local = self._refine_list(self.collection_refine, local, reps.valid)
        rep_j = j_values.gather(1, reps.pixel)
        glob = global_interaction(
            local,
            rep_j,
            reps.region,
            reps.valid,
            int(num_regions.max()),
            exclude_own_region=self.global_mask,
            softmax_mode=self.global_softmax,
            scale=self.attention_scale,
        )
        if self.refine_convs:
            glob = self._refine_list(self.interaction_refine, glob, reps.valid)
        context = distribution(
            query,
            value,
            j_values,
            region,
            glob,
            rep_j,
            reps.region,
            reps.valid,
            self.distribution_mask,
            self.attention_scale,
        )
        context = context.transpose(1, 2).reshape(batch, channels, height, width)
        if self.refine_convs:
            context = self.distribution_refine(context)

        fused = self.fusion_conv(torch.cat([features, context], dim=1))
        if self.dropout is not None:
            fused = self.dropout(fused)
        return RegionOutputs(
            seg_logits=self.conv_seg(fused),
            stage3_logits=stage3_logits,
            boundary_logits=self.boundary_seg(fused),
            stage3_boundary_logits=stage3_boundary_logits,
            boundary_prob=boundary_prob,
            region=region.view(batch, height, width),
            num_regions=num_regions,
            representativeness=j_values,
            representatives=reps,
        )

    def construct_regions_streamed(
        self, stage3_logits: Tensor, stage3_boundary_logits: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Region Construction Block and J without N x N tables held for autograd (``stream_tables``).

        Returns:
            tuple: boundary probability b (B, h, w); J (B, N); region ids (B, N); region counts (B,).
        """
        boundary_prob = torch.softmax(stage3_boundary_logits, dim=1)[:, 1]
        log_probs = torch.log_softmax(stage3_logits, dim=1).flatten(2)
        spec = RegionScoreSpec(
            use_boundary_term=self.use_boundary_term,
            use_semantic_term=self.use_semantic_term,
            divergence=self.divergence,
            jsd_normalize=self.jsd_normalize,
            region_rule=self.region_rule,
            boundary_impl=self.boundary_impl,
            semantic_impl=self.semantic_impl,
            region_impl=self.region_impl,
        )
        if self.learnable_decision:
            # F^g = w F + b with the 1x1 W^g, so mean_R(F^g) = w mean_R(F) + b.
            weight = self.decision_conv.weight.view(())
            bias = self.decision_conv.bias.view(())
            mean_score, region, num_regions = streamed_region_scores(
                boundary_prob, log_probs, spec, float(weight.detach()), float(bias.detach())
            )
        else:
            mean_score, region, num_regions = streamed_region_scores(
                boundary_prob, log_probs, spec, None, -self.region_threshold
            )
        if self.representativeness_source == "decision":
            j_values = mean_score * weight + bias
        else:
            j_values = mean_score
        return boundary_prob, j_values, region, num_regions

    def construct_regions(
        self, stage3_logits: Tensor, stage3_boundary_logits: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor, Tensor, Tensor]:
        """Region Construction Block: b, F = (1 - D)(1 - E), F^g, G and the regions, as dense tables.

        Args:
            stage3_logits (Tensor): Class logits C, (B, num_classes, h, w).
            stage3_boundary_logits (Tensor): Boundary logits B, (B, 2, h, w).

        Returns:
            tuple: boundary probability b (B, h, w); score F (B, N, N); F^g (B, N, N) or None without a
            learnable decision; G (bool, B, N, N); region ids (B, N); region counts (B,).
        """
        boundary_prob = torch.softmax(stage3_boundary_logits, dim=1)[:, 1]
        score = 1.0
        if self.use_boundary_term:
            score = 1 - boundary_max_table(boundary_prob, impl=self.boundary_impl)
        if self.use_semantic_term:
            semantic_term = jensen_shannon_table(
                torch.log_softmax(stage3_logits, dim=1).flatten(2),
                self.divergence,
                self.jsd_normalize,
                impl=self.semantic_impl,
            )
            score = score * (1 - semantic_term)
        if isinstance(score, float):
            num_pixels = boundary_prob.shape[1] * boundary_prob.shape[2]
            score = boundary_prob.new_ones(boundary_prob.shape[0], num_pixels, num_pixels)
        decision = self.decision_conv(score.unsqueeze(1)).squeeze(1) if self.learnable_decision else None
        with torch.no_grad():
            margin = decision if decision is not None else score - self.region_threshold
            # G = 1/2 sgn((F^g + F^g^T) / 2) + 1/2, with a tie (sgn = 0) counted as not linked.
            linked = (margin + margin.transpose(1, 2)) > 0
            region, num_regions = region_labels(linked, self.region_rule)
        return boundary_prob, score, decision, linked, region, num_regions

    @staticmethod
    def _refine_list(conv: ConvModule, items: Tensor, valid: Tensor) -> Tensor:
        """3x3 convolution over a padded (B, M, C) list laid out as a (B, C, 1, M) map; padding stays zero."""
        mask = valid.unsqueeze(-1).to(items.dtype)
        refined = conv((items * mask).transpose(1, 2).unsqueeze(2))
        return refined.squeeze(2).transpose(1, 2) * mask

    def forward(
        self, inputs: list[Tensor] | tuple[Tensor, ...]
    ) -> Tensor | tuple[Tensor, Tensor, Tensor, Tensor]:
        """Final logits in eval; ``(final, stage3, final boundary, stage3 boundary)`` logits in training."""
        outputs = self.forward_regions(inputs)
        if self.training:
            return (
                outputs.seg_logits,
                outputs.stage3_logits,
                outputs.boundary_logits,
                outputs.stage3_boundary_logits,
            )
        return outputs.seg_logits

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
        """Segmentation losses of the final and stage-3 logits and boundary losses of both branches.

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
        seg_label = seg_label.squeeze(1)

        def upsample(logits: Tensor) -> Tensor:
            return resize(logits, size=size, mode="bilinear", align_corners=self.align_corners)

        final_logits = upsample(final_logits)
        losses: dict[str, Tensor] = {}
        final_losses = self.loss_decode if isinstance(self.loss_decode, nn.ModuleList) else [self.loss_decode]
        for loss in final_losses:
            losses[loss.loss_name] = loss(final_logits, seg_label, ignore_index=self.ignore_index)
        losses[self.loss_stage3.loss_name] = self.loss_stage3(
            upsample(stage3_logits), seg_label, ignore_index=self.ignore_index
        )
        losses[self.loss_boundary.loss_name] = self.loss_boundary(
            upsample(boundary_logits), boundary_label, ignore_index=self.boundary_ignore_index
        )
        losses[self.loss_stage3_boundary.loss_name] = self.loss_stage3_boundary(
            upsample(stage3_boundary_logits), boundary_label, ignore_index=self.boundary_ignore_index
        )
        losses["acc_seg"] = accuracy(final_logits, seg_label, ignore_index=self.ignore_index)
        return losses


def _check_inputs_config(in_channels, in_index, input_transform) -> None:
    """Clear errors for the input combinations ``BaseDecodeHead`` only asserts on."""
    if input_transform not in (None, "multiple_select", "resize_concat"):
        raise ValueError(
            f"input_transform must be None, 'multiple_select' or 'resize_concat', got {input_transform!r}"
        )
    if input_transform is None:
        if not isinstance(in_channels, int) or not isinstance(in_index, int):
            raise ValueError(
                f"without input_transform, in_channels and in_index must be integers, got {in_channels!r} and {in_index!r}"
            )
        return
    if not isinstance(in_channels, (list, tuple)) or not isinstance(in_index, (list, tuple)):
        raise ValueError(
            f"input_transform={input_transform!r} needs lists for in_channels and in_index, got {in_channels!r} and {in_index!r}"
        )
    if len(in_channels) != len(in_index):
        raise ValueError(
            f"in_channels {list(in_channels)} and in_index {list(in_index)} must have the same length"
        )
    if input_transform == "multiple_select" and len(in_channels) != 2:
        raise ValueError(
            f"input_transform='multiple_select' takes exactly two inputs (stage 3, stage 4), got in_channels={list(in_channels)}"
        )


def _resolve_switches(variant: str, **overrides) -> dict:
    """Fill unset switches from the variant preset and validate every value."""
    if variant not in RANET_VARIANTS:
        raise ValueError(f"variant must be one of {tuple(RANET_VARIANTS)}, got {variant!r}")
    switches = {
        name: RANET_VARIANTS[variant][name] if value is None else value for name, value in overrides.items()
    }
    choices = dict(
        divergence=DIVERGENCE_FORMS,
        representativeness_source=REPRESENTATIVENESS_SOURCES,
        region_rule=REGION_RULES,
        global_softmax=GLOBAL_SOFTMAX_MODES,
    )
    for name, value in switches.items():
        allowed = choices.get(name, (True, False))
        if value not in allowed or (name not in choices and not isinstance(value, bool)):
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    if switches["representativeness_source"] == "decision" and not switches["learnable_decision"]:
        raise ValueError(
            "representativeness_source='decision' averages F^g = W^g (x) F and needs learnable_decision=True"
        )
    return switches
