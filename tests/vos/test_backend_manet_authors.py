"""The authors'-code MANet adapter (``manet_authors``): its limits fail early, with clear errors.

Uses the stand-in repository ``tests/vos/fake_authors/manet`` (the authors' layout and call
signatures, not their model).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from tests.vos.fake_authors import use_fake_davisinteractive
from vos_recommender.backends import BackendNotAvailableError, build_backend
from vos_recommender.backends.authors import AuthorsCode, manet_config
from vos_recommender.backends.authors.manet import MAX_FRAMES, MAX_ROUNDS
from vos_recommender.interaction.scribbles import empty_scribble

FAKE = Path(__file__).parent / "fake_authors" / "manet"


@pytest.fixture(autouse=True)
def davisinteractive(monkeypatch):
    """The adapter imports davisinteractive's scribbles2mask: a stand-in (tests/vos/fake_authors/davis)."""
    return use_fake_davisinteractive(monkeypatch)


def _weights(tmp_path: Path) -> Path:
    config = ModuleType("config")
    config.cfg = manet_config()
    code = AuthorsCode(FAKE, "fake", [], injected={"config": config})
    intvos, deeplab = code.import_module("networks.IntVOS"), code.import_module("networks.deeplab")
    with code.active():
        model = intvos.IntVOS(config.cfg, deeplab.DeepLab())
    torch.save(model.state_dict(), tmp_path / "save_step_80000.pth")
    return tmp_path / "save_step_80000.pth"


def _backend(tmp_path: Path, code_dir: Path = FAKE):
    return build_backend(
        "manet_authors", code_dir=code_dir, weights=_weights(tmp_path), device="cpu", input_size=(16, 16)
    )


def test_code_that_calls_cuda_needs_cuda(tmp_path, monkeypatch):
    code_dir = tmp_path / "manet"
    shutil.copytree(FAKE, code_dir)
    source = code_dir / "networks" / "IntVOS.py"
    source.write_text(source.read_text() + "\n# index_list = index_list.cuda()\n")

    def no_cuda(self, *args, **kwargs):
        raise AssertionError("Torch not compiled with CUDA enabled")

    monkeypatch.setattr(torch.Tensor, "cuda", no_cuda)
    with pytest.raises(BackendNotAvailableError, match=r"IntVOS\.py calls \.cuda\(\).*native 'manet'"):
        _backend(tmp_path, code_dir)
    monkeypatch.undo()
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *a, **k: self)  # CUDA present (stand-in)
    assert _backend(tmp_path, code_dir).name == "manet_authors"


def test_frame_limit_is_checked_before_the_model_runs(tmp_path):
    backend = _backend(tmp_path)
    frames = np.zeros((MAX_FRAMES + 1, 16, 16, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=f"at most {MAX_FRAMES} frames.*got {MAX_FRAMES + 1}"):
        backend.start_video(frames, 1)
    assert backend._embeddings is None


def test_round_limit_is_checked_before_the_model_runs(tmp_path):
    backend = _backend(tmp_path)
    backend.start_video(np.zeros((3, 16, 16, 3), dtype=np.uint8), 1)
    scribble = empty_scribble("toy", 3)
    scribble["scribbles"][1] = [{"path": [[0.5, 0.5]], "object_id": 1, "start_time": 0, "end_time": 1}]
    for _ in range(MAX_ROUNDS):
        backend.interact(scribble, 1)
    calls = len(backend.code.modules["networks.IntVOS"].CALLS)
    with pytest.raises(ValueError, match=f"at most {MAX_ROUNDS} rounds.*round {MAX_ROUNDS + 1}"):
        backend.interact(scribble, 1)
    assert len(backend.code.modules["networks.IntVOS"].CALLS) == calls


def test_numpy_aliases_exist_only_while_the_authors_code_runs(tmp_path):
    assert not hasattr(np, "int")
    backend = _backend(tmp_path)
    assert not hasattr(np, "int") and not hasattr(np, "float")
    seen = []
    extract = backend.model.extract_feature

    def recording(images):
        seen.append(getattr(np, "int", None) is int and getattr(np, "float", None) is float)
        return extract(images)

    backend.model.extract_feature = recording
    backend.start_video(np.zeros((2, 16, 16, 3), dtype=np.uint8), 1)
    assert seen == [True, True]
    assert not hasattr(np, "int")


def test_scribbles_are_drawn_by_davisinteractive_at_the_embedding_size(tmp_path, davisinteractive):
    backend = _backend(tmp_path)
    backend.start_video(np.zeros((3, 16, 16, 3), dtype=np.uint8), 1)
    emb_h, emb_w = backend._embeddings.shape[-2:]
    scribble = empty_scribble("toy", 3)
    # x = 0.9 of the embedding width: davisinteractive's floor(x * (w - 1)), not round(x * w).
    scribble["scribbles"][1] = [{"path": [[0.9, 0.5]], "object_id": 1, "start_time": 0, "end_time": 1}]
    backend.interact(scribble, 1)
    assert davisinteractive.CALLS == [(emb_h, emb_w)]
    label = backend.code.modules["networks.IntVOS"].LABELS[-1]
    assert label.shape == (1, 1, emb_h, emb_w)
    row, col = int(0.5 * (emb_h - 1)), int(0.9 * (emb_w - 1))
    assert label[0, 0, row, col] == 1 and int((label == 1).sum()) == 1


def test_missing_davisinteractive_is_named(tmp_path, monkeypatch):
    import sys

    for name in [n for n in sys.modules if n.startswith("davisinteractive.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "davisinteractive", None)  # import fails as if not installed
    with pytest.raises(
        BackendNotAvailableError, match=r"scribbles2mask.*pip install davisinteractive==1\.0\.4"
    ):
        _backend(tmp_path)
