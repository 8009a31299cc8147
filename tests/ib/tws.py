"""A fake TWS behind a REAL ``ib_async.IB``, at the API message level.

The IB object is the library's own, with its own ``Client`` and ``Wrapper``; only the socket is
replaced: every request the client writes (``Client.send`` -> ``Connection.sendMsg``, the IB
wire encoding with its message ids) is decoded from its NUL-separated fields and recorded, and
TWS's answers come back through the wrapper's callbacks (``contractDetails``, ``orderStatus``,
``execDetails``, ``commissionReport``, ``updateMktDepth``, ``error``, ...) — the methods
ib-async's decoder calls for each message TWS sends. ``tcpDataProcessed`` ends each answer as
the real reader does after a TCP packet, which is when ib-async emits ticker events.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

from ib_async import (
    IB,
    CommissionReport,
    Contract,
    ContractDetails,
    Execution,
    Order,
    OrderState,
)
from ib_async.client import Client

ACCOUNT = "DU123"
CON = 900001  #: conId of the test contract
CLIENT_ID = 17
#: outgoing message ids of the IB API (ib_async/client.py)
PLACE, CANCEL, EXECS, DETAILS, DEPTH, OPEN_ALL, MKT_DATA, SUMMARY = 3, 4, 7, 9, 10, 16, 1, 62


def perm(order_id: int) -> int:
    """The permId this fake TWS gives an order."""
    return 5_000_000 + order_id


def gc_details(con_id: int = CON, local: str = "GCZ6") -> ContractDetails:
    """COMEX gold December 2026 as TWS describes it."""
    k = Contract(secType="FUT", conId=con_id, symbol="GC", localSymbol=local,
                 lastTradeDateOrContractMonth="20261229", multiplier="100", exchange="COMEX",
                 currency="USD", tradingClass="GC")
    return ContractDetails(contract=k, minTick=0.1, timeZoneId="US/Eastern",
                           lastTradeTime="13:30", longName="Gold")


@dataclass
class FakeTws:
    """The far side of one IB API connection."""

    details: list[ContractDetails] = field(default_factory=lambda: [gc_details()])
    ib: IB = field(default_factory=IB)
    sent: list[list[str]] = field(default_factory=list)
    executions: list[tuple[Execution, CommissionReport | None]] = field(default_factory=list)
    summary: list[tuple[str, str, str]] = field(default_factory=list)  # tag, value, ccy
    open_orders: list[tuple[Contract, Order, str]] = field(default_factory=list)
    depth_req: dict[int, int] = field(default_factory=dict)  # conId -> reqId
    cancel_answers: bool = True
    deny_depth: bool = False

    def __post_init__(self) -> None:
        c = self.ib.client
        c.conn.sendMsg = self._on_bytes  # type: ignore[method-assign]
        c.conn.disconnect = lambda: None  # type: ignore[method-assign]
        self.up()
        c._reqIdSeq = 100  # as if TWS sent nextValidId(100)

    def up(self) -> None:
        """The API connection established (what ``connectAsync`` ends with)."""
        c = self.ib.client
        c.connState, c._apiReady, c._serverVersion = Client.CONNECTED, True, 178
        c.clientId = self.ib.wrapper.clientId = CLIENT_ID
        self.ib.wrapper.accounts = [ACCOUNT]

    def drop(self) -> None:
        """TWS closes the socket (the reader's own disconnect path)."""
        self.ib.client._onSocketDisconnected("Peer closed connection.")

    # --- requests --------------------------------------------------------------------------------

    def _on_bytes(self, data: bytes) -> None:
        fields = data[4:].decode().split("\0")[:-1]
        self.sent.append(fields)
        asyncio.get_running_loop().call_soon(self._answer, fields)

    def requests(self, msg_id: int) -> list[list[str]]:
        """Every request of one message id, as its wire fields."""
        return [f for f in self.sent if f[0] == str(msg_id)]

    def _answer(self, f: list[str]) -> None:
        w, mid = self.ib.wrapper, int(f[0])
        if mid == DETAILS:
            req_id = int(f[2])
            asked = w._reqId2Contract[req_id]
            for d in self.details:
                k = d.contract
                if (asked.conId and asked.conId == k.conId) or (
                        not asked.conId and asked.localSymbol == k.localSymbol):
                    w.contractDetails(req_id, d)
            w.contractDetailsEnd(req_id)
        elif mid == PLACE:  # TWS confirms an order with openOrder, carrying its permId
            oid = int(f[1])
            t = w.trades[(CLIENT_ID, oid)]
            o = Order(**{**t.order.__dict__, "permId": perm(oid)})
            w.openOrder(oid, t.contract, o, OrderState(status="PreSubmitted"))
        elif mid == DEPTH:
            req_id, con_id = int(f[2]), int(f[3])
            self.depth_req[con_id] = req_id
            if self.deny_depth:
                w.error(req_id, 10092, "Deep market data is not supported", "")
        elif mid == MKT_DATA:
            self.depth_req[int(f[3])] = int(f[2])
        elif mid == CANCEL and self.cancel_answers:
            oid = int(f[2])
            t = w.trades.get((CLIENT_ID, oid))
            filled = float(t.orderStatus.filled) if t else 0.0
            w.orderStatus(oid, "Cancelled", filled, 0.0, 0.0, t.order.permId if t else 0, 0,
                          0.0, CLIENT_ID, "", 0.0)
        elif mid == EXECS:
            req_id = int(f[2])
            for ex, rep in self.executions:
                w.execDetails(req_id, self.details[0].contract, ex)
                if rep is not None:
                    w.commissionReport(rep)
            w.execDetailsEnd(req_id)
        elif mid == OPEN_ALL:
            for k, o, status in self.open_orders:
                w.openOrder(o.orderId, k, o, OrderState(status=status))
            w.openOrderEnd()
        elif mid == SUMMARY:
            req_id = int(f[2])
            for tag, value, ccy in self.summary:
                w.accountSummary(req_id, ACCOUNT, tag, value, ccy)
            w.accountSummaryEnd(req_id)
        w.tcpDataProcessed()

    # --- what TWS sends by itself ----------------------------------------------------------------

    def status(self, order_id: int, status: str, filled: float, remaining: float,
               perm_id: int = 0) -> None:
        """``orderStatus`` for one of our orders."""
        self.ib.wrapper.orderStatus(order_id, status, filled, remaining, 0.0,
                                    perm_id or perm(order_id), 0, 0.0,
                                    CLIENT_ID, "", 0.0)
        self.ib.wrapper.tcpDataProcessed()

    def execution(self, order_id: int, exec_id: str, shares: float, price: float, *,
                  cl: str, perm_id: int = 0, side: str = "BOT", maker: bool = False,
                  req_id: int = -1) -> Execution:
        """``execDetails`` of one live execution."""
        ex = Execution(execId=exec_id, time=dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC),
                       acctNumber=ACCOUNT, exchange="COMEX", side=side, shares=shares,
                       price=price, permId=perm_id or perm(order_id), clientId=CLIENT_ID,
                       orderId=order_id,
                       cumQty=shares, avgPrice=price, orderRef=cl,
                       lastLiquidity=1 if maker else 2)
        self.ib.wrapper.execDetails(req_id, self.details[0].contract, ex)
        self.ib.wrapper.tcpDataProcessed()
        return ex

    def commission(self, exec_id: str, fee: float, ccy: str = "USD") -> None:
        """``commissionReport`` of an execution."""
        self.ib.wrapper.commissionReport(CommissionReport(execId=exec_id, commission=fee,
                                                          currency=ccy))
        self.ib.wrapper.tcpDataProcessed()

    def error(self, req_id: int, code: int, text: str) -> None:
        """``error`` (an order's reqId is its orderId; -1: not about a request)."""
        self.ib.wrapper.error(req_id, code, text, "")
        self.ib.wrapper.tcpDataProcessed()

    def depth(self, con_id: int, rows: list[tuple[int, int, int, float, float]]) -> None:
        """``updateMktDepth`` rows (position, operation 0/1/2, side 0 ask/1 bid, price, size),
        then the end of the packet."""
        req_id = self.depth_req[con_id]
        for pos, op, side, px, size in rows:
            self.ib.wrapper.updateMktDepth(req_id, pos, op, side, px, size)
        self.ib.wrapper.tcpDataProcessed()

    def position(self, con_id: int, qty: float, avg_cost: float) -> None:
        """``position`` of the account."""
        k = next(d.contract for d in self.details if d.contract.conId == con_id)
        self.ib.wrapper.position(ACCOUNT, k, qty, avg_cost)
