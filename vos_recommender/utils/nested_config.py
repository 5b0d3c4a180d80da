"""Settings as nested dataclasses: apply mappings to them, check every value once, list their leaves.

A settings object is a dataclass whose fields are plain values (``bool``, ``int``, ``float``, ``str``,
``dict``, optionally ``None``) or other settings dataclasses. :func:`override` applies a mapping to one:
nested mappings or dotted keys (``{"session": {"backend": "flow"}}`` and ``{"session.backend": "flow"}``
are the same), keys with ``-`` or ``_``, every value checked against the field's type, unknown keys
rejected by name. :func:`leaves` lists the plain fields by dotted path, for command lines.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

__all__ = [
    "Leaf",
    "check_fields",
    "check_value",
    "expand_aliases",
    "is_settings",
    "leaf_value",
    "leaves",
    "override",
    "parse_leaf",
    "to_dict",
]

SettingsT = TypeVar("SettingsT")


def is_settings(kind: Any) -> bool:
    """Whether ``kind`` is a settings dataclass (a class, not an instance)."""
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _split_optional(kind: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, ``(kind, False)`` otherwise."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        if len(args) == 1 and len(args) < len(typing.get_args(kind)):
            return args[0], True
    return kind, False


def _base(kind: Any) -> Any:
    return typing.get_origin(kind) or kind


def _type_name(kind: Any) -> str:
    base, optional = _split_optional(kind)
    name = {dict: "a mapping (JSON object)"}.get(_base(base), getattr(_base(base), "__name__", str(base)))
    return f"{name} or null" if optional else name


def check_value(kind: Any, value: Any, path: str) -> Any:
    """``value`` as a value of the field type ``kind`` (ints accepted for floats, a JSON object text for
    a mapping, a path for a string).

    Raises:
        ValueError: Naming ``path``, the expected type and the value when it does not fit.
    """
    base, optional = _split_optional(kind)
    if value is None and optional:
        return None
    base = _base(base)
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is str and isinstance(value, os.PathLike):
        return os.fspath(value)
    if base is dict and isinstance(value, str):
        try:
            value = json.loads(value or "{}")
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} must be a JSON object, got {value!r} ({err})") from None
    if base is dict and isinstance(value, Mapping):
        return dict(value)
    if base in (bool, int, float, str) and isinstance(value, base):
        if base is int and isinstance(value, bool):
            raise ValueError(f"{path} must be int, got {value!r}")
        return value
    raise ValueError(f"{path} must be {_type_name(kind)}, got {value!r}")


def check_fields(settings: Any, path: str) -> None:
    """Check (and normalise, see :func:`check_value`) every plain field of a settings instance in place;
    for ``__post_init__``. Errors name ``path.field``."""
    hints = _hints(type(settings))
    for field in dataclasses.fields(settings):
        kind = hints[field.name]
        if not is_settings(kind):
            value = check_value(kind, getattr(settings, field.name), _join(path, field.name))
            setattr(settings, field.name, value)


def _grouped(data: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Dotted keys folded into nested mappings, ``-`` in names read as ``_``."""
    grouped: dict[str, Any] = {}
    for raw, value in data.items():
        if not isinstance(raw, str):
            raise ValueError(f"{path or 'settings'}: setting names are strings, got {raw!r}")
        head, dot, rest = raw.replace("-", "_").partition(".")
        if dot:
            value, rest_key = {rest: value}, True
        else:
            rest_key = False
        previous = grouped.get(head)
        if isinstance(value, Mapping) and isinstance(previous, dict):
            grouped[head] = {**previous, **value}  # later keys win, sections merge
        elif rest_key and previous is not None:
            raise ValueError(f"{_join(path, head)} is given both as a value and as a section")
        else:
            grouped[head] = dict(value) if isinstance(value, Mapping) else value
    return grouped


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def override(settings: SettingsT, data: Mapping[str, Any], path: str = "") -> SettingsT:
    """A copy of ``settings`` with the values of ``data`` applied (sections merged, not replaced).

    Args:
        settings: A settings dataclass instance.
        data: Nested mappings and/or dotted keys (``"session.backend"``) of new values.
        path: Dotted name of ``settings`` within its parents, used in error messages.

    Returns:
        A new instance (its ``__post_init__`` checks run again); ``settings`` is left unchanged.

    Raises:
        ValueError: Naming the key on an unknown setting, a section given a plain value, or a value of
            the wrong type.
    """
    if isinstance(data, type(settings)):
        return data
    if not isinstance(data, Mapping):
        raise ValueError(f"{path or type(settings).__name__} must be a mapping of settings, got {data!r}")
    cls = type(settings)
    hints = _hints(cls)
    names = [field.name for field in dataclasses.fields(settings) if field.init]
    grouped = _grouped(data, path)
    unknown = sorted(set(grouped) - set(names))
    if unknown:
        raise ValueError(
            f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(_join(path, k) for k in unknown)}"
            f" (known in {path or cls.__name__}: {', '.join(names)})"
        )
    changes: dict[str, Any] = {}
    for name, value in grouped.items():
        kind, where = hints[name], _join(path, name)
        if is_settings(kind):
            changes[name] = override(getattr(settings, name), value, where)
        else:
            changes[name] = check_value(kind, value, where)
    return dataclasses.replace(settings, **changes)  # type: ignore[type-var]


def expand_aliases(data: Mapping[str, Any], aliases: Mapping[str, str]) -> dict[str, Any]:
    """``data`` with the flat names of ``aliases`` (``-`` read as ``_``) replaced by their dotted paths.

    Other keys are kept as they are, so settings written in the nested form, in the flat form of an
    earlier version, or in a mix of both read the same.

    Raises:
        ValueError: If a flat name and its dotted path are both given with different values.
    """
    nested: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_") if isinstance(key, str) else key
        target = aliases.get(name, key)
        if target in nested and nested[target] != value:
            raise ValueError(f"{key} and {target} are the same setting: give one")
        nested[target] = value
    return nested


def to_dict(settings: Any) -> dict[str, Any]:
    """The settings as nested plain dictionaries (JSON and YAML writable)."""
    return dataclasses.asdict(settings)


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One plain setting of a nested settings object.

    Attributes:
        path: Dotted name (``"env.session.backend"``).
        kind: Its field type.
        owner: The dataclass that declares it (its attribute docstring is the help text).
        name: The field name within ``owner``.
    """

    path: str
    kind: Any
    owner: type
    name: str


def leaves(cls: type, path: str = "") -> Iterator[Leaf]:
    """Every plain field of the settings class ``cls`` and of its sections, depth first, by dotted path."""
    hints = _hints(cls)
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        kind = hints[field.name]
        if is_settings(kind):
            yield from leaves(kind, _join(path, field.name))
        else:
            yield Leaf(_join(path, field.name), kind, cls, field.name)


def leaf_value(settings: Any, path: str) -> Any:
    """The value at a dotted path of a settings instance."""
    for name in path.split("."):
        settings = getattr(settings, name)
    return settings


def parse_leaf(kind: Any) -> tuple[type, str]:
    """``(base type, metavar)`` of a plain field type for a command-line flag."""
    base, _ = _split_optional(kind)
    base = _base(base)
    if base is dict:
        return dict, "JSON"
    return base, base.__name__.upper()
