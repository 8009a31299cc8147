"""The output side of a dispatcher host (``actors.runtime.host.host``): what leaves a dispatch cycle
for other groups of the node, other nodes and the journal.

Smart batching: what goes to another group of the node (risk, the journal) waits while the host
has more input ready, up to ``GROUP_BATCH_MAX_NS``, and leaves as one ``tell`` per group when the
host is about to sleep: at a high tick rate those threads wake once per batch instead of once per
tick (each wake takes the GIL from the hot thread), and a consumer's market data conflates over
the batch. Frames to other nodes and to venues never wait.

``GroupOutput`` is a helper the host owns (``Host.out``), built with the state it needs; what it
collects (``group_out``, ``node_out``) is its own, so a supervisor abandoning a hung host
salvages it from the helper (``GroupOutput.unplug``, ``supervised_host.abandon``).
"""

from __future__ import annotations

import collections
from typing import Any

import pykka
from loguru import logger

from actors.runtime import link_auth
from actors.runtime.dispatch import Dispatcher
from actors.runtime.host.host_inbox import Directory, GroupBatch
from actors.runtime.shells.shell import Shell
from transports.clock import Clock
from transports.wire.codec import encode
from transports.wire.messages import BookUpdate, JournalBatch

#: longest a message for another group of the node waits for the host to be idle (smart
#: batching, module docstring)
GROUP_BATCH_MAX_NS = 1_000_000


class GroupOutput:
    """Collects, conflates and sends one host's output for other groups, nodes and the journal.

    Built with what it reads of the host: ``group`` (its name, on journal batches), ``directory``
    (where every actor lives; ``dir``), ``ctx`` (for the PUSH sockets to other nodes, opened on
    first use and kept in ``push``), ``clock``, ``counters`` (the host's), ``shells`` (the host's
    dict: a local journal is handed its batches directly) and ``journal`` (the journal actor's
    name, '' without one). ``dispatch`` is the host's ``Dispatcher``, whose journal buffer each
    flush takes: it is attached once built (``attach``), since its sink forwards here.
    """

    def __init__(self, group: str, directory: Directory, ctx: Any, clock: Clock,
                 counters: collections.Counter[str], shells: dict[str, Shell],
                 journal: str) -> None:
        self.group = group
        self.dir = directory
        self.ctx = ctx
        self.clock = clock
        self.counters = counters
        self.shells = shells
        self.journal = journal
        #: the journal is hosted in this group: batches are handed to it, not forwarded
        self.journal_local = journal in shells
        self.dispatch: Dispatcher | None = None
        #: what waits for other groups of the node: group -> [(dest, msg) or None (a
        #: conflated slot)]
        self.group_out: dict[str, list[tuple[str, Any]]] = {}
        #: what leaves for other nodes at the end of the cycle: node -> [(dest, msg) or None]
        self.node_out: dict[str, list[tuple[str, Any]]] = {}
        #: (dest, venue, sym) -> (out list, index) of the latest held BookUpdate (``forward``)
        self.conflate: dict[tuple[str, str, str], tuple[list[tuple[str, Any]], int]] = {}
        #: some out list holds a conflated slot (None) to strip before it is sent
        self.tombstones = False
        #: when the oldest output for another group of the node was held back (0: none held)
        self.held_since_ns = 0
        #: node -> the PUSH socket to it
        self.push: dict[str, Any] = {}

    def attach(self, dispatch: Dispatcher) -> None:
        """Take the host's dispatcher (built after this helper: its sink is ``forward``)."""
        self.dispatch = dispatch

    def forward(self, dest: str, msg: Any) -> None:
        """Collect ``msg`` for ``dest``, an actor of another group or node (the dispatcher's
        ``Sink.forward``)."""
        group = self.dir.actor_group.get(dest)
        if group is None:
            self.counters["unroutable"] += 1
            return
        node = self.dir.group_node[group]
        out = (self.group_out.setdefault(group, []) if node == self.dir.node
               else self.node_out.setdefault(node, []))
        if type(msg) is BookUpdate:
            # market data conflates for a consumer outside the group (risk's marks, another
            # node): a BookUpdate is the whole top of its book, so within one cycle only the
            # latest per destination and symbol is sent; orders and reports never conflate
            # (the older one's slot is emptied and the latest goes last, so what the consumer
            # reads keeps the order things happened in)
            key = (dest, msg.venue, msg.sym)
            at = self.conflate.get(key)
            if at is not None and at[0] is out:
                out[at[1]] = None  # type: ignore[call-overload]
                self.tombstones = True
                self.counters["conflated"] += 1
            self.conflate[key] = (out, len(out))
        out.append((dest, msg))

    def holding(self) -> bool:
        """Whether output for another group is held back (``PollingInbox.deferred``)."""
        return self.held_since_ns != 0

    def idle(self) -> None:
        """The host is about to sleep: send what it held back (``PollingInbox.idle``)."""
        try:
            self.flush(self.clock.now_ns())
        except Exception:  # noqa: BLE001 - the inbox must not die with the batch
            self.held_since_ns = 0
            logger.exception("host {}: idle flush failed", self.group)

    def flush(self, now: int, idle: bool = True) -> None:
        """End a dispatch cycle: journal it, send frames to other nodes; send what waits for
        other groups of the node too, unless ``idle`` is False (the end of an ``on_receive``)
        and the oldest of it is younger than ``GROUP_BATCH_MAX_NS`` (smart batching: then the
        inbox sends it when the host is about to sleep, ``idle``)."""
        d = self.dispatch
        jb = d.journaled if d is not None else None
        if jb:
            d.journaled = []  # type: ignore[union-attr]
            batch = JournalBatch(self.group, now, jb)
            if self.journal_local:
                self._journal_here(batch, now)
            else:
                self.forward(self.journal, batch)
        if self.node_out:
            if self.tombstones:  # slots of conflated BookUpdates (``forward``)
                for k, items in self.node_out.items():
                    self.node_out[k] = [it for it in items if it is not None]
            out2, self.node_out = self.node_out, {}
            for node, items2 in out2.items():
                sock = self.push.get(node)
                if sock is None:
                    sock = link_auth.push_to(self.ctx, node, self.dir.node_address[node])
                    self.push[node] = sock
                sock.send(encode(items2))
        if self.group_out and not idle:
            if not self.held_since_ns:
                self.held_since_ns = now
            if now - self.held_since_ns < GROUP_BATCH_MAX_NS:
                return  # the conflation slots stay: a later cycle's book replaces this one
        self.held_since_ns = 0
        self.conflate.clear()
        if self.tombstones:
            self.tombstones = False
            for k, items in self.group_out.items():
                self.group_out[k] = [it for it in items if it is not None]
        if self.group_out:
            out, self.group_out = self.group_out, {}
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

    def to_journal(self, batch: JournalBatch, now: int) -> None:
        """Hand ``batch`` to the journal at once (a checkpoint): after everything this host
        journaled before it, before everything after."""
        if self.journal_local:
            self._journal_here(batch, now)
        else:
            self.forward(self.journal, batch)
            self.flush(now)

    def _journal_here(self, batch: JournalBatch, now: int) -> None:
        """The journal is in this host: write ``batch`` through its shell and route what the
        shell returns, as the dispatcher does for a batch that arrives from another host: the
        fsync timer that bounds how long a record stays unsynced, a failed journal's ``Halt``
        to risk. (Before, both were dropped here: in a quiet spell a record written this way
        waited for the next one to be synced, and a failed journal halted nothing.)"""
        more = self.shells[self.journal].handle(batch, now)
        if more and self.dispatch is not None:
            self.dispatch.route(self.journal, more, now)

    def unplug(self) -> tuple[dict[str, list[tuple[str, Any]]], dict[str, list[tuple[str, Any]]]]:
        """Cut this output off (a hung host abandoned, from the supervisor's thread): no more
        journal, no route to any group or node; return what was collected and not yet sent,
        ``(group_out, node_out)``, for the supervisor to salvage. The PUSH sockets stay in
        ``push`` for the caller to close."""
        group_out, self.group_out = self.group_out, {}
        node_out, self.node_out = self.node_out, {}
        self.journal, self.journal_local = "", False
        self.dir = type(self.dir)(self.dir.node, {}, {}, {})
        self.conflate.clear()
        self.held_since_ns = 0
        return group_out, node_out


__all__ = ["GROUP_BATCH_MAX_NS", "GroupOutput"]
