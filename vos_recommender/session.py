"""One interactive session: the VOS backend, the simulated user and the quality source, round by round.

Round 1 applies the video's first scribble; each later round the simulated user corrects a chosen frame of
the latest result and the backend re-segments the video. A round can also be probed: played on a frame
and undone (the one-step-lookahead evaluation). Every round returns a :class:`RoundOutcome`:
the result, its per-frame J&F against the ground truth, the per-frame quality the agent observes, and the
scribble that was applied.

With a cache folder the backend is wrapped in :class:`~vos_recommender.backends.cache.CachingBackend` and
each cache entry also keeps what is derived from it (per-frame J and F, a learned estimator's
prediction, where the simulated user's correction of each frame is stored), so a replayed round loads
neither masks, probabilities nor scribbles. All of that lives here; callers see only outcomes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.backends import BACKENDS, VOSBackend, VOSResult, build_backend
from vos_recommender.backends.base import backend_namespace
from vos_recommender.backends.cache import CachingBackend, scribble_hash
from vos_recommender.backends.cache_format import parse_bytes
from vos_recommender.interaction.robot import InteractiveRobot
from vos_recommender.interaction.scribbles import Scribble
from vos_recommender.interaction.simulated_user import (
    LazyScribble,
    SimulatedUser,
    drawing_seconds,
    robot_settings,
)
from vos_recommender.metrics.jf import per_frame_jf
from vos_recommender.quality import QUALITY_SOURCES, OracleQuality, QualitySource, build_quality
from vos_recommender.utils.nested_config import check_fields

__all__ = ["InteractionSession", "RoundOutcome", "SessionConfig"]


@dataclasses.dataclass
class SessionConfig:
    """What the round-playing session is made of: the VOS backend, its cache, the quality source and the
    simulated user. Checked when made (errors name the field and the value)."""

    backend: str = "flow"
    """VOS backend name (flow needs no weights; learned needs a checkpoint trained here; ipn, manet, atnet take
    the released checkpoints and run with random weights, with a warning, without them)."""
    backend_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Constructor arguments of the backend (JSON object on the command line)."""
    cache_dir: str | None = None
    """Cache folder recording and replaying the backend's rounds (empty or null: no cache)."""
    cache_budget: str = ""
    """Disk budget of the cache folder (e.g. 500MB, 2GB; 0: none; empty: the budget recorded in the folder)."""
    cache_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Other settings of the cache (CachingBackend arguments, e.g. store_probs)."""
    quality: str = "oracle"
    """State quality: oracle (true J&F, as released) or wild (the estimator of quality_checkpoint)."""
    quality_checkpoint: str = ""
    """Wild quality estimator checkpoint (python -m vos_recommender.training.quality)."""
    quality_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Other arguments of the quality source."""
    robot_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Simulated user (InteractiveRobot) settings; those not given take the backend's declared ones."""

    def __post_init__(self) -> None:
        check_fields(self, "session")
        if self.cache_dir == "":
            self.cache_dir = None
        if self.backend not in BACKENDS:
            raise ValueError(
                f"session.backend: unknown VOS backend {self.backend!r}; known: {', '.join(BACKENDS.names())}"
            )
        if self.quality not in QUALITY_SOURCES:
            raise ValueError(
                f"session.quality: unknown quality source {self.quality!r}; "
                f"known: {', '.join(QUALITY_SOURCES.names())}"
            )
        if self.cache_budget:
            parse_bytes(self.cache_budget, "session.cache_budget")
            if "max_bytes" in self.cache_kwargs:
                raise ValueError(
                    "session.cache_budget and session.cache_kwargs['max_bytes'] both set the cache's budget: "
                    "give one"
                )
        if self.quality == "wild" and not self.quality_arguments().get("checkpoint"):
            raise ValueError(
                "session.quality='wild' needs session.quality_checkpoint (--quality-checkpoint; train one "
                "with python -m vos_recommender.training.quality)"
            )

    def cache_arguments(self) -> dict[str, Any]:
        """:class:`CachingBackend` arguments: ``cache_kwargs`` and the budget as ``max_bytes``."""
        arguments = dict(self.cache_kwargs)
        if self.cache_budget:
            arguments["max_bytes"] = parse_bytes(self.cache_budget, "session.cache_budget") or 0
        return arguments

    def quality_arguments(self) -> dict[str, Any]:
        """Arguments of the quality source: ``quality_kwargs``, and the checkpoint for ``wild``."""
        arguments = dict(self.quality_kwargs)
        if self.quality == "wild" and self.quality_checkpoint:
            arguments["checkpoint"] = self.quality_checkpoint
        return arguments


@dataclasses.dataclass
class RoundOutcome:
    """What one round of a session produced.

    Attributes:
        frame: The annotated frame.
        scribble: The scribble applied this round; a :class:`LazyScribble` (call it to load) when the
            round was replayed from the cache.
        seconds: Simulated drawing time of that scribble.
        result: The backend's result (masks and probabilities of every frame).
        jf: Per-frame true J&F (length ``T``, float64).
        quality: Per-frame quality the agent observes (length ``T``, float32); None when not asked for.
    """

    frame: int
    scribble: Scribble | LazyScribble
    seconds: float
    result: VOSResult
    jf: np.ndarray
    quality: np.ndarray | None


class InteractionSession:
    """The backend, the simulated user, the quality source and the cache of one interactive loop.

    Args:
        backend: Registry name or instance of the VOS backend.
        backend_kwargs: Arguments of a backend given by name (part of the cache namespace either way).
        cache_dir: Record and replay rounds there (entries, and the simulated user's scribbles under
            ``scribbles/``); None runs every round.
        cache_kwargs: :class:`CachingBackend` settings.
        quality: ``"oracle"``, ``"wild"`` or a :class:`QualitySource`.
        quality_kwargs: Arguments of a quality source given by name.
        robot_kwargs: :class:`InteractiveRobot` settings; keys not given default to the backend's
            ``simulated_user`` (e.g. ATNet's ``min_nb_nodes=2``), explicit ones win.

    Attributes:
        backend: The backend the rounds go to (the cache wrapper when there is a cache).
        namespace: Backend name and settings as JSON (keys caches and statistics).
        user: The :class:`SimulatedUser`.
        quality: The quality source.
        video: The video of the current session (None before :meth:`start`).
        result: The latest result (None before :meth:`start`).
    """

    def __init__(
        self,
        backend: str | VOSBackend = "flow",
        backend_kwargs: dict[str, Any] | None = None,
        cache_dir: str | os.PathLike | None = None,
        cache_kwargs: dict[str, Any] | None = None,
        quality: str | QualitySource = "oracle",
        quality_kwargs: dict[str, Any] | None = None,
        robot_kwargs: dict[str, Any] | None = None,
    ) -> None:
        inner = build_backend(backend, **(backend_kwargs or {})) if isinstance(backend, str) else backend
        name = backend if isinstance(backend, str) else backend.name
        self.namespace = backend_namespace(name, backend_kwargs, inner.defaults_revision)
        if cache_dir is not None:
            inner = CachingBackend(inner, cache_dir, namespace=self.namespace, **(cache_kwargs or {}))
        self.backend: VOSBackend = inner
        # A cache wrapper given as the backend is used as one too (its scribbles are then not stored).
        self._cache = inner if isinstance(inner, CachingBackend) else None
        self.user = SimulatedUser(
            robot_settings(inner.simulated_user, robot_kwargs, name),
            Path(cache_dir) / "scribbles" if cache_dir is not None else None,
            # The stored scribbles count towards the cache folder's disk budget.
            on_stored=self._cache.store.budget.added if cache_dir is not None and self._cache else None,
        )
        self.quality: QualitySource = (
            build_quality(quality, **(quality_kwargs or {})) if isinstance(quality, str) else quality
        )
        self.video: Any = None
        self.result: VOSResult | None = None
        self._first: dict[tuple[str, int], tuple[Scribble, int, str | None, float]] = {}
        self._gt_keys: dict[str, str] = {}
        self._quality_token_value: str | None = None
        self._quality_token_done = False

    @classmethod
    def from_config(
        cls,
        config: SessionConfig,
        backend: VOSBackend | None = None,
        quality: QualitySource | None = None,
    ) -> InteractionSession:
        """The session a :class:`SessionConfig` describes.

        Args:
            config: The settings.
            backend: An already built backend used instead of ``config.backend`` (``backend_kwargs``
                still name its settings in the cache namespace).
            quality: An already built quality source used instead of ``config.quality``.
        """
        return cls(
            config.backend if backend is None else backend,
            config.backend_kwargs,
            config.cache_dir,
            config.cache_arguments(),
            config.quality if quality is None else quality,
            config.quality_arguments(),
            config.robot_kwargs,
        )

    @property
    def identity(self) -> str:
        """Backend and simulated-user settings as JSON: what outcomes depend on besides video and frames."""
        return json.dumps([self.namespace, self.user.robot_kwargs], sort_keys=True, default=str)

    @property
    def robot(self) -> InteractiveRobot:
        """The simulated user's robot."""
        return self.user.robot

    def cache_stats(self) -> dict[str, float] | None:
        """The cache's hits, misses and hit rate (None without a cache)."""
        return None if self._cache is None else self._cache.stats()

    # ------------------------------------------------------------------ rounds
    def start(self, video: Any, scribble_index: int = 0, with_quality: bool = True) -> RoundOutcome:
        """Start a session on ``video`` and play round 1 with its first scribble ``scribble_index``.

        Raises:
            IndexError: If the video has no scribble ``scribble_index``.
            ValueError: If that scribble does not fit the video or has no strokes.
        """
        self.backend.start_video(video.frames, video.num_objects, video_id=video.name)
        self.video, self.result = video, None
        scribble, frame, digest, seconds = self._first_round(video, scribble_index)
        return self._play(scribble, frame, digest, seconds, with_quality)

    def correct(self, frame: int, with_quality: bool = True) -> RoundOutcome:
        """A later round: the simulated user corrects ``frame`` of the latest result, the backend re-segments.

        Raises:
            RuntimeError: Before :meth:`start`.
            IndexError: If ``frame`` is not a frame of the video.
        """
        if self.video is None or self.result is None:
            raise RuntimeError("start() a session before correcting a frame")
        if not 0 <= frame < self.video.num_frames:
            raise IndexError(
                f"frame {frame} outside video {self.video.name!r} (0..{self.video.num_frames - 1})"
            )
        scribble, digest, seconds = self._correction(self.video, self.result, frame)
        return self._play(scribble, frame, digest, seconds, with_quality)

    def probe(self, frame: int, with_quality: bool = False) -> RoundOutcome:
        """What :meth:`correct` would give on ``frame``, with the session left as it was.

        The round runs and is then undone: the backend goes back to its saved state
        (:meth:`~vos_recommender.backends.VOSBackend.snapshot`) and the latest result stays the current
        one. With a cache the probed round is recorded like any other, so probing the same state again
        replays it.

        Raises:
            RuntimeError: Before :meth:`start`.
            IndexError: If ``frame`` is not a frame of the video.
            BackendStateError: If the backend cannot save and restore its state (the message names it).
        """
        if self.video is None or self.result is None:
            raise RuntimeError("start() a session before probing a frame")
        saved, result = self.backend.snapshot(), self.result
        try:
            return self.correct(frame, with_quality)
        finally:
            self.backend.restore(saved)
            self.result = result

    def _play(
        self, scribble: Any, frame: int, digest: str | None, seconds: float, with_quality: bool
    ) -> RoundOutcome:
        if self._cache is not None:
            result = self._cache.interact(scribble, frame, scribble_digest=digest)
        else:
            result = self.backend.interact(scribble, frame)
        self.result = result
        jf = self._result_jf(self.video, result)
        quality = self._frame_quality(self.video, result, jf) if with_quality else None
        return RoundOutcome(frame, scribble, seconds, result, jf, quality)

    def _first_round(self, video: Any, index: int) -> tuple[Scribble, int, str | None, float]:
        """Round 1's scribble, frame, stroke hash (with a cache) and drawing time, computed once per video."""
        memo = self._first.get((video.name, index))
        if memo is None:
            scribble, frame = self.user.first_scribble(video, index)
            digest = scribble_hash(scribble, frame) if self._cache is not None else None
            memo = self._first[(video.name, index)] = (scribble, frame, digest, drawing_seconds(scribble))
        return memo

    def _correction(self, video: Any, result: VOSResult, frame: int) -> tuple[Any, str | None, float]:
        """The simulated user's scribble on ``frame`` given ``result``: ``(scribble, stroke hash, seconds)``.

        With a cache, the result's entry remembers where the scribble is stored, its stroke hash and
        drawing time, so a replayed round needs neither the masks nor the scribble itself: the scribble
        is then a loader the cache backend calls only if it has to run the VOS model.
        """
        key = getattr(result, "key", None)
        if self._cache is None or key is None or self.user.store_dir is None:
            scribble = self.user.correction(video, result.masks, frame)
            return scribble, None, drawing_seconds(scribble)
        name = f"scribble/{self._gt_key(video)}/{self.user.key}/{video.name}/{frame}"
        pointer = self._cache.derived(key, name)
        if pointer is not None:
            lazy = LazyScribble(
                self.user.store_dir / pointer["file"],
                lambda: self.user.correction(video, result.masks, frame),
            )
            return lazy, pointer["digest"], float(pointer["seconds"])
        path = self.user.path(video, result.masks, frame)
        scribble = self.user.correction(video, result.masks, frame)
        digest = scribble_hash(scribble, frame)
        seconds = drawing_seconds(scribble)
        relative = path.relative_to(self.user.store_dir).as_posix()
        self._cache.put_derived(key, name, {"file": relative, "digest": digest, "seconds": seconds})
        return scribble, digest, seconds

    # ------------------------------------------------------------------ derived values
    def _gt_key(self, video: Any) -> str:
        """Hash of a video's ground truth (what the J&F and the simulated user depend on)."""
        key = self._gt_keys.get(video.name)
        if key is None:
            digest = hashlib.sha1()
            digest.update(repr((video.masks.shape, int(video.num_objects))).encode())
            digest.update(np.ascontiguousarray(video.masks).tobytes())
            key = self._gt_keys[video.name] = digest.hexdigest()[:20]
        return key

    def _result_jf(self, video: Any, result: VOSResult) -> np.ndarray:
        """Per-frame J&F of a result (stored with its cache entry, so a replayed round skips it)."""
        key = getattr(result, "key", None)
        if self._cache is None or key is None:
            return per_frame_jf(video.masks, result.masks, video.num_objects)["JF"]
        name = f"jf/{self._gt_key(video)}"
        stored = self._cache.derived(key, name)
        if stored is not None:
            j_values = np.asarray(stored["J"], dtype=np.float64)
            f_values = np.asarray(stored["F"], dtype=np.float64)
        else:
            scores = per_frame_jf(video.masks, result.masks, video.num_objects)
            j_values, f_values = scores["J"], scores["F"]
            self._cache.put_derived(key, name, {"J": j_values.tolist(), "F": f_values.tolist()})
        # The same operations as per_frame_jf, so the values are bit-identical.
        return (0.5 * (j_values + f_values)).mean(axis=1)

    def _frame_quality(self, video: Any, result: VOSResult, jf: np.ndarray) -> np.ndarray:
        if type(self.quality) is OracleQuality:
            return jf.astype(np.float32)  # the oracle is the J&F computed already
        key, token = getattr(result, "key", None), self._quality_token()
        if self._cache is None or key is None or token is None:
            return np.asarray(self.quality(video.frames, result, video.masks, video.num_objects), np.float32)
        # A learned estimator's prediction is a function of the entry (frames + result) and its weights.
        name = f"quality/{token}"
        stored = self._cache.derived(key, name)
        if stored is not None:
            return np.asarray(stored, dtype=np.float32)
        quality = np.asarray(self.quality(video.frames, result, video.masks, video.num_objects), np.float32)
        self._cache.put_derived(key, name, [float(v) for v in quality])
        return quality

    def _quality_token(self) -> str | None:
        """Hash of a learned quality source's weights and settings (None: not stored with the cache).

        The weights are hashed once, when first needed; an estimator trained further afterwards
        needs a new session.
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
