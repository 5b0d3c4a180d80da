"""CPU arithmetic that repeats: the settings under which two runs of a config compute the same sums.

A config asks for them with a top-level ``cpu_numerics`` dict (``configs/_base_/cpu_reproducible.py``);
``tools/train.py`` and ``tools/test.py`` apply it before building the Runner:

* ``threads`` (int): a fixed intra-op thread count instead of the idle cores. The thread count decides how
  PyTorch splits a reduction, so the idle-core choice gave idle and busy machines different results.
  ``MMSEG_RANET_THREADS`` still overrides it (and then the result is that of the other count).
* ``onednn`` (bool): ``False`` turns oneDNN (``torch.backends.mkldnn``) off, so convolutions take
  PyTorch's own im2col + GEMM path instead of kernels that oneDNN picks for the CPU at run time.
* ``deterministic`` (bool): ``True`` sets mmengine's ``randomness.deterministic``, which calls
  ``torch.use_deterministic_algorithms(True)`` (an error instead of a silently non-deterministic kernel).

Data loading is already seeded through ``randomness.seed`` (mmengine passes it to the sampler and derives
each worker's seed from it). What stays machine-dependent: the vector width of PyTorch's and MKL's kernels
(AVX2 or AVX-512 sum in other orders), hence a small spread of results across CPU models.
"""

from __future__ import annotations

from typing import Any

import torch
from mmengine.logging import print_log

from .threads import configure_threads

KEY = "cpu_numerics"
_FLAGS = ("onednn", "deterministic")


def _settings(cfg: Any) -> dict:
    settings = cfg.get(KEY, None)
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise ValueError(f"config key {KEY!r} must be a dict, got {type(settings).__name__}")
    unknown = sorted(set(settings) - {"threads", *_FLAGS})
    if unknown:
        raise ValueError(
            f"config key {KEY!r} has unknown entries {unknown}; it takes threads, onednn, deterministic"
        )
    threads = settings.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"{KEY}.threads must be a whole number of at least 1 (or None), got {threads!r}")
    for flag in _FLAGS:
        if flag in settings and not isinstance(settings[flag], bool):
            raise ValueError(f"{KEY}.{flag} must be True or False, got {settings[flag]!r}")
    return dict(settings)


def apply_cpu_numerics(cfg: Any) -> int:
    """Apply the config's ``cpu_numerics`` (threads, oneDNN, deterministic algorithms); return the threads.

    Without ``cpu_numerics`` only the thread count is set, from the idle cores
    (:func:`~mmseg_ranet.utils.threads.configure_threads`).

    Raises:
        ValueError: ``cpu_numerics`` is not a dict, has unknown entries or values of the wrong type; or a
            thread count in the environment is not a positive whole number.
    """
    settings = _settings(cfg)
    if "onednn" in settings:
        torch.backends.mkldnn.enabled = settings["onednn"]
        print_log(f"oneDNN {'on' if settings['onednn'] else 'off'} ({KEY}.onednn)", logger="current")
    if settings.get("deterministic"):
        randomness = dict(cfg.get("randomness", None) or {})
        randomness["deterministic"] = True
        cfg.randomness = randomness
    return configure_threads(settings.get("threads"))
