"""Which strategy core a pair runs, which contracts it listens to, and the pairs the
ComboExecutor and risk route combos by.

Every kind is a pure core driven by the same dispatcher (``docs/strategies.md``):

=========  ==========================================  ==================================
kind       core                                        module
=========  ==========================================  ==================================
parity     spread against parity (edge/zscore/ratio)   ``actors.strategy.strategy``
basis      cash-and-carry (期现)                         ``actors.strategy.basis``
funding    spot vs perpetual funding (资金费率)           ``actors.strategy.funding``
multi      one asset across N venues (搬砖)               ``actors.strategy.multi``
stat       cointegrated pair, Kalman hedge ratio       ``actors.strategy.stat``
=========  ==========================================  ==================================

Every core takes ``(name, pair, contracts, combo, epoch, pair_index, calendars=, topo=)``
(``contracts``: ``venue:sym`` -> ``ContractConfig``, every contract of the config).
"""

from __future__ import annotations

import importlib

import msgspec

from actors.core import Core
from actors.topology import DEFAULT, Topology
from transports.calendar import Calendar
from transports.config.engine import AppConfig, ContractConfig, PairConfig

_MODULES = {"basis": ("actors.strategy.basis", "BasisCore"),
            "funding": ("actors.strategy.funding", "FundingCore"),
            "multi": ("actors.strategy.multi", "MultiVenueCore"),
            "stat": ("actors.strategy.stat", "StatPairCore")}


def pair_keys(p: PairConfig) -> list[str]:
    """Every contract (``venue:sym``) the strategy of ``p`` reads, in a stable order."""
    keys = [p.leg_a, p.leg_b]
    if p.fx:
        keys.append(p.fx)
    if p.multi is not None:
        keys += [k for k in p.multi.legs if k not in keys]
    if p.basis is not None and p.basis.rate_from and p.basis.rate_from not in keys:
        keys.append(p.basis.rate_from)
    return keys


def sub_pair_name(pair: str, i: int, j: int) -> str:
    """The routing name of a multi-venue pair's combos between ``multi.legs[i]`` (leg A: the
    direction +1 buys it) and ``multi.legs[j]`` (leg B)."""
    return f"{pair}/{i}-{j}"


def combo_pairs(cfg: AppConfig) -> dict[str, PairConfig]:
    """The pairs combos are routed by: every configured pair, and for a multi-venue pair one
    pair per ordered venue pair (``sub_pair_name``), its legs those two contracts, its other
    settings (legging, chase, budgets) the multi pair's. The ComboExecutor and risk see only
    two-legged pairs."""
    out: dict[str, PairConfig] = {}
    for p in cfg.pairs:
        out[p.name] = p
        if p.multi is not None:
            legs = p.multi.legs
            for i in range(len(legs)):
                for j in range(len(legs)):
                    if i != j:
                        name = sub_pair_name(p.name, i, j)
                        out[name] = msgspec.structs.replace(p, name=name, leg_a=legs[i],
                                                            leg_b=legs[j])
    return out


def build_strategy(name: str, pair: PairConfig, contracts: dict[str, ContractConfig],
                   combo: str, epoch: int, pair_index: int, *,
                   calendars: dict[str, Calendar] | None = None,
                   topo: Topology = DEFAULT) -> Core:
    """The core of ``pair``'s kind."""
    if pair.kind == "parity":
        from actors.strategy.strategy import StrategyCore

        fx = contracts[pair.fx] if pair.fx else None
        return StrategyCore(name, pair, contracts[pair.leg_a], contracts[pair.leg_b], fx,
                            combo, epoch, pair_index, calendars=calendars, topo=topo)
    mod, cls = _MODULES[pair.kind]
    core_cls = getattr(importlib.import_module(mod), cls)
    return core_cls(name, pair, contracts, combo, epoch, pair_index,  # type: ignore[no-any-return]
                    calendars=calendars, topo=topo)


__all__ = ["build_strategy", "combo_pairs", "pair_keys", "sub_pair_name"]
