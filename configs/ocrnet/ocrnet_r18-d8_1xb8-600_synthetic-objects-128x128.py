# OCRNet on the generated objects dataset (configs/_base_/datasets/synthetic_objects.py).
# Model, schedule and seed of ocrnet_r18-d8_1xb8-600_synthetic-128x128.py; only the data root changes.
#   python -m mmseg_ranet.datasets.generate --scene objects --out data/synthetic_objects
_base_ = ["./ocrnet_r18-d8_1xb8-600_synthetic-128x128.py"]
# The same value as synthetic_objects.py; set here because the inherited loaders already hold the
# context data root (a config cannot take two dataset bases with the same keys).
data_root = "data/synthetic_objects"
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))
