"""The ``objects`` scene: touching objects of different classes that only their outlines tell apart.

Every object of a scene shows the *same* texture (one texture drawn per scene, continuous across the
objects), so appearance says nothing about which object a pixel belongs to, let alone its class. The
objects form a cluster: each new object is placed overlapping or touching one already placed, and later
objects occlude earlier ones. Classes are a random permutation of the object classes, so the first four
objects of a scene all differ. Each object carries one cue disk of its class colour; the dark outline
(drawn around every object's visible part, so also between two touching objects) is the only thing that
separates one object's pixels from its neighbour's.

What each kind of pooling can do is measured by :mod:`.oracles`: the cue pooled over the pixel's own
object gives the class exactly; pooled over the image, over all pixels of the same texture (the region a
class-level head can form before it knows the class), over the touching cluster or over a fixed window
it does not.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .scenes import (
    Scene,
    SceneConfig,
    SceneObject,
    cue_room,
    draw_background,
    draw_texture,
    finish_image,
    paint_object,
    polygon_margin,
    polygon_mask,
)
from .synthetic_classes import CLASSES

#: Placement attempts per object before the scene stops growing.
ATTEMPTS = 30
#: An earlier object stays if at least this share of its own polygon remains visible.
MIN_VISIBLE = 0.4
#: Centre distance between a new object and the one it leans on, as a multiple of their radii sum:
#: below 1 the two always overlap, so the cluster is connected.
OVERLAP = (0.55, 0.9)
#: The cue goes in the outer tenth (by distance from the object's centre) of the room it has. With the
#: cue anywhere in the room a pixel's nearest cue is mostly its own (nearest-cue oracle 0.81, 40 px
#: window 0.72 on the objects preset), so proximity would stand in for the outline; at the rim much of
#: an object lies nearer a neighbour's cue (0.68 and 0.58).
CUE_RIM = 0.9


def _usable(visible: np.ndarray, area: int, cfg: SceneConfig) -> bool:
    """A visible part that is one piece, mostly unoccluded and with room for a cue."""
    if visible.sum() < MIN_VISIBLE * area:
        return False
    _, pieces = ndimage.label(visible)
    return pieces == 1 and bool(cue_room(visible, cfg).any())


def _centre_near(
    rng: np.random.Generator, size: int, anchor: tuple[float, float, float], radius: float
) -> tuple[int, int]:
    """A centre (x, y) whose polygon overlaps the anchor object ``(x, y, radius)``, kept inside the image."""
    ax, ay, ar = anchor
    angle = rng.uniform(0, 2 * np.pi)
    distance = (ar + radius) * rng.uniform(*OVERLAP)
    margin = polygon_margin(radius)
    x = int(np.clip(round(ax + distance * np.cos(angle)), margin, size - 1 - margin))
    y = int(np.clip(round(ay + distance * np.sin(angle)), margin, size - 1 - margin))
    return x, y


def _cue_place(visible: np.ndarray, cfg: SceneConfig) -> np.ndarray:
    """Where the cue may go: the part of the cue room farthest from the object's centre (``CUE_RIM``)."""
    room = cue_room(visible, cfg)
    cy, cx = ndimage.center_of_mass(visible)
    yy, xx = np.mgrid[0 : visible.shape[0], 0 : visible.shape[1]]
    distance = np.hypot(yy - cy, xx - cx)
    return room & (distance >= np.quantile(distance[room], CUE_RIM))


def draw_object_scene(cfg: SceneConfig, rng: np.random.Generator) -> Scene:
    """Draw one ``objects`` scene (see the module docstring).

    The scene grows object by object; a placement that would leave the cluster, split an earlier object
    in two, hide more than ``1 - MIN_VISIBLE`` of it or leave it no room for its cue is redrawn, up to
    ``ATTEMPTS`` times, after which the scene keeps the objects it has.
    """
    size = cfg.size
    texture = draw_texture(rng, size)
    image = draw_background(rng, size)
    classes = rng.permutation(np.arange(1, len(CLASSES)))
    target = int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))
    owner = np.full((size, size), -1, np.int32)
    placed: list[tuple[float, float, float]] = []  # (x, y, radius)
    areas: list[int] = []
    while len(placed) < target:
        for _ in range(ATTEMPTS):
            radius = rng.uniform(*cfg.object_radius)
            if placed:
                centre = _centre_near(rng, size, placed[int(rng.integers(len(placed)))], radius)
            else:
                margin = polygon_margin(radius)
                centre = tuple(int(v) for v in rng.integers(margin, size - margin, size=2))
            mask = polygon_mask(rng, size, centre, radius)
            trial = owner.copy()
            trial[mask] = len(placed)  # the new object occludes the earlier ones
            sizes = areas + [int(mask.sum())]
            # Clipping the centre into the image can pull a new object off the cluster: it must join it.
            joined = ndimage.label(trial >= 0)[1] == 1
            if joined and all(_usable(trial == k, sizes[k], cfg) for k in range(len(sizes))):
                owner, areas = trial, sizes
                placed.append((centre[0], centre[1], radius))
                break
        else:
            break  # no room left for another object
    label = np.zeros((size, size), np.uint8)
    object_ids = np.zeros((size, size), np.uint8)
    drawn: list[SceneObject] = []
    for idx in range(len(placed)):
        visible = owner == idx
        cls = int(classes[idx % len(classes)])
        label[visible] = cls
        cy, cx, distance = paint_object(image, visible, texture, cls, cfg, rng, _cue_place(visible, cfg))
        drawn.append(SceneObject(cls, 0, (cy, cx), distance))
        object_ids[visible] = idx + 1
    return Scene(finish_image(image, cfg, rng), label, object_ids, drawn)
