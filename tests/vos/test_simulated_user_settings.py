"""Backends declare the simulated-user settings they were evaluated with; sessions use them unless overridden."""

from __future__ import annotations

import logging

import pytest

from tests.vos.generated import generated_videos
from vos_recommender.backends.base import VOSBackend
from vos_recommender.backends.cache import CachingBackend
from vos_recommender.backends.flow import FlowBackend
from vos_recommender.envs import EnvConfig, EpisodeConfig, FrameRecommendationEnv, RewardConfig
from vos_recommender.interaction.simulated_user import robot_settings
from vos_recommender.session import InteractionSession


class _DeclaringBackend(FlowBackend):
    name = "declaring"
    simulated_user = {"min_nb_nodes": 2}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return generated_videos(
        tmp_path_factory.mktemp("settings_data"),
        num_train=1,
        num_val=0,
        num_frames=4,
        height=40,
        width=56,
        seed=2,
    )


def test_base_backends_declare_no_settings():
    assert VOSBackend.simulated_user == {} and FlowBackend().simulated_user == {}


def test_explicit_settings_win_key_by_key_and_the_source_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="vos_recommender.interaction.simulated_user"):
        merged = robot_settings({"min_nb_nodes": 2, "nb_points": 500}, {"min_nb_nodes": 4}, "atnet")
    assert merged == {"min_nb_nodes": 4, "nb_points": 500}
    assert "min_nb_nodes=4 from explicit (overrides atnet's 2)" in caplog.text
    assert "nb_points=500 from atnet's declared setting" in caplog.text
    assert robot_settings(None, None) == {}


def test_session_takes_the_backends_settings(videos):
    session = InteractionSession(_DeclaringBackend())
    assert session.robot.min_nb_nodes == 2 and session.user.robot_kwargs == {"min_nb_nodes": 2}
    explicit = InteractionSession(_DeclaringBackend(), robot_kwargs={"min_nb_nodes": 6})
    assert explicit.robot.min_nb_nodes == 6
    assert InteractionSession(FlowBackend()).robot.min_nb_nodes == 4  # the DAVIS default


def test_cache_exposes_the_wrapped_settings_and_sessions_use_them(videos, tmp_path):
    cached = CachingBackend(_DeclaringBackend(), tmp_path / "cache")
    assert cached.simulated_user == {"min_nb_nodes": 2}
    cached.simulated_user["min_nb_nodes"] = 9  # a copy: the backend's declaration is untouched
    assert _DeclaringBackend.simulated_user == {"min_nb_nodes": 2}
    session = InteractionSession(_DeclaringBackend(), cache_dir=tmp_path / "cache2")
    assert isinstance(session.backend, CachingBackend) and session.robot.min_nb_nodes == 2


def test_environment_uses_the_backends_settings(videos):
    config = EnvConfig(episode=EpisodeConfig(num_rounds=2), reward=RewardConfig(goal_reward=False))
    env = FrameRecommendationEnv(config, videos=videos, backend=_DeclaringBackend())
    assert env.session.robot.min_nb_nodes == 2
    explicit = config.replace({"session.robot_kwargs": {"min_nb_nodes": 3}})
    env = FrameRecommendationEnv(explicit, videos=videos, backend=_DeclaringBackend())
    assert env.session.robot.min_nb_nodes == 3
