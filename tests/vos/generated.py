"""Small generated DAVIS-layout video sets for the tests, loaded the way users load them."""

from __future__ import annotations

from pathlib import Path


def generated_videos(folder: Path, split: str = "train", **settings) -> list:
    """Write a generated dataset to ``folder`` (``generate_davis_dataset`` settings) and load ``split``."""
    from vos_recommender.data.davis import DavisDataset
    from vos_recommender.data.generate import generate_davis_dataset

    root = generate_davis_dataset(folder, **settings)
    dataset = DavisDataset(root, split=split)
    return [dataset[i] for i in range(len(dataset.sequences))]
