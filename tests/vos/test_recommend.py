"""recommend_next_frame / python -m vos_recommender.recommend on a tiny generated video."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.vos.generated import tiny_checkpoints
from tests.vos.test_agent_toy_env import single_torch_thread  # noqa: F401  (autouse fixture)
from vos_recommender.agent import RecurrentDQN
from vos_recommender.quality.estimator import WildQuality
from vos_recommender.recommend import main, recommend, recommend_next_frame, to_probs
from vos_recommender.strategies import frame_observation


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from vos_recommender.data.generate import generate_davis_dataset

    base = tmp_path_factory.mktemp("recommend")
    root = generate_davis_dataset(
        base / "davis", num_train=1, num_val=0, num_frames=7, height=40, width=64, max_objects=2, seed=1
    )
    seq = (root / "ImageSets" / "2017" / "train.txt").read_text().split()[0]
    tiny_checkpoints(base)
    return {
        "frames": root / "JPEGImages" / "480p" / seq,
        "masks": root / "Annotations" / "480p" / seq,
        "agent": base / "agent.zip",
        "quality": base / "quality.pt",
        "base": base,
    }


def test_recommendation_is_the_agents_argmax_on_estimated_quality(video: dict[str, Path]) -> None:
    from vos_recommender.backends.base import VOSResult
    from vos_recommender.data.davis import load_frame_folder, read_mask

    frame, scores = recommend_next_frame(
        video["frames"], video["masks"], [0, 3], video["agent"], video["quality"], return_scores=True
    )
    assert 0 <= frame < 7 and scores.shape == (7,)
    # The same computation written out: estimator on one-hot probabilities, agent on (quality, counts).
    frames, _ = load_frame_folder(video["frames"])
    labels = np.stack([read_mask(p) for p in sorted(video["masks"].glob("*.png"))])
    probs = to_probs(labels)
    quality = WildQuality(checkpoint=video["quality"])(
        frames, VOSResult(labels, probs, 0.0), None, probs.shape[1] - 1
    )
    counts = np.array([1, 0, 0, 1, 0, 0, 0])
    expected = RecurrentDQN.load(video["agent"]).q_values(frame_observation(quality, counts))
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    assert frame == int(np.argmax(expected))

    # Probabilities in a .npy give the same answer as the label PNGs they encode.
    np.save(video["base"] / "probs.npy", probs)
    assert (
        recommend_next_frame(frames, video["base"] / "probs.npy", [0, 3], video["agent"], video["quality"])
        == frame
    )
    # A given quality replaces the estimator: the agent then follows it.
    answer = recommend(frames, labels, [0], video["agent"], quality=np.linspace(0, 1, 7))
    np.testing.assert_allclose(answer.quality, np.linspace(0, 1, 7), rtol=1e-6)
    assert answer.counts.tolist() == [1, 0, 0, 0, 0, 0, 0]


def test_clear_errors_for_bad_inputs(video: dict[str, Path], tmp_path: Path) -> None:
    short = tmp_path / "short_masks"
    shutil.copytree(video["masks"], short)
    sorted(short.glob("*.png"))[-1].unlink()
    with pytest.raises(ValueError, match="7 frames but 6 masks"):
        recommend(video["frames"], short, [0], video["agent"], video["quality"])
    with pytest.raises(ValueError, match="out of range"):
        recommend(video["frames"], video["masks"], [0, 7], video["agent"], video["quality"])
    with pytest.raises(ValueError, match="out of range"):
        recommend(video["frames"], video["masks"], [-1], video["agent"], video["quality"])
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        recommend(video["frames"], video["masks"], [0], video["agent"], tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="no_frames"):
        recommend(tmp_path / "no_frames", video["masks"], [0], video["agent"], video["quality"])
    with pytest.raises(FileNotFoundError, match="agent_missing.zip"):
        recommend(video["frames"], video["masks"], [0], tmp_path / "agent_missing.zip", video["quality"])
    with pytest.raises(ValueError, match="H, W"):
        recommend(
            video["frames"], np.zeros((7, 10, 10), dtype=np.uint8) + 1, [0], video["agent"], video["quality"]
        )
    with pytest.raises(ValueError, match="probabilities"):
        to_probs(np.full((7, 2, 4, 4), 2.0, dtype=np.float32))
    with pytest.raises(ValueError, match="no object"):
        to_probs(np.zeros((7, 4, 4), dtype=np.uint8))


def test_command_line(video: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    args = [
        "--frames",
        str(video["frames"]),
        "--masks",
        str(video["masks"]),
        "--agent",
        str(video["agent"]),
        "--quality",
        str(video["quality"]),
    ]
    assert main([*args, "--annotated", "0,3"]) == 0
    printed = int(capsys.readouterr().out.strip())
    assert printed == recommend_next_frame(
        video["frames"], video["masks"], [0, 3], video["agent"], video["quality"]
    )
    assert main([*args, "--annotated", "0,3", "--json"]) == 0
    details = json.loads(capsys.readouterr().out)
    assert details["frame"] == printed and len(details["scores"]) == 7 and details["counts"][3] == 1
    assert main([*args, "--annotated", "0,99"]) == 2
    assert "out of range" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--annotated", "zero"])


def test_cropped_masks_report_the_size_mismatch(video: dict[str, Path], tmp_path: Path) -> None:
    from vos_recommender.data.davis import read_mask

    labels = np.stack([read_mask(p) for p in sorted(video["masks"].glob("*.png"))])
    crop = np.zeros((7, 10, 12), dtype=np.uint8)  # a background-only crop: no object in it
    with pytest.raises(ValueError, match=r"\(40, 64\) \(H, W\) but masks_or_probs are \(10, 12\)"):
        recommend(video["frames"], crop, [0], video["agent"], video["quality"])
    np.save(tmp_path / "crop.npy", labels[:, :20, :30])
    with pytest.raises(ValueError, match="crop.npy.*\\(20, 30\\)"):
        recommend(video["frames"], tmp_path / "crop.npy", [0], video["agent"], video["quality"])
    assert (
        main(
            [
                "--frames",
                str(video["frames"]),
                "--masks",
                str(tmp_path / "crop.npy"),
                "--annotated",
                "0",
                "--agent",
                str(video["agent"]),
                "--quality",
                str(video["quality"]),
            ]
        )
        == 2
    )


def test_the_rules_by_name_and_the_lookahead_refused(
    video: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    from vos_recommender.strategies import build_strategy

    # Rules that ignore the quality need neither an agent nor a quality estimator.
    answer = recommend(
        video["frames"], video["masks"], [3], strategy="farthest", quality_path=Path("missing.pt")
    )
    assert answer.frame == 0 and answer.strategy == "farthest" and answer.quality is None
    assert answer.scores.tolist() == [3, 2, 1, 0, 1, 2, 3]
    assert answer.reason == "farthest from annotated frames: 3 frames from the nearest annotated frame"
    answer = recommend(video["frames"], video["masks"], [3, 4], strategy="stride")
    assert answer.frame == 5 and answer.scores is None  # stride round(7 / 5) = 1 from frame 3
    # (1 - q) x distance on the estimated quality, the same as the strategy on that estimate.
    answer = recommend(
        video["frames"], video["masks"], [0, 3], quality_path=video["quality"], strategy="UNCERTAIN_FAR"
    )
    expected = build_strategy("uncertain_far").recommend(answer.quality, answer.counts, [0, 3])
    assert answer.frame == expected and answer.reason.startswith("far from annotated frames and likely wrong")
    mine = np.linspace(0.1, 0.9, 7)
    assert recommend(video["frames"], video["masks"], [0], quality=mine, strategy="worst").frame == 1
    with pytest.raises(
        ValueError,
        match="strategy lookahead: it tries frames with the ground truth, which a video of your own",
    ):
        recommend(video["frames"], video["masks"], [0], strategy="lookahead")
    with pytest.raises(ValueError, match="strategy best: unknown; use one of agent, worst"):
        recommend(video["frames"], video["masks"], [0], strategy="best")
    with pytest.raises(ValueError, match="strategy agent needs a trained agent"):
        recommend(video["frames"], video["masks"], [0], strategy="agent")
    # No agent and no strategy: (1 - q) x distance on the estimate, with its reason.
    answer = recommend(video["frames"], video["masks"], [0], quality=mine)
    expected = build_strategy("uncertain_far").recommend(mine, answer.counts, [0])
    assert answer.strategy == "uncertain_far" and answer.frame == expected
    assert answer.reason.startswith("far from annotated frames and likely wrong")
    with pytest.raises(ValueError, match="give at least one"):
        recommend(video["frames"], video["masks"], [], strategy="farthest")
    args = ["--frames", str(video["frames"]), "--masks", str(video["masks"]), "--annotated", "3"]
    assert main([*args, "--strategy", "farthest", "--json"]) == 0
    details = json.loads(capsys.readouterr().out)
    assert details["frame"] == 0 and details["strategy"] == "farthest" and details["quality"] is None
    assert main([*args, "--strategy", "farthest"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "0" and "why: farthest from annotated frames" in captured.err
    assert main([*args, "--strategy", "lookahead"]) == 2
    assert "ground truth" in capsys.readouterr().err


def test_the_gain_ranker_by_name(video: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    from vos_recommender.agent.ranker import GainRanker

    ranker = GainRanker(seed=0)
    ranker.save(video["base"] / "ranker.pt")
    mine = np.linspace(0.1, 0.9, 7)
    answer = recommend(
        video["frames"],
        video["masks"],
        [0, 3],
        quality=mine,
        strategy="ranker",
        ranker_path=video["base"] / "ranker.pt",
    )
    scores = ranker.scores(mine, answer.counts)
    assert answer.frame == int(np.argmax(scores)) and answer.strategy == "ranker"
    np.testing.assert_allclose(answer.scores, scores)
    assert answer.reason.startswith("correcting it is expected to help most")
    with pytest.raises(ValueError, match="needs a trained gain ranker"):
        recommend(video["frames"], video["masks"], [0], quality=mine, strategy="ranker")
    args = ["--frames", str(video["frames"]), "--masks", str(video["masks"]), "--annotated", "0,3"]
    quality = ["--quality", str(video["quality"])]
    assert main([*args, *quality, "--strategy", "ranker", "--ranker", str(video["base"] / "ranker.pt")]) == 0
    assert "why: correcting it is expected to help most" in capsys.readouterr().err
    assert main([*args, *quality, "--strategy", "ranker", "--ranker", str(video["base"] / "none.pt")]) == 2
    assert "ranker checkpoint not found" in capsys.readouterr().err
