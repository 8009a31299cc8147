"""Replaying one group's journaled history through its cores: ``Dispatcher`` plus restarts.

``cmc replay --verify`` (``scripts.replay.core``) and the supervisor's rebuild of a restarted
actor (``actors.runtime.rebuild.rebuild``) both feed a group's journaled external items
(source ``@...``) to fresh cores through this router; the routing is the host's own
``actors.runtime.dispatch.Dispatcher`` (no copy of the rule here), with a sink that sends
nothing: venue frames, timers, messages for other groups are only recorded, never sent.

Lifecycle and restarts in the journal (see docs/journal-format.md, "Restarts"):

- ``@start -> A: Start(epoch)``: the host started A's core, built with ``epoch`` (0: the
  config's); ``@stop -> A: Stop()``: it stopped it.
- ``@supervisor -> A: Restart("rebuild", epoch, reason)``: A's core was rebuilt from this same
  history: the router keeps its core for A and applies ``adopt`` (new epoch, a fresh venue
  reconciliation); a ``Start`` follows.
- ``@supervisor -> A: Restart("fresh", epoch, reason)``: the old core was stopped and a fresh
  one of that epoch took its place; a ``Start`` follows.
- a ``Decision("supervisor", "host_cores", {"group", "actors", "mode", "epoch"})`` in the
  journal's own batches marks the cores of a rebuilt host the same way (``host_marker``).
- ``Start`` of an actor that already started, without a marker: a new process (a relaunch or
  a restarted node): fresh cores of that epoch for the whole group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.runtime.dispatch import JOURNAL, Dispatcher, Observer, Pending, Sink
from actors.runtime.host.supervised_host import FRESH, REBUILD, parse_host_marker
from transports.wire.messages import Restart, Start, Stop, Timer

Items = list[tuple[str, str, Any]]
#: the message types ``external`` reads as lifecycle, restarts or fired timers
_LIFECYCLE = frozenset({Restart, Start, Stop, Timer})


class _Record(Sink):
    """A replay's sink: nothing leaves; messages for other groups and the journal are kept."""

    def __init__(self, router: GroupRouter) -> None:
        self.router = router

    def forward(self, dest: str, msg: Any) -> None:
        if self.router.collect:
            self.router.collected.append((dest, msg))

    def failed(self, actor: str, exc: BaseException, now_ns: int) -> None:
        self.router.errors += 1


class GroupRouter:
    """The cores of one group, routed by a ``Dispatcher``, and the journal's restarts.

    ``build(actor, epoch)`` makes a fresh core (restart markers, new processes) and
    ``adopt(actor, core, old_epoch, new_epoch)`` turns a replayed core into the rebuilt one
    (``actors.runtime.rebuild.rebuild.adopt``).
    ``timers`` says, per actor, the timers its core armed that have not fired (what a rebuilt
    core expects to be pending); ``errors`` counts handlers that raised; ``collected`` holds
    ``(dest, msg)`` for other groups and the journal (with ``collect``).
    """

    def __init__(self, cores: dict[str, Any], observer: Observer | None = None, *,
                 build: Callable[[str, int], Any] | None = None,
                 adopt: Callable[[str, Any, int, int], Any] | None = None,
                 base_epoch: int = 0, collect: bool = True) -> None:
        self.cores = cores
        self.build = build
        self.adopt = adopt
        self.base_epoch = base_epoch
        self.collect = collect
        self.collected: list[tuple[str, Any]] = []
        self.errors = 0
        self.dispatch = Dispatcher(cores, _Record(self), fire=False, observe=observer)
        self.epochs = dict.fromkeys(cores, base_epoch)
        self.started: set[str] = set()
        self.marked: set[str] = set()  #: a restart marker was seen; its ``Start`` is due
        #: actors whose latest lifecycle item is ``Stop`` (their process stopped them cleanly)
        self.stopped: set[str] = set()

    @property
    def timers(self) -> dict[str, list[Pending]]:
        """Per actor, the timers armed that have not fired: (key, arg, due_ns)."""
        return {a: self.dispatch.pending(a) for a in self.cores}

    def restore(self, cores: dict[str, Any], epochs: dict[str, int],
                timers: dict[str, list[Any]]) -> None:
        """Start from a checkpoint (``actors.runtime.checkpoint``): its cores, their epochs and
        pending timers; every actor of a checkpoint had started, and no marker is pending (a
        checkpoint is taken between two dispatch cycles, and a marker and its ``Start`` share
        one)."""
        d = self.dispatch
        d.drop_timers()
        for actor in self.cores:
            self.cores[actor] = cores[actor]
            self.epochs[actor] = int(epochs.get(actor, self.base_epoch))
            d.arm(actor, [(str(k), str(g), int(due)) for k, g, due in timers.get(actor, ())])
        self.started = set(self.cores)
        self.marked = set()
        self.stopped = set()

    def external(self, src: str, dest: str, msg: Any, now: int) -> Items:
        """Deliver one external item; return the journaled items it causes, in order."""
        d = self.dispatch
        gen: Items = []
        d.journaled = gen
        core = self.cores.get(dest)
        if core is None:
            if dest[0] != "@" and self.collect:
                self.collected.append((dest, msg))
            return gen
        t = type(msg)
        if t in _LIFECYCLE:  # one set test for the common case (market data, group messages)
            if t is Restart and src == "@supervisor":
                if msg.kind in (REBUILD, FRESH):
                    self.mark(dest, msg.kind, msg.epoch, now)
                return gen
            if t is Start and src == "@start":
                self._start(dest, msg.epoch or self.base_epoch, now)
                self.stopped.discard(dest)
                return gen[1:]  # the Start itself is already in the journal
            if t is Stop and src == "@stop":
                self.stopped.add(dest)
                d.stop(dest, core, now)
                return gen[1:]
            if t is Timer and src == "@timer":
                d.disarm(dest, msg.key, msg.arg)
        d.route(src, [(dest, msg)], now)
        if gen and gen[0][2] is msg:
            return gen[1:]  # the external item itself is already in the journal
        return gen

    def _start(self, dest: str, epoch: int, now: int) -> None:
        what = "error"
        if dest in self.marked:
            self.marked.discard(dest)
            what = "start_error"  # the supervisor's restart reports a failed start so
        elif self.build is not None and (dest in self.started
                                         or epoch != self.epochs.get(dest, epoch)):
            # a new process (relaunch, restarted node) or another launch's epoch: every core
            # of the group is new at once (they all start in this batch), as live, where the
            # first one's start output already meets the others' new cores
            self.dispatch.drop_timers()
            for a in self.cores:
                self.cores[a] = self.build(a, epoch)
                self.epochs[a] = epoch
            self.started.clear()
        self.started.add(dest)
        self.dispatch.start(dest, self.cores[dest], now, epoch, what)

    def mark(self, actor: str, kind: str, epoch: int, now: int, stop_old: bool = True) -> None:
        """Apply a restart marker: ``rebuild`` adopts the replayed core, ``fresh`` replaces it
        (stopping the old one first unless its host died: output routed, errors ignored)."""
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
                    self.dispatch.route(actor, out, now)
            self.cores[actor] = self.build(actor, epoch)
            self.dispatch.drop_timers(actor)  # the old core's timers die with it
        # (a rebuilt core keeps its timers: the live host re-arms exactly these)
        self.epochs[actor] = epoch
        self.marked.add(actor)

    def host_marker(self, msg: Any, group: str, now: int) -> bool:
        """Apply a ``host_cores`` Decision if it names this router's group; return True if so."""
        parsed = parse_host_marker(msg)
        if parsed is None or parsed[0] != group:
            return False
        self.dispatch.journaled = None
        for actor in parsed[1]:
            self.mark(actor, parsed[2], parsed[3], now, stop_old=False)
        return True


__all__ = ["JOURNAL", "GroupRouter", "Observer"]
