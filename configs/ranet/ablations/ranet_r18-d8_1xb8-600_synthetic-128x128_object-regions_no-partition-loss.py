# Ablation: the object-region RANet without its partition loss (loss_partition=None); everything else
# unchanged (boundary end points, W^g not trained through J, average linkage, threshold 0.5). W^g then
# learns from nothing and keeps its initial threshold, so this measures what the partition loss costs or
# gives the segmentation itself.
_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions.py"]
model = dict(decode_head=dict(loss_partition=None))
