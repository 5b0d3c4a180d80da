"""The config's ``cpu_numerics``: applied as asked, and bad entries named."""

from __future__ import annotations

import pytest
import torch
from mmengine.config import Config

from mmseg_ranet.utils import threads
from mmseg_ranet.utils.cpu_numerics import apply_cpu_numerics


@pytest.fixture(autouse=True)
def _restore_torch(monkeypatch: pytest.MonkeyPatch):
    for name in (threads.ENV_THREADS, "OMP_NUM_THREADS", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads(), torch.backends.mkldnn.enabled
    yield
    torch.set_num_threads(before[0])
    torch.backends.mkldnn.enabled = before[1]


def test_settings_are_applied():
    cfg = Config(
        dict(
            randomness=dict(seed=3),
            cpu_numerics=dict(threads=1, onednn=False, deterministic=True),
        )
    )
    assert apply_cpu_numerics(cfg) == 1
    assert torch.get_num_threads() == 1
    assert torch.backends.mkldnn.enabled is False
    # mmengine's Runner calls torch.use_deterministic_algorithms from randomness.deterministic.
    assert cfg.randomness == dict(seed=3, deterministic=True)


def test_without_settings_the_idle_cores_decide(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: 1)
    cfg = Config(dict(randomness=dict(seed=0)))
    assert apply_cpu_numerics(cfg) == 1
    assert cfg.randomness == dict(seed=0)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("one thread", "must be a dict"),
        (dict(thread=1), r"unknown entries \['thread'\]"),
        (dict(threads=0), "cpu_numerics.threads"),
        (dict(threads=True), "cpu_numerics.threads"),
        (dict(threads="2"), "cpu_numerics.threads"),
        (dict(onednn="off"), "cpu_numerics.onednn"),
        (dict(deterministic=1), "cpu_numerics.deterministic"),
    ],
)
def test_bad_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        apply_cpu_numerics(Config(dict(cpu_numerics=settings)))
