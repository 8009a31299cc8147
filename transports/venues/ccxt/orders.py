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
holds every fill. ``open_orders``, ``trades``, ``positions``, ``balances`` ask the exchange;
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
from transports.venues.ccxt.clmap import ClMap
from transports.venues.ccxt.errors import Outcome, classify
from transports.venues.ccxt.exchange import LAST_HTTP
from transports.venues.ccxt.positions import SpotLedger
from transports.venues.ccxt.reports import LiveOrder, Tracker, client_id_of, ms_to_ns
from transports.venues.ccxt.units import OffStep, Scale
from transports.venues.fence import FENCED, EpochFence
from transports.wire.venue_msgs import (
    BalanceRecord,
    Balances,
    CancelReject,
    CancelReq,
    FillRecord,
    Instrument,
    NewOrder,
    OpenOrderRecord,
    OpenOrders,
    OrderStatus,
    PositionRecord,
    Positions,
    QueryReq,
    Reject,
    Trades,
)

Send = Callable[[bytes, Any], None]  #: (identity, message)
TRADES_PAGE = 500  #: trades asked per request when paging


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
        self.sym_of_uni = {m["symbol"]: s for s, m in markets.items()}
        self.counters = {"new": 0, "unknown_outcome": 0, "time_resyncs": 0, "cancel": 0,
                         "query": 0}
        self._resync: asyncio.Task[None] | None = None
        self._reads = asyncio.Lock()
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
        """An account read (lists, balances, positions), one at a time: reconciliation,
        catch-up and positions ask together, and an exchange's weight limits (and the local
        fakes) prefer them in turn. Orders, cancels and queries never wait for this."""
        async with self._reads:
            return await call(*args)

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

    def _cl_of(self, d: Mapping[str, Any], oid: str) -> str:
        cl = self.tracker.by_oid.get(oid)
        if cl is not None:
            return cl
        xid = client_id_of(d)
        return (self.clmap.engine_id(xid) if xid else None) or xid or oid

    async def on_open_orders(self, ident: bytes) -> None:
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
                    logger.error("{}: open order {} off the grid: {}", self.cfg.exchange, oid, d)
        self.send(ident, OpenOrders(list=recs))

    async def on_trades(self, ident: bytes, since_ns: int) -> None:
        """The account's fills with ``ts >= since`` on this gateway's symbols."""
        recs = []
        now = self.now_ns()
        for sym, m in self.markets.items():
            for t in await self.fetch_trades_since(m["symbol"], since_ns // 1_000_000):
                self.report(self.tracker.on_trade(t, now))
                rec = self._fill_record(sym, t, now)
                if rec is not None and rec.ts >= since_ns:
                    recs.append(rec)
        self.send(ident, Trades(list=recs))

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

    async def on_positions(self, ident: bytes) -> None:
        """Net signed lots per symbol: the exchange's positions on swaps; on spot, the net of
        the account's trades since the gateway's first start (``positions.SpotLedger``)."""
        if self.ledger is not None:
            net = await self.ledger.positions(self)
        else:
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
                    logger.error("{}: position {} off the lot grid", self.cfg.exchange, p)
                    continue
                net[sym] += -lots if p.get("side") == "short" else lots
        self.send(ident, Positions(list=[PositionRecord(sym=s, qty=q) for s, q in net.items()]))

    async def on_balances(self, ident: bytes) -> None:
        """Every currency the account holds."""
        bal = await self.read(self.ex.fetch_balance)
        total, free, used = bal.get("total") or {}, bal.get("free") or {}, bal.get("used") or {}
        recs = [BalanceRecord(ccy=str(c), total=float(v or 0), available=float(free.get(c) or 0),
                              margin_used=float(used.get(c) or 0))
                for c, v in sorted(total.items()) if v]
        self.send(ident, Balances(list=recs))


__all__ = ["OrderEntry"]
