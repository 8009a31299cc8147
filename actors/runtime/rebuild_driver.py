"""The supervisor's rebuilds of restarted actors from the journal (``actors.runtime.rebuild``).

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
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pykka
from loguru import logger

from actors.core import Core
from actors.runtime.dispatch import Pending
from actors.runtime.host import GroupBatch
from actors.runtime.rebuild import Rebuild, RebuildUnavailable, is_marker
from actors.runtime.supervised_host import Rebuilder
from actors.runtime.supervisor import with_epoch
from transports.clock import Clock, sleep_s
from transports.config.engine import AppConfig
from transports.wire.messages import Decision, JournalBatch, Restart

JOURNAL = "journal"


class _Barrier:
    """An ``ask`` the journal's host answers (with None) once its inbox got this far."""

    __slots__ = ()


class Rebuilds:
    """Builds ``actors.runtime.rebuild.Rebuild``\\s for one node and keeps their numbers."""

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


__all__ = ["Rebuilds"]
