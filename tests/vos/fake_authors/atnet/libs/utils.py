"""Stand-in for ATNet's libs/utils.py (test double): same function signatures, simplified bodies."""

import numpy as np

CALLS = []


def apply_pad(img, padinfo=None):
    if padinfo:
        hpad, wpad = padinfo
        pad = (hpad, wpad, (0, 0)) if img.ndim == 3 else (hpad, wpad)
        return np.pad(img, pad, mode="reflect")
    h, w = img.shape[:2]
    new_h, new_w = h + 32 - h % 32, w + 32 - w % 32
    lh, uh = (new_h - h) // 2, (new_h - h) // 2 + (new_h - h) % 2
    lw, uw = (new_w - w) // 2, (new_w - w) // 2 + (new_w - w) % 2
    pad = ((lh, uh), (lw, uw), (0, 0)) if img.ndim == 3 else ((lh, uh), (lw, uw))
    return np.pad(img, pad, mode="reflect"), ((lh, uh), (lw, uw))


def get_prop_list(annotated_frames, annotated_now, num_frames, proportion=1.0, get_close_anno_frames=False):
    others = sorted(f for f in annotated_frames if f != annotated_now)
    start = max([f + 1 for f in others if f < annotated_now], default=0)
    end = min([f - 1 for f in others if f > annotated_now], default=num_frames - 1)
    return list(range(annotated_now, start - 1, -1)) + list(range(annotated_now, end + 1))


def scribble_to_image(
    scribbles,
    currentframe,
    obj_id,
    prev_mask,
    dilation=5,
    nocare_area=None,
    bresenhamtf=True,
    blur=True,
    singleimg=False,
    seperate_pos_neg=False,
):
    CALLS.append({"frame": currentframe, "obj": obj_id, "num_strokes": [len(s) for s in scribbles]})
    h, w = prev_mask.shape
    pos, neg = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    for stroke in scribbles[currentframe]:
        for x, y in stroke["path"]:
            r, c = min(int(round(y * h)), h - 1), min(int(round(x * w)), w - 1)
            if stroke["object_id"] == obj_id:
                pos[r, c] = 1
            else:
                neg[r, c] = 1
    return (pos, neg) if seperate_pos_neg else pos - neg
