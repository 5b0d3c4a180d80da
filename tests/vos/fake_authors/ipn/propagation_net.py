"""Stand-in for IPN's propagation_net.py (test double, see tests/vos/fake_authors/__init__.py)."""

import torch
from torch import nn


class Pnet(nn.Module):
    """Copies the previous frame's probability through a learnable affine map."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.shift = nn.Parameter(torch.zeros(1))

    def forward(self, ref, a_ref, frame, prev_e, prev_prob, gt_m, loss_weights, next_a_ref=None):
        return (prev_prob * self.scale + self.shift).clamp(0, 1), torch.zeros(()), next_a_ref
