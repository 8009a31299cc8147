"""Where and what the engine trades: the venues (gateway sockets, account, timeouts, CURVE
keys, which gateway serves each) and the contracts on them (tick, lot, units, limits, offsets).

Sections only; the checks that cross sections (a contract's venue exists, a venue's fake or
paper source exists) are the loader's (``transports.config.engine``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from transports.config.base import NonNegFloat, NonNegInt, PosFloat, PosInt, Section
from transports.config.gateways import (
    CcxtVenueConfig,
    CtpVenueConfig,
    IbVenueConfig,
    PaperVenueConfig,
)


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
    #: between reconciliations, ask the venue's positions this often while nothing works there;
    #: the same difference twice is a drift, reconciled (``actors.leg.reconciler``); 0 = off
    position_check_ms: NonNegInt = 60_000
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


__all__ = ["ContractConfig", "VenueConfig"]
