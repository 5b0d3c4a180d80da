"""MANet (Miao et al., "Memory Aggregation Networks for Efficient Interactive Video Object
Segmentation", CVPR 2020) in plain PyTorch.

One embedding network runs once per frame. Each round, the interaction head segments the annotated
frame from its embedding, the scribbles and the previous round's mask; the propagation head then
segments the other frames one by one, outward from the annotated frame, from the current frame's
embedding, the global matching map (against the annotated frame's scribbles, aggregated over rounds)
and the local matching map (against the previous frame's mask). :class:`RoundMemory` holds the maps.

Parameter names follow the authors' ``IntVOS`` (lightas/CVPR2020_MANet ``networks/IntVOS.py``),
including its quirks: the embedding layers are registered twice (``seperate_conv``/``bn1``/
``embedding_conv``/``bn2`` and ``semantic_embedding.0/1/3/4`` are the same modules), and the backbone
sits under ``feature_extracter``.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from vos_recommender.nets.manet.embedding import DeepLabEmbedding
from vos_recommender.nets.manet.heads import SegHead
from vos_recommender.nets.manet.matching import global_matching, local_matching
from vos_recommender.nets.manet.memory import RoundMemory

__all__ = ["MANET_CONFIGS", "MANet", "MANetConfig"]


@dataclasses.dataclass(frozen=True)
class MANetConfig:
    """Sizes of a MANet.

    Attributes:
        depth: ResNet depth of the embedding backbone.
        channels: ASPP / decoder channels.
        shortcut_channels: DeepLab v3+ low-level shortcut channels.
        embedding_dim: Pixel-embedding channels used for matching.
        head_channels: Width of the two segmentation heads.
        output_stride: Backbone output stride (16 or 8).
        max_local_distance: Local matching window half-size (at half the embedding resolution).
        input_size: ``(height, width)`` frames are resized to before embedding; None keeps their size.
    """

    depth: int = 101
    channels: int = 256
    shortcut_channels: int = 48
    embedding_dim: int = 100
    head_channels: int = 256
    output_stride: int = 16
    max_local_distance: int = 12
    input_size: tuple[int, int] | None = (480, 854)


#: ``released``: the authors' test configuration (``save_step_80000.pth``, frames at 480 x 854);
#: ``cpu``: a ResNet-18, narrower model at half that resolution, for training and tests on CPUs.
MANET_CONFIGS: dict[str, MANetConfig] = {
    "released": MANetConfig(),
    "cpu": MANetConfig(
        depth=18,
        channels=64,
        shortcut_channels=16,
        embedding_dim=32,
        head_channels=64,
        max_local_distance=6,
        input_size=(240, 432),
    ),
}


def one_hot_masks(labels: torch.Tensor, num_ids: int, dtype: torch.dtype) -> torch.Tensor:
    """``h x w`` integer labels -> ``num_ids x 1 x h x w`` masks (other values: all zero)."""
    ids = torch.arange(num_ids, device=labels.device, dtype=labels.dtype).view(-1, 1, 1)
    return (labels.unsqueeze(0) == ids).unsqueeze(1).to(dtype)


class MANet(nn.Module):
    """The MANet networks (embedding, interaction head, propagation head).

    Args:
        config: Sizes; defaults to the released configuration.
    """

    def __init__(self, config: MANetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MANET_CONFIGS["released"]
        self.feature_extracter = DeepLabEmbedding(
            config.depth, config.channels, config.shortcut_channels, config.output_stride
        )
        self.seperate_conv = nn.Conv2d(config.channels, config.channels, 3, padding=1, groups=config.channels)
        self.bn1 = nn.BatchNorm2d(config.channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.embedding_conv = nn.Conv2d(config.channels, config.embedding_dim, 1)
        self.relu2 = nn.ReLU(inplace=True)
        self.bn2 = nn.BatchNorm2d(config.embedding_dim)
        self.semantic_embedding = nn.Sequential(
            self.seperate_conv, self.bn1, self.relu1, self.embedding_conv, self.bn2, self.relu2
        )
        self.dynamic_seghead = SegHead(config.embedding_dim + 3, config.head_channels)
        self.inter_seghead = SegHead(config.embedding_dim + 2, config.head_channels)

    def extract_feature(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised ``B x 3 x H x W`` images -> ``B x embedding_dim x H/4 x W/4`` embeddings."""
        return self.semantic_embedding(self.feature_extracter(images))

    def interaction_logits(
        self,
        embedding: torch.Tensor,
        scribble: torch.Tensor,
        previous_round: torch.Tensor | None,
        memory: RoundMemory,
        frame: int,
    ) -> torch.Tensor:
        """Segment the annotated frame.

        Args:
            embedding: ``C x h x w`` embedding of the annotated frame.
            scribble: ``h x w`` integer scribble labels (-1 = none, 0 = background, ``1..O``).
            previous_round: ``h x w`` labels of this frame after the previous round; None in round 1.
            memory: The video's memory (its current round must be set).
            frame: Index of the annotated frame.

        Returns:
            ``(O + 1) x h x w`` logits.
        """
        num_ids = memory.num_ids
        self_matching = local_matching(
            embedding, embedding, scribble, num_ids, self.config.max_local_distance
        )
        memory.aggregate_global(frame, self_matching)
        memory.mark_annotated(frame)
        scribble_masks = one_hot_masks(scribble, num_ids, embedding.dtype)
        if previous_round is None:
            # Round 1: every pixel starts as background.
            previous_masks = torch.zeros_like(scribble_masks)
            previous_masks[0] = 1.0
        else:
            previous_masks = one_hot_masks(previous_round, num_ids, embedding.dtype)
        features = embedding.unsqueeze(0).expand(num_ids, -1, -1, -1)
        logits = self.inter_seghead(torch.cat((features, scribble_masks, previous_masks), 1))
        return logits[:, 0]

    def propagation_logits(
        self,
        reference: torch.Tensor,
        reference_scribble: torch.Tensor,
        previous: torch.Tensor,
        previous_labels: torch.Tensor,
        current: torch.Tensor,
        memory: RoundMemory,
        frame: int,
        annotated_frame: int,
    ) -> torch.Tensor:
        """Segment ``frame`` from its neighbour on the annotated frame's side.

        Args:
            reference: ``C x h x w`` embedding of this round's annotated frame.
            reference_scribble: ``h x w`` scribble labels on it (-1 = none).
            previous: ``C x h x w`` embedding of the previously segmented frame.
            previous_labels: ``h x w`` labels of that frame.
            current: ``C x h x w`` embedding of ``frame``.
            memory: The video's memory.
            frame: Index of the frame to segment.
            annotated_frame: This round's annotated frame.

        Returns:
            ``(O + 1) x h x w`` logits.
        """
        num_ids = memory.num_ids
        global_maps = global_matching(reference, reference_scribble, current, num_ids)
        global_maps = memory.aggregate_global(frame, global_maps)
        local_maps = local_matching(
            current, previous, previous_labels, num_ids, self.config.max_local_distance
        )
        local_maps = memory.choose_local(frame, annotated_frame, local_maps)
        features = current.unsqueeze(0).expand(num_ids, -1, -1, -1)
        inputs = torch.cat(
            (
                features,
                global_maps.unsqueeze(1),
                local_maps.unsqueeze(1),
                one_hot_masks(previous_labels, num_ids, current.dtype),
            ),
            1,
        )
        return self.dynamic_seghead(inputs)[:, 0]
