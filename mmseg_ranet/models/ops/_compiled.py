"""Compiled CPU operators (boundary term D, semantic term E), with a just-in-time build as fallback.

The extension ``mmseg_ranet._ext`` is built by ``setup.py`` when the package is installed with a C++
compiler. A plain checkout (``pip install -e .`` without the extension, or running from the source tree)
builds the same source once with ``torch.utils.cpp_extension.load`` into a per-user cache
(``$TORCH_EXTENSIONS_DIR`` or ``~/.cache/mmseg_ranet/torch_extensions``). When neither works the build
error is logged once and :func:`compiled_available` returns False, so callers fall back to the
pure-PyTorch operator; nothing here raises at import time.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

_CSRC = Path(__file__).resolve().parents[2] / "csrc"
_SOURCES = [
    _CSRC / name
    for name in ("bindings.cpp", "boundary_max_table.cpp", "jensen_shannon.cpp", "region_scores.cpp")
]
_JIT_NAME = "mmseg_ranet_ops"
# Functions a build must export; an older installed build without them is skipped (JIT build instead).
_REQUIRED = (
    "boundary_max_table_forward",
    "boundary_max_table_backward",
    "jensen_shannon_rows_forward",
    "jensen_shannon_rows_backward",
    "jensen_shannon_binary_rows_forward",
    "jensen_shannon_binary_rows_backward",
    "region_roots_from_scores",
    "region_row_sums",
)

_lock = threading.Lock()
_module: ModuleType | None = None
_load_attempted = False
_load_error: str | None = None


def _extension_dir() -> Path:
    root = os.environ.get("TORCH_EXTENSIONS_DIR")
    if root:
        path = Path(root)
    else:
        path = Path.home() / ".cache" / "mmseg_ranet" / "torch_extensions"
    # Keyed by torch version: an extension built against another torch ABI would fail to load.
    path = path / f"torch{torch.__version__.replace('+', '_')}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _jit_build() -> ModuleType:
    from torch.utils.cpp_extension import load

    missing = [str(source) for source in _SOURCES if not source.is_file()]
    if missing:
        raise FileNotFoundError(f"extension sources not found: {missing}")
    return load(
        name=_JIT_NAME,
        sources=[str(source) for source in _SOURCES],
        extra_cflags=["-O3", "-fopenmp"],
        extra_ldflags=["-fopenmp"],
        build_directory=str(_extension_dir()),
        verbose=False,
    )


def load_extension() -> ModuleType | None:
    """The compiled module (installed ``mmseg_ranet._ext`` first, else a JIT build), or None.

    The outcome is cached for the process; a failed build is logged once as a warning.
    """
    global _module, _load_attempted, _load_error
    if _load_attempted:
        return _module
    with _lock:
        if _load_attempted:
            return _module
        errors = []
        try:
            from mmseg_ranet import _ext  # type: ignore[attr-defined]

            missing = [name for name in _REQUIRED if not hasattr(_ext, name)]
            if missing:
                errors.append(
                    f"mmseg_ranet._ext is an older build without {missing} (reinstall to rebuild it)"
                )
            else:
                _module = _ext
        except ImportError as error:
            errors.append(f"mmseg_ranet._ext: {error}")
        if _module is None and os.environ.get("MMSEG_RANET_NO_JIT", "") not in ("", "0"):
            errors.append("JIT build disabled by MMSEG_RANET_NO_JIT")
        elif _module is None:
            try:
                _module = _jit_build()
            except Exception as error:  # noqa: BLE001 - any build failure means "use the PyTorch path"
                errors.append(f"JIT build: {type(error).__name__}: {error}")
        if _module is None:
            _load_error = "; ".join(errors)
            logger.warning("compiled operators unavailable, using the PyTorch operators (%s)", _load_error)
        _load_attempted = True
    return _module


def compiled_available() -> bool:
    """Whether the compiled operators can be used in this process (builds them on first call)."""
    return load_extension() is not None


def compiled_unavailable_reason() -> str | None:
    """Why the compiled operator is unavailable (None when it is available or was not tried yet)."""
    load_extension()
    return _load_error


IMPLS = ("auto", "compiled", "torch")


def use_compiled(tensor: Tensor, impl: str, argument: str = "impl") -> bool:
    """Whether an operator with an ``impl`` switch runs its compiled path for ``tensor``.

    ``'torch'`` never does; ``'auto'`` does when the extension is available and ``tensor`` is a float32 or
    float64 CPU tensor; ``'compiled'`` must, and raises naming ``argument`` when it cannot.
    """
    if impl not in IMPLS:
        raise ValueError(f"{argument} must be one of {IMPLS}, got {impl!r}")
    if impl == "torch":
        return False
    supported = tensor.device.type == "cpu" and tensor.dtype in (torch.float32, torch.float64)
    if impl == "compiled":
        if not supported:
            raise ValueError(
                f"{argument}='compiled' needs a float32/float64 CPU tensor, got {tensor.dtype} on {tensor.device}"
            )
        if not compiled_available():
            raise RuntimeError(f"the compiled operators are unavailable: {compiled_unavailable_reason()}")
        return True
    return supported and compiled_available()


class BoundaryMaxTableCompiled(torch.autograd.Function):
    """D through the compiled operator; the backward recomputes each pair's arg-max from the map."""

    @staticmethod
    def forward(ctx, boundary: Tensor) -> Tensor:  # type: ignore[override]
        module = load_extension()
        if module is None:
            raise RuntimeError(f"compiled boundary_max_table unavailable: {_load_error}")
        table = module.boundary_max_table_forward(boundary)
        # Only the (B, H, W) map is kept: the arg-max of every pair is recomputed in backward instead of
        # an N x N index table.
        ctx.save_for_backward(boundary)
        return table

    @staticmethod
    def backward(ctx, grad_table: Tensor) -> Tensor | None:  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None
        (boundary,) = ctx.saved_tensors
        module = load_extension()
        return module.boundary_max_table_backward(grad_table, boundary)


def boundary_max_table_compiled(boundary: Tensor) -> Tensor:
    """Pairwise boundary term D with the released sampling, computed by the compiled CPU operator.

    Same values and gradients as :func:`mmseg_ranet.models.ops.boundary_max_table` (gradients of a pair
    and its mirror go to the first maximal sample counted from the raster-earlier pixel).

    Args:
        boundary (Tensor): Boundary probabilities (B, H, W), float32 or float64, on the CPU. Non-contiguous
            inputs are copied.

    Returns:
        Tensor: D with shape (B, H*W, H*W) and the dtype of ``boundary``.
    """
    if not isinstance(boundary, Tensor):
        raise TypeError(f"boundary must be a Tensor, got {type(boundary).__name__}")
    if boundary.dim() != 3:
        raise ValueError(f"boundary must have shape (B, H, W), got {tuple(boundary.shape)}")
    if boundary.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"boundary must be float32 or float64, got {boundary.dtype}")
    if boundary.device.type != "cpu":
        raise ValueError(f"the compiled boundary operator runs on the CPU, got a tensor on {boundary.device}")
    return BoundaryMaxTableCompiled.apply(boundary.contiguous())


class JensenShannonRowsCompiled(torch.autograd.Function):
    """Rows [start, stop) of the JSD table (full or binary form, natural log) by the compiled operator."""

    @staticmethod
    def forward(ctx, log_probs: Tensor, start: int, stop: int, clip: tuple[float, float] | None) -> Tensor:  # type: ignore[override]
        module = load_extension()
        if module is None:
            raise RuntimeError(f"compiled Jensen-Shannon operator unavailable: {_load_error}")
        ctx.save_for_backward(log_probs)
        ctx.start = start
        ctx.clip = clip
        if clip is None:
            return module.jensen_shannon_rows_forward(log_probs, start, stop)
        return module.jensen_shannon_binary_rows_forward(log_probs, start, stop, *clip)

    @staticmethod
    def backward(ctx, grad_rows: Tensor) -> tuple[Tensor | None, None, None, None]:  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        (log_probs,) = ctx.saved_tensors
        module = load_extension()
        if ctx.clip is None:
            grad = module.jensen_shannon_rows_backward(grad_rows, log_probs, ctx.start)
        else:
            grad = module.jensen_shannon_binary_rows_backward(grad_rows, log_probs, ctx.start, *ctx.clip)
        return grad, None, None, None


def jensen_shannon_rows_compiled(
    log_probs: Tensor, start: int, stop: int, binary_clip: tuple[float, float] | None = None
) -> Tensor:
    """Rows [start, stop) of the semantic table E by the compiled operator (natural log).

    Full form (``binary_clip=None``): E_ij = JSD(P_i, P_j) over all classes. Binary form (the released
    code's): JSD of Bernoulli(clip(P_i[c_i])) and Bernoulli(clip(P_j[c_i])), c_i = argmax P_i, clipped to
    ``binary_clip = (low, high)``. Same values (up to float rounding: the logarithm is a vectorised
    polynomial) and gradients as :func:`mmseg_ranet.models.ops.jensen_shannon_table`.

    Args:
        log_probs (Tensor): Log class probabilities (B, C, N), float32 or float64, on the CPU.
        start (int): First row.
        stop (int): One past the last row.
        binary_clip (tuple[float, float], optional): Clip range of the binary form; None for the full form.

    Returns:
        Tensor: (B, stop - start, N).
    """
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs must have shape (B, num_classes, N), got {tuple(log_probs.shape)}")
    if not 0 <= start <= stop <= log_probs.shape[2]:
        raise ValueError(f"rows [{start}, {stop}) out of range for {log_probs.shape[2]} pixels")
    clip = None if binary_clip is None else (float(binary_clip[0]), float(binary_clip[1]))
    return JensenShannonRowsCompiled.apply(log_probs.contiguous(), start, stop, clip)
