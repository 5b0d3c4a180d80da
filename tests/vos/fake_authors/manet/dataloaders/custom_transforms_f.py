"""Stand-in for MANet's dataloaders/custom_transforms_f.py (test double): sample-dict transforms."""

import cv2
import numpy as np
import torch


class Resize:
    def __init__(self, output_size):
        self.output_size = output_size

    def __call__(self, sample):
        h, w = self.output_size
        return {k: cv2.resize(v, (w, h)) if isinstance(v, np.ndarray) else v for k, v in sample.items()}


class ToTensor:
    def __call__(self, sample):
        out = {}
        for key, value in sample.items():
            if isinstance(value, np.ndarray):
                value = value[:, :, None] if value.ndim == 2 else value
                value = torch.from_numpy(value.transpose(2, 0, 1).copy()).float()
            out[key] = value
        return out
