"""Adapters that run the authors' released IPN, MANet and ATNet models as backends.

None of the three is a package: each is a research repository with weights on a file host. Clone the
repository, download its weights, and point the adapter at both::

    build_backend("ipn", code_dir="VOS/IPN", weights="VOS/IPN/weights")          # I.pth, P.pth
    build_backend("manet", code_dir="VOS/MANet", weights="VOS/MANet/save_step_80000.pth")
    build_backend("atnet", code_dir="VOS/ATNet", weights="VOS/ATNet/ATNet-checkpoint.pth")

The calls follow the released frame-recommendation scripts (svip-lab/IVOS-W, ``eval_agent_*.py`` and
``utils/utils_*.py``), which define one contract for the three models:

* IPN (zyy-cn/IPN, the training fork of seoungwugoh/ivs-demo): ``model(load_pretrain=False)``, state
  dicts into ``model_I`` / ``model_P``, ``init_variables(frames, masks, device)`` once per video (the
  object count is taken from ``masks`` at start), then per round ``variables['scribbles']`` = only the
  latest round's scribbles with ``annotated_frame`` set, ``Run(variables)``, and the result in
  ``variables['masks']`` / ``variables['probs']``.
* MANet (lightas/CVPR2020_MANet): ``IntVOS(cfg, DeepLab(backbone='resnet', freeze_bn=False))``,
  per-frame embeddings from ``extract_feature``, ``int_seghead`` on the latest scribble's frame and
  ``prop_seghead`` from there to both ends (propagation restarts from the latest scribble).
* ATNet (yuk6heo/IVOS-ATNet): ``ATnet()`` + ``Config()``, ``forward_ANet`` on the annotated frame with
  [previous mask, positive, negative] maps built from *all* scribbles so far, ``forward_TNet`` along
  ``libs.utils.get_prop_list``, blended with the previous round near earlier annotated frames.

The authors' modules are imported from ``code_dir`` in isolation: their generic module names
(``config``, ``networks``, ``utils``, ``model``) are removed from ``sys.modules`` after import and put
back only while the adapter calls into them, so two adapters (or this project) never clash.

Requirements of the released code that this project cannot provide: MANet and ATNet call ``.cuda()``
internally (a CUDA GPU is needed); ATNet needs its compiled FlowNet2 correlation package; IPN and
ATNet import ``davisinteractive`` (``pip install davisinteractive``; ATNet's ``scribble_to_image``
also uses ``np.int``, removed in NumPy 2, so it needs NumPy < 2). Missing pieces raise
:class:`~vos_recommender.backends.base.BackendNotAvailableError` naming what is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from vos_recommender.backends.base import BackendNotAvailableError, VOSBackend
from vos_recommender.interaction.scribbles import rasterize_scribble

__all__ = ["ATNetBackend", "AuthorsCode", "IPNBackend", "MANetBackend", "manet_config"]


class AuthorsCode:
    """Imports modules from a research repository without leaving them in ``sys.modules``.

    Args:
        code_dir: Root of the cloned repository.
        label: Name used in error messages (e.g. ``"IPN"``).
        required_files: Files (relative to ``code_dir``) that must exist.
        injected: Modules to provide under fixed names while importing and calling (e.g. a
            ``config`` module built here).

    Raises:
        BackendNotAvailableError: If the folder or a required file is missing.
    """

    def __init__(
        self,
        code_dir: str | os.PathLike | None,
        label: str,
        required_files: list[str],
        injected: dict[str, ModuleType] | None = None,
    ) -> None:
        if code_dir is None:
            raise BackendNotAvailableError(
                f"the {label} backend needs code_dir= pointing at a clone of the authors' {label} repository"
            )
        self.code_dir = Path(code_dir).resolve()
        self.label = label
        if not self.code_dir.is_dir():
            raise BackendNotAvailableError(f"{label} code folder not found: {self.code_dir}")
        for rel in required_files:
            if not (self.code_dir / rel).is_file():
                raise BackendNotAvailableError(f"{label} code folder {self.code_dir} lacks {rel}")
        self.injected = dict(injected or {})
        self.modules: dict[str, ModuleType] = dict(self.injected)

    def _owned(self, module: ModuleType) -> bool:
        # Regular modules have __file__; namespace packages (folders without __init__.py, common in
        # research repositories) only have __path__.
        locations = [getattr(module, "__file__", None)]
        try:
            locations += list(getattr(module, "__path__", None) or [])
        except TypeError:  # some extension modules expose a non-iterable __path__
            pass
        for location in locations:
            if not isinstance(location, str) or not location:
                continue
            try:
                Path(location).resolve().relative_to(self.code_dir)
            except ValueError:
                continue
            return True
        return False

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make the repository importable and its modules visible under their own names."""
        before = dict(sys.modules)
        sys.modules.update(self.modules)
        sys.path.insert(0, str(self.code_dir))
        try:
            yield
        finally:
            sys.path.remove(str(self.code_dir))
            for name, module in list(sys.modules.items()):
                if name in self.injected or self._owned(module):
                    self.modules[name] = module
                    if name in before and before[name] is not module:
                        sys.modules[name] = before[name]
                    elif name not in before or before[name] is module:
                        del sys.modules[name]

    def import_module(self, name: str) -> ModuleType:
        """Import ``name`` from the repository.

        Raises:
            BackendNotAvailableError: If it, or a module it needs, cannot be imported.
        """
        with self.active():
            try:
                return importlib.import_module(name)
            except ModuleNotFoundError as err:
                raise BackendNotAvailableError(
                    f"{self.label}: importing {name!r} from {self.code_dir} failed because module "
                    f"{err.name!r} is missing ({err})"
                ) from err
            except ImportError as err:
                raise BackendNotAvailableError(
                    f"{self.label}: importing {name!r} from {self.code_dir} failed: {err}"
                ) from err


def _torch():
    import torch

    return torch


def _require_file(path: str | os.PathLike | None, label: str, what: str) -> Path:
    if path is None:
        raise BackendNotAvailableError(f"the {label} backend needs {what}")
    path = Path(path)
    if not path.is_file():
        raise BackendNotAvailableError(f"{label} weights not found: {path} ({what})")
    return path


def _load_state_dict(module: Any, path: Path, label: str, strict: bool = True, device: str = "cpu") -> int:
    """Load a state dict saved with or without ``nn.DataParallel``'s ``module.`` prefix.

    Returns:
        The number of tensors loaded.
    """
    torch = _torch()
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        raise BackendNotAvailableError(f"{label}: cannot read weights {path}: {err}") from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    own = module.state_dict()
    own_prefixed = all(k.startswith("module.") for k in own)
    file_prefixed = bool(state) and all(k.startswith("module.") for k in state)
    if file_prefixed and not own_prefixed:
        state = {k[len("module.") :]: v for k, v in state.items()}
    elif own_prefixed and not file_prefixed:
        state = {f"module.{k}": v for k, v in state.items()}
    if not strict:
        # MANet's own loader keeps only the keys the model has (utils_manet.load_network).
        state = {k: v for k, v in state.items() if k in own}
        if not state:
            raise BackendNotAvailableError(f"{label}: no tensor of {path} matches the model")
        merged = dict(own)
        merged.update(state)
        state = merged
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise BackendNotAvailableError(f"{label}: weights {path} do not fit the model: {err}") from err
    return len(state)


def _latest_round(scribble: dict[str, Any], frame: int) -> dict[str, Any]:
    """A copy of the scribble with only the strokes on ``frame`` and ``annotated_frame`` set."""
    out = {k: copy.deepcopy(v) for k, v in scribble.items() if k != "scribbles"}
    out["scribbles"] = [copy.deepcopy(s) if t == frame else [] for t, s in enumerate(scribble["scribbles"])]
    out["annotated_frame"] = int(frame)
    return out


# ---------------------------------------------------------------------------------------------- IPN
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

    name = "ipn"

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
        i_path = _require_file(
            interaction_weights, "IPN", "the interaction network weights (weights=<dir with I.pth>)"
        )
        p_path = _require_file(
            propagation_weights, "IPN", "the propagation network weights (weights=<dir with P.pth>)"
        )
        self.device = device
        module = self.code.import_module("model")
        with self.code.active():
            self.model = module.model(load_pretrain=False)
            _load_state_dict(self.model.model_I, i_path, "IPN", device=device)
            _load_state_dict(self.model.model_P, p_path, "IPN", device=device)
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
        torch = _torch()
        assert self._variables is not None
        self._variables["scribbles"] = _latest_round(scribble, frame)
        with self.code.active(), torch.no_grad():
            self.model.Run(self._variables)
        masks = self._variables["masks"].detach().cpu().numpy().astype(np.uint8)
        probs = self._variables["probs"][0].detach().cpu().numpy().transpose(1, 0, 2, 3)  # (O+1),T -> T,(O+1)
        return masks, probs


# -------------------------------------------------------------------------------------------- MANet
def manet_config(**overrides: Any) -> argparse.Namespace:
    """The MANet settings IVOS-W uses at test time (``utils/config_manet/config.py``), as a namespace.

    MANet's own ``config.py`` parses the command line at import and refuses to load without CUDA,
    so the adapter provides this module-level ``cfg`` instead (injected as module ``config``).

    Args:
        **overrides: Values to change.
    """
    values: dict[str, Any] = dict(
        KNNS=1,
        MODEL_NAME="deeplabv3plus",
        MODEL_BACKBONE="res101_atrous",
        MODEL_OUTPUT_STRIDE=16,
        MODEL_ASPP_OUTDIM=256,
        MODEL_SHORTCUT_DIM=48,
        MODEL_SHORTCUT_KERNEL=1,
        MODEL_NUM_CLASSES=21,
        MODEL_SEMANTIC_EMBEDDING_DIM=100,
        MODEL_HEAD_EMBEDDING_DIM=256,
        MODEL_LOCAL_DOWNSAMPLE=True,
        MODEL_MAX_LOCAL_DISTANCE=12,
        MODEL_SELECT_PERCENT=0.8,
        MODEL_USEIntSeg=False,
        TRAIN_BN_MOM=0.0003,
        TRAIN_TOP_K_PERCENT_PIXELS=0.15,
        TRAIN_HARD_MINING_STEP=50000,
        TEST_MODE=True,
    )
    values.update(overrides)
    return argparse.Namespace(**values)


class MANetBackend(VOSBackend):
    """The authors' MANet (memory aggregation network) from a clone of lightas/CVPR2020_MANet.

    Args:
        code_dir: Repository root (holds ``networks/IntVOS.py``, ``networks/deeplab.py``,
            ``dataloaders/custom_transforms_f.py``).
        weights: The checkpoint (``save_step_80000.pth`` in IVOS-W).
        device: Torch device string (the released networks need ``"cuda"``).
        input_size: ``(height, width)`` frames are resized to before embedding (IVOS-W: 480 x 854).
        config_overrides: Changes to :func:`manet_config`.
    """

    name = "manet"

    def __init__(
        self,
        code_dir: str | os.PathLike | None = None,
        weights: str | os.PathLike | None = None,
        device: str = "cuda",
        input_size: tuple[int, int] = (480, 854),
        config_overrides: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.cfg = manet_config(**(config_overrides or {}))
        config_module = ModuleType("config")
        config_module.cfg = self.cfg  # type: ignore[attr-defined]
        self.code = AuthorsCode(
            code_dir,
            "MANet",
            ["networks/IntVOS.py", "networks/deeplab.py", "dataloaders/custom_transforms_f.py"],
            injected={"config": config_module},
        )
        weights_path = _require_file(weights, "MANet", "the checkpoint (weights=.../save_step_80000.pth)")
        self.device = device
        self.input_size = tuple(int(v) for v in input_size)
        deeplab = self.code.import_module("networks.deeplab")
        intvos = self.code.import_module("networks.IntVOS")
        self.transforms = self.code.import_module("dataloaders.custom_transforms_f")
        torch = _torch()
        with self.code.active(), torch.no_grad():
            self.model = intvos.IntVOS(self.cfg, deeplab.DeepLab(backbone="resnet", freeze_bn=False))
            _load_state_dict(self.model, weights_path, "MANet", strict=False, device=device)
            self.model.to(device).eval()
        self._embeddings = None
        self._state: dict[str, Any] = {}

    def _start(self) -> None:
        torch = _torch()
        assert self.frames is not None
        embeddings = []
        with self.code.active(), torch.no_grad():
            for rgb in self.frames:
                # MANet reads frames with cv2 (BGR, float32 0..255) and applies its Resize and ToTensor.
                sample = {"img1": np.ascontiguousarray(rgb[..., ::-1]).astype(np.float32)}
                sample = self.transforms.Resize(self.input_size)(sample)
                sample = self.transforms.ToTensor()(sample)
                embeddings.append(self.model.extract_feature(sample["img1"].unsqueeze(0).to(self.device)))
        self._embeddings = torch.cat(embeddings, 0)
        num_frames, height, width = self.frames.shape[:3]
        self._state = {
            "global_map": {},
            "local_maps": ({}, {}),
            "labels": torch.zeros(num_frames, height, width, device=self.device),
            "n_interaction": 0,
        }

    def _reset(self) -> None:
        self._embeddings = None
        self._state = {}

    def _interact(self, scribble: dict[str, Any], frame: int) -> tuple[np.ndarray, np.ndarray]:
        torch = _torch()
        functional = torch.nn.functional
        assert self.frames is not None and self._embeddings is not None
        num_frames, height, width = self.frames.shape[:3]
        state = self._state
        state["n_interaction"] += 1
        first = state["n_interaction"] == 1
        seq = self.video_id or "video"
        emb_h, emb_w = self._embeddings.shape[-2:]
        label = rasterize_scribble(scribble, frame, emb_h, emb_w)
        scribble_label = torch.from_numpy(label.astype(np.float32))[None, None].to(self.device)
        if first:
            scribble_label = _rough_roi(scribble_label)
        prev_label = None if first else state["labels"][frame][None, None]
        ref = self._embeddings[frame][None]
        gt_ids = torch.Tensor([self.num_objects])
        probs: dict[int, Any] = {}
        with self.code.active(), torch.no_grad():
            out, state["local_maps"] = self.model.int_seghead(
                ref_frame_embedding=ref,
                ref_scribble_label=scribble_label,
                prev_round_label=prev_label,
                global_map_tmp_dic=state["global_map"],
                local_map_dics=state["local_maps"],
                interaction_num=state["n_interaction"],
                seq_names=[seq],
                gt_ids=gt_ids,
                frame_num=[frame],
                first_inter=first,
            )
            logits = functional.interpolate(
                out[seq], size=(height, width), mode="bilinear", align_corners=True
            )
            probs[frame] = logits
            annotated_label = torch.argmax(logits, dim=1)
            state["labels"][frame] = annotated_label[0]
            for direction in (1, -1):
                prev = annotated_label[None]
                prev_embedding = ref
                t = frame + direction
                while 0 <= t < num_frames:
                    current = self._embeddings[t][None]
                    out, state["global_map"], state["local_maps"] = self.model.prop_seghead(
                        ref,
                        prev_embedding,
                        current,
                        scribble_label,
                        prev,
                        normalize_nearest_neighbor_distances=True,
                        use_local_map=True,
                        seq_names=[seq],
                        gt_ids=gt_ids,
                        k_nearest_neighbors=self.cfg.KNNS,
                        global_map_tmp_dic=state["global_map"],
                        local_map_dics=state["local_maps"],
                        interaction_num=state["n_interaction"],
                        start_annotated_frame=frame,
                        frame_num=[t],
                        dynamic_seghead=self.model.dynamic_seghead,
                    )
                    logits = functional.interpolate(
                        out[seq], size=(height, width), mode="bilinear", align_corners=True
                    )
                    probs[t] = logits
                    label_t = torch.argmax(logits, dim=1)
                    state["labels"][t] = label_t[0]
                    prev = label_t[None]
                    prev_embedding = current
                    t += direction
        all_probs = torch.softmax(torch.cat([probs[t] for t in range(num_frames)], 0), 1)
        all_probs = all_probs.detach().cpu().numpy()
        return np.argmax(all_probs, axis=1).astype(np.uint8), all_probs


def _rough_roi(scribble_label: Any, margin: int = 20) -> Any:
    """Keep first-round scribble labels in a box around the strokes; label the rest background.

    This is IVOS-W's ``rough_ROI`` (applied to MANet's first interaction): without it the first
    round has no background seeds far from the strokes.
    """
    torch = _torch()
    out = torch.zeros_like(scribble_label)
    for i in range(scribble_label.shape[0]):
        labelled = (scribble_label[i, 0] != -1).nonzero()
        if labelled.numel() == 0:
            out[i] = scribble_label[i]
            continue
        (h_min, w_min), (h_max, w_max) = labelled.min(0).values, labelled.max(0).values
        h, w = scribble_label.shape[-2:]
        box = (
            slice(max(int(h_min) - margin, 0), min(int(h_max) + margin, h - 1)),
            slice(max(int(w_min) - margin, 0), min(int(w_max) + margin, w - 1)),
        )
        out[i, 0][box] = scribble_label[i, 0][box]
    return out


# -------------------------------------------------------------------------------------------- ATNet
class ATNetBackend(VOSBackend):
    """The authors' ATNet (annotated-frame and transfer networks) from a clone of yuk6heo/IVOS-ATNet.

    Args:
        code_dir: Repository root (holds ``config.py``, ``networks/atnet.py``, ``libs/utils.py``,
            ``libs/utils_torch.py``).
        weights: The checkpoint; default ``<code_dir>/<Config().test_load_state_dir>``
            (``ATNet-checkpoint.pth``).
        device: Torch device string (the released networks need ``"cuda"``).
    """

    name = "atnet"

    def __init__(
        self,
        code_dir: str | os.PathLike | None = None,
        weights: str | os.PathLike | None = None,
        device: str = "cuda",
    ) -> None:
        super().__init__()
        self.code = AuthorsCode(
            code_dir, "ATNet", ["config.py", "networks/atnet.py", "libs/utils.py", "libs/utils_torch.py"]
        )
        config_module = self.code.import_module("config")
        atnet_module = self.code.import_module("networks.atnet")
        self.utils = self.code.import_module("libs.utils")
        self.utils_torch = self.code.import_module("libs.utils_torch")
        self.config = config_module.Config()
        if weights is None:
            weights = self.code.code_dir / self.config.test_load_state_dir
        weights_path = _require_file(weights, "ATNet", "the checkpoint (weights=.../ATNet-checkpoint.pth)")
        self.device = device
        with self.code.active():
            self.net = atnet_module.ATnet()
            _load_state_dict(self.net, weights_path, "ATNet", device=device)
            self.net.to(device).eval()
        self._state: dict[str, Any] = {}

    def _start(self) -> None:
        torch = _torch()
        assert self.frames is not None
        num_frames, height, width = self.frames.shape[:3]
        with self.code.active():
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
        torch = _torch()
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
        with self.code.active(), torch.no_grad():
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
