# The generated dataset in which the pixel's own object decides the class: clusters of touching objects
# of different classes that all share one texture, so only the outlines tell the objects apart
# (python -m mmseg_ranet.datasets.generate --scene objects --out data/synthetic_objects).
# Same classes, pipelines, loaders and metric as synthetic_context.py; only the data differ.
_base_ = ["./synthetic_context.py"]
data_root = "data/synthetic_objects"
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
