"""The authors' IPN (Oh et al., CVPR 2019) as a backend, following IVOS-W's calls.

IPN (zyy-cn/IPN, the training fork of seoungwugoh/ivs-demo): ``model(load_pretrain=False)``, state dicts
into ``model_I`` / ``model_P``, ``init_variables(frames, masks, device)`` once per video (the object count
is taken from ``masks`` at start), then per round ``variables['scribbles']`` = only the latest round's
scribbles with ``annotated_frame`` set, ``Run(variables)``, and the result in ``variables['masks']`` /
``variables['probs']``. IPN imports ``davisinteractive`` (``pip install davisinteractive``).

What the released code needs from the machine, checked before anything is built:

* the device: it moves its networks to CUDA (and wraps them in ``DataParallel``) whenever a GPU is
  visible, and its scribble maps too, so ``device`` must be ``cuda`` exactly when a GPU is visible;
* ImageNet ResNet-50 weights: ``Inet()`` / ``Pnet()`` call ``torchvision.models.resnet50(pretrained=True)``,
  which downloads them unless they are in torch's hub cache; without them (and ``allow_download``)
  the adapter stops instead of hanging on a download offline;
* NumPy < 2 aliases (``np.int``, ``np.float``) used by davis-interactive's ``scribbles2mask``: set only
  while the adapter calls into the authors' code, and removed afterwards.

The native re-implementation (``build_backend("ipn")``, :mod:`vos_recommender.backends.native.ipn`) needs
none of this.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.backends.authors.code import (
    AuthorsCode,
    latest_round,
    load_state_dict,
    require_file,
    torch_module,
)
from vos_recommender.backends.base import BackendNotAvailableError, VOSBackend

__all__ = ["IPNBackend", "numpy_aliases"]

#: torchvision's ResNet-50 ImageNet files (old and new names), looked up in ``<torch hub>/checkpoints``.
RESNET50_FILES = ("resnet50-19c8e357.pth", "resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth")
_PRETRAINED_CALL = re.compile(r"resnet\d+\(\s*pretrained\s*=\s*True")


@contextlib.contextmanager
def numpy_aliases() -> Iterator[None]:
    """NumPy's removed ``np.int`` / ``np.float`` (used by davis-interactive) only inside the block."""
    import numpy

    added = [name for name in ("int", "float") if name not in numpy.__dict__]
    for name in added:
        setattr(numpy, name, {"int": int, "float": float}[name])
    try:
        yield
    finally:
        for name in added:
            delattr(numpy, name)


def check_device(device: str) -> None:
    """Fail early when ``device`` disagrees with where the released code puts its networks."""
    torch = torch_module()
    gpu = torch.cuda.is_available()
    if gpu and not str(device).startswith("cuda"):
        raise BackendNotAvailableError(
            f"IPN: a GPU is visible, so the authors' code moves its networks to CUDA, but device={device!r}; "
            "pass device='cuda', hide the GPU (CUDA_VISIBLE_DEVICES=''), or use the native backend 'ipn'"
        )
    if not gpu and str(device).startswith("cuda"):
        raise BackendNotAvailableError(
            f"IPN: device={device!r} but no CUDA GPU is available; use device='cpu'"
        )


def check_backbone_download(code_dir: Path, allow_download: bool) -> None:
    """Fail early when building the networks would download ImageNet weights and that is not allowed."""
    sources = [code_dir / name for name in ("interaction_net.py", "propagation_net.py")]
    if allow_download or not any(
        p.is_file() and _PRETRAINED_CALL.search(p.read_text(errors="replace")) for p in sources
    ):
        return
    torch = torch_module()
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    if not any((cache / name).is_file() for name in RESNET50_FILES):
        raise BackendNotAvailableError(
            "IPN: the authors' networks call torchvision's resnet50(pretrained=True), which downloads "
            f"ImageNet weights (none of {', '.join(RESNET50_FILES)} is in {cache}); put the file there, "
            "pass allow_download=True when online, or use the native backend 'ipn' (no download)"
        )


class IPNBackend(VOSBackend):
    """The authors' IPN (interaction + propagation networks) from a clone of zyy-cn/IPN.

    Args:
        code_dir: Repository root (holds ``model.py``, ``interaction_net.py``, ``propagation_net.py``).
        weights: Folder with ``I.pth`` and ``P.pth`` (the IVOS-W layout), or ``None`` to pass the two
            files explicitly.
        interaction_weights: Path of the interaction network weights (overrides ``weights``).
        propagation_weights: Path of the propagation network weights (overrides ``weights``).
        device: Torch device string: ``cuda`` when a GPU is visible, else ``cpu`` (see above).
        allow_download: Let the authors' code download ImageNet ResNet-50 weights while building.

    Raises:
        BackendNotAvailableError: If the code, weights, device or backbone weights are not usable here.
    """

    name = "ipn_authors"

    def __init__(
        self,
        code_dir: str | os.PathLike | None = None,
        weights: str | os.PathLike | None = None,
        interaction_weights: str | os.PathLike | None = None,
        propagation_weights: str | os.PathLike | None = None,
        device: str = "cpu",
        allow_download: bool = False,
    ) -> None:
        super().__init__()
        self.code = AuthorsCode(code_dir, "IPN", ["model.py"])
        check_device(device)
        if interaction_weights is None and weights is not None:
            interaction_weights = Path(weights) / "I.pth"
        if propagation_weights is None and weights is not None:
            propagation_weights = Path(weights) / "P.pth"
        i_path = require_file(
            interaction_weights, "IPN", "the interaction network weights (weights=<dir with I.pth>)"
        )
        p_path = require_file(
            propagation_weights, "IPN", "the propagation network weights (weights=<dir with P.pth>)"
        )
        self.device = device
        check_backbone_download(self.code.code_dir, allow_download)
        with numpy_aliases():
            module = self.code.import_module("model")
        with self.code.active():
            self.model = module.model(load_pretrain=False)
            load_state_dict(self.model.model_I, i_path, "IPN", device=device)
            load_state_dict(self.model.model_P, p_path, "IPN", device=device)
            self.model.model_I.eval()
            self.model.model_P.eval()
        self._variables: dict[str, Any] | None = None

    def _start(self) -> None:
        assert self.frames is not None
        num_frames, height, width = self.frames.shape[:3]
        # init_variables counts the objects as the distinct ids of `masks` minus background; it also
        # keeps them for the training loss, which is not used here. Ids 0..O are written into the
        # first pixels so that the count is right without ground truth.
        id_masks = np.zeros((num_frames, height, width), dtype=np.uint8)
        id_masks.reshape(-1)[: self.num_objects + 1] = np.arange(self.num_objects + 1)
        with self.code.active():
            self._variables = self.model.init_variables(
                frames=self.frames, masks=id_masks, device=self.device
            )

    def _reset(self) -> None:
        self._variables = None

    def _interact(self, scribble: dict[str, Any], frame: int) -> tuple[np.ndarray, np.ndarray]:
        torch = torch_module()
        assert self._variables is not None
        self._variables["scribbles"] = latest_round(scribble, frame)
        with self.code.active(), numpy_aliases(), torch.no_grad():
            self.model.Run(self._variables)
        masks = self._variables["masks"].detach().cpu().numpy().astype(np.uint8)
        probs = self._variables["probs"][0].detach().cpu().numpy().transpose(1, 0, 2, 3)  # (O+1),T -> T,(O+1)
        return masks, probs
