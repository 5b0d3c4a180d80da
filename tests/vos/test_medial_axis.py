"""The medial axis with cached lookup tables equals scikit-image's, pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import ellipse, polygon
from skimage.morphology import medial_axis as skimage_medial_axis

from vos_recommender.interaction.medial_axis import medial_axis


def _shapes():
    rng = np.random.default_rng(0)
    blob = np.zeros((60, 80), bool)
    blob[ellipse(30, 40, 20, 30, shape=blob.shape)] = True
    yield blob
    star = np.zeros((64, 64), bool)
    star[polygon([5, 40, 60, 30, 10], [30, 60, 20, 5, 10], shape=star.shape)] = True
    yield star
    yield np.ones((7, 9), bool)
    yield np.zeros((10, 10), bool)
    thin = np.zeros((20, 30), bool)
    thin[10, 3:27] = True
    thin[4:16, 15] = True
    yield thin
    for _ in range(6):
        yield rng.random((40, 50)) < 0.55  # many components, holes and ties


@pytest.mark.parametrize("index", range(11))
@pytest.mark.parametrize("seed", [0, 3])
def test_equals_scikit_image(index, seed):
    image = list(_shapes())[index]
    ours = medial_axis(image, rng=seed)
    assert ours.dtype == bool and ours.shape == image.shape
    assert np.array_equal(ours, skimage_medial_axis(image, rng=seed))
    assert not (ours & ~image).any()  # the skeleton lies inside the region
