"""OKX spot through the real gateway and ccxt against the OKX fake: client ids mapped to OKX's
alphabet (and the durable map a restarted gateway reads), fill, partial, reject, throttled,
unknown-then-found and a private-stream drop, judged from the fake's record (where client ids
are the exchange's)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from tests.gateway.ccxt_world import CLOCK, Engine, GatewayThread, wait_until
from transports.venues.ccxt.clmap import RULES, to_exchange
from transports.wire.venue_msgs import (
    Ack,
    CancelReq,
    Done,
    Fill,
    NewOrder,
    OrderStatus,
    QueryReq,
    Reject,
    Session,
)

pytestmark = pytest.mark.e2e

SYM = "BTC-USDT"
_CL = itertools.count(300)


def new_cl() -> str:
    return f"2.{next(_CL)}.1.0"


def top(w: Any) -> tuple[int, int, int, int]:
    def f() -> tuple[int, int, int, int]:
        b = w.gw.gw.md.books[SYM]
        bid, ask = max(b.bids), min(b.asks)
        return bid, b.bids[bid], ask, b.asks[ask]

    return w.gw.call(f)


def send_new(e: Engine, cl: str, side: str, px: int, qty: int, tif: str) -> None:
    e.send(NewOrder(cl=cl, sym=SYM, side=side, px=px, qty=qty, tif=tif,  # type: ignore[arg-type]
                    ts=CLOCK.now_ns()))


def done_of(e: Engine, cl: str) -> Done:
    return e.wait_oe(lambda m: isinstance(m, Done) and m.cl == cl, 5, f"done {cl}")


def truth_fills(w: Any, cl: str) -> list[dict[str, Any]]:
    xid = to_exchange(cl, RULES["okx"])
    return [f for f in w.fake.truth()["fills"] if f["cl"] == xid]


def same_fills(w: Any, e: Engine, cl: str) -> list[Fill]:
    fills = e.of(Fill, cl)
    assert sorted((f.px, f.qty) for f in fills) == sorted(
        (f["px"], f["qty"]) for f in truth_fills(w, cl))
    assert len({f.tid for f in fills}) == len(fills)
    return fills


def test_fill_partial_and_the_mapped_client_id(okx_spot: Any) -> None:
    w, e = okx_spot, okx_spot.eng
    _, _, ask, _ = top(w)
    cl = new_cl()
    send_new(e, cl, "B", ask + 2000, 1, "IOC")
    d = e.wait_oe(lambda m: isinstance(m, Done) and m.cl == cl, 5, "done")
    assert (d.state, d.cum) == ("filled", 1)
    assert len(same_fills(w, e, cl)) == 1
    # the exchange knows the order by the mapped id, written to the map before it was sent
    xid = to_exchange(cl, RULES["okx"])
    assert xid.isalnum() and [o["cl"] for o in w.fake.truth()["orders"]].count(xid) == 1
    lines = [json.loads(x) for x in (w.d / "state" / "okx-clmap.jsonl").read_text().split()]
    assert {"cl": cl, "xid": xid, "sym": SYM} in lines
    for _ in range(5):
        _, _, ask, ask_lots = top(w)
        cl = new_cl()
        send_new(e, cl, "B", ask, ask_lots + 5, "IOC")
        d = done_of(e, cl)
        if 0 < d.cum < ask_lots + 5:
            break
    else:
        pytest.fail("no partial fill in 5 tries")
    assert d.state == "canceled"  # OKX closes an IOC remainder as canceled
    assert sum(f.qty for f in same_fills(w, e, cl)) == d.cum


def test_reject_throttle_and_unknown_outcome(okx_spot: Any) -> None:
    w, e = okx_spot, okx_spot.eng
    w.fake.fault(kind="reject_orders", account="okx-spot", n=1)
    _, _, ask, _ = top(w)
    cl = new_cl()
    send_new(e, cl, "B", ask + 2000, 1, "IOC")
    r = e.wait_oe(lambda m: isinstance(m, Reject) and m.cl == cl, 5, "reject")
    assert r.code not in ("throttled", "") and not truth_fills(w, cl)
    w.fake.fault(kind="throttle_orders", account="okx-spot", n=1)
    cl = new_cl()
    send_new(e, cl, "B", ask + 2000, 1, "IOC")
    r = e.wait_oe(lambda m: isinstance(m, Reject) and m.cl == cl, 5, "reject")
    assert r.code == "throttled" and r.retry_ms > 0 and not truth_fills(w, cl)
    w.fake.fault(kind="timeout_order", account="okx-spot", n=1, mode="error")
    _, _, ask, _ = top(w)
    cl = new_cl()
    send_new(e, cl, "B", ask + 2000, 1, "IOC")
    wait_until(lambda: truth_fills(w, cl), 5, "the fake's fill")
    e.pump_oe(1.0)
    assert not e.of(Reject, cl)
    e.send(QueryReq(cl=cl))
    q = e.wait_oe(lambda m: isinstance(m, OrderStatus) and m.cl == cl, 5, "status")
    assert (q.state, q.cum) == ("filled", 1) and len(q.fills) == 1


def test_a_restarted_gateway_finds_its_orders_by_the_durable_map(okx_spot: Any) -> None:
    w, e = okx_spot, okx_spot.eng
    bid, _, _, _ = top(w)
    cl = "12345678.12345678.12345678.1234"  # too long to escape: a digest id, only in the map
    send_new(e, cl, "B", bid - 10_000, 1, "GTC")
    e.wait_oe(lambda m: isinstance(m, Ack) and m.cl == cl, 5, "ack")
    other = GatewayThread(w.cfg, "okx", str(w.d / "g2"), w.fake.http, account="okx-spot")
    other.start()
    try:
        e2 = Engine(w.ctx, w.cfg, "okx", str(w.d / "g2"), SYM)
        try:
            e2.send(CancelReq(cl=cl, ts=CLOCK.now_ns()))
            d = e2.wait_oe(lambda m: isinstance(m, Done) and m.cl == cl, 5, "done")
            assert d.state == "canceled"
        finally:
            e2.close()
    finally:
        other.stop()


def test_private_drop_on_okx_is_session_down_then_up(okx_spot: Any) -> None:
    w, e = okx_spot, okx_spot.eng
    n = len(e.of(Session))
    w.fake.fault(kind="disconnect_private", account="okx-spot", market="spot")
    e.wait_oe(lambda m: isinstance(m, Session) and m.state == "down"
              and len(e.of(Session)) > n, 5, "session down")
    e.wait_oe(lambda m: isinstance(m, Session) and m.state == "up"
              and len(e.of(Session)) > n + 1, 10, "session up")
    _, _, ask, _ = top(w)
    cl = new_cl()
    send_new(e, cl, "B", ask + 2000, 1, "IOC")  # the stream is back: reports flow again
    assert e.wait_oe(lambda m: isinstance(m, Done) and m.cl == cl, 5, "done").cum == 1
