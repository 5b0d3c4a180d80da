"""Region quality in the tools: logged at validation, printed by tools/test.py and tools/visualize_regions.py."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmseg_ranet.datasets.generate import SceneConfig, generate_dataset

from .train_runs import DEMO, run, small_options

REPO = Path(__file__).resolve().parents[2]
KEYS = ("regions_per_image", "segments_per_image", "asa", "ue", "boundary_recall", "regions_per_segment")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("region_data"),
        2,
        2,
        SceneConfig(size=64, object_radius=(10, 16), cue_radius=2),
    )


def _visualize_tool():
    spec = importlib.util.spec_from_file_location("visualize_regions", REPO / "tools/visualize_regions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_validation_logs_region_quality_and_the_test_tool_prints_it(data_root, tmp_path):
    work = tmp_path / "work"
    trained = run(["tools/train.py", str(DEMO), "--work-dir", str(work), *small_options(data_root, 1)])
    assert trained.returncode == 0, trained.stderr[-3000:]
    log = trained.stdout + trained.stderr
    assert "region/asa" in log and "mIoU" in log
    records = [json.loads(line) for path in work.glob("*/vis_data/scalars.json") for line in path.open()]
    validation = [record for record in records if "region/asa" in record]
    assert len(validation) == 1 and "mIoU" in validation[0]
    assert all(f"region/{key}" in validation[0] for key in KEYS)
    assert 0.0 <= validation[0]["region/asa"] <= 1.0

    tested = run(
        [
            "tools/test.py",
            str(DEMO),
            str(work / "iter_1.pth"),
            "--work-dir",
            str(tmp_path / "test"),
            "--out",
            str(tmp_path / "predictions"),
            *small_options(data_root, 1),
        ]
    )
    assert tested.returncode == 0, tested.stderr[-3000:]
    assert "Region quality (RegionQualityMetric):" in tested.stdout
    assert "achievable segmentation accuracy (ASA)" in tested.stdout and "[region/ue]" in tested.stdout
    # --out goes to IoUMetric of the evaluator list: one prediction file per val image.
    assert len(list((tmp_path / "predictions").glob("*.png"))) == 2


def test_visualize_regions_prints_the_quality_of_one_image(data_root, tmp_path, capsys):
    image = sorted((data_root / "img_dir/val").glob("*.png"))[0]
    label = data_root / "ann_dir/val" / image.name
    tool = _visualize_tool()
    assert tool.main([str(DEMO), str(image), "--label", str(label), "--out", str(tmp_path / "r.png")]) == 0
    out = capsys.readouterr().out
    # Lines of format_region_quality: "<name>  <value>  [<key>]" (other lines are the model's log).
    values = {key: float(value) for value, key in re.findall(r"(\S+)  \[(\w+)\]$", out, re.MULTILINE)}
    assert set(values) == set(KEYS)
    # 64 x 64 pixels on the stride-8 grid: 64 cells, none ignored, so regions <= 64.
    assert 1 <= values["regions_per_image"] <= 64 and 0.0 <= values["asa"] <= 1.0
    ratio = values["regions_per_image"] / values["segments_per_image"]
    assert values["regions_per_segment"] == pytest.approx(ratio, abs=1e-4)


def test_visualize_regions_names_a_label_that_is_no_class_map(data_root, tmp_path, capsys):
    image = sorted((data_root / "img_dir/val").glob("*.png"))[0]
    colour = tmp_path / "colour.png"
    cv2.imwrite(str(colour), np.zeros((64, 64, 3), dtype=np.uint8) + (0, 0, 255))
    tool = _visualize_tool()
    with pytest.raises(SystemExit):
        tool.main([str(DEMO), str(image), "--label", str(colour), "--out", str(tmp_path / "r.png")])
    assert "must be a single-channel class-index map, got shape (64, 64, 3)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main([str(DEMO), str(image), "--label", str(tmp_path / "none.png")])
    assert "label file not found" in capsys.readouterr().err


def test_region_links_counts_every_neighbour_pair_once(data_root, capsys):
    from benchmarks import region_links

    config = str(REPO / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions.py")
    counts = region_links.link_counts(config, None, data_root, num=2)
    # 64x64 images give an 8x8 region grid: 2 images x (2 * 8 * 7 + 2 * 7 * 7) = 2 x 210 neighbour pairs,
    # minus those touching ignored cells (none in generated labels).
    assert counts["images"] == 2 and counts["cross"] + counts["inside"] == 2 * 210
    assert 0 <= counts["cross_linked"] <= counts["cross"] and 0 <= counts["inside_linked"] <= counts["inside"]
    assert region_links.main([config, "none", str(data_root), "--num", "1"]) == 0
    assert "pairs across segments" in capsys.readouterr().out
