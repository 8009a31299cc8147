"""Thread-safe synchronous facades for the engine: ``LeaseService`` and the shared connection.

The engine's actors are threads (pykka). ``HaNode`` owns one ``LoopThread`` and one NATS
connection; ``LeaseService`` runs a ``Lease`` on it (campaign, hold, campaign again or stop by
``on_deposed``). Every blocking call takes a timeout. ``holding``/``epoch`` are plain reads that
check the local deadline on the caller's clock, so an order path can ask before every send
without a hop to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

import msgspec
from nats.aio.client import Client as NatsClient

from transports.clock import Clock, LiveClock
from transports.config.ha import HaConfig
from transports.ha.lease import Lease, ensure_bucket
from transports.ha.loop import HaError, LoopThread, connect


class LeaseStatus(msgspec.Struct, frozen=True):
    """A snapshot for ``cmc admin status``/``cmc top``."""

    role: str  #: "primary" (holding) or "standby"
    holding: bool
    epoch: int  #: fencing token of our tenure (0 when not holding)
    revision: int  #: our latest successful write
    holder: str  #: who holds the lease as last seen ("" unknown/absent)
    holder_node: str
    seen_revision: int
    remaining_ms: float  #: time left before our local deadline
    deposed_reason: str
    renew_failures: int
    connected: bool


class HaNode:
    """One loop thread + one NATS connection shared by the lease and the replicator."""

    def __init__(self, cfg: HaConfig, name: str = "cmc-ha") -> None:
        self.cfg = cfg
        self.name = name
        self.thread = LoopThread(name)
        self.nc: NatsClient | None = None
        self.events: list[tuple[str, str]] = []  #: (kind, detail) of connection events
        self._lock = threading.Lock()

    def _on_event(self, kind: str, detail: object) -> None:
        with self._lock:
            self.events.append((kind, repr(detail) if detail is not None else ""))
            del self.events[:-100]

    def start(self, timeout_s: float | None = None) -> HaNode:
        """Start the loop and connect (bounded by ``connect_timeout_ms`` per server)."""
        self.thread.start()
        t = timeout_s or (self.cfg.connect_timeout_ms / 1000 * len(self.cfg.servers) + 2)
        try:
            self.nc = self.thread.call(connect(
                self.cfg.servers, name=self.name,
                connect_timeout_s=self.cfg.connect_timeout_ms / 1000,
                on_event=self._on_event), t)
        except BaseException:
            self.thread.stop()
            raise
        return self

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    def js(self) -> Any:
        if self.nc is None:
            raise HaError("HaNode not started")
        return self.nc.jetstream(timeout=self.cfg.op_timeout_ms / 1000,
                                 publish_async_max_pending=self.cfg.async_max_pending + 1)

    def call(self, coro: Any, timeout_s: float) -> Any:
        return self.thread.call(coro, timeout_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the connection (flushing) and stop the loop thread."""
        if self.nc is not None and self.thread.loop.is_running():
            nc, self.nc = self.nc, None
            with contextlib.suppress(HaError, Exception):
                self.thread.call(nc.close(), timeout_s)
        self.thread.stop(timeout_s)


class LeaseService:
    """The lease for a threaded engine: start it, then ask ``holding``/``epoch`` anywhere.

    Role ``primary``/``auto`` may create an absent lease; ``standby`` only takes over one that
    expired or was released. After being deposed, ``on_deposed = "standby"`` campaigns again,
    ``"exit"`` stops (the engine decides how to exit). Callbacks run on the loop thread: keep
    them short (e.g. an actor ``tell``).
    """

    def __init__(self, cfg: HaConfig, *, holder: str, node: str = "", clock: Clock | None = None,
                 ha_node: HaNode | None = None,
                 on_acquired: Callable[[int], None] | None = None,
                 on_deposed: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.holder, self.node = holder, node
        self.clock: Clock = clock or LiveClock()
        self._own_node = ha_node is None
        self.ha = ha_node or HaNode(cfg, name=f"cmc-lease-{holder}")
        self._on_acquired, self._on_deposed = on_acquired, on_deposed
        self.lease: Lease | None = None
        self._task: asyncio.Task[None] | None = None
        self._acquired = threading.Event()
        self._deposed = threading.Event()
        self.deposed_reason = ""

    def _acquired_cb(self, epoch: int) -> None:
        self._deposed.clear()
        self._acquired.set()
        if self._on_acquired is not None:
            self._on_acquired(epoch)

    def _deposed_cb(self, reason: str) -> None:
        self._acquired.clear()
        self.deposed_reason = reason
        self._deposed.set()
        if self._on_deposed is not None:
            self._on_deposed(reason)

    def start(self, timeout_s: float = 10.0) -> LeaseService:
        """Connect (if the node is ours), open/create the bucket and start campaigning."""
        if self._own_node:
            self.ha.start()

        async def _start() -> None:
            js = self.ha.js()
            await ensure_bucket(js, self.cfg.bucket, self.cfg.replicas)
            self.lease = Lease(
                js, self.cfg.bucket, self.cfg.key, holder=self.holder, node=self.node,
                ttl_ms=self.cfg.lease_ttl_ms, renew_ms=self.cfg.renew_ms,
                op_timeout_ms=self.cfg.op_timeout_ms, may_create=self.cfg.role != "standby",
                clock=self.clock, on_acquired=self._acquired_cb, on_deposed=self._deposed_cb)
            stay = (lambda: True) if self.cfg.on_deposed == "standby" else (lambda: False)
            self._task = asyncio.get_running_loop().create_task(self.lease.run(stay))

        try:
            self.ha.call(_start(), timeout_s)
        except BaseException:
            if self._own_node:
                self.ha.stop()
            raise
        return self

    # -- reads (any thread, no hop) ------------------------------------------------------------

    @property
    def holding(self) -> bool:
        """True while we hold the lease and our local deadline (monotonic) has not passed."""
        return self.lease is not None and self.lease.holding

    @property
    def epoch(self) -> int:
        """The fencing token to put on orders, or 0 when not (or no longer) holding."""
        lease = self.lease
        if lease is None:
            return 0
        epoch = lease.epoch
        return epoch if lease.holding else 0

    def fence(self) -> int:
        """The epoch for an order about to leave; raises ``HaError`` when not holding."""
        epoch = self.epoch
        if not epoch:
            raise HaError(f"not the lease holder ({self.deposed_reason or 'standby'})")
        return epoch

    def wait_holding(self, timeout_s: float) -> bool:
        """Block until we hold the lease (True) or ``timeout_s`` passes (False)."""
        return self._acquired.wait(timeout_s) and self.holding

    def wait_deposed(self, timeout_s: float) -> bool:
        """Block until we were deposed (True) or ``timeout_s`` passes (False)."""
        return self._deposed.wait(timeout_s)

    @property
    def running(self) -> bool:
        """False once the campaign/hold task ended (``on_deposed = "exit"`` after a loss)."""
        return self._task is not None and not self._task.done()

    def status(self) -> LeaseStatus:
        lease = self.lease
        if lease is None:
            return LeaseStatus("standby", False, 0, 0, "", "", 0, 0.0, "", 0, self.ha.connected)
        holding = lease.holding
        v = lease.seen_value
        return LeaseStatus(
            role="primary" if holding else "standby", holding=holding,
            epoch=lease.epoch if holding else 0, revision=lease.revision,
            holder=v.holder if v else "", holder_node=v.node if v else "",
            seen_revision=lease.seen_revision, remaining_ms=lease.remaining_ns() / 1e6,
            deposed_reason=lease.deposed_reason, renew_failures=lease.renew_failures,
            connected=self.ha.connected)

    # -- control ---------------------------------------------------------------------------------

    def release(self, timeout_s: float = 2.0) -> None:
        """Stop campaigning and give the lease up now (graceful hand-over to the standby)."""
        async def _release() -> None:
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            if self.lease is not None:
                await self.lease.release()

        self.ha.call(_release(), timeout_s)

    def stop(self, release: bool = True, timeout_s: float = 5.0) -> None:
        """Stop campaigning; ``release`` hands the lease over at once, else it just expires."""
        async def _halt() -> None:
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            if self.lease is not None:
                self.lease.depose("stopped")

        if self.ha.thread.loop.is_running():
            with contextlib.suppress(HaError):
                if release:
                    self.release(min(timeout_s, 2.0))
                self.ha.call(_halt(), min(timeout_s, 2.0))
        if self._own_node:
            self.ha.stop(timeout_s)

    def __enter__(self) -> LeaseService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["HaNode", "LeaseService", "LeaseStatus"]
