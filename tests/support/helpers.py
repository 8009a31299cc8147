"""Test helpers: waiting on conditions with deadlines, and message stubs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transports.clock import LiveClock, sleep_s
from transports.wire.messages import FaultHook


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


class FaultyCore:
    """Test-only wrapper of a core that misbehaves on command (an operator cannot do this):
    ``FaultHook("raise")`` raises in the handler; ``poison`` raises too and adds the actor to
    ``poisoned``, whose later instances then raise in ``on_start``; ``block`` blocks the
    handler (and so its host) until ``release`` is set; ``exit`` raises ``SystemExit`` and
    ``recurse`` a ``RecursionError`` (what a handler must never let kill its node). Everything
    else goes to the wrapped core."""

    def __init__(self, inner: Any, *, release: Any = None, poisoned: set[str] | None = None,
                 ) -> None:
        self.name = inner.name
        self.inner = inner
        self.release = release  #: a threading.Event for ``test.block``
        self.poisoned = poisoned if poisoned is not None else set()

    def __getattr__(self, item: str) -> Any:
        if item == "inner" or item.startswith("__"):
            raise AttributeError(item)
        return getattr(self.inner, item)

    def handle(self, msg: Any, now_ns: int) -> Any:
        if type(msg) is FaultHook:
            if msg.kind == "block" and self.release is not None:
                self.release.wait()
                return []
            if msg.kind == "poison":
                self.poisoned.add(self.name)
            if msg.kind == "exit":
                raise SystemExit(f"injected exit in {self.name}")
            if msg.kind == "recurse":
                raise RecursionError(f"injected recursion in {self.name}")
            raise RuntimeError(f"injected fault in {self.name}")
        return self.inner.handle(msg, now_ns)

    def on_start(self, now_ns: int) -> Any:
        if self.name in self.poisoned:
            raise RuntimeError(f"{self.name} is poisoned")
        return self.inner.on_start(now_ns)

    def on_stop(self, now_ns: int) -> Any:
        return self.inner.on_stop(now_ns)

    def snapshot(self) -> dict[str, Any]:
        return self.inner.snapshot()  # type: ignore[no-any-return]
