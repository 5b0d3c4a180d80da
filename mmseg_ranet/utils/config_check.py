"""Config checks that turn late, cryptic failures into early, clear errors."""

from __future__ import annotations

import os.path as osp
from collections.abc import Iterator
from typing import Any

from mmengine.config import Config


def _walk_types(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        value = node.get("type")
        if isinstance(value, str):
            yield value
        for child in node.values():
            yield from _walk_types(child)
    elif isinstance(node, (list, tuple)):
        for child in node:
            yield from _walk_types(child)


def plugin_type_names() -> set[str]:
    """Names of every class that ``mmseg_ranet`` registers in mmseg's registries."""
    from mmseg.registry import DATASETS, METRICS, MODELS, TRANSFORMS

    import mmseg_ranet  # noqa: F401  (registers the modules)

    names = set()
    for registry in (MODELS, DATASETS, TRANSFORMS, METRICS):
        for name, cls in registry.module_dict.items():
            if getattr(cls, "__module__", "").startswith("mmseg_ranet"):
                names.add(name)
    return names


def check_custom_imports(cfg: Config) -> None:
    """Raise if the config uses the plugin's modules without importing the plugin.

    mmseg's own tools (and any Runner) only know the plugin's classes when the config says
    ``custom_imports = dict(imports=['mmseg_ranet'], ...)``; without it, the failure is a registry
    ``KeyError`` deep inside model building.
    """
    imports = cfg.get("custom_imports", {}) or {}
    imported = imports.get("imports", []) if isinstance(imports, dict) else []
    if isinstance(imported, str):
        imported = [imported]
    if any(name == "mmseg_ranet" or name.startswith("mmseg_ranet.") for name in imported):
        return
    used = sorted(set(_walk_types(cfg.to_dict())) & plugin_type_names())
    if used:
        raise ValueError(
            f"config {cfg.filename!r} uses {', '.join(used)} from mmseg_ranet but does not import it. "
            "Add this line to the config:\n"
            "    custom_imports = dict(imports=['mmseg_ranet'], allow_failed_imports=False)"
        )


def check_data_roots(cfg: Config) -> None:
    """Raise ``FileNotFoundError`` naming the dataloader whose ``data_root`` is missing."""
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        datasets = [loader_cfg.get("dataset", {})]
        while datasets:
            dataset = datasets.pop()
            if not isinstance(dataset, dict):
                continue
            # Wrappers (ConcatDataset, RepeatDataset, ...) hold their datasets under these keys.
            datasets.extend(dataset.get("datasets", []) or [])
            if isinstance(dataset.get("dataset"), dict):
                datasets.append(dataset["dataset"])
            root = dataset.get("data_root")
            if isinstance(root, str) and root and "://" not in root and not osp.isdir(root):
                raise FileNotFoundError(
                    f"{loader}: data_root {root!r} does not exist (config {cfg.filename!r}). "
                    f"Set it with --cfg-options {loader}.dataset.data_root=<path>, or generate the demo data "
                    "with `python -m mmseg_ranet.datasets.generate`."
                )
