"""Config checks that turn late, cryptic failures into early, clear errors."""

from __future__ import annotations

import difflib
import inspect
import logging
import os.path as osp
from collections.abc import Iterator
from typing import Any

from mmengine.config import Config
from mmengine.logging import print_log


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


_LOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")


def _datasets(cfg: Config) -> Iterator[tuple[str, str, dict]]:
    """``(dataloader, config key, dataset config)`` of every dataset the dataloaders name, wrapped
    ones included (``ConcatDataset``, ``RepeatDataset``, ... hold theirs under ``datasets`` or ``dataset``)."""
    for loader in _LOADERS:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        datasets = [(f"{loader}.dataset", loader_cfg.get("dataset", {}))]
        while datasets:
            key, dataset = datasets.pop()
            if not isinstance(dataset, dict):
                continue
            yield loader, key, dataset
            datasets.extend(
                (f"{key}.datasets.{i}", d) for i, d in enumerate(dataset.get("datasets", []) or [])
            )
            if isinstance(dataset.get("dataset"), dict):
                datasets.append((f"{key}.dataset", dataset["dataset"]))


def check_data_roots(cfg: Config) -> None:
    """Raise ``FileNotFoundError`` naming the dataloader whose ``data_root`` is missing."""
    for loader, _key, dataset in _datasets(cfg):
        root = dataset.get("data_root")
        if isinstance(root, str) and root and "://" not in root and not osp.isdir(root):
            raise FileNotFoundError(
                f"{loader}: data_root {root!r} does not exist (config {cfg.filename!r}). "
                f"Set it with --cfg-options {loader}.dataset.data_root=<path>, or generate the demo data "
                "with `python -m mmseg_ranet.datasets.generate`."
            )


def _head_num_classes(cfg: Config) -> list[tuple[str, int]]:
    """``(config key, num_classes)`` of every decode and auxiliary head of the model."""
    model = cfg.get("model") or {}
    found = []
    for key in ("decode_head", "auxiliary_head"):
        heads = model.get(key)
        if isinstance(heads, dict):
            heads = {f"model.{key}": heads}
        elif isinstance(heads, (list, tuple)):
            heads = {f"model.{key}.{i}": head for i, head in enumerate(heads)}
        else:
            continue
        for name, head in heads.items():
            if isinstance(head, dict) and isinstance(head.get("num_classes"), int):
                found.append((f"{name}.num_classes", head["num_classes"]))
    return found


def _dataset_classes(dataset: Any) -> tuple[str, int] | None:
    """``(dataset type, number of classes)`` from the config, without building the dataset."""
    from mmseg.registry import DATASETS

    while isinstance(dataset, dict):
        if isinstance(dataset.get("dataset"), dict):  # RepeatDataset, ClassBalancedDataset, ...
            dataset = dataset["dataset"]
            continue
        if isinstance(dataset.get("datasets"), (list, tuple)) and dataset["datasets"]:  # ConcatDataset
            dataset = dataset["datasets"][0]
            continue
        metainfo = dataset.get("metainfo") or {}
        classes = metainfo.get("classes") if isinstance(metainfo, dict) else None
        dataset_type = dataset.get("type")
        if classes is None and isinstance(dataset_type, str):
            cls = DATASETS.get(dataset_type)
            classes = getattr(cls, "METAINFO", {}).get("classes") if cls is not None else None
        if classes is None:
            return None
        return str(dataset_type), len(classes)
    return None


def check_num_classes(cfg: Config, loaders: tuple[str, ...] = ("train_dataloader", "val_dataloader")) -> None:
    """Compare the heads' ``num_classes`` with the datasets' classes.

    Fewer outputs than classes fails later inside ``cross_entropy`` with an ``IndexError`` (or a CUDA
    assert); more outputs train and evaluate without complaint, with classes that never occur.

    Raises:
        ValueError: a head has fewer classes than a dataset, naming both numbers and config keys.
    """
    import mmseg_ranet  # noqa: F401  (registers the plugin's datasets for the lookup)

    heads = _head_num_classes(cfg)
    for loader in loaders:
        found = _dataset_classes((cfg.get(loader) or {}).get("dataset"))
        if found is None:
            continue
        dataset_type, num_dataset = found
        for key, num_head in heads:
            if num_head < num_dataset:
                raise ValueError(
                    f"{key}={num_head} but {loader}.dataset ({dataset_type}) has {num_dataset} classes "
                    f"(config {cfg.filename!r}): labels {num_head}..{num_dataset - 1} have no output. "
                    f"Set {key}={num_dataset}, or {loader}.dataset.metainfo.classes to the classes used."
                )
            if num_head > num_dataset:
                print_log(
                    f"{key}={num_head} but {loader}.dataset ({dataset_type}) has only {num_dataset} "
                    f"classes: the extra {num_head - num_dataset} outputs are never trained",
                    logger="current",
                    level=logging.WARNING,
                )


# Top-level keys that mmengine's Runner does not take as arguments but reads from the config, and the
# keys mmseg's and this project's tools read.
_READ_KEYS = {
    "activation_checkpointing",
    "compile",
    "cpu_numerics",
    "custom_imports",
    "efficient_conv_bn_eval",
    "find_unused_parameters",
    "gpu_ids",
    "model_wrapper_cfg",
    "runner_type",
    "sync_bn",
    "tta_model",
    "tta_pipeline",
    "vis_backends",
    "work_dir",
}


def _runner_keys() -> set[str]:
    from mmengine.runner import Runner

    params = inspect.signature(Runner.__init__).parameters
    return {name for name in params if name not in ("self", "cfg")} | _READ_KEYS


def _base_keys(filename: str | None) -> set[str]:
    """Top-level keys defined by the config's ``_base_`` files (inherited standard keys)."""
    if not filename or not osp.isfile(filename):
        return set()
    keys: set[str] = set()
    try:
        # mmengine's own resolution of relative and ``mmseg::`` base paths (private helpers: the public
        # API only returns the merged config, in which the file's own keys cannot be told apart).
        for base in Config._get_base_files(filename):
            path, _scope = Config._get_cfg_path(base, filename)
            keys |= set(Config.fromfile(path).keys())
    except Exception:  # noqa: BLE001  (a base that cannot be read already failed in Config.fromfile)
        return keys
    return keys


def warn_unread_keys(cfg: Config, cfg_options: dict | None = None) -> list[str]:
    """Warn about top-level keys that nothing reads and that look like a misspelled known key.

    Config files define helper variables freely (``crop_size``, ``norm_cfg``), so only keys close to one
    the Runner or the tools read, or one the ``_base_`` files define, are reported (``train_dataloder``
    next to ``train_dataloader``), with the close match.

    Returns:
        The warning messages (also logged).
    """
    known = _runner_keys() | _base_keys(cfg.filename)
    from_options = {key.split(".")[0] for key in (cfg_options or {})}
    messages = []
    for key in cfg.keys():
        if key in known or key.startswith("_"):
            continue
        match = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8)
        if not match:
            continue
        origin = "--cfg-options" if key in from_options else f"config {cfg.filename!r}"
        message = (
            f"top-level key {key!r} (from {origin}) is not read by anything and is ignored; "
            f"did you mean {match[0]!r}?"
        )
        print_log(message, logger="current", level=logging.WARNING)
        messages.append(message)
    return messages


# Schemas of nested configs, from what mmseg and mmengine read. A segmentor's ``test_cfg``:
# ``EncoderDecoder`` (``mode``, ``crop_size``, ``stride``) and ``PointHead`` (the other three).
_TEST_CFG_KEYS = (
    "mode",
    "crop_size",
    "stride",
    "subdivision_steps",
    "subdivision_num_points",
    "scale_factor",
)
# ``BaseSegDataset`` (and the two-image ``BaseCDDataset``).
_DATA_PREFIX_KEYS = ("img_path", "seg_map_path", "img_path2")
# ``Runner.setup_env``.
_ENV_CFG_KEYS = ("cudnn_benchmark", "mp_cfg", "dist_cfg", "resource_limit")
# What a hook's config holds besides its arguments (the Runner pops ``priority`` before building it).
_HOOK_KEYS = ("type", "priority")


def _init_arguments(cls: type) -> set[str]:
    """Keyword arguments of ``cls``: its ``__init__``'s and, while an ``__init__`` takes ``**kwargs``,
    those of its bases' (where ``super().__init__(**kwargs)`` sends them)."""
    names: set[str] = set()
    for klass in inspect.getmro(cls):
        if klass is object or "__init__" not in vars(klass):
            continue
        try:
            params = list(inspect.signature(vars(klass)["__init__"]).parameters.values())
        except (TypeError, ValueError):  # a builtin without a signature: nothing more to learn
            break
        names |= {p.name for p in params[1:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names


def _registered(registry: Any, type_value: Any) -> type | None:
    if isinstance(type_value, type):
        return type_value
    if not isinstance(type_value, str):
        return None
    try:
        return registry.get(type_value)
    except Exception:  # noqa: BLE001  (an unknown or unimportable type fails in the build, by name)
        return None


def _items(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """``(config key, item)`` of a config that is one item or a list of them (evaluators, hooks)."""
    if isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            yield f"{path}.{index}", item
    elif node is not None:
        yield path, node


def nested_key_typos(cfg: Config) -> list[tuple[str, str, str]]:
    """Keys of nested configs with a known schema that nothing reads but that resemble a key that is read.

    Checked: the model's ``test_cfg``, the evaluators' and hooks' arguments (``inspect.signature`` of the
    registered class, so a misspelled argument that ``**kwargs`` would swallow is found), the datasets'
    ``data_prefix`` and ``env_cfg``. Unknown keys that resemble no known one are left alone, as for top-level
    keys: they may be read by code these schemas do not describe.

    Returns:
        ``(config key, the close match, what the schema is)`` of each.
    """
    from mmseg.registry import HOOKS, METRICS

    import mmseg_ranet  # noqa: F401  (registers the plugin's metrics and hooks)

    found: list[tuple[str, str, str]] = []

    def check(node: Any, path: str, known: set[str] | tuple[str, ...], what: str) -> None:
        if not isinstance(node, dict):
            return
        for key in node:
            if not isinstance(key, str) or key in known or key.startswith("_"):
                continue
            match = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8)
            if match:
                found.append((f"{path}.{key}", match[0], what))

    def check_built(node: Any, path: str, registry: Any, extra: tuple[str, ...] = ("type",)) -> None:
        cls = _registered(registry, node.get("type")) if isinstance(node, dict) else None
        if cls is not None:
            check(node, path, _init_arguments(cls) | set(extra), f"an argument of {cls.__name__}")

    model = cfg.get("model") or {}
    if isinstance(model, dict):
        check(model.get("test_cfg"), "model.test_cfg", _TEST_CFG_KEYS, "a key of a segmentor's test_cfg")
    for _loader, key, dataset in _datasets(cfg):
        check(
            dataset.get("data_prefix"),
            f"{key}.data_prefix",
            _DATA_PREFIX_KEYS,
            "a key of a dataset's data_prefix",
        )
    check(cfg.get("env_cfg"), "env_cfg", _ENV_CFG_KEYS, "a key of env_cfg that mmengine's Runner reads")
    for name in ("val_evaluator", "test_evaluator"):
        evaluator = cfg.get(name)
        if isinstance(evaluator, dict) and "metrics" in evaluator:  # an Evaluator config around its metrics
            evaluator, name = evaluator["metrics"], f"{name}.metrics"
        for path, metric in _items(evaluator, name):
            check_built(metric, path, METRICS)
    default_hooks = cfg.get("default_hooks") or {}
    if isinstance(default_hooks, dict):
        for name, hook in default_hooks.items():
            check_built(hook, f"default_hooks.{name}", HOOKS, _HOOK_KEYS)
    for path, hook in _items(cfg.get("custom_hooks"), "custom_hooks"):
        check_built(hook, path, HOOKS, _HOOK_KEYS)
    return found


def check_nested_keys(cfg: Config, cfg_options: dict | None = None) -> None:
    """Raise if a nested config with a known schema holds a misspelled key (:func:`nested_key_typos`).

    Top-level keys only warn (:func:`warn_unread_keys`), since config files define helper variables at
    the top level freely; inside a known schema a key that resembles an accepted one is a typo, and it
    would be ignored (``model.test_cfg.mod=slide`` infers whole images) or fail only when first used
    (``default_hooks.checkpoint.intervall`` at the first save, after training). So it is an error, raised
    before anything is built.

    Raises:
        ValueError: Naming every misspelled key, where it comes from and the close match.
    """
    found = nested_key_typos(cfg)
    if not found:
        return
    options = list(cfg_options or {})
    lines = []
    for path, match, what in found:
        given = any(option == path or option.startswith(path + ".") for option in options)
        origin = "--cfg-options" if given else f"config {cfg.filename!r}"
        parent = path.rpartition(".")[0]
        lines.append(f"  {path} (from {origin}) is not {what}; did you mean {parent}.{match}?")
    raise ValueError("misspelled config keys, which nothing reads:\n" + "\n".join(lines))
