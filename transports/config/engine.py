"""Typed, validated configuration loaded from ``conf/*.toml``.

Every section is a frozen msgspec Struct with ``forbid_unknown_fields``: an unknown key, a wrong
type, a negative limit or a NaN is a ``ConfigError`` whose message names the field path and the
value. Address strings may contain ``{sock}``, replaced by the run's socket directory.

This module is the loader: the root section (``AppConfig``), the run-wide one, and the checks
that cross sections (a contract's venue, a pair's legs, a venue's gateway source). The sections
live beside it by what they describe and are re-exported here, so ``from
transports.config.engine import X`` names every one: ``market`` (venues, contracts),
``trading`` (pairs, risk limits, live parameters), ``placement`` (nodes, groups), ``ops``
(launch, supervision, admin, metrics), ``sim``, ``gateways``, ``strategies``, ``ha``, ``alerts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import msgspec

from transports.config.alerts import AlertsConfig, check_alerts
from transports.config.base import (
    NonNegInt,
    PosFloat,
    Section,
    check_finite,
    explain_validation_error,
)
from transports.config.gateways import FakeConfig
from transports.config.ha import HaConfig, check_ha
from transports.config.market import ContractConfig, VenueConfig
from transports.config.ops import AdminConfig, LaunchConfig, MetricsConfig, SupervisionConfig
from transports.config.placement import GroupConfig, NodeConfig, PlacementConfig, check_placement
from transports.config.sim import SimConfig
from transports.config.trading import (
    KIND_SECTIONS,
    LIVE_PAIR_FIELDS,
    LIVE_RISK_FIELDS,
    PairConfig,
    RiskConfig,
    check_kind,
    live_pair_fields,
    live_update,
    pair_value,
)
from transports.config.units import resolve_contracts, resolve_pairs
from transports.errors import ConfigError


class RunConfig(Section):
    """Run-wide settings."""

    epoch: NonNegInt = 1  #: client order ids embed it so a restart never reuses an id
    duration_s: PosFloat = 30.0
    out_dir: str = "runs"
    log_level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: fdatasync each order intent before the order leaves (true); false writes intents without
    #: syncing them: they survive a crash of the process, not of the machine
    durable_intents: bool = True


class AppConfig(Section):
    """The whole configuration."""

    run: RunConfig = RunConfig()
    venues: list[VenueConfig] = []
    contracts: list[ContractConfig] = []
    pairs: list[PairConfig] = []
    risk: RiskConfig = RiskConfig()
    sim: SimConfig = SimConfig()
    placement: PlacementConfig | None = None
    launch: LaunchConfig = LaunchConfig()
    supervision: SupervisionConfig = SupervisionConfig()
    admin: AdminConfig = AdminConfig()
    metrics: MetricsConfig = MetricsConfig()
    fakes: list[FakeConfig] = []
    #: hot standby (issue 16): NATS servers, the lease and replication; None = one engine,
    #: no NATS needed
    ha: HaConfig | None = None
    alerts: AlertsConfig = AlertsConfig()  #: webhooks and e-mail for what a desk must know now


def _validate(cfg: AppConfig, unit_factor_given: set[int] | None = None) -> AppConfig:
    check_finite(cfg, "$")
    venues = {v.name for v in cfg.venues}
    keys = set()
    for i, c in enumerate(cfg.contracts):
        if c.venue not in venues:
            raise ConfigError(f"$.contracts[{i}].venue: unknown venue {c.venue!r}")
        try:
            if Decimal(c.tick) <= 0:
                raise ValueError
        except (ArithmeticError, ValueError):
            raise ConfigError(
                f"$.contracts[{i}].tick: not a positive decimal: {c.tick!r}") from None
        keys.add(f"{c.venue}:{c.sym}")
    for i, p in enumerate(cfg.pairs):
        for fld in ("leg_a", "leg_b") + (("fx",) if p.fx else ()):
            if getattr(p, fld) not in keys:
                raise ConfigError(f"$.pairs[{i}].{fld}: unknown contract {getattr(p, fld)!r}")
        if p.z_exit >= p.z_entry and p.z_entry > 0:
            raise ConfigError(f"$.pairs[{i}].z_exit: {p.z_exit} must be below z_entry {p.z_entry}")
        check_kind(p, f"$.pairs[{i}]", keys)
    fakes = {f.exchange for f in cfg.fakes}
    for i, v in enumerate(cfg.venues):
        gws = [g for g in ("ccxt", "paper", "ctp", "ib") if getattr(v, g, None) is not None]
        if len(gws) > 1:
            raise ConfigError(f"$.venues[{i}]: a venue has one gateway, not {' and '.join(gws)}")
        if v.ccxt is not None and v.ccxt.fake and v.ccxt.fake not in fakes:
            raise ConfigError(f"$.venues[{i}].ccxt.fake: no [[fakes]] entry for {v.ccxt.fake!r}")
        if v.paper is not None and v.paper.md_from not in venues:
            raise ConfigError(f"$.venues[{i}].paper.md_from: unknown venue {v.paper.md_from!r}")
    for i, f in enumerate(cfg.fakes):
        for j, m in enumerate(f.markets):
            if m.venue not in venues:
                raise ConfigError(f"$.fakes[{i}].markets[{j}].venue: unknown venue {m.venue!r}")
    if cfg.ha is not None:
        check_ha(cfg.ha)
    check_alerts(cfg.alerts)
    if cfg.placement is not None:
        check_placement(cfg.placement)
    return _derive_units(cfg, unit_factor_given)


def _derive_units(cfg: AppConfig, unit_factor_given: set[int] | None) -> AppConfig:
    """``base_per_lot`` and ``unit_factor`` derived from the units where not given, and checked
    where given (``transports.config.units``); ``unit_factor_given`` is None for a config built
    in code (then a factor other than 1.0 counts as given)."""
    contracts = resolve_contracts(cfg.contracts)
    by_key = {f"{c.venue}:{c.sym}": c for c in contracts}
    pairs = resolve_pairs(cfg.pairs, by_key, unit_factor_given)
    if contracts == cfg.contracts and pairs == cfg.pairs:
        return cfg
    return msgspec.structs.replace(cfg, contracts=contracts, pairs=pairs)


def _explain(exc: msgspec.ValidationError, raw: bytes) -> str:
    """msgspec's error with the closest known key or the bad value (``base``'s explainer)."""
    return explain_validation_error(exc, AppConfig, msgspec.toml.decode(raw))


def _given_keys(raw: bytes) -> set[int]:
    """The pairs of the file that set ``unit_factor`` themselves (an explicit 1.0 is checked
    against the units, not taken for "not given")."""
    pairs = msgspec.toml.decode(raw).get("pairs", [])
    return {i for i, p in enumerate(pairs) if "unit_factor" in p}


def load_config_bytes(raw: bytes, source: str = "<config>") -> AppConfig:
    """Decode and validate TOML bytes; errors name the field path and the value."""
    try:
        cfg = msgspec.toml.decode(raw, type=AppConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_explain(exc, raw)}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return _validate(cfg, _given_keys(raw))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_config(path: str | Path | None = None) -> AppConfig:
    """Load ``path``, or the embedded ``conf/demo.toml`` when ``path`` is None."""
    if path is None:
        raw = resources.files("conf").joinpath("demo.toml").read_bytes()
        return load_config_bytes(raw, "conf/demo.toml")
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    return load_config_bytes(p.read_bytes(), str(p))


def with_overrides(cfg: AppConfig, **sections: object) -> AppConfig:
    """Return a copy of ``cfg`` with whole sections replaced (validated again)."""
    return _validate(msgspec.structs.replace(cfg, **sections))


def with_params(cfg: AppConfig, section: str, values: Mapping[str, Any]) -> AppConfig:
    """Return ``cfg`` with a live change applied (``section`` ``"pairs.<pair>"`` or ``"risk"``),
    validated again as a whole; ``ConfigError`` names the field otherwise."""
    if section == "risk":
        return with_overrides(cfg, risk=live_update(cfg.risk, values, section))
    kind, _, name = section.partition(".")
    for i, p in enumerate(cfg.pairs):
        if kind == "pairs" and p.name == name:
            pairs = list(cfg.pairs)
            pairs[i] = live_update(p, values, section)
            return with_overrides(cfg, pairs=pairs)
    if kind == "pairs":
        raise ConfigError(f"{section}: unknown pair {name!r}")
    raise ConfigError(f"unknown section {section!r} (pairs.<pair> or risk)")


def live_params(cfg: AppConfig) -> dict[str, dict[str, Any]]:
    """Every live parameter's current value, by section (for a node that starts later)."""
    out = {f"pairs.{p.name}": {f: pair_value(p, f) for f in live_pair_fields(p)}
           for p in cfg.pairs}
    out["risk"] = {f: getattr(cfg.risk, f) for f in sorted(LIVE_RISK_FIELDS)}
    return out


def tick_decimal(tick: str) -> Decimal:
    """Return a contract's tick size as a Decimal."""
    return Decimal(tick)


__all__ = ["KIND_SECTIONS", "LIVE_PAIR_FIELDS", "LIVE_RISK_FIELDS", "AppConfig", "ContractConfig",
           "GroupConfig", "NodeConfig", "PairConfig", "PlacementConfig", "RiskConfig", "RunConfig",
           "VenueConfig", "live_pair_fields", "live_params", "live_update", "load_config",
           "load_config_bytes", "pair_value", "tick_decimal", "with_overrides", "with_params"]
