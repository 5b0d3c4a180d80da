"""The curve comparison of benchmarks/amp_loss_curve.py (the script itself trains: it is not run here)."""

from __future__ import annotations

import pytest

from benchmarks.amp_loss_curve import compare_curves, train_options


def test_compare_curves_rows_and_largest_absolute_difference():
    fp32 = {1: 2.0, 2: 1.5, 3: 1.0}
    bf16 = {3: 1.02, 1: 2.01, 2: 1.45}
    comparison = compare_curves(fp32, bf16)
    assert [row["iter"] for row in comparison["rows"]] == [1, 2, 3]
    assert [row["diff"] for row in comparison["rows"]] == pytest.approx([0.01, -0.05, 0.02])
    assert comparison["rows"][1]["fp32"] == 1.5 and comparison["rows"][1]["bf16"] == 1.45
    assert comparison["max_abs_diff"] == pytest.approx(0.05)
    assert comparison["max_abs_diff_iter"] == 2


def test_compare_curves_names_iterations_logged_by_one_run_only():
    with pytest.raises(ValueError, match=r"only fp32 \[3\], only bf16 \[4\]"):
        compare_curves({1: 1.0, 2: 1.0, 3: 1.0}, {1: 1.0, 2: 1.0, 4: 1.0})
    with pytest.raises(ValueError, match="empty loss curve: fp32 has 0 iterations, bf16 1"):
        compare_curves({}, {1: 1.0})


def test_train_options_log_every_iteration_and_validate_at_the_end(tmp_path):
    options = train_options(tmp_path, 20, 3)
    assert options[0] == "--cfg-options"
    for expected in (
        f"train_dataloader.dataset.data_root={tmp_path}",
        f"val_dataloader.dataset.data_root={tmp_path}",
        "randomness.seed=3",
        "train_cfg.max_iters=20",
        "train_cfg.val_interval=20",
        "default_hooks.logger.interval=1",
        "log_processor.window_size=1",
    ):
        assert expected in options
