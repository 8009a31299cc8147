"""Reconciliation answers from IB's own state: ``open_orders`` (``reqAllOpenOrders``),
``trades`` (``reqExecutions``), ``positions`` (``positions()``), ``balances``
(``accountSummary``). Each request to TWS is bounded by ``request_timeout_s``; a timeout is a
``VenueError`` the gateway answers as ``error`` (the engine retries its reconciliation)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from transports.errors import VenueError
from transports.venues.ib.orders import IbOrders
from transports.wire.venue_msgs import (
    BalanceRecord,
    Balances,
    FillRecord,
    OpenOrderRecord,
    OpenOrders,
    PositionRecord,
    Positions,
    Trades,
)

T = TypeVar("T")
_TIF = {"IOC": "IOC", "FOK": "FOK"}


async def _bounded(aw: Awaitable[T], timeout_s: float, what: str) -> T:
    try:
        return await asyncio.wait_for(aw, timeout_s)
    except TimeoutError as exc:
        raise VenueError(f"ib: {what} not answered within {timeout_s} s") from exc


async def open_orders(ib: Any, oe: IbOrders, timeout_s: float) -> OpenOrders:
    """The account's open orders that are the engine's (by ``orderRef``/the durable map)."""
    trades = await _bounded(ib.reqAllOpenOrdersAsync(), timeout_s, "reqAllOpenOrders")
    out, seen = [], set()
    for t in list(trades) + list(ib.openTrades()):
        o = t.order
        cl = oe.clmap.cl_of(o.orderRef, o.orderId, o.permId)
        if cl is None or cl in seen or t.orderStatus.status in ("Filled", "Cancelled",
                                                                  "ApiCancelled", "Inactive"):
            continue
        seen.add(cl)
        e = oe.clmap.by_cl[cl]
        px = oe.scales[e.sym].to_ticks(float(o.lmtPrice))
        out.append(OpenOrderRecord(cl=cl, oid=str(e.order_id), sym=e.sym, side=e.side,
                                   px=px if px is not None else e.px, qty=int(o.totalQuantity),
                                   cum=int(t.orderStatus.filled),
                                   tif=_TIF.get(e.tif, "GTC")))
    return OpenOrders(list=out)


async def trades(ib: Any, oe: IbOrders, since_ns: int, timeout_s: float) -> Trades:
    """The engine's executions with ``ts >= since`` (IB keeps the current day's, or seven
    days' in TWS's trade log); fees as known now (commission reports included)."""
    from ib_async import ExecutionFilter

    fills = await _bounded(ib.reqExecutionsAsync(ExecutionFilter(acctCode=oe.cfg.account)),
                           timeout_s, "reqExecutions")
    out: list[FillRecord] = []
    for f in fills:
        ex = f.execution
        cl = oe.clmap.cl_of(ex.orderRef, ex.orderId, ex.permId)
        if cl is None:
            continue
        e = oe.clmap.by_cl[cl]
        rec = oe.record(cl, str(e.order_id), e.sym, f)
        if rec is not None and rec.ts >= since_ns:
            out.append(rec)
    return Trades(list=out)


def positions(ib: Any, oe: IbOrders) -> Positions:
    """Net signed lots per configured contract (IB nets; no two sides), 0 when flat."""
    held = {sym: (0, 0.0) for sym in oe.scales}
    for p in ib.positions(oe.cfg.account):
        sym = oe.by_con.get(p.contract.conId)
        if sym is not None:
            mult = float(oe.scales[sym].multiplier) or 1.0
            held[sym] = (round(float(p.position)), float(p.avgCost) / mult)
    return Positions(list=[PositionRecord(sym=s, qty=q, avg_px=a) for s, (q, a) in held.items()])


async def balances(ib: Any, oe: IbOrders, timeout_s: float) -> Balances:
    """Per currency: NetLiquidation (total), AvailableFunds, InitMarginReq."""
    vals = await _bounded(ib.accountSummaryAsync(oe.cfg.account), timeout_s, "accountSummary")
    by: dict[str, dict[str, float]] = {}
    for v in vals:
        if v.tag in ("NetLiquidation", "AvailableFunds", "InitMarginReq") and v.currency:
            try:
                by.setdefault(v.currency, {})[v.tag] = float(v.value)
            except ValueError:
                continue
    return Balances(list=[BalanceRecord(ccy=c, total=d.get("NetLiquidation", 0.0),
                                        available=d.get("AvailableFunds", 0.0),
                                        margin_used=d.get("InitMarginReq", 0.0))
                          for c, d in sorted(by.items())])


__all__ = ["balances", "open_orders", "positions", "trades"]
