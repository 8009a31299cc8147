"""Typed, validated configuration loaded from ``conf/*.toml``.

Every section is a frozen msgspec Struct with ``forbid_unknown_fields``: an unknown key, a wrong
type, a negative limit or a NaN is a ``ConfigError`` whose message names the field path and the
value. Address strings may contain ``{sock}``, replaced by the run's socket directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from transports.config.alerts import AlertsConfig, check_alerts
from transports.config.base import (
    NonNegFloat,
    NonNegInt,
    PosFloat,
    PosInt,
    Section,
    check_finite,
    explain_validation_error,
)
from transports.config.gateways import (
    CcxtVenueConfig,
    CtpVenueConfig,
    FakeConfig,
    IbVenueConfig,
    PaperVenueConfig,
)
from transports.config.ha import HaConfig, check_ha
from transports.config.ops import AdminConfig, LaunchConfig, MetricsConfig, SupervisionConfig
from transports.config.sim import SimConfig
from transports.config.strategies import BasisConfig, FundingConfig, MultiConfig, StatConfig
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


class VenueConfig(Section):
    """One venue gateway: the three socket addresses and the account on it."""

    name: str
    md: str
    ref: str
    oe: str
    account: str = "acct"
    request_timeout_ms: PosInt = 2000
    trading: bool = True  #: False for rate-only feeds (FX)
    stale_after_ms: PosInt = 1500  #: no heartbeat this long -> STALE, books unusable
    reconnect_backoff_ms: PosInt = 200  #: first reconnect delay; doubles, with jitter
    reconnect_backoff_max_ms: PosInt = 5000
    snapshot_retry_ms: PosInt = 1000  #: a snapshot not answered this long is asked again
    book_stale_after_ms: NonNegInt = 0  #: a book without updates this long is unusable; 0 = off
    ping_interval_ms: PosInt = 1000  #: clock calibration pings on the oe socket
    calendar: str = ""  #: name in conf/calendars.toml; empty = always open
    unknown_bound_ms: PosInt = 3000  #: "not found" never means rejected before this, from send
    unknown_halt_ms: PosInt = 15000  #: an outcome still unknown this long -> halt via risk
    oe_timeout_ms: PosInt = 1500  #: no pong on the leg's oe this long -> disconnected
    #: the leg pings its oe and reconciles (open orders, trades, positions) on start and after a
    #: disconnect; off by default until the what-if replay's venue answers ping/open_orders/...
    oe_reconcile: bool = True  #: ping the venue; reconcile on start and after a disconnect
    #: undecodable order-entry frames: each one is alarmed and makes the venue uncertain; this
    #: many within ``bad_frame_window_ms`` also asks risk for REDUCING (``Reduce``)
    bad_frame_limit: PosInt = 3
    bad_frame_window_ms: PosInt = 10_000
    #: the gateway that serves this venue: a ccxt exchange account, paper fills on another
    #: venue's data, or (neither) the built-in simulator
    ccxt: CcxtVenueConfig | None = None
    paper: PaperVenueConfig | None = None
    ctp: CtpVenueConfig | None = None  #: a CTP futures account (``cmc gateway ctp``)
    ib: IbVenueConfig | None = None  #: an IB account via TWS (``cmc gateway ib``)
    #: CURVE on this venue's md/ref/oe links (``transports.venues.curve``; off when empty):
    #: the gateway's public key file (``server.key`` of ``cmc admin keygen``). The engine
    #: then checks the gateway's identity and encrypts every frame; the gateway must serve
    #: CURVE (``cmc gateway ... --curve-secret FILE --curve-allow DIR``)
    curve_server_key: str = ""
    #: the engine's own key pair for this venue (a ``.key_secret`` file whose public half is in
    #: the gateway's allowlist). Per venue, not per launch: each venue's key is found, checked
    #: and rotated with the venue's other settings, gateways run by different parties can be
    #: given different engine keys, and every user of a venue's sockets (feed, leg, the
    #: instruments check, a paper gateway on it) has it from the venue's entry alone
    curve_client_secret: str = ""

    def __post_init__(self) -> None:
        if self.curve_server_key and not self.curve_client_secret:
            raise ValueError("curve_server_key is set but curve_client_secret is empty: a CURVE "
                             "venue link needs the engine's key pair too (curve_client_secret = "
                             "a .key_secret file whose public key the gateway allowlists)")
        if self.curve_client_secret and not self.curve_server_key:
            raise ValueError("curve_client_secret is set but curve_server_key is empty: CURVE "
                             "needs the gateway's public key to check whom it talks to")

    @property
    def gateway(self) -> str:
        """``ccxt``, ``paper``, ``ctp``, ``ib`` or ``sim``."""
        for name in ("ccxt", "paper", "ctp", "ib"):
            if getattr(self, name) is not None:
                return name
        return "sim"


class ContractConfig(Section):
    """One instrument as the engine trades it; base units are the underlying's (grams for gold)."""

    venue: str
    sym: str
    tick: str  #: decimal string, e.g. "0.02"
    multiplier: PosFloat  #: units of ``unit`` per lot (1000 g, 100 oz)
    unit: str
    ccy: str
    underlying: str = ""  #: exposure bucket; empty for FX rates
    #: underlying base units (grams) per lot; 0 = derived from ``unit`` and ``multiplier`` with
    #: pint where the units are physical (``transports.config.units``); a given value that
    #: disagrees with the units is an error
    base_per_lot: NonNegFloat = 0.0
    fee_per_lot: NonNegFloat = 0.0  #: in ``ccy``
    max_lots_per_order: PosInt = 100
    max_position_lots: PosInt = 1000
    depth: PosInt = 20  #: levels kept in the book
    margin_rate: NonNegFloat = 0.1  #: initial margin as a fraction of notional
    #: futures offsets (CTP): every order says open or close; the LegExecutor decides which
    #: from its two-sided positions (``actors.leg.offsets``)
    offsets: bool = False
    close_today: bool = False  #: closing today's lots is its own offset (SHFE, INE)
    #: SHFE/INE close-today fees: "close" closes today's lots; "open_opposite" never does and
    #: opens the other side instead
    close_today_policy: Literal["close", "open_opposite"] = "close"
    #: today's lots become yesterday's every day at this UTC time (15:00 China = "07:00")...
    trading_day_roll_utc: Annotated[str, msgspec.Meta(pattern=r"^\d\d:\d\d$")] = "07:00"
    #: ...or, when > 0, every this many seconds of the epoch (demos: yesterday's lots exist)
    trading_day_roll_s: NonNegInt = 0
    #: last trading day (ISO date, "2027-03-19"), for futures: cash-and-carry prices carry to it
    #: and stops entering ``no_entry_days`` before it; "" = no expiry (spot, perpetual)
    expiry: Annotated[str, msgspec.Meta(pattern=r"^(\d{4}-\d\d-\d\d)?$")] = ""


class PairConfig(Section):
    """A cross-market pair: leg A domestic, leg B foreign, converted by ``fx`` and
    ``unit_factor``."""

    name: str
    leg_a: str  #: "venue:sym"
    leg_b: str
    fx: str = ""  #: "venue:sym" of the rate converting B's currency into A's; empty = 1.0
    fx_invert: bool = False
    #: B's unit into A's unit, e.g. 1/31.1034768 (ozt -> g); derived from the legs' units
    #: when not given, checked against them when given (0.1%)
    unit_factor: PosFloat = 1.0
    import_tax: NonNegFloat = 0.0
    premium: float = 0.0  #: added to parity, in A's price units
    max_clip_lots_a: PosInt = 30
    max_clip_lots_b: PosInt = 30
    max_spread_position: PosInt = 1  #: in clips
    safety_factor: Annotated[float, msgspec.Meta(ge=1.0)] = 1.2
    slippage_ticks: NonNegFloat = 1.0  #: expected slippage per leg, in each leg's ticks
    max_slippage_ticks: NonNegInt = 3  #: IOC limit = touch +/- this
    z_window: Annotated[int, msgspec.Meta(ge=10)] = 2000
    z_entry: NonNegFloat = 2.0
    z_exit: NonNegFloat = 0.5
    min_edge: NonNegFloat = 0.0  #: extra edge required, in A's price units
    fair_basis: float | None = None  #: fixed basis; None = rolling mean of the spread
    max_quote_skew_ms: PosInt = 500
    #: no combo opens on a quote older than this, in our time (venue time minus the venue's
    #: clock offset): a node that was frozen or fell behind must not trade on the past
    max_quote_age_ms: PosInt = 2000
    legging_mode: Literal["concurrent", "lead"] = "concurrent"
    chase_ticks: NonNegInt = 2
    chase_tries: NonNegInt = 3
    leg_timeout_ms: PosInt = 1000
    hedge_budget_ms: PosInt = 5000
    #: no new open this long after a failed combo; doubles per consecutive failure up to
    #: 30 s, reset by a complete or repaired one; 0 = off
    retry_cooldown_ms: Annotated[int, msgspec.Meta(ge=0, le=30_000)] = 1000
    # --- the strategy kind and its trigger (docs/strategies.md) ---------------------------------
    #: parity (spread against parity), basis (cash-and-carry), funding (spot vs perpetual),
    #: multi (one asset across N venues), stat (cointegrated pair, Kalman hedge ratio)
    kind: Literal["parity", "basis", "funding", "multi", "stat"] = "parity"
    #: when a parity pair opens: ``edge`` (the executable edge for the clip beats
    #: cost x safety_factor + min_edge; no statistical gate), ``zscore`` (that and |z| beyond
    #: z_entry), ``ratio`` (price over parity against ``ratio_entry_bps``)
    trigger: Literal["edge", "zscore", "ratio"] = "zscore"
    z_filter: NonNegFloat = 0.0  #: edge/ratio triggers: also need |z| >= this; 0 = no filter
    ratio_entry_bps: NonNegFloat = 10.0  #: ratio trigger: |A / parity(B) / fair - 1| to open
    ratio_exit_bps: NonNegFloat = 2.0  #: ratio trigger: back inside this = reverted
    #: conditions: both touches show at least this many lots (0 = the clip itself)
    min_touch_lots: NonNegInt = 0
    #: exit rule: ``revert`` (back to fair: z inside z_exit, or the edge inside ``exit_edge``),
    #: ``take_profit`` (the spread moved ``take_profit`` in our favour since entry)
    exit_rule: Literal["revert", "take_profit"] = "revert"
    exit_edge: NonNegFloat = 0.0  #: edge trigger: reverted when |deviation| <= this
    take_profit: NonNegFloat = 0.0  #: A's price units; with exit_rule = take_profit
    time_stop_s: NonNegFloat = 0.0  #: close a position held this long; 0 = off
    stop_loss: NonNegFloat = 0.0  #: close when the deviation moved this far against us; 0 = off
    #: monitoring (the documents' rule): close when the deviation stays beyond
    #: ``deviation_close_sigma`` sigmas against the position for ``deviation_close_s``; 0 = off
    deviation_close_sigma: NonNegFloat = 2.0
    deviation_close_s: NonNegFloat = 60.0
    #: close what is held when a leg is limit-locked (one side of its book empty) or halted
    close_on_limit: bool = True
    basis: BasisConfig | None = None  #: kind = "basis"
    funding: FundingConfig | None = None  #: kind = "funding"
    multi: MultiConfig | None = None  #: kind = "multi"
    stat: StatConfig | None = None  #: kind = "stat"


class RiskConfig(Section):
    """Limits the RiskSupervisor and the LegExecutors enforce."""

    max_net_exposure_base: NonNegFloat = 50_000.0  #: per underlying, base units (grams)
    max_orders_per_s: PosInt = 200  #: new orders per venue (token bucket); excess denied
    max_cancels_per_s: PosInt = 200  #: cancels per venue (token bucket)
    halt_on_exposure_breach: bool = True
    max_notional_per_order: NonNegFloat = 0.0  #: home currency; 0 = no limit
    max_gross_notional: NonNegFloat = 0.0  #: home currency, all open positions; 0 = no limit
    price_band_ticks: NonNegInt = 0  #: order price vs the touch; 0 = no band
    daily_loss_limit: NonNegFloat = 0.0  #: home currency; 0 = no limit -> HALTED
    max_drawdown: NonNegFloat = 0.0  #: from the PnL peak, home currency; 0 = off -> HALTED
    unhedged_limit_ms: PosInt = 5000  #: exposure beyond tolerance this long -> flatten/HALT
    margin_capital: NonNegFloat = 0.0  #: account equity for margin usage; 0 = unchecked
    margin_alarm_pct: Annotated[float, msgspec.Meta(gt=0, le=100)] = 85.0  #: -> REDUCING
    #: pre-trade: an order taking margin used above this share of ``margin_capital`` is denied
    max_margin_pct: Annotated[float, msgspec.Meta(gt=0, le=100)] = 100.0
    max_reject_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5  #: -> REDUCING
    reject_window: PosInt = 20  #: orders in the reject-rate window
    flatten_orphans: bool = True  #: risk flattens exposure no live combo owns
    home_ccy: str = "CNY"
    #: ``cmc demo`` fails when the simulator's record shows a limit exceeded at the venue
    #: (``scripts/demo/risk_audit.py``); on for configs whose purpose is risk
    fail_on_venue_breach: bool = False


class NodeConfig(Section):
    """A node: one OS process; ``address`` is where its inbound PULL socket binds."""

    name: str
    address: str
    cpus: list[NonNegInt] = []  #: empty = the CPUs the launcher was given


class GroupConfig(Section):
    """A dispatcher group: one pykka actor thread hosting several actors that call each other
    directly (no thread wake per hop)."""

    name: str
    node: str
    actors: list[str]
    cpus: list[NonNegInt] = []
    #: the group's idle strategy, µs (0-10,000): with nothing to do, its host busy-polls its
    #: sockets, inbox and timers this long after its last input before it sleeps (0 = sleep at
    #: once, the default). Input soon after the last then finds the thread awake and its cache
    #: warm (a wake-up from sleep costs ~80 µs on the reference VM). Hazard: the spin burns its
    #: CPU, and other groups of the same node (risk, the journal) wait for the GIL, up to the
    #: switch interval per turn, while it spins: give a spinning group a node and an isolated
    #: core of its own (``cpus``); a warning at start names the groups that share its process.
    spin_us: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0


class PlacementConfig(Section):
    """Where actors run: groups (threads) on nodes (processes) on CPUs."""

    nodes: list[NodeConfig]
    groups: list[GroupConfig]


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
        _check_kind(p, f"$.pairs[{i}]", keys)
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
        nodes = {n.name for n in cfg.placement.nodes}
        seen: set[str] = set()
        for i, g in enumerate(cfg.placement.groups):
            if g.node not in nodes:
                raise ConfigError(f"$.placement.groups[{i}].node: unknown node {g.node!r}")
            for a in g.actors:
                if a in seen:
                    raise ConfigError(f"$.placement.groups[{i}].actors: {a!r} placed twice")
                seen.add(a)
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


#: the sub-section each pair kind needs (parity needs none)
KIND_SECTIONS = {"basis": "basis", "funding": "funding", "multi": "multi", "stat": "stat"}


def _check_kind(p: PairConfig, where: str, keys: set[str]) -> None:
    """A pair's kind has its own sub-section and no other kind's; its legs are contracts."""
    need = KIND_SECTIONS.get(p.kind)
    for sec in KIND_SECTIONS.values():
        present = getattr(p, sec) is not None
        if sec == need and not present:
            raise ConfigError(f"{where}.{sec}: a pair of kind {p.kind!r} needs a "
                              f"[pairs.{sec}] section")
        if present and sec != need:
            raise ConfigError(f"{where}.{sec}: only a pair of kind {sec!r} takes this section "
                              f"(kind is {p.kind!r})")
    if p.multi is not None:
        for j, key in enumerate(p.multi.legs):
            if key not in keys:
                raise ConfigError(f"{where}.multi.legs[{j}]: unknown contract {key!r}")
        if len(set(p.multi.legs)) != len(p.multi.legs):
            raise ConfigError(f"{where}.multi.legs: a contract is listed twice")
        for fld in ("leg_a", "leg_b"):
            if getattr(p, fld) not in p.multi.legs:
                raise ConfigError(f"{where}.{fld}: {getattr(p, fld)!r} must be one of multi.legs")
        for key in [*p.multi.inventory_base, *p.multi.spot]:
            if key not in p.multi.legs:
                raise ConfigError(f"{where}.multi: {key!r} is not one of multi.legs")
    if p.basis is not None and p.basis.rate_from and p.basis.rate_from not in keys:
        raise ConfigError(f"{where}.basis.rate_from: unknown contract {p.basis.rate_from!r}")


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


# --- live parameters: what ``cmc admin set`` may change on a running engine ---------------------

#: ``PairConfig`` fields a running strategy reads on every decision, so a change takes effect at
#: once; the others shape the window, the clip or the legs and need a new core.
LIVE_PAIR_FIELDS = frozenset({"z_entry", "z_exit", "min_edge", "safety_factor", "slippage_ticks",
                              "max_slippage_ticks", "fair_basis", "max_quote_skew_ms",
                              "max_quote_age_ms", "retry_cooldown_ms", "hedge_budget_ms",
                              "trigger", "z_filter", "ratio_entry_bps", "ratio_exit_bps",
                              "min_touch_lots", "exit_rule", "exit_edge", "take_profit",
                              "time_stop_s", "stop_loss", "deviation_close_sigma",
                              "deviation_close_s", "close_on_limit"})
#: a kind's sub-section fields are all live, named ``<section>.<field>`` (``basis.rate``)
_KIND_STRUCTS: dict[str, type[Section]] = {"basis": BasisConfig, "funding": FundingConfig,
                                           "multi": MultiConfig, "stat": StatConfig}


def live_pair_fields(pair: PairConfig) -> list[str]:
    """Every live field of ``pair``: the top-level ones and its kind's ``<section>.<field>``."""
    out = sorted(LIVE_PAIR_FIELDS)
    sec = KIND_SECTIONS.get(pair.kind)
    if sec is not None and getattr(pair, sec) is not None:
        out += [f"{sec}.{f}" for f in _KIND_STRUCTS[sec].__struct_fields__]
    return out


def pair_value(pair: PairConfig, field: str) -> Any:
    """The value of a live field of ``pair`` (``z_entry``, ``basis.rate``)."""
    sec, _, sub = field.partition(".")
    if sub:
        return getattr(getattr(pair, sec), sub)
    return getattr(pair, field)
#: ``RiskConfig`` fields that ``risk`` and every executor's pre-trade checks read live;
#: ``home_ccy`` would change what every amount means, ``fail_on_venue_breach`` is a demo verdict.
LIVE_RISK_FIELDS = frozenset(RiskConfig.__struct_fields__) - {"home_ccy", "fail_on_venue_breach"}


_Live = TypeVar("_Live", PairConfig, RiskConfig)


def live_update(current: _Live, values: Mapping[str, Any], where: str = "") -> _Live:
    """Return ``current`` with the live fields ``values`` changed, validated like the config file.

    Raise ``ConfigError`` naming the field (``where`` is its section, e.g. ``pairs.au-gc``) for
    an empty change, a field that is unknown or not live, a wrong type or range, a non-finite
    number, or (pairs) a ``z_exit`` not below ``z_entry``. Nothing is half-applied: the result
    is a new struct or nothing."""
    live = set(live_pair_fields(current) if isinstance(current, PairConfig) else LIVE_RISK_FIELDS)
    where = where or ("risk" if isinstance(current, RiskConfig) else f"pairs.{current.name}")
    if not values:
        raise ConfigError(f"{where}: no field to set")
    bad = sorted(str(k) for k in values if k not in live)
    if bad:
        raise ConfigError(f"{where}.{bad[0]}: not a live parameter "
                          f"(settable: {', '.join(sorted(live))})")
    data = msgspec.to_builtins(current)
    for k, v in values.items():
        sec, _, sub = str(k).partition(".")
        if sub:  # a kind's sub-section field, e.g. basis.rate
            data[sec] = {**data[sec], sub: v}
        else:
            data[k] = v
    try:
        new = msgspec.convert(data, type(current))
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    check_finite(new, where)
    if isinstance(new, PairConfig) and new.z_exit >= new.z_entry and new.z_entry > 0:
        raise ConfigError(f"{where}.z_exit: {new.z_exit} must be below z_entry {new.z_entry}")
    return new


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
