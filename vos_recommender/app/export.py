"""Export a session in the DAVIS-2017 layout, readable by :class:`~vos_recommender.data.davis.DavisDataset`.

::

    <out>/JPEGImages/480p/<seq>/00000.jpg ...     the frames
    <out>/Annotations/480p/<seq>/00000.png ...    the masks, palette PNGs (pixel value = object id)
    <out>/Scribbles/<seq>/001.json ...            the k-th round with strokes as 00k.json (DAVIS scribble
                                                  format; rounds of masks edited by hand only have none)
    <out>/ImageSets/2017/val.txt                  the sequence name
    <out>/objects.json                            the objects' ids and names, round and edited frames

Frames are renumbered ``00000 ...`` in their display order (the original names are in ``objects.json``).
Every file is written atomically; ``val.txt``, which makes the folder a data set, is written last.

A request to the app may export only into a folder under the session folder (not into the session's own
files) or under the ``--export-root`` given on the command line (:func:`export_folder`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PIL import Image

from vos_recommender.app.errors import AppForbiddenError, AppInputError
from vos_recommender.app.state import SESSION_ENTRIES, SessionState
from vos_recommender.app.video import AppVideo
from vos_recommender.data.davis import write_mask
from vos_recommender.interaction.scribbles import save_scribble
from vos_recommender.utils.atomic import atomic_path, atomic_write_json, atomic_write_text

__all__ = ["export_davis", "export_folder"]


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def export_folder(
    out: str | os.PathLike | None,
    session_dir: str | os.PathLike,
    export_root: str | os.PathLike | None = None,
) -> Path:
    """The folder an export asked for by a request goes to, once checked.

    Args:
        out: The requested folder; None: ``<session>/export``. A relative path is taken from the session
            folder.
        session_dir: The session folder.
        export_root: A folder given on the command line that exports may also go under, or None.

    Returns:
        The folder, resolved (symbolic links followed).

    Raises:
        AppForbiddenError: If it is outside both folders, one of the session's own files, or not writable.
        AppInputError: If it is an existing file.
    """
    session = Path(session_dir).resolve()
    folder = (session / (out if out is not None else "export")).resolve()
    roots = [session] + ([Path(export_root).resolve()] if export_root is not None else [])
    inside_session = _under(folder, session) and folder != session
    if folder == session or (inside_session and folder.relative_to(session).parts[0] in SESSION_ENTRIES):
        raise AppForbiddenError(
            f"export: {folder} is the session folder or one of its own files; choose a folder inside it"
        )
    if not inside_session and not (export_root is not None and _under(folder, roots[1])):
        allowed = " or ".join(str(r) for r in roots)
        hint = (
            "" if export_root is not None else " (start the app with --export-root DIR to export elsewhere)"
        )
        raise AppForbiddenError(f"export: {out!s} is outside the folders exports may go to ({allowed}){hint}")
    if folder.exists() and not folder.is_dir():
        raise AppInputError(f"export: {folder} is an existing file; give a folder")
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise AppForbiddenError(f"export: cannot write into {folder} ({existing} is not a writable folder)")
    return folder


def export_davis(
    video: AppVideo, state: SessionState, out: str | os.PathLike, split: str = "val"
) -> dict[str, Any]:
    """Write the frames, the latest masks and every round's scribble in the DAVIS layout.

    Args:
        video: The session's video.
        state: The session (needs masks: at least one round run, or starting masks).
        out: Output root (created; an existing export of the same sequence is overwritten file by file).
        split: Name of the ``ImageSets/2017`` split file listing the sequence.

    Returns:
        ``{"root", "sequence", "frames", "masks", "scribbles"}``.

    Raises:
        AppInputError: If there are no masks yet.
    """
    if state.masks is None:
        raise AppInputError("nothing to export yet: run at least one round first")
    root, seq = Path(out), video.name
    frames_dir = root / "JPEGImages" / "480p" / seq
    masks_dir = root / "Annotations" / "480p" / seq
    for t, (frame, mask) in enumerate(zip(video.frames, state.masks)):
        with atomic_path(frames_dir / f"{t:05d}.jpg", suffix=".jpg") as tmp:
            Image.fromarray(frame, mode="RGB").save(tmp, format="JPEG", quality=95)
        with atomic_path(masks_dir / f"{t:05d}.png", suffix=".png") as tmp:
            write_mask(tmp, mask)
    scribble_dir = root / "Scribbles" / seq
    scribbled = [r for r in state.rounds if r.has_strokes]  # a round of edited masks only has no scribble
    for index, round_ in enumerate(scribbled, start=1):
        save_scribble(scribble_dir / f"{index:03d}.json", {**round_.scribble, "sequence": seq})
    atomic_write_json(
        root / "objects.json",
        {
            "sequence": seq,
            "objects": [{"id": o.id, "name": o.name} for o in state.objects],
            "frame_names": video.frame_names,
            "rounds": [r.frame for r in state.rounds],
            "edited_frames": sorted({t for r in state.rounds for t in r.annotations} | set(state.edited)),
        },
        indent=1,
    )
    split_file = root / "ImageSets" / "2017" / f"{split}.txt"
    listed = split_file.read_text(encoding="utf-8").split() if split_file.is_file() else []
    if seq not in listed:
        listed.append(seq)
    atomic_write_text(split_file, "".join(f"{name}\n" for name in listed))
    return {
        "root": str(root),
        "sequence": seq,
        "frames": len(video.frames),
        "masks": len(state.masks),
        "scribbles": len(scribbled),
    }
