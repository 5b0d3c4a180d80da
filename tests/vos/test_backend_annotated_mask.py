"""VOSBackend.set_annotated_mask: a mask as a frame's annotation, propagated from (flow), refused elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from vos_recommender.backends import BackendNotSupportedError, VOSBackend, build_backend
from vos_recommender.interaction.scribbles import empty_scribble


class _ScribblesOnly(VOSBackend):
    name = "scribbles_only"

    def _start(self) -> None:
        pass

    def _interact(self, scribble, frame):
        assert self.frames is not None
        num_frames, height, width, _ = self.frames.shape
        probs = np.zeros((num_frames, self.num_objects + 1, height, width), np.float32)
        probs[:, 0] = 1.0
        return np.zeros((num_frames, height, width), np.uint8), probs


def _moving_square(num_frames=6, size=40):
    """A bright square moving right by 2 pixels a frame on a dark textured background, and its masks."""
    rng = np.random.default_rng(0)
    frames = (rng.random((num_frames, size, size, 3)) * 40).astype(np.uint8)
    masks = np.zeros((num_frames, size, size), np.uint8)
    for t in range(num_frames):
        frames[t, 12:24, 6 + 2 * t : 18 + 2 * t] = 220
        masks[t, 12:24, 6 + 2 * t : 18 + 2 * t] = 1
    return frames, masks


def test_flow_takes_the_mask_as_the_frame_and_propagates_from_it():
    frames, masks = _moving_square()
    backend = build_backend("flow")
    backend.start_video(frames, 1, video_id="square")
    assert backend.supports_annotated_masks
    result = backend.set_annotated_mask(2, masks[2])
    np.testing.assert_array_equal(result.masks[2], masks[2])
    assert backend.annotated_frames == [2]
    # Propagated both ways: every frame holds most of the moving square, little outside it.
    for t in range(len(frames)):
        hit = (result.masks[t] == 1) & (masks[t] == 1)
        assert hit.sum() > 0.7 * masks[t].sum() and (result.masks[t] == 1).sum() < 1.3 * masks[t].sum()
    # A scribble round elsewhere keeps the mask on its frame.
    scribble = empty_scribble("square", len(frames))
    scribble["scribbles"][5] = [{"path": [[0.05, 0.05], [0.1, 0.05]], "object_id": 0}]
    after = backend.interact(scribble, 5)
    np.testing.assert_array_equal(after.masks[2], masks[2])


def test_a_backend_without_the_hook_refuses_and_bad_masks_are_named():
    frames, masks = _moving_square()
    backend = _ScribblesOnly()
    backend.start_video(frames, 1)
    assert not backend.supports_annotated_masks
    with pytest.raises(BackendNotSupportedError, match="scribbles_only.*cannot take a mask"):
        backend.set_annotated_mask(0, masks[0])
    flow = build_backend("flow")
    with pytest.raises(RuntimeError, match="before start_video"):
        flow.set_annotated_mask(0, masks[0])
    flow.start_video(frames, 1)
    with pytest.raises(IndexError, match="outside the video"):
        flow.set_annotated_mask(6, masks[0])
    with pytest.raises(ValueError, match="40 x 40 label image"):
        flow.set_annotated_mask(0, masks[0, :20])
    with pytest.raises(ValueError, match=r"labels must be 0\.\.1, got 0\.\.2"):
        flow.set_annotated_mask(0, masks[0] * 2)
    assert flow.annotated_frames == []
