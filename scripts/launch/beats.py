"""Node heartbeats: every child node tells the launcher it is alive; a silent one is ``hung``.

Why: the launcher used to watch exit codes only, so a node stopped by SIGSTOP (or wedged with
its interpreter held) stayed ``running`` in the status while the world moved on without it. A
child node now sends a small frame every ``supervision.node_heartbeat_ms`` from a thread of its
own (``BeatSender``: PUSH, CURVE with the launch's node key like every node link,
``actors.runtime.link_auth``) to the launcher's PULL at ``ipc://<sock dir>/beats``
(``BeatReceiver``). ``NodeWatch`` (pure, integer times) says when a node has been silent past
``supervision.node_heartbeat_timeout_ms`` and when it answers again; the launcher acts on it
(``scripts.launch.launcher``: status, journal, ``supervision.nodes.on_hung``).

A beat carries the sender's pid: a late beat of a process the launcher already killed does not
make its successor look alive. Beats are stamped with the launcher's clock when they are read,
so a launcher that was itself busy (a restart waiting for READY) sees the queued beats of the
nodes that were alive meanwhile, and only the silent ones as silent.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import msgspec
import zmq
from loguru import logger

from actors.runtime import link_auth


def beats_address(sock_dir: str) -> str:
    """Where the launcher reads the child nodes' heartbeats."""
    return f"ipc://{sock_dir}/beats"


class NodeWatch:
    """Which nodes are silent: pure, driven with the launcher's monotonic time (ns)."""

    def __init__(self, timeout_ns: int) -> None:
        self.timeout_ns = timeout_ns
        self.last: dict[str, int] = {}  #: node -> when its latest beat (or start) was seen
        self.pid: dict[str, int] = {}  #: node -> the pid whose beats count
        self.hung: set[str] = set()

    def started(self, node: str, pid: int, now_ns: int) -> None:
        """``node`` (process ``pid``) is READY: its silence counts from now."""
        self.last[node] = now_ns
        self.pid[node] = pid
        self.hung.discard(node)

    def forget(self, node: str) -> None:
        """``node`` is not watched any more (it died or was stopped)."""
        self.last.pop(node, None)
        self.hung.discard(node)

    def beat(self, node: str, pid: int, now_ns: int) -> None:
        """A beat of ``node`` from ``pid`` arrived (another pid's is ignored)."""
        if node in self.last and self.pid.get(node) == pid:
            self.last[node] = now_ns

    def check(self, now_ns: int) -> list[tuple[str, str, int]]:
        """The changes since the last check: (node, ``hung``|``answered``, silent ns)."""
        out: list[tuple[str, str, int]] = []
        for node, last in self.last.items():
            silent = now_ns - last
            if silent > self.timeout_ns and node not in self.hung:
                self.hung.add(node)
                out.append((node, "hung", silent))
            elif silent <= self.timeout_ns and node in self.hung:
                self.hung.discard(node)
                out.append((node, "answered", silent))
        return out

    def silent_ns(self, node: str, now_ns: int) -> int | None:
        """How long ``node`` has been silent (None: not watched)."""
        last = self.last.get(node)
        return None if last is None else now_ns - last


class BeatReceiver:
    """The launcher's end: a CURVE PULL socket read without blocking. A beat is a MessagePack
    array (node, pid, sequence number)."""

    def __init__(self, ctx: zmq.Context[Any], address: str) -> None:
        auth = link_auth.require(ctx, "the node heartbeat link")
        self.sock: zmq.Socket[bytes] = ctx.socket(zmq.PULL)
        auth.server(self.sock)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, 4096)
        self.sock.bind(address)
        self._dec = msgspec.msgpack.Decoder(tuple[str, int, int])

    def drain(self) -> list[tuple[str, int]]:
        """Every beat waiting now: (node, pid)."""
        got: list[tuple[str, int]] = []
        while True:
            try:
                frame = self.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return got
            try:
                node, pid, _seq = self._dec.decode(frame)
            except msgspec.DecodeError:
                continue  # only a holder of the launch key gets here: ignore, do not die
            got.append((node, pid))

    def close(self) -> None:
        """Close the socket."""
        self.sock.close(linger=0)


class BeatSender:
    """A child node's end: a thread that sends a beat every ``interval_s``."""

    def __init__(self, ctx: zmq.Context[Any], address: str, node: str, interval_s: float) -> None:
        self.ctx = ctx
        self.address = address
        self.node = node
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="beats", daemon=True)

    def start(self) -> None:
        """Start beating."""
        self._thread.start()

    def stop(self) -> None:
        """Stop beating (the socket is closed by the thread)."""
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        auth = link_auth.require(self.ctx, "the node heartbeat link")
        sock: zmq.Socket[bytes] = self.ctx.socket(zmq.PUSH)
        auth.client(sock)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 4)  # a launcher not reading needs no backlog of beats
        sock.connect(self.address)
        pid, seq = os.getpid(), 0
        try:
            while not self._stop.is_set():
                seq += 1
                try:
                    sock.send(msgspec.msgpack.encode((self.node, pid, seq)), zmq.NOBLOCK)
                except zmq.Again:
                    pass  # the launcher is behind: the next beat says the same
                self._stop.wait(self.interval_s)
        except Exception:  # noqa: BLE001 - a dead beat thread is a hung node: say why
            logger.exception("node {}: the heartbeat thread failed", self.node)
        finally:
            sock.close(linger=0)


__all__ = ["BeatReceiver", "BeatSender", "NodeWatch", "beats_address"]
