"""Refinement of propagated masks against the image (graph cut with the annotated frames' colour models)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vos_recommender.backends.flow import FlowBackend
from vos_recommender.backends.refinement import GrabCutRefinement, build_refinement
from vos_recommender.interaction.scribbles import empty_scribble

HEIGHT, WIDTH = 96, 128


def _scene(squares: list[tuple[int, int, int, tuple[int, int, int]]], seed: int = 0):
    """A textured grey-blue background with textured coloured squares ``(top, left, side, rgb)`` on it,
    and its label map (square ``k`` is object ``k + 1``)."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal((70, 90, 120), 12, size=(HEIGHT, WIDTH, 3)), 0, 255)
    labels = np.zeros((HEIGHT, WIDTH), np.int64)
    for k, (top, left, side, rgb) in enumerate(squares):
        image[top : top + side, left : left + side] = np.clip(
            rng.normal(rgb, 12, size=(side, side, 3)), 0, 255
        )
        labels[top : top + side, left : left + side] = k + 1
    return image.astype(np.uint8), labels


def _probs(labels: np.ndarray, num_objects: int, confidence: float = 0.9) -> np.ndarray:
    """Soft class probabilities whose arg-max is ``labels``."""
    num_classes = num_objects + 1
    onehot = (labels[None] == np.arange(num_classes)[:, None, None]).astype(np.float32)
    return (confidence * onehot + (1.0 - confidence) / num_classes).astype(np.float32)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _trail_and_spill(labels: np.ndarray, obj: int, top: int, left: int, side: int) -> np.ndarray:
    """``labels`` with object ``obj`` dragging a 3-pixel trail to its left and spilling below-right."""
    warped = labels.copy()
    warped[top + side // 2 - 1 : top + side // 2 + 2, max(0, left - 30) : left] = obj  # trail
    warped[top + side - 6 : top + side + 10, left + side - 8 : left + side + 12] = obj  # spill
    return warped


def test_trail_and_spill_of_a_square_are_removed():
    annotated, annotated_labels = _scene([(20, 70, 28, (200, 40, 40))], seed=1)
    image, truth = _scene([(34, 50, 28, (200, 40, 40))], seed=2)
    warped = _trail_and_spill(truth, 1, 34, 50, 28)
    refinement = GrabCutRefinement()
    models = refinement.fit([annotated], [annotated_labels], 1)
    refined = refinement.refine(image, _probs(warped, 1), models)
    assert refined.shape == (2, HEIGHT, WIDTH) and refined.dtype == np.float32
    np.testing.assert_allclose(refined.sum(axis=0), 1.0, atol=1e-5)
    before, after = _iou(warped == 1, truth == 1), _iou(refined.argmax(axis=0) == 1, truth == 1)
    assert before < 0.8 and after > 0.95, (before, after)


def test_a_mask_that_missed_part_of_the_object_grows_back_within_the_band():
    annotated, annotated_labels = _scene([(20, 70, 28, (40, 200, 60))], seed=3)
    image, truth = _scene([(34, 50, 28, (40, 200, 60))], seed=4)
    shrunk = truth.copy()
    shrunk[34:40] = 0  # the top 6 rows of the square were lost
    refinement = GrabCutRefinement(band_fraction=0.06)
    refined = refinement.refine(image, _probs(shrunk, 1), refinement.fit([annotated], [annotated_labels], 1))
    assert _iou(refined.argmax(axis=0) == 1, truth == 1) > _iou(shrunk == 1, truth == 1) + 0.1


def test_two_objects_spilling_onto_each_other_are_separated():
    squares = [(10, 10, 26, (210, 50, 40)), (50, 70, 30, (40, 190, 70))]
    annotated, annotated_labels = _scene(squares, seed=5)
    moved = [(14, 20, 26, (210, 50, 40)), (44, 60, 30, (40, 190, 70))]
    image, truth = _scene(moved, seed=6)
    warped = _trail_and_spill(truth, 2, 44, 60, 30)
    warped[30:44, 30:46] = 1  # object 1 spills down onto the background ...
    warped[44:52, 60:75] = 1  # ... and onto object 2
    refinement = GrabCutRefinement()
    refined = refinement.refine(image, _probs(warped, 2), refinement.fit([annotated], [annotated_labels], 2))
    labels = refined.argmax(axis=0)
    for obj in (1, 2):
        before, after = _iou(warped == obj, truth == obj), _iou(labels == obj, truth == obj)
        assert after > 0.93 and after > before, (obj, before, after)


def test_an_object_without_colour_models_keeps_its_warped_mask():
    annotated, annotated_labels = _scene([(20, 70, 28, (200, 40, 40))], seed=1)
    image, truth = _scene([(34, 50, 28, (200, 40, 40)), (60, 10, 20, (40, 40, 220))], seed=2)
    warped = _trail_and_spill(truth, 2, 60, 10, 20)
    refinement = GrabCutRefinement()
    models = refinement.fit([annotated], [annotated_labels], 2)  # object 2 absent from the annotated frame
    assert models.models[1] is None and models.models[0] is not None
    labels = refinement.refine(image, _probs(warped, 2), models).argmax(axis=0)
    np.testing.assert_array_equal(labels == 2, warped == 2)


def test_refinement_is_deterministic():
    annotated, annotated_labels = _scene([(20, 70, 28, (200, 40, 40))], seed=1)
    image, truth = _scene([(34, 50, 28, (200, 40, 40))], seed=2)
    probs = _probs(_trail_and_spill(truth, 1, 34, 50, 28), 1)
    refinement = GrabCutRefinement()
    first_models = refinement.fit([annotated], [annotated_labels], 1)
    first = refinement.refine(image, probs, first_models)
    cv2.randu(np.zeros((64, 64), np.float32), 0, 1)  # OpenCV's global generator moves on in between
    second_models = refinement.fit([annotated], [annotated_labels], 1)
    for a, b in zip(first_models.models[0], second_models.models[0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first, refinement.refine(image, probs, second_models))


def test_settings_are_validated_with_clear_errors():
    assert build_refinement(None) is None
    assert build_refinement("grabcut") == GrabCutRefinement()
    assert build_refinement({"method": "grabcut", "band_fraction": 0.05}).band_fraction == 0.05
    with pytest.raises(ValueError, match="unknown method 'graphcut'"):
        build_refinement("graphcut")
    with pytest.raises(ValueError, match="unknown method None"):
        build_refinement({"band_fraction": 0.05})
    with pytest.raises(ValueError, match=r"unknown grabcut setting\(s\) \['band'\]"):
        build_refinement({"method": "grabcut", "band": 3})
    with pytest.raises(ValueError, match="refine.band_fraction"):
        build_refinement({"method": "grabcut", "band_fraction": -0.1})
    with pytest.raises(ValueError, match="refine.onehot_weight"):
        GrabCutRefinement(onehot_weight=0.5)
    with pytest.raises(ValueError, match="refine must be None, a method name"):
        build_refinement(3)
    with pytest.raises(ValueError, match="unknown method 'snake'"):
        FlowBackend(refine="snake")
    refinement = GrabCutRefinement()
    image, labels = _scene([(20, 70, 28, (200, 40, 40))])
    models = refinement.fit([image], [labels], 1)
    with pytest.raises(ValueError, match="2 objects, the colour models 1"):
        refinement.refine(image, _probs(labels, 2), models)
    with pytest.raises(ValueError, match="do not fit image"):
        refinement.refine(image[:50], _probs(labels, 1), models)
    with pytest.raises(ValueError, match="one label map per image"):
        refinement.fit([image], [], 1)


def _moving_object_video(num_frames: int = 8):
    """A red square with a blue band on its right moving right 3 pixels per frame over a textured
    background, the truth (both parts are the object) and the blue band's mask per frame."""
    frames, truth, band = [], [], []
    rng = np.random.default_rng(0)
    for t in range(num_frames):
        left = 20 + 3 * t
        image, labels = _scene([(30, left, 26, (200, 40, 40))], seed=10 + t)
        image[30:56, left + 26 : left + 38] = np.clip(
            rng.normal((230, 220, 60), 12, size=(26, 12, 3)), 0, 255
        )
        labels[30:56, left + 26 : left + 38] = 1
        part = np.zeros_like(labels, dtype=bool)
        part[30:56, left + 26 : left + 38] = True
        frames.append(image)
        truth.append(labels)
        band.append(part)
    return np.stack(frames), np.stack(truth).astype(np.uint8), np.stack(band)


def _strokes(
    frame: int, num_frames: int, inside: list[tuple[float, float]], outside: list[tuple[float, float]]
):
    scribble = empty_scribble("square", num_frames)
    scribble["scribbles"][frame] = [
        {"path": [[x / WIDTH, y / HEIGHT] for x, y in inside], "object_id": 1},
        {"path": [[x / WIDTH, y / HEIGHT] for x, y in outside], "object_id": 0},
    ]
    return scribble


def test_flow_backend_refines_propagated_frames_and_corrections_spread_from_the_corrected_frame():
    frames, truth, band = _moving_object_video()
    # Round 1 marks only the red square: the yellow band is left out. Round 2 adds the band on frame 7.
    first_round = _strokes(0, len(frames), [(26, 42), (40, 42)], [(4, 4), (120, 4), (120, 90), (60, 44)])
    correction = _strokes(7, len(frames), [(73, 32), (73, 54)], [(4, 90), (4, 4)])
    results = {}
    for refine in (None, "grabcut"):
        backend = FlowBackend(refine=refine)
        backend.start_video(frames, 1)
        results[refine] = [backend.interact(first_round, 0), backend.interact(correction, 7)]

    def band_share(result, t):
        return float((result.masks[t][band[t]] == 1).mean())

    # The annotated frame is the random walker's segmentation of the strokes, refined or not.
    np.testing.assert_array_equal(results["grabcut"][0].masks[0], results[None][0].masks[0])
    first, second = results["grabcut"]
    assert all(band_share(first, t) < 0.2 for t in range(8))
    # The correction shows in the corrected frame and spreads from there, the refinement keeping it.
    assert band_share(second, 7) > 0.9 and _iou(second.masks[7] == 1, truth[7] == 1) > 0.9
    assert band_share(second, 6) > 0.8 and band_share(second, 5) > 0.8
    ious = {
        refine: np.mean([_iou(r[1].masks[t] == 1, truth[t] == 1) for t in range(8)])
        for refine, r in results.items()
    }
    assert ious["grabcut"] >= ious[None] - 0.01, ious


def test_flow_backend_with_refinement_is_deterministic():
    frames, _, _ = _moving_object_video()
    scribble = _strokes(0, len(frames), [(26, 42), (40, 42)], [(4, 4), (120, 4), (120, 90), (60, 44)])
    results = []
    for _ in range(2):
        backend = FlowBackend()  # refine="grabcut" by default
        backend.start_video(frames, 1)
        results.append(backend.interact(scribble, 0))
    np.testing.assert_array_equal(results[0].probs, results[1].probs)
    plain = FlowBackend(refine=None)
    plain.start_video(frames, 1)
    assert not np.array_equal(plain.interact(scribble, 0).probs, results[0].probs)  # the refinement acted
