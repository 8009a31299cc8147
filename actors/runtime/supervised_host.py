"""The supervisor's side of a ``Host``: heartbeats, restarting cores (rebuilt or fresh), and
abandoning a host whose thread is stuck.

``SupervisedHost`` is mixed into ``actors.runtime.host.Host``; its methods are called through
``ask`` by
``actors.runtime.supervisor_shell.Supervisor`` and run in the host's own thread. ``abandon`` runs in
the supervisor's thread against a host that no longer answers.

Restart markers (journaled, read back by ``actors.runtime.group_router``):
``@supervisor -> actor: Control("rebuild"|"fresh", {"epoch", "reason"})`` in the host's own
stream, and ``Decision("supervisor", "host_cores", {...})`` for the cores of a rebuilt host.
"""

from __future__ import annotations

import ctypes
import json
import sys
import threading
from collections.abc import Callable
from typing import Any

import pykka
from loguru import logger

from actors.core import Core, Out
from actors.runtime.checkpoint import CHECKPOINT_SRC, CODEC, dump_cores, pending_timers
from transports.errors import CmcError
from transports.wire.messages import Control, Decision, JournalBatch, SetTimer

REBUILD = "rebuild"  #: marker: the actor's core was rebuilt from the journal
FRESH = "fresh"  #: marker: the actor got a fresh core
HOST_CORES = "host_cores"  #: the supervisor's Decision marking the cores of a rebuilt host

#: ``rebuild(markers)`` -> {actor: (core, pending timers)}; runs in the host's thread
Rebuilder = Callable[[dict[str, Control]], dict[str, tuple[Any, dict[str, int]]]]


def restart_marker(kind: str, epoch: int, reason: str) -> Control:
    """Return the ``Control`` journaled as ``@supervisor -> actor`` when a core is replaced."""
    return Control(kind, json.dumps({"epoch": epoch, "reason": reason}, sort_keys=True))


def marker_epoch(msg: Control) -> int:
    """Return the epoch a restart marker carries (0 if it carries none)."""
    try:
        return int(json.loads(msg.arg).get("epoch", 0))
    except (ValueError, AttributeError, TypeError):
        return 0


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


class SupervisedHost:
    """Mixin of ``Host``: what the Supervisor asks of it (in the host's thread)."""

    # provided by Host
    clock: Any
    group: str
    shells: dict[str, Any]
    journal: str
    journal_local: bool
    counters: Any
    on_error: Callable[[str, BaseException], None] | None
    _jbuf: list[tuple[str, str, Any]]
    _timers: list[tuple[int, int, str, str]]
    _timer_gen: dict[tuple[str, str], int]
    _flush: Callable[[int], None]
    _route: Callable[[str, Out, int], None]
    _forward: Callable[[str, Any], None]
    _set_timer: Callable[[str, SetTimer], None]

    # checkpoints (``enable_checkpoints``); class defaults: off
    _ckpt_next_ns = 0  #: wall-clock ns when the next checkpoint is due (0: off)
    _ckpt_interval_ns = 0
    _ckpt_epochs: dict[str, int]
    _ckpt_ext: dict[str, list[tuple[str, ...]]]
    _ckpt_stats: dict[str, Any]

    def ping(self) -> int:
        """Answer a heartbeat: the host's thread is alive and its inbox is moving."""
        return int(self.clock.mono_ns())

    def set_on_error(self, on_error: Callable[[str, BaseException], None] | None) -> None:
        """Replace the handler-error callback (the Supervisor installs its own)."""
        self.on_error = on_error

    def hosted(self) -> list[str]:
        """Return the names of the actors this host runs."""
        return list(self.shells)

    def arm_timers(self, actor: str, timers: dict[str, int]) -> int:
        """Arm the timers a rebuilt core expects (key -> due ns; a due time in the past fires
        at once); keys already armed are left as they are. Returns how many were armed."""
        n = 0
        for key, due_ns in timers.items():
            if (actor, key) not in self._timer_gen and due_ns > 0:
                self._set_timer(actor, SetTimer(key, due_ns))
                n += 1
        return n

    # --- checkpoints -----------------------------------------------------------------------------

    def enable_checkpoints(self, interval_ns: int, epochs: dict[str, int]) -> None:
        """Take a checkpoint every ``interval_ns`` (0: never) at the end of a dispatch cycle;
        ``epochs`` are the epochs the hosted cores are in now (``restart_cores`` keeps them)."""
        self._ckpt_interval_ns = max(0, int(interval_ns))
        self._ckpt_epochs = dict(epochs)
        self._ckpt_ext = {}
        self._ckpt_stats = {"taken": 0, "failed": 0, "last_us": 0.0, "max_us": 0.0,
                            "total_us": 0.0, "bytes": 0, "last_error": ""}
        self._ckpt_next_ns = (self.clock.now_ns() + self._ckpt_interval_ns
                              if self._ckpt_interval_ns and self.journal else 0)

    def checkpoint_now(self) -> dict[str, Any]:
        """Take a checkpoint now (between two dispatch cycles: an ``ask`` runs in the host's
        thread); return the checkpoint numbers (tests, operators)."""
        if not hasattr(self, "_ckpt_epochs"):
            self.enable_checkpoints(0, {})
        self._checkpoint(self.clock.now_ns())
        return self.checkpoint_stats()

    def checkpoint_stats(self) -> dict[str, Any]:
        """Return how many checkpoints were taken and how long they paused the host."""
        return dict(getattr(self, "_ckpt_stats", {}))

    def _checkpoint(self, now: int) -> None:
        """Pickle every hosted core (not the journal's) with the pending timers, and send it to
        the journal in this host's stream: after every batch of the cycles before, before every
        batch of the cycles after. A failure is logged and counted, never raised."""
        st = self._ckpt_stats
        if self._ckpt_interval_ns:
            self._ckpt_next_ns = now + self._ckpt_interval_ns
        if not self.journal:
            return
        t0 = self.clock.mono_ns()
        actors = [a for a in self.shells if a != self.journal]
        try:
            blob, externals = dump_cores({a: self.shells[a].core for a in actors},
                                         self._ckpt_ext)
        except Exception as exc:  # noqa: BLE001 - a checkpoint must never hurt the host
            st["failed"] += 1
            st["last_error"] = repr(exc)
            self.counters["checkpoint_errors"] += 1
            logger.warning("host {}: checkpoint failed: {!r}", self.group, exc)
            return
        meta = {"codec": CODEC, "actors": actors,
                "epochs": {a: self._ckpt_epochs.get(a, 0) for a in actors},
                "timers": pending_timers(self._timers, self._timer_gen, actors),
                "externals": {a: [list(p) for p in ps] for a, ps in externals.items()},
                "seq": st["taken"] + 1}
        batch = JournalBatch(self.group, now, [(CHECKPOINT_SRC, self.group, [meta, blob])])
        if self.journal_local:
            self.shells[self.journal].handle(batch, now)
        else:
            self._forward(self.journal, batch)
            self._flush(now)
        us = (self.clock.mono_ns() - t0) / 1e3
        st["taken"] += 1
        st["last_us"] = round(us, 1)
        st["max_us"] = max(st["max_us"], st["last_us"])
        st["total_us"] += us
        st["bytes"] = len(blob)
        self.counters["checkpoints"] += 1

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
        self._flush(now)
        new, timers, mode, fallback = dict(cores), {}, "fresh", ""
        if rebuild is not None and self.journal:
            markers = {a: restart_marker(REBUILD, epoch, reason) for a in cores}
            self._jbuf.extend(("@supervisor", a, m) for a, m in markers.items())
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
                if self.journal:
                    self._jbuf.append(("@supervisor", a, restart_marker(FRESH, epoch, reason)))
                try:
                    out = shell.core.on_stop(now)
                    if out:
                        self._route(a, out, now)
                except Exception as exc:  # noqa: BLE001 - the old core may be the broken one
                    logger.warning("actor {}: on_stop of the replaced core raised: {!r}", a, exc)
            for key in [k for k in self._timer_gen if k[0] == a]:
                del self._timer_gen[key]
            shell.core = new[a]
        for a, armed in timers.items():
            self.arm_timers(a, armed)
        if hasattr(self, "_ckpt_epochs"):
            self._ckpt_epochs.update(dict.fromkeys(cores, epoch))
        errors: dict[str, str] = {}
        for a in cores:
            if self.journal:
                self._jbuf.append(("@start", a, Control("start")))
            try:
                out = new[a].on_start(now)
            except Exception as exc:  # noqa: BLE001 - reported to the caller as a failed start
                self.counters[f"errors.{a}"] += 1
                errors[a] = repr(exc) or type(exc).__name__
                if self.journal:
                    self._jbuf.append((a, self.journal, Decision(a, "start_error", errors[a],
                                                                 now)))
                continue
            if out:
                self._route(a, out, now)
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
    (``Host._route_fifo``) or None; ``unsafe``, why it cannot be replaced safely ('' if it can):
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
        if f.f_code.co_filename.endswith("journal_io.py") and not unsafe:
            unsafe = "stuck inside the journal writer"
        if delivery is None and f.f_code.co_name == "_route_fifo":
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
    items, host._jbuf = host._jbuf, []
    group_out, host._group_out = host._group_out, {}
    node_out, host._node_out = host._node_out, {}
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
        writer = getattr(host.shells[host.journal].core, "writer", None)
    host.on_error = None
    host.journal, host.journal_local = "", False
    host.dir = type(host.dir)(host.dir.node, {}, {}, {})
    host._pending_sends = {}
    host._timers, host._timer_gen = [], {}
    socks = [*host._sock_owner, *host._push.values(), host._pull]
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


__all__ = ["FRESH", "HOST_CORES", "REBUILD", "HostAbandoned", "InertCore", "SupervisedHost",
           "abandon", "host_marker", "marker_epoch", "parse_host_marker", "restart_marker",
           "snapshot_diff", "stuck_where"]
