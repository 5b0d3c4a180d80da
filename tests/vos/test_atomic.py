"""Atomic writes: a failed write leaves the old file and no temporary file behind."""

from __future__ import annotations

import json

import pytest
import torch

from vos_recommender.utils.atomic import atomic_path, atomic_torch_save, atomic_write_json, atomic_write_text


def test_writes_and_replaces(tmp_path):
    target = tmp_path / "sub" / "a.json"
    atomic_write_json(target, {"x": 1})
    atomic_write_json(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 2}
    atomic_torch_save({"w": torch.ones(3)}, tmp_path / "m.pt")
    assert torch.equal(torch.load(tmp_path / "m.pt")["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.json", "m.pt", "sub"]


def test_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "notes.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError, match="interrupted"), atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
