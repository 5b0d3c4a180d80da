"""Gymnasium environment: choose which frame the user corrects next in interactive VOS."""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vos_recommender.backends import VOSBackend, VOSResult, build_backend
from vos_recommender.backends.cache import CachingBackend, scribble_hash
from vos_recommender.interaction.robot import InteractiveRobot
from vos_recommender.interaction.scribbles import load_scribble, save_scribble, scribble_frame
from vos_recommender.metrics.auc import round_auc
from vos_recommender.metrics.jf import per_frame_jf
from vos_recommender.quality import OracleQuality, QualitySource, build_quality

from ..atomic import atomic_write_json

__all__ = ["FrameRecommendationEnv", "GoalStatistics"]


def _drawing_seconds(scribble: dict) -> float:
    """Drawing time of a scribble's strokes in seconds (``max end_time - min start_time``, ms in the file)."""
    strokes = [s for frame in scribble["scribbles"] for s in frame if "start_time" in s and "end_time" in s]
    if not strokes:
        return 0.0
    return float(max(s["end_time"] for s in strokes) - min(s["start_time"] for s in strokes)) / 1000.0


def _check_video(video) -> None:
    """Reject a video the episode loop cannot use, naming it and what is wrong."""
    frames, masks = np.asarray(video.frames), np.asarray(video.masks)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"video {video.name!r}: frames must be uint8 T x H x W x 3, got {frames.dtype} {frames.shape}"
        )
    if masks.shape != frames.shape[:3]:
        raise ValueError(
            f"video {video.name!r}: masks are {masks.shape} (T x H x W) but frames are {frames.shape[:3]}"
        )
    if int(video.num_objects) < 1:
        raise ValueError(f"video {video.name!r} has no annotated objects (its masks hold only background)")


class _LazyScribble:
    """A scribble stored on disk, loaded on first call (the cache backend needs it only on a miss)."""

    def __init__(self, path: Path, fallback) -> None:
        self.path = path
        self.fallback = fallback
        self._value: dict | None = None

    def __call__(self) -> dict:
        if self._value is None:
            try:
                self._value = load_scribble(self.path)
            except (OSError, ValueError):
                self._value = self.fallback()  # missing or damaged: recompute (and rewrite)
        return self._value


class GoalStatistics:
    """Mean and standard deviation of J&F under random recommendation, per round, cached on disk.

    For a (video, first scribble) pair, ``num_runs`` episodes choose every later frame uniformly at
    random (repeats allowed); after each round the mean per-frame J&F is recorded. The statistics of
    round ``r`` are ``mean`` and ``std(ddof=1)`` over the runs. They cost ``num_runs`` full episodes
    per video, so they are stored as JSON under ``cache_dir`` (written atomically) and keyed by
    everything they depend on.

    Args:
        cache_dir: Folder of the JSON files (None keeps them in memory only).
        num_runs: Random episodes per (video, first scribble) (paper: 30).
        seed: Seed of the random frame choices.
    """

    def __init__(self, cache_dir: str | os.PathLike | None, num_runs: int = 30, seed: int = 0) -> None:
        if num_runs < 2:
            raise ValueError(f"num_runs must be >= 2 for a standard deviation, got {num_runs}")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.num_runs = int(num_runs)
        self.seed = int(seed)
        self._memory: dict[str, dict] = {}

    def key(self, namespace: str, video: str, scribble_index: int, num_rounds: int) -> str:
        """Key of one statistics record."""
        payload = json.dumps([namespace, video, scribble_index, num_rounds, self.num_runs, self.seed])
        return hashlib.sha1(payload.encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        """A stored record, or None."""
        if key in self._memory:
            return self._memory[key]
        if self.cache_dir is not None:
            path = self.cache_dir / f"{key}.json"
            if path.is_file():
                try:
                    record = json.loads(path.read_text())
                except (json.JSONDecodeError, OSError):
                    return None
                self._memory[key] = record
                return record
        return None

    def put(self, key: str, record: dict) -> None:
        """Store a record (atomically when on disk)."""
        self._memory[key] = record
        if self.cache_dir is None:
            return
        atomic_write_json(self.cache_dir / f"{key}.json", record)


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
    maskable algorithms expect. With ``invalid_action="raise"`` (default) :meth:`step` raises
    ``ValueError`` naming such an action; with ``"skip"`` the round passes without a correction, the
    auxiliary reward is -1 and ``info["invalid_action"]`` holds the action (for unmasked samplers such
    as the environment checkers). Actions outside ``[0, max_frames)`` always raise.

    ## Observation Space

    ``Box(low=0, high=..., shape=(3, max_frames), float32)``, one column per frame:

    | row | content | range |
    |-----|---------|-------|
    | 0 | quality ``q``: true per-frame J&F (``quality="oracle"``) or the estimator's prediction (``"wild"``) | [0, 1] |
    | 1 | annotation count ``h``: rounds that annotated the frame so far (raw counts, as released) | [0, num_rounds] |
    | 2 | validity: 1 for frames of the video, 0 for padding | {0, 1} |

    Padded columns are all zero. The paper's state is ``concat(q, h)`` over the valid columns.

    ## Rewards

    With ``P`` the mean per-frame J&F after the round and ``mu``, ``sigma`` the mean and standard
    deviation (ddof=1) of ``P`` at the same round over ``num_random_runs`` random-recommendation
    episodes of the same video and first scribble (:class:`GoalStatistics`, cached on disk):

    * goal ``r_goal = (P - mu) / sigma`` (``goal_baseline="mean"``) or the stricter
      ``(P - (mu + sigma)) / sigma`` (``"mean_plus_std"``, the released code's choice, default);
    * auxiliary ``r_aux = +1`` if the chosen frame was among the least-annotated frames (``argmin h``
      before the action), else ``-1``.

    ``reward_mode="seed"`` (default, the paper's formulation): ``r_aux`` at every step except the last,
    ``r_goal`` at the last step. ``reward_mode="released"``: ``r_goal + r_aux`` at every step (the
    released code trains on the two terms with separate losses; both are also in ``info`` as
    ``reward_goal`` / ``reward_aux`` so an agent can rebuild them). No ``delta`` scale is applied here;
    the agent applies it.

    ## Starting State

    A video drawn uniformly with ``self.np_random`` (or ``options={"video": name}``), its first
    scribble (``options={"scribble": index}``, default 0) applied in round 1.

    ## Episode End

    Terminated after ``num_rounds`` rounds (``num_rounds - 1`` agent actions). Never truncated.

    ## Arguments

    * ``data_root`` / ``split``: a DAVIS-layout dataset, or ``videos``: a list of ``VideoSample``.
    * ``backend``: registry name or instance; ``backend_kwargs``; ``cache_dir``: wrap it in the cache
      backend storing entries there (the simulated user's scribbles are stored there too);
      ``cache_kwargs``: its settings (``memory_entries``, ``memory_arrays``, ``compress``, ``store_dtype``).
      Each entry also keeps the per-frame J and F of every object, the wild estimator's prediction
      and where the simulated user's next scribble is stored, so a replayed round loads neither
      masks, probabilities nor scribbles (they load on demand, e.g. for :meth:`render`).
    * ``quality``: ``"oracle"``, ``"wild"`` or a :class:`QualitySource`; ``quality_kwargs``.
    * ``num_rounds`` (default 8, the evaluation protocol; the released agent trained with 5).
    * ``max_frames`` (default: the longest video).
    * ``reward_mode``, ``goal_baseline``, ``num_random_runs`` (30), ``stats_dir`` (default
      ``<cache_dir>/goal_stats`` with a cache, else memory only), ``stats_seed``, ``min_sigma`` (floor
      of ``sigma``).
    * ``robot_kwargs``: :class:`InteractiveRobot` settings.
    * ``goal_reward``: False skips the random-recommendation statistics (``r_goal`` is then 0): for
      evaluation runs that only need the J&F per round.
    * ``invalid_action``: ``"raise"`` or ``"skip"`` (see Action Space).
    * ``info_timing``: copy the wall-clock timings into ``info`` (see below).
    * ``render_mode``: ``"rgb_array"`` draws the annotated frames and the worst frame with the masks
      and the latest scribbles, above a plot of the per-frame quality and annotation counts.

    ``info`` carries ``jf`` (per-frame true J&F), ``jf_mean``, ``quality``, ``auc`` (area under the
    J&F-per-round curve so far, divided by ``num_rounds``), ``action_mask``, ``annotated_frames``,
    ``round``, ``video``, ``user_time`` (simulated drawing time of all scribbles so far, seconds, from
    the strokes' ``start_time``/``end_time``), ``reward_goal`` and ``reward_aux``. Measured wall-clock
    times (``elapsed``: the backend's seconds this round, ``elapsed_total``, ``step_time``) and, with a
    cache, ``cache`` (hits, misses, hit rate) are kept in ``env.unwrapped.timing``; with
    ``info_timing=True`` they are copied into ``info`` too (off by default: they differ between
    identical runs, which Gymnasium's determinism check rejects).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(
        self,
        data_root: str | os.PathLike | None = None,
        split: str = "train",
        videos: list | None = None,
        backend: str | VOSBackend = "flow",
        backend_kwargs: dict[str, Any] | None = None,
        cache_dir: str | os.PathLike | None = None,
        cache_kwargs: dict[str, Any] | None = None,
        quality: str | QualitySource = "oracle",
        quality_kwargs: dict[str, Any] | None = None,
        num_rounds: int = 8,
        max_frames: int | None = None,
        reward_mode: str = "seed",
        goal_baseline: str = "mean_plus_std",
        num_random_runs: int = 30,
        stats_dir: str | os.PathLike | None = None,
        stats_seed: int = 0,
        min_sigma: float = 1e-3,
        robot_kwargs: dict[str, Any] | None = None,
        info_timing: bool = False,
        invalid_action: str = "raise",
        render_mode: str | None = None,
        goal_reward: bool = True,
    ) -> None:
        super().__init__()
        if videos is None:
            if data_root is None:
                raise ValueError("give data_root= (a DAVIS-layout dataset) or videos=")
            from vos_recommender.data.davis import DavisDataset

            dataset = DavisDataset(data_root, split=split)
            videos = [dataset[i] for i in range(len(dataset.sequences))]
        if not videos:
            raise ValueError("the environment needs at least one video")
        for video in videos:
            _check_video(video)
        self.videos = {video.name: video for video in videos}
        self.video_names = sorted(self.videos)
        if num_rounds < 2:
            raise ValueError(
                f"num_rounds must be >= 2 (round 1 + at least one recommendation), got {num_rounds}"
            )
        if reward_mode not in ("seed", "released"):
            raise ValueError(f"reward_mode must be 'seed' or 'released', got {reward_mode!r}")
        if goal_baseline not in ("mean", "mean_plus_std"):
            raise ValueError(f"goal_baseline must be 'mean' or 'mean_plus_std', got {goal_baseline!r}")
        if invalid_action not in ("raise", "skip"):
            raise ValueError(f"invalid_action must be 'raise' or 'skip', got {invalid_action!r}")
        self.invalid_action = invalid_action
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        longest = max(video.num_frames for video in videos)
        self.max_frames = int(max_frames) if max_frames is not None else longest
        if self.max_frames < longest:
            raise ValueError(
                f"max_frames={self.max_frames} is shorter than the longest video ({longest} frames)"
            )

        if isinstance(backend, str):
            inner = build_backend(backend, **(backend_kwargs or {}))
            namespace = json.dumps([backend, backend_kwargs or {}], sort_keys=True, default=str)
        else:
            inner = backend
            namespace = json.dumps([backend.name, backend_kwargs or {}], sort_keys=True, default=str)
        self.backend: VOSBackend = (
            CachingBackend(inner, cache_dir, namespace=namespace, **(cache_kwargs or {}))
            if cache_dir is not None
            else inner
        )
        self.backend_namespace = namespace
        # The simulated user's scribble is a function of the frame's prediction and ground truth, so
        # with a cache it is stored too (it costs more than a cached VOS round to recompute).
        self.scribble_cache_dir = Path(cache_dir) / "scribbles" if cache_dir is not None else None
        self.quality: QualitySource = (
            build_quality(quality, **(quality_kwargs or {})) if isinstance(quality, str) else quality
        )
        self.robot_kwargs = dict(robot_kwargs or {})
        self.robot = InteractiveRobot(**self.robot_kwargs)
        self.num_rounds = int(num_rounds)
        self.reward_mode = reward_mode
        self.goal_baseline = goal_baseline
        self.min_sigma = float(min_sigma)
        self.goal_reward_enabled = bool(goal_reward)
        if stats_dir is None and cache_dir is not None:
            stats_dir = Path(cache_dir) / "goal_stats"
        self.stats = GoalStatistics(stats_dir, num_runs=num_random_runs, seed=stats_seed)
        self._fingerprints: dict[str, str] = {}
        self._gt_keys: dict[str, str] = {}
        self._quality_token_value: str | None = None
        self._quality_token_done = False
        self._first: dict[tuple[str, int], tuple] = {}
        self._robot_key = hashlib.sha1(
            json.dumps(self.robot_kwargs, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        self.render_mode = render_mode
        self.info_timing = bool(info_timing)
        self.timing: dict[str, Any] = {}
        self._user_time = 0.0

        self.action_space = spaces.Discrete(self.max_frames)
        high = np.zeros((3, self.max_frames), dtype=np.float32)
        high[0] = 1.0
        high[1] = float(self.num_rounds)
        high[2] = 1.0
        self.observation_space = spaces.Box(low=np.zeros_like(high), high=high, dtype=np.float32)

        self._video = None
        self._scribble_index = 0
        self._round = 0
        self._counts = np.zeros(self.max_frames, dtype=np.int64)
        self._quality = np.zeros(self.max_frames, dtype=np.float32)
        self._result: VOSResult | None = None
        self._jf_rounds: list[float] = []
        self._jf = np.zeros(0)
        self._scribbles: list[tuple[int, Any]] = []
        self._annotated: list[int] = []
        self._elapsed_total = 0.0
        self._goal_record: dict | None = None

    # ------------------------------------------------------------------ helpers
    @property
    def num_frames(self) -> int:
        """Frames of the current video."""
        return 0 if self._video is None else self._video.num_frames

    def action_masks(self) -> np.ndarray:
        """Boolean mask of valid actions (the current video's frames), length ``max_frames``."""
        mask = np.zeros(self.max_frames, dtype=bool)
        mask[: self.num_frames] = True
        return mask

    def _observation(self) -> np.ndarray:
        obs = np.zeros((3, self.max_frames), dtype=np.float32)
        n = self.num_frames
        obs[0, :n] = np.clip(self._quality[:n], 0.0, 1.0)
        obs[1, :n] = np.minimum(self._counts[:n], self.num_rounds)
        obs[2, :n] = 1.0
        return obs

    def _first_scribble(self, video, index: int) -> tuple[dict, int]:
        if video.scribbles:
            if not 0 <= index < len(video.scribbles):
                raise IndexError(
                    f"video {video.name!r} has {len(video.scribbles)} scribbles, asked for {index}"
                )
            scribble = video.scribbles[index]
            return scribble, int(scribble_frame(scribble))
        # No human scribble: the robot corrects an empty prediction on the frame with the most object pixels.
        frame = int(np.argmax([(m > 0).sum() for m in video.masks]))
        empty = np.zeros_like(video.masks)
        return self.robot.interact(video.name, empty, video.masks, frame, video.num_objects), frame

    def _first_round(self, video, index: int) -> tuple[dict, int, str | None, float]:
        """Round 1's scribble, frame, stroke hash (with a cache) and drawing time, computed once per video."""
        memo = self._first.get((video.name, index))
        if memo is None:
            scribble, frame = self._first_scribble(video, index)
            digest = scribble_hash(scribble, frame) if self._cache is not None else None
            memo = self._first[(video.name, index)] = (scribble, frame, digest, _drawing_seconds(scribble))
        return memo

    @property
    def _cache(self) -> CachingBackend | None:
        return self.backend if isinstance(self.backend, CachingBackend) else None

    def _gt_key(self, video) -> str:
        """Hash of a video's ground truth (what the J&F and the simulated user depend on)."""
        key = self._gt_keys.get(video.name)
        if key is None:
            digest = hashlib.sha1()
            digest.update(repr((video.masks.shape, int(video.num_objects))).encode())
            digest.update(np.ascontiguousarray(video.masks).tobytes())
            key = self._gt_keys[video.name] = digest.hexdigest()[:20]
        return key

    def _robot_scribble(self, video, pred_masks: np.ndarray, frame: int) -> dict:
        """The simulated user's correction on ``frame`` (replayed from the cache folder when present)."""
        if self.scribble_cache_dir is None:
            return self.robot.interact(video.name, pred_masks, video.masks, frame, video.num_objects)
        path = self._scribble_path(video, pred_masks, frame)
        if path.is_file():
            try:
                return load_scribble(path)
            except ValueError:
                pass  # damaged file: recompute and overwrite
        scribble = self.robot.interact(video.name, pred_masks, video.masks, frame, video.num_objects)
        save_scribble(path, scribble)
        return scribble

    def _scribble_path(self, video, pred_masks: np.ndarray, frame: int) -> Path:
        """File of the simulated user's scribble, keyed by the frame's prediction and ground truth."""
        assert self.scribble_cache_dir is not None
        digest = hashlib.sha1()
        digest.update(
            json.dumps([video.name, frame, video.num_objects, self.robot_kwargs], sort_keys=True).encode()
        )
        digest.update(np.ascontiguousarray(pred_masks[frame]).tobytes())
        digest.update(np.ascontiguousarray(video.masks[frame]).tobytes())
        key = digest.hexdigest()
        return self.scribble_cache_dir / key[:2] / f"{key}.json"

    def _correction(self, video, result: VOSResult, frame: int) -> tuple[Any, str | None, float]:
        """The simulated user's scribble on ``frame`` given ``result``: ``(scribble, stroke hash, seconds)``.

        With a cache, the result's entry remembers where the scribble is stored, its stroke hash and
        drawing time, so a replayed round needs neither the masks nor the scribble itself: the scribble
        is then a loader the cache backend calls only if it has to run the VOS model.
        """
        cache = self._cache
        key = getattr(result, "key", None)
        if cache is None or key is None or self.scribble_cache_dir is None:
            scribble = self._robot_scribble(video, result.masks, frame)
            return scribble, None, _drawing_seconds(scribble)
        name = f"scribble/{self._gt_key(video)}/{self._robot_key}/{video.name}/{frame}"
        pointer = cache.derived(key, name)
        if pointer is not None:
            lazy = _LazyScribble(
                self.scribble_cache_dir / pointer["file"],
                lambda: self._robot_scribble(video, result.masks, frame),
            )
            return lazy, pointer["digest"], float(pointer["seconds"])
        path = self._scribble_path(video, result.masks, frame)
        scribble = self._robot_scribble(video, result.masks, frame)
        digest = scribble_hash(scribble, frame)
        seconds = _drawing_seconds(scribble)
        relative = path.relative_to(self.scribble_cache_dir).as_posix()
        cache.put_derived(key, name, {"file": relative, "digest": digest, "seconds": seconds})
        return scribble, digest, seconds

    def _run_round(
        self, scribble: Any, frame: int, digest: str | None = None, video=None
    ) -> tuple[VOSResult, np.ndarray]:
        video = self._video if video is None else video
        if self._cache is not None:
            result = self._cache.interact(scribble, frame, scribble_digest=digest)
        else:
            result = self.backend.interact(scribble, frame)
        return result, self._result_jf(video, result)

    def _result_jf(self, video, result: VOSResult) -> np.ndarray:
        """Per-frame J&F of a result (stored with its cache entry, so a replayed round skips it)."""
        cache = self._cache
        key = getattr(result, "key", None)
        if cache is None or key is None:
            return per_frame_jf(video.masks, result.masks, video.num_objects)["JF"]
        name = f"jf/{self._gt_key(video)}"
        stored = cache.derived(key, name)
        if stored is not None:
            j_values = np.asarray(stored["J"], dtype=np.float64)
            f_values = np.asarray(stored["F"], dtype=np.float64)
        else:
            scores = per_frame_jf(video.masks, result.masks, video.num_objects)
            j_values, f_values = scores["J"], scores["F"]
            cache.put_derived(key, name, {"J": j_values.tolist(), "F": f_values.tolist()})
        # The same operations as per_frame_jf, so the values are bit-identical.
        return (0.5 * (j_values + f_values)).mean(axis=1)

    def _frame_quality(self, result: VOSResult, jf: np.ndarray) -> np.ndarray:
        if type(self.quality) is OracleQuality:
            return jf.astype(np.float32)  # the oracle is the J&F computed for the reward already
        video = self._video
        cache, key, token = self._cache, getattr(result, "key", None), self._quality_token()
        if cache is None or key is None or token is None:
            return self.quality(video.frames, result, video.masks, video.num_objects)
        # A learned estimator's prediction is a function of the entry (frames + result) and its weights.
        name = f"quality/{token}"
        stored = cache.derived(key, name)
        if stored is not None:
            return np.asarray(stored, dtype=np.float32)
        quality = np.asarray(self.quality(video.frames, result, video.masks, video.num_objects), np.float32)
        cache.put_derived(key, name, [float(v) for v in quality])
        return quality

    def _quality_token(self) -> str | None:
        """Hash of a learned quality source's weights and settings (None: not stored with the cache).

        The weights are hashed once, when first needed; an estimator trained further afterwards
        needs a new environment.
        """
        if self._quality_token_value is not None or self._quality_token_done:
            return self._quality_token_value
        self._quality_token_done = True
        net = getattr(self.quality, "net", None)
        state_dict = getattr(net, "state_dict", None)
        if state_dict is None:
            return None
        digest = hashlib.sha1()
        digest.update(type(self.quality).__qualname__.encode())
        digest.update(repr(getattr(net, "config", None)).encode())
        digest.update(repr(getattr(self.quality, "batch_size", None)).encode())
        for name, tensor in state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        self._quality_token_value = digest.hexdigest()[:20]
        return self._quality_token_value

    def _info(self, jf: np.ndarray, elapsed: float, step_time: float, r_goal: float, r_aux: float) -> dict:
        info: dict[str, Any] = {
            "video": self._video.name,
            "scribble_index": self._scribble_index,
            "round": self._round,
            "jf": jf.astype(np.float32),
            "jf_mean": float(jf.mean()),
            "quality": self._quality[: self.num_frames].copy(),
            "auc": float(round_auc(np.asarray(self._jf_rounds), num_rounds=self.num_rounds)),
            "action_mask": self.action_masks(),
            "annotated_frames": list(self._annotated),
            "user_time": float(self._user_time),
            "reward_goal": float(r_goal),
            "reward_aux": float(r_aux),
        }
        self.timing = {
            "elapsed": float(elapsed),
            "elapsed_total": float(self._elapsed_total),
            "step_time": float(step_time),
        }
        if isinstance(self.backend, CachingBackend):
            self.timing["cache"] = self.backend.stats()
        if self.info_timing:
            info.update(self.timing)
        return info

    def _fingerprint(self, video_name: str) -> str:
        """Content hash of a video (frames, masks, scribbles): statistics never mix same-named videos."""
        if video_name not in self._fingerprints:
            video = self.videos[video_name]
            digest = hashlib.sha1()
            digest.update(np.ascontiguousarray(video.frames).tobytes())
            digest.update(np.ascontiguousarray(video.masks).tobytes())
            digest.update(json.dumps(video.scribbles, sort_keys=True, default=str).encode())
            self._fingerprints[video_name] = digest.hexdigest()
        return self._fingerprints[video_name]

    # ------------------------------------------------------------------ goal statistics
    def goal_statistics_key(self, video_name: str, scribble_index: int = 0) -> str:
        """Key of the statistics record: backend, robot, video content, first scribble, rounds, runs, seed."""
        return self.stats.key(
            json.dumps([self.backend_namespace, self.robot_kwargs], sort_keys=True, default=str),
            f"{video_name}:{self._fingerprint(video_name)}",
            scribble_index,
            self.num_rounds,
        )

    def goal_statistics(self, video_name: str, scribble_index: int = 0) -> dict:
        """Random-recommendation ``mean`` / ``std`` of the J&F per round (computed once, then cached).

        Args:
            video_name: Video.
            scribble_index: Index of its first scribble.

        Returns:
            ``{"mean": [...], "std": [...], "runs": [[P per round] per run]}``, lists indexed by round - 1.
        """
        key = self.goal_statistics_key(video_name, scribble_index)
        record = self.stats.get(key)
        if record is not None:
            return record
        video = self.videos[video_name]
        rng = np.random.default_rng([self.stats.seed, zlib.crc32(video_name.encode()), scribble_index])
        runs = []
        for _ in range(self.stats.num_runs):
            self.backend.start_video(video.frames, video.num_objects, video_id=video.name)
            scribble, frame, digest, _ = self._first_round(video, scribble_index)
            curve = []
            for round_index in range(self.num_rounds):
                result, jf = self._run_round(scribble, frame, digest, video=video)
                curve.append(float(jf.mean()))
                if round_index + 1 < self.num_rounds:
                    frame = int(rng.integers(video.num_frames))
                    scribble, digest, _ = self._correction(video, result, frame)
            runs.append(curve)
        values = np.asarray(runs)
        record = {
            "mean": values.mean(axis=0).tolist(),
            "std": values.std(axis=0, ddof=1).tolist(),
            "runs": runs,
        }
        self.stats.put(key, record)
        return record

    def goal_reward(self, performance: float, round_number: int) -> float:
        """``r_goal`` of a mean J&F after round ``round_number`` (1-based) of the current episode.

        0 when the environment was built with ``goal_reward=False``.
        """
        if not self.goal_reward_enabled:
            return 0.0
        assert self._goal_record is not None
        mu = float(self._goal_record["mean"][round_number - 1])
        sigma = max(float(self._goal_record["std"][round_number - 1]), self.min_sigma)
        baseline = mu + sigma if self.goal_baseline == "mean_plus_std" else mu
        return float((performance - baseline) / sigma)

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
        video = self.videos[name]
        self._scribble_index = int(options.get("scribble", 0))
        self._goal_record = (
            self.goal_statistics(name, self._scribble_index) if self.goal_reward_enabled else None
        )

        tic = time.perf_counter()
        self._video = video
        self.backend.start_video(video.frames, video.num_objects, video_id=video.name)
        scribble, frame, digest, seconds = self._first_round(video, self._scribble_index)
        self._round = 1
        self._counts = np.zeros(self.max_frames, dtype=np.int64)
        self._counts[frame] += 1
        self._annotated = [frame]
        self._scribbles = [(frame, scribble)]
        result, jf = self._run_round(scribble, frame, digest)
        self._result = result
        self._jf = jf
        self._elapsed_total = result.elapsed
        self._user_time = seconds
        self._jf_rounds = [float(jf.mean())]
        self._quality = np.zeros(self.max_frames, dtype=np.float32)
        self._quality[: video.num_frames] = self._frame_quality(result, jf)
        info = self._info(jf, result.elapsed, time.perf_counter() - tic, 0.0, 0.0)
        return self._observation(), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict]:
        """Annotate frame ``action``: robot scribble there, backend round, rewards.

        Args:
            action: Frame index (``int`` or integer numpy scalar/0-d array).

        Returns:
            ``(observation, reward, terminated, truncated, info)``.

        Raises:
            RuntimeError: If called before :meth:`reset` or after the episode ended.
            ValueError: If the action is not an integer frame of the current video.
        """
        if self._video is None or self._result is None:
            raise RuntimeError("call reset() before step()")
        if self._round >= self.num_rounds:
            raise RuntimeError(f"the episode ended after {self.num_rounds} rounds; call reset()")
        try:
            frame = int(np.asarray(action).item())
        except (TypeError, ValueError) as err:
            raise ValueError(f"action {action!r} is not a frame index") from err
        if np.asarray(action).dtype.kind not in "iu" and float(np.asarray(action).item()) != frame:
            raise ValueError(f"action {action!r} is not an integer frame index")
        if not 0 <= frame < self.max_frames:
            raise ValueError(f"action {frame} is outside the action space Discrete({self.max_frames})")
        if frame >= self.num_frames and self.invalid_action == "skip":
            return self._skip_round(frame)
        if frame >= self.num_frames:
            raise ValueError(
                f"action {frame} is a padded frame: video {self._video.name!r} has {self.num_frames} frames "
                f"(valid actions 0..{self.num_frames - 1}; see action_masks())"
            )
        tic = time.perf_counter()
        video = self._video
        least = self._counts[: self.num_frames].min()
        r_aux = 1.0 if self._counts[frame] == least else -1.0
        scribble, digest, seconds = self._correction(video, self._result, frame)
        result, jf = self._run_round(scribble, frame, digest)
        self._result = result
        self._jf = jf
        self._round += 1
        self._counts[frame] += 1
        self._annotated.append(frame)
        self._scribbles.append((frame, scribble))
        self._elapsed_total += result.elapsed
        self._user_time += seconds
        self._jf_rounds.append(float(jf.mean()))
        self._quality[: video.num_frames] = self._frame_quality(result, jf)
        r_goal = self.goal_reward(float(jf.mean()), self._round)
        terminated = self._round >= self.num_rounds
        if self.reward_mode == "seed":
            reward = r_goal if terminated else r_aux
        else:
            reward = r_goal + r_aux
        info = self._info(jf, result.elapsed, time.perf_counter() - tic, r_goal, r_aux)
        return self._observation(), float(reward), bool(terminated), False, info

    def _skip_round(self, frame: int) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict]:
        """A padded action under ``invalid_action="skip"``: the round passes without a correction."""
        tic = time.perf_counter()
        jf = self._jf
        self._round += 1
        self._jf_rounds.append(float(jf.mean()))
        r_aux = -1.0
        r_goal = self.goal_reward(float(jf.mean()), self._round)
        terminated = self._round >= self.num_rounds
        reward = (r_goal if terminated else r_aux) if self.reward_mode == "seed" else r_goal + r_aux
        info = self._info(jf, 0.0, time.perf_counter() - tic, r_goal, r_aux)
        info["invalid_action"] = frame
        return self._observation(), float(reward), bool(terminated), False, info

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the session's state as an image (None before :meth:`reset`).

        A strip of frames (the most recently annotated ones and the worst frame not annotated yet)
        with the current masks blended in and the latest scribble of each shown frame drawn, above a
        plot of the per-frame quality with the annotation counts (see
        :func:`vos_recommender.envs.render.render_state`). The masks and scribbles of a replayed
        round are loaded from the cache here.
        """
        if self.render_mode != "rgb_array" or self._video is None or self._result is None:
            return None
        from vos_recommender.envs.render import render_state

        video = self._video
        n = video.num_frames
        scribbles = [(frame, s() if callable(s) else s) for frame, s in self._scribbles]
        title = (
            f"{video.name}  round {self._round}/{self.num_rounds}  J&F {float(self._jf.mean()):.3f}  "
            f"quality: {getattr(self.quality, 'name', 'custom')}"
        )
        return render_state(
            video.frames,
            self._result.masks,
            self._quality[:n],
            self._counts[:n],
            self._annotated,
            scribbles,
            jf=self._jf,
            title=title,
        )
