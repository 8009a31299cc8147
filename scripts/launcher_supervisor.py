"""The Supervisor's shell: a thread that watches one node's hosts and carries out the actions of
``actors.supervisor.SupervisorCore`` (restart cores, rebuild a dead host, escalate, exit).

Hosts report handler errors through their ``on_error`` hook (from their own thread: the hook only
enqueues). Every ``heartbeat_ms`` each host gets an ``ask`` it must answer within
``heartbeat_timeout_ms``; a host whose thread died (``is_alive()`` false) is rebuilt with fresh
shells and sockets. Every action is journaled as ``Decision("supervisor", kind, json)``.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from typing import Any

import pykka
from loguru import logger

from actors.base import Core
from actors.supervisor import Action, SupervisorCore, raised_in_on_start, with_epoch, wrap_leg
from transports.clock import Clock
from transports.config import AppConfig
from transports.messages import Control, Decision, TradingState

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
    by ``wrap_leg``); ``wrap(actor, core, cfg)`` wraps the cores of a rebuilt host the same way;
    ``rebuild(actor, core)`` may restore state before it starts (issue 6); ``exit_fn(code)`` ends
    the process when a hung host must be abandoned.
    """

    def __init__(self, node: Any, clock: Clock, *,
                 core_factory: Callable[[str, AppConfig], Core] | None = None,
                 rebuild: Callable[[str, Core], None] | None = None,
                 wrap: Callable[[str, Core, AppConfig], Core] | None = None,
                 exit_fn: Callable[[int], None] | None = None) -> None:
        self.node = node
        self.clock = clock
        self.cfg: AppConfig = node.cfg
        self.sup = node.cfg.supervision
        self.core = SupervisorCore(self.sup, list(node.shells))
        self.core_factory = core_factory or (
            lambda a, c: wrap_leg(a, node.fresh_core(a, c), c))
        self.rebuild = rebuild
        self.wrap = wrap or wrap_leg
        self.exit_fn = exit_fn
        self.generation = 0
        self.restart_ms: list[float] = []
        self._q: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"supervisor-{node.name}",
                                        daemon=True)
        self._pings: dict[str, tuple[Any, Any, int]] = {}
        self._lock = threading.Lock()

    # --- called from other threads ---------------------------------------------------------------

    def on_error(self, actor: str, exc: BaseException) -> None:
        """The hosts' error hook (runs in a host thread: only enqueues)."""
        self._q.put(("error", actor, repr(exc), raised_in_on_start(exc)))

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
        return snap

    def start(self) -> None:
        """Guard the directory's refs, then start watching."""
        self._guard_refs()
        self._thread.start()

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
            _, actor, reason, in_start = item
            with self._lock:
                acts = self.core.on_error(actor, now, reason, in_start)
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
        for host, ref in list(self.node.hosts.items()):
            hosted = [a for a, g in self.node.directory.actor_group.items()
                      if g == host and a in self.node.shells]
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
        for actor in act.actors:
            core = self.core_factory(actor, cfg)
            if self.rebuild is not None:
                self.rebuild(actor, core)
            host = self.node.host_of(actor)
            try:
                err = host.proxy().replace_core(actor, core, act.reason).get(timeout=5)
            except (pykka.Timeout, pykka.ActorDeadError) as exc:
                logger.error("supervisor: restart of {} failed: {!r}", actor, exc)
                continue  # the heartbeat sees the host
            if err:
                self._q.put(("error", actor, err, True))
        with self._lock:
            self.core.started(act.actors)
        self.restart_ms.append((self.clock.mono_ns() - t0) / 1e6)

    def _restart_host(self, act: Action) -> None:
        t0 = self.clock.mono_ns()
        cfg = self._next_cfg()
        logger.error("supervisor: rebuilding host {} (epoch {})", act.host, cfg.run.epoch)
        self.node.restart_group(act.host, cfg, on_error=self.on_error,
                                wrap=lambda a, c: self._wrap_host_core(a, c, cfg))
        self._guard_refs()
        with self._lock:
            self.core.started(act.actors)
        self.restart_ms.append((self.clock.mono_ns() - t0) / 1e6)

    def _wrap_host_core(self, actor: str, core: Core, cfg: AppConfig) -> Core:
        core = self.wrap(actor, core, cfg)
        if self.rebuild is not None:
            self.rebuild(actor, core)
        return core

    def escalate(self, reason: str) -> None:
        """Halt trading: risk goes HALTED, and every leg is told directly as well."""
        logger.critical("supervisor escalates: {}", reason)
        now = self.clock.now_ns()
        self._send("risk", Control("halt", f"supervisor: {reason}"))
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
