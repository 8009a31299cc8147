"""The CTP gateway's loops and handlers (a mixin of ``CtpGateway``, split for size): CTP events
from the API threads, ref and oe requests from the engine, heartbeats and the query queue."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import msgspec
import zmq
from loguru import logger
from openctp_ctp import thostmduserapi as mdapi
from openctp_ctp import thosttraderapi as tdapi

from transports.venues.ctp import offsets as off
from transports.venues.ctp.orders import Order
from transports.venues.ctp.reports import balances_of, instrument_of, positions_of
from transports.venues.fence import FENCED, EpochFence
from transports.wire.venue_msgs import (
    Balances,
    BalancesReq,
    CancelReject,
    CancelReq,
    Error,
    Heartbeat,
    Instruments,
    InstrumentsReq,
    NewOrder,
    OpenOrders,
    OpenOrdersReq,
    Ping,
    Pong,
    Positions,
    PositionsReq,
    QueryReq,
    Reject,
    SnapshotReq,
    Trades,
    TradesReq,
)

POLL_MS = 100


class Handlers:
    """Methods of ``CtpGateway`` (see there for the attributes)."""


    # --- CTP events ---------------------------------------------------------------------------

    async def _event_loop(self: Any) -> None:
        while True:
            try:
                name, args = await asyncio.wait_for(self.events.get(), POLL_MS / 1000)
            except TimeoutError:
                continue
            try:
                self._handle_event(name, args)
            except Exception:  # noqa: BLE001 - one bad report must not stop the gateway
                logger.exception("{}: handling {} failed", self.venue.name, name)

    def _handle_event(self: Any, name: str, args: tuple[Any, ...]) -> None:
        c, now = self.creds, self.now_ns()
        if name == "td_connected":
            f = tdapi.CThostFtdcReqAuthenticateField()
            f.BrokerID, f.UserID, f.AppID, f.AuthCode = c["broker"], c["user"], c["app"], c["auth"]
            self.td.ReqAuthenticate(f, next(self.rid))
        elif name == "td_disconnected":
            self.logged_in = False
            self._session(False, f"trader front disconnected ({args[0]:#x})")
        elif name == "authenticated":
            _, err, msg, _ = args
            if err:
                self._session(False, f"authenticate: CTP {err}", auth_failed=True)
                return
            f = tdapi.CThostFtdcReqUserLoginField()
            f.BrokerID, f.UserID, f.Password = c["broker"], c["user"], c["password"]
            self.td.ReqUserLogin(f, next(self.rid))
        elif name == "td_login":
            rsp, err, msg, _ = args
            if err:
                self._session(False, f"login: CTP {err}", auth_failed=True)
                return
            self.front, self.session_id = int(rsp.FrontID), int(rsp.SessionID)
            self.tracker.front, self.tracker.session = self.front, self.session_id
            max_ref = int(rsp.MaxOrderRef) if str(rsp.MaxOrderRef).strip().isdigit() else 0
            self.next_ref = max(max_ref, self.clmap.max_ref(self.front, self.session_id)) + 1
            f = tdapi.CThostFtdcSettlementInfoConfirmField()
            f.BrokerID, f.InvestorID = c["broker"], c["user"]
            self.td.ReqSettlementInfoConfirm(f, next(self.rid))
        elif name == "settlement_confirmed":
            self.logged_in = True
            if self.instruments is None:
                self.queries.put(self._qry_instruments)
            else:
                self._session(True, "logged in")
        elif name == "instrument":
            rsp, err, _, last = args
            if rsp is not None and not err and (not self.symbols
                                                 or rsp.InstrumentID in self.symbols):
                self._inst_rows.append(rsp)
            if last:
                self._load_instruments()
        elif name in ("commission", "margin"):
            rsp, err, _, _ = args
            if rsp is not None and not err:
                on = self.fees.on_commission if name == "commission" else self.fees.on_margin
                if on(rsp):
                    self._publish_instruments()
        elif name in ("position", "account"):
            rsp, err, _, last = args
            if rsp is not None and not err:
                self._rows[name].append(rsp)
            if last:
                rows, self._rows[name] = self._rows[name], []
                reply = (Positions(list=positions_of(rows)) if name == "position"
                         else Balances(list=balances_of(rows)))
                for ident in self._waiting[name]:
                    self.send(ident, reply)
                self._waiting[name] = []
        elif name == "insert_error":
            rsp, err, msg, _ = args
            if err and rsp is not None:
                self._out(self.tracker.on_insert_error(rsp, err, msg, now))
        elif name == "action_error":
            rsp, err, msg, _ = args
            if err and rsp is not None:
                self._out(self.tracker.on_action_error(rsp, err, msg, now))
        elif name == "order":
            self._out(self.tracker.on_order(args[0], now))
        elif name == "trade":
            self._out(self.tracker.on_trade(args[0], now))
        elif name == "md_connected":
            f = mdapi.CThostFtdcReqUserLoginField()
            f.BrokerID, f.UserID, f.Password = c["broker"], c["user"], c["password"]
            self.md.ReqUserLogin(f, next(self.rid))
        elif name == "md_disconnected":  # CTP reconnects; md_connected logs in again
            logger.warning("{}: md front disconnected ({:#x})", self.venue.name, args[0])
        elif name == "md_login":
            if args[1]:
                logger.error("{}: md login: CTP {}", self.venue.name, args[1])
            elif self.symbols:
                self.md.SubscribeMarketData([s.encode() for s in self.symbols],
                                            len(self.symbols))
        elif name == "depth":
            d = self.books.on_depth(args[0], now)
            if d is not None:
                self.publish(d.sym, d)
        elif name == "rsp_error":
            logger.warning("{}: CTP error {} ({})", self.venue.name, args[0], args[1])

    def _out(self: Any, msgs: list[Any]) -> None:
        for m in msgs:
            self.send(self.account, m)

    def _qry_instruments(self: Any) -> int:
        return self.td.ReqQryInstrument(tdapi.CThostFtdcQryInstrumentField(), next(self.rid))

    def _load_instruments(self: Any) -> None:
        rows, self._inst_rows = self._inst_rows, []
        listed = {r.InstrumentID: r for r in rows}
        missing = [s for s in self.symbols if s not in listed]
        if missing:
            logger.error("{}: CTP does not list {}", self.venue.name, missing)
        for s, r in listed.items():
            self.ticks[s] = Decimal(repr(float(r.PriceTick)))
            self.exchanges[s] = r.ExchangeID
            self.multipliers[s] = int(r.VolumeMultiple)
            self.books.seqs.setdefault(s, 0)
            self.queries.put(lambda s=s: self._qry_rate("commission", s))
            self.queries.put(lambda s=s: self._qry_rate("margin", s))
        self._listed = listed
        self._publish_instruments()
        self.ready.set()
        self._session(True, "logged in")

    def _publish_instruments(self: Any) -> None:
        """The instrument list with the latest margin and fee rates (for the next ``ref``
        request: the engine asks at start and on reconnect)."""
        out = []
        for s, r in self._listed.items():
            rates = self.fees.rates.get(s)
            fee = rates.open[1] if rates and rates.open[1] else self.fee_per_lot.get(s, 0.0)
            out.append(instrument_of(r, margin_rate=rates.margin_long if rates else 0.0,
                                     fee_per_lot=fee))
        self.instruments = Instruments(v=2, list=out)

    def _qry_rate(self: Any, kind: str, sym: str) -> int:
        c = self.creds
        if kind == "commission":
            f = tdapi.CThostFtdcQryInstrumentCommissionRateField()
            f.BrokerID, f.InvestorID, f.InstrumentID = c["broker"], c["user"], sym
            return self.td.ReqQryInstrumentCommissionRate(f, next(self.rid))
        g = tdapi.CThostFtdcQryInstrumentMarginRateField()
        g.BrokerID, g.InvestorID, g.InstrumentID = c["broker"], c["user"], sym
        g.HedgeFlag = off.HEDGE_SPECULATION
        return self.td.ReqQryInstrumentMarginRate(g, next(self.rid))

    # --- engine requests ----------------------------------------------------------------------

    async def _frames(self: Any, sock: Any) -> list[list[bytes]]:
        if not await sock.poll(POLL_MS, zmq.POLLIN):
            return []
        out = []
        for _ in range(256):
            try:
                out.append(await sock.recv_multipart(flags=zmq.NOBLOCK))
            except zmq.Again:
                break
        return out

    async def _ref_loop(self: Any) -> None:
        while True:
            for fr in await self._frames(self.ref_sock):
                try:
                    req = self.ref_dec.decode(fr[-1])
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    reply: Any = Error(code="malformed", msg=str(exc)[:200])
                else:
                    if isinstance(req, InstrumentsReq):
                        reply = self.instruments or Instruments(list=[], v=2)
                    elif isinstance(req, SnapshotReq) and req.sym in self.ticks:
                        reply = self.books.snapshot(req.sym, self.now_ns())
                    else:
                        reply = Error(code="unknown_symbol", msg=f"no symbol {req.sym!r}")
                await self.ref_sock.send_multipart([fr[0], self.enc.encode(reply)])

    async def _oe_loop(self: Any) -> None:
        while True:
            for fr in await self._frames(self.oe_sock):
                try:
                    req = self.oe_dec.decode(fr[-1])
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    self.send(fr[0], Error(code="malformed", msg=str(exc)[:200]))
                    continue
                self._request(fr[0], req)

    def _request(self: Any, ident: bytes, req: Any) -> None:
        now = self.now_ns()
        if isinstance(req, Ping):
            self.send(ident, Pong(ts=now, echo=req.ts))
        elif isinstance(req, NewOrder):
            self._on_new(req, now)
        elif isinstance(req, CancelReq):
            self._on_cancel(req, now)
        elif isinstance(req, QueryReq):
            self.send(ident, self.tracker.status(req.cl))
        elif isinstance(req, OpenOrdersReq):
            self.send(ident, OpenOrders(list=self.tracker.open_orders()))
        elif isinstance(req, TradesReq):
            self.send(ident, Trades(list=self.tracker.trades(req.since)))
        elif isinstance(req, PositionsReq | BalancesReq):
            kind = "position" if isinstance(req, PositionsReq) else "account"
            if not self._waiting[kind]:
                self.queries.put(self._qry_positions if kind == "position"
                                 else self._qry_account)
            self._waiting[kind].append(ident)
        else:
            self.send(ident, Error(code="unsupported", msg=type(req).__name__))

    def _fence(self: Any) -> EpochFence:
        """The account's fencing epochs, durable beside the order map (read at first use)."""
        fence = getattr(self, "fence", None)
        if fence is None:
            fence = self.fence = EpochFence.beside(self.clmap.path)
        return fence

    def _fenced(self: Any, epoch: int) -> str:
        """``fenced``'s reason for a request with ``epoch`` ("" when it may go on); the key
        is the configured account (this gateway serves that one)."""
        return self._fence().check(self.account.decode("utf-8", "surrogateescape"), epoch)

    def _on_new(self: Any, req: NewOrder, now: int) -> None:
        def reject(code: str, reason: str) -> None:
            self.send(self.account, Reject(cl=req.cl, code=code, reason=reason, ts=now))
        fenced = self._fenced(req.epoch)
        if fenced:  # a deposed engine: never ReqOrderInsert, nothing tracked
            return reject(FENCED, fenced)
        if req.cl in self.tracker.orders:
            return reject("duplicate_cl", "client id already used")
        if req.sym not in self.ticks:
            return reject("unknown_symbol", f"no symbol {req.sym!r}")
        if not self.logged_in:
            return reject("session_down", "not logged in to the trader front")
        if req.qty <= 0:
            return reject("bad_qty", f"qty {req.qty}")
        ref = str(self.next_ref)
        self.next_ref += 1
        self.clmap.put_order(req.cl, self.front, self.session_id, ref, sym=req.sym,
                             side=req.side, px=req.px, qty=req.qty, tif=req.tif,
                             offset=req.offset)
        self.tracker.add(Order(req.cl, req.sym, req.side, req.px, req.qty, req.tif, req.offset,
                               exchange=self.exchanges[req.sym]))
        f = tdapi.CThostFtdcInputOrderField()
        f.BrokerID, f.InvestorID, f.UserID = (self.creds["broker"], self.creds["user"],
                                              self.creds["user"])
        f.ExchangeID, f.InstrumentID, f.OrderRef = self.exchanges[req.sym], req.sym, ref
        f.Direction = off.SIDE_TO_DIRECTION[req.side]
        f.CombOffsetFlag = off.OFFSET_TO_CTP[req.offset]
        f.CombHedgeFlag = off.HEDGE_SPECULATION
        f.OrderPriceType = off.PRICE_LIMIT
        f.LimitPrice = float(Decimal(req.px) * self.ticks[req.sym])
        f.VolumeTotalOriginal = req.qty
        f.TimeCondition, f.VolumeCondition = off.tif_to_ctp(req.tif)
        f.MinVolume = req.qty if req.tif == "FOK" else 1
        f.ContingentCondition = off.CONTINGENT_IMMEDIATELY
        f.ForceCloseReason = off.FORCE_CLOSE_NOT
        f.IsAutoSuspend = 0
        rc = self.td.ReqOrderInsert(f, next(self.rid))
        failed = off.classify_req_return(rc)
        if failed is not None:
            self._out(self.tracker.send_failed(req.cl, failed[0], failed[1],
                                               f"ReqOrderInsert returned {rc}", now))

    def _on_cancel(self: Any, req: CancelReq, now: int) -> None:
        fenced = self._fenced(req.epoch)
        if fenced:
            self.send(self.account, CancelReject(cl=req.cl, code=FENCED, reason=fenced, ts=now))
            return
        o = self.tracker.cancel_target(req.cl, now)
        if isinstance(o, CancelReject):
            self.send(self.account, o)
            return
        f = tdapi.CThostFtdcInputOrderActionField()
        f.BrokerID, f.InvestorID, f.UserID = (self.creds["broker"], self.creds["user"],
                                              self.creds["user"])
        f.ActionFlag, f.InstrumentID, f.ExchangeID = off.ACTION_DELETE, o.sym, o.exchange
        if o.sys_id:
            f.OrderSysID = o.sys_id
        else:  # not yet at the exchange: by the session key
            rec = self.clmap.by_cl[o.cl]
            f.FrontID, f.SessionID, f.OrderRef = rec["front"], rec["session"], rec["ref"]
        rc = self.td.ReqOrderAction(f, next(self.rid))
        failed = off.classify_req_return(rc)
        if failed is not None and failed[0] == "throttled":
            self.send(self.account, CancelReject(cl=o.cl, code="throttled", ts=now,
                                                 reason=f"ReqOrderAction returned {rc}",
                                                 retry_ms=off.THROTTLE_RETRY_MS))

    # --- timers -------------------------------------------------------------------------------

    def _qry_positions(self: Any) -> int:
        f = tdapi.CThostFtdcQryInvestorPositionField()
        f.BrokerID, f.InvestorID = self.creds["broker"], self.creds["user"]
        return self.td.ReqQryInvestorPosition(f, next(self.rid))

    def _qry_account(self: Any) -> int:
        f = tdapi.CThostFtdcQryTradingAccountField()
        f.BrokerID, f.InvestorID = self.creds["broker"], self.creds["user"]
        return self.td.ReqQryTradingAccount(f, next(self.rid))

    async def _query_loop(self: Any) -> None:
        while True:
            call = self.queries.due(self.now_ns())
            if call is None:
                await asyncio.sleep(0.05)  # a timer tick, not a wait for an outcome
                continue
            rc = call()
            if rc in (-2, -3):  # flow control: the query did not leave; again later
                self.queries.retry(call, self.now_ns())

    async def _hb_loop(self: Any) -> None:
        while True:
            await asyncio.sleep(self.cc.hb_interval_ms / 1000)
            self.publish("hb", Heartbeat(ts=self.now_ns(), seqs=dict(self.books.seqs)))


__all__ = ["Handlers"]
