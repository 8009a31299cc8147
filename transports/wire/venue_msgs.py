"""Venue gateway protocol, versions 1 and 2: the wire types (see docs/venue-protocol.md).

Payloads are MessagePack maps whose key ``t`` names the type. Prices are integer ticks (``px``),
quantities integer lots (``qty``), times integer ns since the Unix epoch in the venue's clock.
Unknown keys are ignored; a missing or mistyped required key makes the message invalid.

The same ``t`` value can mean different things on different sockets (``status`` is a session
state on md and an order status on oe), so each socket direction has its own decoder union.

Version 2 additions (``mark``, ``funding``, ``session``, ``balances``, the optional keys of
``instruments``, ``new``, ``fill`` and ``positions``) default to "absent", and the engine's
requests omit keys at their defaults, so a version 1 gateway sees version 1 frames.
"""

from __future__ import annotations

import builtins
from typing import Annotated, Literal

import msgspec

PROTOCOL_VERSION = 2  #: the highest version this engine speaks (it speaks 1 too)

#: a book level's integer: the engine holds levels in int64 arrays (Numba kernels), so a larger
#: one (MessagePack carries up to 2**64 - 1) is refused at decode; before, 2**63 as a price went
#: through Numba's uint64 path and sat in a usable book as -2**63
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Level = tuple[Int64, Int64]
Side = Literal["B", "S"]
Tif = Literal["IOC", "FOK", "GTC"]


class _V(msgspec.Struct, tag_field="t", frozen=True):
    """Base of every protocol message: a map tagged by ``t``."""


# --- reference data (ref: ROUTER at the gateway, DEALER at the engine) -------------------------


class Instrument(msgspec.Struct, frozen=True, omit_defaults=True):
    """One tradable symbol: tick size and lot multiplier as decimal strings; the version 2 keys
    (all optional) describe the contract as the venue lists it."""

    sym: str
    tick: str
    lot: str
    ccy: str
    unit: str
    min_qty: int = 1
    max_qty: int = 1_000_000
    # --- version 2 -------------------------------------------------------------------------
    kind: str = ""  #: future, spot, perp, fx, index
    base: str = ""  #: e.g. BTC
    quote: str = ""  #: e.g. USDT
    expiry: int = 0  #: ns, futures
    offsets: bool = False  #: orders must say open or close (CTP)
    close_today: bool = False  #: closing today's position is a distinct offset (SHFE, INE)
    margin_rate: float = 0.0
    maker_bps: float = 0.0
    taker_bps: float = 0.0
    fee_per_lot: float = 0.0
    fee_ccy: str = ""
    funding_interval_s: int = 0  #: perpetuals
    contract_value: str = ""  #: decimal string: units of ``contract_ccy`` per contract
    contract_ccy: str = ""
    session: str = ""  #: a calendar name


class InstrumentsReq(_V, tag="instruments"):
    """Ask for the instrument list."""


class Instruments(_V, tag="instruments"):
    """The instrument list; ``v`` is the gateway's protocol version (absent: 1)."""

    list: builtins.list[Instrument]
    v: int = 1


class SnapshotReq(_V, tag="snapshot"):
    """Ask for a book snapshot of ``sym``."""

    sym: str


class Snapshot(_V, tag="snapshot"):
    """A full book; ``seq`` is that of the last delta already contained in it."""

    sym: str
    seq: int
    ts: int
    b: list[Level]
    a: list[Level]


class Error(_V, tag="error"):
    """An error reply to a request."""

    code: str
    msg: str


# --- market data (md: PUB at the gateway, SUB at the engine) -----------------------------------


class Delta(_V, tag="delta"):
    """Absolute quantity at each listed level; qty 0 deletes the level."""

    sym: str
    seq: int
    ts: int
    b: list[Level] = []
    a: list[Level] = []


class Trade(_V, tag="trade"):
    """A public trade print (optional)."""

    sym: str
    ts: int
    px: int
    qty: int
    side: Side


class MdStatus(_V, tag="status"):
    """Trading session state of ``sym``."""

    sym: str
    ts: int
    state: Literal["open", "break", "auction", "closed", "halt"]


class Mark(_V, tag="mark"):
    """Version 2, perpetuals: the venue's mark and index prices (ticks) and the funding rate
    (decimal string, per interval) exchanged at ``next_funding_ts``."""

    sym: str
    ts: int
    mark_px: int
    index_px: int = 0
    funding_rate: str = "0"
    next_funding_ts: int = 0


class Heartbeat(_V, tag="hb"):
    """Sent on topic ``hb`` at a fixed interval: last sequence per symbol."""

    ts: int
    seqs: dict[str, int] = {}


# --- orders (oe: ROUTER at the gateway, DEALER with identity = account id at the engine) -------


class NewOrder(_V, tag="new", omit_defaults=True):
    """Place an order. Version 2: ``offset`` (open/close/close_today/close_yesterday, where the
    instrument says ``offsets``), ``reduce_only`` (perps) and ``epoch`` (the sender's fencing
    token; 0: none) — each omitted on the wire when at its default."""

    cl: str
    sym: str
    side: Side
    px: int
    qty: int
    tif: Tif
    ts: int
    offset: Literal["", "open", "close", "close_today", "close_yesterday"] = ""
    reduce_only: bool = False
    epoch: int = 0


#: the client id of the ``cancel`` an engine holding a fencing token sends first on an order-entry
#: link (``LegShell``): it names no order (a gateway answers ``cancel_reject``), and its ``epoch``
#: fences every older sender before anything else this engine asks is answered
FENCE_PROBE_CL = "fence-probe"

#: the md topic of heartbeats (``hb``)
HB_TOPIC = "hb"


def md_topic(sym: str) -> str:
    """The md topic of ``sym``'s deltas, trades, marks and status: ``md.<sym>`` (section 1 of
    docs/venue-protocol.md). The engine subscribes to exactly this (``FeedShell``) and every
    gateway publishes on it: one copy of the rule (the CTP gateway once published deltas on
    ``<sym>`` alone, which no engine ever received)."""
    return f"md.{sym}"


class CancelReq(_V, tag="cancel", omit_defaults=True):
    """Cancel the order with client id ``cl`` (``epoch``: version 2 fencing token, 0 = none)."""

    cl: str
    ts: int
    epoch: int = 0


class QueryReq(_V, tag="query"):
    """Ask for the status of ``cl``."""

    cl: str


class OpenOrdersReq(_V, tag="open_orders"):
    """Ask for the account's open orders."""


class TradesReq(_V, tag="trades"):
    """Ask for the account's trades since ``since`` (ns)."""

    since: int = 0


class PositionsReq(_V, tag="positions"):
    """Ask for the account's positions."""


class BalancesReq(_V, tag="balances"):
    """Version 2: ask for the account's balances."""


class Ping(_V, tag="ping"):
    """Liveness and clock probe."""

    ts: int


class Pong(_V, tag="pong"):
    """Answer to ``ping``; ``ts`` is the venue's time when it answered."""

    ts: int
    echo: int = 0


class Ack(_V, tag="ack"):
    """Accepted, venue order id ``oid``."""

    cl: str
    oid: str
    ts: int


class Reject(_V, tag="reject"):
    """Definitive: the order never traded. With code ``throttled`` (protocol v2) ``retry_ms``
    is the venue's rate-limit back-off (0: none given)."""

    cl: str
    code: str
    reason: str
    ts: int
    retry_ms: int = 0


class Fill(_V, tag="fill"):
    """An execution; ``tid`` is unique per venue; ``fee`` in the instrument's currency."""

    cl: str
    oid: str
    tid: str
    px: int
    qty: int
    ts: int
    liq: Literal["T", "M"] = "T"
    fee: float = 0.0
    fee_ccy: str = ""  #: version 2: set when the fee is not in the instrument's currency


class Done(_V, tag="done"):
    """The order is closed."""

    cl: str
    oid: str
    state: Literal["filled", "canceled", "expired"]
    cum: int
    ts: int


class CancelReject(_V, tag="cancel_reject"):
    """A cancel could not be applied. With code ``throttled`` (protocol v2) ``retry_ms`` is the
    venue's rate-limit back-off (0: none given)."""

    cl: str
    code: str
    reason: str
    ts: int
    retry_ms: int = 0


class FillRecord(msgspec.Struct, frozen=True):
    """A fill inside a list reply (same fields as ``fill`` without the tag)."""

    cl: str
    oid: str
    tid: str
    px: int
    qty: int
    ts: int
    liq: str = "T"
    fee: float = 0.0
    sym: str = ""
    side: str = ""


class OrderStatus(_V, tag="status"):
    """Reply to ``query``; state ``unknown`` means not found."""

    cl: str
    state: Literal["new", "partial", "filled", "canceled", "expired", "rejected", "unknown"]
    oid: str = ""
    cum: int = 0
    leaves: int = 0
    fills: list[FillRecord] = []


class OpenOrderRecord(msgspec.Struct, frozen=True):
    """One open order inside an ``open_orders`` reply."""

    cl: str
    oid: str
    sym: str
    side: str
    px: int
    qty: int
    cum: int
    tif: str = "GTC"


class PositionRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """One position inside a ``positions`` reply: signed net lots ``qty`` where the venue nets,
    or (version 2) two sides ``long``/``short`` (with today's part) where it keeps both."""

    sym: str
    qty: int = 0
    long: int = 0
    short: int = 0
    long_today: int = 0
    short_today: int = 0
    avg_px: float = 0.0

    @property
    def net(self) -> int:
        """Signed net lots, whichever form the venue sent."""
        return self.long - self.short if (self.long or self.short) else self.qty


class OpenOrders(_V, tag="open_orders"):
    """Reply to ``open_orders``."""

    list: builtins.list[OpenOrderRecord]


class Trades(_V, tag="trades"):
    """Reply to ``trades``."""

    list: builtins.list[FillRecord]


class Positions(_V, tag="positions"):
    """Reply to ``positions``."""

    list: builtins.list[PositionRecord]


class BalanceRecord(msgspec.Struct, frozen=True):
    """One currency inside a ``balances`` reply."""

    ccy: str
    total: float
    available: float
    margin_used: float = 0.0


class Balances(_V, tag="balances"):
    """Version 2: reply to ``balances``."""

    list: builtins.list[BalanceRecord]


class Funding(_V, tag="funding"):
    """Version 2, on oe: a funding payment settled on the account's position in ``sym``;
    ``paid`` in the settlement currency ``ccy`` (negative = paid out)."""

    sym: str
    ts: int
    rate: str
    paid: float
    ccy: str = ""


class Session(_V, tag="session"):
    """Version 2, on oe: the gateway's own connection to its exchange went up or down."""

    state: Literal["up", "down", "auth_failed"]
    ts: int
    reason: str = ""


# --- decoder unions, one per socket direction ---------------------------------------------------

RefRequest = InstrumentsReq | SnapshotReq
RefReply = Instruments | Snapshot | Error
MdMessage = Delta | Trade | MdStatus | Heartbeat | Mark
OeRequest = (
    NewOrder | CancelReq | QueryReq | OpenOrdersReq | TradesReq | PositionsReq | BalancesReq
    | Ping
)
OeReply = (
    Ack | Reject | Fill | Done | CancelReject | OrderStatus | OpenOrders | Trades | Positions
    | Pong | Error | Balances | Funding | Session
)

__all__ = [
    "HB_TOPIC",
    "PROTOCOL_VERSION",
    "Ack",
    "BalanceRecord",
    "Balances",
    "BalancesReq",
    "CancelReject",
    "CancelReq",
    "Delta",
    "Done",
    "Error",
    "Fill",
    "FillRecord",
    "Funding",
    "Heartbeat",
    "Instrument",
    "Instruments",
    "InstrumentsReq",
    "Mark",
    "MdMessage",
    "MdStatus",
    "NewOrder",
    "OeReply",
    "OeRequest",
    "OpenOrderRecord",
    "OpenOrders",
    "OpenOrdersReq",
    "OrderStatus",
    "Ping",
    "Pong",
    "PositionRecord",
    "Positions",
    "PositionsReq",
    "QueryReq",
    "RefReply",
    "RefRequest",
    "Reject",
    "Session",
    "Snapshot",
    "SnapshotReq",
    "Trade",
    "Trades",
    "TradesReq",
    "md_topic",
]
