"""Running the authors' ATNet (yuk6heo/IVOS-ATNet) on CPU with run-time stand-ins, never editing their files.

Patches, each undone on exit of :func:`authors_patches`:

* ``torch.Tensor.cuda`` / ``nn.Module.cuda`` return their object unchanged (the code calls ``.cuda()``
  in ``networks/ltm_transfer.py``);
* NumPy's removed aliases (``np.int``, ``np.float``, ...) exist (``libs/utils.py``, davisinteractive);
* ``torch.utils.model_zoo.load_url`` returns an empty dict instead of downloading ImageNet weights
  (their ``SEResNet50`` always asks for them; the weights are replaced by the state dict loaded
  afterwards anyway);
* ``torch.nn.functional.grid_sample`` defaults to ``align_corners=True``, the only behaviour of the
  PyTorch 1.2 the code was written for (its README); the local transfer's warp assumes it;
* ``networks.correlation_package.correlation`` (FlowNet2's CUDA package, shipped zipped) is replaced by
  :class:`UnfoldCorrelation`, an ``unfold``-based formulation written independently of the project's
  :func:`~vos_recommender.nets.atnet.local_correlation`.

davisinteractive 1.0.4 (``bresenham``) must be importable: install it, or put its sources on
``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.model_zoo
from torch import nn

AUTHORS_REPO = "yuk6heo/IVOS-ATNet"
AUTHORS_COMMIT = "1cf574953a96bd680c518c6362b510fd103ff271"
LOGIT_GAIN = 40.0
_NUMPY_ALIASES = {"int": int, "float": float, "bool": bool, "object": object, "long": int}


class UnfoldCorrelation(nn.Module):
    """FlowNet2 correlation (``kernel_size=1``, ``stride1=1``) from ``F.unfold`` over a dilated window."""

    def __init__(self, pad_size=0, kernel_size=1, max_displacement=0, stride1=1, stride2=1, corr_multiply=1):
        super().__init__()
        if kernel_size != 1 or stride1 != 1:
            raise NotImplementedError("the stand-in covers kernel_size=1, stride1=1 (ATNet's setting)")
        self.pad_size, self.max_displacement, self.stride2 = pad_size, max_displacement, stride2

    def forward(self, input1: torch.Tensor, input2: torch.Tensor) -> torch.Tensor:
        b, c, h, w = input1.shape
        pad, md, s = self.pad_size, self.max_displacement, self.stride2
        window = 2 * (md // s) + 1
        p1 = F.pad(input1, [pad] * 4)[:, :, md : h + 2 * pad - md, md : w + 2 * pad - md]
        out_h, out_w = p1.shape[-2:]
        # Each output pixel's (2R+1)^2 displaced neighbours, row-major: the kernel's channel order.
        cols = F.unfold(F.pad(input2, [pad] * 4), kernel_size=window, dilation=s)
        cols = cols.view(b, c, window * window, out_h, out_w)
        return (cols * p1.unsqueeze(2)).sum(dim=1) / c


def correlation_modules() -> dict[str, types.ModuleType]:
    """Stand-in modules for ``networks.correlation_package`` and its ``correlation`` module."""
    package = types.ModuleType("networks.correlation_package")
    package.__path__ = []  # a package, so the submodule import resolves
    module = types.ModuleType("networks.correlation_package.correlation")
    module.Correlation = UnfoldCorrelation
    package.correlation = module
    return {package.__name__: package, module.__name__: module}


@contextlib.contextmanager
def authors_patches() -> Iterator[dict[str, int]]:
    """Apply the run-time patches listed in the module docstring; yields call counters."""
    counts = {"cuda": 0, "load_url": 0}
    saved = {
        "tensor_cuda": torch.Tensor.cuda,
        "module_cuda": nn.Module.cuda,
        "grid_sample": F.grid_sample,
        "load_url": torch.utils.model_zoo.load_url,
    }
    added = [name for name in _NUMPY_ALIASES if name not in np.__dict__]

    def no_cuda(self, *args, **kwargs):
        counts["cuda"] += 1
        return self

    def no_download(url, *args, **kwargs):
        counts["load_url"] += 1
        return {}

    def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=True):
        return saved["grid_sample"](
            input, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners
        )

    torch.Tensor.cuda = no_cuda
    nn.Module.cuda = no_cuda
    F.grid_sample = grid_sample
    torch.utils.model_zoo.load_url = no_download
    for name in added:
        setattr(np, name, _NUMPY_ALIASES[name])
    try:
        yield counts
    finally:
        torch.Tensor.cuda = saved["tensor_cuda"]
        nn.Module.cuda = saved["module_cuda"]
        F.grid_sample = saved["grid_sample"]
        torch.utils.model_zoo.load_url = saved["load_url"]
        for name in added:
            delattr(np, name)


def check_authors_dir(authors_dir: Path) -> None:
    """Raise ``SystemExit`` with a clear message when the clone or davisinteractive is missing."""
    for rel in ("networks/atnet.py", "networks/ltm_transfer.py", "libs/utils.py", "config.py"):
        if not (authors_dir / rel).is_file():
            raise SystemExit(f"--authors-dir {authors_dir} lacks {rel} (a clone of {AUTHORS_REPO} is needed)")
    try:
        import davisinteractive  # noqa: F401
    except ImportError as err:
        raise SystemExit(f"davisinteractive 1.0.4 is needed by {authors_dir}/libs/utils.py: {err}") from err


def build_authors_net(authors_dir: Path) -> nn.Module:
    """The authors' ``ATnet()`` built by their code (inside :func:`authors_patches`)."""
    from vos_recommender.backends.authors.code import AuthorsCode

    code = AuthorsCode(authors_dir, "ATNet", ["networks/atnet.py"], injected=correlation_modules())
    module = code.import_module("networks.atnet")
    with code.active(), contextlib.redirect_stdout(sys.stderr):
        return module.ATnet()


def random_state_dict(net: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """The network's own initialisation with randomised batch-norm statistics and affine terms.

    Default initialisation keeps activations of a deep ResNet in range; randomising the batch norms
    makes sure no normalisation is an identity that would hide a wiring difference.
    """
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in net.state_dict().items():
        value = value.clone()
        if key.endswith("running_mean") or (key.endswith(".bias") and _is_bn(net, key)):
            value = 0.1 * torch.randn(value.shape, generator=gen)
        elif key.endswith("running_var") or (key.endswith(".weight") and _is_bn(net, key)):
            value = 0.5 + torch.rand(value.shape, generator=gen)
        elif value.is_floating_point():
            scale = value.std().clamp_min(1e-3) if value.numel() > 1 else torch.tensor(1e-2)
            value = value + 0.01 * torch.randn(value.shape, generator=gen) * scale
        state[key] = value
    # Default initialisation leaves the logits near 0 (probabilities 0.45..0.55, no pixel over ATNet's 0.8
    # label threshold). Zero-mean, amplified last layers (their inputs are non-negative after ReLU)
    # spread them over (0, 1), so labels, the robot's corrections and later rounds are not trivial.
    for head in ("decoder_iact.lastconv.8", "decoder_prop.lastconv.8"):
        weight = state[f"{head}.weight"]
        state[f"{head}.weight"] = (weight - weight.mean()) * LOGIT_GAIN
        state[f"{head}.bias"] = torch.zeros_like(state[f"{head}.bias"])
    return state


def _is_bn(net: nn.Module, key: str) -> bool:
    return isinstance(net.get_submodule(key.rsplit(".", 1)[0]), nn.BatchNorm2d)
