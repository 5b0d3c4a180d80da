"""Refinement of propagated masks against the image: trails and spills of a warped mask do not survive.

Warping a mask with optical flow drags pixels along where the flow is wrong: thin trails behind a moving
object and spills onto the background that it passed. Neither matches the object's colour. The refinement
re-decides every pixel near a propagated object with a graph cut whose colour models were fitted on the
annotated frames (Rother, Kolmogorov and Blake, "GrabCut: Interactive Foreground Extraction using
Iterated Graph Cuts", SIGGRAPH 2004; ``cv2.grabCut`` with the models frozen).

Per object ``k`` of a propagated frame, in the bounding box of its dilated mask:

* colour models: two Gaussian mixtures in CIE Lab (OpenCV's 5 components each), object ``k`` against
  everything else (background and the other objects), fitted on the annotated frames' masks (their
  interiors, and the rest away from them);
* the warped mask is probable foreground, the band around it (the dilation) probable background, pixels
  farther out definite background, and with ``sure_fraction`` the mask's deep interior definite foreground;
* one graph cut (colour likelihood + contrast-sensitive smoothness) decides; a large box is cut at a
  bounded resolution (``max_pixels``);
* guards: an object smaller than ``min_pixels`` keeps its warped mask, and so does one the cut would
  shrink below ``min_kept`` of it (weak colour evidence must not delete an object from every later frame).

Objects are refined one by one; a pixel claimed by several objects goes to the one of highest warped
probability, a pixel claimed by none to the background. The refined probabilities put weight
``onehot_weight`` (> 0.5) on the refined label and the rest on the warped probabilities, so the arg-max is
the refined label and the confidence still shows where the refinement disagreed with the warp.

A refinement is chosen by a setting: ``None`` (none), ``"grabcut"`` (the defaults) or a dict
``{"method": "grabcut", "band_fraction": 0.03, ...}`` (see :func:`build_refinement`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from vos_recommender.backends.base import probs_to_masks

__all__ = ["REFINEMENTS", "ColourModels", "GrabCutRefinement", "build_refinement"]

#: Pixels per class sampled (evenly, deterministically) from the annotated frames to fit a colour model.
MAX_SAMPLES = 20_000


@dataclasses.dataclass(frozen=True)
class ColourModels:
    """Per object, OpenCV's background and foreground Gaussian mixtures (``1 x 65`` float64 each), or None
    where the annotated frames hold too few pixels of the object or of the rest to fit them."""

    models: tuple[tuple[np.ndarray, np.ndarray] | None, ...]

    @property
    def num_objects(self) -> int:
        """Objects ``O`` the models were fitted for."""
        return len(self.models)


@dataclasses.dataclass(frozen=True)
class GrabCutRefinement:
    """Graph-cut refinement of propagated masks with colour models of the annotated frames.

    Args:
        band_fraction: Radius of the band around a warped mask where pixels may turn into the object, as a
            fraction of the image diagonal (0.02 is about 20 pixels at 854 x 480).
        sure_fraction: Erosion radius (fraction of the diagonal) of the warped mask's interior that stays
            the object whatever its colour; 0 lets colour decide everywhere, which removes spills of any
            thickness.
        onehot_weight: Weight of the refined label in the refined probabilities (in (0.5, 1]).
        min_pixels: Fewest pixels of an object (and of the rest) in the annotated frames for its colour
            models, and of its warped mask in a frame for a cut; an object with fewer keeps its warped
            mask. Below a few hundred pixels (objects of the 48 x 80 to 64 x 112 videos of training and
            tests) the colour models are too uncertain and the cut's boundary cost dominates, so a
            correction could end up worse than plain warping.
        max_pixels: Largest box (pixels) cut at full resolution; a larger one is cut downscaled to this
            size, which bounds the cost per object at 854 x 480 and above.
        fit_margin_fraction: Pixels of the annotated frames closer than this fraction of the diagonal to a
            mask's boundary do not enter the colour models (at least 1 pixel).
        min_kept: When the cut keeps less than this fraction of the warped mask, the warped mask stays:
            colour evidence too weak to tell the object from its surroundings (a small or dark object, a
            colour the annotated frames did not show) must not delete it, since a deleted object is lost
            for every later frame of the propagation.
    """

    band_fraction: float = 0.02
    sure_fraction: float = 0.0
    onehot_weight: float = 0.6
    min_pixels: int = 500
    max_pixels: int = 30_000
    min_kept: float = 0.2
    fit_margin_fraction: float = 0.005

    def __post_init__(self) -> None:
        for name in ("band_fraction", "sure_fraction", "fit_margin_fraction"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 0.5:
                raise ValueError(f"refine.{name} must be a number in [0, 0.5), got {value!r}")
        if not isinstance(self.onehot_weight, (int, float)) or not 0.5 < self.onehot_weight <= 1.0:
            raise ValueError(f"refine.onehot_weight must be in (0.5, 1], got {self.onehot_weight!r}")
        if not isinstance(self.min_pixels, int) or isinstance(self.min_pixels, bool) or self.min_pixels < 1:
            raise ValueError(f"refine.min_pixels must be an integer >= 1, got {self.min_pixels!r}")
        if not isinstance(self.min_kept, (int, float)) or not 0.0 <= self.min_kept <= 1.0:
            raise ValueError(f"refine.min_kept must be in [0, 1], got {self.min_kept!r}")
        if not isinstance(self.max_pixels, int) or isinstance(self.max_pixels, bool) or self.max_pixels < 64:
            raise ValueError(f"refine.max_pixels must be an integer >= 64, got {self.max_pixels!r}")

    # ------------------------------------------------------------------ colour models
    def fit(
        self, images: Sequence[np.ndarray], labels: Sequence[np.ndarray], num_objects: int
    ) -> ColourModels:
        """Colour models of every object against the rest, from annotated frames and their label maps.

        Args:
            images: ``H x W x 3`` uint8 RGB annotated frames.
            labels: ``H x W`` label maps of those frames (0 = background, ``1..O`` objects).
            num_objects: Objects ``O``.

        Raises:
            ValueError: If images and labels differ in number or size.
        """
        if len(images) != len(labels):
            raise ValueError(f"refinement needs one label map per image, got {len(images)} and {len(labels)}")
        for image, label in zip(images, labels):
            if image.shape[:2] != label.shape:
                raise ValueError(f"label map {label.shape} does not fit image {image.shape[:2]}")
        models: list[tuple[np.ndarray, np.ndarray] | None] = []
        for obj in range(1, num_objects + 1):
            inside, outside = [], []
            for image, label in zip(images, labels):
                # Pixels near a mask's boundary are where the annotated frame's segmentation is least
                # sure: the models learn from the object's interior and from the rest away from it.
                margin = _disk(max(1, round(self.fit_margin_fraction * float(np.hypot(*label.shape)))))
                mask = (label == obj).astype(np.uint8)
                lab = _lab(image)
                inside.append(lab[cv2.erode(mask, margin, borderType=cv2.BORDER_REPLICATE) > 0])
                outside.append(lab[cv2.dilate(mask, margin) == 0])
            fg, bg = np.concatenate(inside), np.concatenate(outside)
            if len(fg) < self.min_pixels or len(bg) < self.min_pixels:
                models.append(None)
                continue
            models.append(_fit_pair(_even_sample(bg), _even_sample(fg)))
        return ColourModels(tuple(models))

    # ------------------------------------------------------------------ refinement
    def refine(self, image: np.ndarray, probs: np.ndarray, models: ColourModels) -> np.ndarray:
        """Refine one frame's propagated probabilities against the image.

        Args:
            image: ``H x W x 3`` uint8 RGB frame.
            probs: ``(O+1) x H x W`` probabilities (channel 0 the background).
            models: Colour models of the ``O`` objects (:meth:`fit`).

        Returns:
            ``(O+1) x H x W`` float32 refined probabilities, whose arg-max is the refined label map.

        Raises:
            ValueError: If the shapes or the object count do not fit.
        """
        num_classes, height, width = probs.shape
        if image.shape[:2] != (height, width):
            raise ValueError(f"probabilities {probs.shape[1:]} do not fit image {image.shape[:2]}")
        if num_classes != models.num_objects + 1:
            raise ValueError(
                f"probabilities have {num_classes - 1} objects, the colour models {models.num_objects}"
            )
        labels = probs_to_masks(probs[None])[0]

        diagonal = float(np.hypot(height, width))
        band = max(1, round(self.band_fraction * diagonal))
        sure = round(self.sure_fraction * diagonal)
        refined = np.zeros((height, width), dtype=np.uint8)
        # Where several objects claim a pixel, the one of highest warped probability wins.
        best = np.full((height, width), -1.0, dtype=np.float32)
        for obj in range(1, num_classes):
            mask = labels == obj
            if not mask.any():
                continue
            pair = models.models[obj - 1]
            if pair is None or np.count_nonzero(mask) < self.min_pixels:
                box, claim = (slice(None), slice(None)), mask
            else:
                box, claim = _cut_object(image, mask, pair, band, sure, self.max_pixels, self.min_kept)
            take = claim & (probs[obj][box] > best[box])
            refined[box][take] = obj
            best[box][take] = probs[obj][box][take]
        out = (1.0 - self.onehot_weight) * probs.astype(np.float32)
        for cls in range(num_classes):
            out[cls][refined == cls] += self.onehot_weight
        return out


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2Lab)


def _even_sample(pixels: np.ndarray) -> np.ndarray:
    """At most :data:`MAX_SAMPLES` pixels, evenly spaced (deterministic)."""
    if len(pixels) <= MAX_SAMPLES:
        return pixels
    return pixels[np.linspace(0, len(pixels) - 1, MAX_SAMPLES).astype(np.int64)]


def _fit_pair(background: np.ndarray, foreground: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's GrabCut mixtures fitted on two pixel sets (k-means initialisation, as ``GC_INIT_WITH_MASK``)."""
    strip = np.concatenate([background, foreground]).astype(np.uint8)[None]
    mask = np.full(strip.shape[:2], cv2.GC_BGD, dtype=np.uint8)
    mask[0, len(background) :] = cv2.GC_FGD
    bgd_model = np.zeros((1, 65), dtype=np.float64)
    fgd_model = np.zeros((1, 65), dtype=np.float64)
    # The k-means inside draws from OpenCV's global generator: seed it so a fit is a function of its input.
    cv2.setRNGSeed(0)
    cv2.grabCut(strip, mask, None, bgd_model, fgd_model, 0, cv2.GC_INIT_WITH_MASK)
    return bgd_model, fgd_model


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _cut_object(
    image: np.ndarray,
    mask: np.ndarray,
    pair: tuple[np.ndarray, np.ndarray],
    band: int,
    sure: int,
    max_pixels: int,
    min_kept: float,
) -> tuple[tuple[slice, slice], np.ndarray]:
    """The box around the object's dilated mask and the object's pixels in it after one frozen-model
    graph cut."""
    height, width = mask.shape
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    y0, y1 = max(0, rows[0] - band), min(height, rows[-1] + band + 1)
    x0, x1 = max(0, cols[0] - band), min(width, cols[-1] + band + 1)
    inner = mask[y0:y1, x0:x1].astype(np.uint8)
    crop = _lab(image[y0:y1, x0:x1])
    scale = min(1.0, float(np.sqrt(max_pixels / inner.size)))
    if scale < 1.0:
        # A large object is cut at a lower resolution: the cost stays bounded, the boundary moves by about
        # 1 / scale pixels.
        size = (max(1, round(inner.shape[1] * scale)), max(1, round(inner.shape[0] * scale)))
        inner = cv2.resize(inner, size, interpolation=cv2.INTER_NEAREST)
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        band, sure = max(1, round(band * scale)), round(sure * scale)
    outer = cv2.dilate(inner, _disk(band), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    trimap = np.where(outer > 0, cv2.GC_PR_BGD, cv2.GC_BGD).astype(np.uint8)
    trimap[inner > 0] = cv2.GC_PR_FGD
    if sure > 0:
        core = cv2.erode(inner, _disk(sure), borderType=cv2.BORDER_REPLICATE)
        trimap[core > 0] = cv2.GC_FGD
    bgd_model, fgd_model = pair[0].copy(), pair[1].copy()
    cv2.grabCut(np.ascontiguousarray(crop), trimap, None, bgd_model, fgd_model, 1, cv2.GC_EVAL_FREEZE_MODEL)
    cut = ((trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD)).astype(np.float32)
    box = (slice(y0, y1), slice(x0, x1))
    if cut[inner > 0].sum() < min_kept * np.count_nonzero(inner):
        return box, mask[box]
    if scale < 1.0:
        cut = cv2.resize(cut, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return box, cut > 0.5


#: Refinement methods by name.
REFINEMENTS: dict[str, type[GrabCutRefinement]] = {"grabcut": GrabCutRefinement}


def build_refinement(spec: str | Mapping[str, Any] | None) -> GrabCutRefinement | None:
    """The refinement a setting names.

    Args:
        spec: ``None`` (no refinement), a method name (``"grabcut"``) or a dict with ``"method"`` and the
            method's settings, e.g. ``{"method": "grabcut", "band_fraction": 0.03}``.

    Raises:
        ValueError: If the method is unknown, a setting is unknown or a value is out of range.
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = {"method": spec}
    if not isinstance(spec, Mapping):
        raise ValueError(
            f"refine must be None, a method name ({', '.join(REFINEMENTS)}) or a dict with 'method', "
            f"got {type(spec).__name__} {spec!r}"
        )
    settings = dict(spec)
    method = settings.pop("method", None)
    if method not in REFINEMENTS:
        raise ValueError(f"refine: unknown method {method!r}; known: {', '.join(REFINEMENTS)} (or None)")
    cls = REFINEMENTS[method]
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"refine: unknown {method} setting(s) {unknown}; known: {sorted(known)}")
    return cls(**settings)
