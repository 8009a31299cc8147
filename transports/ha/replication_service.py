"""Thread-safe facade of journal replication for the threaded engine: ``ReplicationService``.

Runs ``Replicator``/``Follower`` (``transports.ha.replication``) on an ``HaNode``'s loop thread.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable

from transports.clock import Clock, LiveClock
from transports.ha.loop import HaError
from transports.ha.replication import (
    Follower,
    Record,
    ReplicationError,
    Replicator,
    ensure_stream,
)
from transports.ha.service import HaNode


class ReplicationService:
    """Thread-safe facade over ``Replicator``/``Follower`` on an ``HaNode``'s loop.

    ``publish_async`` only appends to a queue (no wait, no hop per record); the loop drains it in
    order. ``publish_sync`` first drains that queue, then waits for its own ack, so the stream
    keeps the engine's record order. Every blocking call is bounded.
    """

    def __init__(self, ha: HaNode, *, epoch: int = 0, next_seq: int = 1, pack: bool = True,
                 clock: Clock | None = None) -> None:
        self.ha = ha
        self.cfg = ha.cfg
        #: records queued together go out packed in one message (``Replicator.publish_many``)
        self.pack = pack
        self.clock: Clock = clock or LiveClock()
        self.rep: Replicator | None = None
        self._epoch, self._next_seq = epoch, next_seq
        self._q: collections.deque[tuple[bytes, str]] = collections.deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._drain_error = ""
        self._drain_lock: asyncio.Lock | None = None
        self._timeout_s = self.cfg.op_timeout_ms / 1000

    def start(self, timeout_s: float = 5.0) -> ReplicationService:
        async def _start() -> None:
            js = self.ha.js()
            await ensure_stream(js, self.cfg.stream, self.cfg.replicas)
            self.rep = Replicator(js, self.cfg.stream, epoch=self._epoch,
                                  next_seq=self._next_seq, op_timeout_ms=self.cfg.op_timeout_ms,
                                  max_pending=self.cfg.async_max_pending, clock=self.clock)

        self.ha.call(_start(), timeout_s)
        return self

    def set_epoch(self, epoch: int) -> None:
        """Records published from now on carry ``epoch`` (call after winning the lease)."""
        def _set() -> None:
            assert self.rep is not None
            self.rep.epoch = epoch
        self.ha.thread.call_soon(_set)

    async def _drain(self) -> None:
        """Publish everything queued, in order; one drainer at a time (a caller that must
        come after the queue, like ``publish_sync``, waits for a drain in progress)."""
        assert self.rep is not None
        if self._drain_lock is None:
            self._drain_lock = asyncio.Lock()
        async with self._drain_lock:
            while True:
                with self._lock:
                    if not self._q:
                        self._scheduled = False
                        return
                    batch = list(self._q)
                    self._q.clear()
                try:
                    if self.pack:
                        await self.rep.publish_many(batch)
                    else:
                        for data, kind in batch:
                            await self.rep.publish_async(data, kind)
                except ReplicationError as exc:
                    self._drain_error = self._drain_error or str(exc)

    def _kick(self) -> None:
        asyncio.get_running_loop().create_task(self._drain())

    def publish_async(self, data: bytes, kind: str = "rec") -> None:
        """Queue one record for pipelined publishing (returns at once; any thread)."""
        with self._lock:
            self._q.append((data, kind))
            wake = not self._scheduled
            self._scheduled = True
        if wake:
            self.ha.thread.call_soon(self._kick)

    def _check(self) -> None:
        if self._drain_error:
            err, self._drain_error = self._drain_error, ""
            raise ReplicationError(err)

    def publish_sync(self, data: bytes, kind: str = "intent",
                     timeout_s: float | None = None) -> int:
        """Publish after everything queued before it; return once acknowledged (stream seq).
        Raises ``ReplicationError`` when not acknowledged within the timeout."""
        t = timeout_s or self._timeout_s

        async def _pub() -> int:
            await self._drain()
            assert self.rep is not None
            return await self.rep.publish_sync(data, kind, timeout_s=t)

        self._check()
        try:
            return int(self.ha.call(_pub(), t + 0.25))
        except HaError as exc:
            if isinstance(exc, ReplicationError):
                raise
            raise ReplicationError(f"{kind} record not acknowledged: {exc}") from None

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every queued record is acknowledged; ``ReplicationError`` otherwise."""
        t = timeout_s or self._timeout_s

        async def _flush() -> None:
            await self._drain()
            assert self.rep is not None
            await self.rep.flush(t)

        try:
            self.ha.call(_flush(), t + 0.25)
        except HaError as exc:
            if isinstance(exc, ReplicationError):
                raise
            raise ReplicationError(f"flush: {exc}") from None
        self._check()

    def follow(self, callback: Callable[[Record], None], start_seq: int = 1,
               timeout_s: float = 5.0) -> Follower:
        """Start a ``Follower`` (callback on the loop thread); stop it with ``unfollow``."""
        async def _follow() -> Follower:
            js = self.ha.js()
            await ensure_stream(js, self.cfg.stream, self.cfg.replicas)
            return await Follower(js, self.cfg.stream, callback, start_seq=start_seq,
                                  clock=self.clock).start()

        return self.ha.call(_follow(), timeout_s)  # type: ignore[no-any-return]

    def unfollow(self, follower: Follower, timeout_s: float = 2.0) -> None:
        self.ha.call(follower.stop(), timeout_s)


__all__ = ["ReplicationService"]
