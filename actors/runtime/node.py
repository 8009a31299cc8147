"""A node: one OS process hosting the groups that the placement puts on it.

``Node`` starts the hosts of one node, pins them, and stops them; supervision restarts a group
through it, and ``send`` reaches an actor on this node or another. The shells it hosts come
from ``actors.runtime.wiring`` (``build_shells``: the same wiring on every node; the actor
names, the placement check and the other helpers there are re-exported here for their many
importers).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import psutil
import zmq
from loguru import logger

from actors.core import Core
from actors.runtime import link_auth
from actors.runtime.freeze import FreezeWatch
from actors.runtime.host.host import Begin, Directory, GroupBatch, Host
from actors.runtime.shells.venue_shell import LegShell, attach_intent_wal
from actors.runtime.wiring import (
    actor_names,
    build_shells,
    check_placement,
    fill_address,
    param_holders,
    topology,
    venue_calendars,
)
from transports.clock import Clock
from transports.config.engine import AppConfig
from transports.errors import ConfigError
from transports.journal.format import config_hash
from transports.journal.intent_wal import IntentWal
from transports.journal.writer import JournalWriter
from transports.latency import LatencyRecorder
from transports.wire.codec import encode

#: GIL switch interval for engine processes (see ``Node.start``).
SWITCH_INTERVAL_S = 0.0002


class Node:
    """The hosts of one node, started and stopped together."""

    def __init__(self, cfg: AppConfig, node: str, ctx: zmq.Context[Any], clock: Clock,
                 sock_dir: str, run_dir: Path, repair: bool = False,
                 journal_writer: JournalWriter | None = None,
                 intent_wal: IntentWal | None = None) -> None:
        """``journal_writer`` and ``intent_wal``: already open on this run directory's files
        (a hot standby hands over the files it kept), else opened (and recovered) here."""
        pl = check_placement(cfg)
        if node not in {n.name for n in pl.nodes}:
            raise ConfigError(f"--node: unknown node {node!r}")
        self.cfg = cfg
        self.name = node
        self.sock_dir = sock_dir
        self._send_lock = threading.Lock()  #: guards ``_send_socks`` (see ``send``)
        self._send_socks: dict[str, zmq.Socket[bytes]] = {}
        self.ctx = ctx
        self.clock = clock
        self.latency = LatencyRecorder()
        self.run_dir = run_dir
        groups = [g for g in pl.groups if g.node == node]
        local = {a for g in groups for a in g.actors}
        self.journal_path: Path | None = None
        sink = None
        cfg_json = msgspec.json.encode(cfg)
        if "journal" in local:
            # the exact config of the run, so replay and audit rebuild the same cores
            (run_dir / "config.json").write_bytes(cfg_json)
            self.journal_path = run_dir / "journal.cmcj"
            sink = journal_writer or JournalWriter.open(
                self.journal_path, run_id=run_dir.name, cfg_hash=config_hash(cfg_json),
                node=node, repair=repair)
        self._sink = sink
        self.shells = build_shells(cfg, sock_dir, clock, self.latency, sink, local)
        # order intents are made durable before they leave: one WAL per node with executors
        self.intent_wal: IntentWal | None = None
        if any(isinstance(s, LegShell) for s in self.shells.values()):
            self.intent_wal = intent_wal or IntentWal(run_dir / f"intents-{node}.cmcw",
                                                      run_id=run_dir.name, node=node)
            attach_intent_wal(self.shells.values(), self.intent_wal)
            self.intent_wal.durable = cfg.run.durable_intents
        directory = Directory(
            node,
            {a: g.name for g in pl.groups for a in g.actors},
            {g.name: g.node for g in pl.groups},
            {n.name: fill_address(n.address, sock_dir) for n in pl.nodes},
        )
        node_cpus = {n.name: n.cpus for n in pl.nodes}[node]
        if node_cpus:
            psutil.Process().cpu_affinity(list(node_cpus))  # the node's process, every thread
        self.directory = directory
        #: notices the node's own freezes; every host reads it (``actors.runtime.freeze``)
        self.freeze = FreezeWatch(clock, cfg.supervision.freeze_detect_ms * 1_000_000)
        self.hosts: dict[str, Any] = {}
        self._host_objs: dict[str, Host] = {}
        self._groups = groups

    def start(self, on_error: Callable[[str, BaseException], None] | None = None,
              rebuilt: dict[str, dict[str, tuple[Any, list[Any]]]] | None = None,
              before: list[tuple[str, Any]] | None = None) -> None:
        """Start every host, then let the hosted actors begin (sockets open first).

        ``on_error(actor, exc)`` is called from a host's thread when a handler raises (the
        Supervisor's hook); it must not block. ``rebuilt`` (group -> actor -> (core, pending
        timers), ``Rebuilds.at_node_start``): those groups start the cores rebuilt from the
        journal through ``Host.restart_cores`` (a ``Restart("rebuild")`` marker, then
        ``Start``, journaled; timers re-armed), right after their host started and before any
        other host begins, each after the messages of ``before`` for its actors (``InFlight``)
        were delivered.
        """
        rebuilt = rebuilt or {}
        starting: list[tuple[str, Any]] = []
        # A thread waking from poll must take the GIL back from whichever thread runs Python;
        # at the default 5 ms switch interval that wait is the whole p99 of a tick. 200 µs
        # bounds it at a small cost in switching.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.freeze.start()
        # the journal's host first: a rebuilt group journals its restart markers and ``Start``s
        # the moment its host starts (a batch for a host not started yet would be unroutable,
        # and ``cmc replay --verify`` would see fresh cores where the run adopted rebuilt ones)
        journal_first = sorted(self._groups, key=lambda g: "journal" not in g.actors)
        for g in journal_first:
            shells = [self.shells[a] for a in g.actors]
            got = rebuilt.get(g.name)
            for a, (core, _timers) in (got or {}).items():
                self.shells[a].core = core  # it handles whatever arrives before its start
            ref = Host.start(g.name, shells, self.directory, self.clock, self.ctx,
                             g.cpus or None, on_error=on_error, epoch=self.cfg.run.epoch,
                             freeze=self.freeze, spin_us=g.spin_us)
            self.directory.refs[g.name] = ref
            self.hosts[g.name] = ref
            if got:
                # queued at once, so they come before (almost) anything a socket brings
                for dest, msg in before or ():
                    if dest in got:
                        ref.tell(GroupBatch([(dest, msg)]))
                cores = {a: c for a, (c, _t) in got.items()}
                starting.append((g.name, ref.proxy().restart_cores(
                    cores, self.cfg.run.epoch, "node start: rebuilt from the journal",
                    lambda _markers, got=got: got)))
        for ref in self.hosts.values():
            # answered only after on_start ran: the host's sockets are open
            ref.proxy().host_counters().get(timeout=10)
        for group, fut in starting:
            res = fut.get(timeout=30)
            if res["mode"] != "rebuild":
                logger.error("node {}: group {} started fresh cores: {}", self.name, group,
                             res["fallback"])
            for actor, err in res["errors"].items():
                if on_error is not None:
                    on_error(actor, RuntimeError(f"start of the rebuilt core: {err}"))
        for name, ref in self.hosts.items():
            if name not in rebuilt:
                ref.tell(Begin())
        logger.info("node {} started groups {}", self.name, list(self.hosts))

    def host_of(self, actor: str) -> Any:
        """Return the actor ref of the host running ``actor`` on this node."""
        return self.hosts[self.directory.actor_group[actor]]

    def query(self, actor: str, timeout: float = 5.0) -> dict[str, Any]:
        """Ask an actor's host for the actor's snapshot."""
        return self.host_of(actor).proxy().query(actor).get(timeout=timeout)  # type: ignore[no-any-return]

    def tell(self, actor: str, msg: Any) -> None:
        """Deliver an internal message to a local actor."""
        self.host_of(actor).tell(GroupBatch([(actor, msg)]))

    def host_counters(self, timeout: float = 5.0) -> dict[str, int]:
        """Return the summed counters of every host (handler errors, unroutable messages)."""
        total: dict[str, int] = {}
        for ref in self.hosts.values():
            for k, v in ref.proxy().host_counters().get(timeout=timeout).items():
                total[k] = total.get(k, 0) + v
        return total

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every host (each flushes its actors), then close the journal."""
        self.freeze.stop()
        # the journal's host last (it started first): every other host journals its actors'
        # ``Stop`` on the way out, and a relaunch reads them to start fresh cores
        last = [g.name for g in self._groups if "journal" in g.actors]
        order = sorted(self.hosts, key=lambda name: name in last)
        for ref in [self.hosts[name] for name in order]:
            try:
                ref.stop(timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                logger.warning("stopping a host failed: {}", exc)
        if self._sink is not None:
            self._sink.close()
        if self.intent_wal is not None:
            self.intent_wal.close()

    # --- supervision and restart (actors.runtime.supervisor, cmc launch) ----------------------

    def group_of(self, actor: str) -> str:
        """Return the group (host) name of ``actor``."""
        return self.directory.actor_group[actor]

    def is_local(self, actor: str) -> bool:
        """Return True if ``actor`` runs on this node."""
        return actor in self.shells

    def fresh_core(self, actor: str, cfg: AppConfig | None = None) -> Core:
        """Build a new core for a local ``actor`` (``cfg`` may carry a bumped ``run.epoch``)."""
        shells = build_shells(cfg or self.cfg, self.sock_dir, self.clock, self.latency,
                              self._sink, {actor})
        return shells[actor].core

    def restart_group(self, group: str, cfg: AppConfig | None = None,
                      on_error: Callable[[str, BaseException], None] | None = None,
                      timeout: float = 10.0,
                      wrap: Callable[[str, Core], Core] | None = None) -> Any:
        """Start a new host for ``group`` (its old host died): fresh shells and sockets, Begin.

        ``wrap(actor, core)`` may replace each fresh core before it starts. Returns the new
        host's actor ref; other hosts reach it through the shared directory.
        """
        old = self.hosts.get(group)
        if old is not None and old.is_alive():
            old.stop(timeout=timeout)
        g = next(x for x in self._groups if x.name == group)
        shells = build_shells(cfg or self.cfg, self.sock_dir, self.clock, self.latency,
                              self._sink, set(g.actors))
        if self.intent_wal is not None:  # the new executors' intents are durable too
            attach_intent_wal(shells.values(), self.intent_wal)
        if wrap is not None:
            for a, sh in shells.items():
                sh.core = wrap(a, sh.core)
        self.shells.update(shells)
        ref = Host.start(g.name, [shells[a] for a in g.actors], self.directory, self.clock,
                         self.ctx, g.cpus or None, on_error=on_error, freeze=self.freeze,
                         spin_us=g.spin_us)
        ref.proxy().host_counters().get(timeout=timeout)  # its sockets are open
        self.directory.refs[group] = ref
        self.hosts[group] = ref
        ref.tell(Begin())
        return ref

    def send(self, actor: str, msg: Any) -> None:
        """Deliver ``msg`` to ``actor`` on this node or, over ZeroMQ, on another node."""
        if actor in self.shells:
            self.tell(actor, msg)
            return
        group = self.directory.actor_group.get(actor)
        if group is None:
            raise KeyError(f"unknown actor {actor!r}")
        node = self.directory.group_node[group]
        # any thread may call this: one PUSH socket per node, used under a lock
        with self._send_lock:
            sock = self._send_socks.get(node)
            if sock is None:
                sock = link_auth.push_to(self.ctx, node, self.directory.node_address[node])
                self._send_socks[node] = sock
            sock.send(encode([(actor, msg)]))

    def close_send_sockets(self) -> None:
        """Close the sockets ``send`` opened (call before destroying the context)."""
        with self._send_lock:
            for sock in self._send_socks.values():
                sock.close(linger=200)
            self._send_socks.clear()


__all__ = ["SWITCH_INTERVAL_S", "Node", "actor_names", "build_shells", "check_placement",
           "fill_address", "param_holders", "topology", "venue_calendars"]
