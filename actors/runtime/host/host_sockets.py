"""The socket side of a dispatcher host (``actors.runtime.host.host``): its group's ZeroMQ sockets
(the venue sockets its shells declare, the node's inbound link when this group is the node's
I/O group) and the frame-read loop that routes what they hold.

``HostSockets`` is a helper the host owns (``Host.io``), built with the state it needs. The
sockets are opened at start but polled only once the hosted cores are started (``begin``): until
then nothing reaches a core before its ``Start`` (a replay starts a launch's cores at their
``@start`` records; market data queued while the process stood still would reach the previous
launch's cores there).

``drain`` is the engine's hottest loop (it runs for every venue frame): each frame is its own
dispatch cycle, and between cycles the host's group commit decides whether the orders held so
far wait for the rest of the wake (``actors.runtime.host.host_commit``). What it reads per frame is
bound to locals once per call.
"""

from __future__ import annotations

import collections
from typing import Any, Protocol

import zmq
from loguru import logger

from actors.runtime import link_auth
from actors.runtime.dispatch import Dispatcher
from actors.runtime.host.host_inbox import Directory
from actors.runtime.host.waiter import SocketWaiter, TrackedSocket
from actors.runtime.shells.shell import Shell, SocketSpec, secure
from transports.errors import CodecError
from transports.wire.codec import MAX_FRAME_BYTES, batch_codec

#: Most frames read from one socket per poll, so one busy socket cannot starve the others.
MAX_FRAMES_PER_POLL = 256
#: frames queued toward one venue gateway (its order entry or reference data) before a send
#: is refused (counted by the shell, never blocking the host): days of pings and retries to a
#: gateway that stopped reading; ZeroMQ's default (1,000) is a burst of orders
VENUE_SEND_HWM = 1_000_000


class GroupCommit(Protocol):
    """What ``HostSockets.drain`` reads of the host's group commit between two cycles (the
    ``Host``'s; ``actors.runtime.host.host_commit``)."""

    #: shells holding order frames for the wake's group commit (reassigned on release)
    _pending_sends: dict[str, Shell]
    #: ``IntentFailed`` inputs waiting to be routed from ``@wal``
    _wal_failed: list[tuple[str, list[Any]]]
    #: the current cycle held a new order
    _ordered: bool

    def _after_cycle(self, now: int, run: bool = True) -> None: ...


class HostSockets:
    """Opens, reopens, polls and reads one host's sockets.

    Built with what it needs of the host: ``group`` (its name, in log lines), ``directory``
    (the node, its I/O group and the node link's address; ``dir``), ``ctx``, ``counters`` (the
    host's), ``dispatch`` (the host's ``Dispatcher``: every frame is routed and every decode
    error reported through it), ``poller`` (the host inbox's ``SocketWaiter``, which the sockets
    join at ``begin``) and ``commit`` (the host, for its group commit state; ``GroupCommit``).
    """

    def __init__(self, group: str, directory: Directory, ctx: zmq.Context[Any],
                 counters: collections.Counter[str], dispatch: Dispatcher, poller: SocketWaiter,
                 commit: GroupCommit) -> None:
        self.group = group
        self.dir = directory
        self.ctx = ctx
        self.counters = counters
        self.dispatch = dispatch
        self.poller = poller
        self.commit = commit
        #: each open shell socket -> (its shell, its key in ``shell.sockets``)
        self.owner: dict[Any, tuple[Shell, str]] = {}
        #: the node's inbound link (this group is the node's I/O group of a multi-node launch)
        self.pull: zmq.Socket[bytes] | None = None
        #: the hosted cores were started (``begin``): until then no socket is polled
        self.begun = False

    def open_all(self, shells: dict[str, Shell]) -> None:
        """Open every socket ``shells`` declare, and the node's inbound link if this group is
        the node's I/O group of a launch with more than one node (at the host's start)."""
        for shell in shells.values():
            for spec in shell.socket_specs():
                self.open(shell, spec)
        d = self.dir
        if d.io_group.get(d.node) == self.group and len(d.node_address) > 1:
            # authenticated before anything can connect: a peer without the launch's node key
            # never gets a frame in (``actors.runtime.link_auth``)
            auth = link_auth.require(self.ctx, f"node {d.node}'s inbound link")
            pull = self.ctx.socket(zmq.PULL)
            auth.server(pull)
            pull.setsockopt(zmq.LINGER, 0)
            pull.setsockopt(zmq.RCVHWM, 0)
            # a larger frame is refused by libzmq before it is read whole (it drops the peer)
            pull.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
            pull.bind(d.node_address[d.node])
            self.pull = pull

    def open(self, shell: Shell, spec: SocketSpec) -> None:
        """Open the socket ``spec`` describes for ``shell`` (``shell.sockets[spec.key]``);
        polled at once if the cores were started, else from ``begin``."""
        # tracked: a send tells the host's waiter to read the socket's state before it sleeps
        sock = self.ctx.socket(spec.kind, socket_class=TrackedSocket)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
        if spec.identity:
            sock.setsockopt(zmq.IDENTITY, spec.identity)
        secure(sock, spec)  # a CURVE client of the venue's gateway when the spec has keys
        if spec.kind == zmq.SUB:
            sock.setsockopt(zmq.RCVHWM, 0)
            for topic in spec.subscribe:
                sock.setsockopt(zmq.SUBSCRIBE, topic)
        elif spec.kind == zmq.DEALER:
            # a gateway that stops reading (frozen, stuck in its vendor API) must never block
            # this thread: the shells send without blocking, and the queue is deep enough
            # that a healthy gateway's pause never drops a frame (set before connect: a pipe
            # takes its size when it is made)
            sock.setsockopt(zmq.SNDHWM, VENUE_SEND_HWM)
        if spec.bind:
            sock.bind(spec.address)
        else:
            sock.connect(spec.address)
        shell.sockets[spec.key] = sock
        self.owner[sock] = (shell, spec.key)
        if self.begun:  # else at ``begin``
            self.poller.register(sock, zmq.POLLIN)

    def reopen(self, shell: Shell, key: str) -> None:
        """Close and reopen one of ``shell``'s sockets: a new session with the gateway."""
        old = shell.sockets.get(key)
        if old is not None:
            if self.begun:
                self.poller.unregister(old)
            del self.owner[old]
            old.close(linger=0)
        for spec in shell.socket_specs():
            if spec.key == key:
                self.open(shell, spec)
        self.counters[f"reconnects.{shell.name}.{key}"] += 1

    def begin(self) -> None:
        """The cores are started: from now on the sockets opened at start are polled (what
        they queued meanwhile comes now). Idempotent."""
        if self.begun:
            return
        self.begun = True
        poller = self.poller
        for sock in self.owner:
            poller.register(sock, zmq.POLLIN)
        if self.pull is not None:
            poller.register(self.pull, zmq.POLLIN)

    def all_sockets(self) -> list[Any]:
        """Every socket open here (the shells' and the inbound link), for closing."""
        return [*self.owner, *([self.pull] if self.pull is not None else [])]

    def drain(self, sock: Any, now: int) -> None:
        """Route what ``sock`` holds (at most ``MAX_FRAMES_PER_POLL`` frames), each frame's
        message (each item of a node-link frame) its own dispatch cycle; the orders decided
        wait for the wake's group commit (``Host._after_cycle``, ``Host.on_receive``)."""
        route = self.dispatch.route
        h = self.commit
        if sock is self.pull:
            for _ in range(MAX_FRAMES_PER_POLL):
                try:
                    frame = sock.recv(zmq.NOBLOCK, copy=True)
                except zmq.Again:
                    return
                try:
                    items = batch_codec.decode(frame)
                except CodecError as exc:
                    self.counters["bad_node_frames"] += 1
                    logger.warning("node {} group {}: dropped frame: {}", self.dir.node,
                                   self.group, exc)
                    continue
                for dest, msg in items:
                    route("@group", [(dest, msg)], now)
                    if h._pending_sends or h._wal_failed:
                        h._after_cycle(now)
            return
        shell, key = self.owner[sock]
        src = "@" + key
        recv = sock.recv
        run = False  # the previous frame's cycle decided an order (``Host._after_cycle``)
        for _ in range(MAX_FRAMES_PER_POLL):
            # ``recv_multipart`` without its ``RCVMORE`` socket option read per part (an enum
            # conversion and a call into libzmq each): a frame says itself whether more follow,
            # and the parts of a message arrive together, so the rest is there at once
            try:
                part = recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            frames = [part.bytes]
            while part.more:
                part = recv(zmq.NOBLOCK, copy=False)
                frames.append(part.bytes)
            try:
                msg = shell.decode(key, frames, now)
            except Exception as exc:  # noqa: BLE001 - a decode bug must not kill the host
                self.dispatch.failed(shell.name, exc, now)
                continue
            route(src, [(shell.name, msg)], now)
            if h._pending_sends or h._wal_failed:
                ordered = h._ordered
                h._after_cycle(now, run)
                run = ordered
            else:
                run = False


__all__ = ["MAX_FRAMES_PER_POLL", "VENUE_SEND_HWM", "GroupCommit", "HostSockets"]
