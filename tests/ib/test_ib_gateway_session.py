"""``session`` from TWS's connectivity codes, and the reconciliation answers after it."""

from __future__ import annotations

from ib_async import LimitOrder

from tests.ib.test_ib_gateway_orders import _new, _placed
from tests.ib.tws import CON, FakeTws, gc_details, perm
from tests.ib.world import run, world
from transports.wire.venue_msgs import (
    Balances,
    BalancesReq,
    Delta,
    Fill,
    MdStatus,
    OpenOrders,
    OpenOrdersReq,
    Positions,
    PositionsReq,
    Reject,
    Session,
    Trades,
    TradesReq,
)


def test_1100_is_session_down_and_1102_up_then_reconciliation_answers() -> None:
    async def go() -> None:
        async with world(FakeTws(), wait_ms=50) as w:
            await w.md_until(lambda t, m: isinstance(m, MdStatus))
            w.tws.depth(CON, [(0, 0, 1, 2345.6, 3)])
            await w.md_until(lambda t, m: isinstance(m, Delta))
            oid = await _placed(w, "1.7.0.0", qty=4)
            w.tws.status(oid, "Submitted", 0, 4)
            ex = w.tws.execution(oid, "e7.01", 1, 2345.6, cl="1.7.0.0")
            w.tws.commission("e7.01", 0.7)
            await w.oe_until(lambda m: isinstance(m, Fill))
            # TWS loses IB's servers: session down, books emptied, status halt, orders refused
            w.tws.error(-1, 1100, "Connectivity between IB and TWS has been lost.")
            (down,) = await w.oe_until(lambda m: isinstance(m, Session))
            assert down.state == "down" and "1100" in down.reason
            md = await w.md_until(lambda t, m: isinstance(m, MdStatus))
            assert [m for _, m in md if isinstance(m, Delta)][-1].b == [(23456, 0)]
            assert md[-1][1].state == "halt"
            await w.send(_new("1.8.0.0"))
            (rej,) = await w.oe_until(lambda m: isinstance(m, Reject))
            assert rej.code == "session_down"
            # restored with data maintained: up, then the engine reconciles
            w.tws.executions = [(ex, None)]
            w.tws.position(CON, 1.0, 234560.0)
            k = gc_details().contract
            lo = LimitOrder("BUY", 4, 2345.6, orderRef="1.7.0.0", orderId=oid, permId=perm(oid),
                            clientId=17)
            w.tws.open_orders = [(k, lo, "Submitted")]
            w.tws.summary = [("NetLiquidation", "1000000", "USD"),
                             ("AvailableFunds", "900000", "USD"), ("InitMarginReq", "10000", "USD")]
            w.tws.error(-1, 1102, "Connectivity between IB and TWS has been restored")
            (up,) = await w.oe_until(lambda m: isinstance(m, Session))
            assert up.state == "up"
            md = await w.md_until(lambda t, m: isinstance(m, MdStatus))
            assert md[-1][1].state == "open"
            await w.send(OpenOrdersReq())
            (oo,) = await w.oe_until(lambda m: isinstance(m, OpenOrders))
            assert [(o.cl, o.oid, o.px, o.qty, o.side) for o in oo.list] == [
                ("1.7.0.0", str(oid), 23456, 4, "B")]
            await w.send(TradesReq(since=0))
            (tr,) = await w.oe_until(lambda m: isinstance(m, Trades))
            assert [(f.tid, f.qty, f.fee, f.sym, f.side) for f in tr.list] == [
                ("e7.01", 1, 0.7, "GCZ6", "B")]
            await w.send(TradesReq(since=2**62))
            (tr2,) = await w.oe_until(lambda m: isinstance(m, Trades))
            assert tr2.list == []
            await w.send(PositionsReq())
            (pos,) = await w.oe_until(lambda m: isinstance(m, Positions))
            assert [(p.sym, p.qty, p.avg_px) for p in pos.list] == [("GCZ6", 1, 2345.6)]
            await w.send(BalancesReq())
            (bal,) = await w.oe_until(lambda m: isinstance(m, Balances))
            assert [(b.ccy, b.total, b.available, b.margin_used) for b in bal.list] == [
                ("USD", 1_000_000.0, 900_000.0, 10_000.0)]
    run(go())
