"""The oracle ablation force_regions='ground_truth': regions from the label, in the ops, the block and the
segmentor that hands the label to the head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine import Config
from mmengine.evaluator import Evaluator
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_ranet  # noqa: F401
from mmseg_ranet.models.decode_heads.region_construction import RegionConstructionBlock
from mmseg_ranet.models.ops import (
    RegionScoreSpec,
    ground_truth_regions,
    region_representativeness,
    streamed_region_scores,
)

REPO = Path(__file__).resolve().parents[2]
ORACLE = (
    REPO
    / "configs/ranet/ablations/ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions_forced-ground-truth.py"
)
PAPER_ORACLE = REPO / "configs/ranet/ablations/ranet_r18-d8_1xb8-600_synthetic-128x128_forced-ground-truth.py"


def test_regions_are_the_components_of_each_class_on_the_grid():
    label = torch.tensor(
        [
            [1, 1, 0, 2, 2, 2],
            [1, 1, 0, 2, 2, 2],
            [0, 0, 0, 0, 0, 0],
            [1, 1, 0, 255, 255, 0],
        ]
    )
    # One cell per 2 x 2 pixels would sample centres; here the grid is the label itself.
    regions = ground_truth_regions(label[None], (4, 6))[0].view(4, 6)
    # Two separate blobs of class 1 are two regions, class 0 is one 8-connected region (it wraps the
    # blobs), class 2 one, the ignored cells one more: 5 regions, ids contiguous from 0.
    assert int(regions.max()) + 1 == 5
    same = lambda a, b: bool(regions[a] == regions[b])  # noqa: E731
    assert same((0, 0), (1, 1)) and not same((0, 0), (3, 0))
    assert same((0, 2), (3, 5)) and same((0, 3), (1, 5)) and same((3, 3), (3, 4))
    assert len({int(regions[p]) for p in [(0, 0), (3, 0), (0, 2), (0, 3), (3, 3)]}) == 5
    # On a coarser grid each cell takes the label at its centre, as RegionQualityMetric does.
    coarse = ground_truth_regions(label[None].repeat(2, 1, 1), (2, 3))
    assert coarse.shape == (2, 6) and torch.equal(coarse[0], coarse[1])
    with pytest.raises(ValueError, match=r"labels must have shape \(B, H, W\)"):
        ground_truth_regions(label, (4, 6))


@pytest.mark.parametrize("stream", [True, False])
def test_block_uses_the_given_regions_and_their_gradients_flow(stream):
    init_default_scope("mmseg")
    generator = torch.Generator().manual_seed(5)
    class_logits = torch.randn(2, 4, 6, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    boundary_logits = torch.randn(2, 2, 6, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    label = torch.randint(0, 3, (2, 12, 12), generator=generator)
    given = ground_truth_regions(label, (6, 6))
    block = RegionConstructionBlock(dict(force_regions="ground_truth", stream_tables=stream)).double()
    _, j_values, region, counts = block(class_logits, boundary_logits, given)
    assert torch.equal(region, given) and torch.equal(counts, given.max(1).values + 1)
    # The reference: the dense decision table's region means over the given regions.
    dense = RegionConstructionBlock(dict(force_regions="ground_truth", stream_tables=False)).double()
    dense.load_state_dict(block.state_dict())
    _, _, decision, _, _, _ = dense.dense_tables(class_logits, boundary_logits, given)
    expected = region_representativeness(decision, given)
    torch.testing.assert_close(j_values, expected)
    upstream = torch.randn(j_values.shape, generator=generator, dtype=torch.float64)
    grads = torch.autograd.grad((j_values * upstream).sum(), (class_logits, boundary_logits))
    expected_grads = torch.autograd.grad((expected * upstream).sum(), (class_logits, boundary_logits))
    for grad, expected_grad in zip(grads, expected_grads):
        assert grad.abs().sum() > 0
        torch.testing.assert_close(grad, expected_grad)


def test_streamed_scores_need_given_regions_exactly_with_the_oracle():
    boundary, log_probs = torch.rand(1, 3, 3), torch.randn(1, 2, 9).log_softmax(1)
    with pytest.raises(
        ValueError, match="given_regions must be passed exactly when force_regions='ground_truth'"
    ):
        streamed_region_scores(boundary, log_probs, RegionScoreSpec(force_regions="ground_truth"))
    with pytest.raises(ValueError, match="given_regions must be passed exactly"):
        streamed_region_scores(
            boundary, log_probs, RegionScoreSpec(), given_regions=torch.zeros(1, 9, dtype=torch.long)
        )
    with pytest.raises(ValueError, match=r"given_regions must have shape \(B, N\) = \(1, 9\)"):
        streamed_region_scores(
            boundary,
            log_probs,
            RegionScoreSpec(force_regions="ground_truth"),
            given_regions=torch.zeros(1, 8, dtype=torch.long),
        )


def _oracle_model(config: Path = ORACLE, **test_cfg):
    init_default_scope("mmseg")
    cfg = Config.fromfile(str(config))
    cfg.model.data_preprocessor.size = None
    cfg.model.data_preprocessor.size_divisor = 16  # training batches are padded too (labels with 255)
    cfg.model.data_preprocessor.test_cfg = dict(size_divisor=16)
    cfg.model.test_cfg = dict(mode="whole", **test_cfg)
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    return model


def _batch(size=(40, 56), batch=2) -> dict:
    generator = torch.Generator().manual_seed(7)
    samples = []
    for index in range(batch):
        label = torch.zeros(1, *size, dtype=torch.long)
        label[:, 8:30, 8:24] = 1 + index
        label[:, 8:30, 32:48] = 1 + index  # the same class twice: two GT segments
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=label)
        sample.gt_edge_map = PixelData(data=torch.zeros_like(label))
        sample.set_metainfo(dict(img_shape=size, ori_shape=size))
        samples.append(sample)
    images = [torch.rand(3, *size, generator=generator) * 255 for _ in range(batch)]
    return dict(inputs=images, data_samples=samples)


@pytest.mark.parametrize("config", [ORACLE, PAPER_ORACLE], ids=["object-regions", "paper"])
def test_segmentor_hands_the_label_to_the_head_for_training_and_prediction(config):
    model = _oracle_model(config)
    model.train()
    data = model.data_preprocessor(_batch(), True)
    losses = model.loss(data["inputs"], data["data_samples"])
    sum(value for key, value in losses.items() if "loss" in key).backward()
    assert model.decode_head.ground_truth_labels is None  # only for the call
    assert model.decode_head.region_construction.decision_conv.weight.grad is not None
    model.eval()
    evaluator = Evaluator([dict(type="RegionQualityMetric")])
    evaluator.dataset_meta = dict(classes=[f"c{i}" for i in range(5)])
    with torch.no_grad():
        outputs = model.val_step(_batch())
    evaluator.process(data_samples=outputs, data_batch=None)
    metrics = evaluator.evaluate(2)
    # The regions are the GT segments: perfect ASA, no under-segmentation, one region per segment.
    assert metrics["region/asa"] == 1.0 and metrics["region/ue"] == 0.0
    assert metrics["region/regions_per_segment"] == 1.0 and metrics["region/segments_per_image"] == 3.0
    assert model.decode_head.ground_truth_labels is None


def test_oracle_errors_name_what_is_missing():
    model = _oracle_model().eval()
    head = model.decode_head
    features = model.extract_feat(torch.rand(1, 3, 32, 32))
    with pytest.raises(
        ValueError, match="force_regions='ground_truth' needs the label maps.*RegionEncoderDecoder"
    ):
        head.forward(features)
    batch = model.data_preprocessor(_batch(batch=1), False)
    del batch["data_samples"][0].gt_sem_seg
    with pytest.raises(ValueError, match="needs gt_sem_seg in every data sample"):
        model.predict(batch["inputs"], batch["data_samples"])
    slide = _oracle_model(crop_size=(32, 32), stride=(24, 24)).eval()
    slide.test_cfg.mode = "slide"
    with pytest.raises(ValueError, match="needs test_cfg mode='whole'"):
        slide.val_step(_batch(batch=1))


def test_oracle_config_only_forces_the_regions():
    base = Config.fromfile(
        str(REPO / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions.py")
    )
    config = Config.fromfile(str(ORACLE))
    assert config.model.decode_head.construction.force_regions == "ground_truth"
    del config.model.decode_head.construction["force_regions"]
    assert config.model.to_dict() == base.model.to_dict()
    assert np.isclose(config.optim_wrapper.optimizer.lr, base.optim_wrapper.optimizer.lr)
