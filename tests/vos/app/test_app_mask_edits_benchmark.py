"""benchmarks/app_mask_edits.py: a smoke run writes both tables."""

from __future__ import annotations

import json

import pytest

from tests.tracked_outputs import committed_outputs_untouched


@pytest.mark.slow
def test_quick_run_writes_the_latency_and_click_tables(tmp_path):
    from benchmarks.app_mask_edits import main

    with committed_outputs_untouched():
        assert main(["--quick", "--out-dir", str(tmp_path)]) == 0
    text = (tmp_path / "app_mask_edits_quick.md").read_text()
    assert "| brush (s)" in text and "| precision mean" in text
    payload = json.loads((tmp_path / "app_mask_edits_quick.json").read_text())
    (result,) = payload["results"]
    assert set(result["latency"]) == {"brush", "eraser", "lasso", "click", "undo", "redo"}
    assert result["clicks"] and all(
        0 < c["precision"] <= 1 and 0 < c["recall"] <= 1 for c in result["clicks"]
    )
