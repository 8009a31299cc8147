"""A node: one OS process hosting the groups that the placement puts on it.

``build_shells`` names and wires every actor from the config (the same wiring on every node);
``Node`` starts the hosts of one node, pins them, and stops them. Actor names:
``feed.<venue>``, ``book.<venue>:<sym>``, ``strategy.<pair>``, ``combo``, ``leg.<venue>``,
``risk``, ``journal``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import zmq
from loguru import logger

from actors.base import Shell
from actors.book import BookCore
from actors.combo_executor import ComboExecutorCore
from actors.feed import FeedCore, FeedShell
from actors.host import Begin, Directory, GroupBatch, Host
from actors.journal import JournalCore
from actors.leg_executor import LegExecutorCore
from actors.risk import RiskCore
from actors.strategy import StrategyCore
from actors.venue_shell import LegShell
from transports.clock import Clock
from transports.config import AppConfig, ContractConfig, PlacementConfig
from transports.errors import ConfigError
from transports.latency import LatencyRecorder

#: GIL switch interval for engine processes (see ``Node.start``).
SWITCH_INTERVAL_S = 0.0002


def fill_address(address: str, sock_dir: str) -> str:
    """Replace ``{sock}`` in an address by the run's socket directory."""
    return address.replace("{sock}", sock_dir)


def actor_names(cfg: AppConfig) -> list[str]:
    """Return every actor the config implies, in a stable order."""
    names = [f"feed.{v.name}" for v in cfg.venues]
    names += [f"book.{c.venue}:{c.sym}" for c in cfg.contracts]
    names += [f"strategy.{p.name}" for p in cfg.pairs]
    names += ["combo"]
    names += [f"leg.{v.name}" for v in cfg.venues if v.trading]
    names += ["risk", "journal"]
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
                 journal_sink: BinaryIO | None, only: set[str]) -> dict[str, Shell]:
    """Create the shells of the actors named in ``only``."""
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    venues = {v.name: v for v in cfg.venues}
    pair_users: dict[str, list[str]] = {}
    for p in cfg.pairs:
        for key in (p.leg_a, p.leg_b, p.fx):
            if key:
                pair_users.setdefault(key, []).append(f"strategy.{p.name}")
    strategies = [f"strategy.{p.name}" for p in cfg.pairs]
    fx_keys = {p.fx for p in cfg.pairs if p.fx}
    legs = [f"leg.{v.name}" for v in cfg.venues if v.trading]
    shells: dict[str, Shell] = {}

    def want(name: str) -> bool:
        return name in only

    for v in cfg.venues:
        name = f"feed.{v.name}"
        if want(name):
            syms = [c.sym for c in cfg.contracts if c.venue == v.name]
            books = {s: f"book.{v.name}:{s}" for s in syms}
            core = FeedCore(name, v.name, syms, books, strategies, ["risk"])
            shells[name] = FeedShell(core, fill_address(v.md, sock_dir),
                                     fill_address(v.ref, sock_dir), latency)
    for key, c in contracts.items():
        name = f"book.{key}"
        if want(name):
            subs = list(pair_users.get(key, []))
            if venues[c.venue].trading or key in fx_keys:
                subs.append("combo")  # it prices repairs from live books, FX included
            subs.append("risk")  # marks for PnL, margin and flatten prices
            shells[name] = Shell(BookCore(name, c.venue, c.sym, subs, depth=c.depth))
    for i, p in enumerate(cfg.pairs):
        name = f"strategy.{p.name}"
        if want(name):
            fx = contracts[p.fx] if p.fx else None
            shells[name] = Shell(StrategyCore(name, p, contracts[p.leg_a], contracts[p.leg_b],
                                              fx, "combo", cfg.run.epoch, i))
    if want("combo"):
        shells["combo"] = Shell(ComboExecutorCore("combo", {p.name: p for p in cfg.pairs},
                                                  contracts, [*strategies, "risk"]))
    for v in cfg.venues:
        name = f"leg.{v.name}"
        if v.trading and want(name):
            vc: dict[str, ContractConfig] = {c.sym: c for c in cfg.contracts if c.venue == v.name}
            core = LegExecutorCore(name, v.name, v.account, vc, cfg.run.epoch, cfg.risk,
                                   ["combo", "risk"], v.request_timeout_ms)
            shells[name] = LegShell(core, fill_address(v.oe, sock_dir), v.account, clock,
                                    latency)
    if want("risk"):
        fx_books: dict[str, tuple[str, bool]] = {}
        for p in cfg.pairs:
            if p.fx:
                fx_books[contracts[p.leg_b].ccy] = (p.fx, p.fx_invert)
        shells["risk"] = Shell(RiskCore("risk", contracts, cfg.risk, [*legs, "combo"],
                                        strategies, fx_books, cfg.run.epoch))
    if want("journal"):
        if journal_sink is None:
            raise ConfigError("journal placed on a node without a journal file")
        shells["journal"] = Shell(JournalCore("journal", journal_sink))
    return shells


class Node:
    """The hosts of one node, started and stopped together."""

    def __init__(self, cfg: AppConfig, node: str, ctx: zmq.Context[Any], clock: Clock,
                 sock_dir: str, run_dir: Path) -> None:
        pl = check_placement(cfg)
        if node not in {n.name for n in pl.nodes}:
            raise ConfigError(f"--node: unknown node {node!r}")
        self.cfg = cfg
        self.name = node
        self.ctx = ctx
        self.clock = clock
        self.latency = LatencyRecorder()
        self.run_dir = run_dir
        groups = [g for g in pl.groups if g.node == node]
        local = {a for g in groups for a in g.actors}
        self.journal_path: Path | None = None
        sink = None
        if "journal" in local:
            # the exact config of the run, so replay and audit rebuild the same cores
            (run_dir / "config.json").write_bytes(msgspec.json.encode(cfg))
            self.journal_path = run_dir / "journal.cmcj"
            sink = open(self.journal_path, "ab")  # noqa: SIM115 - closed in stop()
        self._sink = sink
        self.shells = build_shells(cfg, sock_dir, clock, self.latency, sink, local)
        directory = Directory(
            node,
            {a: g.name for g in pl.groups for a in g.actors},
            {g.name: g.node for g in pl.groups},
            {n.name: fill_address(n.address, sock_dir) for n in pl.nodes},
        )
        node_cpus = {n.name: n.cpus for n in pl.nodes}[node]
        if node_cpus:
            os.sched_setaffinity(0, set(node_cpus))
        self.directory = directory
        self.hosts: dict[str, Any] = {}
        self._host_objs: dict[str, Host] = {}
        self._groups = groups

    def start(self) -> None:
        """Start every host, then let the hosted actors begin (sockets open first)."""
        # A thread waking from poll must take the GIL back from whichever thread runs Python;
        # at the default 5 ms switch interval that wait is the whole p99 of a tick. 200 µs
        # bounds it at a small cost in switching.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        for g in self._groups:
            shells = [self.shells[a] for a in g.actors]
            ref = Host.start(g.name, shells, self.directory, self.clock, self.ctx,
                             g.cpus or None)
            self.directory.refs[g.name] = ref
            self.hosts[g.name] = ref
        for ref in self.hosts.values():
            # answered only after on_start ran: the host's sockets are open
            ref.proxy().host_counters().get(timeout=10)
        for ref in self.hosts.values():
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
        for ref in list(self.hosts.values()):
            try:
                ref.stop(timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                logger.warning("stopping a host failed: {}", exc)
        if self._sink is not None:
            self._sink.close()
