"""Gymnasium environment: choose which frame the user corrects next in interactive VOS."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vos_recommender.backends import VOSBackend
from vos_recommender.envs.actions import frame_index
from vos_recommender.envs.config import EnvConfig
from vos_recommender.envs.episode import Episode
from vos_recommender.envs.goal_statistics import GoalStatistics, goal_reward
from vos_recommender.envs.observation import observation_space
from vos_recommender.interaction.robot import InteractiveRobot
from vos_recommender.interaction.validation import check_video
from vos_recommender.metrics.auc import remaining_round_weight
from vos_recommender.quality import QualitySource
from vos_recommender.session import InteractionSession

__all__ = ["EnvConfig", "FrameRecommendationEnv", "GoalStatistics"]


class FrameRecommendationEnv(gym.Env):
    """Frame recommendation for interactive video object segmentation.

    ## Description

    The MDP of Yin et al., "Learning to Recommend Frame for Interactive Video Object Segmentation in
    the Wild" (CVPR 2021). An episode is one interactive session on one video. In round 1 the user's
    first scribble (the dataset's human scribble ``Scribbles/<seq>/001.json`` when present) goes to the
    VOS backend, which segments every frame. In each later round the agent picks a frame, the
    simulated user (the DAVIS robot) scribbles corrections on that frame, and the backend re-segments
    the video. The aim is a high J&F after the last round.

    ## Action Space

    ``Discrete(max_frames)``: the index of the frame to annotate next. Repeats are allowed. Videos
    shorter than ``max_frames`` are padded; indices ``>= num_frames`` of the current video are
    invalid: :meth:`action_masks` (and ``info["action_mask"]``) marks the valid ones, as sb3-contrib's
    maskable algorithms expect. With ``episode.invalid_action="raise"`` (default) :meth:`step` raises
    ``ValueError`` naming such an action; with ``"skip"`` the round passes without a correction, the
    auxiliary reward is -1 and ``info["invalid_action"]`` holds the action (for unmasked samplers such
    as the environment checkers). Actions outside ``[0, max_frames)`` always raise, and so do actions
    that are not integers (``"3"``, ``True``, ``2.0``): an action is an ``int``, a NumPy integer or a
    0-d integer array, what ``Discrete.sample()`` and SB3's vectorised environments pass.

    ## Observation Space

    ``Box(3, max_frames)``, float32, laid out by :mod:`vos_recommender.envs.observation`, one column per
    frame: row 0 the quality ``q`` in [0, 1] (the true per-frame J&F with ``quality="oracle"``, the
    estimator's prediction with ``"wild"``), row 1 the annotation count ``h`` (rounds that annotated the
    frame so far, raw counts as released, at most ``num_rounds``), row 2 the validity (1 for frames of
    the video, 0 for padding). Padded columns are all zero. The paper's state is ``concat(q, h)`` over
    the valid columns. With ``episode.observation="context"`` the observation is ``Box(8, max_frames)``:
    the same quality and count rows, then each frame's distances to the nearest annotation on each side,
    its normalised position, the round and the local quality slope, the validity last (see
    :mod:`vos_recommender.envs.observation`).

    ## Rewards

    With ``P`` the mean per-frame J&F after the round and ``mu``, ``sigma`` the mean and standard
    deviation (ddof=1) of ``P`` at the same round over ``num_random_runs`` random-recommendation
    episodes of the same video and first scribble (:class:`GoalStatistics`, cached on disk):

    * goal ``r_goal = (P - mu) / sigma`` (``reward.goal_baseline="mean"``) or the stricter
      ``(P - (mu + sigma)) / sigma`` (``"mean_plus_std"``, the released code's choice, default);
    * auxiliary ``r_aux = +1`` if the chosen frame was among the least-annotated frames (``argmin h``
      before the action), else ``-1``.

    ``reward.mode="seed"`` (default, the paper's formulation): ``r_aux`` at every step except the last,
    ``r_goal`` at the last step. ``reward.mode="released"``: ``r_goal + r_aux`` at every step (the
    released code trains on the two terms with separate losses; both are also in ``info`` as
    ``reward_goal`` / ``reward_aux`` so an agent can rebuild them). No ``delta`` scale is applied here;
    the agent applies it.

    ``reward.mode="gain"`` (beyond the paper): the reward matches the metric. With ``m_t`` the mean J&F
    after round ``t`` and ``R = num_rounds``, the round-index AUC is ``sum_t w_t m_t`` (``w_t = 1/R``,
    ``1/(2R)`` for the last round; :func:`~vos_recommender.metrics.auc.round_weights`). Step ``s`` (round
    ``s``, ``2 <= s <= R``) pays ``(m_s - m_{s-1}) * sum_{t >= s} w_t``, so an episode's undiscounted
    return is the AUC minus ``m_1 * sum_t w_t``, a constant of the first scribble. No goal statistics are
    computed in this mode (``reward_goal`` is 0); ``reward_aux`` is still reported.

    ## Starting State

    A video drawn uniformly with ``self.np_random`` (or ``options={"video": name}``), its first
    scribble (``options={"scribble": index}``, default 0) applied in round 1.

    ## Episode End

    Terminated after ``num_rounds`` rounds (``num_rounds - 1`` agent actions). Never truncated.

    ## Arguments

    * ``config``: an :class:`~vos_recommender.envs.config.EnvConfig`, or a mapping that
      :meth:`EnvConfig.from_dict <vos_recommender.envs.config.EnvConfig.from_dict>` reads (sections, dotted
      keys, or the flat names ``data_root``, ``backend``, ``num_rounds``, ``reward_mode``...). Its sections:

      * ``session``: the :class:`~vos_recommender.interaction.InteractionSession` that plays the rounds:
        ``backend`` (registry name) and ``backend_kwargs``, ``cache_dir`` (record and replay rounds there;
        a replayed round loads masks and scribbles only on demand, e.g. to render), ``cache_budget``,
        ``cache_kwargs``, ``quality`` (``"oracle"`` or ``"wild"``), ``quality_checkpoint``,
        ``quality_kwargs``, ``robot_kwargs`` (keys not given take the backend's declared
        ``simulated_user`` settings);
      * ``episode``: ``data_root`` / ``split`` (a DAVIS-layout dataset), ``num_rounds`` (default 8, the
        evaluation protocol; the released agent trained with 5), ``max_frames`` (0: the longest video),
        ``invalid_action`` (``"raise"`` or ``"skip"``, see Action Space), ``info_timing``;
      * ``reward``: ``mode``, ``goal_baseline``, ``num_random_runs`` (30), ``stats_dir`` (default
        ``<cache_dir>/goal_stats`` with a cache, else memory only), ``stats_seed``, ``min_sigma`` (floor
        of ``sigma``); ``goal_reward=False`` skips the statistics (``r_goal`` is then 0), for evaluation.

    * ``videos``: a list of ``VideoSample`` used instead of ``episode.data_root`` (objects numbered
      ``1..num_objects``, none missing: :func:`~vos_recommender.interaction.check_video`).
    * ``backend`` / ``quality``: an already built :class:`VOSBackend` / :class:`QualitySource` used instead
      of the one the config names.
    * ``render_mode``: ``"rgb_array"`` draws the annotated frames and the worst frame with the masks
      and the latest scribbles, above a plot of the per-frame quality and annotation counts.

    With Gymnasium: ``gymnasium.make("vos_recommender/FrameRecommendation-v0", config={...})``.

    ``info`` carries ``jf`` (per-frame true J&F), ``jf_mean``, ``quality``, ``auc`` (area under the
    J&F-per-round curve so far, divided by ``num_rounds``), ``action_mask``, ``annotated_frames``,
    ``round``, ``video``, ``scribble_index``, ``user_time`` (simulated drawing seconds of all scribbles so
    far), ``reward_goal`` and ``reward_aux``. Wall-clock times (``elapsed``: the backend's seconds this
    round, ``elapsed_total``, ``step_time``) and, with a cache, ``cache`` (hits, misses, hit rate) are in
    ``env.unwrapped.timing``, and in ``info`` too with ``episode.info_timing=True`` (off by default: they differ
    between identical runs, which Gymnasium's determinism check rejects).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(
        self,
        config: EnvConfig | Mapping[str, Any] | None = None,
        *,
        videos: list | None = None,
        backend: VOSBackend | None = None,
        quality: QualitySource | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        if isinstance(backend, str) or isinstance(quality, str):
            raise TypeError(
                "backend= and quality= take built objects; name a backend or quality source in the config, "
                "e.g. config={'session': {'backend': 'flow', 'quality': 'oracle'}}"
            )
        self.config = config = EnvConfig.from_dict(config)
        episode_config, reward = config.episode, config.reward
        if videos is None:
            if episode_config.data_root is None:
                raise ValueError("give config episode.data_root (a DAVIS-layout dataset) or videos=")
            from vos_recommender.data.davis import DavisDataset

            dataset = DavisDataset(episode_config.data_root, split=episode_config.split)
            videos = [dataset[i] for i in range(len(dataset.sequences))]
        if not videos:
            raise ValueError("the environment needs at least one video")
        for video in videos:
            check_video(video)
        self.videos = {video.name: video for video in videos}
        self.video_names = sorted(self.videos)
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(
                f"render_mode must be one of {[None, *self.metadata['render_modes']]}, got {render_mode!r}"
            )
        longest = max(video.num_frames for video in videos)
        self.max_frames = episode_config.max_frames or longest
        if self.max_frames < longest:
            raise ValueError(
                f"episode.max_frames={self.max_frames} is shorter than the longest video ({longest} frames)"
            )

        self.session = InteractionSession.from_config(config.session, backend=backend, quality=quality)
        self.num_rounds = episode_config.num_rounds
        self.reward_mode = reward.mode
        self.goal_baseline = reward.goal_baseline
        self.min_sigma = reward.min_sigma
        # The gain reward needs no random-recommendation statistics.
        self.goal_reward_enabled = reward.goal_reward and reward.mode != "gain"
        stats_dir = reward.stats_dir
        if stats_dir is None and config.session.cache_dir is not None:
            stats_dir = str(Path(config.session.cache_dir) / "goal_stats")
        self.stats = GoalStatistics(stats_dir, num_runs=reward.num_random_runs, seed=reward.stats_seed)
        self.invalid_action = episode_config.invalid_action
        self.render_mode = render_mode
        self.info_timing = episode_config.info_timing
        self.timing: dict[str, Any] = {}

        self.action_space = spaces.Discrete(self.max_frames)
        self.layout = episode_config.observation
        self.observation_space = observation_space(self.max_frames, self.num_rounds, self.layout)

        #: The current episode's record (None before :meth:`reset`).
        self.episode: Episode | None = None
        self._goal_record: dict | None = None

    # ------------------------------------------------------------------ parts
    @property
    def backend(self) -> VOSBackend:
        """The VOS backend the rounds go to (the cache wrapper with a ``cache_dir``)."""
        return self.session.backend

    @property
    def robot(self) -> InteractiveRobot:
        """The simulated user's robot."""
        return self.session.robot

    @property
    def quality(self) -> QualitySource:
        """The quality source of observation row 0."""
        return self.session.quality

    @property
    def num_frames(self) -> int:
        """Frames of the current video."""
        return 0 if self.episode is None else self.episode.num_frames

    def action_masks(self) -> np.ndarray:
        """Boolean mask of valid actions (the current video's frames), length ``max_frames``."""
        mask = np.zeros(self.max_frames, dtype=bool)
        mask[: self.num_frames] = True
        return mask

    def _info(self, elapsed: float, step_time: float, r_goal: float, r_aux: float) -> dict:
        info = self.episode.info(self.num_rounds)
        info.update(action_mask=self.action_masks(), reward_goal=float(r_goal), reward_aux=float(r_aux))
        self.timing = {
            "elapsed": float(elapsed),
            "elapsed_total": float(self.episode.elapsed_total),
            "step_time": float(step_time),
        }
        cache = self.session.cache_stats()
        if cache is not None:
            self.timing["cache"] = cache
        if self.info_timing:
            info.update(self.timing)
        return info

    # ------------------------------------------------------------------ goal reward
    def goal_statistics_key(self, video_name: str, scribble_index: int = 0) -> str:
        """Key of the statistics record: backend, robot, video content, first scribble, rounds, runs, seed."""
        return self.stats.video_key(
            self.session.identity, self.videos[video_name], scribble_index, self.num_rounds
        )

    def goal_statistics(self, video_name: str, scribble_index: int = 0) -> dict:
        """Random-recommendation ``mean`` / ``std`` of the J&F per round (computed once, then cached).

        The random runs play through this environment's session, so calling this mid-episode ends
        that episode.

        Returns:
            ``{"mean": [...], "std": [...], "runs": [[P per round] per run]}``, lists indexed by round - 1.
        """
        video = self.videos[video_name]
        return self.stats.record(self.session, self.session.identity, video, scribble_index, self.num_rounds)

    def goal_reward(self, performance: float, round_number: int) -> float:
        """``r_goal`` of a mean J&F after round ``round_number`` (1-based) of the current episode.

        0 when the environment was built with ``goal_reward=False``.
        """
        if not self.goal_reward_enabled:
            return 0.0
        assert self._goal_record is not None
        return goal_reward(self._goal_record, performance, round_number, self.goal_baseline, self.min_sigma)

    # ------------------------------------------------------------------ gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        """Start an episode: pick a video, apply its first scribble (round 1).

        Args:
            seed: Seeds ``self.np_random``.
            options: ``{"video": name, "scribble": index}`` to choose instead of drawing.

        Returns:
            ``(observation, info)``.
        """
        super().reset(seed=seed)
        options = options or {}
        if "video" in options:
            if options["video"] not in self.videos:
                raise KeyError(f"unknown video {options['video']!r}; known: {', '.join(self.video_names)}")
            name = options["video"]
        else:
            name = self.video_names[int(self.np_random.integers(len(self.video_names)))]
        index = int(options.get("scribble", 0))
        self._goal_record = self.goal_statistics(name, index) if self.goal_reward_enabled else None

        tic = time.perf_counter()
        # Until round 1 has played the episode has no result, so a failed start leaves step() refused.
        self.episode = episode = Episode(self.videos[name], index, self.max_frames)
        episode.record(self.session.start(episode.video, index))
        info = self._info(episode.result.elapsed, time.perf_counter() - tic, 0.0, 0.0)
        return episode.observation(self.num_rounds, self.layout), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict]:
        """Annotate frame ``action``: robot scribble there, backend round, rewards.

        Args:
            action: Frame index (``int``, NumPy integer scalar or 0-d integer array).

        Returns:
            ``(observation, reward, terminated, truncated, info)``.

        Raises:
            RuntimeError: If called before :meth:`reset` or after the episode ended.
            ValueError: If the action is not an integer frame of the current video.
        """
        episode = self.episode
        if episode is None or episode.result is None:
            raise RuntimeError("call reset() before step()")
        if episode.round >= self.num_rounds:
            raise RuntimeError(f"the episode ended after {self.num_rounds} rounds; call reset()")
        frame = frame_index(action)
        if not 0 <= frame < self.max_frames:
            raise ValueError(f"action {frame} is outside the action space Discrete({self.max_frames})")
        skip = frame >= self.num_frames
        if skip and self.invalid_action == "raise":
            raise ValueError(
                f"action {frame} is a padded frame: video {episode.video.name!r} has {self.num_frames} frames "
                f"(valid actions 0..{self.num_frames - 1}; see action_masks())"
            )
        tic = time.perf_counter()
        # r_aux: +1 when the frame is among the least annotated ones (never for a skipped padded frame).
        r_aux = 1.0 if not skip and episode.least_annotated(frame) else -1.0
        if skip:
            episode.pass_round()
        else:
            episode.record(self.session.correct(frame))
        r_goal = self.goal_reward(float(episode.jf.mean()), episode.round)
        terminated = episode.round >= self.num_rounds
        if self.reward_mode == "gain":
            gain = episode.jf_rounds[-1] - episode.jf_rounds[-2]
            reward = gain * remaining_round_weight(episode.round, self.num_rounds)
        elif self.reward_mode == "seed":
            reward = r_goal if terminated else r_aux
        else:
            reward = r_goal + r_aux
        info = self._info(0.0 if skip else episode.result.elapsed, time.perf_counter() - tic, r_goal, r_aux)
        if skip:
            info["invalid_action"] = frame
        observation = episode.observation(self.num_rounds, self.layout)
        return observation, float(reward), bool(terminated), False, info

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the session's state as an image (None before :meth:`reset`).

        A strip of frames (the most recently annotated ones and the worst frame not annotated yet)
        with the current masks blended in and the latest scribble of each shown frame drawn, above a
        plot of the per-frame quality with the annotation counts (see
        :func:`vos_recommender.envs.render.render_state`). The masks and scribbles of a replayed
        round are loaded from the cache here.
        """
        episode = self.episode
        if self.render_mode != "rgb_array" or episode is None or episode.result is None:
            return None
        from vos_recommender.envs.render import render_episode

        return render_episode(episode, self.num_rounds, getattr(self.quality, "name", "custom"))
