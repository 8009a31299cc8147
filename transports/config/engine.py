"""Typed, validated configuration loaded from ``conf/*.toml``.

Every section is a frozen msgspec Struct with ``forbid_unknown_fields``: an unknown key, a wrong
type, a negative limit or a NaN is a ``ConfigError`` whose message names the field path and the
value. Address strings may contain ``{sock}``, replaced by the run's socket directory.
"""

from __future__ import annotations

import math
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from transports.config.ops import AdminConfig, LaunchConfig, MetricsConfig, SupervisionConfig
from transports.errors import ConfigError

PosInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
PosFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]


class _C(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every config section."""


class RunConfig(_C):
    """Run-wide settings."""

    epoch: NonNegInt = 1  #: client order ids embed it so a restart never reuses an id
    duration_s: PosFloat = 30.0
    out_dir: str = "runs"
    log_level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: fdatasync each order intent before the order leaves (true); false writes intents without
    #: syncing them: they survive a crash of the process, not of the machine
    durable_intents: bool = True


class VenueConfig(_C):
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


class ContractConfig(_C):
    """One instrument as the engine trades it; base units are the underlying's (grams for gold)."""

    venue: str
    sym: str
    tick: str  #: decimal string, e.g. "0.02"
    multiplier: PosFloat  #: units of ``unit`` per lot (1000 g, 100 oz)
    unit: str
    ccy: str
    underlying: str = ""  #: exposure bucket; empty for FX rates
    base_per_lot: NonNegFloat = 0.0  #: underlying base units (grams) per lot
    fee_per_lot: NonNegFloat = 0.0  #: in ``ccy``
    max_lots_per_order: PosInt = 100
    max_position_lots: PosInt = 1000
    depth: PosInt = 20  #: levels kept in the book
    margin_rate: NonNegFloat = 0.1  #: initial margin as a fraction of notional


class PairConfig(_C):
    """A cross-market pair: leg A domestic, leg B foreign, converted by ``fx`` and
    ``unit_factor``."""

    name: str
    leg_a: str  #: "venue:sym"
    leg_b: str
    fx: str = ""  #: "venue:sym" of the rate converting B's currency into A's; empty = 1.0
    fx_invert: bool = False
    unit_factor: PosFloat = 1.0  #: B's unit into A's unit, e.g. 1/31.1034768 (oz -> g)
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
    legging_mode: Literal["concurrent", "lead"] = "concurrent"
    chase_ticks: NonNegInt = 2
    chase_tries: NonNegInt = 3
    leg_timeout_ms: PosInt = 1000
    hedge_budget_ms: PosInt = 5000
    #: no new open this long after a failed combo; doubles per consecutive failure up to
    #: 30 s, reset by a complete or repaired one; 0 = off
    retry_cooldown_ms: Annotated[int, msgspec.Meta(ge=0, le=30_000)] = 1000


class RiskConfig(_C):
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


Rate = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]  #: a probability per event
FaultKind = Literal[
    "md_drop",
    "md_duplicate",
    "md_reorder",
    "md_delay",
    "md_crossed",
    "md_bad",
    "md_stall",
    "md_reset",
    "stop",
    "oe_reject",
    "oe_partial",
    "oe_swallow_ack",
    "oe_swallow_order",
    "oe_duplicate_fill",
    "oe_late_fill",
    "oe_unknown_query",
    "oe_disconnect",
    "session_break",
]
BadValueKind = Literal["px_zero", "qty_negative", "qty_huge", "float"]


class FaultWindow(_C):
    """One scheduled fault (``[[sim.faults.schedule]]``), times in seconds since the sim start.

    Span kinds (``md_stall``, ``stop``, ``oe_disconnect``, ``session_break``) are active during
    ``[at_s, at_s + for_s)``; ``for_s = 0`` means the kind's configured ``*_ms`` duration.
    Event kinds (every other kind) hit every event of their kind in that span, or, with
    ``for_s = 0``, exactly the first event at or after ``at_s``. ``venue`` empty = every venue
    (each on its own: "the first event" is per venue).
    """

    kind: FaultKind
    at_s: NonNegFloat
    for_s: NonNegFloat = 0.0
    venue: str = ""


class FaultsConfig(_C):
    """Simulator fault switches, all off by default; rates are probabilities per event.

    See ``transports/venues/sim/faults.py`` for the exact semantics of each switch. Per delta:
    ``md_drop`` (not sent, its seq used: a gap), ``md_duplicate`` (sent twice), ``md_reorder``
    (swapped with the next delta of the symbol), ``md_delay`` (the venue's md stream held
    ``md_delay_ms`` from this delta on, order kept), ``md_crossed`` (followed by a delta that
    crosses the book, corrected by the next delta), ``md_bad`` (replaced by a frame with a bad
    value, its seq used). Per book refresh: ``md_stall`` (no deltas for ``md_stall_ms``,
    heartbeats go on), ``stop`` (no md, hb, ref or oe replies for ``stop_ms``), ``md_reset``
    (seqs restart at 1). Per order: ``oe_reject``, ``oe_partial`` (IOC and GTC),
    ``oe_swallow_ack``, ``oe_swallow_order``, ``oe_unknown_query`` (queries answer ``unknown``
    for ``oe_unknown_query_ms``), ``oe_disconnect`` (oe in and out dropped for
    ``oe_disconnect_ms``); per fill ``oe_duplicate_fill``; per cancel or IOC ``oe_late_fill``
    (a fill ``oe_late_fill_ms`` after the ``done``). ``oe_reuse_cl``: a closed client order id
    is accepted again (False: rejected ``duplicate_cl``). Per book refresh ``session_break``
    (the venue's session is in a break for ``session_break_ms``: status ``break``, new orders
    rejected ``session_closed``).
    """

    md_drop: Rate = 0.0
    md_duplicate: Rate = 0.0
    md_reorder: Rate = 0.0
    md_delay: Rate = 0.0
    md_delay_ms: PosInt = 200
    md_crossed: Rate = 0.0
    md_bad: Rate = 0.0
    md_bad_kinds: Annotated[tuple[BadValueKind, ...], msgspec.Meta(min_length=1)] = (
        "px_zero",
        "qty_negative",
        "qty_huge",
        "float",
    )
    md_stall: Rate = 0.0
    md_stall_ms: PosInt = 3000
    md_reset: Rate = 0.0
    stop: Rate = 0.0
    stop_ms: PosInt = 2000
    oe_reject: Rate = 0.0
    oe_partial: Rate = 0.0
    oe_swallow_ack: Rate = 0.0
    oe_swallow_order: Rate = 0.0
    oe_duplicate_fill: Rate = 0.0
    oe_late_fill: Rate = 0.0
    oe_late_fill_ms: NonNegInt = 50
    oe_unknown_query: Rate = 0.0
    oe_unknown_query_ms: PosInt = 1500
    oe_disconnect: Rate = 0.0
    oe_disconnect_ms: PosInt = 1000
    oe_reuse_cl: bool = True
    session_break: Rate = 0.0
    session_break_ms: PosInt = 2000
    schedule: list[FaultWindow] = []


class SimVenueConfig(_C):
    """How the simulator runs one venue."""

    name: str
    latency_us: NonNegInt = 500  #: one-way order latency added by the venue
    md_interval_ms: PosInt = 20  #: how often the book is refreshed
    hb_interval_ms: PosInt = 250
    levels: PosInt = 10
    level_qty_lots: PosInt = 40  #: mean resting quantity per level
    spread_ticks: PosInt = 1  #: touch spread in ticks
    trade_prints: bool = True  #: publish a ``trade`` message per execution
    #: this venue's rates and durations instead of ``[sim.faults]``' (schedules add up)
    faults: FaultsConfig | None = None


class SimConfig(_C):
    """The built-in simulator: price process, dislocations, venues and ground truth."""

    seed: int = 7
    gold_usd_oz: PosFloat = 2650.0
    usdcnh: PosFloat = 7.2
    basis_cny_g: float = 0.5  #: SHFE premium over parity in calm markets
    vol_gold_bps_s: NonNegFloat = 8.0
    vol_fx_bps_s: NonNegFloat = 1.5
    dislocation_every_s: PosFloat = 3.0  #: mean time between dislocation episodes
    dislocation_cny_g: PosFloat = 1.6  #: size of an episode
    dislocation_hold_s: PosFloat = 1.0
    threshold_cny_g: NonNegFloat = 0.3  #: the pair's threshold for ground-truth windows
    min_window_ms: NonNegInt = 50
    warmup_s: NonNegFloat = 4.0  #: no dislocation before this (the engine's statistics warm up)
    step_ms: PosInt = 10  #: step of the price process; fair prices are per step index
    venues: list[SimVenueConfig] = []
    faults: FaultsConfig = FaultsConfig()


class NodeConfig(_C):
    """A node: one OS process; ``address`` is where its inbound PULL socket binds."""

    name: str
    address: str
    cpus: list[NonNegInt] = []  #: empty = the CPUs the launcher was given


class GroupConfig(_C):
    """A dispatcher group: one pykka actor thread hosting several actors that call each other
    directly (no thread wake per hop)."""

    name: str
    node: str
    actors: list[str]
    cpus: list[NonNegInt] = []


class PlacementConfig(_C):
    """Where actors run: groups (threads) on nodes (processes) on CPUs."""

    nodes: list[NodeConfig]
    groups: list[GroupConfig]


class AppConfig(_C):
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


def _check_finite(obj: object, path: str) -> None:
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ConfigError(f"{path}: must be a finite number, got {obj!r}")
    if isinstance(obj, msgspec.Struct):
        for name in obj.__struct_fields__:
            _check_finite(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            _check_finite(item, f"{path}[{i}]")


def _validate(cfg: AppConfig) -> AppConfig:
    _check_finite(cfg, "$")
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
    return cfg


def load_config_bytes(raw: bytes, source: str = "<config>") -> AppConfig:
    """Decode and validate TOML bytes; errors name the field path and the value."""
    try:
        cfg = msgspec.toml.decode(raw, type=AppConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return _validate(cfg)
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


def tick_decimal(tick: str) -> Decimal:
    """Return a contract's tick size as a Decimal."""
    return Decimal(tick)
