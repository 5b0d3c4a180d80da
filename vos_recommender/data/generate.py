"""Synthetic video object segmentation data in the DAVIS-2017 layout.

Each video shows one to ``max_objects`` textured objects over a textured background that the camera
pans across. Objects translate, rotate and change size, their outline deforms non-rigidly, their
texture slowly morphs into a second texture and their colour drifts, and they occlude one another in
a fixed depth order. Unannotated "distractor" objects cross the scene at random times (occluding the
annotated ones, as passers-by do in DAVIS), and each object has random fast-motion bursts. A mask
copied or propagated from one frame therefore gets worse with temporal distance, and by different
amounts in different parts of a video, which is what makes the choice of the frame to annotate matter.

The output is exactly the DAVIS-2017 layout (see :mod:`vos_recommender.data.davis`), with three
human-like first-round scribbles per sequence (``Scribbles/<seq>/001.json`` .. ``003.json``), each on a
different frame where the objects are well visible. Everything is a function of ``seed``.

Command line::

    python -m vos_recommender.data.generate --out data/davis_synth --num-train 8 --num-val 4
"""

from __future__ import annotations

import argparse
import colorsys
import json
import math
import os
import shutil
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter1d

from vos_recommender.data.davis import write_mask
from vos_recommender.interaction.scribbles import empty_scribble, save_scribble
from vos_recommender.interaction.skeleton import longest_paths, smooth_path

__all__ = ["SyntheticVideo", "generate_davis_dataset", "human_scribble", "synthesize_video"]

JPEG_QUALITY = 95
NUM_SCRIBBLES = 3


# ----------------------------------------------------------------------------------------------
# Textures
# ----------------------------------------------------------------------------------------------


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1))))


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: float) -> np.ndarray:
    """Band-limited noise in [-1, 1]: a coarse random grid upsampled with cubic interpolation."""
    gh = max(2, int(math.ceil(height / cell)) + 2)
    gw = max(2, int(math.ceil(width / cell)) + 2)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    fine = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(fine / 2.0, -1.0, 1.0)


def random_texture(rng: np.random.Generator, height: int, width: int, hue: float, scale: float) -> np.ndarray:
    """A random colour texture: smooth blotches plus one periodic or cellular pattern plus grain.

    Args:
        rng: Random generator.
        height: Texture height.
        width: Texture width.
        hue: Dominant hue in [0, 1).
        scale: Pixel scale of the pattern (1 at 120-pixel-high videos).

    Returns:
        ``height x width x 3`` float32 RGB in [0, 1].
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    kind = rng.choice(["stripes", "checker", "dots", "cells", "waves"])
    period = float(rng.uniform(5.0, 14.0) * scale)
    angle = float(rng.uniform(0, math.pi))
    proj = xx * math.cos(angle) + yy * math.sin(angle)
    ortho = -xx * math.sin(angle) + yy * math.cos(angle)
    if kind == "stripes":
        pattern = np.sin(2 * math.pi * proj / period + rng.uniform(0, 2 * math.pi))
    elif kind == "checker":
        pattern = np.sign(np.sin(2 * math.pi * proj / period) * np.sin(2 * math.pi * ortho / period))
    elif kind == "dots":
        pattern = (np.sin(math.pi * proj / period) * np.sin(math.pi * ortho / period)) ** 2 * 2.0 - 1.0
    elif kind == "cells":
        count = max(4, int(height * width / (period * period * 4)))
        count = min(count, 64)
        seeds = rng.uniform([0, 0], [width, height], size=(count, 2)).astype(np.float32)
        values = rng.uniform(-1, 1, size=count).astype(np.float32)
        dist = (xx[None] - seeds[:, 0, None, None]) ** 2 + (yy[None] - seeds[:, 1, None, None]) ** 2
        pattern = values[np.argmin(dist, axis=0)]
    else:
        pattern = np.sin(2 * math.pi * proj / period + 2.0 * _smooth_noise(rng, height, width, 6 * period))
    blotches = _smooth_noise(rng, height, width, cell=float(rng.uniform(10, 30) * scale))
    grain = rng.standard_normal((height, width)).astype(np.float32) * 0.15
    mix = rng.uniform(0.3, 0.6)
    intensity = np.clip(0.5 + 0.5 * (mix * pattern + (1 - mix) * blotches) + grain * 0.5, 0.0, 1.0)
    dark = _hsv(hue + rng.uniform(-0.04, 0.04), rng.uniform(0.5, 0.95), rng.uniform(0.15, 0.45))
    light = _hsv(hue + rng.uniform(-0.08, 0.08), rng.uniform(0.3, 0.8), rng.uniform(0.6, 0.95))
    tex = dark[None, None, :] * (1.0 - intensity[..., None]) + light[None, None, :] * intensity[..., None]
    return tex.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Moving objects
# ----------------------------------------------------------------------------------------------


@dataclass
class _Layer:
    """One moving, deforming textured shape. Ground-truth id 0 marks an unannotated distractor."""

    label: int
    depth: float
    radius: float
    centers: np.ndarray  # T x 2 (x, y)
    angles: np.ndarray  # T
    scales: np.ndarray  # T
    harmonics: np.ndarray  # T x K radial-harmonic amplitudes
    phases: np.ndarray  # K
    warp_amp: np.ndarray  # T
    warp_phase: np.ndarray  # T
    warp_period: float
    texture_a: np.ndarray
    texture_b: np.ndarray
    morph: np.ndarray  # T, blend weight of texture_b
    gain: np.ndarray  # T x 3 colour gain
    events: list[dict] = field(default_factory=list)


def _harmonics(rng: np.random.Generator, num_frames: int, num_harm: int) -> tuple[np.ndarray, np.ndarray]:
    base = rng.uniform(0.0, 0.22, size=num_harm) / np.arange(1, num_harm + 1) ** 0.5
    wobble = rng.uniform(0.02, 0.08, size=num_harm)
    freq = rng.uniform(0.05, 0.25, size=num_harm)
    offset = rng.uniform(0, 2 * math.pi, size=num_harm)
    t = np.arange(num_frames)[:, None]
    amps = np.clip(base[None] + wobble[None] * np.sin(freq[None] * t + offset[None]), 0.0, 0.3)
    return amps, rng.uniform(0, 2 * math.pi, size=num_harm)


def _burst_profile(
    rng: np.random.Generator, num_frames: int, max_bursts: int
) -> tuple[np.ndarray, list[dict]]:
    """Per-frame speed multiplier with a few short fast-motion bursts at random times."""
    profile = np.ones(num_frames)
    events: list[dict] = []
    for _ in range(int(rng.integers(0, max_bursts + 1))):
        start = int(rng.integers(1, max(2, num_frames - 1)))
        length = int(rng.integers(2, 5))
        factor = float(rng.uniform(3.0, 6.0))
        profile[start : start + length] = np.maximum(profile[start : start + length], factor)
        events.append({"type": "fast_motion", "start": start, "length": length, "factor": round(factor, 3)})
    return profile, events


def _object_layer(
    rng: np.random.Generator, label: int, num_frames: int, height: int, width: int, hue: float, unit: float
) -> _Layer:
    radius = float(rng.uniform(0.13, 0.22) * min(height, width))
    margin = 0.6 * radius
    center = rng.uniform([margin, margin], [width - margin, height - margin])
    speed = rng.uniform(0.4, 1.6) * unit
    heading = rng.uniform(0, 2 * math.pi)
    velocity = speed * np.array([math.cos(heading), math.sin(heading)])
    profile, events = _burst_profile(rng, num_frames, max_bursts=2)
    burst_dir = rng.standard_normal((num_frames, 2))
    centers = np.zeros((num_frames, 2))
    for t in range(num_frames):
        centers[t] = center
        velocity = velocity + rng.standard_normal(2) * 0.25 * unit
        norm = np.linalg.norm(velocity)
        if norm > 2.0 * unit:
            velocity *= 2.0 * unit / norm
        step = velocity * profile[t]
        if profile[t] > 1.0:
            # Bursts jerk the object sideways as well as forwards, like a sudden dodge.
            step = step + burst_dir[t] * unit * profile[t] * 0.8
        center = center + step
        for axis, limit in ((0, width), (1, height)):
            if center[axis] < margin:
                center[axis] = 2 * margin - center[axis]
                velocity[axis] = abs(velocity[axis])
            elif center[axis] > limit - margin:
                center[axis] = 2 * (limit - margin) - center[axis]
                velocity[axis] = -abs(velocity[axis])
    spin = rng.uniform(-0.06, 0.06)
    angles = rng.uniform(0, 2 * math.pi) + np.cumsum(spin * profile + rng.normal(0, 0.01, num_frames))
    log_scale = gaussian_filter1d(rng.normal(0, 0.06, num_frames), sigma=3.0, mode="nearest") * 3.0
    scales = np.exp(np.clip(log_scale, -0.25, 0.25))
    harmonics, phases = _harmonics(rng, num_frames, num_harm=5)
    warp_amp = (
        radius * rng.uniform(0.03, 0.10) * (1 + 0.5 * np.sin(rng.uniform(0.1, 0.4) * np.arange(num_frames)))
    )
    warp_phase = rng.uniform(0, 2 * math.pi) + rng.uniform(0.15, 0.5) * np.arange(num_frames)
    tex_size = int(math.ceil(4.0 * radius)) + 8
    texture_a = random_texture(rng, tex_size, tex_size, hue, unit)
    texture_b = random_texture(rng, tex_size, tex_size, hue + rng.uniform(-0.06, 0.06), unit)
    morph_mid = rng.uniform(0.2, 0.8) * num_frames
    morph_width = rng.uniform(0.05, 0.25) * num_frames + 1
    morph = 1.0 / (1.0 + np.exp(-(np.arange(num_frames) - morph_mid) / morph_width))
    drift = rng.normal(0, 0.25, size=3)
    gain = 1.0 + np.outer(np.linspace(-0.5, 0.5, num_frames), drift)
    flicker = 0.08 * np.sin(rng.uniform(0.2, 0.6) * np.arange(num_frames) + rng.uniform(0, 6.3))
    gain = np.clip(gain + flicker[:, None], 0.5, 1.6)
    events.append({"type": "texture_morph", "center": round(float(morph_mid), 2)})
    return _Layer(
        label=label,
        depth=float(rng.uniform(0, 1)),
        radius=radius,
        centers=centers,
        angles=angles,
        scales=scales,
        harmonics=harmonics,
        phases=phases,
        warp_amp=warp_amp,
        warp_phase=warp_phase,
        warp_period=float(rng.uniform(1.0, 2.0) * radius),
        texture_a=texture_a,
        texture_b=texture_b,
        morph=morph,
        gain=gain,
        events=events,
    )


def _distractor_layer(
    rng: np.random.Generator, num_frames: int, height: int, width: int, hue: float, unit: float
) -> _Layer:
    """A fast unannotated object that crosses the frame once, in front of everything, at a random time."""
    layer = _object_layer(rng, 0, num_frames, height, width, hue, unit)
    layer.radius *= float(rng.uniform(0.6, 0.9))
    layer.depth = 2.0 + float(rng.uniform(0, 1))
    enter = int(rng.integers(0, max(1, num_frames - 3)))
    crossing = int(rng.integers(3, max(4, num_frames // 2)))
    side = rng.integers(0, 4)
    off = 1.3 * layer.radius
    target = rng.uniform([0.3 * width, 0.3 * height], [0.7 * width, 0.7 * height])
    starts = {0: (-off, rng.uniform(0, height)), 1: (width + off, rng.uniform(0, height))}
    starts.update({2: (rng.uniform(0, width), -off), 3: (rng.uniform(0, width), height + off)})
    start = np.array(starts[int(side)], dtype=np.float64)
    step = (target - start) / max(crossing / 2.0, 1.0)
    t = np.arange(num_frames) - enter
    centers = start[None, :] + step[None, :] * t[:, None]
    layer.centers = centers
    layer.events = [{"type": "distractor_crossing", "enter": enter, "frames": crossing}]
    return layer


def _render_layer(
    layer: _Layer, t: int, grid_x: np.ndarray, grid_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Colour and coverage (alpha) of a layer at frame ``t``, by inverse mapping every image pixel.

    Image pixels are taken into the object's frame (undo translation, rotation, scale), displaced by
    a travelling sine warp (the non-rigid deformation), and tested against the star-shaped outline
    ``r(phi) = radius * (1 + sum_k a_k(t) cos(k phi + p_k))``. Coverage is antialiased over one pixel.
    """
    cx, cy = layer.centers[t]
    cos_a, sin_a = math.cos(layer.angles[t]), math.sin(layer.angles[t])
    s = float(layer.scales[t])
    dx = grid_x - np.float32(cx)
    dy = grid_y - np.float32(cy)
    u = (cos_a * dx + sin_a * dy) / s
    v = (-sin_a * dx + cos_a * dy) / s
    amp = np.float32(layer.warp_amp[t])
    k = np.float32(2 * math.pi / layer.warp_period)
    ph = np.float32(layer.warp_phase[t])
    u_w = u + amp * np.sin(k * v + ph)
    v_w = v + amp * np.sin(k * u - 0.7 * ph)
    rho = np.sqrt(u_w * u_w + v_w * v_w)
    phi = np.arctan2(v_w, u_w)
    outline = np.ones_like(rho)
    for idx in range(layer.harmonics.shape[1]):
        outline += np.float32(layer.harmonics[t, idx]) * np.cos(
            (idx + 2) * phi + np.float32(layer.phases[idx])
        )
    outline *= np.float32(layer.radius)
    alpha = np.clip((outline - rho) * s + 0.5, 0.0, 1.0)
    if not alpha.any():
        return np.zeros(grid_x.shape + (3,), np.float32), alpha
    half = layer.texture_a.shape[0] / 2.0
    map_x = (u_w + half).astype(np.float32)
    map_y = (v_w + half).astype(np.float32)
    tex_a = cv2.remap(layer.texture_a, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    tex_b = cv2.remap(layer.texture_b, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    w = np.float32(layer.morph[t])
    colour = (1 - w) * tex_a + w * tex_b
    # Soft shading towards the rim gives the objects some volume and a visible edge.
    shade = 1.0 - 0.3 * np.clip(rho / np.maximum(outline, 1e-3), 0, 1) ** 2
    colour = colour * shade[..., None] * layer.gain[t].astype(np.float32)[None, None, :]
    return np.clip(colour, 0, 1), alpha


@dataclass
class SyntheticVideo:
    """A generated video.

    Attributes:
        frames: ``T x H x W x 3`` uint8 RGB.
        masks: ``T x H x W`` uint8 ids (0 background, 1..num_objects).
        num_objects: Number of annotated objects.
        events: Motion/occlusion/appearance events per layer, for inspection.
    """

    frames: np.ndarray
    masks: np.ndarray
    num_objects: int
    events: list[dict]


def _pick_hues(rng: np.random.Generator, count: int) -> list[float]:
    """Hues spread around the colour wheel, so objects and background stay distinguishable."""
    start = rng.uniform(0, 1)
    hues = (start + np.arange(count) / count + rng.uniform(-0.25, 0.25, count) / count) % 1.0
    return [float(h) for h in rng.permutation(hues)]


def synthesize_video(
    rng: np.random.Generator,
    num_frames: int,
    height: int,
    width: int,
    num_objects: int,
    num_distractors: int | None = None,
) -> SyntheticVideo:
    """Render one synthetic video with its ground truth.

    Args:
        rng: Random generator (consumed).
        num_frames: Number of frames T.
        height: Frame height.
        width: Frame width.
        num_objects: Number of annotated objects.
        num_distractors: Unannotated crossing objects; ``None`` draws 0-2.

    Returns:
        The :class:`SyntheticVideo`.
    """
    unit = min(height, width) / 120.0
    if num_distractors is None:
        num_distractors = int(rng.integers(0, 3))
    hues = _pick_hues(rng, num_objects + num_distractors + 1)
    pad = int(math.ceil(0.25 * max(height, width)))
    bg_tex = random_texture(rng, height + 2 * pad, width + 2 * pad, hues[0], unit * 1.5)
    bg_tex = 0.75 * bg_tex + 0.1
    pan_velocity = rng.uniform(-0.5, 0.5, size=2) * unit
    pan_noise = gaussian_filter1d(rng.normal(0, 0.3 * unit, size=(num_frames, 2)), sigma=2.0, axis=0)
    pan = np.cumsum(pan_velocity[None, :] + pan_noise, axis=0)
    pan = np.clip(pan, -pad + 1, pad - 1)
    light = 1.0 + 0.08 * np.sin(rng.uniform(0.05, 0.3) * np.arange(num_frames) + rng.uniform(0, 6.3))

    layers = [
        _object_layer(rng, label, num_frames, height, width, hues[label], unit)
        for label in range(1, num_objects + 1)
    ]
    layers += [
        _distractor_layer(rng, num_frames, height, width, hues[num_objects + 1 + i], unit)
        for i in range(num_distractors)
    ]
    layers.sort(key=lambda layer: layer.depth)

    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.zeros((num_frames, height, width, 3), dtype=np.uint8)
    masks = np.zeros((num_frames, height, width), dtype=np.uint8)
    noise = rng.standard_normal((num_frames, height, width, 3)).astype(np.float32) * (2.0 / 255.0)
    for t in range(num_frames):
        shift = np.float32([[1, 0, -(pad + pan[t, 0])], [0, 1, -(pad + pan[t, 1])]])
        image = cv2.warpAffine(
            bg_tex, shift, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        image = image * np.float32(light[t])
        label = np.zeros((height, width), dtype=np.uint8)
        for layer in layers:
            colour, alpha = _render_layer(layer, t, grid_x, grid_y)
            if not alpha.any():
                continue
            image = image * (1 - alpha[..., None]) + colour * alpha[..., None]
            label[alpha >= 0.5] = layer.label
        frames[t] = np.clip(np.rint((image + noise[t]) * 255.0), 0, 255).astype(np.uint8)
        masks[t] = label
    events = [
        {"label": layer.label, "depth": round(layer.depth, 3), "events": layer.events} for layer in layers
    ]
    return SyntheticVideo(frames=frames, masks=masks, num_objects=num_objects, events=events)


# ----------------------------------------------------------------------------------------------
# Human-like first-round scribbles
# ----------------------------------------------------------------------------------------------


def _erode_keep(region: np.ndarray, radius: int) -> np.ndarray:
    """Erode a region by up to ``radius`` pixels, shrinking the radius rather than erasing it."""
    src = region.astype(np.uint8)
    while radius >= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        eroded = cv2.erode(src, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        if np.count_nonzero(eroded) >= 8:
            return eroded.astype(bool)
        radius -= 1
    return region.copy()


def _human_stroke(rng: np.random.Generator, region: np.ndarray, erosion: float) -> np.ndarray | None:
    """One stroke drawn well inside a region: a random stretch of its central line, with hand jitter."""
    area = int(np.count_nonzero(region))
    if area < 6:
        return None
    inner = _erode_keep(region, int(round(erosion * math.sqrt(area))))
    paths = longest_paths(inner, min_nb_nodes=2)
    if not paths:
        rows, cols = np.nonzero(inner if inner.any() else region)
        centre = np.array([cols.mean(), rows.mean()])
        return centre[None, :]
    path = paths[0]
    if len(path) > 6:
        keep = rng.uniform(0.6, 1.0)
        n_keep = max(4, int(round(keep * len(path))))
        start = int(rng.integers(0, len(path) - n_keep + 1))
        path = path[start : start + n_keep]
    curve = smooth_path(path, nb_points=400, sigma=2.0)
    if len(curve) > 3:
        # A slow sideways wobble of about a pixel imitates an unsteady hand without leaving the region.
        normal = np.gradient(curve, axis=0)[:, ::-1] * np.array([1.0, -1.0])
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-6)
        wobble = gaussian_filter1d(rng.normal(0, 1.0, len(curve)), sigma=max(2.0, len(curve) / 8)) * 3.0
        curve = curve + normal * wobble[:, None]
    height, width = region.shape
    cols = np.clip(np.rint(curve[:, 0]).astype(int), 0, width - 1)
    rows = np.clip(np.rint(curve[:, 1]).astype(int), 0, height - 1)
    inside = region[rows, cols]
    curve = curve[inside]
    return curve if len(curve) else None


def human_scribble(
    masks: np.ndarray, frame: int, num_objects: int, sequence: str, rng: np.random.Generator
) -> dict:
    """A human-like first-round scribble on ``frame``: a stroke inside every visible object and one or two
    background strokes, in the DAVIS scribble format with simulated drawing times.

    Args:
        masks: ``T x H x W`` ground-truth ids.
        frame: Frame to annotate.
        num_objects: Number of objects.
        sequence: Sequence name.
        rng: Random generator (consumed).

    Returns:
        Scribble dictionary with ``annotated_frame`` set.
    """
    num_frames, height, width = masks.shape
    scribble = empty_scribble(sequence, num_frames)
    scribble["annotated_frame"] = int(frame)
    gt = masks[frame]
    strokes: list[tuple[int, np.ndarray]] = []
    for obj_id in range(1, num_objects + 1):
        region = gt == obj_id
        for extra in range(int(rng.integers(1, 3))):
            stroke = _human_stroke(rng, region, erosion=0.18 if extra == 0 else 0.08)
            if stroke is not None:
                strokes.append((obj_id, stroke))
    background = gt == 0
    # Keep background strokes a few pixels away from objects, as annotators do.
    away = _erode_keep(background, max(2, int(round(0.03 * min(height, width)))))
    for _ in range(int(rng.integers(1, 3))):
        stroke = _human_stroke(rng, away, erosion=0.05)
        if stroke is not None:
            strokes.append((0, stroke))
    order = rng.permutation(len(strokes))
    clock = 0.0
    scale = np.array([width, height], dtype=np.float64)
    for idx in order:
        obj_id, path = strokes[int(idx)]
        length = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()) if len(path) > 1 else 1.0
        duration = max(80.0, length * rng.uniform(2.0, 5.0))
        clock += rng.uniform(300.0, 1200.0)
        scribble["scribbles"][frame].append(
            {
                "path": np.round(path / scale, 6).tolist(),
                "object_id": int(obj_id),
                "start_time": int(round(clock)),
                "end_time": int(round(clock + duration)),
            }
        )
        clock += duration
    return scribble


def _scribble_frames(masks: np.ndarray, num_objects: int, rng: np.random.Generator, count: int) -> list[int]:
    """Frames to annotate: the one where the least visible object is most visible, then others near the top."""
    areas = np.stack([(masks == k).reshape(len(masks), -1).sum(axis=1) for k in range(1, num_objects + 1)], 1)
    visibility = (areas / np.maximum(areas.max(axis=0, keepdims=True), 1)).min(axis=1)
    ranked = [int(i) for i in np.argsort(-visibility, kind="stable")]
    chosen = [ranked[0]]
    candidates = ranked[1 : max(2, len(ranked) // 2 + 1)]
    while len(chosen) < count and candidates:
        pick = int(rng.integers(0, len(candidates)))
        chosen.append(candidates.pop(pick))
    while len(chosen) < count:
        chosen.append(ranked[len(chosen) % len(ranked)])
    return chosen


# ----------------------------------------------------------------------------------------------
# Data set
# ----------------------------------------------------------------------------------------------


def _write_jpeg(path: Path, frame: np.ndarray) -> None:
    Image.fromarray(frame, mode="RGB").save(path, format="JPEG", quality=JPEG_QUALITY)


def _video_is_usable(video: SyntheticVideo) -> bool:
    """Every object must be clearly visible on at least half of the frames."""
    min_area = max(12, int(0.002 * video.masks.shape[1] * video.masks.shape[2]))
    for k in range(1, video.num_objects + 1):
        areas = (video.masks == k).reshape(len(video.masks), -1).sum(axis=1)
        if np.count_nonzero(areas >= min_area) < (len(areas) + 1) // 2:
            return False
    return True


def generate_sequence(
    root: str | os.PathLike,
    name: str,
    seed: int,
    num_frames: int = 25,
    height: int = 120,
    width: int = 216,
    max_objects: int = 3,
    resolution: str = "480p",
) -> dict:
    """Generate and write one sequence (frames, annotations, three scribbles).

    Args:
        root: Data set root.
        name: Sequence name.
        seed: Seed of this sequence.
        num_frames: Frames per video.
        height: Frame height.
        width: Frame width.
        max_objects: Largest number of annotated objects.
        resolution: Resolution folder name.

    Returns:
        A small description (objects, events, scribble frames).
    """
    root = Path(root)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    num_objects = int(rng.integers(1, max_objects + 1))
    for _ in range(20):
        video = synthesize_video(rng, num_frames, height, width, num_objects)
        if _video_is_usable(video):
            break
    image_dir = root / "JPEGImages" / resolution / name
    mask_dir = root / "Annotations" / resolution / name
    image_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    for t in range(num_frames):
        _write_jpeg(image_dir / f"{t:05d}.jpg", video.frames[t])
        write_mask(mask_dir / f"{t:05d}.png", video.masks[t])
    frames = _scribble_frames(video.masks, num_objects, rng, NUM_SCRIBBLES)
    for idx, frame in enumerate(frames, start=1):
        scribble = human_scribble(video.masks, frame, num_objects, name, rng)
        save_scribble(root / "Scribbles" / name / f"{idx:03d}.json", scribble)
    return {"name": name, "num_objects": num_objects, "scribble_frames": frames, "layers": video.events}


def generate_davis_dataset(
    root: str | os.PathLike,
    num_train: int = 8,
    num_val: int = 4,
    num_frames: int = 25,
    height: int = 120,
    width: int = 216,
    max_objects: int = 3,
    seed: int = 0,
    resolution: str = "480p",
) -> Path:
    """Generate a synthetic data set in the DAVIS-2017 layout.

    Sequences are named ``synth-000``, ``synth-001``, ...; the first ``num_train`` go to
    ``ImageSets/2017/train.txt``, the rest to ``val.txt``. Each sequence's content depends only on
    ``seed`` and its name, so the same arguments reproduce the same files byte for byte. Existing
    sequence folders of the same names are replaced. A ``generation.json`` next to the DAVIS folders
    records the arguments and each video's events.

    Args:
        root: Output root.
        num_train: Number of training sequences.
        num_val: Number of validation sequences.
        num_frames: Frames per video (>= 2).
        height: Frame height (>= 32).
        width: Frame width (>= 32).
        max_objects: Largest number of annotated objects per video (1..254).
        seed: Master seed.
        resolution: Resolution folder name (``480p`` as in DAVIS, whatever the actual size).

    Returns:
        ``root`` as a Path.
    """
    if num_frames < 2:
        raise ValueError(f"num_frames must be >= 2, got {num_frames}")
    if height < 32 or width < 32:
        raise ValueError(f"frames must be at least 32x32, got {height}x{width}")
    if not 1 <= max_objects <= 254:
        raise ValueError(f"max_objects must be in 1..254, got {max_objects}")
    if num_train < 0 or num_val < 0 or num_train + num_val == 0:
        raise ValueError("need at least one sequence (num_train + num_val >= 1)")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = [f"synth-{i:03d}" for i in range(num_train + num_val)]
    splits = {"train": names[:num_train], "val": names[num_train:]}
    records = []
    for name in names:
        for sub in (
            root / "JPEGImages" / resolution / name,
            root / "Annotations" / resolution / name,
            root / "Scribbles" / name,
        ):
            if sub.exists():
                shutil.rmtree(sub)
        records.append(
            generate_sequence(root, name, seed, num_frames, height, width, max_objects, resolution)
        )
    split_dir = root / "ImageSets" / "2017"
    split_dir.mkdir(parents=True, exist_ok=True)
    for split, members in splits.items():
        (split_dir / f"{split}.txt").write_text("".join(f"{n}\n" for n in members), encoding="utf-8")
    info = {
        "generator": "vos_recommender.data.generate",
        "seed": seed,
        "num_frames": num_frames,
        "height": height,
        "width": width,
        "max_objects": max_objects,
        "resolution": resolution,
        "splits": splits,
        "sequences": records,
    }
    (root / "generation.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return root


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output root of the DAVIS-layout data set")
    parser.add_argument("--num-train", type=int, default=8, help="number of training sequences")
    parser.add_argument("--num-val", type=int, default=4, help="number of validation sequences")
    parser.add_argument("--frames", type=int, default=25, help="frames per video")
    parser.add_argument("--height", type=int, default=120, help="frame height in pixels")
    parser.add_argument("--width", type=int, default=216, help="frame width in pixels")
    parser.add_argument("--max-objects", type=int, default=3, help="largest number of objects per video")
    parser.add_argument("--seed", type=int, default=0, help="master seed")
    parser.add_argument("--resolution", default="480p", help="resolution folder name")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    root = generate_davis_dataset(
        args.out,
        num_train=args.num_train,
        num_val=args.num_val,
        num_frames=args.frames,
        height=args.height,
        width=args.width,
        max_objects=args.max_objects,
        seed=args.seed,
        resolution=args.resolution,
    )
    print(
        f"wrote {args.num_train + args.num_val} sequences to {root} in {time.perf_counter() - start:.1f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
