"""The CTP gateway's trader-front queries (a helper object ``CtpGateway.queries`` holds):
instruments, commission and margin rates, positions and the trading account, paced by a
``reports.QueryQueue`` (CTP answers more than about one query a second per session with flow
control), and the paged position/account replies collected and answered to every engine
request waiting for them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from openctp_ctp import thosttraderapi as tdapi

from transports.venues.ctp import offsets as off
from transports.venues.ctp.reports import QueryQueue, balances_of, positions_of
from transports.venues.ctp.state import CtpState
from transports.wire.venue_msgs import Balances, Positions

KINDS = ("position", "account")  #: the queries an engine request waits for


class CtpQueries:
    """Queries of one CTP account: queued by the login chain and the engine's requests, sent
    by ``run`` one per interval, their paged replies fed back through ``on_rows``."""

    def __init__(self, state: CtpState, interval_ns: int,
                 send: Callable[[bytes, Any], None]) -> None:
        self.s = state
        self.send = send  #: one oe frame to an engine identity (the gateway's ``send``)
        self.queue = QueryQueue(interval_ns)
        #: the rows of the reply being paged in, per kind
        self._rows: dict[str, list[Any]] = {k: [] for k in KINDS}
        #: engine identities waiting for the reply, per kind (one query answers them all)
        self._waiting: dict[str, list[bytes]] = {k: [] for k in KINDS}

    # --- what the login chain and order entry ask for -----------------------------------------

    def instruments(self) -> None:
        """Queue the instrument list (its rows come back as ``instrument`` events)."""
        self.queue.put(self._qry_instruments)

    def rates(self, sym: str) -> None:
        """Queue the commission and the margin rate of ``sym``."""
        self.queue.put(lambda: self._qry_rate("commission", sym))
        self.queue.put(lambda: self._qry_rate("margin", sym))

    def ask(self, kind: str, ident: bytes) -> None:
        """``ident`` wants the positions (``kind`` "position") or balances ("account"): one
        query for everyone who asks before its reply is complete."""
        if not self._waiting[kind]:
            self.queue.put(self._qry_positions if kind == "position" else self._qry_account)
        self._waiting[kind].append(ident)

    def on_rows(self, kind: str, rsp: Any, err: int, last: bool) -> None:
        """One page of a position/account reply; the last answers everyone waiting."""
        if rsp is not None and not err:
            self._rows[kind].append(rsp)
        if last:
            rows, self._rows[kind] = self._rows[kind], []
            reply = (Positions(list=positions_of(rows)) if kind == "position"
                     else Balances(list=balances_of(rows)))
            for ident in self._waiting[kind]:
                self.send(ident, reply)
            self._waiting[kind] = []

    # --- the Req* calls (each returns CTP's return value: 0 sent, -2/-3 flow control) ----------

    def _qry_instruments(self) -> int:
        return self.s.td.ReqQryInstrument(tdapi.CThostFtdcQryInstrumentField(), next(self.s.rid))

    def _qry_rate(self, kind: str, sym: str) -> int:
        c = self.s.creds
        if kind == "commission":
            f = tdapi.CThostFtdcQryInstrumentCommissionRateField()
            f.BrokerID, f.InvestorID, f.InstrumentID = c["broker"], c["user"], sym
            return self.s.td.ReqQryInstrumentCommissionRate(f, next(self.s.rid))
        g = tdapi.CThostFtdcQryInstrumentMarginRateField()
        g.BrokerID, g.InvestorID, g.InstrumentID = c["broker"], c["user"], sym
        g.HedgeFlag = off.HEDGE_SPECULATION
        return self.s.td.ReqQryInstrumentMarginRate(g, next(self.s.rid))

    def _qry_positions(self) -> int:
        f = tdapi.CThostFtdcQryInvestorPositionField()
        f.BrokerID, f.InvestorID = self.s.creds["broker"], self.s.creds["user"]
        return self.s.td.ReqQryInvestorPosition(f, next(self.s.rid))

    def _qry_account(self) -> int:
        f = tdapi.CThostFtdcQryTradingAccountField()
        f.BrokerID, f.InvestorID = self.s.creds["broker"], self.s.creds["user"]
        return self.s.td.ReqQryTradingAccount(f, next(self.s.rid))

    # --- the timer ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Send each queued query when its turn comes (a task of the gateway's loop)."""
        while True:
            call = self.queue.due(self.s.now_ns())
            if call is None:
                await asyncio.sleep(0.05)  # a timer tick, not a wait for an outcome
                continue
            rc = call()
            if rc in (-2, -3):  # flow control: the query did not leave; again later
                self.queue.retry(call, self.s.now_ns())


__all__ = ["CtpQueries"]
