"""The Supervisor's shell: a thread that watches one node's hosts and carries out the actions of
``actors.runtime.supervisor.SupervisorCore`` (restart cores, rebuild a dead host, escalate, exit).

Hosts report handler errors through their ``on_error`` hook (from their own thread: the hook only
enqueues). Every ``heartbeat_ms`` each host gets an ``ask`` it must answer within
``heartbeat_timeout_ms``; a host whose thread died (``is_alive()`` false) is rebuilt with fresh
shells and sockets, and so is a hung one with ``on_hung = "replace"`` (its stuck thread is
abandoned first: ``actors.runtime.host.supervised_host.abandon``). Restarted actors' state is
rebuilt from the journal (``actors.runtime.rebuild.rebuild_driver``). Every action is journaled as
``Decision("supervisor", kind, json)``; so are ``rebuilt`` (with its numbers),
``rebuild_unavailable`` and ``abandoned``.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from typing import Any

import pykka
from loguru import logger

from actors.core import Core
from actors.runtime.dispatch import fatal
from actors.runtime.host.supervised_host import abandon, host_marker, snapshot_diff, stuck_where
from actors.runtime.rebuild.rebuild import RebuildUnavailable
from actors.runtime.rebuild.rebuild_driver import JOURNAL, Rebuilds
from actors.runtime.supervisor import (
    Action,
    SupervisorCore,
    raised_in_on_start,
    with_epoch,
    wrap_leg,
)
from transports.clock import Clock
from transports.config.engine import AppConfig
from transports.wire.messages import Decision, Halt, TradingState

_S = 1_000_000_000


class _Beat:
    """A heartbeat ``ask``: hosts answer unknown messages with None."""

    __slots__ = ()


class GuardedRef:
    """A host's ref as other hosts see it (``Directory.refs``): a ``tell`` to a dead host is
    dropped and wakes the supervisor at once, instead of raising ``ActorDeadError`` in the
    sender's dispatch loop (which would kill the sending host too)."""

    def __init__(self, ref: Any, on_dead: Callable[[], None]) -> None:
        self.ref = ref
        self.on_dead = on_dead
        self.dropped = 0

    def tell(self, message: Any) -> None:
        try:
            self.ref.tell(message)
        except pykka.ActorDeadError:
            self.dropped += 1
            self.on_dead()

    def __getattr__(self, item: str) -> Any:
        return getattr(self.ref, item)


class Supervisor:
    """The shell: a thread that watches one node's hosts and carries out the core's actions.

    ``core_factory(actor, cfg)`` builds a fresh core (default: the node's ``fresh_core`` wrapped
    by ``wrap_leg``; the rebuild replays through such cores too); ``wrap(actor, core, cfg)`` wraps
    the cores of a rebuilt host the same way; ``exit_fn(code)`` ends the process when a hung host
    must be abandoned (``on_hung = "exit"``).
    """

    def __init__(self, node: Any, clock: Clock, *,
                 core_factory: Callable[[str, AppConfig], Core] | None = None,
                 wrap: Callable[[str, Core, AppConfig], Core] | None = None,
                 exit_fn: Callable[[int], None] | None = None) -> None:
        self.node = node
        self.clock = clock
        self.cfg: AppConfig = node.cfg
        self.sup = node.cfg.supervision
        self.core = SupervisorCore(self.sup, list(node.shells))
        self.core_factory = core_factory or (
            lambda a, c: wrap_leg(a, node.fresh_core(a, c), c))
        self.rebuilds = Rebuilds(node, clock, self.cfg, self.core_factory)
        self.wrap = wrap or wrap_leg
        self.exit_fn = exit_fn
        self.generation = 0
        self.restart_ms: list[float] = []
        self._q: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"supervisor-{node.name}",
                                        daemon=True)
        self._pings: dict[str, tuple[Any, Any, int]] = {}
        #: host -> (when, the rebuild): dead hosts whose rebuild backs off (mono ns)
        self._deferred: dict[str, tuple[int, Action]] = {}
        self._lock = threading.Lock()
        self._last_beat_ns = 0  #: when ``_heartbeat`` last ran (a freeze shows as a gap)

    # --- called from other threads ---------------------------------------------------------------

    def on_error(self, actor: str, exc: BaseException) -> None:
        """The hosts' error hook (runs in a host thread: only enqueues)."""
        self._q.put(("error", actor, repr(exc), raised_in_on_start(exc), fatal(exc)))

    def restart(self, actor: str, timeout_s: float = 5.0) -> bool:
        """Restart ``actor`` now (operator); return True once it is running again."""
        done = threading.Event()
        self._q.put(("manual", actor, done))
        return done.wait(timeout_s)

    def snapshot(self) -> dict[str, Any]:
        """Return the supervisor's view (thread-safe copy)."""
        with self._lock:
            snap = self.core.snapshot()
        snap["restart_ms"] = list(self.restart_ms[-20:])
        snap["rebuilds"] = list(self.rebuilds.stats)
        return snap

    def start(self) -> None:
        """Guard the directory's refs, turn the hosts' checkpoints on, then start watching."""
        self._guard_refs()
        for group, ref in list(self.node.hosts.items()):
            self._checkpoints(group, ref, self.cfg.run.epoch)
        self._thread.start()

    def _checkpoints(self, group: str, ref: Any, epoch: int) -> None:
        """Have ``group``'s host checkpoint its cores (``supervision.checkpoint_interval_s``)
        when restarts are rebuilt from the journal; its cores are in ``epoch`` now."""
        interval_ns = int(self.sup.checkpoint_interval_s * _S)
        if not (interval_ns and self.rebuilds.enabled):
            return
        epochs = dict.fromkeys(self.rebuilds.groups.get(group, []), epoch)
        try:
            ref.proxy().enable_checkpoints(interval_ns, epochs).get(timeout=5)
        except (pykka.Timeout, pykka.ActorDeadError) as exc:
            logger.warning("supervisor: could not turn on checkpoints of {}: {!r}", group, exc)

    def _guard_refs(self) -> None:
        refs = self.node.directory.refs
        for group in list(self.node.hosts):
            if not isinstance(refs.get(group), GuardedRef):
                refs[group] = GuardedRef(refs[group], self._wake)

    def _wake(self) -> None:
        self._q.put(("beat",))

    def stop(self) -> None:
        """Stop watching (before the node stops, so a stopping host is not restarted)."""
        self._stop.set()
        self._q.put(("stop",))
        if self._thread.ident is not None:  # a launch that failed to start never started it
            self._thread.join(5)

    # --- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        interval = self.sup.heartbeat_ms / 1000
        next_hb = self.clock.mono_ns()
        while not self._stop.is_set():
            try:
                item = self._q.get(timeout=interval)
            except queue.Empty:
                item = None
            try:
                if item is not None:
                    self._handle(item)
                if self.clock.mono_ns() >= next_hb:
                    next_hb = self.clock.mono_ns() + int(interval * _S)
                    self._heartbeat()
            except Exception:  # noqa: BLE001 - the watchdog itself must not die
                logger.exception("supervisor of node {} failed a step", self.node.name)

    def _handle(self, item: tuple[Any, ...]) -> None:
        now = self.clock.now_ns()
        if item[0] == "error":
            _, actor, reason, in_start, is_fatal = item
            with self._lock:
                acts = self.core.on_error(actor, now, reason, in_start, is_fatal)
            self._do(acts)
        elif item[0] == "beat":
            self._heartbeat()
        elif item[0] == "manual":
            with self._lock:
                acts = self.core.manual(item[1])
            self._do(acts)
            item[2].set()

    def _heartbeat(self) -> None:
        now = self.clock.mono_ns()
        timeout_ns = self.sup.heartbeat_timeout_ms * 1_000_000
        freeze_ns = self.sup.freeze_detect_ms * 1_000_000
        if freeze_ns and self._last_beat_ns and now - self._last_beat_ns > freeze_ns:
            # this thread was frozen with the whole process (SIGSTOP, a paused VM): a ping
            # unanswered meanwhile says nothing about its host; time it from now
            self._pings = {h: (r, f, now) for h, (r, f, _sent) in self._pings.items()}
        self._last_beat_ns = now
        for host, ref in list(self.node.hosts.items()):
            hosted = [a for a, g in self.node.directory.actor_group.items()
                      if g == host and a in self.node.shells]
            later = self._deferred.get(host)
            if later is not None:  # dead or hung, its rebuild backing off (``Action.delay_ns``)
                if now >= later[0]:
                    del self._deferred[host]
                    self._restart_host(later[1])
                continue
            if not ref.is_alive():
                self._pings.pop(host, None)
                with self._lock:
                    acts = self.core.host_dead(host, hosted, self.clock.now_ns())
                self._do(acts)
                continue
            pending = self._pings.get(host)
            if pending is not None and pending[0] is ref:
                fut, sent = pending[1], pending[2]
                try:
                    fut.get(timeout=0)
                except pykka.Timeout:
                    if now - sent > timeout_ns:
                        self._pings.pop(host)
                        with self._lock:
                            acts = self.core.host_hung(host, hosted, self.clock.now_ns())
                        self._do(acts)
                    continue
                except pykka.ActorDeadError:
                    continue  # seen as dead on the next beat
            # a plain ask: the host answers None once its thread took the message from its inbox
            self._pings[host] = (ref, ref.ask(_Beat(), block=False), now)

    def _do(self, actions: list[Any]) -> None:
        for act in actions:
            self._journal(act.kind, {"actors": list(act.actors), "host": act.host,
                                     "reason": act.reason})
            if act.kind == "restart":
                self._restart_actors(act)
            elif act.kind == "restart_host":
                self._restart_host(act)
            elif act.kind == "escalate":
                self.escalate(act.reason)
            elif act.kind == "exit" and self.exit_fn is not None:
                logger.critical("supervisor: {}; ending the node process", act.reason)
                self.exit_fn(70)

    def _next_cfg(self) -> AppConfig:
        self.generation += 1
        return with_epoch(self.cfg, self.cfg.run.epoch + self.generation)

    def _restart_actors(self, act: Action) -> None:
        t0 = self.clock.mono_ns()
        cfg = self._next_cfg()
        logger.warning("supervisor: restarting {} (epoch {}): {}", list(act.actors),
                       cfg.run.epoch, act.reason)
        by_host: dict[str, list[str]] = {}
        for actor in act.actors:
            by_host.setdefault(self.node.group_of(actor), []).append(actor)
        for group, actors in by_host.items():
            rest = [a for a in actors if a != JOURNAL]  # the journal has nothing to rebuild
            for part, rebuild in ((rest, True), ([a for a in actors if a == JOURNAL], False)):
                if part:
                    self._restart_on_host(group, part, cfg, act.reason, rebuild)
        with self._lock:
            self.core.started(act.actors)
        self.restart_ms.append((self.clock.mono_ns() - t0) / 1e6)

    def _restart_on_host(self, group: str, actors: list[str], cfg: AppConfig, reason: str,
                         rebuild: bool) -> None:
        t0, epoch = self.clock.mono_ns(), cfg.run.epoch
        fresh = {a: self.core_factory(a, cfg) for a in actors}
        fn, rb, stats = None, None, {}
        if rebuild and self.rebuilds.enabled:
            try:
                rb, stats = self.rebuilds.begin(group)
                fn = self.rebuilds.catch_up(rb, group, epoch, stats)
            except RebuildUnavailable as exc:
                self._unavailable(actors, str(exc))
        elif rebuild and self.sup.rebuild:
            self._unavailable(actors, "the run has no journal")
        host = self.node.hosts[group]
        wait_s = 5 + self.sup.rebuild_timeout_ms / 1000
        try:
            res = host.proxy().restart_cores(fresh, epoch, reason, fn).get(timeout=wait_s)
        except (pykka.Timeout, pykka.ActorDeadError) as exc:
            logger.error("supervisor: restart of {} failed: {!r}", actors, exc)
            return  # the heartbeat sees the host
        if res["fallback"]:
            self._unavailable(actors, res["fallback"])
        if rb is not None and res["mode"] == "rebuild":
            self._journal("rebuilt", self.rebuilds.record(rb, {
                "actors": actors, "host": group, "epoch": epoch, "differs": res["differs"],
                "total_ms": round((self.clock.mono_ns() - t0) / 1e6, 3), **stats}))
        for actor, err in res["errors"].items():
            self._q.put(("error", actor, err, True, False))

    def _unavailable(self, actors: list[str], why: str) -> None:
        logger.warning("supervisor: {} restart from fresh cores: cannot rebuild from the "
                       "journal: {}", actors, why)
        self._journal("rebuild_unavailable", {"actors": actors, "reason": why})

    def _restart_host(self, act: Action) -> None:
        if act.delay_ns:  # done by the heartbeat once due (the host stays dead meanwhile)
            logger.error("supervisor: {}", act.reason)
            self._deferred[act.host] = (self.clock.mono_ns() + act.delay_ns,
                                        act._replace(delay_ns=0))
            return
        t0 = self.clock.mono_ns()
        group = act.host
        writer = self.rebuilds.journal_writer(group)
        actors = [a for a in self.rebuilds.groups.get(group, []) if self.node.is_local(a)]
        old_cores = {a: self.node.shells[a].core for a in actors}
        old = self.node.hosts.get(group)
        if old is not None and old.is_alive():  # hung: its thread is stuck in a handler
            unsafe = stuck_where(old)["unsafe"]
            if unsafe:  # replacing it would share a socket or the writer with the stuck thread
                why = f"host {group} cannot be replaced: {unsafe}"
                self._journal("abandon_refused", {"host": group, "reason": unsafe})
                self._do([Action("escalate", act.actors, reason=why)]
                         + ([Action("exit", act.actors, host=group, reason=why)]
                            if self.exit_fn is not None else []))
                return
            info = abandon(old)
            writer = writer or info["writer"]
            self.rebuilds.salvage(info, writer)
            detail = {"host": group, "stuck_in": info["stuck_in"], "salvaged": len(info["items"])}
            now = self.clock.now_ns()
            self.rebuilds.send_journal(writer, now, "", [("", JOURNAL, Decision(
                "supervisor", "abandoned", json.dumps(detail, sort_keys=True), now))])
        cfg = self._next_cfg()
        epoch = cfg.run.epoch
        logger.error("supervisor: rebuilding host {} (epoch {}): {}", group, epoch, act.reason)
        rebuilt: dict[str, tuple[Any, dict[str, int]]] = {}
        stats: dict[str, Any] = {}
        rb = None
        if actors and self.rebuilds.enabled:
            try:
                self.rebuilds.barrier(group)
                rb, stats = self.rebuilds.begin(group)
                rebuilt = {a: rb.take(a, epoch) for a in actors}
            except RebuildUnavailable as exc:
                self._unavailable(actors, str(exc))
        elif actors and self.sup.rebuild:
            self._unavailable(actors, "the run has no journal")
        differs = {a: snapshot_diff(old_cores[a], c) for a, (c, _) in rebuilt.items()}
        if actors:
            mode = "rebuild" if rebuilt else "fresh"
            self.rebuilds.host_marker(writer, host_marker(group, actors, mode, epoch,
                                                          self.clock.now_ns()))
        ref = self.node.restart_group(
            group, cfg, on_error=self.on_error,
            wrap=lambda a, c: rebuilt[a][0] if a in rebuilt else self._wrap_host_core(a, c, cfg))
        for a, (_core, timers) in rebuilt.items():
            if timers:
                ref.proxy().arm_timers(a, timers).get(timeout=5)
        self._checkpoints(group, ref, epoch)
        self._guard_refs()
        with self._lock:
            self.core.started(act.actors)
        self.restart_ms.append((self.clock.mono_ns() - t0) / 1e6)
        if rb is not None:
            self._journal("rebuilt", self.rebuilds.record(rb, {
                "actors": actors, "host": group, "epoch": epoch, "differs": differs,
                "total_ms": self.restart_ms[-1], **stats}))

    def _wrap_host_core(self, actor: str, core: Core, cfg: AppConfig) -> Core:
        return self.wrap(actor, core, cfg)

    def escalate(self, reason: str) -> None:
        """Halt trading: risk goes HALTED, and every leg is told directly as well."""
        logger.critical("supervisor escalates: {}", reason)
        now = self.clock.now_ns()
        self._send("risk", Halt(f"supervisor: {reason}"))
        for actor in self.node.directory.actor_group:
            if actor.startswith("leg."):
                self._send(actor, TradingState("HALTED", f"supervisor: {reason}", now))

    def _journal(self, what: str, detail: dict[str, Any]) -> None:
        self._send("journal", Decision("supervisor", what, json.dumps(detail, sort_keys=True),
                                       self.clock.now_ns()))

    def _send(self, actor: str, msg: Any) -> None:
        try:
            self.node.send(actor, msg)
        except Exception as exc:  # noqa: BLE001 - escalation must try every destination
            logger.error("supervisor: could not send {} to {}: {!r}", type(msg).__name__, actor,
                         exc)


__all__ = ["GuardedRef", "Supervisor"]
