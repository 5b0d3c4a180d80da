"""``scribbles2mask`` with davisinteractive's signature and output, for the adapter tests.

It draws with the project's re-implementation of that rasteriser, which equals davisinteractive's
output on recorded scribbles (``tests/vos/test_davis_reference.py``), and records every call. Like the
real one it needs NumPy's removed ``np.int`` alias, so a call outside the adapter's alias block fails.
"""

import numpy as np

from vos_recommender.interaction.scribbles import davis_rasterize

CALLS = []


def scribbles2mask(
    scribbles,
    output_resolution,
    bezier_curve_sampling=False,
    nb_points=1000,
    bresenham=True,
    default_value=-1,
):
    CALLS.append(tuple(output_resolution))
    height, width = output_resolution
    masks = np.full((len(scribbles["scribbles"]), height, width), default_value, dtype=np.int)  # noqa: NPY001 (as the real one)
    for frame, strokes in enumerate(scribbles["scribbles"]):
        drawn = davis_rasterize([(s["path"], s["object_id"]) for s in strokes], height, width)
        masks[frame][drawn >= 0] = drawn[drawn >= 0]
    return masks
