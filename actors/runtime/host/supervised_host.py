"""The supervisor's side of a ``Host``: heartbeats, restarting cores (rebuilt or fresh),
checkpoints, and abandoning a host whose thread is stuck.

``HostSupervision`` is a helper the host owns (``Host.supervision``), built with the state it
touches; the Supervisor (``actors.runtime.shells.supervisor_shell``) calls the host's thin pykka
methods through ``ask``/proxy (``restart_cores``, ``enable_checkpoints``, ``arm_timers``,
``checkpoint_now``), which delegate to it and so run in the host's own thread. ``abandon`` runs
in the supervisor's thread against a host that no longer answers.

Restart markers (journaled, read back by ``actors.runtime.rebuild.group_router``):
``@supervisor -> actor: Restart("rebuild"|"fresh", epoch, reason)`` in the host's own stream,
and ``Decision("supervisor", "host_cores", {...})`` for the cores of a rebuilt host.
"""
from __future__ import annotations

import ctypes
import json
import sys
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pykka
from loguru import logger

from actors.core import Core, Out
from actors.runtime.checkpoint import CHECKPOINT_SRC, CODEC, dump_cores, reload_cores
from actors.runtime.dispatch import Dispatcher, Pending
from actors.runtime.shells.shell import Shell
from transports.clock import Clock
from transports.errors import CmcError
from transports.wire.messages import Decision, JournalBatch, Restart

REBUILD = "rebuild"  #: marker: the actor's core was rebuilt from the journal
FRESH = "fresh"  #: marker: the actor got a fresh core
HOST_CORES = "host_cores"  #: the supervisor's Decision marking the cores of a rebuilt host

#: ``rebuild(markers)`` -> {actor: (core, pending timers)}; runs in the host's thread
Rebuilder = Callable[[dict[str, Restart]], dict[str, tuple[Any, list[Pending]]]]


def restart_marker(kind: str, epoch: int, reason: str) -> Restart:
    """Return the ``Restart`` journaled as ``@supervisor -> actor`` when a core is replaced."""
    return Restart(kind, epoch, reason)


def host_marker(group: str, actors: list[str], mode: str, epoch: int, now_ns: int) -> Decision:
    """Return the Decision that marks the cores of a host rebuilt by the supervisor."""
    detail = {"group": group, "actors": actors, "mode": mode, "epoch": epoch}
    return Decision("supervisor", HOST_CORES, json.dumps(detail, sort_keys=True), now_ns)


def parse_host_marker(msg: Any) -> tuple[str, list[str], str, int] | None:
    """Return ``(group, actors, mode, epoch)`` if ``msg`` is a host marker, else None."""
    if not (isinstance(msg, Decision) and msg.actor == "supervisor" and msg.what == HOST_CORES):
        return None
    d = json.loads(msg.detail)
    return str(d["group"]), [str(a) for a in d["actors"]], str(d["mode"]), int(d["epoch"])


def snapshot_diff(old: Any, new: Any) -> list[str]:
    """Return the top-level snapshot keys on which two cores differ (a rebuild's self-check)."""
    try:
        a, b = old.snapshot(), new.snapshot()
    except Exception as exc:  # noqa: BLE001 - the old core may be the broken one
        return [f"<snapshot failed: {exc!r}>"]

    def enc(v: Any) -> str:
        return json.dumps(v, sort_keys=True, default=str)

    return sorted(k for k in set(a) | set(b) if enc(a.get(k)) != enc(b.get(k)))


class HostSupervision:
    """The supervisor's side of one ``Host``: checkpoints of its cores and the restart of some
    of them. The host owns it (``Host.supervision``) and its pykka methods delegate here, so
    every method runs in the host's own thread.

    What it needs of the host is given here, not reached for: ``shells`` is the host's own dict
    (a restart swaps ``shell.core`` in place, so the host routes to the new core at once),
    ``dispatch`` the host's ``Dispatcher`` (timers, the journal buffer, ``@start``), ``counters``
    the host's counters; ``flush(now)`` ends a dispatch cycle (journal batch, other groups and
    nodes), ``route(src, out, now)`` delivers an output, ``release_sends(now)`` releases the
    group commit of order intents, and ``to_journal(batch, now)`` hands a batch to the journal
    at once. ``journal`` is the journal actor's name ('' without one; ``abandon`` clears it).
    """

    def __init__(self, group: str, clock: Clock, shells: dict[str, Shell], dispatch: Dispatcher,
                 counters: Counter[str], journal: str, *,
                 flush: Callable[[int], None], route: Callable[[str, Out, int], None],
                 release_sends: Callable[[int], None],
                 to_journal: Callable[[JournalBatch, int], None]) -> None:
        self.group = group
        self.clock = clock
        self.shells = shells
        self.dispatch = dispatch
        self.counters = counters
        self.journal = journal
        self._flush = flush
        self._route = route
        self._release_sends = release_sends
        self._to_journal = to_journal
        #: wall-clock ns when the next checkpoint is due (0: off); the host reads it after
        #: every dispatch cycle, so it is a plain attribute
        self.ckpt_due_ns = 0
        self._ckpt_interval_ns = 0
        #: the epoch each hosted core is in; None until checkpoints are enabled
        self._ckpt_epochs: dict[str, int] | None = None
        self._ckpt_ext: dict[str, list[tuple[str, ...]]] = {}
        self._ckpt_stats: dict[str, Any] = {}

    def arm_timers(self, actor: str, timers: list[Pending]) -> int:
        """Arm the timers a rebuilt core expects ((key, arg, due ns); a due time in the past
        fires at once); timers already armed are left as they are. Returns how many were
        armed."""
        return self.dispatch.arm(actor, [(str(k), str(a), int(d)) for k, a, d in timers])

    # --- checkpoints -----------------------------------------------------------------------------

    def enable_checkpoints(self, interval_ns: int, epochs: dict[str, int]) -> None:
        """Take a checkpoint every ``interval_ns`` (0: never) at the end of a dispatch cycle;
        ``epochs`` are the epochs the hosted cores are in now (``restart_cores`` keeps them)."""
        self._ckpt_interval_ns = max(0, int(interval_ns))
        self._ckpt_epochs = dict(epochs)
        self._ckpt_ext = {}
        self._ckpt_stats = {"taken": 0, "failed": 0, "last_us": 0.0, "max_us": 0.0,
                            "total_us": 0.0, "bytes": 0, "last_error": ""}
        self.ckpt_due_ns = (self.clock.now_ns() + self._ckpt_interval_ns
                            if self._ckpt_interval_ns and self.journal else 0)

    def checkpoint_now(self) -> dict[str, Any]:
        """Take a checkpoint now (between two dispatch cycles: an ``ask`` runs in the host's
        thread); return the checkpoint numbers (tests, operators)."""
        if self._ckpt_epochs is None:
            self.enable_checkpoints(0, {})
        self.checkpoint(self.clock.now_ns())
        return self.checkpoint_stats()

    def checkpoint_stats(self) -> dict[str, Any]:
        """Return how many checkpoints were taken and how long they paused the host ({} before
        checkpoints are enabled)."""
        return dict(self._ckpt_stats)

    def checkpoint(self, now: int) -> None:
        """Pickle every hosted core (not the journal's) with the pending timers, and send it to
        the journal in this host's stream: after every batch of the cycles before, before every
        batch of the cycles after. A failure is logged and counted, never raised. Call it only
        between two dispatch cycles, once checkpoints are enabled."""
        st = self._ckpt_stats
        if self._ckpt_interval_ns:
            self.ckpt_due_ns = now + self._ckpt_interval_ns
        if not self.journal:
            return
        t0 = self.clock.mono_ns()
        actors = [a for a in self.shells if a != self.journal]
        live = {a: self.shells[a].core for a in actors}
        try:
            blob, externals = dump_cores(live, self._ckpt_ext)
        except Exception as exc:  # noqa: BLE001 - a checkpoint must never hurt the host
            st["failed"] += 1
            st["last_error"] = repr(exc)
            self.counters["checkpoint_errors"] += 1
            logger.warning("host {}: checkpoint failed: {!r}", self.group, exc)
            return
        self._continue_from(blob, externals, live)
        epochs = self._ckpt_epochs or {}
        meta = {"codec": CODEC, "actors": actors,
                "epochs": {a: epochs.get(a, 0) for a in actors},
                "timers": {a: [list(p) for p in self.dispatch.pending(a)] for a in actors},
                "externals": {a: [list(p) for p in ps] for a, ps in externals.items()},
                "seq": st["taken"] + 1}
        self._to_journal(JournalBatch(self.group, now, [(CHECKPOINT_SRC, self.group,
                                                         [meta, blob])]), now)
        us = (self.clock.mono_ns() - t0) / 1e3
        st["taken"] += 1
        st["last_us"] = round(us, 1)
        st["max_us"] = max(st["max_us"], st["last_us"])
        st["total_us"] += us
        st["bytes"] = len(blob)
        self.counters["checkpoints"] += 1

    def _continue_from(self, blob: bytes, externals: dict[str, Any],
                       live: dict[str, Any]) -> None:
        """Go on with the cores loaded from the checkpoint just taken of ``live``: pickling
        them made every attribute read of their objects about twice as slow for the rest of
        the run (``actors.runtime.checkpoint``, "Attribute speed"); the loaded ones hold the
        same state, read at full speed. If the load fails the live cores go on (counted
        ``checkpoint_reload_errors``): slower, not wrong."""
        try:
            loaded = reload_cores(blob, externals, live)
        except Exception as exc:  # noqa: BLE001 - never hurt the host
            self.counters["checkpoint_reload_errors"] += 1
            logger.warning("host {}: checkpoint not reloaded: {!r}", self.group, exc)
            return
        for a, core in loaded.items():
            self.shells[a].core = core

    # --- restarts --------------------------------------------------------------------------------

    def restart_cores(self, cores: dict[str, Any], epoch: int, reason: str,
                      rebuild: Rebuilder | None = None) -> dict[str, Any]:
        """Replace the cores of the actors in ``cores`` and start them; one dispatch cycle.

        With ``rebuild``: a ``rebuild`` marker per actor is journaled and flushed first (nothing
        else runs here meanwhile, so the marker is exactly where the old cores stop), then
        ``rebuild(markers)`` reads the journal up to it and returns the rebuilt cores and their
        pending timers; the old cores are *not* stopped (they live on in the rebuilt ones). If
        it fails, or without it, the ``cores`` given (fresh ones) are used: a ``fresh`` marker,
        the old core's ``on_stop`` (output routed, errors ignored). Either way the old cores'
        timers are dropped, then each new core gets ``@start`` (journaled) and ``on_start``.
        Returns ``{"mode", "fallback", "errors": {actor: start error}, "differs": {actor:
        snapshot keys where the rebuilt core differs from the old one}}``.
        """
        now = self.clock.now_ns()
        d = self.dispatch
        self._flush(now)
        new: dict[str, Any] = dict(cores)
        timers: dict[str, list[Pending]] = {}
        mode, fallback = "fresh", ""
        jb = d.journaled
        if rebuild is not None and jb is not None:
            markers = {a: restart_marker(REBUILD, epoch, reason) for a in cores}
            jb.extend(("@supervisor", a, m) for a, m in markers.items())
            self._flush(now)
            try:
                got = rebuild(markers)
            except Exception as exc:  # noqa: BLE001 - any failure falls back to fresh cores
                fallback = repr(exc)
                logger.warning("rebuild of {} failed, fresh cores instead: {}", list(cores), exc)
            else:
                mode = "rebuild"
                for a, (core, armed) in got.items():
                    new[a], timers[a] = core, armed
        differs = ({a: snapshot_diff(self.shells[a].core, new[a]) for a in cores}
                   if mode == "rebuild" else {})
        for a in cores:
            shell = self.shells[a]
            if mode == "fresh":
                if d.journaled is not None:
                    d.journaled.append(("@supervisor", a, restart_marker(FRESH, epoch, reason)))
                try:
                    out = shell.core.on_stop(now)
                    if out:
                        self._route(a, out, now)
                except Exception as exc:  # noqa: BLE001 - the old core may be the broken one
                    logger.warning("actor {}: on_stop of the replaced core raised: {!r}", a, exc)
            d.drop_timers(a)
            shell.core = new[a]
        for a, armed in timers.items():
            self.arm_timers(a, armed)
        if self._ckpt_epochs is not None:
            self._ckpt_epochs.update(dict.fromkeys(cores, epoch))
        errors: dict[str, str] = {}
        for a in cores:
            # a failed start is reported to the caller, not to the error hook
            exc = d.start(a, new[a], now, epoch, what="start_error", notify=False)
            if exc is not None:
                self.counters[f"errors.{a}"] += 1
                errors[a] = repr(exc) or type(exc).__name__
        self._release_sends(now)
        self._flush(now)
        return {"mode": mode, "fallback": fallback, "errors": errors, "differs": differs}


# --- abandoning a hung host ----------------------------------------------------------------------


class HostAbandoned(CmcError):
    """Raised asynchronously in an abandoned host's stuck thread so that it ends."""


class InertCore(Core):
    """Stands in for the cores of an abandoned host: whatever its thread still does goes
    nowhere (no output, no journal, no timers)."""

    def handle(self, msg: Any, now_ns: int) -> Out:
        return []


def stuck_where(ref: Any) -> dict[str, Any]:
    """Where a hung host's thread is stuck: ``thread``; ``frame``, its in-progress delivery
    (``Dispatcher.route``) or None; ``unsafe``, why it cannot be replaced safely ('' if it can):
    inside a ZeroMQ call (its sockets cannot be closed from another thread) or inside the
    journal writer (the new host would share the writer with it)."""
    host = ref._actor_weakref()  # the Host object (pykka 4 keeps a weak reference on the ref)
    name = f"host-{host.group}" if host is not None else ""
    thread = next((t for t in threading.enumerate() if t.name == name), None)
    frame = sys._current_frames().get(thread.ident) if thread and thread.ident else None
    unsafe = ""
    if frame is not None and "/zmq/" in frame.f_code.co_filename:
        unsafe = "stuck inside a ZeroMQ call"
    f, delivery = frame, None
    while f is not None:
        if f.f_code.co_filename.endswith(("journal/writer.py", "journal_shell.py")) and not unsafe:
            unsafe = "stuck inside the journal writer"
        if (delivery is None and f.f_code.co_name == "route"
                and f.f_code.co_filename.endswith("dispatch.py")):
            delivery = f
        f = f.f_back
    return {"host": host, "thread": thread, "frame": delivery, "unsafe": unsafe}


def abandon(ref: Any) -> dict[str, Any]:
    """Cut a hung host off from everything, in the supervisor's thread; return what it held.

    The host's thread cannot be stopped from outside. So: its journal buffer and undelivered
    outputs are taken (minus the delivery it is stuck in, which is neither journaled nor
    re-delivered), every core becomes an ``InertCore``, its journal, directory and error hook
    are unplugged, its sockets are closed, its executors refuse orders, it leaves the registry
    and is marked stopped, and ``HostAbandoned`` is raised asynchronously in its thread: a
    thread stuck in Python code ends at its next bytecode; one stuck in a C call ends when the
    call returns, doing nothing more. Check ``stuck_where(ref)["unsafe"]`` first.
    """
    where = stuck_where(ref)
    host, thread, frame = where["host"], where["thread"], where["frame"]
    if host is None:
        raise CmcError("the hung host's actor object is gone")
    if where["unsafe"]:
        raise CmcError(f"host {host.group} cannot be abandoned safely: {where['unsafe']}")
    ident = thread.ident if thread is not None else None
    name = f"host-{host.group}"
    d: Dispatcher = host.dispatch
    items, d.journaled = list(d.journaled or ()), None  # nothing more is journaled
    group_out, node_out = host.out.unplug()  # no more journal, groups or nodes either
    stuck, now = "", None
    if frame is not None:
        loc = frame.f_locals
        now = loc.get("now")
        dest, msg = loc.get("dest"), loc.get("msg")
        if dest in host.shells and msg is not None:
            stuck = f"{dest}: {type(msg).__name__}"
            items = [it for it in items if not (it[1] == dest and it[2] is msg)]
    writer = None
    if host.journal_local:
        writer = getattr(host.shells[host.journal], "writer", None)  # JournalShell
    host.on_error = None
    host.journal, host.journal_local = "", False
    host.supervision.journal = ""  # a checkpoint the stuck thread might still take goes nowhere
    host.dir = host.io.dir = type(host.dir)(host.dir.node, {}, {}, {})
    host._pending_sends = {}
    d.drop_timers()
    socks = [*host.io.all_sockets(), *host.out.push.values()]
    for shell in host.shells.values():
        shell.core = InertCore(shell.name)
        if hasattr(shell, "blocked"):  # an executor's shell: no intent, no order, ever
            shell.blocked = "its host was abandoned"
            shell.intent_wal = None
            shell._pending = []
        shell.sockets = {}
    for sock in socks:
        if sock is not None:
            sock.close(linger=0)
    pykka.ActorRegistry.unregister(ref)
    ref.actor_stopped.set()  # its loop ends after the stuck handler; is_alive() is False now
    if thread is not None and ident is not None:
        thread.name = f"{name}-abandoned"
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                                   ctypes.py_object(HostAbandoned))
    logger.error("host {} abandoned (stuck in {}; {} journal items salvaged)", host.group,
                 stuck or "?", len(items))
    return {"group": host.group, "items": items, "now": now, "group_out": group_out,
            "node_out": node_out, "stuck_in": stuck, "thread": thread, "writer": writer}


__all__ = ["FRESH", "HOST_CORES", "REBUILD", "HostAbandoned", "HostSupervision", "InertCore",
           "abandon", "host_marker", "parse_host_marker", "restart_marker",
           "snapshot_diff", "stuck_where"]
