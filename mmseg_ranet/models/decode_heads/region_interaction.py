"""Region Interaction Block (RIB) of RANet: its settings, the representatives, local collection, global
interaction and distribution."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor

from ..ops import (
    GLOBAL_SOFTMAX_MODES,
    Representatives,
    autocast_off,
    distribution,
    global_interaction,
    local_collection,
    masked_batch_norm,
    region_slots,
    segment_distribution,
    segment_local_collection,
    select_representatives,
)
from .block_spec import BlockSpec

ATTENTION_IMPLS = ("auto", "segment", "dense")
# With 'auto', representative lists up to this length (per image) use the masked dense attentions: their
# (pixels x list) products are a few large matrix products, which measured faster on CPU than the segment
# form's gathers at up to a few hundred representatives (one region per image: 8, a dozen regions: 96);
# longer lists (small regions, up to one per pixel) use the segment form.
DENSE_MAX_REPRESENTATIVES = 512
LIST_SIZES = ("auto", "counted", "bounded")


@dataclass(frozen=True)
class RegionInteractionSpec(BlockSpec):
    """Settings of the Region Interaction Block: ``RANetHead(interaction=dict(...))``.

    The defaults are the paper's; ``configs/_base_/models/ranet_official.py`` holds the released code's.

    Attributes:
        num_representatives (int): K, representatives per region. Defaults to 8.
        local_mask (bool): Collect only from the own region's non-representatives. Defaults to True.
        global_mask (bool): Interact only with other regions' representatives. Defaults to True.
        global_softmax (str): ``'per_region'`` softmax over each other region's representatives (paper)
            or one ``'joint'`` softmax (released code). Defaults to ``'per_region'``.
        distribution_mask (bool): Distribute only from the own region's representatives. Defaults to True.
        feature_convs (bool): Query/value 3x3 convolutions over A (released code). Defaults to False.
        refine_convs (bool): 3x3 convolutions over the representative list after collection and after
            interaction, and over the map after distribution (released code). Defaults to False.
        attention_scale (bool): Divide attention scores by sqrt(channels). Defaults to False.
        attention_impl (str): How the region-restricted local collection and distribution are computed:
            ``'segment'`` pairs every pixel with its own region's representatives only (O(N K C)),
            ``'dense'`` masks attention tables of all pixels x all M representatives (O(N M C); the
            reference), ``'auto'`` takes ``'dense'`` while M <= ``DENSE_MAX_REPRESENTATIVES`` and
            ``'segment'`` beyond. The results agree to float rounding. The unrestricted attentions are
            dense in all three. Defaults to ``'auto'``.
        list_sizes (str): How the representative list and the region tables are sized. ``'counted'``:
            by the batch (the most representatives of an image, the most regions, the largest region),
            read on the host, which on an accelerator waits for the device several times per step.
            ``'bounded'``: by static bounds that hold for every partition (M = N list entries, R = N
            regions, K slots per region), with masks, so no shape depends on the data and nothing is
            read on the host; the attentions then cost what they cost with one representative per pixel
            (at most that of a non-local block) and the segment tables hold B x N x K x C floats.
            ``'auto'``: ``'counted'`` for CPU tensors, ``'bounded'`` elsewhere. Same values either way
            (to float rounding). Defaults to ``'auto'``.
    """

    section: ClassVar[str] = "interaction"

    num_representatives: int = 8
    local_mask: bool = True
    global_mask: bool = True
    global_softmax: str = "per_region"
    distribution_mask: bool = True
    feature_convs: bool = False
    refine_convs: bool = False
    attention_scale: bool = False
    attention_impl: str = "auto"
    list_sizes: str = "auto"

    def __post_init__(self) -> None:
        self.check_int("num_representatives", 1)
        self.check_bool(
            "local_mask",
            "global_mask",
            "distribution_mask",
            "feature_convs",
            "refine_convs",
            "attention_scale",
        )
        self.check_choice("global_softmax", GLOBAL_SOFTMAX_MODES)
        self.check_choice("attention_impl", ATTENTION_IMPLS)
        self.check_choice("list_sizes", LIST_SIZES)

    def bounded_lists(self, device: torch.device) -> bool:
        """Whether the lists of a batch on ``device`` are sized by static bounds (``list_sizes``)."""
        if self.list_sizes == "auto":
            return torch.device(device).type != "cpu"
        return self.list_sizes == "bounded"


class RegionInteractionBlock(BaseModule):
    """Context for every pixel from the representatives of the regions.

    The K pixels of each region with the highest representativeness J are its representatives. Local
    collection gathers each region's context into its representatives, global interaction lets the
    representatives of different regions exchange it, and distribution hands it back to the pixels. The
    paper restricts each attention by region; the released code attends over all pixels / all
    representatives and adds query/value and refinement convolutions. Dot products are unscaled in both
    unless ``attention_scale``.

    Under mixed precision the query/value convolutions run in the autocast dtype, and the attentions run
    in fp32 with autocast off (``ops.autocast_off``): A, the query/value maps and J are cast to one dtype
    (at least fp32), so the segment and dense paths never mix dtypes, and softmaxes of unscaled C-channel
    dot products keep fp32 accuracy. The context is returned in that dtype.

    Args:
        channels (int): Channels of the features A and of the context.
        spec (RegionInteractionSpec | dict, optional): The block's settings (see
            :class:`RegionInteractionSpec`); a dict is validated into the spec. Defaults to None: the
            paper's settings.
        conv_cfg (dict, optional): Config of the convolutions. Defaults to None.
        norm_cfg (dict, optional): Config of their normalisation layers. Defaults to None.
        act_cfg (dict): Config of their activations. Defaults to ``dict(type='ReLU')``.
        init_cfg (dict | list[dict], optional): Initialisation config. Defaults to None.
    """

    def __init__(
        self,
        channels: int,
        spec: RegionInteractionSpec | ConfigType | None = None,
        conv_cfg: OptConfigType = None,
        norm_cfg: OptConfigType = None,
        act_cfg: ConfigType = dict(type="ReLU"),
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.spec = RegionInteractionSpec.from_cfg(spec)
        self.channels = channels
        conv_kwargs = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        if self.spec.feature_convs:
            self.query_conv = ConvModule(channels, channels, 3, padding=1, **conv_kwargs)
            self.value_conv = ConvModule(channels, channels, 3, padding=1, **conv_kwargs)
        if self.spec.refine_convs:
            self.collection_refine = ConvModule(channels, channels, 3, padding=1, **conv_kwargs)
            self.interaction_refine = ConvModule(channels, channels, 3, padding=1, **conv_kwargs)
            self.distribution_refine = ConvModule(channels, channels, 3, padding=1, **conv_kwargs)

    def forward(
        self, features: Tensor, representativeness: Tensor, region: Tensor, num_regions: Tensor
    ) -> tuple[Tensor, Representatives]:
        """Context O for every pixel.

        Args:
            features (Tensor): A, (B, channels, h, w).
            representativeness (Tensor): J, (B, h*w); gradients flow through it.
            region (Tensor): Region ids (B, h*w), contiguous from 0.
            num_regions (Tensor): Regions per image (B,).

        Returns:
            tuple: the context (B, channels, h, w) and the representatives.
        """
        spec = self.spec
        query = self.query_conv(features) if spec.feature_convs else features
        value = self.value_conv(features) if spec.feature_convs else features
        # One dtype for the attentions, at least fp32, and autocast off: see ``ops.precision``.
        dtype = functools.reduce(
            torch.promote_types, (query.dtype, value.dtype, representativeness.dtype, torch.float32)
        )
        with autocast_off(features.device):
            return self._attend(
                query.to(dtype), value.to(dtype), representativeness.to(dtype), region, num_regions
            )

    def _attend(
        self, query: Tensor, value: Tensor, j_values: Tensor, region: Tensor, num_regions: Tensor
    ) -> tuple[Tensor, Representatives]:
        """The attentions on query and value maps (B, C, h, w) and J (B, h*w) of one dtype."""
        spec = self.spec
        batch, channels, height, width = value.shape
        num_pixels = height * width
        bounded = spec.bounded_lists(value.device)
        reps = select_representatives(
            j_values.detach(), region, spec.num_representatives, width=num_pixels if bounded else None
        )
        query = query.flatten(2).transpose(1, 2)
        value = value.flatten(2).transpose(1, 2)
        segments = spec.attention_impl == "segment" or (
            spec.attention_impl == "auto" and reps.pixel.shape[1] > DENSE_MAX_REPRESENTATIVES
        )
        slots = (
            region_slots(region, reps, spec.num_representatives if bounded else None)
            if segments and (spec.local_mask or spec.distribution_mask)
            else None
        )
        if segments and spec.local_mask:
            local = segment_local_collection(query, value, j_values, reps, slots, spec.attention_scale)
        else:
            local = local_collection(
                query,
                value,
                j_values,
                region,
                reps.pixel,
                reps.region,
                reps.valid,
                spec.local_mask,
                spec.attention_scale,
            )
        if spec.refine_convs:
            local = self._refine_list(self.collection_refine, local, reps.valid, bounded)
        rep_j = j_values.gather(1, reps.pixel)
        glob = global_interaction(
            local,
            rep_j,
            reps.region,
            reps.valid,
            num_pixels if bounded else int(num_regions.max()),
            exclude_own_region=spec.global_mask,
            softmax_mode=spec.global_softmax,
            scale=spec.attention_scale,
            bounded=bounded,
        )
        if spec.refine_convs:
            glob = self._refine_list(self.interaction_refine, glob, reps.valid, bounded)
        if segments and spec.distribution_mask:
            context = segment_distribution(query, value, j_values, glob, rep_j, slots, spec.attention_scale)
        else:
            context = distribution(
                query,
                value,
                j_values,
                region,
                glob,
                rep_j,
                reps.region,
                reps.valid,
                spec.distribution_mask,
                spec.attention_scale,
            )
        context = context.transpose(1, 2).reshape(batch, channels, height, width)
        if spec.refine_convs:
            context = self.distribution_refine(context)
        return context, reps

    @staticmethod
    def _refine_list(conv: ConvModule, items: Tensor, valid: Tensor, bounded: bool = False) -> Tensor:
        """3x3 convolution over a padded (B, M, C) list laid out as a (B, C, 1, M) map; padding stays zero.

        With a ``bounded`` list (M = N) the batch norm takes its statistics over the first M' positions,
        M' the longest list of the batch (a device tensor), as it does over the counted list of length M'.
        """
        mask = valid.unsqueeze(-1).to(items.dtype)
        grid = (items * mask).transpose(1, 2).unsqueeze(2)
        if bounded and conv.with_norm:
            if tuple(conv.order) != ("conv", "norm", "act"):
                raise ValueError(
                    f"a bounded list needs refinement convolutions ordered conv-norm-act, got {conv.order}"
                )
            refined = conv.conv(grid)
            longest = valid.sum(dim=1).max()
            counted = torch.arange(valid.shape[1], device=valid.device) < longest
            refined = masked_batch_norm(conv.norm, refined, counted.view(1, 1, 1, -1))
            if conv.with_activation:
                refined = conv.activate(refined)
        else:
            refined = conv(grid)
        return refined.squeeze(2).transpose(1, 2) * mask
