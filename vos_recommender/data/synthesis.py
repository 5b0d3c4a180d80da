"""Synthetic videos made of moving, deforming textured layers over a panning background.

Each video shows one to ``num_objects`` textured objects over a textured background that the camera pans
across. Objects translate, rotate and change size, their outline deforms non-rigidly, their texture
slowly morphs into a second texture and their colour drifts, and they occlude one another in a fixed
depth order. Unannotated "distractor" objects cross the scene at random times (occluding the annotated
ones, as passers-by do in DAVIS), and each object has random fast-motion bursts. A mask copied or
propagated from one frame therefore gets worse with temporal distance, and by different amounts in
different parts of a video, which is what makes the choice of the frame to annotate matter.

Everything is a function of the random generator passed in; the order in which it is consumed is part
of the output (the same seed must keep giving the same data set).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from vos_recommender.data.textures import random_texture

__all__ = ["MotionSettings", "SyntheticVideo", "synthesize_video"]


@dataclass(frozen=True)
class MotionSettings:
    """How hard a video is to propagate through: motion speed, fast-motion bursts, crossing distractors.

    The defaults are the generator's original constants: with them the random generator is consumed in
    the same order and the same seed gives the same bytes as before these settings existed.

    Attributes:
        speed_scale: Multiplier of the objects' speed and of its cap.
        max_bursts: Largest number of fast-motion bursts per object.
        min_distractors: Fewest unannotated crossing objects (when the caller does not fix the count).
        max_distractors: Most unannotated crossing objects.
    """

    speed_scale: float = 1.0
    max_bursts: int = 2
    min_distractors: int = 0
    max_distractors: int = 2

    def __post_init__(self) -> None:
        if not self.speed_scale > 0:
            raise ValueError(f"MotionSettings.speed_scale must be > 0, got {self.speed_scale}")
        if self.max_bursts < 0:
            raise ValueError(f"MotionSettings.max_bursts must be >= 0, got {self.max_bursts}")
        if not 0 <= self.min_distractors <= self.max_distractors:
            raise ValueError(
                "MotionSettings needs 0 <= min_distractors <= max_distractors, got "
                f"{self.min_distractors} and {self.max_distractors}"
            )


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
    rng: np.random.Generator,
    label: int,
    num_frames: int,
    height: int,
    width: int,
    hue: float,
    unit: float,
    motion: MotionSettings,
) -> _Layer:
    radius = float(rng.uniform(0.13, 0.22) * min(height, width))
    margin = 0.6 * radius
    center = rng.uniform([margin, margin], [width - margin, height - margin])
    speed = rng.uniform(0.4, 1.6) * unit * motion.speed_scale
    heading = rng.uniform(0, 2 * math.pi)
    velocity = speed * np.array([math.cos(heading), math.sin(heading)])
    profile, events = _burst_profile(rng, num_frames, max_bursts=motion.max_bursts)
    burst_dir = rng.standard_normal((num_frames, 2))
    centers = np.zeros((num_frames, 2))
    for t in range(num_frames):
        centers[t] = center
        velocity = velocity + rng.standard_normal(2) * 0.25 * unit
        norm = np.linalg.norm(velocity)
        cap = 2.0 * unit * motion.speed_scale
        if norm > cap:
            velocity *= cap / norm
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
    rng: np.random.Generator,
    num_frames: int,
    height: int,
    width: int,
    hue: float,
    unit: float,
    motion: MotionSettings,
) -> _Layer:
    """A fast unannotated object that crosses the frame once, in front of everything, at a random time."""
    layer = _object_layer(rng, 0, num_frames, height, width, hue, unit, motion)
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
    motion: MotionSettings | None = None,
) -> SyntheticVideo:
    """Render one synthetic video with its ground truth.

    Args:
        rng: Random generator (consumed).
        num_frames: Number of frames T.
        height: Frame height.
        width: Frame width.
        num_objects: Number of annotated objects.
        num_distractors: Unannotated crossing objects; ``None`` draws them from ``motion``'s range.
        motion: Motion, burst and distractor settings (``None``: the defaults).

    Returns:
        The :class:`SyntheticVideo`.
    """
    motion = motion or MotionSettings()
    unit = min(height, width) / 120.0
    if num_distractors is None:
        num_distractors = int(rng.integers(motion.min_distractors, motion.max_distractors + 1))
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
        _object_layer(rng, label, num_frames, height, width, hues[label], unit, motion)
        for label in range(1, num_objects + 1)
    ]
    layers += [
        _distractor_layer(rng, num_frames, height, width, hues[num_objects + 1 + i], unit, motion)
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
