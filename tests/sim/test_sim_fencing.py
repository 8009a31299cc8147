"""Fencing at the simulator (protocol v2 ``epoch``): a deposed primary's ``new`` and ``cancel``
are refused with ``fenced`` once its standby's newer epoch was seen from the account; the truth
records the refused order as received and rejected, and it never reaches the book.

Over a ``SimCore`` on a ``TestClock`` (the harness of the other simulator tests), and once over
the real simulator gateway's sockets."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import msgspec
import zmq

from tests.sim.test_sim_harness import CFG, Run
from transports.clock import LiveClock
from transports.venues.sim.gateway import address, serve
from transports.wire.venue_msgs import (
    FENCE_PROBE_CL,
    Ack,
    CancelReject,
    CancelReq,
    Done,
    NewOrder,
    OpenOrders,
    OpenOrdersReq,
    OrderStatus,
    QueryReq,
    Reject,
)

SHFE, AU = "shfe", "au2606"


def _for(r: Run, cl: str, account: str = "acct") -> list[Any]:
    return [m for m in r.replies(account) if getattr(m, "cl", None) == cl]


def _resting(r: Run, cl: str, epoch: int) -> NewOrder:
    bid = r.core.venues[SHFE].books[AU].best("B")
    assert bid is not None
    return NewOrder(cl, AU, "B", bid - 30, 2, "GTC", r.now, epoch=epoch)  # rests, far away


def _truth(r: Run, cl: str) -> list[dict[str, Any]]:
    return [o for o in r.core.truth.orders if o["cl"] == cl]


def test_older_epoch_is_fenced_and_never_reaches_the_book() -> None:
    r = Run()
    r.to(100)
    venue = r.core.venues[SHFE]
    r.send(SHFE, _resting(r, "5.1", epoch=5))  # the standby, now primary
    r.to(110)
    assert [type(m) for m in _for(r, "5.1")] == [Ack]
    live = venue.orders[("acct", "5.1")]
    assert venue.books[AU].holds(live)

    r.send(SHFE, _resting(r, "4.9", epoch=4))  # the deposed primary
    r.to(120)
    (rej,) = _for(r, "4.9")
    assert isinstance(rej, Reject) and rej.code == "fenced"
    assert "4" in rej.reason and "5" in rej.reason
    (rec,) = _truth(r, "4.9")  # received, and rejected: the truth says so
    assert rec["epoch"] == 4 and rec["rejected"] == "fenced"
    assert ("acct", "4.9") not in venue.orders and ("acct", "4.9") not in venue.used
    assert not any(o.cl == "4.9" for q in venue.books[AU]._queues["B"].values() for o in q)
    counts = r.counts()
    assert counts["fenced"] == 1 and counts["rejects"] == 1 and counts["orders"] == 2

    # the deposed primary cannot cancel the new primary's order either: it stays live
    r.send(SHFE, CancelReq(cl="5.1", ts=r.now, epoch=4))
    r.to(130)
    cr = _for(r, "5.1")[-1]
    assert isinstance(cr, CancelReject) and cr.code == "fenced"
    assert live.is_open and venue.books[AU].holds(live)
    assert r.counts()["fenced_cancels"] == 1
    n = len(r.replies())
    r.send(SHFE, OpenOrdersReq())
    r.to(140)
    (oo,) = r.replies()[n:]
    assert isinstance(oo, OpenOrders) and [o.cl for o in oo.list] == ["5.1"]
    n = len(r.replies())
    r.send(SHFE, QueryReq(cl="4.9"))
    r.to(150)
    (st,) = r.replies()[n:]
    assert isinstance(st, OrderStatus) and st.state == "unknown"  # never an order

    # the current epoch cancels; no epoch (0) is never fenced; a newer one raises the bar
    r.send(SHFE, CancelReq(cl="5.1", ts=r.now, epoch=5))
    r.to(160)
    assert isinstance(_for(r, "5.1")[-1], Done) and not live.is_open
    r.send(SHFE, _resting(r, "0.1", epoch=0))
    r.to(170)
    assert [type(m) for m in _for(r, "0.1")] == [Ack]
    r.send(SHFE, _resting(r, "6.1", epoch=6))
    r.send(SHFE, _resting(r, "5.2", epoch=5))
    r.to(180)
    assert [type(m) for m in _for(r, "6.1")] == [Ack]
    assert _for(r, "5.2")[0].code == "fenced"
    assert venue.fence.highest == {"acct": 6}


def test_the_fencing_probe_fences_an_older_sender_before_anything_is_answered() -> None:
    """A take-over's first frame is a ``cancel`` of ``FENCE_PROBE_CL`` with the new epoch
    (``LegShell``): answered as an unknown order, yet it fences at once, so a deposed primary's
    order that arrives after it (queued before a freeze) is refused, never filled behind the
    reconciliation that follows."""
    r = Run()
    r.to(100)
    r.send(SHFE, CancelReq(cl=FENCE_PROBE_CL, ts=r.now, epoch=7))
    r.send(SHFE, _resting(r, "6.3", epoch=6))  # the old primary's frame, just behind
    r.to(110)
    (probe,) = _for(r, FENCE_PROBE_CL)
    assert isinstance(probe, CancelReject) and probe.code != "fenced"
    (rej,) = _for(r, "6.3")
    assert isinstance(rej, Reject) and rej.code == "fenced"
    assert r.core.venues[SHFE].fence.highest == {"acct": 7}


def test_the_fence_is_per_account() -> None:
    r = Run()
    r.to(100)
    r.send(SHFE, _resting(r, "5.1", epoch=5))
    r.send(SHFE, _resting(r, "4.1", epoch=4), account="other")  # another account's own epochs
    r.to(110)
    assert [type(m) for m in _for(r, "5.1")] == [Ack]
    assert [type(m) for m in _for(r, "4.1", "other")] == [Ack]
    assert "fenced" not in r.counts()


def test_fencing_over_the_gateway_sockets(tmp_path: Path) -> None:
    clock = LiveClock()
    ctx: zmq.Context[Any] = zmq.Context()
    sock_dir = str(tmp_path / "s")
    stop, bound = threading.Event(), threading.Event()
    th = threading.Thread(target=lambda: serve(CFG, sock_dir, ctx, clock=clock, stop=stop,
                                               duration_s=60.0, ready=bound.set),
                          name="sim-gateway", daemon=True)
    th.start()
    assert bound.wait(10)
    v = next(v for v in CFG.venues if v.name == SHFE)
    enc = msgspec.msgpack.Encoder()
    socks: list[zmq.Socket[Any]] = []

    def dealer(which: str, ident: bytes | None = None) -> zmq.Socket[Any]:
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        if ident is not None:
            s.setsockopt(zmq.IDENTITY, ident)
        s.connect(address(getattr(v, which), sock_dir))
        socks.append(s)
        return s

    def recv(s: zmq.Socket[Any]) -> dict[str, Any]:
        assert s.poll(5000), "no reply before the deadline"
        return msgspec.msgpack.decode(s.recv_multipart()[-1])

    def until(s: zmq.Socket[Any], pred: Any) -> dict[str, Any]:
        for _ in range(1000):  # bounded: each receive has its own deadline
            m = recv(s)
            if pred(m):
                return m
        raise AssertionError("no matching reply")

    try:
        ref, oe = dealer("ref"), dealer("oe", b"shfe-acct")
        ref.send(enc.encode({"t": "snapshot", "sym": AU}))
        bid = recv(ref)["b"][0][0]
        oe.send(enc.encode(NewOrder("5.1", AU, "B", bid - 30, 1, "GTC", clock.now_ns(),
                                    epoch=5)))
        assert until(oe, lambda m: m.get("cl") == "5.1")["t"] == "ack"
        oe.send(enc.encode(NewOrder("4.1", AU, "B", bid - 30, 1, "GTC", clock.now_ns(),
                                    epoch=4)))
        rej = until(oe, lambda m: m.get("cl") == "4.1")
        assert (rej["t"], rej["code"]) == ("reject", "fenced")
        oe.send(enc.encode(CancelReq(cl="5.1", ts=clock.now_ns(), epoch=4)))
        cr = until(oe, lambda m: m.get("cl") == "5.1")
        assert (cr["t"], cr["code"]) == ("cancel_reject", "fenced")
        ref.send(enc.encode({"t": "sim.truth"}))
        t = recv(ref)["truth"]
        assert [(o["cl"], o.get("rejected")) for o in t["orders"]] == [("5.1", None),
                                                                        ("4.1", "fenced")]
        assert t["counts"]["fenced"] == 1 and t["counts"]["fenced_cancels"] == 1
        oe.send(enc.encode(OpenOrdersReq()))
        oo = until(oe, lambda m: m["t"] == "open_orders")
        assert [o["cl"] for o in oo["list"]] == ["5.1"]  # still live at the venue
    finally:
        stop.set()
        th.join(10)
        for s in socks:
            s.close(linger=0)
        ctx.term()
    assert not th.is_alive()
