"""The host's inbox: what wakes a dispatcher host, and where every actor lives.

A ``Host`` (``actors.runtime.host.host``) is a pykka actor whose inbox is a ``PollingInbox``: its
``get`` polls the host's ZeroMQ sockets, an eventfd that other threads ring when they ``tell``,
and the timer heap, and hands the host one envelope at a time: ``IoReady`` (these sockets are
readable), ``TimersDue``, ``GroupBatch`` (messages from another group of the node), ``Begin``
(start the hosted actors), or any message told or asked through pykka.

Fairness: envelopes already in the inbox are served first (a ``tell`` from another thread was
made earlier than the frames now arriving), but never more than ``INBOX_BURST`` in a row while
a socket may be ready: a steady stream of tells (another group's batches, a driver thread) must
not keep the venue sockets unread until the venue drops its replies at its high-water mark.

Idle strategy (``spin_ns``, a placement group's ``spin_us``): by default a host with nothing to
do sleeps in ``poll`` at once, and the next input pays the wake-up (~80 µs on the reference VM)
and a cold cache. With ``spin_ns`` set it first busy-polls (``poll(0)``: the sockets, the deque
of tells, the timer heap) for that long after it became idle, then sleeps as before (Aeron's
and Chronicle's busy-spin-then-park idle strategies). Each empty round releases the GIL twice
(the ``poll`` call, then ``os.sched_yield``) so other threads of the process and the CPU's other
runnable threads get in; a thread of the same process still waits for the GIL up to the
interpreter's switch interval (``sys.setswitchinterval``) while the host spins, so spinning is
meant for a group alone in its process, on a core of its own. ``sleeps``, ``spins`` and
``spin_hits`` count what the strategy did.
"""

from __future__ import annotations

import collections
import math
import os
import queue
import time
from collections.abc import Callable
from typing import Any

import pykka
import zmq
from loguru import logger

from actors.runtime.host.waiter import MAX_WAIT_MS, SocketWaiter

#: Most inbox envelopes served in a row before the sockets are polled (without waiting) for
#: input that arrived meanwhile; see the module docstring.
INBOX_BURST = 8


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


class Envelope:
    """A pykka envelope for the bodies above (none of them is an ask: no reply)."""

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
        #: envelopes served from the deque since the sockets were last polled (fairness)
        self._burst = 0
        #: the host's sockets and the eventfd (``actors.runtime.host.waiter``: a socket's
        #: ZeroMQ state is read only when it may have changed)
        self.poller = SocketWaiter()
        self.poller.register(self._efd, zmq.POLLIN)
        #: returns the ms until the next timer (or None) — set by the host
        self.next_timeout_ms: Callable[[], float | None] = lambda: None
        #: True while the host holds output it sends when idle; ``idle()`` sends it — set by
        #: the host (smart batching)
        self.deferred: Callable[[], bool] = lambda: False
        self.idle: Callable[[], None] = lambda: None
        self.closed = False
        #: the idle strategy: busy-poll this long (ns) after the host became idle before
        #: sleeping in ``poll`` (0: sleep at once); set by the host (module docstring)
        self.spin_ns = 0
        #: ``time.monotonic_ns`` when the host became idle (0: it is not idle)
        self._idle_since_ns = 0
        #: blocking waits entered; empty busy-poll rounds; inputs a busy-poll found
        self.sleeps = 0
        self.spins = 0
        self.spin_hits = 0

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

    def _ready_now(self) -> list[Any]:
        """The sockets readable right now (no wait; the eventfd is not a socket)."""
        efd = self._efd
        return [s for s, _ in self.poller.poll(0) if s != efd]

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        q = self._q
        while True:
            if q:
                self._idle_since_ns = 0
                if self._burst < INBOX_BURST:
                    self._burst += 1
                    return q.popleft()
                # a long run of tells: let the sockets in (fairness, module docstring)
                self._burst = 0
                ready = self._ready_now()
                if ready:
                    return Envelope(IoReady(ready))
                self._burst = 1
                return q.popleft()
            self._burst = 0
            if not block or self.closed:
                raise queue.Empty
            wait_ms = self.next_timeout_ms()
            if wait_ms is not None and wait_ms <= 0:
                self._idle_since_ns = 0
                return Envelope(TimersDue())
            if self.deferred():
                # about to sleep with output held back: first see whether input is ready
                # (then the batch grows), else send it now
                ready = self._ready_now()
                if ready:
                    return Envelope(IoReady(ready))
                self.idle()
                continue
            if self.spin_ns:
                t = time.monotonic_ns()
                if not self._idle_since_ns:
                    self._idle_since_ns = t
                if t - self._idle_since_ns < self.spin_ns:
                    ready = self._ready_now()  # poll(0): releases the GIL
                    if ready:
                        self.spin_hits += 1
                        self._idle_since_ns = 0
                        return Envelope(IoReady(ready))
                    self.spins += 1
                    # the CPU's other runnable threads, and this process's threads waiting
                    # for the GIL, get a turn (module docstring: the GIL hazard)
                    os.sched_yield()
                    continue  # the deque and the timers are checked again first
            self.sleeps += 1
            self._sleeping = True
            if q:
                self._sleeping = False
                continue
            # Cap the wait so a lost wake-up could only ever cost 100 ms, never a hang.
            events = self.poller.poll(MAX_WAIT_MS if wait_ms is None
                                      else min(MAX_WAIT_MS, math.ceil(wait_ms)))
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
                q.append(Envelope(IoReady(socks)))

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


def warn_shared_spin(directory: Directory, group: str, spin_us: int) -> None:
    """Log a warning if ``group`` spins (``spin_us``) while other groups share its process:
    they wait for the GIL whenever it spins (module docstring)."""
    others = sorted(g for g, n in directory.group_node.items()
                    if n == directory.node and g != group)
    if others:
        logger.warning(
            "node {} group {}: spin_us = {} while group(s) {} share its process: they wait for "
            "the GIL (up to the switch interval per turn) whenever this group spins; give a "
            "spinning group a node and a core of its own", directory.node, group, spin_us,
            ", ".join(others))


__all__ = ["INBOX_BURST", "Begin", "Directory", "Envelope", "GroupBatch", "IoReady",
           "PollingInbox", "TimersDue", "warn_shared_spin"]
