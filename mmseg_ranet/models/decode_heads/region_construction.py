"""Region Construction Block (RCB) of RANet: its settings, the pairwise scores, the region decision and the
regions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.utils import ConfigType, OptMultiConfig
from torch import Tensor

from ..ops import (
    BOUNDARY_IMPLS,
    DIVERGENCE_FORMS,
    FORCED_REGIONS,
    JSD_IMPLS,
    REGION_IMPLS,
    REGION_RULES,
    RegionScoreSpec,
    average_linkage_labels,
    boundary_max_table,
    forced_regions,
    in_full_precision,
    jensen_shannon_table,
    pair_boundary_term,
    pair_semantic_term,
    region_counts,
    region_labels,
    region_representativeness,
    streamed_region_scores,
    with_endpoints,
)
from .block_spec import BlockSpec

REPRESENTATIVENESS_SOURCES = ("decision", "score")
#: ``boundary_endpoints``: False (released sampling), True (D' = max(D, b_i, b_j) everywhere) or
#: ``'decision'`` (D' only in the region decision G and the partition loss; F in J keeps the released D).
BOUNDARY_ENDPOINTS = (False, True, "decision")


@dataclass(frozen=True)
class RegionConstructionSpec(BlockSpec):
    """Settings of the Region Construction Block: ``RANetHead(construction=dict(...))``.

    The defaults are the paper's; ``configs/_base_/models/ranet_official.py`` and
    ``ranet_object-regions.py`` hold the other variants' values.

    Attributes:
        region_threshold (float): Threshold on the symmetrised score (F + F^T)/2 for G; with a learnable
            decision it initialises the bias of W^g to ``-region_threshold``. Defaults to 0.8.
        divergence (str): ``'full'`` class JSD (paper) or ``'binary'`` JSD on i's arg-max class
            (released code). Defaults to ``'full'``.
        jsd_normalize (bool): Divide E by ln 2 so that E lies in [0, 1] like D. Defaults to True.
        learnable_decision (bool): Apply the learnable convolution W^g to F (paper). Without it, G
            thresholds F directly (released code). Defaults to True.
        representativeness_source (str): J averages ``'decision'`` = F^g (paper) or ``'score'`` = F
            (released code). Defaults to ``'decision'``.
        region_rule (str): ``'components'`` (connected components of G), ``'greedy'`` (released
            pointer-jumping partition) or ``'average_linkage'`` (regions merge while the mean margin
            between them is positive, ``ops.region_linkage``: robust to a few wrong links). Defaults to
            ``'components'``.
        use_boundary_term (bool): Use D; False sets D = 0. Defaults to True.
        use_semantic_term (bool): Use E; False sets E = 0. Defaults to True.
        boundary_endpoints (bool | str): True: D counts the segment's end pixels, D'_ij = max(D_ij, b_i,
            b_j), so that a cell on an outline separates the cells on both sides of it. ``'decision'``: D'
            only where the partition is decided (G and the partition loss's margins), while F in J keeps
            the released D, so a cell on an outline is not cut out of J (it costs a second score table in
            the forward pass). False keeps the released sampling (end points excluded, D = 0 between
            8-neighbours). Defaults to False.
        representativeness_trains_decision (bool): J = mean F^g passes its gradient to W^g (paper). False
            detaches W^g inside J (J keeps its value), so W^g learns only from a loss on the decision
            (``RegionPartitionLoss``): through J it drifts until G links nothing or everything, because J
            does not reward a good partition. Defaults to True.
        force_regions (str, optional): Replace the partition of G by one region per image (``'image'``),
            one region per cell (``'pixel'``) or the GT segments of the label (``'ground_truth'``, an
            oracle: the caller passes ``given_regions``; ``RANetHead`` needs ``RegionEncoderDecoder`` for
            it), everything else unchanged (an ablation). Defaults to None (the regions of G).
        decision_kernel_size (int): Kernel size of W^g over the (N, N) score table. Defaults to 1.
        boundary_impl (str): ``'auto'``, ``'compiled'`` or ``'torch'`` implementation of D (same numbers).
        semantic_impl (str): The same choice for the full-form E (equal to float rounding).
        region_impl (str): The same choice for the streamed decision, regions and region sums.
        stream_tables (bool, optional): Compute the tables row block by row block without keeping them
            for autograd (see ``mmseg_ranet.models.ops.region_scores``); same numbers, a fraction of the
            memory. Needs a 1x1 W^g; None (default) streams whenever ``decision_kernel_size == 1`` and is
            replaced by that bool.
    """

    section: ClassVar[str] = "construction"

    region_threshold: float = 0.8
    divergence: str = "full"
    jsd_normalize: bool = True
    learnable_decision: bool = True
    representativeness_source: str = "decision"
    region_rule: str = "components"
    use_boundary_term: bool = True
    use_semantic_term: bool = True
    boundary_endpoints: bool | str = False
    representativeness_trains_decision: bool = True
    force_regions: str | None = None
    decision_kernel_size: int = 1
    boundary_impl: str = "auto"
    semantic_impl: str = "auto"
    region_impl: str = "auto"
    stream_tables: bool | None = None

    def __post_init__(self) -> None:
        self.check_number("region_threshold")
        self.check_choice("divergence", DIVERGENCE_FORMS)
        self.check_choice("representativeness_source", REPRESENTATIVENESS_SOURCES)
        self.check_choice("region_rule", REGION_RULES)
        self.check_choice("boundary_endpoints", BOUNDARY_ENDPOINTS)
        self.check_choice("force_regions", FORCED_REGIONS)
        self.check_choice("boundary_impl", BOUNDARY_IMPLS)
        self.check_choice("semantic_impl", JSD_IMPLS)
        self.check_choice("region_impl", REGION_IMPLS)
        self.check_bool(
            "jsd_normalize",
            "learnable_decision",
            "use_boundary_term",
            "use_semantic_term",
            "representativeness_trains_decision",
        )
        self.check_int("decision_kernel_size", 1, odd=True)
        if self.representativeness_source == "decision" and not self.learnable_decision:
            raise ValueError(
                "construction.representativeness_source='decision' averages F^g = W^g (x) F and needs "
                "construction.learnable_decision=True"
            )
        object.__setattr__(self, "region_threshold", float(self.region_threshold))
        if self.stream_tables is None:
            object.__setattr__(self, "stream_tables", self.decision_kernel_size == 1)
        self.check_bool("stream_tables")
        if self.stream_tables and self.decision_kernel_size != 1:
            raise ValueError(
                "construction.stream_tables=True needs decision_kernel_size=1: a wider decision convolution "
                f"mixes neighbouring rows of the score table (got decision_kernel_size={self.decision_kernel_size})"
            )

    @property
    def endpoints_in_decision_only(self) -> bool:
        """Whether D' (with end points) makes the partition while F in J keeps the released D."""
        return self.boundary_endpoints == "decision" and self.use_boundary_term and self.force_regions is None

    def score_spec(self) -> RegionScoreSpec:
        """The settings of the streamed operator (``ops.streamed_region_scores``)."""
        return RegionScoreSpec(
            use_boundary_term=self.use_boundary_term,
            use_semantic_term=self.use_semantic_term,
            divergence=self.divergence,
            jsd_normalize=self.jsd_normalize,
            region_rule=self.region_rule,
            boundary_impl=self.boundary_impl,
            semantic_impl=self.semantic_impl,
            region_impl=self.region_impl,
            boundary_endpoints=self.boundary_endpoints is True,
            force_regions=self.force_regions,
        )


class RegionConstructionBlock(BaseModule):
    """Regions from the boundary logits B and the class logits C of RANet's stage-3 branch.

    F_ij = (1 - D_ij)(1 - E_ij), with D the largest boundary probability on the segment from pixel i to
    pixel j and E the Jensen-Shannon divergence of their class distributions; the learnable decision
    F^g = W^g (x) F; the region decision G = [(F^g + F^g^T) / 2 > 0] (or a fixed threshold on F) made
    without gradient; and the regions of G. The block also returns the representativeness
    J_i = mean_{j in R(i)} F^g_ij (or F): the paper counts J to the Region Interaction Block, but J is a
    masked row mean of the same tables, so the streamed pass computes it together with the regions
    instead of keeping an N x N table for autograd.

    The block is a full-precision island under mixed precision (``ops.in_full_precision``): its public
    methods switch autocast off for the inputs' device and promote fp16/bf16 logits to fp32, so D, E, F,
    F^g, the decision, the regions and J (returned in fp32) are those of the fp32 head on the same logits.

    Args:
        spec (RegionConstructionSpec | dict, optional): The block's settings (see
            :class:`RegionConstructionSpec`); a dict is validated into the spec. Defaults to None: the
            paper's settings.
        init_cfg (dict | list[dict], optional): Initialisation config. Defaults to None: W^g starts as
            the identity with bias ``-region_threshold``.
    """

    def __init__(
        self, spec: RegionConstructionSpec | ConfigType | None = None, init_cfg: OptMultiConfig = None
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.spec = RegionConstructionSpec.from_cfg(spec)
        if self.spec.learnable_decision:
            # W^g starts as identity with bias -threshold: sgn(W^g (x) F) then equals the released threshold.
            size = self.spec.decision_kernel_size
            self.decision_conv = nn.Conv2d(1, 1, size, padding=size // 2)
            with torch.no_grad():
                self.decision_conv.weight.zero_()
                self.decision_conv.weight[0, 0, size // 2, size // 2] = 1.0
                self.decision_conv.bias.fill_(-self.spec.region_threshold)

    @in_full_precision
    def forward(
        self, class_logits: Tensor, boundary_logits: Tensor, given_regions: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Regions and representativeness, streamed or from dense tables (``stream_tables``).

        Args:
            class_logits (Tensor): Class logits C, (B, num_classes, h, w).
            boundary_logits (Tensor): Boundary logits B, (B, 2, h, w).
            given_regions (Tensor, optional): Region ids (B, h*w) that replace the partition, required
                with ``force_regions='ground_truth'`` (``ops.ground_truth_regions``).

        Returns:
            tuple: boundary probability b (B, h, w); J (B, h*w); region ids (B, h*w); region counts (B,).
        """
        spec = self.spec
        if spec.stream_tables:
            return self.streamed(class_logits, boundary_logits, given_regions)
        boundary_prob, score, decision, _, region, num_regions = self.dense_tables(
            class_logits, boundary_logits, given_regions
        )
        if spec.representativeness_source == "decision" and (
            not spec.representativeness_trains_decision or spec.boundary_endpoints == "decision"
        ):
            # J averages W^g (x) F; with end points in the decision only, F here has the released D.
            decision = self._decision(score, detached=not spec.representativeness_trains_decision)
        j_values = region_representativeness(
            decision if spec.representativeness_source == "decision" else score, region
        )
        return boundary_prob, j_values, region, num_regions

    def _decision(self, score: Tensor, detached: bool = False) -> Tensor:
        """F^g = W^g (x) F for a score table (B, N, N); ``detached`` stops the gradient to W^g."""
        weight, bias = self.decision_conv.weight, self.decision_conv.bias
        if detached:
            weight, bias = weight.detach(), bias.detach()
        padding = self.spec.decision_kernel_size // 2
        return torch.nn.functional.conv2d(score.unsqueeze(1), weight, bias, padding=padding).squeeze(1)

    @in_full_precision
    def streamed(
        self, class_logits: Tensor, boundary_logits: Tensor, given_regions: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The block without N x N tables held for autograd (same returns as :meth:`forward`)."""
        boundary_prob = torch.softmax(boundary_logits, dim=1)[:, 1]
        log_probs = torch.log_softmax(class_logits, dim=1).flatten(2)
        spec = self.spec.score_spec()
        if self.spec.endpoints_in_decision_only:
            # The regions come from the decision on D' (no gradient flows through a partition); S, and so
            # J, is then the region mean of F with the released D over those regions.
            with torch.no_grad():
                _, given_regions, _ = streamed_region_scores(
                    boundary_prob,
                    log_probs,
                    replace(spec, boundary_endpoints=True),
                    *self._decision_affine(),
                )
            spec = replace(spec, force_regions="ground_truth")  # i.e. "the regions given with the call"
        if self.spec.learnable_decision:
            # F^g = w F + b with the 1x1 W^g, so mean_R(F^g) = w mean_R(F) + b.
            weight = self.decision_conv.weight.view(())
            bias = self.decision_conv.bias.view(())
            if not self.spec.representativeness_trains_decision:
                weight, bias = weight.detach(), bias.detach()
            # w and b stay 0-dim tensors on the device (a float() would wait for it).
            mean_score, region, num_regions = streamed_region_scores(
                boundary_prob, log_probs, spec, weight.detach(), bias.detach(), given_regions
            )
        else:
            mean_score, region, num_regions = streamed_region_scores(
                boundary_prob, log_probs, spec, None, -self.spec.region_threshold, given_regions
            )
        if self.spec.representativeness_source == "decision":
            j_values = mean_score * weight + bias
        else:
            j_values = mean_score
        return boundary_prob, j_values, region, num_regions

    def _decision_affine(self) -> tuple[Tensor | None, Tensor | float]:
        """(w, b) of the 1x1 decision F^g = w F + b as detached 0-dim tensors, or (None, -threshold)
        without W^g."""
        if self.spec.learnable_decision:
            return self.decision_conv.weight.detach().view(()), self.decision_conv.bias.detach().view(())
        return None, -self.spec.region_threshold

    @in_full_precision
    def dense_tables(
        self, class_logits: Tensor, boundary_logits: Tensor, given_regions: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor, Tensor, Tensor]:
        """b, F = (1 - D)(1 - E), F^g, G and the regions, as dense tables.

        Args:
            class_logits (Tensor): Class logits C, (B, num_classes, h, w).
            boundary_logits (Tensor): Boundary logits B, (B, 2, h, w).

        Returns:
            tuple: boundary probability b (B, h, w); score F (B, N, N); F^g (B, N, N) or None without a
            learnable decision; G (bool, B, N, N); region ids (B, N); region counts (B,).
        """
        spec = self.spec
        boundary_prob = torch.softmax(boundary_logits, dim=1)[:, 1]
        score = decision_score = 1.0
        if spec.use_boundary_term:
            boundary_table = boundary_max_table(boundary_prob, impl=spec.boundary_impl)
            score = decision_score = 1 - boundary_table
            if spec.boundary_endpoints:
                decision_score = 1 - with_endpoints(boundary_table, boundary_prob)
                if spec.boundary_endpoints is True:
                    score = decision_score
        if spec.use_semantic_term:
            semantic_term = jensen_shannon_table(
                torch.log_softmax(class_logits, dim=1).flatten(2),
                spec.divergence,
                spec.jsd_normalize,
                impl=spec.semantic_impl,
            )
            score = score * (1 - semantic_term)
            decision_score = decision_score * (1 - semantic_term)
        if isinstance(score, float):
            num_pixels = boundary_prob.shape[1] * boundary_prob.shape[2]
            score = decision_score = boundary_prob.new_ones(boundary_prob.shape[0], num_pixels, num_pixels)
        if not spec.endpoints_in_decision_only:
            decision_score = score
        decision = self._decision(decision_score) if spec.learnable_decision else None
        with torch.no_grad():
            margin = decision if decision is not None else decision_score - spec.region_threshold
            # G = 1/2 sgn((F^g + F^g^T) / 2) + 1/2, with a tie (sgn = 0) counted as not linked.
            summed = margin + margin.transpose(1, 2)
            linked = summed > 0
            if spec.region_rule == "average_linkage":
                region, num_regions = average_linkage_labels(summed / 2, overwrite=True)
            else:
                region, num_regions = region_labels(linked, spec.region_rule)
            if spec.force_regions == "ground_truth":
                if given_regions is None or given_regions.shape != region.shape:
                    raise ValueError(
                        f"force_regions='ground_truth' needs given_regions of shape {tuple(region.shape)}"
                    )
                region, num_regions = given_regions, region_counts(given_regions)
            elif spec.force_regions is not None:
                region, num_regions = forced_regions(spec.force_regions, *region.shape, region.device)
        return boundary_prob, score, decision, linked, region, num_regions

    @in_full_precision
    def pair_margins(
        self,
        class_logits: Tensor,
        boundary_logits: Tensor,
        batch_index: Tensor,
        source: Tensor,
        target: Tensor,
    ) -> Tensor:
        """The decision margin (F^g_ij + F^g_ji) / 2 of sampled pairs; G_ij = [margin > 0].

        Computed per pair (``ops.pair_scores``), with gradient to B, C and W^g, and without any N x N
        table, for a loss on the decision (``RegionPartitionLoss``).

        Args:
            class_logits (Tensor): Class logits C, (B, num_classes, h, w).
            boundary_logits (Tensor): Boundary logits B, (B, 2, h, w).
            batch_index (Tensor): int64 (P,) image of each pair.
            source (Tensor): int64 (P,) raster index of pixel i on the (h, w) grid.
            target (Tensor): int64 (P,) raster index of pixel j.

        Returns:
            Tensor: (P,) margins; without a learnable decision F - threshold (no parameter to learn).
        """
        spec = self.spec
        if spec.learnable_decision and spec.decision_kernel_size != 1:
            raise ValueError(
                "a loss on the region decision needs a 1x1 W^g (decision_kernel_size=1): a wider one "
                f"mixes neighbouring entries of the score table (got {spec.decision_kernel_size})"
            )
        boundary_prob = torch.softmax(boundary_logits, dim=1)[:, 1]
        log_probs = torch.log_softmax(class_logits, dim=1).flatten(2)
        score_ij = score_ji = boundary_prob.new_ones(source.shape)
        if spec.use_boundary_term:
            # D is symmetric, so one evaluation serves both directions.
            boundary = 1 - pair_boundary_term(
                boundary_prob, batch_index, source, target, bool(spec.boundary_endpoints)
            )
            score_ij, score_ji = score_ij * boundary, score_ji * boundary
        if spec.use_semantic_term:
            for reverse in (False, True):
                first, second = (target, source) if reverse else (source, target)
                semantic = pair_semantic_term(
                    log_probs, batch_index, first, second, spec.divergence, spec.jsd_normalize
                )
                if reverse:
                    score_ji = score_ji * (1 - semantic)
                else:
                    score_ij = score_ij * (1 - semantic)
        mean_score = (score_ij + score_ji) / 2
        if spec.learnable_decision:
            return mean_score * self.decision_conv.weight.view(()) + self.decision_conv.bias.view(())
        return mean_score - spec.region_threshold
