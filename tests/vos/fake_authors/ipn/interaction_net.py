"""Stand-in for IPN's interaction_net.py (test double, see tests/vos/fake_authors/__init__.py)."""

import torch
from torch import nn


class Inet(nn.Module):
    """Maps [positive, negative, previous] maps to an object probability with a 1x1 convolution."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)

    def forward(self, frame, prev_e, tar_p, tar_n, gt_m, loss_weights):
        x = torch.cat([tar_p[:, None], tar_n[:, None], prev_e[:, None].clamp(min=0)], dim=1)
        prob = torch.sigmoid(self.conv(x))[:, 0]
        return prob, torch.zeros(()), {"key": frame}
