"""Scene settings, the drawing helpers shared by both scene kinds, and the ``context`` scene.

A scene is drawn from one ``numpy.random.Generator``; the same generator state always gives the same
scene. Two kinds exist (:attr:`SceneConfig.scene`):

* ``context`` (:func:`generate_scene`): a few objects placed independently, each with a texture from a
  shared pool and a small cue disk whose colour gives its class. Objects of one image usually differ in
  texture, so the texture ties every pixel to its object: pooling over "the pixels that look like me" is
  enough to find the cue.
* ``objects`` (:mod:`.object_scenes`): a cluster of touching objects of different classes that all
  share one texture; only the outline separates them, so the pixel's own object is the pooling region
  that finds the right cue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from .synthetic_classes import CLASSES, CUE_COLOURS

#: Scene kinds; ``context`` is the default and its output must not change for a given seed.
SCENES: tuple[str, ...] = ("context", "objects")


@dataclass
class SceneConfig:
    """Settings of the scene generator. Every random choice is drawn from ``seed``.

    Attributes:
        size: Image height and width in pixels.
        num_objects: Inclusive range of the number of objects per image.
        object_radius: Inclusive range of the mean object radius in pixels.
        cue_radius: Radius of the class cue disk in pixels (the "context needed" knob).
        num_textures: Size of the texture pool shared by all classes (``context`` scenes; an ``objects``
            scene draws one texture for all its objects).
        noise_std: Standard deviation of the Gaussian pixel noise (0-255 scale).
        cue_jitter: Standard deviation of the per-object colour noise added to the cue colour.
        outline: Width of the dark object outline in pixels (0 disables it).
        seed: Seed of the whole dataset.
        scene: Scene kind, one of :data:`SCENES`.
    """

    size: int = 128
    num_objects: tuple[int, int] = (2, 4)
    object_radius: tuple[int, int] = (18, 30)
    cue_radius: int = 3
    num_textures: int = 6
    noise_std: float = 8.0
    cue_jitter: float = 10.0
    outline: int = 1
    seed: int = 0
    scene: str = "context"
    num_classes: int = field(default=len(CLASSES), init=False)

    @classmethod
    def preset(cls, scene: str, **overrides) -> SceneConfig:
        """The default settings of a scene kind, with ``overrides`` applied.

        Raises:
            ValueError: ``scene`` is not one of :data:`SCENES`.
        """
        if scene not in SCENES:
            raise ValueError(f"scene must be one of {', '.join(SCENES)}, got {scene!r}")
        return cls(**{**PRESETS[scene], **overrides})

    def validate(self) -> None:
        """Raise ``ValueError`` naming the setting that is out of range."""
        if self.scene not in SCENES:
            raise ValueError(f"scene must be one of {', '.join(SCENES)}, got {self.scene!r}")
        if self.size < 32:
            raise ValueError(f"size must be >= 32 pixels, got {self.size}")
        lo, hi = self.num_objects
        if not 1 <= lo <= hi:
            raise ValueError(f"num_objects must be a range 1 <= lo <= hi, got {self.num_objects}")
        if self.scene == "objects" and lo < 2:
            raise ValueError(
                f"num_objects must start at 2 or more for objects scenes, got {self.num_objects}"
            )
        rlo, rhi = self.object_radius
        if not 4 <= rlo <= rhi or 2 * rhi >= self.size:
            raise ValueError(
                f"object_radius must satisfy 4 <= lo <= hi < size / 2, got {self.object_radius} "
                f"for size {self.size}"
            )
        if not 1 <= self.cue_radius < rlo:
            raise ValueError(
                f"cue_radius must be >= 1 and smaller than the smallest object radius {rlo}, "
                f"got {self.cue_radius}"
            )
        if self.num_textures < 1:
            raise ValueError(f"num_textures must be >= 1, got {self.num_textures}")
        if self.noise_std < 0 or self.cue_jitter < 0:
            raise ValueError("noise_std and cue_jitter must be >= 0")


#: Defaults of each scene kind (fields not named keep :class:`SceneConfig`'s defaults).
PRESETS: dict[str, dict] = {
    "context": {},
    # 3-5 objects in a cluster on a 128 x 128 image, radius 20-36 px (2.5-4.5 stride-8 cells): objects
    # large against a local window, so that proximity to a cue does not tell the object (measured with
    # mmseg_ranet.datasets.oracles: radius 16-24 let a 40 px window reach 0.73 of the object oracle,
    # 20-36 keeps every window at 0.6 or below).
    "objects": dict(scene="objects", num_objects=(3, 5), object_radius=(20, 36), num_textures=1),
}


@dataclass
class SceneObject:
    """One object of a scene, as drawn."""

    class_id: int
    texture_id: int
    cue_center: tuple[int, int]  # (row, col)
    mean_cue_distance: float  # mean distance in pixels from the object's visible pixels to the cue centre


@dataclass
class Scene:
    """A drawn scene with the maps the generator knows and the image does not say directly.

    Attributes:
        image: uint8 RGB image (H x W x 3).
        label: uint8 class map (H x W), 0 = background.
        object_ids: uint8 map (H x W): 0 = background, ``k`` = pixel of ``objects[k - 1]``.
        objects: The visible objects, in drawing order.
    """

    image: np.ndarray
    label: np.ndarray
    object_ids: np.ndarray
    objects: list[SceneObject]

    def cue_map(self, radius: int) -> np.ndarray:
        """uint8 map (H x W) holding each cue disk's class id (0 elsewhere), for cues of ``radius`` px."""
        yy, xx = np.mgrid[0 : self.label.shape[0], 0 : self.label.shape[1]]
        cue = np.zeros(self.label.shape, np.uint8)
        for obj in self.objects:
            r, c = obj.cue_center
            cue[(yy - r) ** 2 + (xx - c) ** 2 <= radius**2] = obj.class_id
        return cue

    def texture_ids(self) -> np.ndarray:
        """int map (H x W) of the texture each object pixel shows; -1 on the background."""
        lookup = np.array([-1] + [o.texture_id for o in self.objects], np.int64)
        return lookup[self.object_ids]


def draw_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random RGB texture (float32, H x W x 3 in 0..255): stripes, checks, dots or smooth blobs."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    kind = rng.integers(4)
    c1, c2 = rng.uniform(40, 215, size=(2, 3)).astype(np.float32)
    if kind == 0:  # oriented stripes
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(4, 10)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
    elif kind == 1:  # checkerboard
        period = int(rng.integers(3, 8))
        t = ((xx // period + yy // period) % 2).astype(np.float32)
    elif kind == 2:  # dots on a grid
        period = rng.uniform(5, 10)
        t = (np.hypot((xx % period) - period / 2, (yy % period) - period / 2) < period / 4).astype(np.float32)
    else:  # smooth random blobs
        t = ndimage.gaussian_filter(
            rng.standard_normal((size, size)).astype(np.float32), sigma=rng.uniform(2, 4)
        )
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return c1 * t[..., None] + c2 * (1 - t[..., None])


def draw_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """The background: its own low-contrast texture, so that objects stand out by their outline."""
    return 0.35 * draw_texture(rng, size) + 0.65 * 110.0


def polygon_margin(radius: float) -> int:
    """The distance from the image border a polygon centre keeps so the polygon stays inside."""
    return int(np.ceil(radius * 1.3)) + 1


def polygon_mask(rng: np.random.Generator, size: int, centre: tuple[int, int], radius: float) -> np.ndarray:
    """A random star-shaped polygon (bool H x W) around ``centre`` = (x, y), radii 0.7-1.3 x ``radius``."""
    cx, cy = centre
    n = int(rng.integers(6, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, size=n))
    radii = radius * rng.uniform(0.7, 1.3, size=n)
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask.astype(bool)


def _object_mask(rng: np.random.Generator, size: int, radius: float) -> np.ndarray:
    """A random star-shaped polygon (bool H x W) fully inside the image."""
    margin = polygon_margin(radius)
    cx, cy = rng.integers(margin, size - margin, size=2)
    return polygon_mask(rng, size, (cx, cy), radius)


def cue_room(visible: np.ndarray, cfg: SceneConfig) -> np.ndarray:
    """The pixels of ``visible`` where a cue disk fits entirely inside, away from the outline."""
    return ndimage.distance_transform_edt(visible) > cfg.cue_radius + cfg.outline + 1


def paint_object(
    image: np.ndarray,
    visible: np.ndarray,
    texture: np.ndarray,
    cls: int,
    cfg: SceneConfig,
    rng: np.random.Generator,
    room: np.ndarray | None = None,
) -> tuple[int, int, float]:
    """Paint one object's texture, cue and outline into ``image``; return the cue's (row, col) and distance.

    ``visible`` must have room for a cue (:func:`cue_room`). The cue position is drawn uniformly over that
    room, or over ``room`` (a non-empty subset of it) when given; the returned distance is the mean
    distance in pixels from the visible pixels to the cue centre.
    """
    size = image.shape[0]
    yy, xx = np.mgrid[0:size, 0:size]
    image[visible] = texture[visible]
    candidates = np.flatnonzero(cue_room(visible, cfg) if room is None else room)
    cy, cx = np.unravel_index(candidates[rng.integers(len(candidates))], visible.shape)
    colour = np.clip(np.array(CUE_COLOURS[cls], np.float32) + rng.normal(0, cfg.cue_jitter, 3), 0, 255)
    image[(yy - cy) ** 2 + (xx - cx) ** 2 <= cfg.cue_radius**2] = colour
    distance = float(np.hypot(yy[visible] - cy, xx[visible] - cx).mean())
    if cfg.outline > 0:
        eroded = ndimage.binary_erosion(visible, iterations=cfg.outline)
        image[visible & ~eroded] = 20.0
    return int(cy), int(cx), distance


def finish_image(image: np.ndarray, cfg: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    """Add the pixel noise and convert to uint8."""
    image = image + rng.normal(0, cfg.noise_std, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def draw_context_scene(cfg: SceneConfig, rng: np.random.Generator) -> Scene:
    """Draw one ``context`` scene: independently placed objects, textures from the shared pool."""
    size = cfg.size
    textures = [draw_texture(rng, size) for _ in range(cfg.num_textures)]
    image = draw_background(rng, size)
    label = np.zeros((size, size), np.uint8)
    owner = np.full((size, size), -1, np.int32)
    object_ids = np.zeros((size, size), np.uint8)
    objects: list[tuple[int, int]] = []  # (class id, texture id)
    for idx in range(int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))):
        mask = _object_mask(rng, size, rng.uniform(*cfg.object_radius))
        cls = int(rng.integers(1, len(CLASSES)))
        objects.append((cls, int(rng.integers(cfg.num_textures))))
        owner[mask] = idx  # later objects occlude earlier ones
    drawn: list[SceneObject] = []
    for idx, (cls, tex) in enumerate(objects):
        visible = owner == idx
        if not cue_room(visible, cfg).any():
            owner[visible] = -1  # fully occluded or too thin to carry a cue: becomes background
            continue
        label[visible] = cls
        cy, cx, distance = paint_object(image, visible, textures[tex], cls, cfg, rng)
        drawn.append(SceneObject(cls, tex, (cy, cx), distance))
        object_ids[visible] = len(drawn)
    return Scene(finish_image(image, cfg, rng), label, object_ids, drawn)


def generate_scene(
    cfg: SceneConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[SceneObject]]:
    """Draw one ``context`` scene.

    Returns:
        ``(image, label, objects)``: uint8 RGB image (H x W x 3), uint8 label map (H x W) and the visible
        objects with their cue positions.
    """
    scene = draw_context_scene(cfg, rng)
    return scene.image, scene.label, scene.objects
