"""The simulator's offsets mode: a contract with ``offsets = true`` trades as on CTP.

Per account and symbol the venue keeps two-sided positions (long and short, each today's and
yesterday's lots). Every order must say its ``offset``; the venue checks it as the exchange
does, counting what its working closing orders already hold frozen:

- no offset (or an unknown one): rejected ``bad_offset`` (CTP ErrorID 15, a bad field);
- ``close_today`` beyond today's free lots: rejected ``close_exceeds_position`` (CTP ErrorID
  50, 平今仓位不足); ``close_yesterday`` -- and ``close`` where the contract says
  ``close_today`` (SHFE/INE: there ``close`` closes yesterday's lots) -- beyond yesterday's:
  ErrorID 51 (平昨仓位不足); ``close`` elsewhere beyond the side's free lots: ErrorID 30
  (平仓量超过持仓量); ``close_today`` on a contract without ``close_today``: ``bad_offset``.

A fill opens today's lots of its side or closes the bucket its offset names (``close`` on a
venue without ``close_today``: yesterday's first). Today's lots become yesterday's at the
trading-day boundary: daily at the contract's ``trading_day_roll_utc``, or every
``trading_day_roll_s`` seconds of the epoch (a short demo then holds yesterday's lots). A
``close_today`` fill pays the venue's ``close_today_fee_per_lot`` (when set) instead of the
contract's ``fee_per_lot``. Pure: times come in as ``ts`` (epoch ns).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from transports.config.engine import ContractConfig
from transports.venues.sim.matching import Order
from transports.wire.venue_msgs import PositionRecord

_S = 1_000_000_000
_DAY_NS = 86_400 * _S
_CLOSES = ("close", "close_today", "close_yesterday")


def trading_day(ts: int, roll_s: int, roll_utc: str) -> int:
    """The trading day ``ts`` falls in (see the module)."""
    if roll_s > 0:
        return ts // (roll_s * _S)
    h, _, m = roll_utc.partition(":")
    return (ts - (int(h) * 3600 + int(m) * 60) * _S) // _DAY_NS


@dataclass(slots=True)
class Buckets:
    """One account's two-sided position in one symbol."""

    long_today: int = 0
    long_yd: int = 0
    short_today: int = 0
    short_yd: int = 0

    def record(self, sym: str) -> PositionRecord:
        """The protocol v2 record (``long``/``short`` include today's lots)."""
        return PositionRecord(sym, long=self.long_today + self.long_yd,
                              short=self.short_today + self.short_yd,
                              long_today=self.long_today, short_today=self.short_today)


class SimOffsets:
    """Two-sided positions and offset checks of one venue's offset contracts."""

    def __init__(self, contracts: Iterable[ContractConfig], close_today_fee_per_lot: float
                 ) -> None:
        self.rules = {c.sym: c for c in contracts if c.offsets}  #: sym -> contract
        self.close_today_fee = close_today_fee_per_lot  #: 0: the contract's fee_per_lot
        self.pos: dict[str, dict[str, Buckets]] = {}  #: account -> sym -> buckets
        self.day: dict[str, int] = {}  #: sym -> the trading day the buckets are of
        self.rolls = 0  #: trading-day rolls applied

    def roll(self, ts: int) -> None:
        """Move today's lots to yesterday's for every symbol whose trading day changed."""
        for sym, c in self.rules.items():
            d = trading_day(ts, c.trading_day_roll_s, c.trading_day_roll_utc)
            last = self.day.get(sym)
            if last is not None and d > last:
                self.rolls += 1
                for per in self.pos.values():
                    b = per.get(sym)
                    if b is not None:
                        b.long_yd += b.long_today
                        b.short_yd += b.short_today
                        b.long_today = b.short_today = 0
            if last is None or d > last:
                self.day[sym] = d

    def buckets(self, account: str, sym: str) -> Buckets:
        """``account``'s buckets in ``sym`` (created flat)."""
        return self.pos.setdefault(account, {}).setdefault(sym, Buckets())

    @staticmethod
    def frozen(orders: Iterable[Order], account: str, sym: str, side: str) -> dict[str, int]:
        """offset -> lots the working orders of ``account`` on ``side`` of ``sym`` hold."""
        out: dict[str, int] = {}
        for o in orders:
            if o.account == account and o.sym == sym and o.side == side and o.is_open:
                out[o.offset] = out.get(o.offset, 0) + o.leaves
        return out

    def check(self, account: str, sym: str, side: str, qty: int, offset: str,
              frozen: dict[str, int], ts: int) -> tuple[str, str] | None:
        """(code, reason) if the exchange would refuse this order's offset, else None.
        ``frozen``: offset -> leaves of the account's working orders on ``side`` of ``sym``."""
        c = self.rules[sym]
        self.roll(ts)
        if offset == "open":
            return None
        if offset not in _CLOSES or (offset == "close_today" and not c.close_today):
            return "bad_offset", f"CTP ErrorID 15: offset {offset!r} not valid for {sym}"
        b = self.buckets(account, sym)
        td, yd = (b.long_today, b.long_yd) if side == "S" else (b.short_today, b.short_yd)
        if offset == "close_today":
            free, eid, what = td - frozen.get("close_today", 0), 50, "平今仓位不足"
        elif c.close_today or offset == "close_yesterday":
            free = yd - frozen.get("close_yesterday", 0) - frozen.get("close", 0)
            eid, what = 51, "平昨仓位不足"
        else:
            free = td + yd - sum(frozen.get(k, 0) for k in _CLOSES)
            eid, what = 30, "平仓量超过持仓量"
        if qty > free:
            return ("close_exceeds_position",
                    f"CTP ErrorID {eid}: {what} ({offset} {qty} lots, {max(free, 0)} free)")
        return None

    def apply(self, account: str, sym: str, side: str, qty: int, offset: str, ts: int) -> None:
        """Apply a fill (checked orders only reach here; an excess opens, keeping the net)."""
        self.roll(ts)
        b = self.buckets(account, sym)
        if offset not in _CLOSES:
            self._open(b, side, qty)
            return
        long_side = side == "S"
        td, yd = (b.long_today, b.long_yd) if long_side else (b.short_today, b.short_yd)
        if offset == "close_today":
            a = min(td, qty)
            y = min(yd, qty - a)
        else:
            y = min(yd, qty)
            a = min(td, qty - y) if offset == "close" and not self.rules[sym].close_today else 0
        td, yd = td - a, yd - y
        if long_side:
            b.long_today, b.long_yd = td, yd
        else:
            b.short_today, b.short_yd = td, yd
        if qty - a - y:
            self._open(b, side, qty - a - y)

    @staticmethod
    def _open(b: Buckets, side: str, qty: int) -> None:
        if side == "B":
            b.long_today += qty
        else:
            b.short_today += qty

    def fee(self, c: ContractConfig, offset: str, qty: int) -> float:
        """The fee of a fill: the close-today fee for ``close_today`` (when set)."""
        per = self.close_today_fee if offset == "close_today" and self.close_today_fee else \
            c.fee_per_lot
        return round(per * qty, 10)

    def records(self, account: str, ts: int) -> list[PositionRecord]:
        """``account``'s positions in the offset symbols, two-sided."""
        self.roll(ts)
        return [b.record(s) for s, b in self.pos.get(account, {}).items()]


__all__ = ["Buckets", "SimOffsets", "trading_day"]
