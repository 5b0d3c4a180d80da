"""Stand-in for ATNet's libs/utils_torch.py (test double)."""

import torch


def combine_masks_with_batch(masks, n_obj, th=0.5, return_as_onehot=False):
    marker = torch.argmax(masks, dim=1, keepdim=True)
    out = torch.zeros_like(masks[:, :1])
    for obj_id in range(n_obj):
        out[(marker == obj_id) & (masks[:, obj_id : obj_id + 1] > th)] = obj_id + 1
    return out
