"""Synthetic video object segmentation data sets in the DAVIS-2017 layout.

The videos come from :mod:`vos_recommender.data.synthesis` (moving textured layers), the three
human-like first-round scribbles per sequence (``Scribbles/<seq>/001.json`` .. ``003.json``, each on a
different frame where the objects are well visible) from :mod:`vos_recommender.interaction.human`. The
output is exactly the DAVIS-2017 layout (see :mod:`vos_recommender.data.davis`). Everything is a
function of ``seed``.

Named generator settings (``--preset``) make a second test distribution, as YouTube-VOS is beside
DAVIS in the paper: ``default`` (the original settings; its output never changes) and ``shifted``
(faster motion, more fast-motion bursts, more crossing distractors, up to four objects, longer videos).
Explicit ``--frames`` / ``--max-objects`` override a preset's values.

Command line::

    python -m vos_recommender.data.generate --out data/davis_synth --num-train 8 --num-val 4
    python -m vos_recommender.data.generate --out data/davis_shifted --preset shifted --num-train 0 --num-val 20
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from vos_recommender.data.davis import write_mask
from vos_recommender.data.synthesis import MotionSettings, SyntheticVideo, synthesize_video
from vos_recommender.interaction.human import human_scribble, pick_scribble_frames
from vos_recommender.interaction.scribbles import save_scribble
from vos_recommender.utils.atomic import atomic_write_json, atomic_write_text

__all__ = [
    "PRESETS",
    "GeneratorPreset",
    "MotionSettings",
    "SyntheticVideo",
    "generate_davis_dataset",
    "generate_sequence",
    "get_preset",
    "human_scribble",
    "synthesize_video",
]

JPEG_QUALITY = 95
NUM_SCRIBBLES = 3


@dataclasses.dataclass(frozen=True)
class GeneratorPreset:
    """Named generator settings: video length, object count and motion.

    Attributes:
        num_frames: Frames per video.
        max_objects: Largest number of annotated objects per video.
        motion: Motion, burst and distractor settings of :func:`synthesize_video`.
    """

    num_frames: int = 25
    max_objects: int = 3
    motion: MotionSettings = MotionSettings()


#: The generator's named settings. ``default`` is what every data set made before presets existed used.
PRESETS: dict[str, GeneratorPreset] = {
    "default": GeneratorPreset(),
    "shifted": GeneratorPreset(
        num_frames=32,
        max_objects=4,
        motion=MotionSettings(speed_scale=1.6, max_bursts=4, min_distractors=1, max_distractors=3),
    ),
}


def get_preset(name: str) -> GeneratorPreset:
    """The preset called ``name``.

    Raises:
        KeyError: If there is none (the message lists the known names).
    """
    if name not in PRESETS:
        raise KeyError(f"unknown generator preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


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


def _clip_to_frame(scribble: dict) -> dict:
    """Clamp stroke points into ``[0, 1]``.

    The smoothed human-like strokes of an object touching the border can overshoot it by a fraction of a
    pixel, which the scribble validation rightly rejects. Points already inside keep their exact values,
    so data sets without such strokes are unchanged byte for byte.
    """
    for strokes in scribble["scribbles"]:
        for stroke in strokes:
            stroke["path"] = [[min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)] for x, y in stroke["path"]]
    return scribble


def generate_sequence(
    root: str | os.PathLike,
    name: str,
    seed: int,
    num_frames: int = 25,
    height: int = 120,
    width: int = 216,
    max_objects: int = 3,
    resolution: str = "480p",
    motion: MotionSettings | None = None,
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
        motion: Motion settings (``None``: the default preset's).

    Returns:
        A small description (objects, events, scribble frames).
    """
    root = Path(root)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    num_objects = int(rng.integers(1, max_objects + 1))
    for _ in range(20):
        video = synthesize_video(rng, num_frames, height, width, num_objects, motion=motion)
        if _video_is_usable(video):
            break
    image_dir = root / "JPEGImages" / resolution / name
    mask_dir = root / "Annotations" / resolution / name
    image_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    for t in range(num_frames):
        _write_jpeg(image_dir / f"{t:05d}.jpg", video.frames[t])
        write_mask(mask_dir / f"{t:05d}.png", video.masks[t])
    frames = pick_scribble_frames(video.masks, num_objects, rng, NUM_SCRIBBLES)
    for idx, frame in enumerate(frames, start=1):
        scribble = _clip_to_frame(human_scribble(video.masks, frame, num_objects, name, rng))
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
    preset: str = "default",
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
        preset: Name of the motion settings in :data:`PRESETS` (``num_frames`` and ``max_objects`` are
            taken as given: the command line fills them from the preset).

    Returns:
        ``root`` as a Path.
    """
    motion = get_preset(preset).motion
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
            generate_sequence(root, name, seed, num_frames, height, width, max_objects, resolution, motion)
        )
    # Frames are written plainly (a crashed run is simply rerun: it replaces the sequence folders);
    # the split files and the record that make the data set usable are written atomically, last.
    for split, members in splits.items():
        atomic_write_text(root / "ImageSets" / "2017" / f"{split}.txt", "".join(f"{n}\n" for n in members))
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
    if preset != "default":  # the default record keeps its original bytes
        info["preset"] = {"name": preset, "motion": dataclasses.asdict(motion)}
    atomic_write_json(root / "generation.json", info, indent=1)
    return root


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output root of the DAVIS-layout data set")
    parser.add_argument("--num-train", type=int, default=8, help="number of training sequences")
    parser.add_argument("--num-val", type=int, default=4, help="number of validation sequences")
    parser.add_argument(
        "--preset", default="default", choices=sorted(PRESETS), help="named generator settings"
    )
    parser.add_argument("--frames", type=int, default=None, help="frames per video (default: the preset's)")
    parser.add_argument("--height", type=int, default=120, help="frame height in pixels")
    parser.add_argument("--width", type=int, default=216, help="frame width in pixels")
    parser.add_argument(
        "--max-objects",
        type=int,
        default=None,
        help="largest number of objects per video (default: the preset's)",
    )
    parser.add_argument("--seed", type=int, default=0, help="master seed")
    parser.add_argument("--resolution", default="480p", help="resolution folder name")
    args = parser.parse_args(argv)
    preset = get_preset(args.preset)
    start = time.perf_counter()
    root = generate_davis_dataset(
        args.out,
        num_train=args.num_train,
        num_val=args.num_val,
        num_frames=args.frames if args.frames is not None else preset.num_frames,
        height=args.height,
        width=args.width,
        max_objects=args.max_objects if args.max_objects is not None else preset.max_objects,
        seed=args.seed,
        resolution=args.resolution,
        preset=args.preset,
    )
    print(
        f"wrote {args.num_train + args.num_val} sequences to {root} in {time.perf_counter() - start:.1f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
