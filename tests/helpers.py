"""Test helpers: waiting on conditions with deadlines, and message stubs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transports.clock import LiveClock, sleep_s


def eventually(pred: Callable[[], Any], timeout_s: float = 5.0, step_s: float = 0.005) -> Any:
    """Poll ``pred`` until it returns a truthy value; fail with a clear message at the deadline."""
    clock = LiveClock()
    deadline = clock.mono_ns() + int(timeout_s * 1e9)
    while True:
        value = pred()
        if value:
            return value
        if clock.mono_ns() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s: {pred}")
        sleep_s(step_s)


def dests(out: list[tuple[str, Any]], kind: type | None = None) -> list[str]:
    """Return the destinations in an Out list (optionally only for messages of ``kind``)."""
    return [d for d, m in out if kind is None or isinstance(m, kind)]


def msgs(out: list[tuple[str, Any]], kind: type) -> list[Any]:
    """Return the messages of ``kind`` in an Out list."""
    return [m for _, m in out if isinstance(m, kind)]
