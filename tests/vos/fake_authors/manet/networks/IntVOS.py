"""Stand-in for MANet's networks/IntVOS.py with the same method signatures (test double).

Like the original it reads module-level settings with ``from config import cfg``.
"""

import torch
from config import cfg
from torch import nn
from torch.nn import functional as F

CALLS = []
#: The scribble labels ``int_seghead`` received, in order.
LABELS = []


def _one_hot(labels, num_classes, h, w):
    labels = F.interpolate(labels.float(), size=(h, w), mode="nearest").long()[:, 0]
    valid = labels >= 0
    out = torch.zeros(labels.shape[0], num_classes, h, w)
    out.scatter_(1, labels.clamp(min=0)[:, None], 1.0)
    return out * valid[:, None]


class IntVOS(nn.Module):
    def __init__(self, cfg_, feature_extracter):
        super().__init__()
        assert cfg_.TEST_MODE and cfg.MODEL_SEMANTIC_EMBEDDING_DIM == cfg_.MODEL_SEMANTIC_EMBEDDING_DIM
        self.feature_extracter = feature_extracter
        self.semantic_embedding = nn.Conv2d(4, 4, 1)
        self.dynamic_seghead = nn.Conv2d(1, 1, 1)
        self.inter_seghead = nn.Conv2d(1, 1, 1)

    def extract_feature(self, x):
        return self.semantic_embedding(self.feature_extracter(x))

    def int_seghead(
        self,
        ref_frame_embedding=None,
        ref_scribble_label=None,
        prev_round_label=None,
        normalize_nearest_neighbor_distances=True,
        global_map_tmp_dic=None,
        local_map_dics=None,
        interaction_num=None,
        seq_names=None,
        gt_ids=None,
        k_nearest_neighbors=1,
        frame_num=None,
        first_inter=True,
    ):
        CALLS.append(("int", frame_num[0], interaction_num, bool(first_inter), prev_round_label is None))
        LABELS.append(ref_scribble_label.clone())
        _, _, h, w = ref_frame_embedding.shape
        num_classes = int(gt_ids[0]) + 1
        logits = self.inter_seghead.weight.view(()) * 8 * _one_hot(ref_scribble_label, num_classes, h, w)
        if prev_round_label is not None:
            logits = logits + 2 * _one_hot(prev_round_label, num_classes, h, w)
        return {seq_names[0]: logits}, local_map_dics

    def prop_seghead(
        self,
        ref_frame_embedding=None,
        previous_frame_embedding=None,
        current_frame_embedding=None,
        ref_scribble_label=None,
        previous_frame_mask=None,
        normalize_nearest_neighbor_distances=True,
        use_local_map=True,
        seq_names=None,
        gt_ids=None,
        k_nearest_neighbors=1,
        global_map_tmp_dic=None,
        local_map_dics=None,
        interaction_num=None,
        start_annotated_frame=None,
        frame_num=None,
        dynamic_seghead=None,
    ):
        CALLS.append(("prop", frame_num[0], interaction_num, start_annotated_frame))
        _, _, h, w = current_frame_embedding.shape
        num_classes = int(gt_ids[0]) + 1
        logits = dynamic_seghead.weight.view(()) * 8 * _one_hot(previous_frame_mask, num_classes, h, w)
        return {seq_names[0]: logits}, global_map_tmp_dic, local_map_dics
