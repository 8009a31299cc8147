"""Clocks: the only place that reads the wall or monotonic clock.

Every core receives time as an argument; shells ask an injected ``Clock``. Tests and replay use
``TestClock``, which moves only when told.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What the engine needs from a clock."""

    def now_ns(self) -> int:
        """Return Unix-epoch nanoseconds (venue-comparable time)."""
        ...

    def mono_ns(self) -> int:
        """Return monotonic nanoseconds (for latency between two local stamps)."""
        ...


class LiveClock:
    """The real clock.

    ``now_ns`` is anchored to CLOCK_REALTIME once and then advances with CLOCK_MONOTONIC, so
    stamps taken in one process never go backwards and latency arithmetic between any two
    stamps of the same process is exact. Different processes on one host agree to within the
    anchor error (microseconds), which is why cross-process hops use ``mono_ns``-derived stamps
    (CLOCK_MONOTONIC is system-wide on Linux).
    """

    __slots__ = ("_offset_ns",)

    def __init__(self) -> None:
        self._offset_ns = time.time_ns() - time.monotonic_ns()

    def now_ns(self) -> int:
        """Return Unix-epoch nanoseconds, monotonic within this process."""
        return time.monotonic_ns() + self._offset_ns

    def mono_ns(self) -> int:
        """Return CLOCK_MONOTONIC nanoseconds (comparable across processes on one host)."""
        return time.monotonic_ns()


class TestClock:
    """A clock that only moves when told; for tests and replay."""

    __test__ = False  # not a pytest test class
    __slots__ = ("_now_ns",)

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self._now_ns = start_ns

    def now_ns(self) -> int:
        """Return the current test time."""
        return self._now_ns

    def mono_ns(self) -> int:
        """Return the current test time (one timeline)."""
        return self._now_ns

    def advance_ns(self, delta_ns: int) -> int:
        """Move forward by ``delta_ns`` and return the new time."""
        if delta_ns < 0:
            raise ValueError(f"delta_ns must be >= 0, got {delta_ns}")
        self._now_ns += delta_ns
        return self._now_ns

    def set_ns(self, now_ns: int) -> None:
        """Jump to ``now_ns`` (never backwards)."""
        if now_ns < self._now_ns:
            raise ValueError(f"clock cannot go back from {self._now_ns} to {now_ns}")
        self._now_ns = now_ns


def sleep_s(seconds: float) -> None:
    """Block the calling thread; for process-level pacing in tools, never inside a core."""
    time.sleep(seconds)


def perf_ns() -> int:
    """Return a high-resolution counter for benchmarks."""
    return time.perf_counter_ns()
