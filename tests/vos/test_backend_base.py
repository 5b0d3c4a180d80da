"""The backend interface and the registry."""

from __future__ import annotations

import numpy as np
import pytest

from vos_recommender.backends import BACKENDS, VOSBackend, available_backends, build_backend, register_backend
from vos_recommender.backends.base import VOSResult, objects_to_probs, probs_to_masks
from vos_recommender.interaction.scribbles import empty_scribble


class ConstantBackend(VOSBackend):
    """Labels every pixel with object 1."""

    name = "constant"

    def _start(self) -> None:
        pass

    def _interact(self, scribble, frame):
        t, h, w, _ = self.frames.shape
        probs = np.zeros((t, self.num_objects + 1, h, w), np.float32)
        probs[:, 1] = 1
        return probs_to_masks(probs), probs


def test_unknown_backend_lists_known_names():
    with pytest.raises(KeyError) as err:
        build_backend("nope")
    for name in ("flow", "learned", "cache", "ipn", "manet", "atnet"):
        assert name in str(err.value)


def test_register_and_build():
    register_backend("constant-test", ConstantBackend)
    try:
        assert "constant-test" in available_backends()
        with pytest.raises(KeyError, match="already registered"):
            register_backend("constant-test", ConstantBackend)
        backend = build_backend("constant-test")
        frames = np.zeros((3, 8, 10, 3), np.uint8)
        backend.start_video(frames, 2)
        result = backend.interact(empty_scribble("x", 3), 1)
        assert result.masks.shape == (3, 8, 10) and result.probs.shape == (3, 3, 8, 10)
        assert result.elapsed >= 0 and not result.from_cache
        assert backend.annotated_frames == [1]
        backend.reset()
        assert backend.frames is None and backend.annotated_frames == []
    finally:
        BACKENDS.unregister("constant-test")


def test_interface_rejects_bad_input():
    backend = ConstantBackend()
    with pytest.raises(RuntimeError, match="before start_video"):
        backend.interact(empty_scribble("x", 3), 0)
    with pytest.raises(ValueError, match="uint8"):
        backend.start_video(np.zeros((3, 8, 10, 3), np.float32), 1)
    with pytest.raises(ValueError, match="num_objects"):
        backend.start_video(np.zeros((3, 8, 10, 3), np.uint8), 0)
    backend.start_video(np.zeros((3, 8, 10, 3), np.uint8), 1)
    with pytest.raises(IndexError, match="annotated frame 3"):
        backend.interact(empty_scribble("x", 3), 3)
    with pytest.raises(ValueError, match="frame lists"):
        backend.interact(empty_scribble("x", 4), 0)


def test_result_validation():
    result = VOSResult(np.zeros((2, 4, 5), np.uint8), np.zeros((2, 3, 4, 5), np.float32), 0.0)
    result.validate(2, 2, 4, 5)
    with pytest.raises(ValueError, match="probs"):
        result.validate(2, 3, 4, 5)


def test_probs_to_masks_is_the_arg_max_over_classes_first_class_on_ties():
    rng = np.random.default_rng(0)
    for shape in [(2, 4, 6, 7), (1, 2, 3, 3), (3, 1, 2, 5)]:
        probs = rng.uniform(size=shape).astype(np.float32)
        masks = probs_to_masks(probs)
        assert masks.dtype == np.uint8
        np.testing.assert_array_equal(masks, np.argmax(probs, axis=1))
    tied = np.zeros((1, 3, 2, 2), np.float32)
    tied[0, 1:] = 0.5
    np.testing.assert_array_equal(probs_to_masks(tied), np.argmax(tied, axis=1))  # class 1 wins the tie
    with pytest.raises(ValueError, match="T x \\(O\\+1\\) x H x W"):
        probs_to_masks(tied[0])


def test_backend_namespace_names_the_defaults_revision_when_there_is_one(tmp_path):
    from vos_recommender.backends.base import backend_namespace
    from vos_recommender.backends.cache import CachingBackend

    assert backend_namespace("learned", {"checkpoint": "c"}) == '["learned", {"checkpoint": "c"}]'
    assert backend_namespace("flow", None, 1) == '["flow", {}, {"defaults_revision": 1}]'
    # Results of flow's defaults before refinement (namespace '["flow", {}]') are not replayed.
    cache = CachingBackend("flow", tmp_path / "cache")
    assert cache.defaults_revision == 1 and cache.namespace == '["flow", {}, {"defaults_revision": 1}]'


def test_objects_to_probs_matches_reference():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, size=(2, 3, 4, 5)).astype(np.float32)
    out = objects_to_probs(p)
    # Reference: softmax of the logits of [prod(1 - p), p_1, ..., p_O] (the released IPN aggregation).
    stacked = np.concatenate([np.prod(1 - p, axis=1, keepdims=True), p], axis=1).astype(np.float64)
    logits = np.log(stacked / (1 - stacked))
    ref = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_masks_are_the_first_arg_max_of_the_probabilities():
    rng = np.random.default_rng(1)
    probs = rng.uniform(size=(3, 4, 6, 7)).astype(np.float32)
    probs[0, :, 0, 0] = 0.5  # a tie of every class: the first wins
    probs[1, 2:, 1, 1] = probs[1, :, 1, 1].max() + 1  # a tie of the last two
    np.testing.assert_array_equal(probs_to_masks(probs), np.argmax(probs, axis=1))
    assert probs_to_masks(probs).dtype == np.uint8 and probs_to_masks(probs)[0, 0, 0] == 0
    assert probs_to_masks(probs)[1, 1, 1] == 2
    probs[2, 1, 3, 3] = np.nan  # as np.argmax: a NaN counts as the largest
    np.testing.assert_array_equal(probs_to_masks(probs), np.argmax(probs, axis=1))


def test_snapshots_are_refused_by_backends_that_do_not_save_state_and_checked_on_restore():
    from vos_recommender.backends import BackendStateError

    backend = ConstantBackend()
    with pytest.raises(RuntimeError, match="before start_video"):
        backend.snapshot()
    backend.start_video(np.zeros((2, 4, 4, 3), np.uint8), 1)
    with pytest.raises(BackendStateError, match="backend 'constant' cannot save and restore its state"):
        backend.snapshot()
    flow = build_backend("flow")
    frames = np.random.default_rng(0).integers(0, 255, size=(3, 16, 16, 3), dtype=np.uint8)
    flow.start_video(frames, 1)
    saved = flow.snapshot()
    flow.start_video(frames.copy(), 1)
    with pytest.raises(BackendStateError, match="on another video"):
        flow.restore(saved)


def test_a_restored_flow_backend_repeats_the_next_round_exactly():
    flow = build_backend("flow")
    frames = np.random.default_rng(0).integers(0, 255, size=(4, 24, 24, 3), dtype=np.uint8)
    flow.start_video(frames, 1)
    first = empty_scribble("toy", 4)
    first["scribbles"][0] = [
        {"path": [[0.3, 0.3], [0.5, 0.5]], "object_id": 1},
        {"path": [[0.9, 0.1]], "object_id": 0},
    ]
    flow.interact(first, 0)
    saved = flow.snapshot()
    second = empty_scribble("toy", 4)
    second["scribbles"][3] = [{"path": [[0.5, 0.5], [0.6, 0.6]], "object_id": 1}]
    expected = flow.interact(second, 3)
    probe = empty_scribble("toy", 4)
    probe["scribbles"][0] = [{"path": [[0.4, 0.4]], "object_id": 0}]  # adds seeds on the key frame 0
    flow.restore(saved)
    flow.interact(probe, 0)
    flow.restore(saved)
    assert flow.annotated_frames == [0]
    np.testing.assert_array_equal(flow.interact(second, 3).probs, expected.probs)
