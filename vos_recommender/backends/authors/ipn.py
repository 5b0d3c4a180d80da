"""The authors' IPN (Oh et al., CVPR 2019) as a backend, following IVOS-W's calls.

IPN (zyy-cn/IPN, the training fork of seoungwugoh/ivs-demo): ``model(load_pretrain=False)``, state dicts
into ``model_I`` / ``model_P``, ``init_variables(frames, masks, device)`` once per video (the object count
is taken from ``masks`` at start), then per round ``variables['scribbles']`` = only the latest round's
scribbles with ``annotated_frame`` set, ``Run(variables)``, and the result in ``variables['masks']`` /
``variables['probs']``. IPN imports ``davisinteractive`` (``pip install davisinteractive``).
"""

from __future__ import annotations

import os
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
from vos_recommender.backends.base import VOSBackend

__all__ = ["IPNBackend"]


class IPNBackend(VOSBackend):
    """The authors' IPN (interaction + propagation networks) from a clone of zyy-cn/IPN.

    Args:
        code_dir: Repository root (holds ``model.py``, ``interaction_net.py``, ``propagation_net.py``).
        weights: Folder with ``I.pth`` and ``P.pth`` (the IVOS-W layout), or ``None`` to pass the two
            files explicitly.
        interaction_weights: Path of the interaction network weights (overrides ``weights``).
        propagation_weights: Path of the propagation network weights (overrides ``weights``).
        device: Torch device string.
    """

    name = "ipn_authors"

    def __init__(
        self,
        code_dir: str | os.PathLike | None = None,
        weights: str | os.PathLike | None = None,
        interaction_weights: str | os.PathLike | None = None,
        propagation_weights: str | os.PathLike | None = None,
        device: str = "cpu",
    ) -> None:
        super().__init__()
        self.code = AuthorsCode(code_dir, "IPN", ["model.py"])
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
        with self.code.active(), torch.no_grad():
            self.model.Run(self._variables)
        masks = self._variables["masks"].detach().cpu().numpy().astype(np.uint8)
        probs = self._variables["probs"][0].detach().cpu().numpy().transpose(1, 0, 2, 3)  # (O+1),T -> T,(O+1)
        return masks, probs
