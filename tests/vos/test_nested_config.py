"""Nested settings dataclasses: mappings applied section by section, every value checked, unknown keys named."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from vos_recommender.utils.nested_config import (
    check_fields,
    expand_aliases,
    leaf_value,
    leaves,
    override,
    to_dict,
)


@dataclasses.dataclass
class Inner:
    count: int = 1
    folder: str | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        check_fields(self, "inner")
        if self.count < 0:
            raise ValueError(f"inner.count must be >= 0, got {self.count}")


@dataclasses.dataclass
class Outer:
    inner: Inner = dataclasses.field(default_factory=lambda: Inner(count=5))
    scale: float = 1.0
    on: bool = True


def test_sections_merge_and_dotted_keys_equal_nested_ones() -> None:
    base = Outer()
    nested = override(base, {"inner": {"folder": "a"}, "scale": 2})
    dotted = override(base, {"inner.folder": "a", "scale": 2.0})
    assert nested == dotted == Outer(Inner(count=5, folder="a"), 2.0)
    assert isinstance(nested.scale, float)  # an int is accepted for a float and stored as one
    assert base == Outer()  # the original is unchanged
    # The section keeps what the mapping does not give: here the outer default count=5, not Inner's 1.
    assert override(base, {"inner": {}}).inner.count == 5
    # Later keys win, dashes read as underscores, a JSON text is a mapping, a path is a string.
    merged = override(base, {"inner": {"count": 2}, "inner.count": 3, "inner.options": '{"k": 1}'})
    assert merged.inner.count == 3 and merged.inner.options == {"k": 1}
    assert override(base, {"inner": {"folder": Path("/tmp/x")}}).inner.folder == "/tmp/x"
    assert to_dict(merged) == {
        "inner": {"count": 3, "folder": None, "options": {"k": 1}},
        "scale": 1.0,
        "on": True,
    }


@pytest.mark.parametrize(
    "data, message",
    [
        ({"inner": {"size": 1}}, r"unknown setting inner.size \(known in inner: count, folder, options\)"),
        ({"scales": 1, "of": 2}, "unknown settings of, scales"),
        ({"inner.count": "3"}, "inner.count must be int, got '3'"),
        ({"inner.count": True}, "inner.count must be int, got True"),
        ({"on": "yes"}, "on must be bool, got 'yes'"),
        ({"inner": 3}, "inner must be a mapping of settings, got 3"),
        ({"inner.folder": 7}, "inner.folder must be str or null, got 7"),
        ({"inner.options": "[1]"}, r"inner.options must be a mapping \(JSON object\), got \[1\]"),
        ({"inner.count": -1}, "inner.count must be >= 0, got -1"),
        ({"scale": 1, "scale.x": 2}, "scale is given both as a value and as a section"),
    ],
)
def test_bad_keys_and_values_are_named(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        override(Outer(), data)


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(ValueError, match="inner.count must be int, got 2.5"):
        Inner(count=2.5)  # type: ignore[arg-type]


def test_leaves_and_aliases() -> None:
    assert [(leaf.path, leaf.owner, leaf.name) for leaf in leaves(Outer)] == [
        ("inner.count", Inner, "count"),
        ("inner.folder", Inner, "folder"),
        ("inner.options", Inner, "options"),
        ("scale", Outer, "scale"),
        ("on", Outer, "on"),
    ]
    assert leaf_value(Outer(), "inner.count") == 5
    aliases = {"count": "inner.count"}
    assert expand_aliases({"count": 2, "scale": 1.0}, aliases) == {"inner.count": 2, "scale": 1.0}
    assert expand_aliases({"count": 2, "inner.count": 2}, aliases) == {"inner.count": 2}
    with pytest.raises(ValueError, match="count and inner.count are the same setting"):
        expand_aliases({"count": 2, "inner.count": 3}, aliases)
