"""The authors' MANet (Miao et al., CVPR 2020) as a backend, following IVOS-W's calls.

MANet (lightas/CVPR2020_MANet): ``IntVOS(cfg, DeepLab(backbone='resnet', freeze_bn=False))``, per-frame
embeddings from ``extract_feature``, ``int_seghead`` on the latest scribble's frame and ``prop_seghead``
from there to both ends (propagation restarts from the latest scribble).

Limits of the authors' code, checked up front here with a clear error instead of failing mid-video:

* it calls ``.cuda()`` unconditionally (``_selected_pixel``, ``nearest_neighbor_features_per_object``),
  so it needs a CUDA GPU whatever ``device`` says (probed at construction: ``torch.zeros(1).cuda()``);
* its round memory holds 104 frames and 9 rounds (DAVIS's longest video, the benchmark's budget);
  longer videos or a tenth round raise ``ValueError`` before the model runs;
* NumPy's removed aliases (``np.int``, ``np.float``) it uses are defined only while its code runs.

Scribbles are drawn as IVOS-W's ``eval_agent_manet.py`` draws them for MANet: davisinteractive's
``scribbles2mask(scribbles, (emb_h, emb_w))`` of the round's scribbles, the annotated frame's plane,
so ``davisinteractive`` (1.0.4, ``pip install davisinteractive==1.0.4``) must be importable.

Its DeepLab backbone is built with ``pretrained=False``, so nothing is downloaded. The native
re-implementation (``vos_recommender.backends.native.manet``, registered as ``manet``) has none of
these limits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np

from vos_recommender.backends.authors.code import AuthorsCode, load_state_dict, require_file, torch_module
from vos_recommender.backends.base import BackendNotAvailableError, VOSBackend

__all__ = ["MAX_FRAMES", "MAX_ROUNDS", "MANetBackend", "davis_scribbles2mask", "manet_config"]

#: Sizes of the authors' round memory (``repeat(104, ...)``, ``torch.zeros(104, 9)`` in ``IntVOS.py``).
MAX_FRAMES = 104
MAX_ROUNDS = 9
_NUMPY_ALIASES = {"int": int, "float": float, "object": object}  # np.bool is back in NumPy 2


@contextlib.contextmanager
def _numpy_aliases() -> Iterator[None]:
    """Define NumPy's removed scalar aliases while the authors' code runs, and remove them after."""
    added = [name for name in _NUMPY_ALIASES if name not in np.__dict__]
    for name in added:
        setattr(np, name, _NUMPY_ALIASES[name])
    try:
        yield
    finally:
        for name in added:
            delattr(np, name)


def davis_scribbles2mask() -> Callable[..., np.ndarray]:
    """davisinteractive's ``scribbles2mask``, the rasteriser IVOS-W feeds MANet with.

    Raises:
        BackendNotAvailableError: If davisinteractive cannot be imported.
    """
    try:
        with _numpy_aliases():
            from davisinteractive.utils.scribbles import scribbles2mask
    except ImportError as err:
        raise BackendNotAvailableError(
            "MANet: IVOS-W draws MANet's scribbles with davisinteractive's scribbles2mask, which could not "
            f"be imported ({err}); install davisinteractive 1.0.4 (pip install davisinteractive==1.0.4)"
        ) from err
    return scribbles2mask


def _require_cuda_if_called(code_dir: os.PathLike | str, torch: Any) -> None:
    """Fail early when the authors' ``IntVOS.py`` calls ``.cuda()`` and CUDA cannot serve it."""
    source = os.path.join(code_dir, "networks", "IntVOS.py")
    with open(source, encoding="utf-8", errors="replace") as handle:
        if ".cuda()" not in handle.read():
            return
    try:
        torch.zeros(1).cuda()
    except (AssertionError, RuntimeError) as err:
        raise BackendNotAvailableError(
            f"MANet: {source} calls .cuda() unconditionally and CUDA is not available here ({err}); "
            "use the native 'manet' backend on this machine"
        ) from err


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

    name = "manet_authors"

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
        weights_path = require_file(weights, "MANet", "the checkpoint (weights=.../save_step_80000.pth)")
        torch = torch_module()
        _require_cuda_if_called(self.code.code_dir, torch)
        self.scribbles2mask = davis_scribbles2mask()
        self.device = device
        self.input_size = tuple(int(v) for v in input_size)
        deeplab = self.code.import_module("networks.deeplab")
        intvos = self.code.import_module("networks.IntVOS")
        with _numpy_aliases():
            self.transforms = self.code.import_module("dataloaders.custom_transforms_f")
        with self.code.active(), _numpy_aliases(), torch.no_grad():
            self.model = intvos.IntVOS(self.cfg, deeplab.DeepLab(backbone="resnet", freeze_bn=False))
            load_state_dict(self.model, weights_path, "MANet", strict=False, device=device)
            self.model.to(device).eval()
        self._embeddings = None
        self._state: dict[str, Any] = {}

    def _start(self) -> None:
        torch = torch_module()
        assert self.frames is not None
        if len(self.frames) > MAX_FRAMES:
            raise ValueError(
                f"the authors' MANet holds at most {MAX_FRAMES} frames per video, got {len(self.frames)}; "
                "the native 'manet' backend has no such limit"
            )
        embeddings = []
        with self.code.active(), _numpy_aliases(), torch.no_grad():
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
        torch = torch_module()
        functional = torch.nn.functional
        assert self.frames is not None and self._embeddings is not None
        num_frames, height, width = self.frames.shape[:3]
        state = self._state
        if state["n_interaction"] >= MAX_ROUNDS:
            raise ValueError(
                f"the authors' MANet keeps at most {MAX_ROUNDS} rounds per video; round "
                f"{state['n_interaction'] + 1} was asked; the native 'manet' backend has no such limit"
            )
        state["n_interaction"] += 1
        first = state["n_interaction"] == 1
        seq = self.video_id or "video"
        emb_h, emb_w = self._embeddings.shape[-2:]
        with _numpy_aliases():  # scribbles2mask uses np.int / np.float
            label = self.scribbles2mask(scribble, (int(emb_h), int(emb_w)))[frame]
        # MANet's ToTensor: the label plane as float32, with batch and channel axes.
        scribble_label = torch.from_numpy(label.astype(np.float32))[None, None].to(self.device)
        if first:
            scribble_label = _rough_roi(scribble_label)
        prev_label = None if first else state["labels"][frame][None, None]
        ref = self._embeddings[frame][None]
        gt_ids = torch.Tensor([self.num_objects])
        probs: dict[int, Any] = {}
        with self.code.active(), _numpy_aliases(), torch.no_grad():
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
    torch = torch_module()
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
