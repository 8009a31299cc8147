"""Venue gateway protocol, version 1: the wire types (see docs/venue-protocol.md).

Payloads are MessagePack maps whose key ``t`` names the type. Prices are integer ticks (``px``),
quantities integer lots (``qty``), times integer ns since the Unix epoch in the venue's clock.
Unknown keys are ignored; a missing or mistyped required key makes the message invalid.

The same ``t`` value can mean different things on different sockets (``status`` is a session
state on md and an order status on oe), so each socket direction has its own decoder union.
"""

from __future__ import annotations

import builtins
from typing import Literal

import msgspec

PROTOCOL_VERSION = 1

Level = tuple[int, int]
Side = Literal["B", "S"]
Tif = Literal["IOC", "FOK", "GTC"]


class _V(msgspec.Struct, tag_field="t", frozen=True):
    """Base of every protocol message: a map tagged by ``t``."""


# --- reference data (ref: ROUTER at the gateway, DEALER at the engine) -------------------------


class Instrument(msgspec.Struct, frozen=True):
    """One tradable symbol: tick size and lot multiplier as decimal strings."""

    sym: str
    tick: str
    lot: str
    ccy: str
    unit: str
    min_qty: int = 1
    max_qty: int = 1_000_000


class InstrumentsReq(_V, tag="instruments"):
    """Ask for the instrument list."""


class Instruments(_V, tag="instruments"):
    """The instrument list."""

    list: builtins.list[Instrument]


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


class Heartbeat(_V, tag="hb"):
    """Sent on topic ``hb`` at a fixed interval: last sequence per symbol."""

    ts: int
    seqs: dict[str, int] = {}


# --- orders (oe: ROUTER at the gateway, DEALER with identity = account id at the engine) -------


class NewOrder(_V, tag="new"):
    """Place an order."""

    cl: str
    sym: str
    side: Side
    px: int
    qty: int
    tif: Tif
    ts: int


class CancelReq(_V, tag="cancel"):
    """Cancel the order with client id ``cl``."""

    cl: str
    ts: int


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


class PositionRecord(msgspec.Struct, frozen=True):
    """One position inside a ``positions`` reply (signed lots)."""

    sym: str
    qty: int


class OpenOrders(_V, tag="open_orders"):
    """Reply to ``open_orders``."""

    list: builtins.list[OpenOrderRecord]


class Trades(_V, tag="trades"):
    """Reply to ``trades``."""

    list: builtins.list[FillRecord]


class Positions(_V, tag="positions"):
    """Reply to ``positions``."""

    list: builtins.list[PositionRecord]


# --- decoder unions, one per socket direction ---------------------------------------------------

RefRequest = InstrumentsReq | SnapshotReq
RefReply = Instruments | Snapshot | Error
MdMessage = Delta | Trade | MdStatus | Heartbeat
OeRequest = NewOrder | CancelReq | QueryReq | OpenOrdersReq | TradesReq | PositionsReq | Ping
OeReply = (
    Ack | Reject | Fill | Done | CancelReject | OrderStatus | OpenOrders | Trades | Positions
    | Pong | Error
)

__all__ = [
    "PROTOCOL_VERSION",
    "Ack",
    "CancelReject",
    "CancelReq",
    "Delta",
    "Done",
    "Error",
    "Fill",
    "FillRecord",
    "Heartbeat",
    "Instrument",
    "Instruments",
    "InstrumentsReq",
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
    "Snapshot",
    "SnapshotReq",
    "Trade",
    "Trades",
    "TradesReq",
]
