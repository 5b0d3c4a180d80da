"""Running the authors' MANet (lightas/CVPR2020_MANet) on a CPU with the fewest run-time patches.

Nothing in the authors' folder is edited. While :func:`authors_runtime` is active:

* ``torch.Tensor.cuda`` and ``nn.Module.cuda`` return their object unchanged (the code calls
  ``.cuda()`` unconditionally in ``_selected_pixel`` and ``nearest_neighbor_features_per_object``);
* NumPy's removed aliases (``np.int``, ``np.float``, ``np.object``) exist again;
* a temporary folder on ``sys.path`` provides ``torchvision.transforms.functional``, which
  ``dataloaders/custom_transforms_f.py`` imports and the evaluation path never calls (it raises if
  called; torchvision cannot be installed beside this torch);
* the real davis-interactive 1.0.4 is put on ``sys.path`` (unpacked from its git mirror, or a folder
  given as ``davis_dir``): the adapter draws scribbles with its ``scribbles2mask`` as IVOS-W does, and
  ``custom_transforms_f.py`` imports its ``bresenham``.

MANet needs no correlation package here: its released ``IntVOS.py`` has ``USE_CORRELATION_COST =
False`` and computes local distances with ``F.unfold``. Sync batchnorm runs as plain batchnorm in eval
mode (its own code path), so it needs no stand-in either. No pretrained weights are downloaded:
``DeepLab(backbone='resnet')`` builds ``ResNet101(pretrained=False)``.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from torch import nn

from vos_recommender.backends.authors.code import AuthorsCode
from vos_recommender.backends.authors.manet import manet_config

from .ipn_authors_runtime import unpack_davis

__all__ = ["AUTHORS_COMMIT", "AUTHORS_REPOSITORY", "authors_runtime", "build_authors_model"]

AUTHORS_REPOSITORY = "lightas/CVPR2020_MANet"
AUTHORS_COMMIT = "75f562baff25c5c0c6c0c5d2ed9338dab54fd9b5"

_STUBS = {
    "torchvision/__init__.py": "",
    "torchvision/transforms/__init__.py": "",
    "torchvision/transforms/functional.py": (
        "def __getattr__(name):\n"
        "    raise AttributeError(f'torchvision stand-in: transforms.functional.{name} is not provided')\n"
    ),
}
_NUMPY_ALIASES = {"int": int, "float": float, "object": object}  # np.bool is back in NumPy 2


@contextlib.contextmanager
def authors_runtime(davis_dir: Path | None = None) -> Iterator[None]:
    """Apply the CPU patches and stand-in modules, with the real davis-interactive; undo them all on exit."""
    saved_modules = {name: sys.modules.get(name) for name in ("torchvision", "davisinteractive")}
    added_aliases = [name for name in _NUMPY_ALIASES if name not in np.__dict__]
    tensor_cuda, module_cuda = torch.Tensor.cuda, nn.Module.cuda
    with tempfile.TemporaryDirectory(prefix="manet-stubs-") as stub_dir:
        for rel, text in _STUBS.items():
            path = Path(stub_dir, rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        davis_path = unpack_davis(Path(stub_dir), davis_dir)
        sys.path[:0] = [stub_dir, davis_path]
        for name in added_aliases:
            setattr(np, name, _NUMPY_ALIASES[name])
        torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
        nn.Module.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
        try:
            yield
        finally:
            torch.Tensor.cuda, nn.Module.cuda = tensor_cuda, module_cuda  # type: ignore[method-assign]
            for name in added_aliases:
                delattr(np, name)
            sys.path.remove(stub_dir)
            if davis_path in sys.path:
                sys.path.remove(davis_path)
            for name in list(sys.modules):
                root = name.split(".")[0]
                if root in saved_modules and sys.modules[name] is not saved_modules.get(name):
                    del sys.modules[name]
            for name, module in saved_modules.items():
                if module is not None:
                    sys.modules[name] = module


def authors_code(authors_dir: str | Path) -> AuthorsCode:
    """The authors' repository, importable in isolation with IVOS-W's test ``cfg`` as ``config``."""
    config_module = ModuleType("config")
    config_module.cfg = manet_config()  # type: ignore[attr-defined]
    return AuthorsCode(
        authors_dir,
        "MANet",
        ["networks/IntVOS.py", "networks/deeplab.py", "dataloaders/custom_transforms_f.py"],
        injected={"config": config_module},
    )


def build_authors_model(authors_dir: str | Path) -> nn.Module:
    """``IntVOS(cfg, DeepLab(backbone='resnet', freeze_bn=False))`` as IVOS-W's ``eval_agent_manet.py``
    builds it (call inside :func:`authors_runtime`)."""
    code = authors_code(authors_dir)
    deeplab = code.import_module("networks.deeplab")
    intvos = code.import_module("networks.IntVOS")
    with code.active(), torch.no_grad():
        return intvos.IntVOS(code.injected["config"].cfg, deeplab.DeepLab(backbone="resnet", freeze_bn=False))
