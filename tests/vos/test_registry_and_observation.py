"""The registry helper and the one observation layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vos_recommender.envs.observation import (
    COUNT_ROW,
    QUALITY_ROW,
    VALID_ROW,
    build_observation,
    observation_space,
    split_observation,
    valid_frames,
)
from vos_recommender.utils.registry import Registry


def test_registry_builds_lazy_entries_aliases_and_names_the_known_ones() -> None:
    registry: Registry = Registry("thing", {"ordered": "collections:OrderedDict"}, aliases={"od": "ordered"})
    built = registry.build("od", a=1)
    assert type(built).__name__ == "OrderedDict" and built == {"a": 1}
    assert "ordered" in registry and "od" in registry and "nope" not in registry
    registry.register("listy", list)
    assert registry.names() == ["listy", "ordered"]
    with pytest.raises(KeyError, match="unknown thing 'nope'; known: listy, ordered"):
        registry.get("nope")
    with pytest.raises(KeyError, match="already registered"):
        registry.register("listy", tuple)
    registry.register("listy", tuple, overwrite=True)
    assert registry.build("listy", [1]) == (1,)
    with pytest.raises(ValueError, match="module:attribute"):
        registry.register("bad", "collections.OrderedDict")


def test_case_insensitive_registry() -> None:
    registry: Registry = Registry("strategy", {"Worst": list}, case_sensitive=False)
    assert registry.build("WORST") == [] and registry.names() == ["worst"]


def test_observation_layout_rows_clip_and_padding() -> None:
    obs = build_observation([0.5, 1.2, -0.1], [1, 9, 0], max_frames=5, max_count=8)
    assert obs.shape == (3, 5) and obs.dtype == np.float32
    np.testing.assert_allclose(obs[QUALITY_ROW], [0.5, 1.0, 0.0, 0, 0])
    np.testing.assert_allclose(obs[COUNT_ROW], [1, 8, 0, 0, 0])
    np.testing.assert_allclose(obs[VALID_ROW], [1, 1, 1, 0, 0])
    assert observation_space(5, 8).contains(obs)
    assert not observation_space(5, 8).contains(build_observation([0.5], [9], max_frames=5))
    with pytest.raises(ValueError, match="shorter than the video"):
        build_observation([0.1, 0.2], [0, 0], max_frames=1)
    with pytest.raises(ValueError, match="2 quality values but 1 annotation counts"):
        build_observation([0.1, 0.2], [0])


def test_split_and_validity_agree_for_numpy_and_torch() -> None:
    batch = np.stack(
        [build_observation([0.2, 0.4], [0, 1], max_frames=3), build_observation([0.9] * 3, [2] * 3)]
    )
    features, valid = split_observation(batch)
    t_features, t_valid = split_observation(torch.as_tensor(batch))
    assert features.shape == (2, 3, 2) and valid.tolist() == [[True, True, False], [True, True, True]]
    np.testing.assert_allclose(t_features.numpy(), features)
    assert t_valid.tolist() == valid.tolist() == valid_frames(batch).tolist()
    np.testing.assert_allclose(features[1, :, 1], [2, 2, 2])
    with pytest.raises(ValueError, match="B x"):
        split_observation(batch[0])


def test_unregister_removes_the_entry_and_its_aliases() -> None:
    registry: Registry = Registry("thing", {"a": list}, aliases={"b": "a"})
    assert registry.pop("b") is list
    assert "a" not in registry and "b" not in registry
    with pytest.raises(KeyError, match="unknown thing 'a'"):
        registry.unregister("a")
