"""One group's cores and the host's routing rules, without threads, sockets or a clock.

``cmc replay --verify`` (``scripts.replay.core``) and the supervisor's rebuild of a restarted
actor (``actors.runtime.rebuild``) both feed a group's journaled external items (source ``@...``) to
fresh cores through this router; outputs are routed inside the group exactly as ``Host._route``
does (FIFO, run to completion), and whatever would leave the group — venue frames, timers,
messages for other groups — is only recorded, never sent.

Restarts in the journal (see docs/journal-format.md, "Restarts"):

- ``@supervisor -> A: Control("rebuild", {"epoch", "reason"})``: A's core was rebuilt from this
  same history: the router keeps its core for A and applies ``adopt`` (new epoch, a fresh
  venue reconciliation); an ``@start`` follows.
- ``@supervisor -> A: Control("fresh", ...)``: the old core was stopped and a fresh one of that
  epoch took its place; an ``@start`` follows.
- ``@supervisor -> A: Control("restart", reason)``: older journals: a fresh core, started at once.
- a ``Decision("supervisor", "host_cores", {"group", "actors", "mode", "epoch"})`` in the
  journal's own batches marks the cores of a rebuilt host the same way (``host_marker``).
- ``@start`` of an actor that already started, without a marker: a new process (a relaunch or
  a restarted node): a fresh core of the router's base epoch.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

from actors.runtime.host import NOT_JOURNALED
from actors.runtime.supervised_host import FRESH, REBUILD, marker_epoch, parse_host_marker
from transports.wire.messages import Control, Decision, SetTimer, Timer

Observer = Callable[[str, Any, Any, int], None]
Items = list[tuple[str, str, Any]]
JOURNAL = "journal"


class GroupRouter:
    """The cores of one group and the host's routing rules.

    ``build(actor, epoch)`` makes a fresh core (restart markers, new processes) and
    ``adopt(actor, core, old_epoch, new_epoch)`` turns a replayed core into the rebuilt one
    (``actors.runtime.rebuild.adopt``); without them restarts are read the way older code wrote
    them.
    ``timers`` holds, per actor, the timers its cores armed that have not fired (what a rebuilt
    core expects to be pending); ``errors`` counts handlers that raised.
    """

    def __init__(self, cores: dict[str, Any], observer: Observer | None = None,
                 fresh: Callable[[str], Any] | None = None, *,
                 build: Callable[[str, int], Any] | None = None,
                 adopt: Callable[[str, Any, int, int], Any] | None = None,
                 base_epoch: int = 0, collect: bool = True) -> None:
        self.cores = cores
        self.observer = observer
        self.fresh = fresh  #: legacy: a new core for an actor (``Control("restart")``)
        self.build = build
        self.adopt = adopt
        self.base_epoch = base_epoch
        self.collect = collect
        self.collected: Items = []  #: for other groups and the journal (when ``collect``)
        self.epochs = dict.fromkeys(cores, base_epoch)
        self.timers: dict[str, dict[str, int]] = {a: {} for a in cores}
        self.started: set[str] = set()
        self.marked: set[str] = set()  #: a restart marker was seen; its ``@start`` is due
        self.errors = 0

    def restore(self, cores: dict[str, Any], epochs: dict[str, int],
                timers: dict[str, dict[str, int]]) -> None:
        """Start from a checkpoint (``actors.runtime.checkpoint``): its cores, their epochs and
        pending timers; every actor of a checkpoint had started, and no marker is pending (a
        checkpoint is taken between two dispatch cycles, and a marker and its ``@start`` share
        one)."""
        for actor in self.cores:
            self.cores[actor] = cores[actor]
            self.epochs[actor] = int(epochs.get(actor, self.base_epoch))
            self.timers[actor] = {str(k): int(v) for k, v in timers.get(actor, {}).items()}
        self.started = set(self.cores)
        self.marked = set()

    def external(self, src: str, dest: str, msg: Any, now: int) -> Items:
        """Deliver one external item; return the journaled items it causes, in order."""
        gen: Items = []
        core = self.cores.get(dest)
        if core is None:
            if dest[0] != "@" and self.collect:
                self.collected.append((src, dest, msg))
            return gen
        what = "error"
        if src == "@supervisor":
            if isinstance(msg, Control) and msg.cmd in (REBUILD, FRESH) and self.build:
                self.mark(dest, msg.cmd, marker_epoch(msg), now, gen)
                return gen
            if self.fresh is None:
                return gen
            # older journals: the old core stopped (errors ignored), a fresh one started at once
            try:
                old_out = core.on_stop(now)
            except Exception:  # noqa: BLE001 - as the host: the old core may be the broken one
                old_out = []
            if old_out:
                self.route(dest, old_out, now, gen)
            core = self.cores[dest] = self.fresh(dest)
            self.timers[dest] = {}
            self.marked.add(dest)
            src, what = "@start", "start_error"
        if src == "@start":
            # a node journals the epoch it built its cores with (``Control("start", "<epoch>")``;
            # older journals: none, the config's)
            arg = getattr(msg, "arg", "")
            epoch = int(arg) if arg.isdigit() else self.base_epoch
            if dest in self.marked:
                self.marked.discard(dest)
            elif self.build is not None and (dest in self.started
                                             or epoch != self.epochs.get(dest, epoch)):
                # a new process (relaunch, restarted node) or another launch's epoch: every
                # core of the group is new at once (they all start in this batch), as live,
                # where the first one's start output already meets the others' new cores
                for a in self.cores:
                    self.cores[a] = self.build(a, epoch)
                    self.epochs[a] = epoch
                    self.timers[a] = {}
                self.started.clear()
                core = self.cores[dest]
            self.started.add(dest)
        if src == "@start" or src == "@stop":
            try:
                out = core.on_start(now) if src == "@start" else core.on_stop(now)
            except Exception as exc:  # noqa: BLE001 - the host journals it; so do we
                self.errors += 1
                gen.append((dest, JOURNAL, Decision(dest, what, repr(exc), now)))
                return gen
            if out:
                self.route(dest, out, now, gen)
            return gen
        if src == "@timer" and type(msg) is Timer:
            self.timers[dest].pop(msg.key, None)
        self.route(src, [(dest, msg)], now, gen)
        if gen and gen[0][2] is msg:
            return gen[1:]  # the external item itself is already in the journal
        return gen

    def mark(self, actor: str, kind: str, epoch: int, now: int, gen: Items,
             stop_old: bool = True) -> None:
        """Apply a restart marker: ``rebuild`` adopts the replayed core, ``fresh`` replaces it
        (stopping the old one first unless its host died)."""
        if actor not in self.cores:
            return
        if kind == REBUILD:
            if self.adopt is not None:
                self.cores[actor] = self.adopt(actor, self.cores[actor], self.epochs[actor],
                                               epoch)
        elif self.build is not None:
            if stop_old:
                try:
                    out = self.cores[actor].on_stop(now)
                except Exception:  # noqa: BLE001 - the old core may be the broken one
                    out = []
                if out:
                    self.route(actor, out, now, gen)
            self.cores[actor] = self.build(actor, epoch)
            self.timers[actor] = {}
        self.epochs[actor] = epoch
        self.marked.add(actor)

    def host_marker(self, msg: Any, group: str, now: int) -> bool:
        """Apply a ``host_cores`` Decision if it names this router's group; return True if so."""
        parsed = parse_host_marker(msg)
        if parsed is None or parsed[0] != group:
            return False
        for actor in parsed[1]:
            self.mark(actor, parsed[2], parsed[3], now, [], stop_old=False)
        return True

    def route(self, src: str, out: list[tuple[str, Any]], now: int, gen: Items) -> None:
        """``Host._route``: FIFO, run to completion; an actor's ``@`` outputs (socket frames,
        timers, host requests) take effect at once, as the host does; journaled items are
        appended to ``gen`` in the host's order."""
        fifo = collections.deque((src, d, m) for d, m in out)
        cores, observer, skip = self.cores, self.observer, NOT_JOURNALED
        while fifo:
            sender, dest, msg = fifo.popleft()
            core = cores.get(dest)
            if core is not None:
                if sender[:1] == "@" or type(msg) not in skip:
                    gen.append((sender, dest, msg))
                try:
                    more = core.handle(msg, now)
                except Exception as exc:  # noqa: BLE001 - as Host._failed
                    self.errors += 1
                    gen.append((dest, JOURNAL, Decision(dest, "error", repr(exc), now)))
                    continue
                if observer is not None:
                    observer(dest, msg, core, now)
                for d, m in more or ():
                    if d[0] == "@":
                        self._special(dest, d, m, gen)
                    else:
                        fifo.append((dest, d, m))
            elif dest[0] == "@":
                self._special(sender, dest, msg, gen)
            elif self.collect:
                self.collected.append((sender, dest, msg))

    def _special(self, sender: str, dest: str, msg: Any, gen: Items) -> None:
        # as Host._special: timers and host requests are not journaled, socket frames are
        if dest == "@timer":
            if isinstance(msg, SetTimer):
                armed = self.timers.setdefault(sender, {})
                if msg.due_ns > 0:
                    armed[msg.key] = msg.due_ns
                else:
                    armed.pop(msg.key, None)
        elif dest != "@host":
            gen.append((sender, sender + dest, msg))


__all__ = ["GroupRouter"]
