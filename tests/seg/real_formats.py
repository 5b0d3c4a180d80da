"""Write a handful of files laid out exactly like the real datasets (names, folders, label encodings).

Used to check that the dataset configs' pipelines load a user's real copy. Content is random; the layout
and encodings are the real ones:

* Cityscapes: ``leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png`` and
  ``gtFine/<split>/<city>/..._gtFine_labelTrainIds.png`` (train ids 0..18, 255 = ignore), as written by
  mmseg's ``tools/dataset_converters/cityscapes.py``.
* PASCAL Context 59: ``JPEGImages/<id>.jpg``, ``SegmentationClassContext/<id>.png`` (0 = background,
  1..59 = classes; ``reduce_zero_label`` maps them to 255 and 0..58), ``ImageSets/SegmentationContext/<split>.txt``.
* COCO-Stuff 164k: ``images/<split>2017/<id>.jpg`` and ``annotations/<split>2017/<id>_labelTrainIds.png``
  (0..170, 255 = ignore), as written by mmseg's ``tools/dataset_converters/coco_stuff164k.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def _image(rng, h, w):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _labels(rng, h, w, values, ignore=True):
    lab = rng.choice(np.asarray(values, np.uint8), size=(h, w))
    if ignore:
        lab[: h // 8] = 255
    return lab


def write_cityscapes(root: Path, n: int = 2, h: int = 64, w: int = 128, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for i in range(n):
            city = "aachen" if split == "train" else "frankfurt"
            stem = f"{city}_{i:06d}_000019"
            img = root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"
            ann = root / "gtFine" / split / city / f"{stem}_gtFine_labelTrainIds.png"
            img.parent.mkdir(parents=True, exist_ok=True)
            ann.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(img), _image(rng, h, w))
            cv2.imwrite(str(ann), _labels(rng, h, w, range(19)))
    return root


def write_pascal_context(root: Path, n: int = 2, h: int = 60, w: int = 80, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "SegmentationClassContext").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "SegmentationContext").mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        ids = [f"2008_{split}{i:04d}" for i in range(n)]
        (root / "ImageSets" / "SegmentationContext" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for name in ids:
            cv2.imwrite(str(root / "JPEGImages" / f"{name}.jpg"), _image(rng, h, w))
            cv2.imwrite(
                str(root / "SegmentationClassContext" / f"{name}.png"), _labels(rng, h, w, range(60), False)
            )
    return root


def write_coco_stuff164k(root: Path, n: int = 2, h: int = 48, w: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split in ("train2017", "val2017"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "annotations" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            name = f"{i:012d}"
            cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), _image(rng, h, w))
            cv2.imwrite(
                str(root / "annotations" / split / f"{name}_labelTrainIds.png"),
                _labels(rng, h, w, range(171)),
            )
    return root


WRITERS = {
    "CityscapesDataset": (write_cityscapes, 19),
    "PascalContextDataset59": (write_pascal_context, 59),
    "COCOStuffDataset": (write_coco_stuff164k, 171),
}
