"""RegionQualityMetric on data samples, and RANet's region map reaching it through RegionEncoderDecoder."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine import Config, ConfigDict
from mmengine.evaluator import Evaluator
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import METRICS, MODELS
from mmseg.structures import SegDataSample

import mmseg_ranet  # noqa: F401
from mmseg_ranet.evaluation import RegionQualityMetric, label_on_grid
from mmseg_ranet.models.segmentors import image_region_map

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py"
FCN = REPO / "configs/fcn/fcn_r18-d8_1xb8-600_synthetic-128x128.py"
REGION_KEYS = {
    f"region/{key}"
    for key in (
        "regions_per_image",
        "segments_per_image",
        "asa",
        "ue",
        "boundary_recall",
        "regions_per_segment",
    )
}


def _sample(regions: np.ndarray, label: np.ndarray) -> dict:
    sample = SegDataSample()
    sample.pred_regions = PixelData(data=torch.as_tensor(regions)[None])
    sample.gt_sem_seg = PixelData(data=torch.as_tensor(label)[None])
    return sample.to_dict()


def test_label_on_grid_samples_cell_centres():
    label = np.arange(64).reshape(8, 8)
    # 2 x 2 cells of 4 x 4 pixels: centres at pixels 2 and 6 of each axis.
    assert label_on_grid(label, (2, 2)).tolist() == [[18, 22], [50, 54]]
    # A grid finer than the label repeats the label's pixels.
    assert label_on_grid(np.array([[1, 2]]), (1, 4)).tolist() == [[1, 1, 2, 2]]


def test_metric_averages_images_and_skips_all_ignored_ones():
    label = np.tile([0, 0, 0, 1], (4, 1))
    # Labels at 8 pixels per cell, as a stride-8 head sees them; sampled back to the 4 x 4 grid.
    full_label = np.kron(label, np.ones((8, 8), dtype=np.int64))
    one_region = np.zeros((4, 4), dtype=np.int64)
    one_per_cell = np.arange(16).reshape(4, 4)
    metric = RegionQualityMetric()
    metric.process({}, [_sample(one_region, full_label), _sample(one_per_cell, full_label)])
    metric.process({}, [_sample(one_region, np.full((32, 32), 255))])
    metrics = metric.evaluate(3)
    # One region (test_region_quality): ASA 0.75, UE 0.5, BR 0, 1 region, 2 segments, 0.5 per segment.
    # One region per cell: ASA 1, UE 0, BR 1, 16 regions, 2 segments, 8 per segment. The all-ignored
    # image is in no average: ASA (0.75 + 1) / 2 = 0.875, UE 0.25, BR 0.5, 8.5 regions, 2 segments, 4.25.
    assert set(metrics) == REGION_KEYS
    assert metrics["region/asa"] == 0.875 and metrics["region/ue"] == 0.25
    assert metrics["region/boundary_recall"] == 0.5 and metrics["region/regions_per_image"] == 8.5
    assert metrics["region/segments_per_image"] == 2.0 and metrics["region/regions_per_segment"] == 4.25


def test_boundary_recall_is_averaged_over_images_with_gt_boundaries():
    metric = RegionQualityMetric()
    # The first label is one segment (no GT boundary: BR undefined); the second image has BR 1.
    metric.process({}, [_sample(np.zeros((2, 2), dtype=np.int64), np.zeros((2, 2), dtype=np.int64))])
    metric.process({}, [_sample(np.array([[0, 1], [0, 1]]), np.array([[0, 1], [0, 1]]))])
    assert metric.evaluate(2)["region/boundary_recall"] == 1.0
    metric.process({}, [_sample(np.zeros((2, 2), dtype=np.int64), np.zeros((2, 2), dtype=np.int64))])
    assert math.isnan(metric.evaluate(1)["region/boundary_recall"])


def test_metric_names_a_missing_region_map_and_bad_arguments():
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.zeros(1, 4, 4, dtype=torch.long))
    with pytest.raises(KeyError, match="no 'pred_regions'.*RegionEncoderDecoder.*slide"):
        RegionQualityMetric().process({}, [sample.to_dict()])
    with pytest.raises(ValueError, match=r"'pred_regions' must be a \(1, H, W\) or \(H, W\) map"):
        RegionQualityMetric().process({}, [{"pred_regions": {"data": torch.zeros(2, 3, 3)}}])
    with pytest.raises(ValueError, match="tolerance must be an int >= 0"):
        METRICS.build(dict(type="RegionQualityMetric", tolerance=-1))


def test_image_region_map_removes_padding_and_undoes_flips():
    region = torch.arange(24).view(4, 6)
    # Input 32 x 48 on a 4 x 6 grid (8 px cells). Padding of 8 px right and 4 px bottom: the last column
    # is padding only and goes; the bottom row of cells is half image (pixels 24-27) and stays. With
    # 12 px bottom the image ends at pixel 20, inside the third row of cells: three rows stay.
    meta = dict(padding_size=[0, 8, 0, 4])
    assert image_region_map(region, meta, (32, 48)).tolist() == region[:, :5].tolist()
    meta = dict(img_padding_size=[0, 8, 0, 12], flip=True, flip_direction="horizontal")
    assert image_region_map(region, meta, (32, 48)).tolist() == region[:3, :5].flip(1).tolist()
    meta = dict(flip=True, flip_direction="vertical")
    assert image_region_map(region, meta, (32, 48)).tolist() == region.flip(0).tolist()


def _build(**test_cfg):
    init_default_scope("mmseg")
    cfg = Config.fromfile(str(SMALL))
    # Pad test inputs to a multiple of 16 so that the region grid has padding cells to remove.
    cfg.model.data_preprocessor.size = None
    cfg.model.data_preprocessor.test_cfg = dict(size_divisor=16)
    cfg.model.test_cfg = dict(mode="whole", **test_cfg)
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    return model.eval()


def _data(size=(40, 56), batch=2) -> dict:
    generator = torch.Generator().manual_seed(3)
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        label = torch.zeros(1, *size, dtype=torch.long)
        label[:, 8:30, 10:40] = 1 + torch.randint(0, 4, (1,), generator=generator)
        sample.gt_sem_seg = PixelData(data=label)
        sample.set_metainfo(dict(img_shape=size, ori_shape=size))
        samples.append(sample)
    images = [torch.rand(3, *size, generator=generator) * 255 for _ in range(batch)]
    return dict(inputs=images, data_samples=samples)


def test_val_and_test_step_feed_the_metric_from_one_forward(monkeypatch):
    model = _build()
    head = model.decode_head
    calls = []
    forward_regions = head.forward_regions

    def counted(inputs):
        outputs = forward_regions(inputs)
        calls.append(outputs.num_regions)
        return outputs

    monkeypatch.setattr(head, "forward_regions", counted)
    evaluator = Evaluator([dict(type="IoUMetric", iou_metrics=["mIoU"]), dict(type="RegionQualityMetric")])
    evaluator.dataset_meta = dict(classes=[f"c{i}" for i in range(5)])
    with torch.no_grad():
        for step in (model.val_step, model.test_step):
            outputs = step(_data())
            evaluator.process(data_samples=outputs, data_batch=None)
    # One head pass per step; 40 x 56 padded to 48 x 64 gives a 6 x 8 grid, of which 5 x 7 is the image.
    assert len(calls) == 2
    assert [tuple(o.pred_regions.data.shape) for o in outputs] == [(1, 5, 7)] * 2
    assert outputs[0].pred_sem_seg.data.shape == (1, 40, 56)
    assert head.predicted_regions is None
    unique = [len(torch.unique(o.pred_regions.data)) for o in outputs]
    assert all(n <= int(k) for n, k in zip(unique, calls[-1]))
    metrics = evaluator.evaluate(4)
    assert REGION_KEYS | {"aAcc", "mIoU"} <= set(metrics)
    assert 0.0 <= metrics["region/asa"] <= 1.0 and 0.0 <= metrics["region/ue"] <= 1.0
    assert metrics["region/regions_per_image"] >= 1.0 and metrics["region/segments_per_image"] == 2.0


def test_slide_inference_attaches_no_region_map():
    model = _build()
    model.test_cfg = ConfigDict(mode="slide", crop_size=(32, 32), stride=(24, 24))
    with torch.no_grad():
        outputs = model.val_step(_data(batch=1))
    assert "pred_regions" not in outputs[0] and model.decode_head.predicted_regions is None
    with pytest.raises(KeyError, match="slide inference has no single region map"):
        RegionQualityMetric().process({}, [outputs[0].to_dict()])


def test_region_encoder_decoder_needs_a_head_that_keeps_regions():
    init_default_scope("mmseg")
    cfg = Config.fromfile(str(FCN))
    cfg.model.type = "RegionEncoderDecoder"
    with pytest.raises(TypeError, match="needs a decode head that keeps its region map.*got FCNHead"):
        MODELS.build(cfg.model)


def test_small_ranet_config_evaluates_regions_beside_miou():
    cfg = Config.fromfile(str(SMALL))
    assert cfg.model.type == "RegionEncoderDecoder"
    assert [m["type"] for m in cfg.val_evaluator] == ["IoUMetric", "RegionQualityMetric"]
    assert cfg.test_evaluator == cfg.val_evaluator
