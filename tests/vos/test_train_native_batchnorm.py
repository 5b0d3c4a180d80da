"""Exported native weights carry batch-norm statistics recomputed with the final weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vos_recommender.training.native import train
from vos_recommender.training.native.batchnorm import has_batchnorm, recalibrated_copy

from .test_train_native import _settings, tiny_data  # noqa: F401  (the module-scoped data fixture)


class _Toy(nn.Module):
    """A trainer whose ``loss`` feeds the samples (vectors of 3 values) through one batch norm."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(3)
        self.drop = nn.Dropout(0.5)

    def loss(self, samples):
        return {"total": self.drop(self.bn(torch.stack(samples))).sum()}


def _draw(rng: np.random.Generator) -> torch.Tensor:
    return torch.from_numpy(rng.normal([1.0, -2.0, 5.0], [1.0, 3.0, 0.5])).float()


def test_statistics_are_the_cumulative_average_over_the_batches():
    toy = _Toy()
    toy.bn.running_mean.fill_(7.0)  # stale statistics from earlier weights
    before = {k: v.clone() for k, v in toy.state_dict().items()}
    rng_state = torch.get_rng_state()
    copy = recalibrated_copy(toy, _draw, batches=3, batch_size=4, seed=11)
    rng = np.random.default_rng(11)
    batches = [torch.stack([_draw(rng) for _ in range(4)]) for _ in range(3)]
    # Equal batch sizes: the cumulative average of batch means is the mean of all values, and of the
    # (unbiased) batch variances their plain average.
    assert torch.allclose(copy.bn.running_mean, torch.cat(batches).mean(0), atol=1e-6)
    assert torch.allclose(copy.bn.running_var, torch.stack([b.var(0) for b in batches]).mean(0), atol=1e-5)
    assert not copy.training
    # The trainer and the training run's random generator are untouched.
    assert all(torch.equal(v, before[k]) for k, v in toy.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng_state)


def test_zero_batches_keeps_the_running_statistics():
    toy = _Toy()
    toy.bn.running_mean.fill_(7.0)
    copy = recalibrated_copy(toy, _draw, batches=0, batch_size=4, seed=0)
    assert torch.equal(copy.bn.running_mean, toy.bn.running_mean)
    assert copy is toy and toy.training  # nothing recomputed: no copy, and the training mode is kept
    assert has_batchnorm(toy) and not has_batchnorm(nn.Linear(2, 2))


@pytest.mark.parametrize(("model", "file"), [("atnet", "atnet.pth"), ("manet", "manet.pth")])
def test_exported_weights_differ_from_the_resume_state_only_in_batchnorm_statistics(
    tiny_data,  # noqa: F811
    tmp_path,
    model,
    file,
):
    run_dir = train(_settings(tiny_data, str(tmp_path), model, steps=1, bn_batches=2))
    exported = torch.load(run_dir / file, weights_only=True)
    trainer = torch.load(run_dir / "resume.pt", weights_only=True)["trainer"]
    trainer = {k.split(".", 1)[1]: v for k, v in trainer.items()}  # the trainer holds the net as ``net``
    assert exported.keys() == trainer.keys()
    changed = {k for k in exported if not torch.equal(exported[k], trainer[k])}
    assert changed, "recalibration changed nothing"
    assert all(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed), changed
