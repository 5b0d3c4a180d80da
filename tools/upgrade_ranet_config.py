"""Rewrite a RANet config of the flat head layout (``variant=``, ``num_representatives=``, ... on the head) into
the nested one (``construction=dict(...)``, ``interaction=dict(...)``), keeping the model it means.

    python tools/upgrade_ranet_config.py OLD_CONFIG.py --out NEW_CONFIG.py
    python tools/upgrade_ranet_config.py CHECKPOINT.pth --out CONFIG.py   # the config saved in its meta

The result is the whole merged config (no ``_base_``), so that a checkpoint's saved config can be used with
``tools/test.py`` again. The old layout filled every setting left as None from the variant's preset, which
are now the fragments ``configs/_base_/models/ranet_{paper,official,object-regions}.py``; an explicit value
replaced the preset's, and ``loss_partition=False`` turned the variant's partition loss off.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FRAGMENTS = REPO / "configs" / "_base_" / "models"
VARIANTS = ("paper", "official", "object_regions")


def variant_settings(variant: str) -> dict:
    """``construction``, ``interaction`` and (if any) ``loss_partition`` of a variant's config fragment."""
    from mmengine.config import Config

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    fragment = FRAGMENTS / f"ranet_{variant.replace('_', '-')}.py"
    return Config.fromfile(str(fragment))[f"ranet_{variant}"].to_dict()


def upgrade_head_cfg(head: dict) -> dict:
    """The nested form of a ``RANetHead`` config of the flat layout (a nested one is returned unchanged).

    Args:
        head (dict): The ``decode_head`` config.

    Returns:
        dict: A new config with ``construction``, ``interaction`` and ``loss_partition`` as the head takes them.
    """
    from mmseg_ranet.models.decode_heads import RegionConstructionSpec, RegionInteractionSpec

    head = dict(head)
    sections = {spec.section: spec for spec in (RegionConstructionSpec, RegionInteractionSpec)}
    flat = {key for spec in sections.values() for key in spec.keys()} & set(head)
    if "variant" not in head and not flat and head.get("loss_partition") is not False:
        return head
    settings = variant_settings(head.pop("variant", "paper"))
    for section, spec in sections.items():
        nested = dict(settings[section], **head.get(section, {}))
        for key in spec.keys():
            value = head.pop(key, None)
            # None left a preset setting to the variant; for the others None is their default.
            if value is not None or (key in nested and nested[key] is None):
                nested[key] = value
        head[section] = nested
    loss_partition = head.pop("loss_partition", None)
    if loss_partition is None:
        loss_partition = settings.get("loss_partition")
    if loss_partition not in (None, False):
        head["loss_partition"] = loss_partition
    return head


def load_config(path: Path):
    """The config of a ``.py`` file, or the one saved in an mmengine checkpoint's ``meta['cfg']``."""
    from mmengine.config import Config

    if path.suffix == ".py":
        return Config.fromfile(str(path))
    import torch

    checkpoint = torch.load(str(path), map_location="cpu", weights_only=False)
    text = checkpoint.get("meta", {}).get("cfg") if isinstance(checkpoint, dict) else None
    if not text:
        raise ValueError(f"{path}: the checkpoint holds no config (meta['cfg'])")
    return Config.fromstring(text, ".py")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Nest the RANetHead settings of an older config")
    parser.add_argument("source", type=Path, help="config file (.py) or checkpoint with a saved config")
    parser.add_argument("--out", type=Path, required=True, help="where to write the upgraded config (.py)")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        parser.error(f"source {args.source} does not exist")
    if args.out.suffix != ".py":
        parser.error(f"--out must be a .py file, got {args.out}")
    cfg = load_config(args.source)
    head = cfg.model.get("decode_head")
    if not head or head.get("type") != "RANetHead":
        parser.error(f"{args.source}: model.decode_head is not a RANetHead")
    cfg.model.decode_head = upgrade_head_cfg(head.to_dict())
    cfg.dump(str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
