"""The dispatcher host: one pykka actor (one OS thread) hosting several actors.

Why: a pykka ``tell`` wakes another OS thread, which costs 4-30 µs per hop on the reference
machine, so a naive chain feed -> book -> strategy -> combo -> leg pays that five times per tick.
Actors placed in the same *group* share one host: a message between them is a function call
processed in FIFO order, run to completion. Groups are still real pykka actors (``tell``, ``ask``
and proxies work), and a group can hold a single actor, so placement alone decides the
trade-off between isolation and latency.

The host's inbox is a ``PollingInbox``: its ``get`` polls the host's ZeroMQ sockets, an eventfd
that other threads ring when they ``tell``, and the timer heap. So the thread that reads a
market-data frame is the thread that sends the order, with no hand-off in between.

Messages to actors in other groups of the same node are collected during a dispatch cycle and
sent as one ``tell`` per group; messages to other nodes go as one MessagePack frame per node over
a PUSH socket. Every message delivered to an actor is also copied, in batches, to the journal.

The routing itself — FIFO, run to completion, ``@`` outputs at once, timers, what is journaled —
is ``actors.runtime.dispatch.Dispatcher``, the same code replay and rebuilds run; the host adds
the sockets, the pykka inbox, the batching per group and node, and the group commit of order
intents (``LegShell``: fdatasync'ed once per cycle, then the frames leave). Without a durable
sync to share (``run.durable_intents = false``, no HA replication) an order frame leaves as soon
as its executor decided it, not after the rest of the cycle (``_HostSink.send``).

Smart batching: what goes to another group of the node (risk, the journal) waits while the host
has more input ready, up to ``GROUP_BATCH_MAX_NS``, and leaves as one ``tell`` per group when the
host is about to sleep: at a high tick rate those threads wake once per batch instead of once per
tick (each wake takes the GIL from the hot thread), and a consumer's market data conflates over
the batch. Frames to other nodes and to venues never wait.

Garbage collection (``GcPolicy``): the engine keeps every order and combo record for minutes, so
CPython's full collections grew with the run (150-300 ms pauses at 10k orders/s, every few
seconds). The hosts freeze what survived into the permanent generation (``gc.freeze``) once at
start and then every ``GC_FREEZE_EVERY_NS``, right after a collection of the young generations
(so the young garbage cycles are freed, not frozen): a full collection only walks what is newer
than the last freeze.
"""

from __future__ import annotations

import collections
import math
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

import psutil
import pykka
import zmq
from loguru import logger

from actors.core import Out
from actors.runtime import link_auth
from actors.runtime.dispatch import JOURNAL, NOT_JOURNALED, Dispatcher, Pending, Sink
from actors.runtime.freeze import FreezeSeen, FreezeWatch
from actors.runtime.gc_policy import GC_POLICY, GcPolicy
from actors.runtime.shell import Shell, SocketSpec, secure
from actors.runtime.supervised_host import HostSupervision, Rebuilder
from transports.clock import Clock
from transports.errors import CodecError
from transports.wire.codec import MAX_FRAME_BYTES, batch_codec, encode
from transports.wire.messages import BookUpdate, ClockJump, JournalBatch, Reconnect

#: Most frames read from one socket per poll, so one busy socket cannot starve the others.
MAX_FRAMES_PER_POLL = 256
#: longest a message for another group of the node waits for the host to be idle (smart
#: batching, module docstring)
GROUP_BATCH_MAX_NS = 1_000_000
class IoReady:
    """Envelope body: these sockets are readable."""

    __slots__ = ("socks",)

    def __init__(self, socks: list[Any]) -> None:
        self.socks = socks


class TimersDue:
    """Envelope body: at least one timer is due."""

    __slots__ = ()


class GroupBatch:
    """Envelope body: messages from another group of this node, in order."""

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self.items = items


class Begin:
    """Envelope body: every host of the node is registered; start the hosted actors."""

    __slots__ = ()


class _Envelope:
    __slots__ = ("message", "reply_to")

    def __init__(self, message: Any) -> None:
        self.message = message
        self.reply_to = None


class PollingInbox:
    """A pykka inbox whose ``get`` also waits on ZeroMQ sockets and timers.

    ``put`` may be called from any thread; everything else runs in the host's thread.
    """

    def __init__(self) -> None:
        self._q: collections.deque[Any] = collections.deque()
        self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._sleeping = False
        self.poller = zmq.Poller()
        self.poller.register(self._efd, zmq.POLLIN)
        #: returns the ms until the next timer (or None) — set by the host
        self.next_timeout_ms: Callable[[], float | None] = lambda: None
        #: True while the host holds output it sends when idle; ``idle()`` sends it — set by
        #: the host (smart batching)
        self.deferred: Callable[[], bool] = lambda: False
        self.idle: Callable[[], None] = lambda: None
        self.closed = False

    def put(self, envelope: Any, block: bool = True, timeout: float | None = None) -> None:
        self._q.append(envelope)
        # Ring only when the host may be asleep in poll; the GIL orders these reads and writes,
        # and the host re-checks the deque after raising the flag, so no wake-up is lost.
        if self._sleeping:
            try:
                os.eventfd_write(self._efd, 1)
            except OSError:
                pass

    def empty(self) -> bool:
        return not self._q

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        q = self._q
        while True:
            if q:
                return q.popleft()
            if not block or self.closed:
                raise queue.Empty
            wait_ms = self.next_timeout_ms()
            if wait_ms is not None and wait_ms <= 0:
                return _Envelope(TimersDue())
            if self.deferred():
                # about to sleep with output held back: first see whether input is ready
                # (then the batch grows), else send it now
                ready = [s for s, _ in self.poller.poll(0) if s != self._efd]
                if ready:
                    return _Envelope(IoReady(ready))
                self.idle()
                continue
            self._sleeping = True
            if q:
                self._sleeping = False
                continue
            # Cap the wait so a lost wake-up could only ever cost 100 ms, never a hang.
            events = self.poller.poll(100 if wait_ms is None else min(100, math.ceil(wait_ms)))
            self._sleeping = False
            socks = []
            for sock, _ in events:
                if sock == self._efd:
                    try:
                        os.eventfd_read(self._efd)
                    except BlockingIOError:
                        pass
                else:
                    socks.append(sock)
            if socks:
                q.append(_Envelope(IoReady(socks)))

    def close(self) -> None:
        self.closed = True
        try:
            os.close(self._efd)
        except OSError:
            pass


class Directory:
    """Where every actor lives: group and node, and how to reach other groups and nodes."""

    def __init__(self, node: str, actor_group: dict[str, str], group_node: dict[str, str],
                 node_address: dict[str, str]) -> None:
        self.node = node
        self.actor_group = actor_group
        self.group_node = group_node
        self.node_address = node_address
        self.refs: dict[str, pykka.ActorRef[Any]] = {}
        self.io_group: dict[str, str] = {}
        for g, n in group_node.items():
            self.io_group.setdefault(n, g)

    def remote_node(self, actor: str) -> str | None:
        """Return the node hosting ``actor`` if it is not this node."""
        g = self.actor_group.get(actor)
        if g is None:
            return None
        n = self.group_node[g]
        return None if n == self.node else n


class Host(pykka.ThreadingActor):
    """Hosts the shells of one group in one thread; routes their output. What the Supervisor
    asks of it (checkpoints, restarts) is ``self.supervision``
    (``actors.runtime.supervised_host.HostSupervision``), reached through thin methods here."""

    def __init__(self, group: str, shells: list[Shell], directory: Directory, clock: Clock,
                 ctx: zmq.Context[Any], cpus: list[int] | None = None,
                 journal: str = "journal", on_error: Callable[[str, BaseException], None] | None
                 = None, epoch: int = 0, freeze: FreezeWatch | None = None) -> None:
        super().__init__()
        self.group = group
        #: the epoch the node built its cores with, journaled with each ``@start`` so a replay
        #: of a run directory that several launches wrote builds each launch's cores alike
        self.epoch = epoch
        self.shells = {s.name: s for s in shells}
        self.dir = directory
        self.clock = clock
        self.ctx = ctx
        self.cpus = cpus or []
        self.journal = journal if journal in directory.actor_group else ""
        self.journal_local = self.journal in self.shells
        self.on_error = on_error
        self._sock_owner: dict[Any, tuple[Shell, str]] = {}
        self._pull: zmq.Socket[bytes] | None = None
        self._push: dict[str, zmq.Socket[bytes]] = {}
        self._group_out: dict[str, list[tuple[str, Any]]] = {}
        self._node_out: dict[str, list[tuple[str, Any]]] = {}
        #: (dest, venue, sym) -> (out list, index) of this cycle's BookUpdate (``_forward``)
        self._conflate: dict[tuple[str, str, str], tuple[list[tuple[str, Any]], int]] = {}
        self._tombstones = False
        #: when the oldest output for another group of the node was held back (0: none held)
        self._held_since_ns = 0
        self._pending_sends: dict[str, Shell] = {}
        #: ``IntentFailed`` inputs of orders sent at once (``_HostSink.send``), routed from
        #: ``@wal`` when the cycle is done, as the group commit's are
        self._wal_failed: list[tuple[str, list[Any]]] = []
        #: the group's routing, timers and journaling (``actors.runtime.dispatch``)
        self.dispatch = Dispatcher(self.shells, _HostSink(self), journal=self.journal or JOURNAL,
                                   journaling=bool(self.journal))
        self.counters: collections.Counter[str] = collections.Counter()
        #: checkpoints and restarts of the hosted cores, in this thread (``supervised_host``)
        self.supervision = HostSupervision(
            group, clock, self.shells, self.dispatch, self.counters, self.journal,
            flush=self._flush, route=self._route, release_sends=self._release_sends,
            to_journal=self._to_journal)
        self.started = threading.Event()
        self._closed = False
        #: the node's freeze watch, as this host has acted on it (``actors.runtime.freeze``)
        self.freeze = FreezeSeen(freeze) if freeze is not None and freeze.freeze_ns else None
        self.actor_inbox.next_timeout_ms = self._next_timeout_ms  # type: ignore[attr-defined]
        self.actor_inbox.deferred = self._holding  # type: ignore[attr-defined]
        self.actor_inbox.idle = self._idle  # type: ignore[attr-defined]

    # pykka's private hook (``ThreadingActor._create_actor_inbox``, pykka 4.x; pinned
    # ``pykka>=4,<5`` in setup.cfg): the inbox is the host's poll loop over its sockets.
    def _create_actor_inbox(self) -> PollingInbox:  # type: ignore[override]
        return PollingInbox()

    # --- lifecycle -------------------------------------------------------------------------------

    def on_start(self) -> None:
        if self.cpus:
            # Pin this thread only, by its native id: psutil.Process().cpu_affinity() called
            # here would pin the process's main thread instead.
            psutil.Process(threading.get_native_id()).cpu_affinity(list(self.cpus))
        threading.current_thread().name = f"host-{self.group}"
        inbox: PollingInbox = self.actor_inbox  # type: ignore[assignment]
        for shell in self.shells.values():
            for spec in shell.socket_specs():
                self._open(shell, spec)
        if self.dir.io_group.get(self.dir.node) == self.group and len(self.dir.node_address) > 1:
            # authenticated before anything can connect: a peer without the launch's node key
            # never gets a frame in (``actors.runtime.link_auth``)
            auth = link_auth.require(self.ctx, f"node {self.dir.node}'s inbound link")
            self._pull = self.ctx.socket(zmq.PULL)
            auth.server(self._pull)
            self._pull.setsockopt(zmq.LINGER, 0)
            self._pull.setsockopt(zmq.RCVHWM, 0)
            # a larger frame is refused by libzmq before it is read whole (it drops the peer)
            self._pull.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
            self._pull.bind(self.dir.node_address[self.dir.node])
            inbox.poller.register(self._pull, zmq.POLLIN)
        GC_POLICY.start(self.clock.now_ns())  # what start-up built is never walked again
        self.started.set()

    def on_stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        GC_POLICY.stop()  # what this host held may be garbage soon: collectable again
        now = self.clock.now_ns()
        for shell in self.shells.values():
            self.dispatch.stop(shell.name, shell.core, now)
        self._release_sends(now)
        self._flush(now)
        if self.journal_local:
            self.shells[self.journal].core.on_stop(now)  # flush after the last batch
        for sock in [*self._sock_owner, *self._push.values(), self._pull]:
            if sock is not None:
                sock.close(linger=0)
        self.actor_inbox.close()  # type: ignore[attr-defined]

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        logger.opt(exception=exception_value).error("host {} failed", self.group)
        self.on_stop()

    # --- receive ---------------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        now = self.clock.now_ns()
        if self.freeze is not None:
            gap = self.freeze.check(now)
            if gap:
                self._clock_jumped(gap, now)
                # journaled now, as one cycle at ``now``: the message that woke us may be an
                # ask (a ping) that flushes nothing, and the next cycle's time would be stamped
                # on what the cores saw at this one (a replay would diverge)
                self._release_sends(now)
                self._flush(now)
        if isinstance(message, IoReady):
            for sock in message.socks:
                self._drain(sock, now)
        elif isinstance(message, GroupBatch):
            for item in message.items:
                if item is not None:  # a conflated slot (``_forward``) a salvage passed on
                    self._route("@group", [item], now)
        elif isinstance(message, TimersDue):
            self.dispatch.fire_due(now)
            self._release_sends(now)
        elif isinstance(message, Begin):
            for shell in self.shells.values():
                self.dispatch.start(shell.name, shell.core, now, self.epoch)
            self._release_sends(now)
        else:
            return None
        self._flush(now, idle=False)
        sup = self.supervision
        if sup.ckpt_due_ns and now >= sup.ckpt_due_ns:
            sup.checkpoint(now)  # between two dispatch cycles (actors.runtime.checkpoint)
        gcp = GC_POLICY
        if now >= gcp.next_ns:
            gcp.freeze(now)
        return None

    def _clock_jumped(self, gap_ns: int, now: int) -> None:
        """The node was frozen for ``gap_ns``: before this message (or anything else that
        waited in the sockets meanwhile) is routed, every hosted core hears it, one journaled
        delivery each (``@clock``) so a replay routes it the same way."""
        self.counters["clock_jumps"] += 1
        logger.warning("node {} group {}: clock jumped {:.0f} ms; resync and reconcile before "
                       "trading", self.dir.node, self.group, gap_ns / 1e6)
        jump = ClockJump(gap_ns)
        for actor in self.shells:
            if actor != self.journal:
                self._route("@clock", [(actor, jump)], now)

    def _drain(self, sock: Any, now: int) -> None:
        if sock is self._pull:
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
                    self._route("@group", [(dest, msg)], now)
            return
        shell, key = self._sock_owner[sock]
        src = "@" + key
        recv = sock.recv
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
            self._route(src, [(shell.name, msg)], now)

    # --- routing (actors.runtime.dispatch) --------------------------------------------------------

    def _route(self, src: str, out: Out, now: int) -> None:
        """Deliver ``out`` (sent by ``src``) and everything it causes here (``Dispatcher.route``);
        then release the sends that wait for a group commit (see ``LegShell``)."""
        self.dispatch.route(src, out, now)
        if self._pending_sends or self._wal_failed:
            self._release_sends(now)

    def _release_sends(self, now: int) -> None:
        """Once the dispatch cycle's actors are done: each shell holding frames makes its
        intents durable (one fdatasync for all) and sends them. Orders whose intents failed
        come back as ``IntentFailed`` inputs, routed to their executor from ``@wal``
        (journaled, so replay and rebuilds see the failure; see ``LegShell``)."""
        if self._wal_failed:  # orders sent at once whose intents failed (``_HostSink.send``)
            late, self._wal_failed = self._wal_failed, []
            for actor, failed in late:
                self._route("@wal", [(actor, m) for m in failed], now)
        if not self._pending_sends:
            return
        pending, self._pending_sends = self._pending_sends, {}
        for shell in pending.values():
            try:
                failed = shell.flush_sends()  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001
                self.dispatch.failed(shell.name, exc, now)
                continue
            if failed:
                self._route("@wal", [(shell.name, m) for m in failed], now)

    def _open(self, shell: Shell, spec: SocketSpec) -> None:
        sock = self.ctx.socket(spec.kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
        if spec.identity:
            sock.setsockopt(zmq.IDENTITY, spec.identity)
        secure(sock, spec)  # a CURVE client of the venue's gateway when the spec has keys
        if spec.kind == zmq.SUB:
            sock.setsockopt(zmq.RCVHWM, 0)
            for topic in spec.subscribe:
                sock.setsockopt(zmq.SUBSCRIBE, topic)
        if spec.bind:
            sock.bind(spec.address)
        else:
            sock.connect(spec.address)
        shell.sockets[spec.key] = sock
        self._sock_owner[sock] = (shell, spec.key)
        self.actor_inbox.poller.register(sock, zmq.POLLIN)  # type: ignore[attr-defined]

    def _reopen(self, shell: Shell, key: str) -> None:
        """Close and reopen one of ``shell``'s sockets: a new session with the gateway."""
        old = shell.sockets.get(key)
        if old is not None:
            self.actor_inbox.poller.unregister(old)  # type: ignore[attr-defined]
            del self._sock_owner[old]
            old.close(linger=0)
        for spec in shell.socket_specs():
            if spec.key == key:
                self._open(shell, spec)
        self.counters[f"reconnects.{shell.name}.{key}"] += 1

    def _forward(self, dest: str, msg: Any) -> None:
        group = self.dir.actor_group.get(dest)
        if group is None:
            self.counters["unroutable"] += 1
            return
        node = self.dir.group_node[group]
        out = (self._group_out.setdefault(group, []) if node == self.dir.node
               else self._node_out.setdefault(node, []))
        if type(msg) is BookUpdate:
            # market data conflates for a consumer outside the group (risk's marks, another
            # node): a BookUpdate is the whole top of its book, so within one cycle only the
            # latest per destination and symbol is sent; orders and reports never conflate
            # (the older one's slot is emptied and the latest goes last, so what the consumer
            # reads keeps the order things happened in)
            key = (dest, msg.venue, msg.sym)
            at = self._conflate.get(key)
            if at is not None and at[0] is out:
                out[at[1]] = None  # type: ignore[call-overload]
                self._tombstones = True
                self.counters["conflated"] += 1
            self._conflate[key] = (out, len(out))
        out.append((dest, msg))

    def _holding(self) -> bool:
        """Whether output for another group is held back (``PollingInbox.deferred``)."""
        return self._held_since_ns != 0

    def _idle(self) -> None:
        """The host is about to sleep: send what it held back (``PollingInbox.idle``)."""
        try:
            self._flush(self.clock.now_ns())
        except Exception:  # noqa: BLE001 - the inbox must not die with the batch
            self._held_since_ns = 0
            logger.exception("host {}: idle flush failed", self.group)

    def _flush(self, now: int, idle: bool = True) -> None:
        """End a dispatch cycle: journal it, send frames to other nodes; send what waits for
        other groups of the node too, unless ``idle`` is False (the end of an ``on_receive``)
        and the oldest of it is younger than ``GROUP_BATCH_MAX_NS`` (smart batching: then the
        inbox sends it when the host is about to sleep, ``_idle``)."""
        jb = self.dispatch.journaled
        if jb:
            self.dispatch.journaled = []
            batch = JournalBatch(self.group, now, jb)
            if self.journal_local:
                self.shells[self.journal].handle(batch, now)
            else:
                self._forward(self.journal, batch)
        if self._node_out:
            if self._tombstones:  # slots of conflated BookUpdates (``_forward``)
                for k, items in self._node_out.items():
                    self._node_out[k] = [it for it in items if it is not None]
            out2, self._node_out = self._node_out, {}
            for node, items2 in out2.items():
                sock = self._push.get(node)
                if sock is None:
                    sock = link_auth.push_to(self.ctx, node, self.dir.node_address[node])
                    self._push[node] = sock
                sock.send(encode(items2))
        if self._group_out and not idle:
            if not self._held_since_ns:
                self._held_since_ns = now
            if now - self._held_since_ns < GROUP_BATCH_MAX_NS:
                return  # the conflation slots stay: a later cycle's book replaces this one
        self._held_since_ns = 0
        self._conflate.clear()
        if self._tombstones:
            self._tombstones = False
            for k, items in self._group_out.items():
                self._group_out[k] = [it for it in items if it is not None]
        if self._group_out:
            out, self._group_out = self._group_out, {}
            for group, items in out.items():
                ref = self.dir.refs.get(group)
                if ref is None:
                    self.counters["unroutable"] += len(items)
                    continue
                try:
                    ref.tell(GroupBatch(items))
                except pykka.ActorDeadError:
                    # a dead group must not take this one down; its supervisor restarts it
                    self.counters[f"dropped_to_dead.{group}"] += len(items)

    def _to_journal(self, batch: JournalBatch, now: int) -> None:
        """Hand ``batch`` to the journal at once (a checkpoint): after everything this host
        journaled before it, before everything after."""
        if self.journal_local:
            self.shells[self.journal].handle(batch, now)
        else:
            self._forward(self.journal, batch)
            self._flush(now)

    def _next_timeout_ms(self) -> float | None:
        due = self.dispatch.next_due()
        return None if due is None else (due - self.clock.now_ns()) / 1e6

    # --- queries (ask) ---------------------------------------------------------------------------

    def query(self, actor: str) -> dict[str, Any]:
        """Return the snapshot of a hosted actor's core (called through ``ask``/proxy)."""
        return self.shells[actor].core.snapshot()

    def call(self, actor: str, fn: Callable[[Any, int], Any]) -> Any:
        """Run ``fn(core, now_ns)`` in this thread and route what it returns (admin, tests)."""
        now = self.clock.now_ns()
        result = fn(self.shells[actor].core, now)
        if isinstance(result, list):
            self._route(actor, result, now)
            self._flush(now)
        return result

    def host_counters(self) -> dict[str, int]:
        """Return the host's own counters."""
        return dict(self.counters)

    # --- supervision (ask/proxy from the Supervisor; the work is ``self.supervision``'s) ----------

    def ping(self) -> int:
        """Answer a heartbeat: the host's thread is alive and its inbox is moving."""
        return int(self.clock.mono_ns())

    def set_on_error(self, on_error: Callable[[str, BaseException], None] | None) -> None:
        """Replace the handler-error callback (the Supervisor installs its own)."""
        self.on_error = on_error

    def hosted(self) -> list[str]:
        """Return the names of the actors this host runs."""
        return list(self.shells)

    def arm_timers(self, actor: str, timers: list[Pending]) -> int:
        """Arm a rebuilt core's pending timers; see ``HostSupervision.arm_timers``."""
        return self.supervision.arm_timers(actor, timers)

    def enable_checkpoints(self, interval_ns: int, epochs: dict[str, int]) -> None:
        """Checkpoint the hosted cores every ``interval_ns``; see
        ``HostSupervision.enable_checkpoints``."""
        self.supervision.enable_checkpoints(interval_ns, epochs)

    def checkpoint_now(self) -> dict[str, Any]:
        """Take a checkpoint now and return the numbers; see
        ``HostSupervision.checkpoint_now``."""
        return self.supervision.checkpoint_now()

    def checkpoint_stats(self) -> dict[str, Any]:
        """Return the checkpoint numbers; see ``HostSupervision.checkpoint_stats``."""
        return self.supervision.checkpoint_stats()

    def restart_cores(self, cores: dict[str, Any], epoch: int, reason: str,
                      rebuild: Rebuilder | None = None) -> dict[str, Any]:
        """Replace and start the cores of the actors in ``cores`` (rebuilt from the journal
        with ``rebuild``, else these fresh ones); see ``HostSupervision.restart_cores``."""
        return self.supervision.restart_cores(cores, epoch, reason, rebuild)


def _no_commit_to_share(shell: Any) -> bool:
    """True if ``shell``'s pending orders wait for nothing a later order of the cycle could
    share: no durable intent sync (no WAL, or ``durable_intents`` off) and no replication."""
    wal = getattr(shell, "intent_wal", None)
    return (wal is None or not wal.durable) and getattr(shell, "replicate", None) is None


class _HostSink(Sink):
    """The host's side of its dispatcher: sockets, other groups and nodes, errors."""

    def __init__(self, host: Host) -> None:
        self.h = host
        self.forward = host._forward  # type: ignore[method-assign]  # no extra call per hop

    def send(self, actor: str, key: str, msg: Any) -> None:
        h = self.h
        shell = h.shells[actor]
        shell.send(key, msg)
        if getattr(shell, "pending", False):
            if _no_commit_to_share(shell):
                # nothing durable to wait for: the order leaves now, not after the rest of the
                # cycle; a failure (raised: the dispatcher journals it as the actor's error;
                # returned: ``IntentFailed``) is routed when the cycle is done, as before
                failed = shell.flush_sends()  # type: ignore[attr-defined]
                if failed:
                    h._wal_failed.append((actor, failed))
                return
            h._pending_sends[actor] = shell  # released once the cycle's actors are done

    def host(self, actor: str, msg: Any) -> None:
        if isinstance(msg, Reconnect):
            self.h._reopen(self.h.shells[actor], msg.key)

    def failed(self, actor: str, exc: BaseException, now_ns: int) -> None:
        h = self.h
        h.counters[f"errors.{actor}"] += 1
        logger.opt(exception=exc).error("actor {} raised in its handler; message dropped", actor)
        if h.on_error is not None:
            h.on_error(actor, exc)


__all__ = ["GC_POLICY", "NOT_JOURNALED", "Begin", "Directory", "GcPolicy", "GroupBatch", "Host",
           "PollingInbox"]
