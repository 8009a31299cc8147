"""The CTP gateway's order entry (a helper object ``CtpGateway.oe`` holds): the engine's oe
requests (new orders to ReqOrderInsert, cancels to ReqOrderAction, order status, open orders,
trades, positions and balances), the fencing of a deposed engine's epochs, and CTP's order
and trade reports turned into the engine's reports by the order tracker."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from loguru import logger
from openctp_ctp import thosttraderapi as tdapi

from transports.venues.ctp import offsets as off
from transports.venues.ctp.orders import Order
from transports.venues.ctp.queries import CtpQueries
from transports.venues.ctp.state import CtpState
from transports.venues.fence import FENCED, EpochFence
from transports.wire.venue_msgs import (
    BalancesReq,
    CancelReject,
    CancelReq,
    Error,
    NewOrder,
    OpenOrders,
    OpenOrdersReq,
    Ping,
    Pong,
    PositionsReq,
    QueryReq,
    Reject,
    Trades,
    TradesReq,
)

#: the CTP events (see ``spi.TdSpi``) that are order or trade reports
REPORTS = frozenset({"insert_error", "action_error", "order", "trade"})


class CtpOrderEntry:
    """Order entry of one CTP account over the shared ``CtpState`` (its tracker, order map,
    reference data and trader session); positions and balances are asked of ``queries``."""

    def __init__(self, state: CtpState, send: Callable[[bytes, Any], None],
                 queries: CtpQueries) -> None:
        self.s = state
        self.send = send  #: one oe frame to an engine identity (the gateway's ``send``)
        self.queries = queries
        self._fence: EpochFence | None = None

    @property
    def fence(self) -> EpochFence:
        """The account's fencing epochs, durable beside the order map (read at first use)."""
        if self._fence is None:
            self._fence = EpochFence.beside(self.s.clmap.path)
        return self._fence

    def _fenced(self, epoch: int) -> str:
        """``fenced``'s reason for a request with ``epoch`` ("" when it may go on); the key
        is the configured account (this gateway serves that one)."""
        return self.fence.check(self.s.account.decode("utf-8", "surrogateescape"), epoch)

    def out(self, msgs: list[Any]) -> None:
        """Reports to the account, in order."""
        for m in msgs:
            self.send(self.s.account, m)

    # --- from CTP -----------------------------------------------------------------------------

    def on_report(self, name: str, args: tuple[Any, ...], now: int) -> None:
        """One CTP order/trade report (``name`` in ``REPORTS``) -> the engine's reports."""
        t = self.s.tracker
        if name == "order":
            self.out(t.on_order(args[0], now))
        elif name == "trade":
            self.out(t.on_trade(args[0], now))
        else:
            rsp, err, msg, _ = args
            if err and rsp is not None:
                on = t.on_insert_error if name == "insert_error" else t.on_action_error
                self.out(on(rsp, err, msg, now))

    # --- from the engine ----------------------------------------------------------------------

    def request(self, ident: bytes, req: Any) -> None:
        """One decoded oe request from the engine identity ``ident``."""
        now = self.s.now_ns()
        t = self.s.tracker
        if isinstance(req, Ping):
            self.send(ident, Pong(ts=now, echo=req.ts))
        elif isinstance(req, NewOrder):
            self._on_new(req, now)
        elif isinstance(req, CancelReq):
            self._on_cancel(req, now)
        elif isinstance(req, QueryReq):
            self.send(ident, t.status(req.cl))
        elif isinstance(req, OpenOrdersReq):
            self.send(ident, OpenOrders(list=t.open_orders()))
        elif isinstance(req, TradesReq):
            self.send(ident, Trades(list=t.trades(req.since)))
        elif isinstance(req, PositionsReq | BalancesReq):
            self.queries.ask("position" if isinstance(req, PositionsReq) else "account", ident)
        else:
            self.send(ident, Error(code="unsupported", msg=type(req).__name__))

    def _on_new(self, req: NewOrder, now: int) -> None:
        s = self.s

        def reject(code: str, reason: str) -> None:
            self.send(s.account, Reject(cl=req.cl, code=code, reason=reason, ts=now))
        fenced = self._fenced(req.epoch)
        if fenced:  # a deposed engine: never ReqOrderInsert, nothing tracked
            return reject(FENCED, fenced)
        if req.cl in s.tracker.orders:
            return reject("duplicate_cl", "client id already used")
        if req.sym not in s.ticks:
            return reject("unknown_symbol", f"no symbol {req.sym!r}")
        if not s.logged_in:
            return reject("session_down", "not logged in to the trader front")
        if req.qty <= 0:
            return reject("bad_qty", f"qty {req.qty}")
        ref = str(s.next_ref)
        s.next_ref += 1
        # durable before the order leaves: a restart maps CTP's reports back to ``cl``
        s.clmap.put_order(req.cl, s.front, s.session_id, ref, sym=req.sym, side=req.side,
                          px=req.px, qty=req.qty, tif=req.tif, offset=req.offset)
        s.tracker.add(Order(req.cl, req.sym, req.side, req.px, req.qty, req.tif, req.offset,
                            exchange=s.exchanges[req.sym]))
        f = tdapi.CThostFtdcInputOrderField()
        f.BrokerID, f.InvestorID, f.UserID = (s.creds["broker"], s.creds["user"],
                                              s.creds["user"])
        f.ExchangeID, f.InstrumentID, f.OrderRef = s.exchanges[req.sym], req.sym, ref
        f.Direction = off.SIDE_TO_DIRECTION[req.side]
        f.CombOffsetFlag = off.OFFSET_TO_CTP[req.offset]
        f.CombHedgeFlag = off.HEDGE_SPECULATION
        f.OrderPriceType = off.PRICE_LIMIT
        f.LimitPrice = float(Decimal(req.px) * s.ticks[req.sym])
        f.VolumeTotalOriginal = req.qty
        f.TimeCondition, f.VolumeCondition = off.tif_to_ctp(req.tif)
        f.MinVolume = req.qty if req.tif == "FOK" else 1
        f.ContingentCondition = off.CONTINGENT_IMMEDIATELY
        f.ForceCloseReason = off.FORCE_CLOSE_NOT
        f.IsAutoSuspend = 0
        try:
            rc = s.td.ReqOrderInsert(f, next(s.rid))
        except Exception:  # noqa: BLE001 - the API raised: whether the order left is not known
            logger.exception("ctp: ReqOrderInsert raised for {}", req.cl)
            rc = -1  # as a network failure: unknown, the engine queries (never a reject)
        failed = off.classify_req_return(rc)
        if failed is not None:
            self.out(s.tracker.send_failed(req.cl, failed[0], failed[1],
                                           f"ReqOrderInsert returned {rc}", now))

    def _on_cancel(self, req: CancelReq, now: int) -> None:
        s = self.s
        fenced = self._fenced(req.epoch)
        if fenced:
            self.send(s.account, CancelReject(cl=req.cl, code=FENCED, reason=fenced, ts=now))
            return
        o = s.tracker.cancel_target(req.cl, now)
        if isinstance(o, CancelReject):
            self.send(s.account, o)
            return
        f = tdapi.CThostFtdcInputOrderActionField()
        f.BrokerID, f.InvestorID, f.UserID = (s.creds["broker"], s.creds["user"],
                                              s.creds["user"])
        f.ActionFlag, f.InstrumentID, f.ExchangeID = off.ACTION_DELETE, o.sym, o.exchange
        if o.sys_id:
            f.OrderSysID = o.sys_id
        else:  # not yet at the exchange: by the session key
            rec = s.clmap.by_cl[o.cl]
            f.FrontID, f.SessionID, f.OrderRef = rec["front"], rec["session"], rec["ref"]
        rc = s.td.ReqOrderAction(f, next(s.rid))
        failed = off.classify_req_return(rc)
        if failed is not None and failed[0] == "throttled":
            self.send(s.account, CancelReject(cl=o.cl, code="throttled", ts=now,
                                              reason=f"ReqOrderAction returned {rc}",
                                              retry_ms=off.THROTTLE_RETRY_MS))


__all__ = ["REPORTS", "CtpOrderEntry"]
