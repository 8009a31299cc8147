"""Rebuilding a restarted actor's state from the journal.

A supervisor restart (``actors.runtime.shells.supervisor_shell``) gives an actor a new core. Its
state — a strategy's position, risk's positions and PnL, an executor's orders — is rebuilt by
replaying its group's journaled history through fresh cores of the whole group (``GroupRouter``:
every item with a ``@`` source fed to its destination in order, outputs routed inside the group and
**discarded**: the rebuild has no sockets, no timers and no way to reach another group, so it cannot
send an order), from the group's latest checkpoint (``actors.runtime.checkpoint``: the cores pickled
by their host between two dispatch cycles) or, without one, from the start of the run's journal (all
segments); then the restarted actors' cores are taken out, ``adopt``-ed, and replace the old ones.

- **Up to the crash, nothing after.** The host journals a restart marker in its own stream
  (``@supervisor -> actor: Restart("rebuild", ...)``) and the rebuild reads exactly up to it, so
  it holds every item the old core was given, and the old core handles nothing after it.
- **The item that raised** is replayed like every other item: if it raises again, that is
  caught and counted (``errors``), not reported to the supervisor (a rebuild cannot cause a
  restart), and the rebuilt core holds whatever the item did before it raised — exactly what
  the old core held. It is not delivered again live. A core whose *state* makes every message
  raise crashes again and the restart intensity escalates (HALTED): bounded, never a loop.
- **Epochs.** The history is replayed in the epochs it was recorded in (the markers carry
  them), so the ids in the replayed state match those the venue and the other actors know;
  ``adopt`` then moves the core's id counters to the new epoch (``re_epoch``), so no combo or
  client order id ever repeats.
- **Executors** reconcile with the venue again around the rebuilt state
  (``LegExecutorCore.restarted``): the venue's positions are adopted, open orders the rebuilt
  core does not know are cancelled.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from actors.core import Core
from actors.leg.executor import LegExecutorCore
from actors.runtime.checkpoint import CODEC, load_cores
from actors.runtime.dispatch import Pending
from actors.runtime.host.supervised_host import REBUILD
from actors.runtime.rebuild.group_router import GroupRouter
from transports.errors import CmcError
from transports.journal.ckpt_index import CheckpointAt, locate
from transports.journal.format import (
    T_BATCH,
    T_CHECKPOINT,
    decode_batch_raw,
    decode_checkpoint,
    decode_item,
    peek_group,
)
from transports.journal.reader import Frame, JournalTail
from transports.wire.messages import Restart

Build = Callable[[str, int], Any]


class RebuildUnavailable(CmcError):
    """The journal cannot rebuild a core (missing, unreadable, or the marker never came)."""


def re_epoch(core: Any, old: Any, new: Any, depth: int = 0) -> None:
    """Move ``core``'s epoch-derived integers from ``old``'s epoch to ``new``'s.

    ``old`` and ``new`` are fresh cores built with the two epochs; every integer attribute that
    differs between them (``epoch``, ``combo_seq``, ``flatten_seq``, ...) is shifted in
    ``core`` by that difference, so the counters keep their place but continue in the new
    epoch. Wrappers (``inner``) and the helpers a core composes (an object of the engine's own
    classes held in an attribute, e.g. a strategy's ``PairPosition`` with its ``combo_seq``)
    are followed."""
    # ``core``'s attributes are read and set by name, never through ``vars(core)``: that would
    # make every attribute read of the running core slow for good (actors.runtime.checkpoint,
    # "Attribute speed"); ``old`` and ``new`` are thrown away
    a, b = vars(old), vars(new)
    for key, vb in b.items():
        va, vc = a.get(key), getattr(core, key, None)
        if depth < 4 and _composed(vb) and type(va) is type(vb) and type(vc) is type(vb):
            re_epoch(vc, va, vb, depth + 1)  # bounded: helpers never nest deeper
        elif type(vb) is int and type(va) is int and type(vc) is int and va != vb:
            setattr(core, key, vc + vb - va)


def _composed(obj: Any) -> bool:
    """A core, or a helper object of the engine's own classes with attributes of its own."""
    if isinstance(obj, Core):
        return True
    return hasattr(obj, "__dict__") and type(obj).__module__.startswith("actors.") \
        and not isinstance(obj, type)


def restart_wrappers(core: Any) -> Any:
    """Return ``core`` (or the core inside its wrappers) starting over after a rebuild: a
    LegExecutor reconciles with its venue again (``LegExecutorCore.restarted``)."""
    if isinstance(core, LegExecutorCore):
        return core.restarted()
    inner = getattr(core, "inner", None)
    if isinstance(inner, Core):
        core.inner = restart_wrappers(inner)
    return core


def adopt(build: Build, actor: str, core: Any, old_epoch: int, new_epoch: int) -> Any:
    """Turn a replayed core into the restarted actor's core (the same in the live rebuild and
    in ``cmc replay --verify``): the new epoch, and a new venue reconciliation for executors."""
    if new_epoch != old_epoch:
        re_epoch(core, build(actor, old_epoch), build(actor, new_epoch))
    return restart_wrappers(core)


class Rebuild:
    """Replays one group's journal into fresh cores; the restarted actors' cores come out.

    The replay starts from the group's latest checkpoint when there is one (``checkpoints``;
    ``transports.journal.ckpt_index.locate``: the checkpoint index, else a scan of the frames) and
    from the journal's first record otherwise, or when the checkpoint cannot be read or loaded
    (``source`` says which, ``fallback`` why a checkpoint was not used). ``advance`` feeds every
    record complete on disk (call it again for more); ``until`` feeds up to the first item for
    which the predicate holds (the restart marker) and reports whether it was found. ``take``
    returns an actor's adopted core and the timers it expects.
    """

    def __init__(self, journal: str | Path, group: str, actors: list[str], build: Build,
                 base_epoch: int, *, checkpoints: bool = True) -> None:
        self.journal = journal
        self.group = group
        self.actors = list(actors)
        self.build = build
        self.base_epoch = base_epoch
        self.source = "start"  #: "checkpoint" or "start"
        self.checkpoint: dict[str, Any] | None = None  #: which checkpoint, when used
        self.fallback = ""  #: why a checkpoint found was not used
        self._expect: CheckpointAt | None = None
        self._start_over()
        if checkpoints:
            try:
                at, how = locate(journal, group)
            except (CmcError, OSError, ValueError) as exc:
                at, how, self.fallback = None, "", f"checkpoint lookup failed: {exc!r}"
            if at is not None:
                self.tail = JournalTail(journal, start=at.start())
                self._expect = at
                self.checkpoint = {"index": at.index, "segment": at.segment,
                                   "ts_ns": at.ts_ns, "found_by": how}

    def _start_over(self) -> None:
        try:
            self.tail = JournalTail(self.journal)
        except (CmcError, OSError) as exc:
            raise RebuildUnavailable(f"journal {self.journal}: {exc}") from None
        build = self.build
        cores = {a: build(a, self.base_epoch) for a in self.actors}
        self.router = GroupRouter(cores, build=build,
                                  adopt=lambda a, c, o, n: adopt(build, a, c, o, n),
                                  base_epoch=self.base_epoch, collect=False)
        self.records = 0  #: journal records read
        self.items = 0  #: external items fed to the group's cores
        self.found = False

    def _fall_back(self, why: str) -> None:
        logger.warning("rebuild of group {}: {}; replaying from the start", self.group, why)
        self.fallback, self.checkpoint, self._expect = why, None, None
        self._start_over()

    def _load(self, frames: list[Frame], at: CheckpointAt) -> str:
        """Load the checkpoint that must be ``frames[0]``; return why not ('' when loaded)."""
        if not frames or frames[0].rtype != T_CHECKPOINT or frames[0].index != at.index:
            return "the checkpoint record is not where the index says"
        try:
            _ts, group, meta, blob = decode_checkpoint(frames[0].body)
            if group != self.group or meta.get("codec") != CODEC:
                return f"checkpoint of group {group!r}, codec {meta.get('codec')!r}"
            epochs = {str(a): int(e) for a, e in meta.get("epochs", {}).items()}
            cores = load_cores(blob, meta.get("externals", {}), epochs, self.build)
        except Exception as exc:  # noqa: BLE001 - damaged, or made by incompatible code
            return f"checkpoint unreadable: {exc!r}"
        missing = [a for a in self.actors if a not in cores]
        if missing:
            return f"checkpoint lacks {missing}"
        self.router.restore(cores, epochs, meta.get("timers", {}))
        self.source = "checkpoint"
        self.records += 1
        return ""

    @property
    def errors(self) -> int:
        """Handlers that raised during the replay (caught, not reported)."""
        return self.router.errors

    def advance(self, stop: Callable[[str, str, Any], bool] | None = None) -> bool:
        """Feed the records on disk; with ``stop``, end before the first item it accepts
        (nothing after it is fed) and return True."""
        if self.found:
            return True
        try:
            frames = self.tail.poll()
        except (CmcError, OSError) as exc:
            if self._expect is not None:
                self._fall_back(f"journal unreadable from the checkpoint on: {exc}")
                return self.advance(stop)
            raise RebuildUnavailable(f"journal unreadable: {exc}") from None
        if self._expect is not None:
            at, self._expect = self._expect, None
            why = self._load(frames, at)
            if why:
                self._fall_back(why)
                return self.advance(stop)
            frames = frames[1:]
        router, group = self.router, self.group
        for frame in frames:
            self.records += 1
            if frame.rtype != T_BATCH:
                continue  # seals, and checkpoints (the state they hold is replayed anyway)
            body = frame.body
            g = peek_group(body)[1]  # other groups' batches are skipped undecoded
            if g == "":
                ts, _g, items = decode_batch_raw(body)
                for src, dest, raw in items:
                    router.host_marker(decode_item(src, dest, raw), group, ts)
                continue
            if g != group:
                continue
            ts, _g, items = decode_batch_raw(body)
            for src, dest, raw in items:
                if src[0] != "@":
                    continue  # produced inside the group: the replay makes it again
                msg = decode_item(src, dest, raw)
                if stop is not None and stop(src, dest, msg):
                    self.found = True
                    return True
                self.items += 1
                router.external(src, dest, msg, ts)
        return False

    def take(self, actor: str, epoch: int) -> tuple[Any, list[Pending]]:
        """Return ``actor``'s rebuilt core for ``epoch`` and its pending timers
        ((key, arg, due_ns))."""
        r = self.router
        core = adopt(self.build, actor, r.cores[actor], r.epochs[actor], epoch)
        return core, r.dispatch.pending(actor)


def is_marker(actor: str, marker: Restart) -> Callable[[str, str, Any], bool]:
    """Return the predicate that recognises ``marker`` journaled for ``actor``."""

    def pred(src: str, dest: str, msg: Any) -> bool:
        return (src == "@supervisor" and dest == actor and type(msg) is Restart
                and msg.kind == REBUILD and msg == marker)

    return pred


__all__ = ["Rebuild", "RebuildUnavailable", "adopt", "is_marker", "re_epoch",
           "restart_wrappers"]
