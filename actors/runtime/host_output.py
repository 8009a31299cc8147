"""The output side of a dispatcher host (``actors.runtime.host``): what leaves a dispatch cycle
for other groups of the node, other nodes and the journal.

Smart batching: what goes to another group of the node (risk, the journal) waits while the host
has more input ready, up to ``GROUP_BATCH_MAX_NS``, and leaves as one ``tell`` per group when the
host is about to sleep: at a high tick rate those threads wake once per batch instead of once per
tick (each wake takes the GIL from the hot thread), and a consumer's market data conflates over
the batch. Frames to other nodes and to venues never wait.

A mixin of ``Host``: the state (``_group_out``, ``_node_out``, ``_conflate``, ``_tombstones``,
``_held_since_ns``) is the host's own, set in its ``__init__`` (a supervisor abandoning a hung
host salvages it from there, ``supervised_host.abandon``).
"""

from __future__ import annotations

from typing import Any

import pykka
from loguru import logger

from actors.runtime import link_auth
from actors.runtime.host_inbox import GroupBatch
from transports.wire.codec import encode
from transports.wire.messages import BookUpdate, JournalBatch

#: longest a message for another group of the node waits for the host to be idle (smart
#: batching, module docstring)
GROUP_BATCH_MAX_NS = 1_000_000


class GroupOutput:
    """Collects, conflates and sends a host's output for other groups, nodes and the journal."""

    # the host's (``Host.__init__``)
    group: str
    dir: Any
    ctx: Any
    clock: Any
    counters: Any
    dispatch: Any
    shells: dict[str, Any]
    journal: str
    journal_local: bool
    _group_out: dict[str, list[tuple[str, Any]]]
    _node_out: dict[str, list[tuple[str, Any]]]
    _conflate: dict[tuple[str, str, str], tuple[list[tuple[str, Any]], int]]
    _tombstones: bool
    _held_since_ns: int
    _push: dict[str, Any]

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


__all__ = ["GROUP_BATCH_MAX_NS", "GroupOutput"]
