"""The account as the exchange tells it: open orders, trades, positions and balances.

What the engine's list requests (``open_orders``, ``trades``, ``positions``, ``balances``)
and the gateway's own catch-up and spot ledger ask the exchange, turned into the protocol's
records on the instrument grid (an amount or price off the grid is logged and left out, never
rounded). Every order or trade seen on the way also feeds the ``Tracker``, so a report the
streams missed goes out (to the account, ``report``) before the list's reply. The reads go
one at a time (``read``): reconciliation, catch-up and positions ask together, and an
exchange's weight limits (and the local fakes) prefer them in turn; ``OrderEntry``
(``orders.py``) answers the requests with what this returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from loguru import logger

from transports.venues.ccxt.clmap import ClMap
from transports.venues.ccxt.reports import Tracker, client_id_of, ms_to_ns
from transports.venues.ccxt.units import OffStep, Scale
from transports.wire.venue_msgs import BalanceRecord, FillRecord, OpenOrderRecord

TRADES_PAGE = 500  #: trades asked per request when paging


class AccountReads:
    """The account reads of one ccxt account (module docstring); ``report`` sends protocol
    reports to the account."""

    def __init__(self, ex: Any, exchange: str, markets: Mapping[str, Mapping[str, Any]],
                 scales: Mapping[str, Scale], clmap: ClMap, tracker: Tracker,
                 report: Callable[[list[Any]], None], now_ns: Callable[[], int]) -> None:
        self.ex, self.exchange, self.markets, self.scales = ex, exchange, markets, scales
        self.clmap, self.tracker, self.report, self.now_ns = clmap, tracker, report, now_ns
        self.sym_of_uni = {m["symbol"]: s for s, m in markets.items()}
        self._reads = asyncio.Lock()

    async def read(self, call: Callable[..., Any], *args: Any) -> Any:
        """An account read (lists, balances, positions), one at a time. Orders, cancels and
        queries never wait for this."""
        async with self._reads:
            return await call(*args)

    def _cl_of(self, d: Mapping[str, Any], oid: str) -> str:
        cl = self.tracker.by_oid.get(oid)
        if cl is not None:
            return cl
        xid = client_id_of(d)
        return (self.clmap.engine_id(xid) if xid else None) or xid or oid

    async def open_orders(self) -> list[OpenOrderRecord]:
        """Every open order of the account on this gateway's symbols."""
        recs: list[OpenOrderRecord] = []
        for sym, m in self.markets.items():
            sc = self.scales[sym]
            for d in await self.read(self.ex.fetch_open_orders, m["symbol"]):
                oid = str(d.get("id") or "")
                self.report(self.tracker.on_order(d, self.now_ns()))
                try:
                    recs.append(OpenOrderRecord(
                        cl=self._cl_of(d, oid), oid=oid, sym=sym,
                        side="B" if d.get("side") == "buy" else "S",
                        px=sc.price_to_ticks(d["price"]), qty=sc.amount_to_lots(d["amount"]),
                        cum=sc.amount_to_lots(d.get("filled") or 0),
                        tif=str(d.get("timeInForce") or "GTC")))
                except (OffStep, KeyError, TypeError):
                    logger.error("{}: open order {} off the grid: {}", self.exchange, oid, d)
        return recs

    async def trades(self, since_ns: int) -> list[FillRecord]:
        """The account's fills with ``ts >= since`` on this gateway's symbols."""
        recs = []
        now = self.now_ns()
        for sym, m in self.markets.items():
            for t in await self.fetch_trades_since(m["symbol"], since_ns // 1_000_000):
                self.report(self.tracker.on_trade(t, now))
                rec = self._fill_record(sym, t, now)
                if rec is not None and rec.ts >= since_ns:
                    recs.append(rec)
        return recs

    async def fetch_trades_since(self, uni: str, since_ms: int) -> list[Any]:
        """Every trade on ``uni`` since ``since_ms``, paged."""
        out: list[Any] = []
        seen: set[str] = set()
        cursor = since_ms
        for _ in range(100):  # at most 100 pages per request
            page = await self.read(self.ex.fetch_my_trades, uni, cursor, TRADES_PAGE)
            fresh = [t for t in page if str(t.get("id")) not in seen]
            for t in fresh:
                seen.add(str(t.get("id")))
            out += fresh
            if len(page) < TRADES_PAGE or not fresh:
                break
            cursor = max(int(t.get("timestamp") or cursor) for t in page)
        return out

    def _fill_record(self, sym: str, t: Mapping[str, Any], now: int) -> FillRecord | None:
        oid = str(t.get("order") or "")
        o = self.tracker.orders.get(self.tracker.by_oid.get(oid, ""))
        if o is not None and str(t.get("id")) in o.fills:
            return o.fills[str(t.get("id"))]
        sc = self.scales[sym]
        try:
            px, qty = sc.price_to_ticks(t["price"]), sc.amount_to_lots(t["amount"])
        except (OffStep, KeyError, TypeError):
            return None
        fee = t.get("fee") or {}
        return FillRecord(cl=self._cl_of(t, oid), oid=oid, tid=str(t.get("id")), px=px, qty=qty,
                          ts=ms_to_ns(t.get("timestamp"), now),
                          liq="M" if t.get("takerOrMaker") == "maker" else "T",
                          fee=float(fee.get("cost") or 0.0), sym=sym,
                          side="B" if t.get("side") == "buy" else "S")

    async def swap_positions(self) -> dict[str, int]:
        """Net signed lots per symbol from the exchange's positions (swaps; on spot the
        gateway keeps its own, ``positions.SpotLedger``)."""
        net = {s: 0 for s in self.markets}
        rows = await self.read(self.ex.fetch_positions,
                               [m["symbol"] for m in self.markets.values()])
        for p in rows:
            sym = self.sym_of_uni.get(str(p.get("symbol") or ""))
            if sym is None:
                continue
            try:
                lots = self.scales[sym].amount_to_lots(abs(p.get("contracts") or 0))
            except OffStep:
                logger.error("{}: position {} off the lot grid", self.exchange, p)
                continue
            net[sym] += -lots if p.get("side") == "short" else lots
        return net

    async def balances(self) -> list[BalanceRecord]:
        """Every currency the account holds."""
        bal = await self.read(self.ex.fetch_balance)
        total, free, used = bal.get("total") or {}, bal.get("free") or {}, bal.get("used") or {}
        return [BalanceRecord(ccy=str(c), total=float(v or 0), available=float(free.get(c) or 0),
                              margin_used=float(used.get(c) or 0))
                for c, v in sorted(total.items()) if v]


__all__ = ["TRADES_PAGE", "AccountReads"]
