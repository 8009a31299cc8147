"""The CTP gateway's handling of CTP's callbacks (a helper object ``CtpGateway.ctp`` holds),
run on the gateway's loop for each event the SPIs post: the trader login chain and the session
state the engine sees, the instrument list with its rates, the md login, subscription and
depth; order and trade reports go to order entry, position and account rows to the queries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from loguru import logger
from openctp_ctp import thostmduserapi as mdapi
from openctp_ctp import thosttraderapi as tdapi

from transports.venues.ctp.order_entry import REPORTS, CtpOrderEntry
from transports.venues.ctp.queries import KINDS, CtpQueries
from transports.venues.ctp.reports import instrument_of
from transports.venues.ctp.state import CtpState
from transports.wire.venue_msgs import Instruments, Session, md_topic


class CtpEvents:
    """The login chains and CTP's reports of one account over the shared ``CtpState``: sets
    its trader session (logged in, FrontID/SessionID, next OrderRef) and reference data."""

    def __init__(self, state: CtpState, send: Callable[[bytes, Any], None],
                 publish: Callable[[str, Any], None], queries: CtpQueries,
                 oe: CtpOrderEntry) -> None:
        self.s = state
        self.send = send  #: one oe frame to an engine identity (the gateway's ``send``)
        self.publish = publish  #: one md frame (the gateway's ``publish``)
        self.queries = queries
        self.oe = oe
        self.session_up = False  #: the engine was last told ``session`` up
        self.ready = asyncio.Event()  #: set once logged in with the instrument list
        self._inst_rows: list[Any] = []  #: the instrument reply being paged in
        self._listed: dict[str, Any] = {}  #: instrument rows of the served symbols

    def session(self, up: bool, reason: str, auth_failed: bool = False) -> None:
        """Tell the engine the trader session changed (once per change; every auth failure)."""
        if up == self.session_up and not auth_failed:
            return
        self.session_up = up
        state = "up" if up else "auth_failed" if auth_failed else "down"
        logger.info("{}: session {} ({})", self.s.name, state, reason)
        self.send(self.s.account, Session(state=state, ts=self.s.now_ns(), reason=reason))

    def handle(self, name: str, args: tuple[Any, ...]) -> None:
        """One event posted by the SPIs (``spi.TdSpi`` / ``spi.MdSpi``)."""
        s = self.s
        c, now = s.creds, s.now_ns()
        if name in REPORTS:
            self.oe.on_report(name, args, now)
        elif name == "depth":
            d = s.books.on_depth(args[0], now)
            if d is not None:
                self.publish(md_topic(d.sym), d)
        elif name == "instrument_status":
            for topic, msg in s.sessions.on_status(args[0], s.symbols or list(s.ticks), now):
                self.publish(topic, msg)
        elif name in KINDS:
            rsp, err, _, last = args
            self.queries.on_rows(name, rsp, err, last)
        elif name == "td_connected":
            f = tdapi.CThostFtdcReqAuthenticateField()
            f.BrokerID, f.UserID, f.AppID, f.AuthCode = c["broker"], c["user"], c["app"], c["auth"]
            s.td.ReqAuthenticate(f, next(s.rid))
        elif name == "td_disconnected":
            s.logged_in = False
            self.session(False, f"trader front disconnected ({args[0]:#x})")
        elif name == "authenticated":
            _, err, _, _ = args
            if err:
                self.session(False, f"authenticate: CTP {err}", auth_failed=True)
                return
            f = tdapi.CThostFtdcReqUserLoginField()
            f.BrokerID, f.UserID, f.Password = c["broker"], c["user"], c["password"]
            s.td.ReqUserLogin(f, next(s.rid))
        elif name == "td_login":
            self._on_td_login(args)
        elif name == "settlement_confirmed":
            s.logged_in = True
            if s.instruments is None:
                self.queries.instruments()
            else:
                self.session(True, "logged in")
        elif name == "instrument":
            rsp, err, _, last = args
            if rsp is not None and not err and (not s.symbols
                                                or rsp.InstrumentID in s.symbols):
                self._inst_rows.append(rsp)
            if last:
                self._load_instruments()
        elif name in ("commission", "margin"):
            rsp, err, _, _ = args
            if rsp is not None and not err:
                on = s.fees.on_commission if name == "commission" else s.fees.on_margin
                if on(rsp):
                    self._publish_instruments()
        elif name == "md_connected":
            f = mdapi.CThostFtdcReqUserLoginField()
            f.BrokerID, f.UserID, f.Password = c["broker"], c["user"], c["password"]
            s.md.ReqUserLogin(f, next(s.rid))
        elif name == "md_disconnected":  # CTP reconnects; md_connected logs in again
            logger.warning("{}: md front disconnected ({:#x})", s.name, args[0])
        elif name == "md_login":
            if args[1]:
                logger.error("{}: md login: CTP {}", s.name, args[1])
            elif s.symbols:
                s.md.SubscribeMarketData([x.encode() for x in s.symbols], len(s.symbols))
        elif name == "rsp_error":
            logger.warning("{}: CTP error {} ({})", s.name, args[0], args[1])

    def _on_td_login(self, args: tuple[Any, ...]) -> None:
        s = self.s
        rsp, err, _, _ = args
        if err:
            self.session(False, f"login: CTP {err}", auth_failed=True)
            return
        s.front, s.session_id = int(rsp.FrontID), int(rsp.SessionID)
        s.tracker.front, s.tracker.session = s.front, s.session_id
        # OrderRefs must grow within a session: past CTP's and past every one already used
        max_ref = int(rsp.MaxOrderRef) if str(rsp.MaxOrderRef).strip().isdigit() else 0
        s.next_ref = max(max_ref, s.clmap.max_ref(s.front, s.session_id)) + 1
        f = tdapi.CThostFtdcSettlementInfoConfirmField()
        f.BrokerID, f.InvestorID = s.creds["broker"], s.creds["user"]
        s.td.ReqSettlementInfoConfirm(f, next(s.rid))

    def _load_instruments(self) -> None:
        s = self.s
        rows, self._inst_rows = self._inst_rows, []
        listed = {r.InstrumentID: r for r in rows}
        missing = [x for x in s.symbols if x not in listed]
        if missing:
            logger.error("{}: CTP does not list {}", s.name, missing)
        for sym, r in listed.items():
            s.ticks[sym] = Decimal(repr(float(r.PriceTick)))
            s.exchanges[sym] = r.ExchangeID
            s.multipliers[sym] = int(r.VolumeMultiple)
            s.books.seqs.setdefault(sym, 0)
            self.queries.rates(sym)
        self._listed = listed
        self._publish_instruments()
        self.ready.set()
        self.session(True, "logged in")

    def _publish_instruments(self) -> None:
        """The instrument list with the latest margin and fee rates (for the next ``ref``
        request: the engine asks at start and on reconnect)."""
        out = []
        for sym, r in self._listed.items():
            rates = self.s.fees.rates.get(sym)
            fee = rates.open[1] if rates and rates.open[1] else self.s.fee_per_lot.get(sym, 0.0)
            out.append(instrument_of(r, margin_rate=rates.margin_long if rates else 0.0,
                                     fee_per_lot=fee))
        self.s.instruments = Instruments(v=2, list=out)


__all__ = ["CtpEvents"]
