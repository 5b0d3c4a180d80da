"""benchmarks/vos_ranker_limits.py: the seed ensemble's pick and the description of the recorded states."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.vos_ranker_limits import ensemble_picks, state_diagnostics
from tests.vos.test_gain_ranker import dataset_root, record_small  # noqa: F401  (the recorder tests' tiny dataset)


def test_the_ensemble_averages_standardised_scores_and_skips_padding():
    # Two rankers on different scales: standardised per state, the frame both put high wins.
    first = np.array([[1.0, 3.0, 2.9, -np.inf], [0.0, 0.0, 1.0, 0.5]])
    second = np.array([[10.0, 20.0, 30.0, -np.inf], [5.0, 9.0, 1.0, 9.5]])
    picks = ensemble_picks([first, second])
    # State 0: z-scores (-1.41, 0.77, 0.65) and (-1.22, 0, 1.22): frame 2 (0.93) over frame 1 (0.38).
    # State 1: (-0.90, -0.90, 1.51, 0.30) and (-0.43, 0.61, -1.47, 0.74): frame 3 (0.52) over frame 2.
    assert picks.tolist() == [2, 3]
    assert ensemble_picks([first]).tolist() == [1, 2]  # one ranker: its own arg-max


def _data():
    gains = np.array([[0.01, 0.05, 0.02, np.nan], [0.04, 0.01, 0.03, 0.00]], np.float32)
    gains[0, 3] = 0.0
    return {
        "gains": gains,
        "valid": np.array([[True, True, True, False], [True, True, True, True]]),
        "jf": np.array([[0.9, 0.5, 0.2, 0.0], [0.3, 0.8, 0.6, 0.9]], np.float32),
        "estimate": np.array([[0.9, 0.2, 0.5, 0.0], [0.4, 0.8, 0.7, 0.3]], np.float32),
        "annotated": np.array([[0, -1], [2, 0]], np.int16),
    }


def test_state_diagnostics_by_hand():
    d = state_diagnostics(_data())
    # State 0: best frame 1 (not annotated; 1 frame of lower true quality, 0 of lower estimate; 1 frame
    # from frame 0), gains 5 then 2. State 1: best frame 0 (annotated; 0 lower true, 1 lower estimate).
    assert d["states"] == 2 and d["best_is_annotated"] == 0.5
    assert d["best_rank_true_quality"] == 0.5 and d["best_rank_estimate"] == 0.5
    assert d["best_distance_median"] == 0.5
    assert d["best_gain"] == pytest.approx(4.5) and d["second_gain"] == pytest.approx(2.5)
    r0 = np.corrcoef([0.01, 0.05, 0.02], [0.1, 0.5, 0.8])[0, 1]
    r1 = np.corrcoef([0.04, 0.01, 0.03, 0.0], [0.7, 0.2, 0.4, 0.1])[0, 1]
    assert d["r_gain_true"] == pytest.approx((r0 + r1) / 2)
    assert d["frames"] == 3.5


def test_within_state_r_skips_constant_states():
    from benchmarks.vos_ranker_limits import within_state_r

    data = _data()
    values = np.array([[1.0, 5.0, 2.0, 9.0], [3.0, 3.0, 3.0, 3.0]])  # the second state is constant: skipped
    assert within_state_r(values, data) == pytest.approx(np.corrcoef([0.01, 0.05, 0.02], [1, 5, 2])[0, 1])


def test_replayed_signals_follow_the_recorded_trajectories(dataset_root, tmp_path):  # noqa: F811 (fixture)
    from benchmarks.vos_ranker_limits import SIGNALS, replay_signals

    out, _ = record_small(dataset_root, tmp_path)
    signals = replay_signals(str(out))  # raises if a replayed J&F differs from the recorded one
    assert signals.shape == (4, len(SIGNALS), 5)
    assert ((signals[:, 0] >= 0) & (signals[:, 0] <= 1)).all()  # the model's confidence
    assert (signals[:, 1] >= 0).all()
    # How far a correction would carry: the object's motion (flow length over the diagonal; the generated
    # objects move) and the share of its pixels where the forward and backward flows disagree.
    assert (signals[:, 3] >= 0).all() and signals[:, 3].max() > 0
    assert ((signals[:, 4] >= 0) & (signals[:, 4] <= 1)).all()
    # The last round's change: none before the first correction (round 1 of each trajectory), and a
    # correction changes some pixels somewhere.
    rounds = np.load(out)["round"]
    assert (signals[rounds == 1, 2] == 0).all() and (signals[rounds == 2, 2].sum(axis=1) > 0).all()
    # Another cache (nothing recorded in it, so the rounds are computed again) replays the same masks.
    raw = dict(np.load(out))
    raw["settings"] = np.asarray(
        str(raw["settings"]).replace(str(tmp_path / "cache"), str(tmp_path / "other"))
    )
    np.savez(tmp_path / "moved.npz", **raw)
    np.testing.assert_allclose(replay_signals(str(tmp_path / "moved.npz")), signals, atol=1e-6)


def test_video_flows_are_consistent_where_a_frame_only_moves():
    import cv2

    from benchmarks.vos_ranker_limits import video_flows

    rng = np.random.default_rng(0)
    texture = (rng.random((48, 80, 3)) * 255).astype(np.uint8)
    texture = cv2.GaussianBlur(texture, (5, 5), 1.5)
    frames = np.stack([np.roll(texture, shift, axis=1) for shift in (0, 2, 4)])  # 2 px to the right per frame
    flows, errors = video_flows(frames)
    assert flows.shape == (3, 48, 80, 2) and errors.shape == (3, 48, 80)
    inner = (slice(8, -8), slice(8, -8))
    assert np.median(flows[0][inner][..., 0]) == pytest.approx(2.0, abs=0.3)
    assert np.median(flows[2][inner][..., 0]) == pytest.approx(-2.0, abs=0.3)  # the last frame looks back
    assert np.median(errors[0][inner]) < 0.5


def test_signals_option_names_the_known_signals(capsys):
    from benchmarks.vos_ranker_limits import main

    with pytest.raises(SystemExit):
        main(["--gains", "unused.npz", "--signals", "motion,colour"])
    assert "unknown ['colour']" in capsys.readouterr().err
