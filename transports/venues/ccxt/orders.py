"""Order entry of one ccxt account: the protocol's oe requests as ccxt calls, and their answers.

``new`` is checked (symbol, quantities, a client id never used), its exchange client id
recorded durably where it is mapped (``clmap``), then sent as a limit order with the engine's
time in force (and ``reduceOnly`` on swaps). The REST reply feeds the ``Tracker`` (ack, and on
Binance the fills and the close of an IOC/FOK at once); an exception is judged by
``errors.classify``: a definitive refusal becomes ``reject`` (``throttled`` with the exchange's
``Retry-After``; a clock skew resyncs ccxt's time offset first), an open outcome becomes
nothing at all -- the engine queries, and the private stream or the query finds the order.

``new`` and ``cancel`` carrying an ``epoch`` older than the highest this account has sent are
refused first (``fenced``, ``fence.EpochFence``: durable beside the clmap), before any exchange
call.

``cancel`` cancels by exchange order id (by client id while the id is unknown); a cancel of an
order the exchange no longer has looks the order up so the answer says why (``not_open``).
``query`` asks the exchange by client id on the order's symbol (every symbol for an order from
before a restart) and fetches the order's trades when the tracker lacks some, so ``fills``
holds every fill. ``open_orders``, ``trades``, ``positions``, ``balances`` answer with what
the exchange says (``account.AccountReads``, which also does every read one at a time);
``ping`` is answered at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import ccxt
from loguru import logger

from transports.config.gateways import CcxtVenueConfig
from transports.errors import VenueError
from transports.venues.ccxt.account import AccountReads
from transports.venues.ccxt.clmap import ClMap
from transports.venues.ccxt.errors import Outcome, classify
from transports.venues.ccxt.exchange import LAST_HTTP
from transports.venues.ccxt.positions import SpotLedger
from transports.venues.ccxt.reports import LiveOrder, Tracker
from transports.venues.ccxt.units import OffStep, Scale
from transports.venues.fence import FENCED, EpochFence
from transports.wire.venue_msgs import (
    Balances,
    CancelReject,
    CancelReq,
    Instrument,
    NewOrder,
    OpenOrders,
    OrderStatus,
    PositionRecord,
    Positions,
    QueryReq,
    Reject,
    Trades,
)

Send = Callable[[bytes, Any], None]  #: (identity, message)


class OrderEntry:
    """The oe requests of one account; replies go to the asking identity, reports to the
    account's (``account``)."""

    def __init__(self, ex: Any, cfg: CcxtVenueConfig, markets: Mapping[str, Mapping[str, Any]],
                 scales: Mapping[str, Scale], instruments: Mapping[str, Instrument],
                 clmap: ClMap, tracker: Tracker, ledger: SpotLedger | None, send: Send,
                 account: bytes, now_ns: Callable[[], int],
                 fence: EpochFence | None = None) -> None:
        self.ex, self.cfg, self.markets, self.scales = ex, cfg, markets, scales
        self.instruments, self.clmap, self.tracker, self.ledger = (instruments, clmap, tracker,
                                                                   ledger)
        self.send, self.account, self.now_ns = send, account, now_ns
        #: the highest fencing epoch of the account (keyed by the configured account)
        self.fence = fence if fence is not None else EpochFence()
        self.fence_key = account.decode("utf-8", "surrogateescape")
        #: the account's state as the exchange tells it (and the one-at-a-time reads)
        self.account_reads = AccountReads(ex, cfg.exchange, markets, scales, clmap, tracker,
                                          self.report, now_ns)
        self.counters = {"new": 0, "unknown_outcome": 0, "time_resyncs": 0, "cancel": 0,
                         "query": 0}
        self._resync: asyncio.Task[None] | None = None
        #: the REST side of the session: called with (up, reason) when it changes
        self.on_rest: Callable[[bool, str], None] | None = None
        self.rest_down = False
        #: (cl, new received ns, ack/reject sent ns) for a bench
        self.trace: list[tuple[str, int, int]] | None = None

    def report(self, msgs: list[Any]) -> None:
        """Send reports to the account's identity."""
        for m in msgs:
            self.send(self.account, m)

    def _outcome(self, exc: BaseException) -> Outcome:
        http = LAST_HTTP.get()
        status, headers = (http if http is not None else (None, None))
        out = classify(exc, self.cfg.exchange, status=status, headers=headers)
        if isinstance(exc, ccxt.ExchangeNotAvailable) and not self.rest_down:
            self.rest_down = True  # refused connections, 503s: the REST session is down
            if self.on_rest is not None:
                self.on_rest(False, f"REST: {type(exc).__name__}")
        if out.kind == "clock_skew":
            self.counters["time_resyncs"] += 1
            if self._resync is None or self._resync.done():
                self._resync = asyncio.get_running_loop().create_task(self._resync_time())
        return out

    async def read(self, call: Callable[..., Any], *args: Any) -> Any:
        """An account read, one at a time (``AccountReads.read``)."""
        return await self.account_reads.read(call, *args)

    async def fetch_trades_since(self, uni: str, since_ms: int) -> list[Any]:
        """Every trade on ``uni`` since ``since_ms``, paged (``AccountReads``)."""
        return await self.account_reads.fetch_trades_since(uni, since_ms)

    def _rest_ok(self) -> None:
        if self.rest_down:
            self.rest_down = False
            if self.on_rest is not None:
                self.on_rest(True, "REST answers again")

    async def _resync_time(self) -> None:
        try:
            diff = await self.ex.load_time_difference()
            logger.warning("{}: clock skew: time offset resynced to {} ms", self.cfg.exchange, diff)
        except Exception as exc:  # noqa: BLE001 - the next skew retries
            logger.warning("{}: time resync failed: {!r}", self.cfg.exchange, exc)

    # --- new ---------------------------------------------------------------------------------

    def _check_new(self, req: NewOrder) -> tuple[str, str] | None:
        ins = self.instruments.get(req.sym)
        if ins is None:
            return "unknown_symbol", f"no symbol {req.sym!r} on this gateway"
        if req.qty <= 0:
            return "bad_qty", f"qty {req.qty} <= 0"
        if req.px <= 0:
            return "bad_price", f"px {req.px} <= 0"
        if req.qty > ins.max_qty:
            return "qty_above_max", f"qty {req.qty} above max {ins.max_qty}"
        if req.qty < ins.min_qty:
            return "qty_below_min", f"qty {req.qty} below min {ins.min_qty}"
        if req.reduce_only and self.cfg.market == "spot":
            return "unsupported", "reduce_only on a spot market"
        if req.offset:
            return "unsupported", f"offset {req.offset!r} on a crypto venue"
        if req.cl in self.tracker.orders:
            # this process sent it; across restarts the exchange judges (the map is for ids,
            # and an engine with a new epoch never repeats one)
            return "duplicate_cl", f"client id {req.cl!r} was used already"
        return None

    async def on_new(self, req: NewOrder, rx_ns: int) -> None:
        """Place a limit order; answer ``ack``/``reject`` (or nothing: unknown outcome)."""
        self.counters["new"] += 1
        fenced = self.fence.check(self.fence_key, req.epoch)
        if fenced:  # a deposed engine: about this request only, never to the exchange
            self.report([Reject(cl=req.cl, code=FENCED, reason=fenced, ts=self.now_ns())])
            return
        bad = self._check_new(req)
        if bad is not None:
            if bad[0] == "duplicate_cl":  # about this request only: the first order lives on
                self.report([Reject(cl=req.cl, code=bad[0], reason=bad[1], ts=self.now_ns())])
            else:
                self.report(self.tracker.reject(req.cl, bad[0], bad[1], self.now_ns()))
            return
        try:
            xid = self.clmap.exchange_id(req.cl)
        except VenueError as exc:
            self.report(self.tracker.reject(req.cl, "bad_cl", str(exc), self.now_ns()))
            return
        if xid != req.cl:
            self.clmap.record(req.cl, xid, req.sym)  # durable before the exchange hears of it
        sc, uni = self.scales[req.sym], self.markets[req.sym]["symbol"]
        self.tracker.add(LiveOrder(cl=req.cl, xid=xid, sym=req.sym, side=req.side, px=req.px,
                                   qty=req.qty, tif=req.tif))
        params: dict[str, Any] = {"timeInForce": req.tif, "clientOrderId": xid}
        if req.reduce_only:
            params["reduceOnly"] = True
        LAST_HTTP.set(None)
        try:
            o = await self.ex.create_order(uni, "limit", "buy" if req.side == "B" else "sell",
                                           float(sc.lots_to_amount(req.qty)),
                                           float(sc.ticks_to_price(req.px)), params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is judged, none crashes
            out = self._outcome(exc)
            if out.code == "duplicate_cl":
                # the exchange has an order with this id (a previous run's): this request made
                # none, and that order's own events must find it (adopted), not a rejected one
                self.tracker.forget(req.cl)
                self.report([Reject(cl=req.cl, code=out.code, reason=out.reason,
                                    ts=self.now_ns())])
            elif out.kind in ("reject", "throttled", "clock_skew"):
                self.report(self.tracker.reject(req.cl, out.code, out.reason, self.now_ns(),
                                                out.retry_ms))
            else:  # open: say nothing, the engine queries; the stream may still tell
                self.counters["unknown_outcome"] += 1
                logger.warning("{}: new {} outcome unknown: {}", self.cfg.exchange, req.cl,
                               out.reason)
        else:
            self._rest_ok()
            self.report(self.tracker.on_order(o, self.now_ns()))
        if self.trace is not None:
            self.trace.append((req.cl, rx_ns, self.now_ns()))

    # --- cancel ------------------------------------------------------------------------------

    async def on_cancel(self, ident: bytes, req: CancelReq) -> None:
        """Cancel ``cl``: ``done canceled`` (from the reply or the stream) or ``cancel_reject``."""
        self.counters["cancel"] += 1
        fenced = self.fence.check(self.fence_key, req.epoch)
        if fenced:
            self._cancel_reject(ident, req.cl, FENCED, fenced)
            return
        o = self.tracker.orders.get(req.cl)
        if o is None:
            o = await self.find_order(req.cl)
        if o is None or o.rejected:
            why = "order was rejected" if o is not None else "no such order"
            self._cancel_reject(ident, req.cl, "unknown_order", why)
            return
        if o.closed:
            self._cancel_reject(ident, req.cl, "not_open", f"order is {o.closed}")
            return
        uni = self.markets[o.sym]["symbol"]
        LAST_HTTP.set(None)
        try:
            r = await self.ex.cancel_order(o.oid or None, uni,
                                           {} if o.oid else {"clientOrderId": o.xid})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            out = self._outcome(exc)
            if out.kind == "not_found":
                o2 = await self.find_order(req.cl, o)
                if o2 is not None and o2.closed:
                    self._cancel_reject(ident, req.cl, "not_open", f"order is {o2.closed}")
                else:
                    self._cancel_reject(ident, req.cl, out.code, out.reason)
            elif out.kind in ("reject", "throttled", "clock_skew"):
                self._cancel_reject(ident, req.cl, out.code, out.reason, out.retry_ms)
            else:
                logger.warning("{}: cancel {} outcome unknown: {}", self.cfg.exchange, req.cl,
                               out.reason)
            return
        self._rest_ok()
        if isinstance(r, Mapping):
            self.report(self.tracker.on_order({**r, "status": r.get("status") or None},
                                              self.now_ns()))

    def _cancel_reject(self, ident: bytes, cl: str, code: str, reason: str,
                       retry_ms: int = 0) -> None:
        self.send(ident, CancelReject(cl=cl, code=code, reason=reason, ts=self.now_ns(),
                                      retry_ms=retry_ms))

    # --- query -------------------------------------------------------------------------------

    async def find_order(self, cl: str, o: LiveOrder | None = None) -> LiveOrder | None:
        """Ask the exchange for ``cl`` (on its symbol, or every symbol); feed the tracker with
        the order and, if it lacks some, the order's trades. ``None``: not found or no answer."""
        o = o or self.tracker.orders.get(cl)
        sym = o.sym if o is not None else self.clmap.symbol(cl)
        try:
            xid = o.xid if o is not None else self.clmap.exchange_id(cl)
        except VenueError:
            return None
        for s in [sym] if sym else list(self.markets):
            uni = self.markets[s]["symbol"]
            try:
                d = await self.ex.fetch_order(o.oid if o is not None and o.oid else None, uni,
                                              {"clientOrderId": xid} if not (o and o.oid) else {})
            except ccxt.OrderNotFound:
                self._rest_ok()
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - no answer: unknown for now
                self._outcome(exc)
                logger.info("{}: fetch_order {}: {!r}", self.cfg.exchange, cl, exc)
                return None
            self._rest_ok()
            now = self.now_ns()
            msgs = self.tracker.on_order({k: v for k, v in d.items() if k != "trades"}, now)
            found = self.tracker.orders.get(cl)
            if found is None:
                self.report(msgs)
                return None
            try:
                filled = self.scales[s].amount_to_lots(d.get("filled") or 0)
            except OffStep:
                filled = found.cum
            if filled > found.cum and found.oid:
                msgs += await self._order_trades(found, uni, now)
            self.report(msgs + self.tracker.sweep(self.now_ns()))
            return found
        return None

    async def _order_trades(self, o: LiveOrder, uni: str, now: int) -> list[Any]:
        try:
            if self.ex.has.get("fetchOrderTrades"):
                trades = await self.read(self.ex.fetch_order_trades, o.oid, uni)
            else:
                trades = [t for t in await self.read(self.ex.fetch_my_trades, uni)
                          if str(t.get("order")) == o.oid]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the query reply says what is known
            logger.info("{}: trades of {}: {!r}", self.cfg.exchange, o.cl, exc)
            return []
        out: list[Any] = []
        for t in trades:
            out += self.tracker.on_trade({**t, "order": t.get("order") or o.oid}, now)
        return out

    async def on_query(self, ident: bytes, req: QueryReq) -> None:
        """``status`` of ``cl`` with every fill; ``unknown`` when the exchange has no such order
        (never ``rejected`` unless the exchange refused it)."""
        self.counters["query"] += 1
        o = self.tracker.orders.get(req.cl)
        settled = o is not None and (o.rejected or (o.done_sent and o.cum >= o.closed_cum))
        if not settled:
            await self.find_order(req.cl)
        self.send(ident, self.tracker.status(req.cl) if req.cl in self.tracker.orders
                  else OrderStatus(cl=req.cl, state="unknown"))

    # --- lists -------------------------------------------------------------------------------

    async def on_open_orders(self, ident: bytes) -> None:
        """Every open order of the account on this gateway's symbols."""
        self.send(ident, OpenOrders(list=await self.account_reads.open_orders()))

    async def on_trades(self, ident: bytes, since_ns: int) -> None:
        """The account's fills with ``ts >= since`` on this gateway's symbols."""
        self.send(ident, Trades(list=await self.account_reads.trades(since_ns)))

    async def on_positions(self, ident: bytes) -> None:
        """Net signed lots per symbol: the exchange's positions on swaps; on spot, the net of
        the account's trades since the gateway's first start (``positions.SpotLedger``)."""
        if self.ledger is not None:
            net = await self.ledger.positions(self)
        else:
            net = await self.account_reads.swap_positions()
        self.send(ident, Positions(list=[PositionRecord(sym=s, qty=q) for s, q in net.items()]))

    async def on_balances(self, ident: bytes) -> None:
        """Every currency the account holds."""
        self.send(ident, Balances(list=await self.account_reads.balances()))


__all__ = ["OrderEntry"]
