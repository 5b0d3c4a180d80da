"""RANetHead's two inputs: clear errors for its input settings, and the stage-3 / stage-4 feature maps.

``BaseDecodeHead`` only asserts on ``in_channels`` / ``in_index`` / ``input_transform``; these checks name
the setting that is wrong, at construction (the config) and at the first forward (the backbone's maps).
"""

from __future__ import annotations

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from torch import Tensor


def check_inputs_config(in_channels, in_index, input_transform) -> None:
    """Clear errors for the input combinations ``BaseDecodeHead`` only asserts on.

    Args:
        in_channels (int | Sequence[int]): The head's ``in_channels``.
        in_index (int | Sequence[int]): The head's ``in_index``.
        input_transform (str | None): The head's ``input_transform``.
    """
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


def select_stage_features(
    head: BaseDecodeHead, inputs: list[Tensor] | tuple[Tensor, ...]
) -> tuple[Tensor, Tensor]:
    """The head's stage-3 and stage-4 inputs, checked against its ``in_index`` and ``in_channels``.

    Both are resized by the head's ``region_scale`` when it is not 1.
    """
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(
            f"RANetHead expects a list/tuple of backbone feature maps, got {type(inputs).__name__}"
        )
    indices = head.in_index if isinstance(head.in_index, (list, tuple)) else [head.in_index]
    needed = max(i if i >= 0 else -i - 1 for i in indices) + 1
    if len(inputs) < needed:
        raise ValueError(
            f"RANetHead got {len(inputs)} feature maps but in_index={head.in_index} needs at least {needed}"
        )
    selected = head._transform_inputs(inputs)
    stage3, stage4 = selected if head.input_transform == "multiple_select" else (selected, selected)
    for name, feature, expected in (
        ("stage-3", stage3, head.expected_channels[0]),
        ("stage-4", stage4, head.expected_channels[1]),
    ):
        if feature.dim() != 4 or feature.shape[1] != expected:
            raise ValueError(
                f"RANetHead {name} input has shape {tuple(feature.shape)} but "
                f"in_channels={head.in_channels} expects {expected} channels"
            )
    if head.region_scale != 1.0:
        stage3, stage4 = (
            resize(x, scale_factor=head.region_scale, mode="bilinear", align_corners=head.align_corners)
            for x in (stage3, stage4)
        )
    return stage3, stage4
