"""OKX v5 shapes for the fake exchange: markets and units, ids, signatures, the order book
checksum and the JSON of instruments, orders, fills and positions. Pure: no sockets, no clock
(callers pass times in ns).

Units. A price is ``ticks * tickSz``. A spot amount (``sz``) is in the base currency, one lot =
``lotSz`` = the contract's multiplier. A swap amount is in contracts (OKX's quirk): one contract
is ``ctVal`` base units; the fake lists ``ctVal`` = the contract's multiplier and ``lotSz`` =
``minSz`` = 1, so one contract is one simulator lot and ``sz * ctVal`` is the base amount.

Ids. OKX ids are integer-looking strings: ``ordId`` = a per-market base + the simulator's order
number (``okx-12`` -> ``"1900000000000000012"`` on spot), ``tradeId`` likewise from the trade
number, ``billId`` from the funding record's index; unique per fake, stable across requests.

Credentials. The API key a client signs with is the simulator account name; the fake accepts
the secret ``[[fakes]] secrets[key]`` (default ``<key>-secret``) and the passphrase
``<key>-pass`` for every key (``secret_for`` / ``passphrase_for``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from transports.config.engine import ContractConfig
from transports.errors import CmcError
from transports.venues.sim.matching import Order
from transports.wire.venue_msgs import FillRecord

#: ``ordId`` / ``tradeId`` / ``billId`` bases per market (numbers stay below 2**63)
ORD_BASE = {"spot": 1_900_000_000_000_000_000, "swap": 1_950_000_000_000_000_000}
TRADE_BASE = {"spot": 300_000_000, "swap": 700_000_000}
BILL_BASE = 800_000_000_000_000_000
CHECKSUM_LEVELS = 25  #: OKX checksums the top 25 levels of each side
STATE = {"new": "live", "partial": "partially_filled", "filled": "filled",
         "canceled": "canceled", "expired": "canceled", "rejected": "canceled"}
ORD_TYPE = {"GTC": "limit", "IOC": "ioc", "FOK": "fok"}
TIF = {"limit": "GTC", "ioc": "IOC", "fok": "FOK"}


class OkxError(CmcError):
    """A request the fake answers with an OKX error: ``code`` (or the per-order ``sCode``),
    ``msg`` and the HTTP status it travels with (200 for most: OKX reports errors in the body)."""

    def __init__(self, code: str, msg: str, status: int = 200, retry_after_s: int = 0) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.status, self.retry_after_s = code, msg, status, retry_after_s


#: the simulator's / core's reject codes as OKX ``sCode`` and ``sMsg``
REJECTS = {
    "duplicate_cl": ("51016", "Duplicated clOrdId"),
    "unknown_symbol": ("51001", "Instrument ID does not exist"),
    "bad_qty": ("51121", "Order quantity must be a multiple of the lot size"),
    "qty_above_max": ("51203", "Order amount exceeds the limit"),
    "bad_price": ("51000", "Parameter px error"),
    "session_closed": ("51022", "Instrument suspended"),
    "insufficient_balance": ("51008", "Order failed. Insufficient USDT balance in account"),
}


def reject_code(code: str, side: str) -> tuple[str, str]:
    """The OKX ``(sCode, sMsg)`` of a reject; the fault rejects (``sim_fault``, ``fake_reject``)
    look like OKX's price-limit rejects, a definitive refusal."""
    if code in REJECTS:
        return REJECTS[code]
    if side == "B":
        return "51137", "Your opening price has triggered the limit price (fake reject)"
    return "51138", "Your opening price has triggered the limit price (fake reject)"


# --- numbers and time ------------------------------------------------------------------------


def dec_str(d: Decimal | float | int) -> str:
    """A plain decimal string as OKX writes numbers: no exponent, no trailing zeros."""
    d = Decimal(repr(d)) if isinstance(d, float) else Decimal(d)
    s = format(d.normalize(), "f")
    return "0" if s in ("-0", "") else s


def ms(ns: int) -> int:
    """Nanoseconds as integer milliseconds."""
    return ns // 1_000_000


def ms_str(ns: int) -> str:
    """Nanoseconds as OKX's millisecond string."""
    return str(ns // 1_000_000)


# --- credentials and signatures --------------------------------------------------------------


def secret_for(key: str, secrets: dict[str, str] | None = None) -> str:
    """The API secret the fake accepts for ``key``: ``[[fakes]] secrets[key]``, else
    ``<key>-secret``."""
    return (secrets or {}).get(key) or f"{key}-secret"


def passphrase_for(key: str) -> str:
    """The passphrase the fake accepts for ``key``."""
    return f"{key}-pass"


def sign(secret: str, prehash: str) -> str:
    """OKX's signature: base64 of HMAC-SHA256 of ``prehash`` keyed with the secret."""
    mac = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def sign_ok(secret: str, prehash: str, signature: str) -> bool:
    """True when ``signature`` is the signature of ``prehash`` with ``secret`` (constant
    time)."""
    return hmac.compare_digest(sign(secret, prehash).encode(), signature.encode())


# --- the books checksum ----------------------------------------------------------------------


def checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """OKX's book checksum: CRC32 (as a signed 32-bit int) of ``bid_px:bid_sz:ask_px:ask_sz:...``
    over the top 25 levels of each side, interleaved, levels missing on one side skipped; the
    strings exactly as sent. ``bids`` best (highest) first, ``asks`` best (lowest) first."""
    parts: list[str] = []
    for i in range(CHECKSUM_LEVELS):
        if i < len(bids):
            parts += (bids[i][0], bids[i][1])
        if i < len(asks):
            parts += (asks[i][0], asks[i][1])
    c = zlib.crc32(":".join(parts).encode())
    return c - (1 << 32) if c >= (1 << 31) else c


# --- markets ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OkxMarket:
    """One instrument as OKX lists it, backed by one simulator venue's contract."""

    market: str  #: spot or swap
    venue: str
    contract: ContractConfig

    @property
    def inst_id(self) -> str:
        """OKX's ``instId`` (the contract's symbol: ``BTC-USDT``, ``BTC-USDT-SWAP``)."""
        return self.contract.sym

    @property
    def inst_type(self) -> str:
        """``SPOT`` or ``SWAP``."""
        return self.market.upper()

    @property
    def tick(self) -> Decimal:
        """``tickSz``."""
        return Decimal(self.contract.tick)

    @property
    def step(self) -> Decimal:
        """Base units per lot (the contract's multiplier)."""
        return Decimal(repr(self.contract.multiplier))

    @property
    def lot_sz(self) -> Decimal:
        """``lotSz`` in ``sz`` units: base units on spot, 1 contract on swap."""
        return self.step if self.market == "spot" else Decimal(1)

    def px_str(self, ticks: int | float | Decimal) -> str:
        """Ticks as OKX's price string."""
        return dec_str(_d(ticks) * self.tick)

    def sz_str(self, lots: int | float | Decimal) -> str:
        """Lots as OKX's size string (base units on spot, contracts on swap)."""
        return dec_str(_d(lots) * self.lot_sz)

    def base_of(self, lots: int) -> Decimal:
        """Lots as base units."""
        return lots * self.step

    def ticks(self, px: Any) -> int:
        """OKX ``px`` as ticks; ``OkxError`` 51000 if missing, not positive or off the tick."""
        return _units(px, self.tick, "px", "51000", None)

    def lots(self, sz: Any) -> int:
        """OKX ``sz`` as lots; ``OkxError`` 51121 off the lot size, 51020 below the minimum,
        51203 above the contract's max lots per order."""
        return _units(sz, self.lot_sz, "sz", "51121", self.contract.max_lots_per_order)

    def instrument(self, list_ns: int, state: str = "live") -> dict[str, Any]:
        """The ``/api/v5/public/instruments`` entry (``state``: live, suspend)."""
        c = self.contract
        swap = self.market == "swap"
        lever = dec_str(Decimal(1) / Decimal(repr(c.margin_rate))) if c.margin_rate else "1"
        uly = f"{c.unit}-{c.ccy}"
        return {
            "instType": self.inst_type, "instId": self.inst_id,
            "uly": uly if swap else "", "instFamily": uly if swap else "",
            "baseCcy": "" if swap else c.unit, "quoteCcy": "" if swap else c.ccy,
            "settleCcy": c.ccy if swap else "",
            "ctVal": dec_str(self.step) if swap else "", "ctMult": "1" if swap else "",
            "ctValCcy": c.unit if swap else "", "ctType": "linear" if swap else "",
            "optType": "", "stk": "", "alias": "", "expTime": "",
            "listTime": ms_str(list_ns), "contTdSwTime": ms_str(list_ns),
            "lever": lever if swap else "", "tickSz": dec_str(self.tick),
            "lotSz": dec_str(self.lot_sz), "minSz": dec_str(self.lot_sz),
            "maxLmtSz": self.sz_str(c.max_lots_per_order),
            "maxMktSz": self.sz_str(c.max_lots_per_order),
            "maxLmtAmt": "", "maxMktAmt": "", "maxTwapSz": "", "maxIcebergSz": "",
            "maxTriggerSz": "", "maxStopSz": "", "ruleType": "normal", "category": "1",
            "state": state,
        }


def _d(x: int | float | Decimal) -> Decimal:
    # a float (a garbled simulator level) through its repr, so 0.1 stays 0.1
    return Decimal(repr(x)) if isinstance(x, float) else Decimal(x)


def _units(x: Any, step: Decimal, name: str, code: str, most: int | None) -> int:
    try:
        d = Decimal(str(x))
    except (InvalidOperation, TypeError, ValueError):
        raise OkxError("51000", f"Parameter {name} error") from None
    if x is None or x == "" or not d.is_finite() or d <= 0:
        raise OkxError("51000", f"Parameter {name} error")
    n, rest = divmod(d, step)
    if rest != 0:
        if name == "sz" and n == 0:
            raise OkxError("51020", "Order amount should be greater than the min available "
                           "amount")
        raise OkxError(code, f"Parameter {name} error: not a multiple of {dec_str(step)}")
    if most is not None and n > most:
        raise OkxError("51203", f"Order amount exceeds the limit {dec_str(step * most)}")
    return int(n)


# --- ids -------------------------------------------------------------------------------------


def _num(sim_id: str) -> int:
    digits = str(sim_id).rsplit("-", 1)[-1].lstrip("t")
    return int(digits) if digits.isdigit() else 0


def ord_id(market: str, sim_oid: str) -> str:
    """OKX ``ordId`` of a simulator order id (``""`` for none)."""
    return str(ORD_BASE[market] + _num(sim_oid)) if sim_oid else ""


def sim_order_num(market: str, okx_ord_id: Any) -> int | None:
    """The simulator's order number of an OKX ``ordId``; None if it is not one of ours."""
    s = str(okx_ord_id or "")
    if not s.isdigit():
        return None
    n = int(s) - ORD_BASE[market]
    return n if 0 < n < 10**15 else None


def trade_id(market: str, sim_tid: str) -> str:
    """OKX ``tradeId`` of a simulator trade id."""
    return str(TRADE_BASE[market] + _num(sim_tid))


def bill_id(index: int) -> str:
    """OKX ``billId`` of the funding record at ``index``."""
    return str(BILL_BASE + index + 1)


# --- orders and fills ------------------------------------------------------------------------


@dataclass(slots=True)
class OrderMeta:
    """What OKX keeps about an order that the simulator does not: mode, type and flags."""

    td_mode: str = "cash"
    ord_type: str = "limit"
    reduce_only: bool = False
    tag: str = ""
    done_ns: int = 0  #: when the venue closed it (cancel / expiry), for ``uTime``


def default_meta(m: OkxMarket, o: Order) -> OrderMeta:
    """The metadata of an order the fake did not place itself (ccxt's defaults)."""
    return OrderMeta(td_mode="cash" if m.market == "spot" else "cross",
                     ord_type=ORD_TYPE.get(o.tif, "limit"))


def _fee_str(fee: Decimal) -> str:
    return dec_str(-fee) if fee else "0"


def order_json(m: OkxMarket, o: Order, meta: OrderMeta | None,
               fills: list[FillRecord] | None = None, state: str = "",
               fill: FillRecord | None = None) -> dict[str, Any]:
    """The OKX order object (``GET trade/order``, ``orders-pending``, the ``orders`` channel).
    ``fills``: the fills to describe it with (default: all so far: ``accFillSz``, ``avgPx``,
    ``fee``); ``state``: the OKX state (default: from the order's); ``fill``: the fill this
    push reports (``tradeId``, ``fillSz``, ``fillPx``, ``fillFee``, ``execType``)."""
    meta = meta or default_meta(m, o)
    fills = list(o.fills) if fills is None else fills
    acc = sum(f.qty for f in fills)
    notional = sum(f.px * f.qty for f in fills)
    fee = sum((Decimal(repr(f.fee)) for f in fills), Decimal(0))
    last = fill or (fills[-1] if fills else None)
    state = state or STATE.get(o.state, "live")
    u_ns = max(o.ts, last.ts if last else 0, meta.done_ns if fill is None else 0)
    c = m.contract
    return {
        "instType": m.inst_type, "instId": m.inst_id, "ccy": "",
        "ordId": ord_id(m.market, o.oid), "clOrdId": o.cl, "tag": meta.tag,
        "px": m.px_str(o.px), "sz": m.sz_str(o.qty), "ordType": meta.ord_type,
        "side": "buy" if o.side == "B" else "sell", "posSide": "net" if m.market == "swap" else "",
        "tdMode": meta.td_mode, "tgtCcy": "", "accFillSz": m.sz_str(acc),
        "avgPx": m.px_str(Decimal(notional) / acc) if acc else "",
        "fillPx": m.px_str(last.px) if last else "", "fillSz": m.sz_str(last.qty) if last else "0",
        "fillTime": ms_str(last.ts) if last else "",
        "tradeId": trade_id(m.market, fill.tid) if fill else "",
        "fillFee": _fee_str(Decimal(repr(fill.fee))) if fill else "0",
        "fillFeeCcy": c.ccy if fill else "", "execType": fill.liq if fill else "",
        "state": state, "fee": _fee_str(fee), "feeCcy": c.ccy, "rebate": "0", "rebateCcy": c.ccy,
        "pnl": "0", "lever": "" if m.market == "spot" else "10", "category": "normal",
        "reduceOnly": "true" if meta.reduce_only else "false", "source": "", "cancelSource": "",
        "stpMode": "cancel_maker", "attachAlgoOrds": [], "cTime": ms_str(o.ts),
        "uTime": ms_str(u_ns), "code": "0", "msg": "", "amendResult": "", "reqId": "",
    }


def fill_json(m: OkxMarket, f: FillRecord) -> dict[str, Any]:
    """One transaction of ``/trade/fills`` and ``/trade/fills-history``."""
    tid = trade_id(m.market, f.tid)
    return {
        "instType": m.inst_type, "instId": m.inst_id, "tradeId": tid,
        "ordId": ord_id(m.market, f.oid), "clOrdId": f.cl, "billId": tid, "tag": "",
        "fillPx": m.px_str(f.px), "fillSz": m.sz_str(f.qty), "fillIdxPx": "", "fillPnl": "0",
        "fillPxVol": "", "fillPxUsd": "", "fillMarkVol": "", "fillFwdPx": "", "fillMarkPx": "",
        "side": "buy" if f.side == "B" else "sell",
        "posSide": "net" if m.market == "swap" else "", "execType": f.liq,
        "feeCcy": m.contract.ccy, "fee": _fee_str(Decimal(repr(f.fee))),
        "ts": ms_str(f.ts), "fillTime": ms_str(f.ts), "subType": "1" if f.side == "B" else "2",
    }


def position_json(m: OkxMarket, lots: int, entry_px: Decimal, mark_px: Decimal | None,
                  now_ns: int) -> dict[str, Any]:
    """One net-mode swap position of ``/account/positions`` and the ``positions`` channel."""
    c = m.contract
    base = m.base_of(abs(lots))
    mark = mark_px if mark_px is not None else entry_px
    notional = base * mark
    upl = m.base_of(lots) * (mark - entry_px) if lots else Decimal(0)
    rate = Decimal(repr(c.margin_rate)) or Decimal(1)
    imr = notional * rate
    return {
        "instType": m.inst_type, "instId": m.inst_id, "mgnMode": "cross",
        "posId": str(BILL_BASE // 1000 + zlib.crc32(m.inst_id.encode())),
        "posSide": "net", "pos": dec_str(lots * m.lot_sz), "posCcy": "", "availPos": "",
        "avgPx": dec_str(entry_px) if lots else "", "markPx": dec_str(mark),
        "upl": dec_str(upl), "uplRatio": dec_str(upl / imr) if imr else "0",
        "lever": dec_str(Decimal(1) / rate), "liqPx": "", "imr": dec_str(imr), "margin": "",
        "mgnRatio": "", "mmr": dec_str(imr / 2), "notionalUsd": dec_str(notional),
        "ccy": c.ccy, "adl": "1", "last": dec_str(mark), "idxPx": dec_str(mark),
        "realizedPnl": "0", "fee": "0", "fundingFee": "0", "liab": "", "liabCcy": "",
        "interest": "", "tradeId": "", "cTime": ms_str(now_ns), "uTime": ms_str(now_ns),
    }


__all__ = ["BILL_BASE", "ORD_BASE", "ORD_TYPE", "REJECTS", "STATE", "TIF", "TRADE_BASE",
           "OkxError", "OkxMarket", "OrderMeta", "bill_id", "checksum", "dec_str",
           "default_meta", "fill_json", "ms", "ms_str", "ord_id", "order_json",
           "passphrase_for", "position_json", "reject_code", "secret_for", "sign", "sign_ok",
           "sim_order_num", "trade_id"]
