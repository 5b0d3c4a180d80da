"""Interactive VOS backends, selected by name.

``build_backend(name, **kwargs)`` builds one of the registered backends:

============  ==========================================================================
``flow``      random-walker segmentation of the scribbles + optical-flow propagation,
              each propagated frame refined by a graph cut (no weights; runs anywhere)
``learned``   small interaction + propagation networks trained here
              (``python -m vos_recommender.training.learned``)
``cache``     wraps another backend and replays recorded results from disk
``ipn``       IPN (Oh et al., CVPR 2019) in pure PyTorch on any device; ``weights=`` the released
              ``I.pth``/``P.pth`` folder (random weights, with a warning, without it)
``manet``     MANet (Miao et al., CVPR 2020) in pure PyTorch; ``weights=`` the released
              ``save_step_80000.pth``
``atnet``     ATNet (Heo et al., ECCV 2020) in pure PyTorch; ``weights=`` the released
              ``ATNet-checkpoint.pth``
*_authors     ``ipn_authors``, ``manet_authors``, ``atnet_authors``: the authors' own code given
              ``code_dir=`` and ``weights=`` (MANet and ATNet need CUDA)
============  ==========================================================================

Modules are imported only when a backend is built, so importing this package stays light.
Third-party backends register with :func:`register_backend`.
"""

from __future__ import annotations

from typing import Any

from vos_recommender.backends.base import (
    BackendNotAvailableError,
    BackendNotSupportedError,
    BackendState,
    BackendStateError,
    VOSBackend,
    VOSResult,
)
from vos_recommender.utils.registry import Registry

__all__ = [
    "BACKENDS",
    "BackendNotAvailableError",
    "BackendNotSupportedError",
    "BackendState",
    "BackendStateError",
    "VOSBackend",
    "VOSResult",
    "available_backends",
    "build_backend",
    "register_backend",
]

#: name -> "module:Class" (imported lazily) or the class itself.
BACKENDS: Registry[VOSBackend] = Registry(
    "VOS backend",
    {
        "flow": "vos_recommender.backends.flow:FlowBackend",
        "learned": "vos_recommender.backends.learned:LearnedBackend",
        "cache": "vos_recommender.backends.cache:CachingBackend",
        "ipn": "vos_recommender.backends.native.ipn:NativeIPNBackend",
        "ipn_authors": "vos_recommender.backends.authors.ipn:IPNBackend",
        "manet": "vos_recommender.backends.native.manet:NativeMANetBackend",
        "manet_authors": "vos_recommender.backends.authors.manet:MANetBackend",
        "atnet": "vos_recommender.backends.native.atnet:NativeATNetBackend",
        "atnet_authors": "vos_recommender.backends.authors.atnet:ATNetBackend",
    },
)


def register_backend(name: str, backend: str | type[VOSBackend], overwrite: bool = False) -> None:
    """Register a backend class (or a lazy ``"module:Class"`` path) under ``name``.

    Args:
        name: Name used by :func:`build_backend`, configs and command lines.
        backend: A :class:`VOSBackend` subclass or its ``"module:Class"`` import path.
        overwrite: Allow replacing an existing entry.

    Raises:
        KeyError: If ``name`` is taken and ``overwrite`` is False.
    """
    BACKENDS.register(name, backend, overwrite=overwrite)


def available_backends() -> list[str]:
    """Sorted names of the registered backends."""
    return BACKENDS.names()


def build_backend(name: str, **kwargs: Any) -> VOSBackend:
    """Build the backend registered under ``name``.

    Args:
        name: One of :func:`available_backends`.
        **kwargs: Constructor arguments of that backend (e.g. ``checkpoint=`` for ``learned``,
            ``backend=``/``cache_dir=`` for ``cache``, ``code_dir=``/``weights=`` for the adapters).

    Returns:
        The backend instance.

    Raises:
        KeyError: If the name is unknown (the message lists the known names).
    """
    return BACKENDS.build(name, **kwargs)
