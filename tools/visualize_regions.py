"""Draw what RANet's region blocks see for one image: regions, representatives, boundary map, prediction.

    python tools/visualize_regions.py CONFIG IMAGE [--checkpoint CKPT] [--out regions.png] [--label LABEL]

Four panels side by side: the input with the representative pixels, the regions (a random colour per
region) with the representatives, the boundary probability b of the stage-3 branch and the prediction.
Regions, representatives and b live on the head's stride-8 grid and are drawn at image size. Without a
checkpoint the model keeps its initial weights (useful to check the plumbing, not to read the regions).
With ``--label`` (the image's class-index map) it also prints the region quality of the image: regions,
GT segments, ASA, UE, boundary recall and regions per segment, as ``RegionQualityMetric`` measures them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

# mmseg, mmcv and matplotlib are imported where they are used, so that bad arguments fail fast.


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description="Visualise RANet regions, representatives and boundaries")
    parser.add_argument("config", help="config file of a model with a RANetHead")
    parser.add_argument("image", help="input image file")
    parser.add_argument(
        "--checkpoint", help="trained checkpoint (optional; without it the initial weights are used)"
    )
    parser.add_argument("--out", default="regions.png", help="output PNG path (default: regions.png)")
    parser.add_argument(
        "--max-side",
        type=int,
        default=769,
        help="resize the image so that its longer side is at most this (the pairwise tables grow with the "
        "square of the pixel count; default 769)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random region colours")
    parser.add_argument(
        "--label", help="class-index label map of the image (optional): print the regions' quality against it"
    )
    parser.add_argument(
        "--tolerance", type=int, default=1, help="boundary recall tolerance in region-grid cells (default 1)"
    )
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, help="override settings in the config")
    return parser.parse_args(argv)


def _fail(message: str) -> None:
    print(f"visualize_regions: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def build_model(config: str, checkpoint: str | None, cfg_options: dict | None = None):
    """Build the segmentor of ``config`` on the CPU in eval mode, with ``checkpoint`` loaded if given."""
    from mmengine.config import Config
    from mmengine.model.utils import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmseg.registry import MODELS

    import mmseg_ranet  # noqa: F401  (registers RANetHead and the plugin's transforms)

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get("default_scope", "mmseg"))
    if checkpoint is not None or cfg.model.get("pretrained"):
        # Trained or pretrained weights come from the checkpoint; never try to download.
        cfg.model.pretrained = None
        cfg.model.backbone.init_cfg = None
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    if type(model.decode_head).__name__ != "RANetHead":
        _fail(f"the config's decode head is {type(model.decode_head).__name__}, not RANetHead")
    if checkpoint is not None:
        from mmseg_ranet.utils.checkpoint import register_checkpoint_io

        register_checkpoint_io()
        # strict: a checkpoint of another architecture must fail, not leave layers at random values.
        load_checkpoint(model, checkpoint, map_location="cpu", strict=True)
    else:
        model.init_weights()
    model.cfg = cfg
    return model.eval()


def region_views(model, image_bgr: np.ndarray) -> dict[str, np.ndarray]:
    """Run the model on one BGR image; return the image-size views drawn by :func:`draw`."""
    import torch

    from mmseg_ranet.models.segmentors import image_region_map

    height, width = image_bgr.shape[:2]
    inputs = torch.from_numpy(np.ascontiguousarray(image_bgr.transpose(2, 0, 1)))
    data = model.data_preprocessor(dict(inputs=[inputs]), training=False)
    batch = data["inputs"]
    with torch.no_grad():
        outputs = model.decode_head.forward_regions(model.extract_feat(batch))
    grid_h, grid_w = outputs.region.shape[1:]
    padded_h, padded_w = batch.shape[2:]

    def to_image(grid: torch.Tensor, mode: str) -> np.ndarray:
        kwargs = {} if mode == "nearest" else dict(align_corners=False)
        full = torch.nn.functional.interpolate(
            grid[None, None].float(), size=(padded_h, padded_w), mode=mode, **kwargs
        )
        return full[0, 0, :height, :width].numpy()

    logits = torch.nn.functional.interpolate(outputs.seg_logits, size=(padded_h, padded_w), mode="bilinear")
    reps = outputs.representatives
    rep_pixels = reps.pixel[0][reps.valid[0]]
    # Representative centres in image coordinates (grid cell centres scaled to the padded input).
    rep_y = (rep_pixels // grid_w).float().add(0.5).mul(padded_h / grid_h).numpy()
    rep_x = (rep_pixels % grid_w).float().add(0.5).mul(padded_w / grid_w).numpy()
    inside = (rep_y < height) & (rep_x < width)
    return dict(
        regions=to_image(outputs.region[0], "nearest").astype(np.int64),
        region_grid=image_region_map(
            outputs.region[0],
            dict(padding_size=[0, padded_w - width, 0, padded_h - height]),
            (padded_h, padded_w),
        ).numpy(),
        num_regions=np.array(int(outputs.num_regions[0])),
        boundary=to_image(outputs.boundary_prob[0], "bilinear"),
        prediction=logits[0, :, :height, :width].argmax(0).numpy(),
        rep_y=rep_y[inside],
        rep_x=rep_x[inside],
    )


def draw(image_bgr: np.ndarray, views: dict[str, np.ndarray], out: Path, palette=None, seed: int = 0) -> Path:
    """Save the four panels as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    region_colours = rng.integers(0, 256, size=(int(views["num_regions"]) + 1, 3), dtype=np.uint8)
    prediction = views["prediction"]
    if palette is None or len(palette) <= int(prediction.max()):
        palette = (plt.get_cmap("tab20")(np.arange(int(prediction.max()) + 1) % 20)[:, :3] * 255).astype(
            np.uint8
        )
    palette = np.asarray(palette, dtype=np.uint8)
    rgb = image_bgr[..., ::-1]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.4))
    panels = [
        (rgb, "input + representatives", True),
        (region_colours[views["regions"]], f"regions ({int(views['num_regions'])}) + representatives", True),
        (views["boundary"], "boundary probability b", False),
        (palette[prediction], "prediction", False),
    ]
    for ax, (picture, title, with_reps) in zip(axes, panels):
        if picture.ndim == 2:
            shown = ax.imshow(picture, cmap="magma", vmin=0.0, vmax=1.0)
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        else:
            ax.imshow(picture)
        if with_reps:
            ax.scatter(views["rep_x"], views["rep_y"], s=14, c="white", edgecolors="black", linewidths=0.6)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    import io

    from mmseg_ranet.utils.atomic import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(buffer.getvalue(), out)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    files = (
        ("config", args.config),
        ("image", args.image),
        ("checkpoint", args.checkpoint),
        ("label", args.label),
    )
    for name, path in files:
        if path is not None and not Path(path).is_file():
            _fail(f"{name} file not found: {path}")
    if args.max_side < 8:
        _fail(f"--max-side must be >= 8, got {args.max_side}")
    if args.tolerance < 0:
        _fail(f"--tolerance must be >= 0 cells, got {args.tolerance}")
    import mmcv

    image = mmcv.imread(args.image)
    if image is None:
        _fail(f"could not read the image file {args.image}")
    scale = args.max_side / max(image.shape[:2])
    if scale < 1:
        image = mmcv.imrescale(image, scale)
    model = build_model(args.config, args.checkpoint, args.cfg_options)
    views = region_views(model, image)
    palette = model.cfg.get("metainfo", {}).get("palette") if hasattr(model, "cfg") else None
    if palette is None:
        dataset = model.cfg.get("train_dataloader", {}).get("dataset", {})
        palette = _dataset_palette(dataset.get("type"))
    out = draw(image, views, Path(args.out), palette, args.seed)
    print(f"wrote {out} ({int(views['num_regions'])} regions, {len(views['rep_x'])} representatives)")
    if args.label is not None:
        print(label_quality(args.label, views["region_grid"], model.decode_head.ignore_index, args.tolerance))
    return 0


def label_quality(label_path: str, region_grid: np.ndarray, ignore_index: int, tolerance: int = 1) -> str:
    """The region quality of one image against its label file, formatted one measure a line."""
    import mmcv

    from mmseg_ranet.evaluation import format_region_quality, label_on_grid, region_quality

    # Pillow, as mmseg's LoadAnnotations: it keeps a palette PNG's indices where OpenCV would give colours.
    label = mmcv.imread(label_path, flag="unchanged", backend="pillow")
    if label is None or label.ndim != 2:
        shape = None if label is None else label.shape
        _fail(f"the label file {label_path} must be a single-channel class-index map, got shape {shape}")
    # The label is sampled at the cell centres of the whole image: the region grid covers it at any scale.
    quality = region_quality(region_grid, label_on_grid(label, region_grid.shape), ignore_index, tolerance)
    return f"region quality against {label_path}:\n{format_region_quality(quality)}"


def _dataset_palette(dataset_type: str | None):
    if not dataset_type:
        return None
    from mmseg.registry import DATASETS

    dataset_cls = DATASETS.get(dataset_type)
    return None if dataset_cls is None else dataset_cls.METAINFO.get("palette")


if __name__ == "__main__":
    sys.exit(main())
