"""Stand-in for IPN's model.py (zyy-cn/IPN) with the same call signatures (test double).

``model(load_pretrain)``, ``init_variables(frames, masks, device)``, ``Run(variables)`` and the
``variables`` keys mirror the original; the networks are tiny (see interaction_net / propagation_net).
"""

import copy

import numpy as np
import torch
from interaction_net import Inet
from propagation_net import Pnet
from utils_ipn import scribble_labels

CALLS = []


class model:
    def __init__(self, load_pretrain=True):
        if load_pretrain:
            raise FileNotFoundError("I_e290.pth")  # as the original: no weights next to the code here
        self.model_I = Inet()
        self.model_P = Pnet()
        self.model_I.eval()
        self.model_P.eval()

    def init_variables(self, frames, masks, device="cuda"):
        num_frames, height, width = frames.shape[:3]
        masks = torch.Tensor(np.asarray(masks, dtype=np.float32))
        num_objs = len(torch.unique(masks)) - 1
        return {
            "all_F": torch.unsqueeze(torch.Tensor(frames).permute((3, 0, 1, 2)).float() / 255.0, dim=0).to(
                device
            ),
            "all_M": torch.unsqueeze(masks.float(), dim=0).long().to(device),
            "mask_objs": -1 * torch.ones(num_objs, num_frames, height, width).to(device),
            "prev_targets": [],
            "probs": None,
            "info": {
                "num_frames": num_frames,
                "num_objs": num_objs,
                "height": height,
                "width": width,
                "device": device,
            },
            "ref": [None for _ in range(num_objs)],
        }

    def Run(self, variables, optimizer=None):
        scribbles = variables["scribbles"]
        target = scribbles["annotated_frame"]
        info = variables["info"]
        CALLS.append({"scribbles": copy.deepcopy(scribbles), "num_objs": info["num_objs"]})
        num_objects, num_frames = info["num_objs"], info["num_frames"]
        height, width = info["height"], info["width"]
        labels = scribble_labels(scribbles, target, height, width)
        masks = torch.zeros(num_objects, num_frames, height, width)
        for n_obj in range(1, num_objects + 1):
            all_e = variables["mask_objs"][n_obj - 1 : n_obj].clone()
            pos = torch.from_numpy((labels == n_obj).astype(np.float32))[None]
            neg = torch.from_numpy(((labels >= 0) & (labels != n_obj)).astype(np.float32))[None]
            all_e[:, target], _, _ = self.model_I(
                variables["all_F"][:, :, target], all_e[:, target], pos, neg, None, [1]
            )
            for n in range(target + 1, num_frames):
                all_e[:, n], _, _ = self.model_P(None, None, None, None, all_e[:, n - 1], None, [1])
            for n in reversed(range(0, target)):
                all_e[:, n], _, _ = self.model_P(None, None, None, None, all_e[:, n + 1], None, [1])
            masks[n_obj - 1] = all_e[0].clamp(0, 1)
        em = torch.zeros(1, num_objects + 1, num_frames, height, width)
        em[0, 0] = torch.prod(1 - masks, dim=0)
        em[0, 1:] = masks
        em = torch.clamp(em, 1e-7, 1 - 1e-7)
        all_e = torch.softmax(torch.log(em / (1 - em)), dim=1)
        variables["prev_targets"].append(target)
        variables["masks"] = all_e[0].max(0)[1].float()
        variables["mask_objs"] = masks
        variables["probs"] = all_e
