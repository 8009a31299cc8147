"""The built-in simulator's config: ``[sim]``, its venues and faults (``[sim.faults]``,
``[[sim.venues]]``, ``[[sim.faults.schedule]]``).

The same TOML as the rest of the engine (``AppConfig.sim``); validated like every section
(``transports.config.base``): an unknown key or a value out of range is a ``ConfigError`` naming
its path. Read by ``transports.venues.sim``; the engine itself never looks at it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from transports.config.base import NonNegFloat, NonNegInt, PosFloat, PosInt, Rate, Section
from transports.config.sim_scenarios import (
    SimBasisConfig,
    SimCompetitorConfig,
    SimFundingConfig,
    SimMultiConfig,
    SimStatConfig,
)

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
    "oe_garble",
    "oe_throttle",
    "session_down",
    "oe_overfill",
    "oe_swallow_cancel",
    "oe_query_error",
    "ref_snapshot_error",
]
BadValueKind = Literal["px_zero", "qty_negative", "qty_huge", "float"]


class FaultWindow(Section):
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


class FaultsConfig(Section):
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
    rejected ``session_closed``). Per oe message leaving the venue ``oe_garble`` (still
    MessagePack, but a frame the protocol's decoder must refuse: its tag or a field's type
    broken; what it said is lost to the client, the venue's record is unchanged). Per new
    order ``oe_throttle`` (the venue's rate limit, protocol v2: ``reject`` code ``throttled``
    with ``retry_ms = oe_throttle_retry_ms``; a new order of that account arriving before the
    announced back-off ends is rejected ``throttled`` again and counted ``throttle_violations``).
    Per client order that fills ``oe_overfill`` (the venue trades one lot more than the order's
    quantity: a fill of one lot more and a ``done`` whose ``cum`` exceeds ``qty``; the truth's
    fills and positions have it -- a venue's bug, fault catalogue V08). Per cancel of an open
    order ``oe_swallow_cancel`` (it never reaches the book and gets no reply: the order keeps
    working, catalogue V10). Per order-status query ``oe_query_error`` (answered ``error`` code
    ``unavailable`` instead of the order's status: a transport or gateway failure, V12). Per
    snapshot request ``ref_snapshot_error`` (answered ``error`` code ``unavailable``: the
    snapshot fetch of a resync fails, F12).
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
    oe_garble: Rate = 0.0
    oe_throttle: Rate = 0.0
    oe_throttle_retry_ms: PosInt = 200
    oe_overfill: Rate = 0.0
    oe_swallow_cancel: Rate = 0.0
    oe_query_error: Rate = 0.0
    ref_snapshot_error: Rate = 0.0
    session_down: Rate = 0.0
    session_down_ms: PosInt = 1000
    schedule: list[FaultWindow] = []


class SimVenueConfig(Section):
    """How the simulator runs one venue."""

    name: str
    latency_us: NonNegInt = 500  #: one-way order latency added by the venue
    md_interval_ms: PosInt = 20  #: how often the book is refreshed
    hb_interval_ms: PosInt = 250
    levels: PosInt = 10
    level_qty_lots: PosInt = 40  #: mean resting quantity per level
    spread_ticks: PosInt = 1  #: touch spread in ticks
    trade_prints: bool = True  #: publish a ``trade`` message per execution
    #: offsets mode (contracts with ``offsets``): the fee per lot of a ``close_today`` fill
    #: instead of the contract's ``fee_per_lot`` (SHFE/INE charge more); 0 = the same fee
    close_today_fee_per_lot: NonNegFloat = 0.0
    #: this venue's rates and durations instead of ``[sim.faults]``' (schedules add up)
    faults: FaultsConfig | None = None


class SimConfig(Section):
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
    #: how the gateway writes order and trade ids: "str" (``shfe-12``, ``shfe-t5``) or "int"
    #: (``12``, ``5``), with nil for absent optional fields: both are what the protocol allows
    #: a gateway to send (docs/venue-protocol.md, "Types")
    ids: Literal["str", "int"] = "str"
    #: scenario sections (``transports.config.sim_scenarios``); absent = that kind's defaults
    competitor: SimCompetitorConfig | None = None
    basis: SimBasisConfig | None = None
    funding: SimFundingConfig | None = None
    multi: SimMultiConfig | None = None
    stat: SimStatConfig | None = None


__all__ = ["BadValueKind", "FaultKind", "FaultWindow", "FaultsConfig", "SimConfig",
           "SimVenueConfig"]
