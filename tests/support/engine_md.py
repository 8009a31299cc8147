"""The engine's own market-data path, for a gateway's tests: its feed and book actors as a node
builds them, driven as a host drives them (``EngineFeed``). A gateway test with a SUB
subscribed by hand can agree with the gateway and not with the engine (the CTP gateway once
published on a topic no engine subscribes to)."""

from __future__ import annotations

import collections
from typing import Any

import zmq

from actors.runtime.dispatch import Dispatcher, Sink
from actors.runtime.host.host_inbox import Directory
from actors.runtime.host.host_sockets import HostSockets
from actors.runtime.host.waiter import SocketWaiter
from actors.runtime.node import actor_names, build_shells
from transports.clock import LiveClock
from transports.config.engine import AppConfig
from transports.latency import LatencyRecorder
from transports.wire.messages import BookUpdate


class EngineFeed(Sink):
    """The feed and book actors of ``venue`` (every ``feed.``/``book.`` actor of it in ``cfg``),
    built as a node builds them, their sockets (to the gateway serving ``sock_dir``) opened as a
    host opens them; what they send to a venue socket goes out on it, what they send to other
    actors (the strategy, risk) is kept in ``out``. ``pump_until`` is the host's loop (frames
    read and routed, timers fired)."""

    def __init__(self, cfg: AppConfig, sock_dir: str, venue: str, leg: bool = False) -> None:
        self.clock = LiveClock()
        names = {a for a in actor_names(cfg)
                 if a == f"feed.{venue}" or a.startswith(f"book.{venue}:")
                 or (leg and a == f"leg.{venue}")}
        self.shells = build_shells(cfg, sock_dir, self.clock, LatencyRecorder(), None, names)
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.dispatch = Dispatcher(dict(self.shells), self, journaling=False)
        self.io = HostSockets("hot", Directory("engine", {}, {}, {}), self.ctx,
                              collections.Counter(), self.dispatch, SocketWaiter(),
                              commit=None)  # type: ignore[arg-type]
        for shell in self.shells.values():
            for spec in shell.socket_specs():
                self.io.open(shell, spec)
        self.out: list[tuple[str, Any]] = []
        now = self.clock.now_ns()
        for name, shell in self.shells.items():
            self.dispatch.start(name, shell.core, now)
        self._flush()

    def send(self, actor: str, key: str, msg: Any) -> None:
        self.shells[actor].send(key, msg)

    def forward(self, dest: str, msg: Any) -> None:
        self.out.append((dest, msg))

    def pump_until(self, done: Any, what: str, timeout_s: float = 5.0) -> None:
        """Read and route every frame the sockets bring until ``done()`` (fail at the
        deadline)."""
        poller = zmq.Poller()
        for sock in self.io.owner:
            poller.register(sock, zmq.POLLIN)
        mono = self.clock.mono_ns
        end = mono() + int(timeout_s * 1e9)
        while not done():
            left = (end - mono()) / 1e9
            assert left > 0, f"{what}; the engine's actors got {self.out[-5:]}"
            now = self.clock.now_ns()
            if self.dispatch.fire_due(now):  # the actors' timers, as a host fires them
                self._flush()
            due = self.dispatch.next_due()
            wait_ms = left * 1000 if due is None else min(left * 1000, max(0, due - now) / 1e6)
            for sock, _ in poller.poll(max(1, int(wait_ms))):
                shell, key = self.io.owner[sock]
                while sock.poll(0):
                    frames = sock.recv_multipart()
                    now = self.clock.now_ns()
                    self.route("@" + key, shell.name, shell.decode(key, frames, now))

    def route(self, src: str, dest: str, msg: Any) -> None:
        """Deliver ``msg`` to actor ``dest`` as from ``src`` and everything it causes; then the
        orders decided leave, as a host's group commit sends them (no intent WAL here)."""
        self.dispatch.route(src, [(dest, msg)], self.clock.now_ns())
        self._flush()

    def _flush(self) -> None:
        for shell in self.shells.values():
            if getattr(shell, "pending", False):
                assert shell.flush_sends() == []  # type: ignore[attr-defined]

    def to(self, dest: str, kind: type) -> list[Any]:
        """What the actors sent to ``dest`` (another actor) of type ``kind``, in order."""
        return [m for d, m in self.out if d == dest and isinstance(m, kind)]

    def books(self, sym: str) -> list[BookUpdate]:
        return [m for _, m in self.out if isinstance(m, BookUpdate) and m.sym == sym]

    def close(self) -> None:
        for sock in self.io.all_sockets():
            sock.close(linger=0)
        self.ctx.term()


__all__ = ["EngineFeed"]
