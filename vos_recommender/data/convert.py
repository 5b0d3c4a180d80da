"""Command line: rewrite a YouTube-VOS split in the DAVIS-2017 layout.

Example::

    python -m vos_recommender.data.convert --src /data/youtube-vos --dst data/ytvos_davis --split train
"""

from __future__ import annotations

import argparse

from vos_recommender.data.youtube_vos import convert_youtube_vos


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and convert."""
    parser = argparse.ArgumentParser(description="Convert a YouTube-VOS split to the DAVIS-2017 layout.")
    parser.add_argument("--src", required=True, help="YouTube-VOS root (holding train/, valid/)")
    parser.add_argument("--dst", required=True, help="output root in the DAVIS layout")
    parser.add_argument("--split", default="train", help="YouTube-VOS split folder to read")
    parser.add_argument("--dst-split", default=None, help="name of the DAVIS split file (default: --split)")
    parser.add_argument("--resolution", default="480p", help="resolution folder name to write")
    parser.add_argument("--max-sequences", type=int, default=None, help="convert only the first N videos")
    parser.add_argument(
        "--skip-unannotated",
        action="store_true",
        help="keep only annotated frames instead of failing on frames without a mask",
    )
    args = parser.parse_args(argv)
    out = convert_youtube_vos(
        args.src,
        args.dst,
        split=args.split,
        dst_split=args.dst_split,
        resolution=args.resolution,
        max_sequences=args.max_sequences,
        require_all_masks=not args.skip_unannotated,
    )
    print(f"wrote DAVIS layout to {out}", flush=True)


if __name__ == "__main__":
    main()
