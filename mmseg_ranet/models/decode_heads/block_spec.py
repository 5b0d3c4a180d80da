"""The nested settings of a RANet block, validated once into a frozen dataclass.

``RANetHead`` takes each block's settings as one nested config dict (``construction=dict(...)``,
``interaction=dict(...)``). The block turns it into its spec with :meth:`BlockSpec.from_cfg`: unknown keys
and bad values raise a ``ValueError`` that names the section, the key and the value, so a typo in a config
is caught where the model is built. The spec's defaults are the paper's settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

SpecT = TypeVar("SpecT", bound="BlockSpec")


@dataclass(frozen=True)
class BlockSpec:
    """Base of the block specs: construction from a config dict and the checks of single values.

    Subclasses are frozen dataclasses that set :attr:`section` (the head argument that holds them) and check
    their fields in ``__post_init__`` with :meth:`check_choice`, :meth:`check_bool`, :meth:`check_int`.
    """

    #: Head argument holding this spec, used in error messages (e.g. ``'construction'``).
    section: ClassVar[str] = "spec"

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The names of the settings."""
        return tuple(field.name for field in fields(cls))

    @classmethod
    def from_cfg(cls: type[SpecT], cfg: SpecT | Mapping[str, Any] | None = None) -> SpecT:
        """The spec of a config dict (None: all defaults); a spec is returned as it is.

        Args:
            cfg (BlockSpec | Mapping | None): The settings; keys missing from it keep their defaults.

        Returns:
            BlockSpec: The validated spec.
        """
        if cfg is None:
            return cls()
        if isinstance(cfg, cls):
            return cfg
        if not isinstance(cfg, Mapping):
            raise ValueError(
                f"{cls.section} must be a dict of settings or a {cls.__name__}, got {type(cfg).__name__}"
            )
        unknown = sorted(set(cfg) - set(cls.keys()))
        if unknown:
            raise ValueError(f"unknown keys {unknown} in {cls.section}; the keys are {list(cls.keys())}")
        return cls(**cfg)

    def check_choice(self, name: str, allowed: tuple) -> None:
        """Raise naming ``section.name`` unless its value is one of ``allowed`` (with the same type)."""
        value = getattr(self, name)
        # ``1 in (True, False)`` and ``True in (1, 0)`` hold, so the type is compared too.
        if not any(type(value) is type(choice) and value == choice for choice in allowed):
            raise ValueError(f"{self.section}.{name} must be one of {allowed}, got {value!r}")

    def check_bool(self, *names: str) -> None:
        """Raise naming the first of ``names`` that is not a bool."""
        for name in names:
            self.check_choice(name, (True, False))

    def check_int(self, name: str, minimum: int, odd: bool = False) -> None:
        """Raise naming ``section.name`` unless it is an int >= ``minimum`` (and odd if asked)."""
        value = getattr(self, name)
        if type(value) is not int or value < minimum or (odd and value % 2 == 0):
            kind = "a positive odd integer" if odd else f"an integer >= {minimum}"
            raise ValueError(f"{self.section}.{name} must be {kind}, got {value!r}")

    def check_number(self, name: str) -> None:
        """Raise naming ``section.name`` unless it is a real number (not a bool)."""
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{self.section}.{name} must be a number, got {value!r}")
