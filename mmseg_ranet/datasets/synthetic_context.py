"""The generated dataset in which object-level context decides the class."""

from __future__ import annotations

import os.path as osp

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .synthetic_classes import CLASSES, PALETTE


@DATASETS.register_module()
class SyntheticContextDataset(BaseSegDataset):
    """Scenes of textured objects whose class is told only by a small coloured cue.

    Written by ``python -m mmseg_ranet.datasets.generate`` in mmseg's standard layout
    (``img_dir/{train,val}``, ``ann_dir/{train,val}``, PNG files with the same stem). Labels are
    ``0`` (background) to ``4``; ``reduce_zero_label`` stays off because background is a real class.
    """

    METAINFO = dict(classes=CLASSES, palette=[list(c) for c in PALETTE])

    def __init__(self, img_suffix: str = ".png", seg_map_suffix: str = ".png", **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=False, **kwargs
        )

    def load_data_list(self) -> list[dict]:
        """Check that the folders exist before listing them, so a missing root gives a useful error."""
        for key in ("img_path", "seg_map_path"):
            folder = self.data_prefix.get(key)
            if folder and not osp.isdir(folder):
                raise FileNotFoundError(
                    f"{type(self).__name__}: the folder {folder!r} ({key}) does not exist. "
                    f"data_root is {self.data_root!r}. Generate the data with "
                    f"`python -m mmseg_ranet.datasets.generate --out {self.data_root or '<data_root>'}` "
                    "or point data_root at an existing copy."
                )
        data_list = super().load_data_list()
        if not data_list:
            raise FileNotFoundError(
                f"{type(self).__name__}: no '*{self.img_suffix}' images found in {self.data_prefix.get('img_path')!r}"
            )
        return data_list
