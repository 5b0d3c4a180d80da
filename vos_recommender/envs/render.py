"""Drawing of the frame-recommendation state as an RGB image (OpenCV only, no display needed).

Layout (top to bottom):

* a strip of ``num_tiles`` frames: the most recently annotated frames (ascending) and the frame of
  lowest quality among those not annotated yet, each with the predicted masks blended in, the
  ground-truth outline optional, and the latest scribble drawn on that frame (stroke colour = object
  colour, background strokes white); a caption names the frame, its annotation count and quality;
* a plot over all frames: per-frame quality (blue line, the observation's first row), the true J&F
  when it differs (green, wild setting), annotation counts as grey bars, annotated frames ticked in
  red, the worst frame ringed; a title gives the video, the round and the mean J&F.

The image size depends only on the video's size, not on the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

__all__ = ["OBJECT_COLOURS", "render_episode", "render_state"]

#: RGB colour of each label (0 = background); labels beyond the table reuse the last colours cyclically.
OBJECT_COLOURS = np.array(
    [
        [0, 0, 0],
        [230, 25, 75],
        [60, 180, 75],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
    ],
    dtype=np.uint8,
)
CAPTION_HEIGHT = 16
PLOT_HEIGHT = 150
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _colour(label: int) -> tuple[int, int, int]:
    if label <= 0:
        return (255, 255, 255)
    index = 1 + (label - 1) % (len(OBJECT_COLOURS) - 1)
    return tuple(int(c) for c in OBJECT_COLOURS[index])


def _overlay(frame: np.ndarray, labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    image = frame.astype(np.float32)
    table = np.array([_colour(k) if k else (0, 0, 0) for k in range(256)], dtype=np.float32)
    colours = table[labels]
    blended = np.where(labels[..., None] > 0, (1 - alpha) * image + alpha * colours, image)
    # Object outlines in the object colour, so thin parts stay visible.
    for label in np.unique(labels):
        if label == 0:
            continue
        mask = (labels == label).astype(np.uint8)
        edge = mask - cv2.erode(mask, np.ones((3, 3), np.uint8))
        blended[edge > 0] = _colour(int(label))
    return blended.astype(np.uint8)


def _draw_strokes(tile: np.ndarray, strokes: Sequence[dict], thickness: int) -> None:
    height, width = tile.shape[:2]
    for stroke in strokes:
        path = np.asarray(stroke.get("path", []), dtype=np.float64).reshape(-1, 2)
        if len(path) == 0:
            continue
        points = np.round(path * [width - 1, height - 1]).astype(np.int32).reshape(-1, 1, 2)
        colour = _colour(int(stroke.get("object_id", 0)))
        cv2.polylines(tile, [points], False, (0, 0, 0), thickness + 2, cv2.LINE_AA)
        cv2.polylines(tile, [points], False, colour, thickness, cv2.LINE_AA)


def _text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, colour=(20, 20, 20)) -> None:
    cv2.putText(image, text, origin, FONT, scale, colour, 1, cv2.LINE_AA)


def render_state(
    frames: np.ndarray,
    pred_masks: np.ndarray,
    quality: np.ndarray,
    counts: np.ndarray,
    annotated: Sequence[int],
    scribbles: Sequence[tuple[int, dict]],
    jf: np.ndarray | None = None,
    title: str = "",
    num_tiles: int = 4,
    min_tile_height: int = 120,
) -> np.ndarray:
    """Draw the state of an interactive session.

    Args:
        frames: ``T x H x W x 3`` uint8 RGB frames.
        pred_masks: ``T x H x W`` uint8 predicted labels of the current round.
        quality: ``T`` per-frame quality (the observation).
        counts: ``T`` annotation counts.
        annotated: Frames annotated so far, in order.
        scribbles: ``(frame, scribble dict)`` of every round so far, in order (the latest one of a
            frame is drawn on it).
        jf: ``T`` true J&F; drawn when given and different from ``quality``.
        title: Text of the plot's title line.
        num_tiles: Frames in the strip (the last one is the worst unannotated frame).
        min_tile_height: Tiles are enlarged by an integer factor to at least this height.

    Returns:
        ``H_img x W_img x 3`` uint8 RGB image; its size depends only on ``frames``' size and ``num_tiles``.
    """
    num_frames, height, width = frames.shape[:3]
    quality = np.asarray(quality, dtype=np.float64)[:num_frames]
    counts = np.asarray(counts)[:num_frames]
    scale = max(1, int(np.ceil(min_tile_height / height)))
    tile_h, tile_w = height * scale, width * scale
    gap = 4

    free = np.ones(num_frames, dtype=bool)
    free[list(annotated)] = False
    worst = int(np.flatnonzero(free)[np.argmin(quality[free])]) if free.any() else int(np.argmin(quality))
    recent: list[int] = []
    for frame in reversed(list(annotated)):
        if frame not in recent and frame != worst:
            recent.append(frame)
        if len(recent) == num_tiles - 1:
            break
    shown = sorted(recent) + [worst]
    latest: dict[int, dict] = {}
    for frame, scribble in scribbles:
        latest[int(frame)] = scribble

    strip_w = num_tiles * tile_w + (num_tiles - 1) * gap
    strip = np.full((CAPTION_HEIGHT + tile_h, strip_w, 3), 255, dtype=np.uint8)
    for slot, frame in enumerate(shown):
        x0 = slot * (tile_w + gap)
        tile = _overlay(frames[frame], pred_masks[frame])
        if scale > 1:
            tile = cv2.resize(tile, (tile_w, tile_h), interpolation=cv2.INTER_NEAREST)
        tile = np.ascontiguousarray(tile)
        if frame in latest:
            strokes = latest[frame]["scribbles"][frame]
            _draw_strokes(tile, strokes, thickness=max(1, scale))
        if frame == worst:
            cv2.rectangle(tile, (0, 0), (tile_w - 1, tile_h - 1), (255, 200, 0), 2)
        strip[CAPTION_HEIGHT:, x0 : x0 + tile_w] = tile
        label = "worst" if frame == worst else "annot"
        caption = f"t={frame} {label} h={int(counts[frame])} q={quality[frame]:.2f}"
        _text(strip, caption, (x0 + 2, CAPTION_HEIGHT - 4), 0.35)

    plot = np.full((PLOT_HEIGHT, strip_w, 3), 255, dtype=np.uint8)
    left, right, top, bottom = 34, strip_w - 8, 22, PLOT_HEIGHT - 20
    _text(plot, title, (4, 14), 0.4)
    cv2.rectangle(plot, (left, top), (right, bottom), (160, 160, 160), 1)
    for value in (0.0, 0.5, 1.0):
        y = int(round(bottom - value * (bottom - top)))
        cv2.line(plot, (left, y), (right, y), (225, 225, 225), 1)
        _text(plot, f"{value:.1f}", (4, y + 4), 0.33, (90, 90, 90))
    step = (right - left) / max(num_frames, 1)

    def x_of(t: float) -> int:
        return int(round(left + (t + 0.5) * step))

    def y_of(v: float) -> int:
        return int(round(bottom - float(np.clip(v, 0.0, 1.0)) * (bottom - top)))

    max_count = max(int(counts.max(initial=0)), 1)
    bar = max(1, int(step * 0.6) // 2)
    for t in range(num_frames):
        if counts[t] > 0:
            h = int(round(0.35 * (bottom - top) * counts[t] / max_count))
            cv2.rectangle(plot, (x_of(t) - bar, bottom - h), (x_of(t) + bar, bottom), (200, 200, 200), -1)
            _text(plot, str(int(counts[t])), (x_of(t) - 3, bottom - h - 2), 0.3, (90, 90, 90))
    curves = [(quality, (31, 119, 180))]
    if jf is not None and not np.allclose(np.asarray(jf)[:num_frames], quality, atol=1e-6):
        curves.insert(0, (np.asarray(jf, dtype=np.float64)[:num_frames], (44, 160, 44)))
    for values, colour in curves:
        points = np.array([[x_of(t), y_of(v)] for t, v in enumerate(values)], np.int32).reshape(-1, 1, 2)
        cv2.polylines(plot, [points], False, colour, 1, cv2.LINE_AA)
        for t, v in enumerate(values):
            cv2.circle(plot, (x_of(t), y_of(v)), 2, colour, -1, cv2.LINE_AA)
    for frame in set(int(a) for a in annotated):
        cv2.line(plot, (x_of(frame), bottom), (x_of(frame), bottom + 5), (220, 30, 30), 2)
    cv2.circle(plot, (x_of(worst), y_of(quality[worst])), 5, (255, 160, 0), 1, cv2.LINE_AA)
    for t in range(0, num_frames, max(1, num_frames // 10)):
        _text(plot, str(t), (x_of(t) - 4, PLOT_HEIGHT - 4), 0.3, (90, 90, 90))
    legend = "q (blue)  h (bars)  annotated (red)  worst (ring)"
    if len(curves) == 2:
        legend = "true J&F (green)  " + legend
    (text_w, _), _ = cv2.getTextSize(legend, FONT, 0.33, 1)
    _text(plot, legend, (max(left, right - text_w), PLOT_HEIGHT - 4 if text_w > right // 2 else 14), 0.33)
    return np.concatenate([strip, plot], axis=0)


def render_episode(episode: Any, num_rounds: int, quality_name: str) -> np.ndarray:
    """:func:`render_state` of an environment's episode record (``vos_recommender.envs.episode.Episode``).

    Scribbles of replayed rounds are loaded here (they are stored as loaders), as are the masks.
    """
    n = episode.num_frames
    scribbles = [(frame, s() if callable(s) else s) for frame, s in episode.scribbles]
    title = (
        f"{episode.video.name}  round {episode.round}/{num_rounds}  J&F {float(episode.jf.mean()):.3f}  "
        f"quality: {quality_name}"
    )
    return render_state(
        episode.video.frames,
        episode.result.masks,
        episode.quality[:n],
        episode.counts[:n],
        episode.annotated,
        scribbles,
        jf=episode.jf,
        title=title,
    )
