"""A VOS backend that needs no weights: random-walker segmentation + optical-flow propagation.

Interaction: the scribbles of the annotated frame (all rounds on that frame so far) seed a random
walker (Grady, "Random Walks for Image Segmentation", TPAMI 2006; ``skimage.segmentation.random_walker``)
on the RGB frame, which gives one probability map per class. When the frame already had a result,
that result, eroded and kept away from the new strokes, adds seeds too, so a correction changes the
mask near the strokes and keeps it elsewhere.

A mask given with :meth:`~vos_recommender.backends.base.VOSBackend.set_annotated_mask` (e.g. painted by
hand) becomes the frame's probability maps as it is (one-hot) and is propagated from like the others.

Propagation: the probability maps of the annotated frames are warped frame by frame with dense
optical flow (OpenCV DIS or Farneback), forward from the nearest annotated frame on the left and
backward from the nearest one on the right; the two are blended with weights linear in temporal
distance (the nearer annotated frame counts more), as in the released IPN propagation. Each warp step
accumulates flow error and misses occlusions, so the quality really decays with distance from the
annotated frames, which is what frame recommendation needs to exploit. The flows come from a
:class:`~vos_recommender.backends.flow_store.FlowStore`: each is computed the first time a round needs it
(or ahead of time by :meth:`FlowBackend.precompute`, optionally kept on disk) and reused by every later
round. Each frame's mask is reported (``on_frame``) as soon as the propagation has finished it.

Refinement (``refine``, on by default): each warped frame is refined against its image before it is
warped on (:mod:`vos_recommender.backends.refinement`: a graph cut with colour models of the annotated
frames), so the trails and spills of a wrong flow vector neither show nor travel further; the quality
still decays with distance (motion blur, occlusions, objects changing colour), more slowly. The annotated
frames are not refined: a correction shows in its frame as the random walker segmented it and spreads
from there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from scipy import ndimage
from skimage.color import rgb2lab
from skimage.segmentation import random_walker

from vos_recommender.backends.base import BackendStateError, VOSBackend, probs_to_masks
from vos_recommender.backends.flow_store import FLOW_METHODS, FlowStore, dense_flow
from vos_recommender.backends.refinement import ColourModels, build_refinement
from vos_recommender.interaction.scribbles import rasterize_scribble

__all__ = ["FlowBackend", "warp_probs", "dense_flow"]


def warp_probs(probs: np.ndarray, flow_to_source: np.ndarray) -> np.ndarray:
    """Backward-warp class probabilities into a new frame.

    Args:
        probs: ``C x H x W`` probabilities on the source frame.
        flow_to_source: ``H x W x 2`` flow from the *new* frame to the source frame, so the new pixel
            ``(y, x)`` reads the source at ``(y + dy, x + dx)``.

    Returns:
        ``C x H x W`` warped probabilities, renormalised over classes.
    """
    height, width = probs.shape[1:]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x = grid_x + flow_to_source[..., 0]
    map_y = grid_y + flow_to_source[..., 1]
    warped = np.stack(
        [
            cv2.remap(channel, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            for channel in probs.astype(np.float32)
        ]
    )
    warped = np.clip(warped, 0.0, None)
    return warped / np.maximum(warped.sum(axis=0, keepdims=True), 1e-8)


class FlowBackend(VOSBackend):
    """Scribbles -> random walker on the annotated frame -> optical-flow propagation to the others.

    Args:
        beta: Random-walker edge weight (higher follows colour edges more strictly).
        colour_space: ``"lab"`` (CIE Lab scaled by 1/100, default: closer to perceived colour
            differences, which separates textured objects better on the generated videos) or ``"rgb"``.
        scribble_thickness: Line thickness (pixels) used to rasterise strokes into seeds.
        keep_erosion: Erosion radius (pixels) applied to an annotated frame's previous result before
            its pixels become seeds.
        protect_fraction: Previous-result seeds closer than this fraction of the image diagonal to a
            new stroke of another label are dropped, so the stroke can move the boundary.
        flow_method: ``"dis"`` or ``"farneback"``.
        rw_mode: ``mode`` of ``skimage.segmentation.random_walker``. The default ``"bf"`` (a sparse
            direct solve) takes a steady ~0.1-0.2 s on 120 x 216 frames; the iterative ``"cg_j"``
            converged badly (values far outside [0, 1], tens of seconds) at the strong edge weights
            used here.
        refine: Refinement of every propagated frame against its image before it is warped on:
            ``"grabcut"`` (default), a dict ``{"method": "grabcut", ...settings}``
            (:func:`vos_recommender.backends.refinement.build_refinement`) or None (plain warping, the
            propagation before refinement existed).
    """

    name = "flow"
    #: 1: refinement by default (``refine="grabcut"``); before, plain warping.
    defaults_revision = 1

    def __init__(
        self,
        beta: float = 2000.0,
        colour_space: str = "lab",
        scribble_thickness: int = 3,
        keep_erosion: int = 2,
        protect_fraction: float = 0.03,
        flow_method: str = "dis",
        rw_mode: str = "bf",
        refine: str | dict[str, Any] | None = "grabcut",
    ) -> None:
        super().__init__()
        if flow_method not in FLOW_METHODS:
            raise ValueError(f"unknown optical flow method {flow_method!r}; use 'dis' or 'farneback'")
        if colour_space not in ("lab", "rgb"):
            raise ValueError(f"colour_space must be 'lab' or 'rgb', got {colour_space!r}")
        self.beta = float(beta)
        self.colour_space = colour_space
        self.scribble_thickness = int(scribble_thickness)
        self.keep_erosion = int(keep_erosion)
        self.protect_fraction = float(protect_fraction)
        self.flow_method = flow_method
        self.rw_mode = rw_mode
        self.refinement = build_refinement(refine)
        self._key_probs: dict[int, np.ndarray] = {}
        self._seed_labels: dict[int, np.ndarray] = {}
        self._flows: FlowStore | None = None
        # The label masks of the last round (T x H x W uint8): a corrected frame keeps its eroded regions.
        self._labels: np.ndarray | None = None
        self._round_labels: np.ndarray | None = None

    # ------------------------------------------------------------------ per-video work
    def precompute(
        self, frames: np.ndarray, cache_dir: str | os.PathLike | None = None, frame: int | None = None
    ) -> None:
        """Keep the optical flows of ``frames`` in ``cache_dir`` (see :class:`~vos_recommender.backends.
        flow_store.FlowStore`); with ``frame``, start computing all of them in a background thread, those a
        round on it needs first. A later :meth:`start_video` on the same array uses them.
        """
        store = self._flow_store(np.asarray(frames), cache_dir)
        if frame is not None:
            store.prefetch(FlowStore.propagation_order([frame], frame, store.num_frames, others=True))

    def stop_precompute(self) -> None:
        """Stop computing flows in the background (after the flow under way)."""
        if self._flows is not None:
            self._flows.stop(wait=True)

    def _flow_store(self, frames: np.ndarray, cache_dir: str | os.PathLike | None = None) -> FlowStore:
        """The flow store of ``frames``: the current one when it belongs to this array, else a new one."""
        store = self._flows
        if store is None or store.frames is not frames or store.method != self.flow_method:
            if store is not None:
                store.stop(wait=False)
            store = self._flows = FlowStore(frames, self.flow_method, cache_dir)
        return store

    # ------------------------------------------------------------------ hooks
    def _start(self) -> None:
        assert self.frames is not None
        self._flow_store(self.frames)
        self._key_probs = {}
        self._seed_labels = {}
        self._labels = None

    def _reset(self) -> None:
        self._key_probs = {}
        self._seed_labels = {}
        if self._flows is not None:
            self._flows.stop(wait=False)
        self._flows = None
        self._labels = None

    def _round_state(self) -> Any:
        # Rounds replace entries and arrays, never write into them: copies of the containers suffice
        # (the flows depend on the frames only).
        return dict(self._key_probs), dict(self._seed_labels), self._labels

    def _restore_round_state(self, state: Any) -> None:
        key_probs, seed_labels, self._labels = state
        self._key_probs, self._seed_labels = dict(key_probs), dict(seed_labels)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"key_{t}": probs for t, probs in self._key_probs.items()}
        arrays.update({f"seeds_{t}": seeds for t, seeds in self._seed_labels.items()})
        if self._labels is not None:
            arrays["labels"] = self._labels
        return arrays

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        assert self.frames is not None
        num_frames, height, width = self.frames.shape[:3]
        key_probs, seed_labels, labels = {}, {}, None
        for name, array in arrays.items():
            kind, _, index = name.partition("_")
            want = {
                "key": ((self.num_objects + 1, height, width), np.float32),
                "seeds": ((height, width), np.int32),
                "labels": ((num_frames, height, width), np.uint8),
            }.get(kind)
            if want is None or array.shape != want[0] or array.dtype != want[1]:
                raise BackendStateError(
                    f"flow backend state: array {name!r} is {array.dtype} {array.shape}, not what a video of "
                    f"{num_frames} x {height} x {width} with {self.num_objects} objects holds"
                )
            if kind == "labels":
                labels = array
            elif not index.isdigit() or int(index) >= num_frames:
                raise BackendStateError(f"flow backend state: array {name!r} names no frame of the video")
            else:
                (key_probs if kind == "key" else seed_labels)[int(index)] = array
        self._key_probs, self._seed_labels, self._labels = key_probs, seed_labels, labels

    def _interact(self, scribble: dict[str, Any], frame: int) -> tuple[np.ndarray, np.ndarray]:
        return self._annotate(frame, lambda: self._segment_frame(scribble, frame))

    def _set_annotated_mask(self, frame: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The mask is the frame's annotation as it stands: a one-hot key frame; the strokes of earlier
        # rounds on it are dropped (a later round's strokes seed from this mask, as from any result).
        classes = np.arange(self.num_objects + 1, dtype=np.uint8)[:, None, None]
        self._seed_labels.pop(frame, None)
        return self._annotate(frame, lambda: (mask[None] == classes).astype(np.float32))

    def _annotate(self, frame: int, key_probs: Callable[[], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """One round: ``frame``'s new key probabilities (``key_probs()``), then the propagation from them."""
        assert self.frames is not None and self._flows is not None
        # The flows this round's propagation needs are computed meanwhile, nearest the frame first.
        annotated = [*self._key_probs, frame]
        self._flows.prefetch(FlowStore.propagation_order(annotated, frame, self.frames.shape[0]))
        self._key_probs[frame] = key_probs()
        self._round_labels = np.empty(self.frames.shape[:3], dtype=np.uint8)
        probs = self._propagate()
        self._labels, self._round_labels = self._round_labels, None
        return self._labels.copy(), probs  # the caller may edit its masks; the next round reads these

    def _finish_frame(self, t: int, probs: np.ndarray) -> None:
        """Frame ``t``'s probabilities of this round are final: its mask, reported at once."""
        assert self._round_labels is not None
        self._round_labels[t] = probs_to_masks(probs[None])[0]
        self._frame_done(t, self._round_labels[t])

    # ------------------------------------------------------------------ interaction
    def _segment_frame(self, scribble: dict[str, Any], frame: int) -> np.ndarray:
        assert self.frames is not None
        image = self.frames[frame]
        height, width = image.shape[:2]
        num_classes = self.num_objects + 1
        # Seeds on the pixels the strokes were drawn on (the inverse of x = column / W), not
        # davisinteractive's rule, which moves them one pixel up and left (outside thin objects).
        strokes = rasterize_scribble(
            scribble, frame, height, width, thickness=self.scribble_thickness, pixel_rule="inverse"
        )
        strokes[strokes > self.num_objects] = -1  # ids beyond the video's objects are ignored
        # Strokes of earlier rounds on this frame stay; new ones overwrite where they cross.
        accumulated = self._seed_labels.get(frame, np.full((height, width), -1, dtype=np.int32)).copy()
        accumulated[strokes >= 0] = strokes[strokes >= 0]
        self._seed_labels[frame] = accumulated

        seeds = np.zeros((height, width), dtype=np.int32)  # random_walker: 0 = unlabelled
        if self._labels is not None:
            seeds = self._seeds_from_previous(self._labels[frame], strokes)
        seeds[accumulated >= 0] = accumulated[accumulated >= 0] + 1

        present = np.unique(seeds[seeds > 0])
        if 1 not in present:
            # Without any background seed the walker would label the whole frame as an object:
            # seed the image border where no object stroke is near.
            seeds = self._add_border_background(seeds, accumulated)
            present = np.unique(seeds[seeds > 0])
        probs = np.zeros((num_classes, height, width), dtype=np.float32)
        if len(present) == 1:
            probs[present[0] - 1] = 1.0
            return probs
        features = image.astype(np.float32) / 255.0
        if self.colour_space == "lab":
            features = (rgb2lab(features) / 100.0).astype(np.float32)
        full = random_walker(
            features,
            seeds,
            beta=self.beta,
            mode=self.rw_mode,
            channel_axis=-1,
            return_full_prob=True,
        )
        for index, label in enumerate(present):
            probs[label - 1] = np.clip(np.nan_to_num(full[index], nan=0.0), 0.0, 1.0)
        return probs / np.maximum(probs.sum(axis=0, keepdims=True), 1e-8)

    def _protect_radius(self, height: int, width: int) -> float:
        return self.protect_fraction * float(np.hypot(height, width))

    def _seeds_from_previous(self, labels: np.ndarray, strokes: np.ndarray) -> np.ndarray:
        height, width = strokes.shape
        seeds = np.zeros((height, width), dtype=np.int32)
        structure = ndimage.generate_binary_structure(2, 1)
        for cls in range(self.num_objects + 1):
            region = labels == cls
            if self.keep_erosion > 0:
                region = ndimage.binary_erosion(region, structure, iterations=self.keep_erosion)
            seeds[region] = cls + 1
        if (strokes >= 0).any():
            # A previous-result seed near a new stroke of another label is what the user corrected.
            distance, (rows, cols) = ndimage.distance_transform_edt(strokes < 0, return_indices=True)
            nearest_label = strokes[rows, cols] + 1
            conflict = (distance < self._protect_radius(height, width)) & (seeds != nearest_label)
            seeds[conflict] = 0
        return seeds

    def _add_border_background(self, seeds: np.ndarray, strokes: np.ndarray) -> np.ndarray:
        height, width = seeds.shape
        border = np.zeros((height, width), dtype=bool)
        border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
        object_strokes = strokes > 0
        if object_strokes.any():
            far = ndimage.distance_transform_edt(~object_strokes) >= self._protect_radius(height, width)
            border &= far
        seeds = seeds.copy()
        seeds[border & (seeds == 0)] = 1
        return seeds

    # ------------------------------------------------------------------ propagation
    def _propagate(self) -> np.ndarray:
        """Warp the annotated frames' probabilities forward and backward and blend them.

        Every frame is finished (:meth:`_finish_frame`) as soon as the warps it needs are done: the
        annotated frames at once, the frames after the last one during the forward pass, the others during
        the backward pass.
        """
        assert self.frames is not None and self._flows is not None
        num_frames = self.frames.shape[0]
        keys = sorted(self._key_probs)
        step = self._warp_step()
        out = np.empty((num_frames,) + self._key_probs[keys[0]].shape, dtype=np.float32)
        for t in keys:
            out[t] = self._key_probs[t]
            self._finish_frame(t, out[t])
        forward: list[np.ndarray | None] = [None] * num_frames
        backward: list[np.ndarray | None] = [None] * num_frames
        for t in range(num_frames):
            if t in self._key_probs:
                forward[t] = self._key_probs[t]
            elif forward[t - 1] is not None if t > 0 else False:
                forward[t] = step(forward[t - 1], self._flows.from_prev(t), t)
                if t > keys[-1]:  # no annotated frame on the right: only the forward warp counts
                    out[t] = forward[t]
                    self._finish_frame(t, out[t])
        for t in reversed(range(num_frames)):
            if t in self._key_probs:
                backward[t] = self._key_probs[t]
            elif backward[t + 1] is not None if t < num_frames - 1 else False:
                backward[t] = step(backward[t + 1], self._flows.from_next(t), t)
                left = max((k for k in keys if k <= t), default=None)
                right = min(k for k in keys if k >= t)
                if left is not None:  # between two annotated frames: the nearer one counts more
                    w_left = (right - t) / (right - left)
                    out[t] = w_left * forward[t] + (1.0 - w_left) * backward[t]
                else:
                    out[t] = backward[t]
                self._finish_frame(t, out[t])
        return out

    def _colour_models(self) -> ColourModels:
        """The refinement's colour models of the annotated frames' current segmentations."""
        assert self.frames is not None and self.refinement is not None
        keys = sorted(self._key_probs)
        return self.refinement.fit(
            [self.frames[k] for k in keys],
            [probs_to_masks(self._key_probs[k][None])[0] for k in keys],
            self.num_objects,
        )

    def _warp_step(self) -> Callable[[np.ndarray, np.ndarray, int], np.ndarray]:
        """``step(probs, flow, t)``: the probabilities warped into frame ``t``, refined when set."""
        assert self.frames is not None
        frames, refinement = self.frames, self.refinement
        if refinement is None:
            return lambda probs, flow, t: warp_probs(probs, flow)
        models = self._colour_models()
        return lambda probs, flow, t: refinement.refine(frames[t], warp_probs(probs, flow), models)
