"""The tools' CPU thread choice: explicit settings win, otherwise the idle cores."""

from __future__ import annotations

import pytest

from mmseg_ranet.utils import threads


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (threads.ENV_THREADS, "OMP_NUM_THREADS", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)


def test_explicit_settings_win_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.choose_num_threads() == (3, "OMP_NUM_THREADS")
    monkeypatch.setenv(threads.ENV_THREADS, "5")
    assert threads.choose_num_threads() == (5, threads.ENV_THREADS)


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(threads.ENV_THREADS, value)
    with pytest.raises(ValueError, match=threads.ENV_THREADS):
        threads.choose_num_threads()


@pytest.mark.parametrize(
    ("cores", "load", "procs", "expected"),
    [(2, 0.0, 1, 2), (2, 2.9, 1, 1), (8, 3.2, 1, 5), (8, 0.1, 2, 4), (2, 0.0, 4, 1), (4, 9.0, 1, 1)],
)
def test_idle_cores_divided_among_local_processes(
    monkeypatch: pytest.MonkeyPatch, cores: int, load: float, procs: int, expected: int
) -> None:
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda _pid: set(range(cores)))
    monkeypatch.setattr(threads, "_busy_cores_now", lambda _cores: load)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(procs))
    assert threads.choose_num_threads() == (expected, "idle cores")


def test_load_average_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda _pid: set(range(4)))
    monkeypatch.setattr(threads, "_busy_cores_now", lambda _cores: None)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.8, 1.0, 1.0))
    assert threads.idle_cores() == 1


def test_busy_cores_are_measured_from_proc_stat(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two readings of /proc/stat 0.5 s apart: 400 jiffies in all, 100 of them idle -> 3 of 4 cores busy.
    readings = iter(["cpu  100 0 100 200 0 0 0 0 0 0\n", "cpu  250 0 250 300 0 0 0 0 0 0\n"])

    class Stat:
        def __init__(self, *_args, **_kwargs) -> None:
            self.line = next(readings)

        def __enter__(self):
            return self

        def __exit__(self, *_exc) -> None:
            return None

        def readline(self) -> str:
            return self.line

    monkeypatch.setattr("builtins.open", Stat)
    monkeypatch.setattr(threads.time, "sleep", lambda _s: None)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    assert threads._busy_cores_now(4) == pytest.approx(3.0)


def test_configure_threads_sets_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv(threads.ENV_THREADS, "1")
    try:
        assert threads.configure_threads() == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_fixed_count_wins_over_omp_and_idle_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "_busy_cores_now", lambda _cores: 0.0)
    assert threads.choose_num_threads(fixed=1)[0] == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert threads.choose_num_threads(fixed=1)[0] == 1
    monkeypatch.setenv(threads.ENV_THREADS, "3")
    assert threads.choose_num_threads(fixed=1) == (3, threads.ENV_THREADS)
