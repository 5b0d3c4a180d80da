"""The one-step lookahead: the frame whose round gains most, found by trying every candidate on the session."""

from __future__ import annotations

import numpy as np
import pytest

from tests.vos.generated import generated_videos
from vos_recommender.backends import BackendStateError, VOSBackend
from vos_recommender.session import InteractionSession
from vos_recommender.strategies import LookaheadStrategy, build_strategy


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return generated_videos(
        tmp_path_factory.mktemp("lookahead_data"),
        num_train=1,
        num_val=0,
        num_frames=6,
        height=40,
        width=56,
        max_objects=2,
        seed=3,
    )[0]


def brute_force(video, corrections: list[int], candidates: list[int]) -> tuple[int, dict[int, float]]:
    """A fresh session per candidate: round 1, the corrections so far, then the candidate's round."""
    scores = {}
    for frame in candidates:
        session = InteractionSession("flow")
        session.start(video)
        for earlier in corrections:
            session.correct(earlier)
        scores[frame] = float(session.correct(frame).jf.mean())
    best = max(scores.values())
    return min(f for f, s in scores.items() if s == best), scores


@pytest.mark.parametrize("cache", [False, True])
def test_lookahead_equals_a_fresh_session_per_candidate(video, tmp_path, cache):
    session = InteractionSession("flow", cache_dir=tmp_path / "cache" if cache else None)
    first = session.start(video)
    strategy = build_strategy("lookahead", session=session)
    assert isinstance(strategy, LookaheadStrategy)
    annotated = [first.frame]
    for _ in range(2):
        frame = strategy.recommend(first.quality, np.bincount(annotated, minlength=6), annotated)
        expected, scores = brute_force(video, annotated[1:], list(range(video.num_frames)))
        assert frame == expected
        np.testing.assert_allclose(strategy.last_scores, [scores[f] for f in range(video.num_frames)])
        annotated.append(frame)
        first = session.correct(frame)
    assert strategy.probes == 2 * video.num_frames  # one backend round per candidate per recommendation


def test_lookahead_with_a_candidate_cap_tries_evenly_spaced_frames(video):
    session = InteractionSession("flow")
    outcome = session.start(video)
    strategy = LookaheadStrategy(session, candidates=3)
    frame = strategy.recommend(outcome.quality, np.zeros(6), [outcome.frame])
    assert strategy.candidate_frames(6) == [0, 2, 5] and strategy.probes == 3
    assert frame == brute_force(video, [], [0, 2, 5])[0]
    assert np.isnan(strategy.last_scores[[1, 3, 4]]).all()


class _StatefulBackend(VOSBackend):
    """A backend that does not say how to save its state."""

    name = "stateful"

    def _start(self) -> None:
        pass

    def _interact(self, scribble, frame):
        assert self.frames is not None
        t, h, w = self.frames.shape[:3]
        probs = np.zeros((t, self.num_objects + 1, h, w), dtype=np.float32)
        probs[:, 0] = 1.0
        return probs.argmax(axis=1).astype(np.uint8), probs


def test_lookahead_names_a_backend_that_cannot_be_probed(video, tmp_path):
    session = InteractionSession(_StatefulBackend())
    outcome = session.start(video)
    strategy = LookaheadStrategy(session)
    with pytest.raises(BackendStateError, match="backend 'stateful' cannot save and restore its state"):
        strategy.recommend(outcome.quality, np.zeros(6), [outcome.frame])
    # Behind a result cache the same backend is probed by replaying the rounds.
    cached = InteractionSession(_StatefulBackend(), cache_dir=tmp_path)
    outcome = cached.start(video)
    assert LookaheadStrategy(cached).recommend(outcome.quality, np.zeros(6), [outcome.frame]) == 0


def test_lookahead_checks_its_session(video):
    session = InteractionSession("flow")
    with pytest.raises(RuntimeError, match="started session"):
        LookaheadStrategy(session).recommend(np.zeros(6), np.zeros(6), [0])
    session.start(video)
    with pytest.raises(ValueError, match="6 frames, but the quality has 4"):
        LookaheadStrategy(session).recommend(np.zeros(4), np.zeros(4), [0])
