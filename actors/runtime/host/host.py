"""The dispatcher host: one pykka actor (one OS thread) hosting several actors.

Why: a pykka ``tell`` wakes another OS thread, which costs 4-30 µs per hop on the reference
machine, so a naive chain feed -> book -> strategy -> combo -> leg pays that five times per tick.
Actors placed in the same *group* share one host: a message between them is a function call
processed in FIFO order, run to completion. Groups are still real pykka actors (``tell``, ``ask``
and proxies work), and a group can hold a single actor, so placement alone decides the
trade-off between isolation and latency.

The host's inbox is a ``PollingInbox`` (``actors.runtime.host.host_inbox``): its ``get`` polls the
host's ZeroMQ sockets, an eventfd that other threads ring when they ``tell``, and the timer heap.
So the thread that reads a market-data frame is the thread that sends the order, with no
hand-off in between.

Messages to actors in other groups of the same node are collected during a dispatch cycle and
sent as one ``tell`` per group; messages to other nodes go as one MessagePack frame per node over
a PUSH socket. Every message delivered to an actor is also copied, in batches, to the journal.

The routing itself — FIFO, run to completion, ``@`` outputs at once, timers, what is journaled —
is ``actors.runtime.dispatch.Dispatcher``, the same code replay and rebuilds run; the host adds
the sockets, the pykka inbox, the batching per group and node, and the group commit of order
intents (``actors.runtime.host.host_commit``: every input is its own dispatch cycle, and the orders
decided in one wake leave together after one fdatasync for all their intents). Without a
durable sync to share (``run.durable_intents = false``, no HA replication) an order frame leaves
as soon as its executor decided it.

The sockets (``actors.runtime.host.host_sockets.HostSockets``, the host's ``io``): the group's
venue sockets and the node's inbound link, opened at start, polled once the cores are started,
and the frame-read loop that routes what they hold (``HostSockets.drain``).

Smart batching (``actors.runtime.host.host_output.GroupOutput``, the host's ``out``): what goes to
another group of the node waits while the host has more input ready, up to
``GROUP_BATCH_MAX_NS``, and leaves when the host is about to sleep. Frames to other nodes and to
venues never wait.

Idle strategy (``spin_us`` per placement group, ``host_inbox``): busy-poll that long after the
last input before sleeping in ``poll``; for a group alone in its process, on a core of its own.

Garbage collection (``GcPolicy``): the engine keeps every order and combo record for minutes, so
CPython's full collections grew with the run (150-300 ms pauses at 10k orders/s, every few
seconds). The hosts freeze what survived into the permanent generation (``gc.freeze``) once at
start and then every ``GC_FREEZE_EVERY_NS``, right after a collection of the young generations
(so the young garbage cycles are freed, not frozen): a full collection only walks what is newer
than the last freeze.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Any

import psutil
import pykka
import zmq
from loguru import logger

from actors.core import Out
from actors.runtime.dispatch import JOURNAL, NOT_JOURNALED, Dispatcher, Pending
from actors.runtime.freeze import FreezeSeen, FreezeWatch
from actors.runtime.gc_policy import GC_POLICY, GcPolicy
from actors.runtime.host.host_commit import (
    GROUP_COMMIT_MAX_NS,
    GROUP_COMMIT_MIN_NS,
    HostSink,
    hold_bound_ns,
)
from actors.runtime.host.host_inbox import (
    INBOX_BURST,
    Begin,
    Directory,
    GroupBatch,
    IoReady,
    PollingInbox,
    TimersDue,
    warn_shared_spin,
)
from actors.runtime.host.host_output import GROUP_BATCH_MAX_NS, GroupOutput
from actors.runtime.host.host_sockets import HostSockets
from actors.runtime.host.supervised_host import HostSupervision, Rebuilder
from actors.runtime.shells.shell import Shell
from transports.clock import Clock
from transports.wire.messages import ClockJump


class Host(pykka.ThreadingActor):
    """Hosts the shells of one group in one thread; routes their output. Its sockets are
    opened, polled and read by ``self.io`` (``actors.runtime.host.host_sockets.HostSockets``); what
    leaves for other groups, nodes and the journal is collected and sent by ``self.out``
    (``actors.runtime.host.host_output.GroupOutput``); what the Supervisor asks of it (checkpoints,
    restarts) is ``self.supervision`` (``actors.runtime.host.supervised_host.HostSupervision``),
    reached through thin methods here."""

    def __init__(self, group: str, shells: list[Shell], directory: Directory, clock: Clock,
                 ctx: zmq.Context[Any], cpus: list[int] | None = None,
                 journal: str = "journal", on_error: Callable[[str, BaseException], None] | None
                 = None, epoch: int = 0, freeze: FreezeWatch | None = None,
                 spin_us: int = 0) -> None:
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
        self._pending_sends: dict[str, Shell] = {}
        #: when the oldest order held in ``_pending_sends`` was decided (``mono_ns``), and how
        #: long it may wait for the rest of the wake (``host_commit.hold_bound_ns``)
        self._held_since_mono_ns = 0
        self._hold_ns = GROUP_COMMIT_MIN_NS
        #: the current cycle held a new order (``HostSink.send``; ``_after_cycle``)
        self._ordered = False
        #: ``IntentFailed`` inputs of orders released early or sent at once
        #: (``host_commit.HostSink``), routed from ``@wal`` with the group commit's
        self._wal_failed: list[tuple[str, list[Any]]] = []
        self.counters: collections.Counter[str] = collections.Counter()
        #: what leaves for other groups, nodes and the journal (smart batching; ``host_output``)
        self.out = GroupOutput(group, directory, ctx, clock, self.counters, self.shells,
                               self.journal)
        #: the group's routing, timers and journaling (``actors.runtime.dispatch``)
        self.dispatch = Dispatcher(self.shells, HostSink(self), journal=self.journal or JOURNAL,
                                   journaling=bool(self.journal))
        self.out.attach(self.dispatch)
        #: checkpoints and restarts of the hosted cores, in this thread (``supervised_host``)
        self.supervision = HostSupervision(
            group, clock, self.shells, self.dispatch, self.counters, self.journal,
            flush=self.out.flush, route=self._route, release_sends=self._release_sends,
            to_journal=self.out.to_journal)
        #: the group's sockets and the frame-read loop (``host_sockets``). ``io.begun``: the
        #: hosted cores were started (``Begin``); until then no socket is polled and a freeze
        #: is not routed, so nothing reaches a core before its ``Start`` (a replay starts a
        #: launch's cores at their ``@start`` records: anything routed earlier, a jump or
        #: market data queued while the process stood still, would reach the previous launch's
        #: cores there; ``cmc replay --verify`` diverged on a launch frozen at start)
        self.io = HostSockets(group, directory, ctx, self.counters, self.dispatch,
                              self.actor_inbox.poller,  # type: ignore[attr-defined]
                              self)
        self.started = threading.Event()
        self._closed = False
        #: the node's freeze watch, as this host has acted on it (``actors.runtime.freeze``)
        self.freeze = FreezeSeen(freeze) if freeze is not None and freeze.freeze_ns else None
        self.actor_inbox.next_timeout_ms = self._next_timeout_ms  # type: ignore[attr-defined]
        self.actor_inbox.deferred = self.out.holding  # type: ignore[attr-defined]
        self.actor_inbox.idle = self.out.idle  # type: ignore[attr-defined]
        #: the idle strategy: busy-poll this long after the last input before sleeping
        self.spin_us = spin_us
        self.actor_inbox.spin_ns = spin_us * 1_000  # type: ignore[attr-defined]

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
        if self.spin_us:
            warn_shared_spin(self.dir, self.group, self.spin_us)
        self.io.open_all(self.shells)
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
        self.out.flush(now)
        if self.journal_local:
            self.shells[self.journal].core.on_stop(now)  # flush after the last batch
        for sock in [*self.io.all_sockets(), *self.out.push.values()]:
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
            # before ``Begin`` no core has started: a freeze is taken as seen, never routed (a
            # replay starts a launch's cores at their ``@start``; a jump routed earlier would
            # reach the previous launch's cores there); their start reconciles anyway
            if gap and self.io.begun:
                self._clock_jumped(gap, now)
                # journaled now, as one cycle at ``now``: the message that woke us may be an
                # ask (a ping) that flushes nothing, and the next cycle's time would be stamped
                # on what the cores saw at this one (a replay would diverge)
                self._release_sends(now)
                self.out.flush(now)
        # Each input below is its own dispatch cycle; the orders they decide are released
        # together at the end of the wake (``actors.runtime.host.host_commit``).
        if isinstance(message, IoReady):
            drain = self.io.drain
            for sock in message.socks:
                drain(sock, now)
        elif isinstance(message, GroupBatch):
            route = self.dispatch.route
            for item in message.items:
                if item is not None:  # a conflated slot (``out.forward``) a salvage passed on
                    route("@group", [item], now)
                    if self._pending_sends or self._wal_failed:
                        self._after_cycle(now)
        elif isinstance(message, TimersDue):
            self.dispatch.fire_due(now)
            self._release_sends(now)
        elif isinstance(message, Begin):
            self.io.begin()
            for shell in self.shells.values():
                self.dispatch.start(shell.name, shell.core, now, self.epoch)
            self._release_sends(now)
        else:
            return None
        if self._pending_sends or self._wal_failed:
            self._release_sends(now)  # the wake's group commit
        self.out.flush(now, idle=False)
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

    # --- routing (actors.runtime.dispatch) --------------------------------------------------------

    def _route(self, src: str, out: Out, now: int) -> None:
        """Deliver ``out`` (sent by ``src``) and everything it causes here (``Dispatcher.route``);
        then release the sends that wait for a group commit (a cycle on its own: an admin
        call, a clock jump, a supervisor's restart)."""
        self.dispatch.route(src, out, now)
        if self._pending_sends or self._wal_failed:
            self._release_sends(now)

    def _after_cycle(self, now: int, run: bool = True) -> None:
        """Between two cycles of a wake, with orders held: keep holding while the cycles keep
        deciding orders (more may share the sync), up to the hold bound; release them after a
        cycle that decided none, or, for a venue frame, after one that ordered alone (``run``
        False: the frame before it decided none; see ``actors.runtime.host.host_commit``). An
        intent failure is routed to its executor at once, before the next input."""
        ordered, self._ordered = self._ordered, False
        if self._wal_failed or not ordered or not run or (
                self.clock.mono_ns() - self._held_since_mono_ns >= self._hold_ns):
            self._release_sends(now)

    def _release_sends(self, now: int) -> None:
        """Once the wake's cycles are done (or the oldest held order is overdue): each shell
        holding frames makes its intents durable (one fdatasync for all) and sends them. Orders
        whose intents failed come back as ``IntentFailed`` inputs, routed to their executor
        from ``@wal`` (journaled, so replay and rebuilds see the failure; see ``LegShell``)."""
        if self._wal_failed:  # orders released early or sent at once (``HostSink``)
            late, self._wal_failed = self._wal_failed, []
            for actor, failed in late:
                self._route("@wal", [(actor, m) for m in failed], now)
        if not self._pending_sends:
            return
        pending, self._pending_sends = self._pending_sends, {}
        self._ordered = False
        mono = self.clock.mono_ns
        took_ns = 0  # what the syncs (and sends) took: the next hold bound
        for shell in pending.values():
            t0 = mono()
            try:
                failed = shell.flush_sends()  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001
                took_ns += mono() - t0
                self.dispatch.failed(shell.name, exc, now)
                continue
            took_ns += mono() - t0
            if failed:
                self._route("@wal", [(shell.name, m) for m in failed], now)
        self._hold_ns = hold_bound_ns(took_ns)

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
            self.out.flush(now)
        return result

    def host_counters(self) -> dict[str, int]:
        """Return the host's own counters (``io.lost_wakeups``, once not 0: inputs a wait found
        only when it ran out, ``actors.runtime.host.waiter``); with ``spin_us``, also what its
        idle strategy did (``idle.sleeps``: blocking waits entered, ``idle.spins``: empty
        busy-poll rounds, ``idle.spin_hits``: inputs a busy-poll found)."""
        got = dict(self.counters)
        # inputs found readable only when a wait ran out (``actors.runtime.host.waiter``):
        # listed once there is one, as the other counters
        lost = self.actor_inbox.poller.lost_wakeups  # type: ignore[attr-defined]
        if lost:
            got["io.lost_wakeups"] = lost
        if self.spin_us:
            inbox = self.actor_inbox
            got["idle.sleeps"] = inbox.sleeps  # type: ignore[attr-defined]
            got["idle.spins"] = inbox.spins  # type: ignore[attr-defined]
            got["idle.spin_hits"] = inbox.spin_hits  # type: ignore[attr-defined]
        return got

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
        res = self.supervision.restart_cores(cores, epoch, reason, rebuild)
        self.io.begin()  # a node started from the journal begins here, not with ``Begin``
        return res


__all__ = ["GC_POLICY", "GROUP_BATCH_MAX_NS", "GROUP_COMMIT_MAX_NS", "GROUP_COMMIT_MIN_NS",
           "INBOX_BURST", "NOT_JOURNALED", "Begin", "Directory", "GcPolicy", "GroupBatch", "Host",
           "PollingInbox"]
