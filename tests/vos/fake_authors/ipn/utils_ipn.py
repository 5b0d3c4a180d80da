"""Stand-in for IPN's utils_ipn.py (test double)."""

import numpy as np


def scribble_labels(scribbles, target, height, width):
    """Label image of the strokes on ``target`` (-1 = none); path points only."""
    out = -np.ones((height, width), dtype=np.int64)
    for stroke in scribbles["scribbles"][target]:
        for x, y in stroke["path"]:
            out[min(int(round(y * height)), height - 1), min(int(round(x * width)), width - 1)] = stroke[
                "object_id"
            ]
    return out
