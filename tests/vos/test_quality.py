"""Quality sources: the oracle and the learned (wild) estimator."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from vos_recommender.backends import BackendNotAvailableError
from vos_recommender.backends.base import VOSResult, objects_to_probs, probs_to_masks
from vos_recommender.metrics.jf import per_frame_jf
from vos_recommender.nets import Bottleneck
from vos_recommender.quality import OracleQuality, build_quality
from vos_recommender.quality.estimator import (
    QualityConfig,
    QualityNet,
    WildQuality,
    crop_object,
    load_quality_checkpoint,
    save_quality_checkpoint,
)


def _result(rng, t=3, o=2, h=20, w=30):
    probs = objects_to_probs(rng.uniform(size=(t, o, h, w)).astype(np.float32))
    return VOSResult(probs_to_masks(probs), probs, 0.0)


def test_oracle_is_true_per_frame_jf():
    rng = np.random.default_rng(0)
    result = _result(rng)
    gt = rng.integers(0, 3, size=result.masks.shape).astype(np.uint8)
    q = OracleQuality()(None, result, gt, 2)
    np.testing.assert_allclose(q, per_frame_jf(gt, result.masks, 2)["JF"])
    assert build_quality("oracle").needs_ground_truth
    with pytest.raises(ValueError, match="ground-truth"):
        OracleQuality()(None, result, None, 2)
    with pytest.raises(KeyError, match="oracle, wild"):
        build_quality("psychic")


def test_crop_matches_reference():
    frame = np.zeros((40, 60, 3), np.uint8)
    frame[..., 0] = np.arange(60)[None, :] * 4
    prob = np.zeros((40, 60), np.float32)
    prob[10:20, 20:40] = 0.9  # box 10 x 20 px
    crop = crop_object(frame, prob, crop_size=30, min_box=16, box_scale=1.5)
    assert crop.shape == (4, 30, 30) and crop.dtype == np.float32
    # Box sides: max(10, 16) * 1.5 = 24 rows, max(20, 16) * 1.5 = 30 cols, centred on (15, 30).
    # Output pixel (r, c) samples the source at (15 + (r + 0.5 - 15) * 24/30 - 0.5, ...) (pixel centres).
    rows = 15 + (np.arange(30) + 0.5 - 15) * 24 / 30 - 0.5
    cols = 30 + (np.arange(30) + 0.5 - 15) * 30 / 30 - 0.5
    ref_red = np.interp(cols, np.arange(60), np.arange(60) * 4.0) / 255.0
    np.testing.assert_allclose(crop[0, 15], ref_red, atol=2e-2)
    # Bilinear sampling: the mask value is 0.9 at source coordinates in [10, 19] x [20, 39] and 0 at
    # coordinates a full pixel outside.
    touches = ((rows > 9) & (rows < 20))[:, None] & ((cols > 19) & (cols < 40))[None, :]
    inner = ((rows >= 10) & (rows <= 19))[:, None] & ((cols >= 20) & (cols <= 39))[None, :]
    np.testing.assert_allclose(crop[3][inner], 0.9, atol=1e-5)
    assert np.all(crop[3][~touches] == 0) and inner.sum() > 100


def test_crop_outside_image_is_zero_and_empty_mask_uses_frame():
    frame = np.full((20, 20, 3), 255, np.uint8)
    prob = np.zeros((20, 20), np.float32)
    prob[0:4, 0:4] = 1.0  # at the corner: the enlarged box reaches outside the image
    crop = crop_object(frame, prob, crop_size=16, min_box=12, box_scale=1.5)
    assert crop[0, 0, 0] == 0 and crop[0, -1, -1] > 0.9
    empty = crop_object(frame, np.zeros((20, 20), np.float32), crop_size=16, min_box=4, box_scale=1.0)
    np.testing.assert_allclose(empty[:3], 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "backbone,size", [("tiny", 32), pytest.param("resnet50", 64, marks=pytest.mark.slow)]
)
def test_network_shapes_and_gradients(backbone, size):
    net = QualityNet(QualityConfig(backbone=backbone, width=8, crop_size=size))
    crops = torch.rand(2, 4, size, size)
    out = net(crops)
    assert out.shape == (2,)
    F.mse_loss(out, torch.tensor([0.2, 0.8])).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
    # The probability branch matters: changing only the probability channel changes the score.
    net.eval()
    other = crops.clone()
    other[:, 3] = 1 - other[:, 3]
    assert not torch.allclose(net(crops), net(other))


def test_resnet50_structure():
    net = QualityNet(QualityConfig(backbone="resnet50"))
    blocks = [m for m in net.body.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 3 + 4 + 6 + 3 and net.fc.in_features == 2048
    assert net.body.conv1.out_channels == net.conv_prob.out_channels == 64
    with torch.no_grad():
        assert net.eval()(torch.rand(1, 4, 32, 32)).shape == (1,)


def test_unknown_backbone():
    with pytest.raises(ValueError, match="backbone"):
        QualityNet(QualityConfig(backbone="vgg"))


def test_wild_quality_averages_objects_and_round_trips(tmp_path):
    torch.manual_seed(0)
    net = QualityNet(QualityConfig(width=4, crop_size=16, min_box=8))
    path = tmp_path / "q" / "quality_estimator.pt"
    save_quality_checkpoint(path, net)
    wild = build_quality("wild", checkpoint=path)
    rng = np.random.default_rng(1)
    result = _result(rng, t=3, o=2, h=20, w=30)
    frames = rng.integers(0, 255, size=(3, 20, 30, 3), dtype=np.uint8)
    per_object = wild.predict_objects(frames, result.probs)
    assert per_object.shape == (3, 2) and np.all((per_object >= 0) & (per_object <= 1))
    q = wild(frames, result, None, 2)
    np.testing.assert_allclose(q, per_object.mean(axis=1), rtol=1e-6)
    # Reference: crop each object by hand and run the same network.
    with torch.no_grad():
        crop = torch.from_numpy(crop_object(frames[1], result.probs[1, 2], 16, 8, 1.5))[None]
        assert abs(float(net.eval()(crop).clamp(0, 1)) - per_object[1, 1]) < 1e-5
    np.testing.assert_allclose(WildQuality(net=load_quality_checkpoint(path))(frames, result, None, 2), q)
    with pytest.raises(BackendNotAvailableError, match="not found"):
        load_quality_checkpoint(tmp_path / "missing.pt")


def test_training_entry_point_reports_correlation(tmp_path):
    from vos_recommender.data.generate import generate_davis_dataset
    from vos_recommender.training import quality as train

    root = generate_davis_dataset(
        tmp_path / "d", num_train=2, num_val=1, num_frames=5, height=32, width=48, seed=4
    )
    out = tmp_path / "run"
    train.main(
        [
            "--data",
            str(root),
            "--out",
            str(out),
            "--rounds",
            "2",
            "--passes",
            "1",
            "--epochs",
            "2",
            "--width",
            "4",
            "--crop-size",
            "16",
            "--min-box",
            "8",
        ]
    )
    metrics = json.loads((out / "metrics.json").read_text())
    held = metrics["heldout"]
    assert held["num_frames"] == 2 * 5 and held["num_object_samples"] >= held["num_frames"]
    assert -1.0 <= held["pearson_frame"] <= 1.0 or np.isnan(held["pearson_frame"])
    assert np.isfinite(held["mse_object"])
    assert load_quality_checkpoint(out / "quality_estimator.pt").config.crop_size == 16


def test_evaluate_reports_the_correlation_within_each_state_by_hand():
    from vos_recommender.training import quality as train

    class Reads(torch.nn.Module):  # "predicts" the value stored in the crop's first pixel
        def forward(self, crops):
            return crops[:, 0, 0, 0]

    # Three states (video, episode, round) of three frames, one object each: the estimate orders the first
    # as the truth does (r = +1), the second the other way round (r = -1); the third is constant (skipped).
    pred = [0.1, 0.5, 0.9, 0.2, 0.4, 0.6, 0.3, 0.3, 0.3]
    truth = [0.2, 0.4, 0.6, 0.9, 0.5, 0.1, 0.5, 0.6, 0.7]
    keys = [(state, 0, 0, frame) for state in range(3) for frame in range(3)]
    crops = np.zeros((9, 4, 2, 2), np.float32)
    crops[:, 0, 0, 0] = pred
    data = {"crops": crops, "target": np.asarray(truth), "keys": keys, "frame_jf": dict(zip(keys, truth))}
    metrics = train.evaluate(Reads(), data)
    assert metrics["pearson_within_state"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["pearson_frame"] == pytest.approx(np.corrcoef(pred, truth)[0, 1])


def test_cross_fitting_leaves_one_contiguous_part_of_the_training_videos_out():
    from vos_recommender.training import quality as train

    settings = train.QualityTrainSettings(parts=2, leave_out=0)
    assert train.training_videos(settings, 14) == list(range(7, 14))
    assert train.training_videos(dataclasses.replace(settings, leave_out=1), 14) == list(range(7))
    assert train.training_videos(settings, 5) == [3, 4]  # array_split: the first part is the longer one
    assert train.training_videos(train.QualityTrainSettings(), 5) == list(range(5))
    with pytest.raises(ValueError, match="--leave-out"):
        train.QualityTrainSettings(parts=1, leave_out=0)
    with pytest.raises(ValueError, match="--leave-out"):
        train.QualityTrainSettings(parts=2, leave_out=2)
    with pytest.raises(ValueError, match="--parts"):
        train.QualityTrainSettings(parts=0)
    with pytest.raises(SystemExit, match="--leave-out"):
        train.main(["--parts", "3", "--leave-out", "3"])


def test_extra_data_adds_the_training_videos_of_another_dataset(tmp_path):
    from vos_recommender.data.generate import generate_davis_dataset
    from vos_recommender.training import quality as train

    root = generate_davis_dataset(
        tmp_path / "d", num_train=2, num_val=1, num_frames=5, height=32, width=48, seed=4
    )
    other = generate_davis_dataset(
        tmp_path / "o", num_train=1, num_val=0, num_frames=4, height=32, width=48, seed=5
    )
    settings = train.QualityTrainSettings(
        data=str(root),
        out=str(tmp_path / "run"),
        rounds=2,
        passes=1,
        epochs=1,
        width=4,
        crop_size=16,
        min_box=8,
    )
    metrics = train.train(dataclasses.replace(settings, extra_data=f"{other}, "))
    # 2 videos x 2 rounds x 5 frames, and the other dataset's 1 video x 2 rounds x 4 frames.
    assert metrics["train"]["num_frames"] == 2 * 2 * 5 + 2 * 4
    # Leaving out the second half: the first dataset's first video and the other dataset's only one.
    half = train.train(dataclasses.replace(settings, extra_data=str(other), parts=2, leave_out=1, epochs=0))
    assert half["train"]["num_frames"] == 2 * 5 + 2 * 4
    assert metrics["heldout"]["num_frames"] == 2 * 5  # held out: the first dataset's split only
    # Frame keys of the two datasets never collide.
    a = {
        "crops": np.zeros((1, 4, 2, 2)),
        "target": np.ones(1),
        "keys": [(0, 0, 0, 0)],
        "frame_jf": {(0, 0, 0, 0): 0.5},
    }
    merged = train.merge_samples(a, dict(a, frame_jf={(0, 0, 0, 0): 0.25}), 1)
    assert merged["keys"] == [(0, 0, 0, 0), (1, 0, 0, 0, 0)] and len(merged["crops"]) == 2
    assert merged["frame_jf"] == {(0, 0, 0, 0): 0.5, (1, 0, 0, 0, 0): 0.25}
    with pytest.raises(FileNotFoundError, match="--extra-data: .*missing"):
        train.train(
            dataclasses.replace(settings, extra_data=str(tmp_path / "missing"), out=str(tmp_path / "r2"))
        )


@pytest.mark.slow
def test_estimator_learns_to_rank_quality_on_held_out_videos(tmp_path):
    from vos_recommender.data.generate import generate_davis_dataset
    from vos_recommender.training import quality as train

    root = generate_davis_dataset(
        tmp_path / "d", num_train=10, num_val=3, num_frames=10, height=48, width=80, seed=6
    )
    metrics = train.train(
        train.QualityTrainSettings(
            data=str(root),
            out=str(tmp_path / "run"),
            rounds=3,
            passes=2,
            epochs=12,
            width=8,
            crop_size=32,
            min_box=16,
        )
    )
    assert metrics["heldout"]["pearson_object"] > 0.4


class _LegacyBottleneck(torch.nn.Module):
    """The ResNet-50 estimator's block before it used the shared ResNet (kept to test old checkpoints)."""

    def __init__(self, in_channels, channels, stride):
        super().__init__()
        nn = torch.nn
        out = channels * 4
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, out, 1, bias=False),
            nn.BatchNorm2d(out),
        )
        self.shortcut = (
            nn.Sequential(nn.Conv2d(in_channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
            if stride != 1 or in_channels != out
            else nn.Identity()
        )

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class _LegacyResNetQuality(torch.nn.Module):
    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.conv_rgb = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.conv_prob = nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
        layers = [nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1)]
        in_channels = 64
        for channels, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for index in range(blocks):
                layers.append(_LegacyBottleneck(in_channels, channels, stride if index == 0 else 1))
                in_channels = channels * 4
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, 1)

    def forward(self, crops):
        x = self.conv_rgb(crops[:, :3]) + self.conv_prob(crops[:, 3:4])
        return self.fc(self.pool(self.body(x)).flatten(1))[:, 0]


def test_resnet50_checkpoints_of_the_earlier_layout_still_load(tmp_path):
    from vos_recommender.quality.estimator import CHECKPOINT_FORMAT, upgrade_resnet50_state_dict

    torch.manual_seed(3)
    legacy = _LegacyResNetQuality()
    with torch.no_grad():  # non-trivial running statistics, so a misplaced BN key changes the output
        for module in legacy.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    legacy.eval()
    path = tmp_path / "old.pt"
    config = {"backbone": "resnet50", "width": 16, "crop_size": 32, "min_box": 16, "box_scale": 1.5}
    torch.save(
        {"format": CHECKPOINT_FORMAT, "config": config, "state_dict": legacy.state_dict(), "extra": {}}, path
    )
    net = load_quality_checkpoint(path)
    crops = torch.rand(2, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net(crops), legacy(crops))
    renamed = upgrade_resnet50_state_dict(legacy.state_dict())
    assert renamed.keys() == net.state_dict().keys()
    assert "body.layer4.2.conv3.weight" in renamed and "body.layer2.0.downsample.1.running_var" in renamed
    with pytest.raises(ValueError, match="body.99"):
        upgrade_resnet50_state_dict({"body.99.body.0.weight": torch.zeros(1)})


def test_resnet50_checkpoint_round_trip(tmp_path):
    torch.manual_seed(4)
    net = QualityNet(QualityConfig(backbone="resnet50", crop_size=32, min_box=16)).eval()
    save_quality_checkpoint(tmp_path / "q.pt", net)
    loaded = load_quality_checkpoint(tmp_path / "q.pt")
    crops = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(crops), net(crops))
    assert not list(tmp_path.glob(".*.tmp*"))
