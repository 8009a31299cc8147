"""Fencing (protocol v2 ``epoch``) at the IB gateway, TWS's side through a real ib_async.IB: once
the account sent epoch 5, a ``new`` with epoch 4 is rejected ``fenced`` and no placeOrder goes
to TWS, a ``cancel`` with epoch 4 is refused with no cancelOrder (the order stays working),
epoch 0 is never fenced, and a restarted gateway (the epoch is durable beside the order map)
still fences epoch 4."""

from __future__ import annotations

import json

from tests.ib.tws import CANCEL, PLACE, FakeTws
from tests.ib.world import World, run, world
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    NewOrder,
    OrderStatus,
    QueryReq,
    Reject,
)


def _new(cl: str, epoch: int) -> NewOrder:
    return NewOrder(cl=cl, sym="GCZ6", side="B", px=23456, qty=5, tif="GTC", ts=1, epoch=epoch)


def _placed_ids(w: World, cl: str) -> list[int]:
    """The orderIds of every placeOrder TWS received for ``cl`` (its orderRef)."""
    return [int(f[1]) for f in w.tws.requests(PLACE) if cl in f]


async def _acked(w: World, cl: str, epoch: int) -> int:
    """Send ``new``; TWS confirms it; its orderId once the engine has the ack."""
    await w.send(_new(cl, epoch))
    for _ in range(500):
        if _placed_ids(w, cl):
            break
        await _tick()
    (oid,) = _placed_ids(w, cl)
    w.tws.status(oid, "Submitted", 0, 5)
    (ack,) = await w.oe_until(lambda m: isinstance(m, Ack) and m.cl == cl)
    assert ack.oid == str(oid)
    return oid


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.01)  # a poll step inside a bounded loop, not a wait for an outcome


async def _status(w: World, cl: str) -> OrderStatus:
    await w.send(QueryReq(cl=cl))
    st = (await w.oe_until(lambda m: isinstance(m, OrderStatus) and m.cl == cl))[-1]
    assert isinstance(st, OrderStatus)
    return st


def test_older_epoch_never_reaches_tws() -> None:
    async def go() -> None:
        async with world() as w:
            oid = await _acked(w, "5.1.0.0", 5)
            await w.send(_new("4.1.0.0", 4))
            (rej,) = await w.oe_until(lambda m: isinstance(m, Reject))
            assert (rej.cl, rej.code) == ("4.1.0.0", "fenced") and "epoch 4" in rej.reason
            assert _placed_ids(w, "4.1.0.0") == []  # no placeOrder
            assert w.gw.oe is not None and "4.1.0.0" not in w.gw.oe.clmap.by_cl
            await w.send(CancelReq(cl="5.1.0.0", ts=2, epoch=4))
            (cr,) = await w.oe_until(lambda m: isinstance(m, CancelReject))
            assert (cr.cl, cr.code) == ("5.1.0.0", "fenced")
            assert w.tws.requests(CANCEL) == []  # no cancelOrder: it stays working
            assert (await _status(w, "5.1.0.0")).state == "new"
            await _acked(w, "0.1.0.0", 0)  # no epoch: never fenced
            await w.send(CancelReq(cl="5.1.0.0", ts=3, epoch=5))
            done = (await w.oe_until(lambda m: isinstance(m, Done)))[-1]
            assert (done.cl, done.state) == ("5.1.0.0", "canceled")
            assert [f[2] for f in w.tws.requests(CANCEL)] == [str(oid)]
            assert w.gw.oe.fence.highest == {"ib-paper": 5}
    run(go())


def test_a_restarted_gateway_still_fences() -> None:
    async def go() -> None:
        async with world() as w:
            await _acked(w, "5.2.0.0", 5)
            d = w.d
            path = w.gw.oe.fence.path if w.gw.oe is not None else None
        assert path is not None and json.loads(path.read_text()) == {"ib-paper": 5}
        tws2 = FakeTws()
        async with world(tws2, d=d) as w2:
            await w2.send(_new("4.2.0.0", 4))
            (rej,) = await w2.oe_until(lambda m: isinstance(m, Reject))
            assert (rej.cl, rej.code) == ("4.2.0.0", "fenced")
            await w2.send(CancelReq(cl="5.2.0.0", ts=2, epoch=4))
            (cr,) = await w2.oe_until(lambda m: isinstance(m, CancelReject))
            assert (cr.cl, cr.code) == ("5.2.0.0", "fenced")
            assert tws2.requests(PLACE) == [] and tws2.requests(CANCEL) == []
            await w2.send(CancelReq(cl="5.2.0.0", ts=3, epoch=5))  # the current primary can
            for _ in range(500):
                if tws2.requests(CANCEL):
                    break
                await _tick()
            assert len(tws2.requests(CANCEL)) == 1
    run(go())
