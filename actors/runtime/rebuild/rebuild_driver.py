"""The supervisor's rebuilds of restarted actors from the journal
(``actors.runtime.rebuild.rebuild``).

Two phases, so that a long journal does not stall a live host:

1. in the supervisor's thread, ``begin`` replays everything already on disk for the group, from
   its latest checkpoint (``actors.runtime.checkpoint``) when there is one, else from the start;
2. in the host's thread (``Host.restart_cores``), after the host journaled its restart markers,
   ``catch_up`` makes the journal write what it still holds (an ``ask`` to the journal's host
   when it runs in this process: its inbox is FIFO, so every batch sent before the markers is
   written first; the writer keeps no buffer of its own), then reads on exactly up to the
   marker. A journal in another process is polled until the marker shows up, at most
   ``supervision.rebuild_timeout_ms``. The old cores handle nothing meanwhile.

A rebuilt host (its thread died or was abandoned) has no stream of its own left: its history is
read to the end after the same barrier, and its cores are marked with a ``host_cores`` Decision
sent before the new host starts (written straight through the writer when the journal was on
that very host).

A **node process that starts into a run directory whose journal already holds its groups'
history** (the launcher restarted it after it died, or a relaunch) does the same before its
hosts start (``at_node_start``): each group's cores are replayed from the journal, read to its
end (the process that wrote them is gone), and moved to the new epoch (a group whose actors
the last process stopped cleanly -- a launch's orderly shutdown -- starts fresh instead); the
hosts then start them through ``restart_cores`` (``Restart("rebuild")`` markers journaled
before their ``Start``, so ``cmc replay --verify`` adopts the same cores) and re-arm their
pending timers. Order
intents the node's WAL holds that a rebuilt executor does not know (the journal never saw them
sent) are handed to it first (``in_flight_msgs``): it queries them by client id when it
reconciles, before any new order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pykka
from loguru import logger

from actors.core import Core
from actors.leg.executor import LegExecutorCore
from actors.runtime.dispatch import Pending
from actors.runtime.host.host import GroupBatch
from actors.runtime.host.supervised_host import Rebuilder
from actors.runtime.rebuild.rebuild import Rebuild, RebuildUnavailable, is_marker
from actors.runtime.supervisor import with_epoch
from transports.clock import Clock, sleep_s
from transports.config.engine import AppConfig
from transports.errors import CmcError
from transports.journal.intent_wal import read_intents
from transports.wire.messages import Decision, InFlight, InFlightOrder, JournalBatch, Restart

JOURNAL = "journal"


class _Barrier:
    """An ``ask`` the journal's host answers (with None) once its inbox got this far."""

    __slots__ = ()


class Rebuilds:
    """Builds ``actors.runtime.rebuild.rebuild.Rebuild``\\s for one node and keeps their numbers."""

    def __init__(self, node: Any, clock: Clock, cfg: AppConfig,
                 core_factory: Callable[[str, AppConfig], Core]) -> None:
        self.node = node
        self.clock = clock
        self.cfg = cfg
        self.factory = core_factory
        self.timeout_ns = cfg.supervision.rebuild_timeout_ms * 1_000_000
        self.path: Path = Path(node.run_dir) / "journal.cmcj"
        assert cfg.placement is not None
        self.groups = {g.name: [a for a in g.actors if a != JOURNAL]
                       for g in cfg.placement.groups}
        self.stats: list[dict[str, Any]] = []

    @property
    def enabled(self) -> bool:
        """True when restarted actors are rebuilt (config) and the run has a journal."""
        return self.cfg.supervision.rebuild and JOURNAL in self.node.directory.actor_group

    def build(self, actor: str, epoch: int) -> Core:
        """A fresh core of ``actor`` in ``epoch`` (wrapped as the node wraps it)."""
        return self.factory(actor, with_epoch(self.cfg, epoch))

    def begin(self, group: str) -> tuple[Rebuild, dict[str, Any]]:
        """Phase 1: replay what the journal holds on disk for ``group``; return the rebuild and
        its numbers so far."""
        if not self.path.exists():
            raise RebuildUnavailable(f"no journal at {self.path}")
        t0 = self.clock.mono_ns()
        rb = Rebuild(self.path, group, self.groups[group], self.build, self.cfg.run.epoch)
        rb.advance()
        return rb, {"phase1_ms": round((self.clock.mono_ns() - t0) / 1e6, 3)}

    def barrier(self, group: str) -> None:
        """Wait (bounded) until the journal's host in this process wrote what it was sent."""
        d = self.node.directory
        jgroup = d.actor_group.get(JOURNAL)
        if jgroup is None or jgroup == group or d.group_node.get(jgroup) != self.node.name:
            return
        ref = self.node.hosts.get(jgroup)
        if ref is None or not ref.is_alive():
            return
        try:
            ref.ask(_Barrier(), timeout=self.timeout_ns / 1e9)
        except (pykka.Timeout, pykka.ActorDeadError) as exc:
            logger.warning("rebuild: the journal's host did not answer: {!r}", exc)

    def catch_up(self, rb: Rebuild, group: str, epoch: int,
                 stats: dict[str, Any]) -> Rebuilder:
        """Phase 2, run by the host in its own thread once its markers are journaled."""

        def run(markers: dict[str, Restart]) -> dict[str, tuple[Any, list[Pending]]]:
            t0 = self.clock.mono_ns()
            self.barrier(group)
            first = next(iter(markers))
            found = is_marker(first, markers[first])
            while not rb.advance(found):
                if self.clock.mono_ns() - t0 > self.timeout_ns:
                    raise RebuildUnavailable(
                        f"the restart marker of {first} did not reach the journal within "
                        f"{self.timeout_ns // 1_000_000} ms")
                sleep_s(0.001)
            out = {a: rb.take(a, epoch) for a in markers}
            stats["catch_up_ms"] = (self.clock.mono_ns() - t0) / 1e6
            return out

        return run

    def record(self, rb: Rebuild, extra: dict[str, Any]) -> dict[str, Any]:
        """Keep and return a rebuild's numbers (journaled as ``Decision("supervisor",
        "rebuilt", ...)``)."""
        st = {"records": rb.records, "items": rb.items, "errors": rb.errors,
              "from": rb.source, **extra}
        if rb.checkpoint is not None:
            st["checkpoint"] = rb.checkpoint
        if rb.fallback:
            st["checkpoint_fallback"] = rb.fallback
        self.stats.append(st)
        del self.stats[:-20]
        return st

    # --- a rebuilt host --------------------------------------------------------------------------

    def journal_writer(self, group: str) -> Any:
        """The journal writer, if the journal runs on ``group`` (then nothing else writes to it
        while that host is being replaced)."""
        if self.node.directory.actor_group.get(JOURNAL) != group:
            return None
        shell = self.node.shells.get(JOURNAL)
        return getattr(shell, "writer", None)  # JournalShell

    def send_journal(self, writer: Any, ts_ns: int, group: str, items: list[Any]) -> None:
        """Journal ``items`` as a batch of ``group``: straight through ``writer`` when the
        journal's host is the one being replaced, else to the journal actor (FIFO after
        everything sent to it before)."""
        if writer is not None:
            writer.append_batch(ts_ns, group, items)
            return
        if group == "":
            for _s, _d, msg in items:
                self.node.send(JOURNAL, msg)
        else:
            self.node.send(JOURNAL, JournalBatch(group, ts_ns, items))

    def salvage(self, info: dict[str, Any], writer: Any) -> None:
        """Journal and deliver what an abandoned host had done but not yet passed on."""
        now = info["now"] or self.clock.now_ns()
        if info["items"]:
            self.send_journal(writer or info["writer"], now, info["group"], info["items"])
        for group, items in info["group_out"].items():
            ref = self.node.directory.refs.get(group)
            if ref is not None:
                ref.tell(GroupBatch(items))
        for items in info["node_out"].values():
            for dest, msg in items:
                self.node.send(dest, msg)

    def host_marker(self, writer: Any, marker: Decision) -> None:
        """Journal the ``host_cores`` marker before the new host starts."""
        self.send_journal(writer, marker.ts_ns, "", [("", JOURNAL, marker)])


    # --- a node process starting into a run with history ------------------------------------------

    def at_node_start(self, epoch: int, warm: dict[str, Rebuild] | None = None,
                      ) -> tuple[dict[str, dict[str, tuple[Any, list[Pending]]]],
                                 list[dict[str, Any]]]:
        """Replay every local group whose history the journal holds; return, per group, each
        actor's core moved to ``epoch`` with its pending timers, and the rebuilds' numbers.
        A group the journal never saw start is left out (it starts fresh).

        ``warm``: a hot standby's rebuilds per group, already replayed as the records arrived
        (``scripts.launch.ha.standby``); they only read the journal's tail here."""
        out: dict[str, dict[str, tuple[Any, list[Pending]]]] = {}
        stats: list[dict[str, Any]] = []
        if not (self.enabled and self.path.exists()):
            return out, stats
        for group, actors in self.groups.items():
            mine = [a for a in actors if self.node.is_local(a)]
            if not mine or self.node.directory.group_node.get(group) != self.node.name:
                continue
            t0 = self.clock.mono_ns()
            try:
                rb = (warm or {}).get(group) or Rebuild(self.path, group, mine, self.build,
                                                        self.cfg.run.epoch)
                rb.advance()
            except RebuildUnavailable as exc:
                logger.warning("node start: group {} not rebuilt: {}", group, exc)
                continue
            if not rb.router.started & set(mine):
                continue  # the journal holds no history of this group
            if set(mine) <= rb.router.stopped:
                # the last process stopped them cleanly (flattened, orders cancelled: a
                # launch's shutdown): a relaunch starts fresh cores, as a first launch does
                continue
            out[group] = {a: rb.take(a, epoch) for a in mine}
            stats.append(self.record(rb, {
                "actors": mine, "host": group, "epoch": epoch, "at": "node_start",
                "total_ms": round((self.clock.mono_ns() - t0) / 1e6, 3)}))
        return out, stats


def executor_of(core: Any) -> LegExecutorCore | None:
    """The LegExecutor in ``core`` (itself or inside its wrappers), or None."""
    while core is not None and not isinstance(core, LegExecutorCore):
        core = getattr(core, "inner", None)  # not ``vars(core)``: it slows the core's reads
    return core


def in_flight_msgs(wal_path: Path, legs: dict[str, tuple[str, Any]]) -> list[tuple[str, Any]]:
    """``(actor, InFlight)`` for each rebuilt executor in ``legs`` (actor -> (account, core)):
    the intents of its account in the node's WAL whose client id it does not know (the journal
    never saw them sent, or the process died before their batch reached it). A damaged WAL
    counts up to the damage (logged)."""
    by_account: dict[str, list[InFlightOrder]] = {}
    try:
        for ts, account, order in read_intents(wal_path):
            if isinstance(order, dict) and isinstance(order.get("cl"), str):
                by_account.setdefault(account, []).append(InFlightOrder(
                    order["cl"], str(order.get("sym", "")), str(order.get("side", "")),
                    int(order.get("px", 0)), int(order.get("qty", 0)),
                    str(order.get("tif", "")), int(ts)))
    except (CmcError, OSError, ValueError) as exc:
        logger.warning("intent WAL {}: read up to a problem: {}", wal_path, exc)
    out: list[tuple[str, Any]] = []
    for actor, (account, core) in legs.items():
        ex = executor_of(core)
        if ex is None:
            continue
        book = ex.book
        unknown = tuple(o for o in by_account.get(account, ())
                        if o.cl not in book.orders and o.cl not in book.retired)
        if unknown:
            out.append((actor, InFlight(ex.venue, unknown)))
    return out


__all__ = ["Rebuilds", "executor_of", "in_flight_msgs"]
