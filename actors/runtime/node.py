"""A node: one OS process hosting the groups that the placement puts on it.

``build_shells`` names and wires every actor from the config (the same wiring on every node);
``Node`` starts the hosts of one node, pins them, and stops them. Actor names come from one
``Topology`` (``actors.topology``: ``feed.<venue>``, ``book.<venue>:<sym>``, ``strategy.<pair>``,
``combo``, ``leg.<venue>``, ``risk``, ``journal``), given to every core that addresses another.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import psutil
import zmq
from loguru import logger

from actors.book import BookCore
from actors.combo.executor import ComboExecutorCore
from actors.core import Core
from actors.feed import FeedCore
from actors.leg.executor import LegExecutorCore
from actors.risk.risk import RiskCore
from actors.runtime import link_auth
from actors.runtime.feed_shell import FeedShell
from actors.runtime.freeze import FreezeWatch
from actors.runtime.host import Begin, Directory, GroupBatch, Host
from actors.runtime.journal_shell import JournalShell
from actors.runtime.shell import Shell
from actors.runtime.venue_shell import LegShell, attach_intent_wal
from actors.strategy.kinds import build_strategy, combo_pairs, pair_keys
from actors.topology import Topology
from transports.calendar import Calendar, load_calendars
from transports.clock import Clock
from transports.config.engine import AppConfig, ContractConfig, PlacementConfig
from transports.errors import ConfigError
from transports.journal.format import config_hash
from transports.journal.intent_wal import IntentWal
from transports.journal.writer import JournalWriter
from transports.latency import LatencyRecorder
from transports.wire.codec import encode

#: GIL switch interval for engine processes (see ``Node.start``).
SWITCH_INTERVAL_S = 0.0002


def fill_address(address: str, sock_dir: str) -> str:
    """Replace ``{sock}`` in an address by the run's socket directory."""
    return address.replace("{sock}", sock_dir)


def venue_calendars(cfg: AppConfig) -> dict[str, Calendar] | None:
    """Return the trading calendar of each venue that names one (``VenueConfig.calendar``)."""
    named = {v.name: v.calendar for v in cfg.venues if v.calendar}
    if not named:
        return None
    cals = load_calendars()
    missing = sorted(c for c in named.values() if c not in cals)
    if missing:
        raise ConfigError(f"$.venues[].calendar: unknown calendar(s) {missing} "
                          f"(known: {sorted(cals)})")
    return {v: cals[c] for v, c in named.items()}


def topology(cfg: AppConfig) -> Topology:
    """Return the actor names of the engine ``cfg`` describes."""
    return Topology(strategies=tuple(Topology.strategy(p.name) for p in cfg.pairs),
                    legs=tuple(Topology.leg(v.name) for v in cfg.venues if v.trading))


def param_holders(cfg: AppConfig, section: str) -> list[str]:
    """Every actor that holds the live parameters of ``section`` (``SetParams``): a pair's
    strategy; for ``risk``, risk and every executor's pre-trade checks."""
    topo = topology(cfg)
    if section == "risk":
        return [topo.risk, *topo.legs]
    kind, _, pair = section.partition(".")
    return [topo.strategy(pair)] if kind == "pairs" else []


def actor_names(cfg: AppConfig) -> list[str]:
    """Return every actor the config implies, in a stable order."""
    topo = topology(cfg)
    names = [topo.feed(v.name) for v in cfg.venues]
    names += [topo.book(c.venue, c.sym) for c in cfg.contracts]
    names += [*topo.strategies, topo.combo, *topo.legs, topo.risk, topo.journal]
    return names


def check_placement(cfg: AppConfig) -> PlacementConfig:
    """Validate that every actor is placed exactly once and every CPU exists."""
    pl = cfg.placement
    if pl is None:
        raise ConfigError("$.placement: missing")
    placed = {a for g in pl.groups for a in g.actors}
    needed = set(actor_names(cfg))
    missing = needed - placed
    if missing:
        raise ConfigError(f"$.placement.groups: actors not placed: {sorted(missing)}")
    extra = placed - needed
    if extra:
        raise ConfigError(f"$.placement.groups: unknown actors: {sorted(extra)}")
    have = os.sched_getaffinity(0)
    for i, g in enumerate(pl.groups):
        bad = [c for c in g.cpus if c not in have]
        if bad:
            raise ConfigError(f"$.placement.groups[{i}].cpus: CPU {bad[0]} is not available "
                              f"(this process may use {sorted(have)})")
    for i, n in enumerate(pl.nodes):
        bad = [c for c in n.cpus if c not in have]
        if bad:
            raise ConfigError(f"$.placement.nodes[{i}].cpus: CPU {bad[0]} is not available "
                              f"(this process may use {sorted(have)})")
    return pl


def build_shells(cfg: AppConfig, sock_dir: str, clock: Clock, latency: LatencyRecorder,
                 journal_sink: Any, only: set[str]) -> dict[str, Shell]:
    """Create the shells of the actors named in ``only``."""
    topo = topology(cfg)
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    venues = {v.name: v for v in cfg.venues}
    pair_users: dict[str, list[str]] = {}
    for p in cfg.pairs:
        for key in pair_keys(p):
            pair_users.setdefault(key, []).append(topo.strategy(p.name))
    strategies = list(topo.strategies)
    fx_keys = {p.fx for p in cfg.pairs if p.fx}
    legs = list(topo.legs)
    combo, risk = topo.combo, topo.risk
    shells: dict[str, Shell] = {}

    def want(name: str) -> bool:
        return name in only

    for v in cfg.venues:
        name = topo.feed(v.name)
        if want(name):
            syms = [c.sym for c in cfg.contracts if c.venue == v.name]
            books = {s: topo.book(v.name, s) for s in syms}
            # the venue's leg executor gets session and health for its pre-trade checks
            leg_sub = [topo.leg(v.name)] if v.trading else []
            # the leg learns the gateway's protocol version from the feed's instruments reply
            # (``VenueInfo``); a perpetual's marks go to the pairs that use it
            core = FeedCore(name, v.name, syms, books, [*strategies, *leg_sub, combo],
                            [risk, *strategies, *leg_sub],
                            v.snapshot_retry_ms, v.stale_after_ms, v.reconnect_backoff_ms,
                            v.reconnect_backoff_max_ms, v.ping_interval_ms,
                            seed=cfg.run.epoch, book_stale_after_ms=v.book_stale_after_ms,
                            info_to=leg_sub if v.trading else None,
                            mark_to={s: pair_users.get(f"{v.name}:{s}", []) for s in syms})
            shells[name] = FeedShell(core, fill_address(v.md, sock_dir),
                                     fill_address(v.ref, sock_dir), latency,
                                     fill_address(v.oe, sock_dir), v.account
                                     ).use_curve(v.curve_server_key, v.curve_client_secret)
    for key, c in contracts.items():
        name = topo.book(c.venue, c.sym)
        if want(name):
            subs = list(pair_users.get(key, []))
            if venues[c.venue].trading or key in fx_keys:
                subs.append(combo)  # it prices repairs from live books, FX included
            subs.append(risk)  # marks for PnL, margin and flatten prices
            if venues[c.venue].trading:
                subs.append(topo.leg(c.venue))  # the price band of its pre-trade checks
            shells[name] = Shell(BookCore(name, c.venue, c.sym, subs, depth=c.depth, topo=topo))
    for i, p in enumerate(cfg.pairs):
        name = topo.strategy(p.name)
        if want(name):
            shells[name] = Shell(build_strategy(name, p, contracts, combo, cfg.run.epoch, i,
                                                calendars=venue_calendars(cfg), topo=topo))
    if want(combo):
        shells[combo] = Shell(ComboExecutorCore(combo, combo_pairs(cfg),
                                                contracts, [*strategies, risk],
                                                journal=topo.journal))
    for v in cfg.venues:
        name = topo.leg(v.name)
        if v.trading and want(name):
            vc: dict[str, ContractConfig] = {c.sym: c for c in cfg.contracts if c.venue == v.name}
            core = LegExecutorCore(name, v.name, v.account, vc, cfg.run.epoch, cfg.risk,
                                   [combo, risk], v.request_timeout_ms, journal=topo.journal,
                                   unknown_bound_ms=v.unknown_bound_ms,
                                   unknown_halt_ms=v.unknown_halt_ms,
                                   ping_interval_ms=v.ping_interval_ms,
                                   oe_timeout_ms=v.oe_timeout_ms,
                                   oe_link=v.oe_reconcile,
                                   bad_frame_limit=v.bad_frame_limit,
                                   bad_frame_window_ms=v.bad_frame_window_ms,
                                   gate_to=tuple(strategies))
            shells[name] = LegShell(core, fill_address(v.oe, sock_dir), v.account, clock,
                                    latency
                                    ).use_curve(v.curve_server_key, v.curve_client_secret)
    if want(risk):
        fx_books: dict[str, tuple[str, bool]] = {}
        for p in cfg.pairs:
            if p.fx:
                fx_books[contracts[p.leg_b].ccy] = (p.fx, p.fx_invert)
        shells[risk] = Shell(RiskCore(risk, contracts, cfg.risk, [*legs, combo],
                                      strategies, fx_books, cfg.run.epoch,
                                      pairs={n: (p.leg_a, p.leg_b)
                                             for n, p in combo_pairs(cfg).items()},
                                      topo=topo))
    if want(topo.journal):
        if journal_sink is None:
            raise ConfigError("journal placed on a node without a journal file")
        shells[topo.journal] = JournalShell.build(topo.journal, journal_sink)
    return shells


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
