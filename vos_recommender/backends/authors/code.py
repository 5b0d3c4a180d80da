"""Importing a research repository in isolation, and the helpers the three adapters share.

The authors' modules are imported from ``code_dir`` in isolation: their generic module names
(``config``, ``networks``, ``utils``, ``model``) are removed from ``sys.modules`` after import and put
back only while an adapter calls into them, so two adapters (or this project) never clash.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from vos_recommender.backends.base import BackendNotAvailableError

__all__ = ["AuthorsCode", "latest_round", "load_state_dict", "require_file", "torch_module"]


class AuthorsCode:
    """Imports modules from a research repository without leaving them in ``sys.modules``.

    Args:
        code_dir: Root of the cloned repository.
        label: Name used in error messages (e.g. ``"IPN"``).
        required_files: Files (relative to ``code_dir``) that must exist.
        injected: Modules to provide under fixed names while importing and calling (e.g. a
            ``config`` module built here).

    Raises:
        BackendNotAvailableError: If the folder or a required file is missing.
    """

    def __init__(
        self,
        code_dir: str | os.PathLike | None,
        label: str,
        required_files: list[str],
        injected: dict[str, ModuleType] | None = None,
    ) -> None:
        if code_dir is None:
            raise BackendNotAvailableError(
                f"the {label} backend needs code_dir= pointing at a clone of the authors' {label} repository"
            )
        self.code_dir = Path(code_dir).resolve()
        self.label = label
        if not self.code_dir.is_dir():
            raise BackendNotAvailableError(f"{label} code folder not found: {self.code_dir}")
        for rel in required_files:
            if not (self.code_dir / rel).is_file():
                raise BackendNotAvailableError(f"{label} code folder {self.code_dir} lacks {rel}")
        self.injected = dict(injected or {})
        self.modules: dict[str, ModuleType] = dict(self.injected)

    def _owned(self, module: ModuleType) -> bool:
        # Regular modules have __file__; namespace packages (folders without __init__.py, common in
        # research repositories) only have __path__.
        locations = [getattr(module, "__file__", None)]
        try:
            locations += list(getattr(module, "__path__", None) or [])
        except TypeError:  # some extension modules expose a non-iterable __path__
            pass
        for location in locations:
            if not isinstance(location, str) or not location:
                continue
            try:
                Path(location).resolve().relative_to(self.code_dir)
            except ValueError:
                continue
            return True
        return False

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make the repository importable and its modules visible under their own names."""
        before = dict(sys.modules)
        sys.modules.update(self.modules)
        sys.path.insert(0, str(self.code_dir))
        try:
            yield
        finally:
            sys.path.remove(str(self.code_dir))
            for name, module in list(sys.modules.items()):
                if name in self.injected or self._owned(module):
                    self.modules[name] = module
                    if name in before and before[name] is not module:
                        sys.modules[name] = before[name]
                    elif name not in before or before[name] is module:
                        del sys.modules[name]

    def import_module(self, name: str) -> ModuleType:
        """Import ``name`` from the repository.

        Raises:
            BackendNotAvailableError: If it, or a module it needs, cannot be imported.
        """
        with self.active():
            try:
                return importlib.import_module(name)
            except ModuleNotFoundError as err:
                raise BackendNotAvailableError(
                    f"{self.label}: importing {name!r} from {self.code_dir} failed because module "
                    f"{err.name!r} is missing ({err})"
                ) from err
            except ImportError as err:
                raise BackendNotAvailableError(
                    f"{self.label}: importing {name!r} from {self.code_dir} failed: {err}"
                ) from err


def torch_module():
    import torch

    return torch


def require_file(path: str | os.PathLike | None, label: str, what: str) -> Path:
    if path is None:
        raise BackendNotAvailableError(f"the {label} backend needs {what}")
    path = Path(path)
    if not path.is_file():
        raise BackendNotAvailableError(f"{label} weights not found: {path} ({what})")
    return path


def load_state_dict(module: Any, path: Path, label: str, strict: bool = True, device: str = "cpu") -> int:
    """Load a state dict saved with or without ``nn.DataParallel``'s ``module.`` prefix.

    Returns:
        The number of tensors loaded.
    """
    torch = torch_module()
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        raise BackendNotAvailableError(f"{label}: cannot read weights {path}: {err}") from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    own = module.state_dict()
    own_prefixed = all(k.startswith("module.") for k in own)
    file_prefixed = bool(state) and all(k.startswith("module.") for k in state)
    if file_prefixed and not own_prefixed:
        state = {k[len("module.") :]: v for k, v in state.items()}
    elif own_prefixed and not file_prefixed:
        state = {f"module.{k}": v for k, v in state.items()}
    if not strict:
        # MANet's own loader keeps only the keys the model has (utils_manet.load_network).
        state = {k: v for k, v in state.items() if k in own}
        if not state:
            raise BackendNotAvailableError(f"{label}: no tensor of {path} matches the model")
        merged = dict(own)
        merged.update(state)
        state = merged
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise BackendNotAvailableError(f"{label}: weights {path} do not fit the model: {err}") from err
    return len(state)


def latest_round(scribble: dict[str, Any], frame: int) -> dict[str, Any]:
    """A copy of the scribble with only the strokes on ``frame`` and ``annotated_frame`` set."""
    out = {k: copy.deepcopy(v) for k, v in scribble.items() if k != "scribbles"}
    out["scribbles"] = [copy.deepcopy(s) if t == frame else [] for t, s in enumerate(scribble["scribbles"])]
    out["annotated_frame"] = int(frame)
    return out
