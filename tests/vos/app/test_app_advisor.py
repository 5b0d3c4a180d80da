"""The app's recommender: model-confidence quality, Worst, and the agent as the command-line recommender uses it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.vos.app.conftest import first_strokes, open_session
from tests.vos.generated import tiny_checkpoints
from tests.vos.test_agent_toy_env import single_torch_thread  # noqa: F401  (autouse fixture)
from vos_recommender.agent.ranker import GainRanker, RankerConfig
from vos_recommender.app import FrameAdvisor, confidence_quality
from vos_recommender.app.errors import AppInputError
from vos_recommender.data.davis import write_mask
from vos_recommender.recommend import recommend
from vos_recommender.strategies import build_strategy


def test_confidence_quality_prefers_sharp_probabilities():
    probs = np.zeros((3, 2, 4, 4), np.float32)
    probs[:, 0] = 1.0
    probs[0, 1, :2] = 1.0  # frame 0: object certain on two rows
    probs[1, 1, :2] = 0.6  # frame 1: the same object, uncertain
    probs[:, 0] = 1.0 - probs[:, 1]  # frame 2: object gone
    quality = confidence_quality(probs)
    assert quality[0] == pytest.approx(1.0)
    assert quality[1] == pytest.approx(0.6)
    assert quality[2] == 0.0


def test_worst_is_the_lowest_unannotated_frame():
    advisor = FrameAdvisor(strategy="worst")
    quality = np.array([0.1, 0.5, 0.3, 0.9], np.float32)
    answer = advisor.recommend(quality, np.array([1, 0, 0, 0]), [0])
    assert answer["frame"] == 2 and answer["strategy"] == "worst"
    # Why, in plain words, and where the frame stands in the video (frame 0, annotated, is lower).
    assert answer["reason"] == (
        "the lowest estimated quality (0.30) of the frames not annotated yet (the 2nd lowest of 4 frames)"
    )
    assert advisor.description == {
        "strategy": "worst",
        "label": "worst frame",
        "agent": "none",
        "quality": "model confidence",
        "quality_checkpoint": "none",
        "ranker": "none",
    }


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return tiny_checkpoints(tmp_path_factory.mktemp("app_agent"))


def test_agent_recommendation_matches_the_command_line_recommender(app_video, tmp_path, checkpoints):
    frames_dir, video = app_video
    agent, quality = checkpoints
    advisor = FrameAdvisor(agent=agent, quality=quality)
    annotator = open_session(frames_dir, tmp_path / "s", video, advisor=advisor)
    frame, strokes = first_strokes(video)
    annotator.set_strokes(frame, strokes)
    annotator.run_round(frame)
    rec = annotator.state.recommendation
    assert rec["strategy"] == "agent" and rec["reason"].startswith(
        f"the learned agent expects correcting it to help most (Q = {rec['value']:.3f}) (estimated quality "
    )
    assert annotator.snapshot()["advisor"]["quality"] == "wild estimator"

    # python -m vos_recommender.recommend on the app's masks (written as PNGs) and its quality estimate
    # (made from the backend's probabilities, which PNGs do not keep) gives the same answer.
    masks_dir = tmp_path / "masks"
    for t, mask in enumerate(annotator.state.masks):
        write_mask(masks_dir / f"{t:05d}.png", mask)
    estimate = np.asarray(annotator.state.quality, np.float32)
    expected = recommend(frames_dir, masks_dir, [frame], agent, quality, video.num_objects, quality=estimate)
    assert rec["frame"] == expected.frame
    np.testing.assert_allclose(rec["scores"], expected.scores, rtol=1e-5)


def test_the_rules_recommend_and_say_why_in_plain_words():
    quality = np.array([0.9, 0.8, 0.2, 0.6, 0.95, 0.9, 0.7, 0.9, 0.9, 0.3], np.float32)
    counts = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    # (1 - q) x distance: 0, 0.2, 1.6, 1.2, 0.2, 0.5, 1.8, 0.7, 0.8, 6.3
    answer = FrameAdvisor(strategy="uncertain_far").recommend(quality, counts, [0])
    assert answer["frame"] == 9 and answer["strategy"] == "uncertain_far"
    assert answer["reason"] == (
        "far from annotated frames and likely wrong: 9 frames from the nearest annotated frame, "
        "estimated quality 0.30 (the 2nd lowest of 10 frames)"
    )
    assert answer["value"] == pytest.approx(6.3, abs=1e-6) and len(answer["scores"]) == 10
    answer = FrameAdvisor(strategy="farthest").recommend(quality, counts, [4])
    assert (
        answer["frame"] == 9
        and answer["reason"]
        == "farthest from annotated frames: 5 frames from the nearest annotated frame "
        "(estimated quality 0.30, the 2nd lowest of 10 frames)"
    )
    answer = FrameAdvisor(strategy="stride").recommend(quality, counts, [3])
    assert answer["frame"] == 5  # stride round(10 / 5) = 2 from frame 3
    assert answer["reason"] == (
        "the next frame at a stride of 2 frames (1/5 of the video) from frame 3 "
        "(estimated quality 0.90, the 6th lowest of 10 frames)"
    )
    assert answer["scores"] is None and answer["value"] is None
    advisor = FrameAdvisor(strategy="Linspace")  # the same advisor on videos of different lengths
    assert advisor.recommend(np.zeros(16), np.zeros(16), [0])["frame"] == 2
    assert advisor.recommend(np.zeros(8), np.zeros(8), [0])["frame"] == 1
    assert (
        FrameAdvisor(strategy="worst").recommend(quality, counts, [0])["reason"]
        == "the lowest estimated quality (0.20) of the frames not annotated yet (the lowest of 10 frames)"
    )
    assert FrameAdvisor(strategy="stride").description["label"] == "every fifth of the video"


def test_the_app_refuses_the_lookahead_and_unknown_strategies(checkpoints):
    with pytest.raises(
        AppInputError,
        match="--strategy lookahead: it tries frames with the ground truth, which the app does not",
    ):
        FrameAdvisor(strategy="lookahead")
    with pytest.raises(
        AppInputError, match="--strategy best: unknown; use one of agent, worst, uncertain_far"
    ):
        FrameAdvisor(strategy="best")
    with pytest.raises(AppInputError, match="--strategy agent needs a trained agent"):
        FrameAdvisor(strategy="agent")
    agent, _ = checkpoints
    # An agent given but a rule asked for: the rule is followed.
    assert FrameAdvisor(agent=agent, strategy="farthest").description["strategy"] == "farthest"
    assert FrameAdvisor(agent=agent).description["strategy"] == "agent"


def test_without_an_agent_the_app_follows_the_best_measured_rule(checkpoints):
    agent, quality = checkpoints
    assert FrameAdvisor().description["strategy"] == "stride"
    assert FrameAdvisor(quality=quality).description["strategy"] == "uncertain_far"
    answer = FrameAdvisor().recommend(np.ones(10, np.float32), np.zeros(10), [3])
    assert answer["frame"] == 5 and answer["reason"].startswith("the next frame at a stride of 2 frames")
    # Starting masks and no round yet: no annotated frame to measure from, the middle frame.
    answer = FrameAdvisor(strategy="farthest").recommend(np.ones(9, np.float32), np.zeros(9), [])
    assert answer["frame"] == 4 and answer["reason"].startswith("no frame annotated yet")


def test_the_app_follows_a_gain_ranker_as_the_command_line_recommender(tmp_path, checkpoints):
    _, quality = checkpoints
    path = tmp_path / "ranker.pt"
    GainRanker(RankerConfig(num_rounds=8), seed=3).save(path)
    advisor = FrameAdvisor(quality=quality, ranker=path)  # a ranker given: followed by default
    assert advisor.description["strategy"] == "ranker" and advisor.description["ranker"] == str(path)
    estimate = np.array([0.9, 0.4, 0.8, 0.2, 0.7, 0.95, 0.5, 0.6], np.float32)
    counts = np.array([1, 0, 0, 0, 0, 0, 1, 0])
    answer = advisor.recommend(estimate, counts, [0, 6])
    # The frame and the scores are the ranker's, and recommend --strategy ranker says the same.
    scores = GainRanker.load(path).scores(estimate, counts)
    assert answer["frame"] == int(np.argmax(scores)) and answer["strategy"] == "ranker"
    np.testing.assert_allclose(answer["scores"], scores, rtol=1e-6)
    assert answer["value"] == pytest.approx(scores[answer["frame"]])
    expected = build_strategy("ranker", ranker=path)
    assert answer["reason"].startswith(expected.reason(answer["frame"], estimate, counts, [0, 6]))
    assert answer["reason"].startswith("correcting it is expected to help most (about ")
    # Asked for by name beside an agent, and refused without what it reads.
    assert FrameAdvisor(quality=quality, ranker=path, strategy="ranker").strategy == "ranker"
    with pytest.raises(AppInputError, match="--strategy ranker needs a trained gain ranker"):
        FrameAdvisor(quality=quality, strategy="ranker")
    with pytest.raises(AppInputError, match="--ranker: the gain ranker reads the wild estimator's quality"):
        FrameAdvisor(ranker=path)
    with pytest.raises(AppInputError, match="--ranker: gain ranker checkpoint not found: .*missing.pt"):
        FrameAdvisor(quality=quality, ranker=tmp_path / "missing.pt")
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(AppInputError, match="--ranker: cannot load .*broken.pt"):
        FrameAdvisor(quality=quality, ranker=tmp_path / "broken.pt")
