"""emo.fetch.pace's rule on made-up clocks: a slow but working link passes, a trickle or a silence past the window
fails, the record's deadline counts from the request."""

from __future__ import annotations

import collections

import pytest

from emo.fetch import pace


def judge(feed: list[tuple[float, int]], *, window: float = 60.0, within: float | None = None) -> str | None:
    """The first reason a Watch gives up, for a body whose byte count reaches `count` at each `(time, count)`."""
    watch = pace.Watch(window=window, min_rate=pace.MIN_RATE if within is None else 0.0, within=within,
                       error=RuntimeError)
    watch.start = 0.0
    samples = collections.deque([(0.0, 0)])
    for now, count in feed:
        watch.received = count
        if (reason := watch._behind(now, samples)) is not None:
            return reason
    return None


def steps(seconds: float, rate: float, step: float = 1.0, start: float = 0.0, have: int = 0):
    """(time, count) every `step` seconds for `seconds` seconds at `rate` bytes a second."""
    return [(start + step * i, have + int(rate * step * i)) for i in range(1, int(seconds / step) + 1)]


def test_a_slow_but_working_link_keeps_the_pace():
    assert judge(steps(600, 2 * 1024)) is None  # 2 KiB/s for ten minutes: a bad mobile link
    assert judge(steps(600, 1024 + 10)) is None  # just above the floor


def test_a_stall_shorter_than_the_window_is_forgiven():
    fast = steps(30, 100_000)
    stalled = [(30 + t, fast[-1][1]) for t in range(1, 40)]  # 39 s without a byte, after 3 MB
    assert judge(fast + stalled + steps(60, 100_000, start=69, have=fast[-1][1])) is None


def test_a_trickle_or_a_silence_past_the_window_is_given_up():
    reason = judge(steps(600, 1))  # a byte a second
    assert reason == "too slow: 60 bytes in the last 60.0 s, under 1 KiB/s (60 bytes in all)"
    assert judge([(t, 0) for t in range(1, 100)]).startswith("too slow: 0 bytes in the last 60.0 s")
    fast_then_trickle = steps(120, 100_000) + steps(120, 1, start=120, have=12_000_000)
    assert "under 1 KiB/s (12000" in judge(fast_then_trickle)
    assert judge(steps(59, 1)) is None  # not judged before a whole window has passed


@pytest.mark.parametrize("window", [0.5, 60.0, 3600.0])
def test_the_floor_scales_with_the_window(window):
    assert judge(steps(3 * window, 900, step=window / 4), window=window) is not None
    assert judge(steps(3 * window, 1100, step=window / 4), window=window) is None


def test_the_record_must_arrive_whole_within_its_deadline():
    assert judge([(t / 2, t * 100) for t in range(1, 240)], within=120.0) is None  # its 24 kB in under 2 minutes
    assert judge([(t, t) for t in range(1, 200)], within=120.0) == (
        "did not arrive whole within 120 s (121 bytes of its body came)")
