"""The interaction session: one round call gives result, J&F, quality and scribble, with or without a cache."""

from __future__ import annotations

import numpy as np
import pytest

from tests.vos.generated import generated_videos
from vos_recommender.backends.cache import CachingBackend
from vos_recommender.envs import FrameRecommendationEnv, GoalStatistics
from vos_recommender.interaction import LazyScribble, drawing_seconds
from vos_recommender.metrics.jf import per_frame_jf
from vos_recommender.session import InteractionSession, RoundOutcome, SessionConfig


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return generated_videos(
        tmp_path_factory.mktemp("session_data"),
        num_train=2,
        num_val=0,
        num_frames=5,
        height=40,
        width=56,
        max_objects=2,
        seed=9,
    )


def test_rounds_return_result_jf_quality_and_scribble(videos):
    session = InteractionSession("flow")
    video = videos[0]
    first = session.start(video, 1)
    assert isinstance(first, RoundOutcome) and first.frame == video.scribbles[1]["annotated_frame"]
    assert first.scribble is video.scribbles[1] and first.seconds == drawing_seconds(video.scribbles[1])
    np.testing.assert_array_equal(
        first.jf, per_frame_jf(video.masks, first.result.masks, video.num_objects)["JF"]
    )
    np.testing.assert_array_equal(first.quality, first.jf.astype(np.float32))  # the oracle
    second = session.correct(3)
    assert second.frame == 3 and session.result is second.result
    assert (
        second.scribble["annotated_frame"] == 3 and second.scribble["scribbles"][3]
    )  # the robot's correction
    assert session.backend.annotated_frames == [first.frame, 3]
    assert session.correct(0, with_quality=False).quality is None
    with pytest.raises(IndexError, match=f"frame 5 outside video '{video.name}' \\(0..4\\)"):
        session.correct(5)
    with pytest.raises(RuntimeError, match="start"):
        InteractionSession("flow").correct(0)


def test_cached_session_replays_rounds_with_lazy_scribbles(videos, tmp_path):
    video = videos[1]
    cold = InteractionSession("flow", cache_dir=tmp_path)
    played = [cold.start(video), cold.correct(2), cold.correct(4)]
    assert isinstance(cold.backend, CachingBackend) and cold.cache_stats()["misses"] == 3
    warm = InteractionSession("flow", cache_dir=tmp_path)
    warm.robot.interact = lambda *a, **k: pytest.fail("a replayed round must not run the simulated user")
    replayed = [warm.start(video), warm.correct(2), warm.correct(4)]
    stats = warm.cache_stats()
    assert {k: stats[k] for k in ("hits", "misses", "hit_rate")} == {"hits": 3, "misses": 0, "hit_rate": 1.0}
    for a, b in zip(played, replayed):
        assert a.frame == b.frame and a.seconds == b.seconds
        np.testing.assert_array_equal(a.jf, b.jf)
        np.testing.assert_array_equal(a.quality, b.quality)
    assert isinstance(replayed[1].scribble, LazyScribble) and not replayed[1].result.loaded
    assert replayed[1].scribble() == played[1].scribble  # loaded from the stored file on demand
    assert InteractionSession("flow").cache_stats() is None


def test_goal_statistics_drive_the_session(videos, tmp_path):
    video = videos[0]
    stats = GoalStatistics(None, num_runs=3, seed=4)
    session = InteractionSession("flow")
    record = stats.compute(session, video, 0, num_rounds=3)
    runs = np.asarray(record["runs"])
    assert runs.shape == (3, 3)
    assert session.backend.annotated_frames[0] == video.scribbles[0]["annotated_frame"]
    assert len(session.backend.annotated_frames) == 3  # the session played the last run's three rounds
    assert runs[0, 0] == pytest.approx(float(InteractionSession("flow").start(video).jf.mean()))
    # The environment's statistics are these runs, keyed by its backend and user settings.
    env = FrameRecommendationEnv(
        {
            "episode": {"num_rounds": 3},
            "reward": {"num_random_runs": 3, "stats_seed": 4, "stats_dir": tmp_path},
        },
        videos=videos,
    )
    assert env.goal_statistics(video.name) == record


def test_session_config_builds_the_session_and_checks_its_fields(videos, tmp_path):
    config = SessionConfig(
        backend="flow",
        backend_kwargs={"beta": 900.0},
        cache_dir=str(tmp_path / "cache"),
        cache_budget="1GB",
        robot_kwargs={"min_nb_nodes": 3},
    )
    session = InteractionSession.from_config(config)
    assert isinstance(session.backend, CachingBackend) and session.backend.store.max_bytes == 10**9
    assert session.robot.min_nb_nodes == 3 and session.namespace == (
        '["flow", {"beta": 900.0}, {"defaults_revision": 1}]'
    )
    assert session.user.store_dir == tmp_path / "cache" / "scribbles"
    # The same rounds as the session built from the arguments directly.
    direct = InteractionSession("flow", {"beta": 900.0}, robot_kwargs={"min_nb_nodes": 3})
    np.testing.assert_array_equal(session.start(videos[0]).jf, direct.start(videos[0]).jf)
    assert SessionConfig(cache_dir="").cache_dir is None  # the command line's "no cache"
    assert SessionConfig(cache_budget="0").cache_arguments() == {"max_bytes": 0}  # removes a recorded budget
    assert SessionConfig().cache_arguments() == {}  # keeps the folder's recorded budget
    for bad, message in (
        ({"backend": "nope"}, "session.backend: unknown VOS backend 'nope'; known: .*flow"),
        ({"quality": "psychic"}, "session.quality: unknown quality source 'psychic'"),
        ({"quality": "wild"}, "session.quality='wild' needs session.quality_checkpoint"),
        ({"cache_budget": "lots"}, "session.cache_budget must be a size .* got 'lots'"),
        ({"cache_budget": "1GB", "cache_kwargs": {"max_bytes": 5}}, "both set the cache's budget"),
        ({"backend_kwargs": [1]}, r"session.backend_kwargs must be a mapping \(JSON object\), got \[1\]"),
        ({"robot_kwargs": "{oops"}, "session.robot_kwargs must be a JSON object"),
    ):
        with pytest.raises(ValueError, match=message):
            SessionConfig(**bad)
    wild = SessionConfig(quality="wild", quality_checkpoint="q.pt", quality_kwargs={"batch_size": 2})
    assert wild.quality_arguments() == {"batch_size": 2, "checkpoint": "q.pt"}


@pytest.mark.parametrize("cache", [False, True])
def test_a_probed_round_is_undone(videos, tmp_path, cache):
    video = videos[0]
    folder = tmp_path / "cache" if cache else None
    probed, plain = InteractionSession("flow", cache_dir=folder), InteractionSession("flow")
    probed.start(video)
    plain.start(video)
    latest = probed.result
    trial = probed.probe(3)
    assert trial.frame == 3 and trial.quality is None
    assert probed.result is latest and probed.backend.annotated_frames == [
        video.scribbles[0]["annotated_frame"]
    ]
    np.testing.assert_array_equal(trial.jf, plain_copy(video, 3))
    # The session goes on as if the probe had not happened.
    for frame in (1, 3):
        a, b = probed.correct(frame), plain.correct(frame)
        np.testing.assert_array_equal(a.jf, b.jf)
        np.testing.assert_array_equal(a.result.masks, b.result.masks)
    with pytest.raises(RuntimeError, match="start"):
        InteractionSession("flow").probe(0)


def plain_copy(video, frame: int) -> np.ndarray:
    """Per-frame J&F of round 1 then a correction of ``frame`` in a fresh session."""
    session = InteractionSession("flow")
    session.start(video)
    return session.correct(frame).jf
