"""The RANet variants as their config fragments (``configs/_base_/models/ranet_<variant>.py``) give them."""

from __future__ import annotations

from pathlib import Path

from mmengine.config import Config

from mmseg_ranet.models.decode_heads import DEVICE_PATH_SETTINGS

MODEL_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "_base_" / "models"
VARIANTS = ("paper", "official", "object_regions")


def variant_settings(variant: str, construction: dict | None = None, interaction: dict | None = None) -> dict:
    """``construction``, ``interaction`` and ``loss_partition`` of a variant, with block settings on top.

    Args:
        variant (str): One of :data:`VARIANTS`.
        construction (dict, optional): Construction settings that replace the variant's.
        interaction (dict, optional): Interaction settings that replace the variant's.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    fragment = MODEL_CONFIGS / f"ranet_{variant.replace('_', '-')}.py"
    settings = Config.fromfile(str(fragment))[f"ranet_{variant}"].to_dict()
    settings["construction"].update(construction or {})
    settings["interaction"].update(interaction or {})
    return settings


#: Settings that put the head on the path it takes on an accelerator, on any device: the PyTorch
#: operators (``'torch'``, which ``'auto'`` picks for a non-CPU tensor) and lists sized by static bounds.
DEVICE_PATH = DEVICE_PATH_SETTINGS
#: The CPU path: the compiled operators and lists sized by the batch.
COMPILED_PATH = dict(
    construction=dict(boundary_impl="compiled", semantic_impl="compiled", region_impl="compiled"),
    interaction=dict(list_sizes="counted"),
)


def path_settings(
    variant: str, path: dict, construction: dict | None = None, interaction: dict | None = None
) -> dict:
    """:func:`variant_settings` with the implementation settings of ``path`` (``DEVICE_PATH``,
    ``COMPILED_PATH``) on top of ``construction`` and ``interaction``."""
    return variant_settings(
        variant,
        {**(construction or {}), **path["construction"]},
        {**(interaction or {}), **path["interaction"]},
    )
