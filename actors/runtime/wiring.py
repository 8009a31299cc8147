"""The engine's actors as the config describes them, and their shells wired from it.

The same on every node: ``topology`` names every actor (``actors.topology``: ``feed.<venue>``,
``book.<venue>:<sym>``, ``strategy.<pair>``, ``combo``, ``leg.<venue>``, ``risk``,
``journal``), ``actor_names`` lists them in a stable order, ``check_placement`` checks that the
placement puts each on exactly one group and every CPU exists, and ``build_shells`` builds and
wires the shells (cores with their subscribers) of the actors one node hosts. ``Node``
(``actors.runtime.node``) starts the hosts of those shells and builds a restarted actor's
fresh core here too; replay and the benches build the same shells without sockets.
"""

from __future__ import annotations

import os
from typing import Any

from actors.book import BookCore
from actors.combo.executor import ComboExecutorCore
from actors.feed import FeedCore
from actors.leg.executor import LegExecutorCore
from actors.risk.risk import RiskCore
from actors.runtime.shells.feed_shell import FeedShell
from actors.runtime.shells.journal_shell import JournalShell
from actors.runtime.shells.shell import Shell
from actors.runtime.shells.venue_shell import LegShell
from actors.strategy.kinds import build_strategy, combo_pairs, pair_keys
from actors.topology import Topology
from transports.calendar import Calendar, load_calendars
from transports.clock import Clock
from transports.config.engine import AppConfig, ContractConfig, PlacementConfig
from transports.errors import ConfigError
from transports.latency import LatencyRecorder


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
                                   position_check_ms=v.position_check_ms,
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
        shells[topo.journal] = JournalShell.build(topo.journal, journal_sink, risk=topo.risk)
    return shells


__all__ = ["actor_names", "build_shells", "check_placement", "fill_address", "param_holders",
           "topology", "venue_calendars"]
