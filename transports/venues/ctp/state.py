"""What the CTP gateway (``gateway.CtpGateway``: sockets, loops, start and stop) and its
helpers (``events.CtpEvents``: the login chain and CTP's callbacks; ``order_entry.CtpOrderEntry``:
the engine's oe requests; ``queries.CtpQueries``: the paced trader-front queries) share.

One object, created by the gateway and handed to each helper, so that what they read and write
is named in one place: the account and its credentials, the clock, the two CTP APIs, the
reference data (symbols, ticks, exchanges, multipliers, fee rates) that the order tracker, the
depth books and the fee book hold by reference, the order map and tracker, and the trader
session (logged in, FrontID/SessionID, the next OrderRef) that the login chain sets and order
entry uses. Everything here is touched on the gateway's asyncio loop only.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from transports.config.engine import AppConfig, VenueConfig
from transports.venues.ctp.clmap import ClMap
from transports.venues.ctp.fees import FeeBook
from transports.venues.ctp.md import DepthBooks
from transports.venues.ctp.orders import OrderTracker
from transports.venues.ctp.status import SessionStates
from transports.wire.venue_msgs import Instruments


@dataclass(eq=False, slots=True)
class CtpState:
    """The state a CTP gateway and its helpers share (see the module docstring)."""

    name: str  #: the venue's name (for logs)
    account: bytes  #: the engine's DEALER identity on oe: every report goes there
    creds: dict[str, str]  #: broker, user, app, password, auth (never logged or sent)
    now_ns: Callable[[], int]  #: the receipt clock (a test may replace it)
    symbols: list[str]  #: served symbols (empty: every instrument CTP lists)
    fee_per_lot: dict[str, float]  #: configured fee per lot, until CTP's rates arrive
    #: sym -> price tick, exchange, contract multiplier: filled once CTP lists the instruments;
    #: the same dicts are held by ``tracker``, ``books`` and ``fees``
    ticks: dict[str, Decimal]
    exchanges: dict[str, str]
    multipliers: dict[str, int]
    fees: FeeBook
    clmap: ClMap  #: client id <-> CTP order keys, durable
    tracker: OrderTracker
    books: DepthBooks
    td: Any = None  #: the trader API (set by ``CtpGateway.start``)
    md: Any = None  #: the market-data API (set by ``CtpGateway.start``)
    #: CTP's nRequestID for every Req* call
    rid: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    logged_in: bool = False  #: the trader front's login chain has finished
    front: int = 0  #: FrontID of the current trader session
    session_id: int = 0  #: SessionID of the current trader session
    next_ref: int = 1  #: the next OrderRef of this session
    #: the instrument list with the latest rates (None until CTP lists them)
    instruments: Instruments | None = None
    #: each served symbol's session state from CTP's instrument status (``status``)
    sessions: SessionStates = field(default_factory=SessionStates)

    @classmethod
    def for_venue(cls, cfg: AppConfig, venue: VenueConfig, creds: dict[str, str],
                  now_ns: Callable[[], int]) -> CtpState:
        """The state of ``venue`` (which has ``[venues.ctp]``): its symbols and fees from the
        config, its order map under the configured state directory (opened here)."""
        cc = venue.ctp
        assert cc is not None
        contracts = [c for c in cfg.contracts if c.venue == venue.name]
        fee_per_lot = {c.sym: c.fee_per_lot for c in contracts}
        ticks: dict[str, Decimal] = {}
        exchanges: dict[str, str] = {}
        multipliers: dict[str, int] = {}
        fees = FeeBook(multipliers, fee_per_lot)
        clmap = ClMap(cc.clmap_path or Path(cc.state_dir) / f"{venue.name}-ctp-orders.jsonl")
        return cls(name=venue.name, account=venue.account.encode(), creds=creds, now_ns=now_ns,
                   symbols=list(cc.symbols) or [c.sym for c in contracts],
                   fee_per_lot=fee_per_lot, ticks=ticks, exchanges=exchanges,
                   multipliers=multipliers, fees=fees, clmap=clmap,
                   tracker=OrderTracker(clmap, ticks, fees.fee),
                   books=DepthBooks(ticks, exchanges))


__all__ = ["CtpState"]
