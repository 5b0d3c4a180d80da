"""Where a trained RANet's region decision goes wrong: links across and cuts inside ground-truth segments.

Regions are connected components of the decision G, so one link between two ground-truth segments merges
them. For every pair of 8-neighbours on the region grid of the val images this counts the pairs that cross a
ground-truth segment border (the region metric's segments) and how many of them the head links
(G_ij = 1, margin > 0), and the pairs inside a segment and how many it links::

    python benchmarks/region_links.py CONFIG CHECKPOINT DATA_ROOT [--num 60]

Prints one table row; needs a head with a 1x1 W^g (``RegionConstructionBlock.pair_margins``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import markdown_table  # noqa: E402


def _visualize_tool():
    spec = importlib.util.spec_from_file_location(
        "visualize_regions", ROOT / "tools" / "visualize_regions.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def link_counts(config: str, checkpoint: str | None, data_root: Path, num: int) -> dict:
    """Counts of cross-segment and inside-segment 8-neighbour pairs and of those the decision links."""
    import cv2
    import numpy as np
    import torch

    from mmseg_ranet.models.decode_heads.region_partition_loss import grid_segments, neighbour_pairs

    model = _visualize_tool().build_model(config, checkpoint)
    head = model.decode_head
    images = sorted((data_root / "img_dir" / "val").glob("*.png"))[:num]
    if not images:
        raise FileNotFoundError(f"no val images under {data_root / 'img_dir' / 'val'}")
    counts = dict(images=len(images), cross=0, cross_linked=0, inside=0, inside_linked=0)
    for path in images:
        label_path = data_root / "ann_dir" / "val" / path.name
        label = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
        if label is None:
            raise FileNotFoundError(f"label {label_path} missing or unreadable")
        image = cv2.imread(str(path))
        inputs = torch.from_numpy(image.transpose(2, 0, 1).copy())
        batch = model.data_preprocessor(dict(inputs=[inputs]), training=False)["inputs"]
        with torch.no_grad():
            out = head.forward_regions(model.extract_feat(batch))
            height, width = out.stage3_logits.shape[2:]
            segments = grid_segments(
                torch.from_numpy(label.astype(np.int64))[None, None], (height, width), 255
            )
            source, target = neighbour_pairs(height, width)
            margin = head.region_construction.pair_margins(
                out.stage3_logits, out.stage3_boundary_logits, torch.zeros_like(source), source, target
            )
        a, b = segments[0, source], segments[0, target]
        valid, linked = (a >= 0) & (b >= 0), margin > 0
        cross, inside = valid & (a != b), valid & (a == b)
        counts["cross"] += int(cross.sum())
        counts["cross_linked"] += int((cross & linked).sum())
        counts["inside"] += int(inside.sum())
        counts["inside_linked"] += int((inside & linked).sum())
    return counts


def table(counts: dict) -> str:
    cross, inside = max(counts["cross"], 1), max(counts["inside"], 1)
    row = [
        counts["images"],
        counts["cross"],
        f"{counts['cross_linked']} ({counts['cross_linked'] / cross:.3f})",
        f"{counts['cross_linked'] / counts['images']:.1f}",
        counts["inside"],
        f"{counts['inside_linked']} ({counts['inside_linked'] / inside:.3f})",
    ]
    headers = ["images", "pairs across segments", "linked (fraction)", "linked per image"]
    headers += ["pairs inside segments", "linked (fraction)"]
    return markdown_table(headers, [row])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("checkpoint", help="trained checkpoint ('none' for the initial weights)")
    parser.add_argument("data_root", type=Path, help="generated dataset root (img_dir/val, ann_dir/val)")
    parser.add_argument("--num", type=int, default=60, help="val images to use")
    args = parser.parse_args(argv)
    checkpoint = None if args.checkpoint == "none" else args.checkpoint
    print(table(link_counts(args.config, checkpoint, args.data_root, args.num)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
