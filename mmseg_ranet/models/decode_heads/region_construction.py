"""Region Construction Block (RCB) of RANet: pairwise scores, the region decision and the regions."""

from __future__ import annotations

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.utils import OptMultiConfig
from torch import Tensor

from ..ops import (
    RegionScoreSpec,
    boundary_max_table,
    jensen_shannon_table,
    region_labels,
    region_representativeness,
    streamed_region_scores,
)
from .ranet_presets import (
    check_decision_kernel_size,
    check_representativeness_source,
    check_switches,
    resolve_stream_tables,
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

    Args:
        region_threshold (float): Threshold on the symmetrised score (F + F^T)/2 for G; with a learnable
            decision it initialises the bias of W^g to ``-region_threshold``. Defaults to 0.8.
        divergence (str): ``'full'`` class JSD (paper) or ``'binary'`` JSD on i's arg-max class
            (released code). Defaults to ``'full'``.
        jsd_normalize (bool): Divide E by ln 2 so that E lies in [0, 1] like D. Defaults to True.
        learnable_decision (bool): Apply the learnable convolution W^g to F (paper). Without it, G
            thresholds F directly (released code). Defaults to True.
        representativeness_source (str): J averages ``'decision'`` = F^g (paper) or ``'score'`` = F
            (released code). Defaults to ``'decision'``.
        region_rule (str): ``'components'`` (connected components of G) or ``'greedy'`` (released
            pointer-jumping partition). Defaults to ``'components'``.
        use_boundary_term (bool): Use D; False sets D = 0. Defaults to True.
        use_semantic_term (bool): Use E; False sets E = 0. Defaults to True.
        decision_kernel_size (int): Kernel size of W^g over the (N, N) score table. Defaults to 1.
        boundary_impl (str): ``'auto'``, ``'compiled'`` or ``'torch'`` implementation of D.
        semantic_impl (str): The same choice for the full-form E.
        region_impl (str): The same choice for the streamed decision, regions and region sums.
        stream_tables (bool, optional): Compute the tables row block by row block without keeping them
            for autograd (see ``mmseg_ranet.models.ops.region_scores``); same numbers, a fraction of the
            memory. Needs a 1x1 W^g; None streams whenever ``decision_kernel_size == 1``.
        init_cfg (dict | list[dict], optional): Initialisation config. Defaults to None: W^g starts as
            the identity with bias ``-region_threshold``.
    """

    def __init__(
        self,
        region_threshold: float = 0.8,
        divergence: str = "full",
        jsd_normalize: bool = True,
        learnable_decision: bool = True,
        representativeness_source: str = "decision",
        region_rule: str = "components",
        use_boundary_term: bool = True,
        use_semantic_term: bool = True,
        decision_kernel_size: int = 1,
        boundary_impl: str = "auto",
        semantic_impl: str = "auto",
        region_impl: str = "auto",
        stream_tables: bool | None = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        check_switches(
            divergence=divergence,
            jsd_normalize=jsd_normalize,
            learnable_decision=learnable_decision,
            representativeness_source=representativeness_source,
            region_rule=region_rule,
            use_boundary_term=use_boundary_term,
            use_semantic_term=use_semantic_term,
        )
        check_representativeness_source(representativeness_source, learnable_decision)
        check_decision_kernel_size(decision_kernel_size)
        check_switches(boundary_impl=boundary_impl, semantic_impl=semantic_impl, region_impl=region_impl)
        self.region_threshold = float(region_threshold)
        self.divergence = divergence
        self.jsd_normalize = jsd_normalize
        self.learnable_decision = learnable_decision
        self.representativeness_source = representativeness_source
        self.region_rule = region_rule
        self.use_boundary_term = use_boundary_term
        self.use_semantic_term = use_semantic_term
        self.decision_kernel_size = decision_kernel_size
        self.boundary_impl = boundary_impl
        self.semantic_impl = semantic_impl
        self.region_impl = region_impl
        self.stream_tables = resolve_stream_tables(stream_tables, decision_kernel_size)
        if learnable_decision:
            # W^g starts as identity with bias -threshold: sgn(W^g (x) F) then equals the released threshold.
            self.decision_conv = nn.Conv2d(1, 1, decision_kernel_size, padding=decision_kernel_size // 2)
            with torch.no_grad():
                self.decision_conv.weight.zero_()
                self.decision_conv.weight[0, 0, decision_kernel_size // 2, decision_kernel_size // 2] = 1.0
                self.decision_conv.bias.fill_(-self.region_threshold)

    def forward(self, class_logits: Tensor, boundary_logits: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Regions and representativeness, streamed or from dense tables (``stream_tables``).

        Args:
            class_logits (Tensor): Class logits C, (B, num_classes, h, w).
            boundary_logits (Tensor): Boundary logits B, (B, 2, h, w).

        Returns:
            tuple: boundary probability b (B, h, w); J (B, h*w); region ids (B, h*w); region counts (B,).
        """
        if self.stream_tables:
            return self.streamed(class_logits, boundary_logits)
        boundary_prob, score, decision, _, region, num_regions = self.dense_tables(
            class_logits, boundary_logits
        )
        j_values = region_representativeness(
            decision if self.representativeness_source == "decision" else score, region
        )
        return boundary_prob, j_values, region, num_regions

    def streamed(
        self, class_logits: Tensor, boundary_logits: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The block without N x N tables held for autograd (same returns as :meth:`forward`)."""
        boundary_prob = torch.softmax(boundary_logits, dim=1)[:, 1]
        log_probs = torch.log_softmax(class_logits, dim=1).flatten(2)
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

    def dense_tables(
        self, class_logits: Tensor, boundary_logits: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor, Tensor, Tensor]:
        """b, F = (1 - D)(1 - E), F^g, G and the regions, as dense tables.

        Args:
            class_logits (Tensor): Class logits C, (B, num_classes, h, w).
            boundary_logits (Tensor): Boundary logits B, (B, 2, h, w).

        Returns:
            tuple: boundary probability b (B, h, w); score F (B, N, N); F^g (B, N, N) or None without a
            learnable decision; G (bool, B, N, N); region ids (B, N); region counts (B,).
        """
        boundary_prob = torch.softmax(boundary_logits, dim=1)[:, 1]
        score = 1.0
        if self.use_boundary_term:
            score = 1 - boundary_max_table(boundary_prob, impl=self.boundary_impl)
        if self.use_semantic_term:
            semantic_term = jensen_shannon_table(
                torch.log_softmax(class_logits, dim=1).flatten(2),
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
