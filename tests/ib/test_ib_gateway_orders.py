"""IB order entry end to end: the engine's frames on real ZeroMQ, TWS's side through a real
ib_async.IB (its placeOrder wire fields; orderStatus/execDetails/commissionReport/error)."""

from __future__ import annotations

import asyncio
import json

from tests.ib.tws import CANCEL, PLACE, FakeTws, perm
from tests.ib.world import REF_DEC, WAIT_S, World, run, world
from tests.support.hostile import HOSTILE_REQUESTS, is_malformed
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    Error,
    Fill,
    Instruments,
    InstrumentsReq,
    NewOrder,
    OrderStatus,
    Ping,
    Pong,
    QueryReq,
    Reject,
)


def _new(cl: str, qty: int = 5, tif: str = "GTC", side: str = "B") -> NewOrder:
    return NewOrder(cl=cl, sym="GCZ6", side=side, px=23456, qty=qty, tif=tif,  # type: ignore[arg-type]
                    ts=1)


async def _placed(w: World, cl: str, **kw: object) -> int:
    """Send ``new``; wait until it is on the wire to TWS; its orderId."""
    await w.send(_new(cl, **kw))  # type: ignore[arg-type]
    for _ in range(500):
        for f in w.tws.requests(PLACE):
            if cl in f:
                return int(f[1])
        await _tick()
    raise AssertionError("placeOrder never sent")


async def _tick() -> None:
    await asyncio.sleep(0.01)  # a poll step inside a bounded loop, not a wait for an outcome


def test_partial_fills_late_commission_and_done() -> None:
    async def go() -> None:
        # the hold must outlast a loaded machine's delay between two events sent together (300
        # ms did not under the suite's parallel load) and expire within ``oe_until``'s deadline
        async with world(wait_ms=1_500) as w:
            oid = await _placed(w, "1.1.0.0")
            wire = next(f for f in w.tws.requests(PLACE) if "1.1.0.0" in f)
            # LMT at 2345.6, BUY 5, DAY (GTC -> DAY by default), account, orderRef = cl
            assert {"BUY", "5", "LMT", "2345.6", "DAY", "DU123", "1.1.0.0"} <= set(wire)
            # the durable map has the order before TWS heard of it
            line = json.loads((w.d / "state" / "comex-ib-orders.jsonl").read_text().splitlines()[0])
            assert line["cl"] == "1.1.0.0" and line["order_id"] == oid
            w.tws.status(oid, "Submitted", 0, 5)
            (ack,) = await w.oe_until(lambda m: isinstance(m, Ack))
            assert ack.cl == "1.1.0.0" and ack.oid == str(oid)
            # fill 1: its commission comes 0 ms later -> sent with the fee
            w.tws.execution(oid, "e1.01", 2, 2345.6, cl="1.1.0.0")
            w.tws.commission("e1.01", 1.25)
            (f1,) = await w.oe_until(lambda m: isinstance(m, Fill))
            assert (f1.tid, f1.qty, f1.px, f1.fee, f1.liq) == ("e1.01", 2, 23456, 1.25, "T")
            # fill 2 (maker): no commission within the hold -> sent with fee 0
            w.tws.execution(oid, "e2.01", 3, 2345.6, cl="1.1.0.0", maker=True)
            w.tws.status(oid, "Filled", 5, 0)
            got = await w.oe_until(lambda m: isinstance(m, Done))
            assert [type(m) for m in got] == [Fill, Done]  # the fill before the done it counts
            assert (got[0].tid, got[0].fee, got[0].liq) == ("e2.01", 0.0, "M")
            assert (got[1].state, got[1].cum, got[1].oid) == ("filled", 5, str(oid))
            # the late commission is kept: the query (and trades) carry it
            w.tws.commission("e2.01", 1.87)
            await w.send(QueryReq(cl="1.1.0.0"))
            (st,) = await w.oe_until(lambda m: isinstance(m, OrderStatus))
            assert st.state == "filled" and st.cum == 5
            assert {f.tid: f.fee for f in st.fills} == {"e1.01": 1.25, "e2.01": 1.87}
            assert w.gw.oe is not None and w.gw.oe.late_fees == 1
            assert w.gw.oe.clmap.by_cl["1.1.0.0"].perm_id == perm(oid)
    run(go())


def test_error_201_is_a_reject_with_ibs_code() -> None:
    async def go() -> None:
        async with world() as w:
            oid = await _placed(w, "1.2.0.0")
            w.tws.error(oid, 201, "Order rejected - reason: insufficient margin")
            (rej,) = await w.oe_until(lambda m: isinstance(m, Reject))
            assert rej.cl == "1.2.0.0" and rej.code == "ib_201" and "margin" in rej.reason
            await w.send(QueryReq(cl="1.2.0.0"))
            (st,) = await w.oe_until(lambda m: isinstance(m, OrderStatus))
            assert st.state == "rejected"
    run(go())


def test_cancel_gives_done_canceled_and_a_second_cancel_is_rejected() -> None:
    async def go() -> None:
        async with world() as w:
            oid = await _placed(w, "1.3.0.0", tif="IOC")
            wire = next(f for f in w.tws.requests(PLACE) if "1.3.0.0" in f)
            assert "IOC" in wire
            w.tws.status(oid, "Submitted", 0, 5)
            await w.oe_until(lambda m: isinstance(m, Ack))
            w.tws.execution(oid, "e3.01", 1, 2345.6, cl="1.3.0.0")
            w.tws.commission("e3.01", 0.5)
            await w.send(CancelReq(cl="1.3.0.0", ts=2))
            got = await w.oe_until(lambda m: isinstance(m, Done))
            assert [type(m) for m in got] == [Fill, Done]
            assert (got[1].state, got[1].cum) == ("canceled", 1)
            assert [f[2] for f in w.tws.requests(CANCEL)] == [str(oid)]
            await w.send(CancelReq(cl="1.3.0.0", ts=3))
            await w.send(CancelReq(cl="9.9.9.9", ts=3))
            a, b = await w.oe_until(lambda m: isinstance(m, CancelReject) and m.cl == "9.9.9.9")
            assert (a.cl, a.code, b.code) == ("1.3.0.0", "not_open", "unknown_order")
    run(go())


def test_duplicate_cl_bad_symbol_and_fok_are_handled() -> None:
    async def go() -> None:
        async with world() as w:
            await _placed(w, "1.4.0.0", tif="FOK")
            wire = next(f for f in w.tws.requests(PLACE) if "1.4.0.0" in f)
            assert "FOK" in wire
            await w.send(_new("1.4.0.0"))
            await w.send(NewOrder(cl="1.5.0.0", sym="XX", side="B", px=1, qty=1, tif="IOC",
                                  ts=1))
            a, b = await w.oe_until(lambda m: isinstance(m, Reject) and m.cl == "1.5.0.0")
            assert (a.code, b.code) == ("duplicate_cl", "unknown_symbol")
    run(go())


def test_a_duplicate_execution_is_dropped_after_a_reconnect_replay() -> None:
    async def go() -> None:
        tws = FakeTws()
        async with world(tws) as w:
            oid = await _placed(w, "1.6.0.0")
            w.tws.status(oid, "Submitted", 0, 5)
            ex = w.tws.execution(oid, "e6.01", 2, 2345.6, cl="1.6.0.0")
            w.tws.commission("e6.01", 1.0)
            await w.oe_until(lambda m: isinstance(m, Fill))
            # TWS restarts: the socket drops, the gateway reconnects and replays executions
            replay = ex.__class__(**{**ex.__dict__, "execId": "e6.02", "shares": 3.0})
            tws.executions = [(ex, None), (replay, None)]

            async def accept(*a: object, **k: object) -> None:
                tws.up()
            tws.ib.connectAsync = accept  # type: ignore[method-assign]
            tws.ib.wrapper.fills.clear()  # a new API session: ib-async's own memory is gone
            tws.drop()
            got = await w.oe_until(lambda m: isinstance(m, Fill))
            fills = [m for m in got if isinstance(m, Fill)]
            assert [f.tid for f in fills] == ["e6.02"]
            assert w.gw.oe is not None and w.gw.oe.duplicate_fills == 1
            assert [m.state for m in got if hasattr(m, "reason")] == ["down", "up"]
    run(go())


def test_a_restarted_gateway_reports_and_cancels_its_predecessors_order() -> None:
    async def go() -> None:
        async with world() as w:
            oid = await _placed(w, "1.9.0.0")
            w.tws.status(oid, "Submitted", 0, 5)
            await w.oe_until(lambda m: isinstance(m, Ack))
            d = w.d
        tws2 = FakeTws()
        async with world(tws2, d=d) as w2:
            # TWS re-sends the open order to the new API session, then its status and a fill
            from ib_async import LimitOrder, OrderState

            lo = LimitOrder("BUY", 5, 2345.6, orderRef="1.9.0.0", orderId=oid,
                            permId=perm(oid), clientId=17)
            tws2.ib.wrapper.openOrder(oid, tws2.details[0].contract, lo,
                                      OrderState(status="Submitted"))
            tws2.status(oid, "Submitted", 0, 5)
            tws2.execution(oid, "e9.01", 2, 2345.6, cl="1.9.0.0")
            tws2.commission("e9.01", 1.0)
            got = await w2.oe_until(lambda m: isinstance(m, Fill))
            assert got[-1].cl == "1.9.0.0" and got[-1].oid == str(oid)
            await w2.send(CancelReq(cl="1.9.0.0", ts=5))
            done = (await w2.oe_until(lambda m: isinstance(m, Done)))[-1]
            assert (done.state, done.cum) == ("canceled", 2)
            assert [f[2] for f in tws2.requests(CANCEL)] == [str(oid)]
            await w2.send(_new("1.9.0.0"))  # the map remembers: the cl is not reused
            (rej,) = await w2.oe_until(lambda m: isinstance(m, Reject))
            assert rej.code == "duplicate_cl"
    run(go())


def test_hostile_requests_are_answered_malformed_and_both_loops_go_on() -> None:
    async def scenario() -> None:
        async with world() as w:
            for parts, piece in HOSTILE_REQUESTS:
                await w.oe.send_multipart(parts)
                got = await w.oe_until(lambda m: isinstance(m, Error))
                assert is_malformed(got[-1], piece), parts
                await w.ref.send_multipart(parts)
                reply = REF_DEC.decode(await asyncio.wait_for(w.ref.recv(), WAIT_S))
                assert is_malformed(reply, piece), parts
            await w.send(Ping(ts=7))
            await w.oe_until(lambda m: isinstance(m, Pong) and m.echo == 7)
            assert isinstance(await w.ask_ref(InstrumentsReq()), Instruments)

    run(scenario())
