"""Stand-in for ATNet's networks/atnet.py with the same method signatures (test double)."""

import torch
from torch import nn

CALLS = []


class _Encoder3ch(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        r5 = self.conv(x)
        return r5, None, None, r5


class ATnet(nn.Module):
    def __init__(self):
        super().__init__()
        self.anet = nn.Conv2d(6, 1, 1)  # [image(3), prev mask, positive, negative] -> logit
        self.encoder_3ch = _Encoder3ch()
        self.tnet_scale = nn.Parameter(torch.ones(1))

    def forward_ANet(self, x):
        CALLS.append(("anet", tuple(x.shape)))
        logit = self.anet(x)
        return logit, logit.detach()

    def forward_TNet(self, anno_3ch_list, image, anno_6ch_list, r2_prev, predmask_prev):
        CALLS.append(("tnet", len(anno_3ch_list), len(anno_6ch_list)))
        p = predmask_prev.clamp(1e-4, 1 - 1e-4)
        return torch.log(p / (1 - p)) * self.tnet_scale, r2_prev
