"""Random colour textures for the synthetic videos: smooth blotches, one periodic or cellular pattern, grain."""

from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np

__all__ = ["random_texture"]


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
