"""The RANet variants as their config fragments (``configs/_base_/models/ranet_<variant>.py``) give them."""

from __future__ import annotations

from pathlib import Path

from mmengine.config import Config

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
