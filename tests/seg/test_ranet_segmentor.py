"""RANet inside mmseg's EncoderDecoder, built from the small config: loss/predict/tensor, slide inference."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmengine import Config, ConfigDict
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_ranet  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py"
SMALL_OFFICIAL = REPO / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128_official.py"
SIZE = (40, 56)


def _build(config: Path = SMALL, seed: int = 0):
    init_default_scope("mmseg")
    cfg = Config.fromfile(str(config))
    # Pad to the batch's own size instead of the config's 128x128 crop: smaller maps, faster tests.
    cfg.model.data_preprocessor.size = None
    cfg.model.data_preprocessor.size_divisor = 8
    torch.manual_seed(seed)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    return model


def _batch(batch: int = 2, size: tuple[int, int] = SIZE) -> tuple[torch.Tensor, list[SegDataSample]]:
    generator = torch.Generator().manual_seed(5)
    images = torch.rand(batch, 3, *size, generator=generator) * 255
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        labels = torch.randint(0, 5, (1, *size), generator=generator)
        sample.gt_sem_seg = PixelData(data=labels)
        sample.gt_edge_map = PixelData(data=torch.randint(0, 2, (1, *size), generator=generator))
        sample.set_metainfo(dict(img_shape=size, ori_shape=size, pad_shape=size, padding_size=[0, 0, 0, 0]))
        samples.append(sample)
    return images, samples


@pytest.mark.parametrize("config", [SMALL, SMALL_OFFICIAL], ids=["paper", "official"])
def test_encoder_decoder_loss_predict_tensor(config):
    model = _build(config)
    images, samples = _batch()
    data = model.data_preprocessor(dict(inputs=list(images), data_samples=samples), training=True)
    model.train()
    losses = model(**data, mode="loss")
    assert {
        "decode.loss_ce",
        "decode.loss_stage3_ce",
        "decode.loss_boundary",
        "decode.loss_stage3_boundary",
    } <= set(losses)
    total = sum(v for k, v in losses.items() if "loss" in k)
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        predictions = model(**data, mode="predict")
        logits = model(**data, mode="tensor")
    assert len(predictions) == 2
    assert predictions[0].pred_sem_seg.data.shape == (1, *SIZE)
    assert predictions[0].seg_logits.data.shape == (5, *SIZE)
    # The head runs at stride 8.
    padded = data["inputs"].shape[2:]
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 5, padded[0] // 8, padded[1] // 8)


def test_slide_inference_matches_image_size():
    model = _build()
    model.test_cfg = ConfigDict(mode="slide", crop_size=(32, 32), stride=(24, 24))
    model.eval()
    images, samples = _batch(batch=1, size=(40, 64))
    data = model.data_preprocessor(dict(inputs=list(images), data_samples=samples), training=False)
    with torch.no_grad():
        predictions = model(**data, mode="predict")
    assert predictions[0].pred_sem_seg.data.shape == (1, 40, 64)
    assert torch.isfinite(predictions[0].seg_logits.data).all()


def test_seeded_model_forward_backward_is_identical_twice():
    results = []
    for _ in range(2):
        model = _build(seed=7)
        model.train()
        images, samples = _batch()
        data = model.data_preprocessor(dict(inputs=list(images), data_samples=samples), training=True)
        torch.manual_seed(8)
        losses = model(**data, mode="loss")
        sum(v for k, v in losses.items() if "loss" in k).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append(({k: v.detach().clone() for k, v in losses.items()}, grads))
    assert results[0][0].keys() == results[1][0].keys()
    for key in results[0][0]:
        assert torch.equal(results[0][0][key], results[1][0][key]), key
    for name in results[0][1]:
        assert torch.equal(results[0][1][name], results[1][1][name]), name
