"""Running the authors' IPN code (zyy-cn/IPN) on this machine's CPU with run-time patches only.

Their files are never edited. What the code needs and what stands in for it:

* ``torchvision.models.resnet50``: a stub ``torchvision`` package written to a temporary folder,
  returning the project's :class:`~vos_recommender.nets.resnet.ResNet` (same parameter names);
  ``pretrained=True`` downloads nothing (the weights are replaced by the compared state dict anyway);
* ``davisinteractive.utils.scribbles.scribbles2mask``: the real davis-interactive 1.0.4, unpacked
  from a git mirror (or given as a folder), with NumPy's removed aliases ``np.int`` / ``np.float`` set
  back for it;
* ``.cuda()`` / ``DataParallel``: only used when ``torch.cuda.is_available()``, which is False here.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

DAVIS_MIRROR = Path("/work/.mirror/albertomontesg+davis-interactive/repo/.git")
DAVIS_TAG = "1.0.4"
AUTHORS_MODULES = (
    "model",
    "interaction_net",
    "propagation_net",
    "utils_ipn",
    "torchvision",
    "davisinteractive",
)

_TORCHVISION_MODELS = '''"""Stand-in for torchvision.models: the project's ResNet (same parameter names), never downloads."""
from vos_recommender.nets.resnet import ResNet


def _resnet(depth, pretrained=False, **kwargs):
    return ResNet(depth=depth, num_classes=kwargs.get("num_classes", 1000))


def resnet18(pretrained=False, **kwargs):
    return _resnet(18, pretrained, **kwargs)


def resnet34(pretrained=False, **kwargs):
    return _resnet(34, pretrained, **kwargs)


def resnet50(pretrained=False, **kwargs):
    return _resnet(50, pretrained, **kwargs)


def resnet101(pretrained=False, **kwargs):
    return _resnet(101, pretrained, **kwargs)
'''


def _write_torchvision(folder: Path) -> None:
    package = folder / "torchvision"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("from torchvision import models\n")
    (package / "models" / "__init__.py").write_text(_TORCHVISION_MODELS)


def unpack_davis(folder: Path, davis_dir: Path | None = None, mirror: Path = DAVIS_MIRROR) -> str:
    """A folder holding the real ``davisinteractive`` 1.0.4 sources, for ``sys.path``.

    ``davis_dir`` when given (it must hold ``davisinteractive/utils/scribbles.py``), else the package
    unpacked from the git mirror's tag into ``folder``.

    Raises:
        FileNotFoundError: If neither is available.
    """
    if davis_dir is not None:
        if not (davis_dir / "davisinteractive" / "utils" / "scribbles.py").is_file():
            raise FileNotFoundError(f"--davis-dir {davis_dir} has no davisinteractive/utils/scribbles.py")
        return str(davis_dir)
    if not mirror.is_dir():
        raise FileNotFoundError(
            f"davis-interactive is needed by the authors' code: no git mirror at {mirror}; pass --davis-dir"
        )
    archive = subprocess.run(
        ["git", f"--git-dir={mirror}", "archive", DAVIS_TAG, "davisinteractive"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return str(folder)


@contextlib.contextmanager
def authors_ipn(
    authors_dir: Path, davis_dir: Path | None = None, mirror: Path = DAVIS_MIRROR
) -> Iterator[ModuleType]:
    """Import the authors' ``model.py`` with the stand-ins in place; yields the module.

    Raises:
        FileNotFoundError: If ``authors_dir`` lacks ``model.py`` or davis-interactive cannot be found.
    """
    authors_dir = Path(authors_dir).resolve()
    if not (authors_dir / "model.py").is_file():
        raise FileNotFoundError(f"--authors-dir {authors_dir} has no model.py (a checkout of zyy-cn/IPN)")
    # Only the aliases NumPy 2 lacks (np.bool exists again and must stay NumPy's own type).
    aliases = {name: builtin for name, builtin in (("int", int), ("float", float)) if not hasattr(np, name)}
    saved_modules = {k: v for k, v in sys.modules.items() if k.split(".")[0] in AUTHORS_MODULES}
    with tempfile.TemporaryDirectory(prefix="ipn-authors-") as tmp:
        folder = Path(tmp)
        _write_torchvision(folder)
        paths = [str(authors_dir), str(folder), unpack_davis(folder, davis_dir, mirror)]
        for name, builtin in aliases.items():  # removed in NumPy 2; davis-interactive uses them
            setattr(np, name, builtin)
        sys.path[:0] = paths
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # their modules print on import
                module = importlib.import_module("model")
            yield module
        finally:
            for path in paths:
                sys.path.remove(path)
            for name in [k for k in sys.modules if k.split(".")[0] in AUTHORS_MODULES]:
                del sys.modules[name]
            sys.modules.update(saved_modules)
            for name in aliases:
                delattr(np, name)
