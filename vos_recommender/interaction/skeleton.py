"""Turning a binary region into stroke paths: smoothing, medial axis, skeleton graph, longest paths.

These are the geometric steps of the DAVIS interactive robot (Caelles et al., "The 2018 DAVIS
Challenge on Video Object Segmentation", arXiv:1803.00557), shared by the simulated user and by the
first-round scribbles of the generated data set.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import networkx as nx
import numpy as np
from scipy.ndimage import gaussian_filter1d
from skimage.filters import rank
from skimage.morphology import disk

from vos_recommender.interaction.medial_axis import medial_axis

__all__ = [
    "OPENING_RULES",
    "centred_disk",
    "longest_paths",
    "open_region",
    "shrink_until",
    "skeleton_graph",
    "smooth_path",
]

#: How the robot opens an error region: ``"davis"`` (default) as davisinteractive 1.0.4's robot, with
#: ``skimage.morphology.disk`` of the fractional radius (an even-sized, off-centre footprint) and
#: scikit-image's rank minimum and maximum filters; ``"centred"`` with :func:`centred_disk`, an odd-sized
#: disk centred on its pixel, so that an opening never moves a region.
OPENING_RULES = ("davis", "centred")


def centred_disk(radius: float) -> np.ndarray:
    """Disk structuring element for a real-valued radius, always of odd size and centred.

    ``skimage.morphology.disk`` is the tool for integer radii, but with a fractional radius it builds
    an even-sized grid of half-integer offsets whose centre is off by half a pixel, which shifts the
    opened region. The DAVIS robot passes its fractional radii to ``disk`` as they are (the default
    ``"davis"`` opening rule); the ``"centred"`` rule builds the disk on a centred integer grid instead
    (every pixel within ``radius`` of the centre), so an opening never moves a region.

    Raises:
        ValueError: If ``radius`` is negative or not finite.
    """
    if not math.isfinite(radius) or radius < 0:
        raise ValueError(f"disk radius must be finite and >= 0, got {radius}")
    half = int(math.floor(radius))
    if radius == half:
        return disk(half).astype(np.uint8)
    yy, xx = np.ogrid[-half : half + 1, -half : half + 1]
    return (xx * xx + yy * yy <= radius * radius).astype(np.uint8)


def shrink_until(
    operation: Callable[[float], np.ndarray],
    radius: float,
    accept: Callable[[np.ndarray], bool],
    shrink: Callable[[float], float],
    min_radius: float,
) -> np.ndarray | None:
    """Apply a radius-dependent morphological operation, shrinking the radius until its result is accepted.

    Args:
        operation: Maps a radius to the processed region.
        radius: First radius tried.
        accept: Whether a result is good enough (e.g. not empty).
        shrink: The next, smaller radius.
        min_radius: Radii at or below this are not tried.

    Returns:
        The first accepted result, or None when every radius above ``min_radius`` failed.
    """
    while radius > min_radius:
        result = operation(radius)
        if accept(result):
            return result
        radius = shrink(radius)
    return None


def open_region(
    mask: np.ndarray,
    kernel_size: float = 0.2,
    max_kernel_radius: float = 16.0,
    min_radius: float = 1.0,
    rule: str = "davis",
) -> np.ndarray:
    """Morphological opening that removes thin slivers from a region before skeletonising.

    The disk radius is ``min(kernel_size * sqrt(area) / 2, max_kernel_radius)``; while the opening
    would erase the whole region the radius shrinks by a factor 0.9, down to ``min_radius``. As in the
    DAVIS robot, a region whose first radius is already at most ``min_radius`` (a small region) is kept
    as it is, and a region that every tried opening erases gives an empty result: the robot draws no
    stroke for it.

    With ``rule="davis"`` (the default) the opening is davisinteractive 1.0.4's: a rank minimum then a
    rank maximum filter over ``skimage.morphology.disk(radius)``. For a fractional radius that disk is
    even-sized and off-centre by half a pixel, and both filters use the same (unreflected) footprint,
    so the "opening" shifts what it keeps and keeps parts of one-pixel-wide bands that the centred
    disk erases: on 30 frames whose errors are one-pixel bands the DAVIS robot draws 3.33 strokes per
    frame (2 frames without any), with ``rule="centred"`` (:func:`centred_disk`, OpenCV's erosion
    and dilation) 2.63 (3 frames without any); the default reproduces davisinteractive's opened
    region on all 122 recorded error regions (``tests/vos/test_davis_reference.py``).

    Args:
        mask: ``H x W`` binary region.
        kernel_size: Radius as a fraction of the region's side ``sqrt(area)``, halved.
        max_kernel_radius: Upper bound on the radius in pixels.
        min_radius: Radius at or below which no opening is applied.
        rule: One of :data:`OPENING_RULES`.

    Returns:
        ``H x W`` bool array: the opened region; empty when every opening erased the region.

    Raises:
        ValueError: On an unknown ``rule``.
    """
    if rule not in OPENING_RULES:
        raise ValueError(f"opening rule must be one of {OPENING_RULES}, got {rule!r}")
    mask = np.asarray(mask).astype(bool)
    area = int(np.count_nonzero(mask))
    if area == 0:
        return mask.copy()
    radius = min(kernel_size * math.sqrt(area) * 0.5, float(max_kernel_radius))
    src = mask.astype(np.uint8)

    def opening(r: float) -> np.ndarray:
        if rule == "davis":
            footprint = disk(r)
            # Pixels outside the image do not count for scikit-image's rank filters.
            return rank.maximum(rank.minimum(src, footprint), footprint)
        kernel = centred_disk(r)
        # OpenCV treats pixels outside the image as neutral for erosion, so regions touching the
        # image border are not eaten from outside (the same as a rank minimum filter).
        return cv2.dilate(cv2.erode(src, kernel), kernel)

    if radius <= min_radius:
        return mask.copy()
    opened = shrink_until(opening, radius, np.any, lambda r: r * 0.9, min_radius)
    return np.zeros_like(mask) if opened is None else opened.astype(bool)


def skeleton_graph(skeleton: np.ndarray) -> tuple[nx.Graph, np.ndarray]:
    """Graph over skeleton pixels with edges between 8-neighbours.

    Args:
        skeleton: ``H x W`` binary skeleton.

    Returns:
        ``(graph, points)``: nodes are indices into ``points`` (``N x 2`` array of ``(x, y)`` pixel
        coordinates); edges carry ``weight`` 1 (axis neighbours) or sqrt(2) (diagonal neighbours).
    """
    skeleton = np.asarray(skeleton).astype(bool)
    rows, cols = np.nonzero(skeleton)
    points = np.stack([cols, rows], axis=1).astype(np.int64)
    index = np.full(skeleton.shape, -1, dtype=np.int64)
    index[rows, cols] = np.arange(len(rows))
    graph = nx.Graph()
    graph.add_nodes_from(range(len(rows)))
    height, width = skeleton.shape
    # Four forward offsets cover every 8-neighbour pair exactly once.
    for dr, dc, weight in ((0, 1, 1.0), (1, 0, 1.0), (1, 1, math.sqrt(2.0)), (1, -1, math.sqrt(2.0))):
        r2, c2 = rows + dr, cols + dc
        inside = (r2 >= 0) & (r2 < height) & (c2 >= 0) & (c2 < width)
        src = index[rows[inside], cols[inside]]
        dst = index[r2[inside], c2[inside]]
        keep = dst >= 0
        graph.add_weighted_edges_from(zip(src[keep].tolist(), dst[keep].tolist(), [weight] * int(keep.sum())))
    return graph, points


def _tree_diameter_path(tree: nx.Graph) -> list[int]:
    """Longest path of a tree: the farthest node from any node is one end, the farthest from it the other."""
    start = min(tree.nodes)
    dist = nx.single_source_dijkstra_path_length(tree, start)
    end_a = max(dist, key=lambda node: (dist[node], -node))
    dist_a, paths_a = nx.single_source_dijkstra(tree, end_a)
    end_b = max(dist_a, key=lambda node: (dist_a[node], -node))
    return list(paths_a[end_b])


def longest_paths(region: np.ndarray, min_nb_nodes: int = 4) -> list[np.ndarray]:
    """Longest skeleton path of every connected part of a region.

    The medial axis of the region is turned into an 8-neighbour graph; each connected component is
    reduced to its minimum spanning tree (which breaks the small cycles medial axes form at
    junctions, removing diagonal edges first), components with fewer than ``min_nb_nodes`` pixels are
    dropped, and the longest path of each remaining tree is returned.

    Args:
        region: ``H x W`` binary region (already smoothed).
        min_nb_nodes: Smallest number of skeleton pixels a component needs to give a path.

    Returns:
        List of ``N x 2`` float arrays of ``(x, y)`` pixel coordinates, longest first.
    """
    region = np.asarray(region).astype(bool)
    if not region.any():
        return []
    # Padding keeps the medial axis of regions touching the border inside the region. scikit-image
    # breaks ties between equidistant pixels in random order; a fixed generator makes it repeatable.
    padded = np.pad(region, 1, mode="constant", constant_values=False)
    skeleton = medial_axis(padded, rng=0)[1:-1, 1:-1]
    if not skeleton.any():
        return []
    graph, points = skeleton_graph(skeleton)
    paths: list[np.ndarray] = []
    for component in nx.connected_components(graph):
        if len(component) < min_nb_nodes:
            continue
        tree = nx.minimum_spanning_tree(graph.subgraph(component))
        node_path = _tree_diameter_path(tree)
        paths.append(points[node_path].astype(np.float64))
    paths.sort(key=lambda p: (-_arc_length(p), p[0, 1], p[0, 0]))
    return paths


def _arc_length(path: np.ndarray) -> float:
    if len(path) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())


def smooth_path(path: np.ndarray, nb_points: int = 1000, sigma: float | None = None) -> np.ndarray:
    """Smooth a pixel path into a curve and resample it evenly by arc length.

    A Gaussian filter along the path removes the staircase of pixel steps while keeping the curve
    within about ``sigma`` pixels of the skeleton (a single Bezier curve through all points, as the
    DAVIS robot draws, can cut far across curved regions). The curve is then resampled to about one
    point per pixel of length, capped at ``nb_points``.

    Args:
        path: ``N x 2`` ``(x, y)`` points.
        nb_points: Maximum number of output points.
        sigma: Smoothing width in points; ``None`` picks ``clip(N / 20, 1, 4)``.

    Returns:
        ``M x 2`` float array, ``2 <= M <= nb_points`` (or a single point for a one-point path).
    """
    path = np.asarray(path, dtype=np.float64).reshape(-1, 2)
    if len(path) <= 1:
        return path.copy()
    if sigma is None:
        sigma = float(np.clip(len(path) / 20.0, 1.0, 4.0))
    smooth = gaussian_filter1d(path, sigma=sigma, axis=0, mode="nearest") if len(path) > 2 else path
    # Keep the true ends, so the stroke spans the whole skeleton path.
    smooth[0], smooth[-1] = path[0], path[-1]
    seg = np.linalg.norm(np.diff(smooth, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    length = cum[-1]
    if length == 0:
        return smooth[:1].copy()
    count = int(min(max(nb_points, 2), max(2, math.ceil(length) + 1)))
    targets = np.linspace(0.0, length, count)
    x = np.interp(targets, cum, smooth[:, 0])
    y = np.interp(targets, cum, smooth[:, 1])
    return np.stack([x, y], axis=1)
