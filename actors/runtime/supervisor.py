"""Supervisor: Erlang/OTP restart policies over the actors of one node, and a heartbeat watchdog.

pykka has no supervision, and our hosts catch a handler's exception per message (the actor keeps
running, the message is dropped). So a **crash** is: ``errors_to_crash`` handler errors of one
actor within ``error_window_s``, or any exception in ``on_start``, or the host's thread dying
(``ActorRef.is_alive()`` false), or a host that misses its heartbeat (an ``ask`` with a deadline).

Per supervision group (config ``[[supervision.groups]]``, children in start order):
``one_for_one`` restarts the crashed child, ``one_for_all`` every child, ``rest_for_one`` the
child and those listed after it. More than ``max_restarts`` restarts within ``period_s``
escalate: ``Halt("supervisor: <reason>")`` to ``risk`` (and ``TradingState(HALTED)``
to every leg executor, in case risk is the broken one); the group is then left alone.

A restarted actor's state is rebuilt from the journal (``actors.runtime.rebuild.rebuild``: its
group's journaled history replayed through fresh cores, outputs discarded), then moved to a new
epoch (``run.epoch`` bumped) so that combo and client order ids never repeat; without a readable
journal it gets a fresh core. LegExecutors reconcile with their venue at every start
(``actors.leg.reconciler``; ``wrap_leg`` turns it on): before their first order they adopt the
venue's positions and cancel the venue's open orders that they do not know (a rebuilt executor knows
its own). Feeds resync from a snapshot on start.

A host that misses its heartbeat (``host_hung``) is stuck in a handler: its thread cannot be
stopped from outside. ``on_hung = "replace"`` abandons it and rebuilds the host (counted as a
crash of its actors), ``"exit"`` ends the node process, ``"halt"`` only halts trading.

``SupervisorCore`` is pure (times are ns arguments); its shell, the thread that watches the hosts
and carries out the actions, is ``actors.runtime.shells.supervisor_shell.Supervisor``.
"""

from __future__ import annotations

import collections
import traceback
from typing import Any, NamedTuple

import msgspec

from actors.leg.reconciler import wrap_leg
from transports.config.engine import AppConfig
from transports.config.ops import GroupPolicy, SupervisionConfig

_S = 1_000_000_000
#: A node process restarted by the launcher gets ``epoch + restarts * EPOCH_STRIDE``; each actor
#: restart inside a process adds 1 to that, so ids never repeat across either.
EPOCH_STRIDE = 100_000


#: a host's deaths within ``HOST_DEATH_WINDOW_NS`` rebuilt at once; each one more waits twice as
#: long as the last (from ``HOST_BACKOFF_FIRST_NS``, at most ``HOST_BACKOFF_MAX_NS``): a host that
#: dies on every rebuild (a cause no rebuild mends) must not be rebuilt at the heartbeat's pace for
#: good, burning a CPU, the log and an epoch a time (fault catalogue P03: no infinite loop)
HOST_DEATHS_AT_ONCE = 3
HOST_DEATH_WINDOW_NS = 60 * _S
HOST_BACKOFF_FIRST_NS = _S // 2
HOST_BACKOFF_MAX_NS = 30 * _S


class Action(NamedTuple):
    """What the core wants done: ``restart`` actors, ``restart_host``, ``escalate`` or ``exit``.
    ``delay_ns``: a ``restart_host`` to do that much later (a host dying again and again)."""

    kind: str
    actors: tuple[str, ...] = ()
    host: str = ""
    reason: str = ""
    delay_ns: int = 0


class _Group:
    __slots__ = ("children", "escalated", "policy", "restarts")

    def __init__(self, policy: GroupPolicy, children: list[str]) -> None:
        self.policy = policy
        self.children = children
        self.restarts: collections.deque[int] = collections.deque()
        self.escalated = False


class SupervisorCore:
    """Restart intensity and policy decisions; no threads, no clock."""

    def __init__(self, cfg: SupervisionConfig, actors: list[str]) -> None:
        self.cfg = cfg
        self.error_window_ns = int(cfg.error_window_s * _S)
        self.groups: dict[str, _Group] = {}
        self.group_of: dict[str, _Group] = {}
        local = set(actors)
        for g in cfg.groups:
            children = [a for a in g.actors if a in local]
            if children:
                grp = _Group(g, children)
                self.groups[g.name] = grp
                for a in children:
                    self.group_of[a] = grp
        for a in actors:  # an actor in no group is supervised alone, with the default intensity
            if a not in self.group_of:
                grp = _Group(GroupPolicy(name=a, actors=[a]), [a])
                self.groups[a] = grp
                self.group_of[a] = grp
        self.errors: dict[str, collections.deque[int]] = {a: collections.deque() for a in actors}
        self.status: dict[str, dict[str, Any]] = {
            a: {"state": "running", "restarts": 0, "errors": 0, "last": ""} for a in actors}
        self.escalations: list[tuple[int, str]] = []
        #: each host's recent deaths (``host_delay``)
        self.host_deaths: dict[str, collections.deque[int]] = collections.defaultdict(
            collections.deque)

    def host_delay(self, host: str, now_ns: int) -> int:
        """Note a death of ``host``; return how long to wait before rebuilding it: 0 for the
        first ``HOST_DEATHS_AT_ONCE`` within ``HOST_DEATH_WINDOW_NS``, then doubling."""
        win = self.host_deaths[host]
        win.append(now_ns)
        while win[0] <= now_ns - HOST_DEATH_WINDOW_NS:
            win.popleft()
        extra = len(win) - HOST_DEATHS_AT_ONCE
        if extra <= 0:
            return 0
        return min(HOST_BACKOFF_MAX_NS, HOST_BACKOFF_FIRST_NS << min(extra - 1, 16))

    def on_error(self, actor: str, now_ns: int, reason: str,
                 in_start: bool = False, fatal: bool = False) -> list[Action]:
        """A handler of ``actor`` raised: count it; a crash when frequent, in ``on_start``, or
        ``fatal`` (``actors.runtime.dispatch.fatal``: the actor's state is in doubt)."""
        if actor not in self.status:
            return []
        st = self.status[actor]
        st["errors"] += 1
        st["last"] = reason
        win = self.errors[actor]
        win.append(now_ns)
        while win and win[0] <= now_ns - self.error_window_ns:
            win.popleft()
        if fatal or in_start or len(win) >= self.cfg.errors_to_crash:
            why = ("fatal error" if fatal else "on_start raised" if in_start
                   else f"{len(win)} errors in {self.cfg.error_window_s:g}s")
            return self.crash(actor, now_ns, f"{why}: {reason}")
        return []

    def crash(self, actor: str, now_ns: int, reason: str) -> list[Action]:
        """``actor`` crashed: restart by its group's policy, or escalate past the intensity."""
        g = self.group_of.get(actor)
        if g is None or g.escalated:
            return []
        p = g.policy
        while g.restarts and g.restarts[0] <= now_ns - int(p.period_s * _S):
            g.restarts.popleft()
        if len(g.restarts) >= p.max_restarts:
            g.escalated = True
            for a in g.children:
                self.status[a]["state"] = "failed"
            why = (f"{actor} crashed ({reason}); more than {p.max_restarts} restarts in "
                   f"{p.period_s:g}s in group {p.name}")
            self.escalations.append((now_ns, why))
            return [Action("escalate", tuple(g.children), reason=why)]
        g.restarts.append(now_ns)
        if p.strategy == "one_for_all":
            targets = list(g.children)
        elif p.strategy == "rest_for_one":
            targets = g.children[g.children.index(actor):]
        else:
            targets = [actor]
        return [self._restarting(targets, f"{actor}: {reason}")]

    def _restarting(self, targets: list[str], reason: str) -> Action:
        for a in targets:
            self.errors[a].clear()
            self.status[a]["state"] = "restarting"
            self.status[a]["restarts"] += 1
        return Action("restart", tuple(targets), reason=reason)

    def host_dead(self, host: str, hosted: list[str], now_ns: int,
                  why: str = "died") -> list[Action]:
        """A host's thread died: every actor on it crashed; the host itself must be rebuilt.

        Each supervision group with a child on the host counts one restart; children of those
        groups on other hosts are restarted by the group's policy as usual.
        """
        out: list[Action] = []
        seen: set[str] = set()
        for a in hosted:
            g = self.group_of.get(a)
            if g is None or g.policy.name in seen:
                continue
            seen.add(g.policy.name)
            for act in self.crash(a, now_ns, f"host {host} {why}"):
                if act.kind == "restart":
                    rest = tuple(x for x in act.actors if x not in hosted)
                    if rest:
                        out.append(act._replace(actors=rest))
                else:
                    out.append(act)
        # the sockets died with the thread, so the host is rebuilt even when escalating
        # (trading stays HALTED; the feeds and the journal keep working)
        for a in hosted:
            self.status[a]["state"] = "restarting"
        delay = self.host_delay(host, now_ns)
        reason = f"host {host} {why}"
        if delay:
            reason += (f" ({len(self.host_deaths[host])} times in "
                       f"{HOST_DEATH_WINDOW_NS // _S} s: rebuilt in {delay / _S:g} s)")
        return [*out, Action("restart_host", tuple(hosted), host=host, reason=reason,
                             delay_ns=delay)]

    def host_hung(self, host: str, hosted: list[str], now_ns: int) -> list[Action]:
        """A host missed its heartbeat: its thread cannot be stopped from outside.

        ``on_hung = "replace"``: as a dead host (restart intensity, ``restart_host``; the shell
        abandons the stuck thread); otherwise escalate, and ``exit`` ends the process."""
        if self.cfg.on_hung == "replace":
            return self.host_dead(host, hosted, now_ns, "missed its heartbeat")
        why = f"host {host} missed its heartbeat"
        self.escalations.append((now_ns, why))
        acts = [Action("escalate", tuple(hosted), reason=why)]
        if self.cfg.on_hung == "exit":
            acts.append(Action("exit", tuple(hosted), host=host, reason=why))
        return acts

    def manual(self, actor: str) -> list[Action]:
        """An operator asked for a restart: done at once, not counted against the intensity."""
        return [self._restarting([actor], "operator")] if actor in self.status else []

    def started(self, actors: tuple[str, ...]) -> None:
        """The restart of ``actors`` finished."""
        for a in actors:
            if self.status[a]["state"] == "restarting":
                self.status[a]["state"] = "running"

    def snapshot(self) -> dict[str, Any]:
        """Return the per-actor status and the escalations."""
        return {"actors": {a: dict(s) for a, s in self.status.items()},
                "groups": {n: {"strategy": g.policy.strategy, "children": g.children,
                               "recent_restarts": len(g.restarts), "escalated": g.escalated}
                           for n, g in self.groups.items()},
                "escalations": [list(e) for e in self.escalations]}


def raised_in_on_start(exc: BaseException) -> bool:
    """Return True if ``exc`` was raised inside a core's ``on_start``."""
    return any(f.name == "on_start" for f in traceback.extract_tb(exc.__traceback__))


def with_epoch(cfg: AppConfig, epoch: int) -> AppConfig:
    """Return ``cfg`` with ``run.epoch`` replaced."""
    return msgspec.structs.replace(cfg, run=msgspec.structs.replace(cfg.run, epoch=epoch))


__all__ = ["EPOCH_STRIDE", "Action", "SupervisorCore", "raised_in_on_start", "with_epoch",
           "wrap_leg"]
