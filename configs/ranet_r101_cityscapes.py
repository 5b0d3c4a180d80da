# Shortcut: RANet with a ResNet-101-D8 backbone on Cityscapes (769x769 crops, slide inference).
# New experiments can inherit this file or the one it points to.
_base_ = ["./ranet/ranet_r101-d8_4xb2-80k_cityscapes-769x769.py"]
custom_imports = dict(imports=["mmseg_ranet"], allow_failed_imports=False)
