"""The authors' ATNet (Heo et al., ECCV 2020) as a backend, following IVOS-W's calls (``atnet_authors``).

ATNet (yuk6heo/IVOS-ATNet): ``ATnet()`` + ``Config()``, ``forward_ANet`` on the annotated frame with
[previous mask, positive, negative] maps built from *all* scribbles so far, ``forward_TNet`` along
``libs.utils.get_prop_list``, blended with the previous round near earlier annotated frames. The released
code calls ``.cuda()`` internally (a CUDA GPU is needed), needs its compiled FlowNet2 correlation
package, and imports ``davisinteractive``, whose ``scribble_to_image`` uses ``np.int`` (NumPy < 2).

Checked before anything is built: a CUDA device when the code calls ``.cuda()``, and the ImageNet
ResNet-50 their ``SEResNet50`` always loads (a download unless it is in torch's hub cache). NumPy's
removed aliases are defined only while the adapter calls into the code. Callers that supply their own
stand-ins (e.g. ``.cuda()`` as a no-op and a download that returns nothing, as the equivalence check in
``docs/recommender.md`` does) pass ``stand_ins=True`` to skip the two checks.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from vos_recommender.backends.authors.code import AuthorsCode, load_state_dict, require_file, torch_module
from vos_recommender.backends.base import BackendNotAvailableError, VOSBackend

__all__ = ["ATNetBackend"]

#: NumPy aliases removed in NumPy 1.24 that the code (and davisinteractive 1.0.4) still use.
_NUMPY_ALIASES = {"int": int, "float": float, "bool": bool, "object": object}
#: The ImageNet weights ``networks/deeplab/backbone/resnet.py`` loads for ``SEResNet50``.
_BACKBONE_FILE = "resnet50-19c8e357.pth"


@contextlib.contextmanager
def numpy_aliases() -> Iterator[None]:
    """Define ``np.int`` & co. for the duration of a call into the authors' code, then remove them."""
    added = [name for name in _NUMPY_ALIASES if name not in np.__dict__]
    for name in added:
        setattr(np, name, _NUMPY_ALIASES[name])
    try:
        yield
    finally:
        for name in added:
            delattr(np, name)


def cuda_call_site(code_dir: Path) -> str | None:
    """``file:line`` of the first ``.cuda()`` call in the code's networks, or None."""
    for path in sorted((code_dir / "networks").glob("*.py")):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if re.search(r"\.cuda\(", line.split("#", 1)[0]):
                return f"{path.relative_to(code_dir)}:{number}"
    return None


def backbone_download_needed(code_dir: Path) -> bool:
    """True when the code's ResNet loads ImageNet weights that are not in torch's hub cache."""
    resnet = code_dir / "networks" / "deeplab" / "backbone" / "resnet.py"
    if not resnet.is_file() or _BACKBONE_FILE not in resnet.read_text(errors="replace"):
        return False
    import torch

    return not (Path(torch.hub.get_dir()) / "checkpoints" / _BACKBONE_FILE).is_file()


class ATNetBackend(VOSBackend):
    """The authors' ATNet (annotated-frame and transfer networks) from a clone of yuk6heo/IVOS-ATNet.

    Args:
        code_dir: Repository root (holds ``config.py``, ``networks/atnet.py``, ``libs/utils.py``,
            ``libs/utils_torch.py``).
        weights: The checkpoint; default ``<code_dir>/<Config().test_load_state_dir>``
            (``ATNet-checkpoint.pth``).
        device: Torch device string (the released networks need ``"cuda"``).
        injected: Modules to provide under fixed names (e.g. a stand-in for
            ``networks.correlation_package.correlation``).
        stand_ins: The caller has made ``.cuda()`` a no-op and the backbone download return
            nothing; skips those two checks.

    Raises:
        BackendNotAvailableError: If code, weights or a module are missing, the code needs CUDA that
            is not there, or its backbone would be downloaded.
    """

    name = "atnet_authors"
    simulated_user = {"min_nb_nodes": 2}

    def __init__(
        self,
        code_dir: str | os.PathLike | None = None,
        weights: str | os.PathLike | None = None,
        device: str = "cuda",
        injected: dict[str, ModuleType] | None = None,
        stand_ins: bool = False,
    ) -> None:
        super().__init__()
        self.code = AuthorsCode(
            code_dir,
            "ATNet",
            ["config.py", "networks/atnet.py", "libs/utils.py", "libs/utils_torch.py"],
            injected=injected,
        )
        if not stand_ins:
            self._check_runnable(device)
        with numpy_aliases():
            config_module = self.code.import_module("config")
            atnet_module = self.code.import_module("networks.atnet")
            self.utils = self.code.import_module("libs.utils")
            self.utils_torch = self.code.import_module("libs.utils_torch")
        self.config = config_module.Config()
        if weights is None:
            weights = self.code.code_dir / self.config.test_load_state_dir
        weights_path = require_file(weights, "ATNet", "the checkpoint (weights=.../ATNet-checkpoint.pth)")
        self.device = device
        with self.code.active(), numpy_aliases():
            self.net = atnet_module.ATnet()
            load_state_dict(self.net, weights_path, "ATNet", device=device)
            self.net.to(device).eval()
        self._state: dict[str, Any] = {}

    def _check_runnable(self, device: str) -> None:
        import torch

        site = cuda_call_site(self.code.code_dir)
        if site is not None and (not str(device).startswith("cuda") or not torch.cuda.is_available()):
            raise BackendNotAvailableError(
                f"ATNet: the code calls .cuda() ({site}), so it needs a CUDA device; device={device!r}, "
                f"CUDA available: {torch.cuda.is_available()} (the native 'atnet' backend runs anywhere)"
            )
        if backbone_download_needed(self.code.code_dir):
            raise BackendNotAvailableError(
                f"ATNet: building the network downloads {_BACKBONE_FILE} (ImageNet ResNet-50); put it in "
                f"{torch.hub.get_dir()}/checkpoints first"
            )

    def _start(self) -> None:
        torch = torch_module()
        assert self.frames is not None
        num_frames, height, width = self.frames.shape[:3]
        with self.code.active(), numpy_aliases():
            _, pad_info = self.utils.apply_pad(np.zeros((height, width)))
            mean = np.asarray(self.config.mean, dtype=np.float32)
            var = np.asarray(self.config.var, dtype=np.float32)
            images = [
                self.utils.apply_pad((f.astype(np.float32) / 255.0 - mean) / var, pad_info)
                for f in self.frames
            ]
        images = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy()).float().to(self.device)
        (hpad1, hpad2), (wpad1, wpad2) = pad_info
        self._state = {
            "pad_info": pad_info,
            "images": images,
            "crop": (slice(hpad1, images.shape[-2] - hpad2), slice(wpad1, images.shape[-1] - wpad2)),
            "prob_maps": torch.zeros(
                (num_frames, self.num_objects) + tuple(images.shape[-2:]), device=self.device
            ),
            "anno_3ch": [],
            "anno_6ch": [],
            "final_masks": np.zeros((num_frames, height, width)),
            "all_strokes": [[] for _ in range(num_frames)],
        }

    def _reset(self) -> None:
        self._state = {}

    def _interact(self, scribble: dict[str, Any], frame: int) -> tuple[np.ndarray, np.ndarray]:
        torch = torch_module()
        assert self.frames is not None
        state = self._state
        num_frames = self.frames.shape[0]
        n_objects = self.num_objects
        config = self.config
        state["all_strokes"][frame].extend(copy.deepcopy(scribble["scribbles"][frame]))
        scribbles_list = state["all_strokes"]  # ATNet sees every scribble so far
        final_masks = state["final_masks"]
        annotated = list(self.annotated_frames)
        annotated_np = np.asarray(annotated)
        n_interaction = len(annotated)
        prob_maps = state["prob_maps"]
        with self.code.active(), numpy_aliases(), torch.no_grad():
            prop_list = self.utils.get_prop_list(
                annotated, frame, num_frames, proportion=config.test_propagation_proportion
            )
            maps = []
            for obj_id in range(1, n_objects + 1):
                if n_interaction == 1:
                    pos = self.utils.scribble_to_image(
                        scribbles_list,
                        frame,
                        obj_id,
                        dilation=config.scribble_dilation_param,
                        prev_mask=final_masks[frame],
                    )
                    maps.append(np.stack([np.ones_like(pos) / 2, pos, np.zeros_like(pos)]))
                else:
                    prev_round = (final_masks[frame] == obj_id).astype(np.float32)
                    pos, neg = self.utils.scribble_to_image(
                        scribbles_list,
                        frame,
                        obj_id,
                        dilation=config.scribble_dilation_param,
                        prev_mask=final_masks[frame],
                        blur=True,
                        singleimg=False,
                        seperate_pos_neg=True,
                    )
                    maps.append(np.stack([prev_round, pos, neg]))
            pm_ps_ns = torch.from_numpy(np.stack(maps).astype(np.float32)).to(self.device)
            pad = state["pad_info"]
            pm_ps_ns = torch.nn.ReflectionPad2d(tuple(pad[1]) + tuple(pad[0]))(pm_ps_ns)

            seen_annotated = 0
            output_prob_anno = output_prob_prop = r2_prev_fromanno = r2_prev = None
            adjacent_to_anno = True
            for operating in prop_list:
                image = state["images"][operating : operating + 1].expand(n_objects, -1, -1, -1)
                if operating == frame:
                    seen_annotated += 1
                    adjacent_to_anno = True
                    if seen_annotated == 2:
                        continue  # the list visits the annotated frame twice (backward, then forward)
                    logits, anno_6ch = self.net.forward_ANet(torch.cat([image, pm_ps_ns], dim=1))
                    output_prob_anno = torch.sigmoid(logits)
                    prob = output_prob_anno[:, 0].detach()
                    anno_3ch, _, _, r2_prev_fromanno = self.net.encoder_3ch.forward(image)
                    state["anno_6ch"].append(anno_6ch)
                    state["anno_3ch"].append(anno_3ch)
                else:
                    if adjacent_to_anno:
                        r2_prev, mask_prev = r2_prev_fromanno, output_prob_anno
                    else:
                        mask_prev = output_prob_prop
                    adjacent_to_anno = False
                    logits, r2_prev = self.net.forward_TNet(
                        state["anno_3ch"], image, state["anno_6ch"], r2_prev, mask_prev
                    )
                    output_prob_prop = torch.sigmoid(logits)
                    prob = output_prob_prop[:, 0].detach()
                    # Near an earlier annotated frame, keep part of the previous round (alpha >= 0.5).
                    side = (
                        annotated_np[annotated_np < frame]
                        if seen_annotated == 1
                        else annotated_np[annotated_np > frame]
                    )
                    if len(side) == 0:
                        alpha = 1.0
                    elif seen_annotated == 1:
                        nearest = side.max()
                        alpha = 0.5 + 0.5 * (operating - nearest) / (frame - nearest)
                    else:
                        nearest = side.min()
                        alpha = 0.5 + 0.5 * (nearest - operating) / (nearest - frame)
                    prob = alpha * prob + (1 - alpha) * prob_maps[operating]
                prob_maps[operating] = prob
            fore, rear = min(prop_list), max(prop_list)
            rows, cols = state["crop"]
            combined = self.utils_torch.combine_masks_with_batch(
                prob_maps[fore : rear + 1], n_obj=n_objects, th=config.test_propth
            )[:, 0, rows, cols]
            final_masks[fore : rear + 1] = combined.cpu().numpy()
        object_probs = prob_maps[:, :, rows, cols].detach().cpu().numpy().astype(np.float32)
        background = np.prod(1.0 - object_probs, axis=1, keepdims=True)
        return final_masks.astype(np.uint8), np.concatenate([background, object_probs], axis=1)
