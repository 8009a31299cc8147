"""Fencing (protocol v2 ``epoch``) at the ccxt gateway, against the local Binance fake: once the
account sent epoch 5, a ``new`` with epoch 4 is rejected ``fenced`` and never reaches the
exchange (the fake's own record), a ``cancel`` with epoch 4 is refused and the order stays
live at the exchange, epoch 0 is never fenced, and a restarted gateway (the epoch is durable
beside the clmap) still fences epoch 4."""

from __future__ import annotations

import itertools
import json
from typing import Any

import ccxt
import pytest

from tests.gateway.ccxt_world import CLOCK, Engine, GatewayThread, creds_of
from transports.venues.fake import binance as fake_binance
from transports.wire.venue_msgs import Ack, CancelReject, CancelReq, Done, NewOrder, Reject

pytestmark = pytest.mark.e2e

SYM = "BTCUSDT"
_CL = itertools.count(1)


def new_cl(epoch: int) -> str:
    """A fresh engine client id (they start with the engine's epoch)."""
    return f"{epoch}.{next(_CL)}.0.0"


def bid_of(w: Any) -> int:
    """The best bid the gateway published (ticks)."""
    return w.gw.call(lambda: max(w.gw.gw.md.books[SYM].bids))


def send_new(e: Engine, cl: str, px: int, epoch: int) -> None:
    e.send(NewOrder(cl=cl, sym=SYM, side="B", px=px, qty=1, tif="GTC", ts=CLOCK.now_ns(),
                    epoch=epoch))


def reply(e: Engine, kind: type, cl: str) -> Any:
    return e.wait_oe(lambda m: isinstance(m, kind) and m.cl == cl, 5, f"{kind.__name__} {cl}")


def at_exchange(w: Any, cl: str) -> list[dict[str, Any]]:
    """Every order the fake exchange received with this client id."""
    return [o for o in w.fake.truth()["orders"] if o["cl"] == cl]


def open_at_exchange(w: Any) -> list[str]:
    """The client ids of the account's open orders, asked of the fake with plain ccxt."""
    c = creds_of("binance-spot")
    ex = ccxt.binance({"apiKey": c.key, "secret": c.secret, "enableRateLimit": False})
    ex.urls["api"] = fake_binance.ccxt_urls(w.fake.http, w.fake.ws)
    ex.options.update(fake_binance.ccxt_options())
    ex.load_markets()
    return [str(o["clientOrderId"]) for o in ex.fetch_open_orders("BTC/USDT")]


def test_older_epoch_is_fenced_before_the_exchange(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    px = bid_of(w) - 50_000  # 500 USDT below the touch: rests
    live = new_cl(5)
    send_new(e, live, px, 5)
    reply(e, Ack, live)
    assert len(at_exchange(w, live)) == 1

    stale = new_cl(4)
    send_new(e, stale, px, 4)
    r = reply(e, Reject, stale)
    assert r.code == "fenced" and "epoch 4" in r.reason and "5" in r.reason
    assert at_exchange(w, stale) == []  # create_order was never called

    e.send(CancelReq(cl=live, ts=CLOCK.now_ns(), epoch=4))
    cr = reply(e, CancelReject, live)
    assert cr.code == "fenced"
    assert live in open_at_exchange(w)  # the new primary's order is untouched
    assert not e.of(Done, live)

    free = new_cl(0)  # no epoch: never fenced
    send_new(e, free, px, 0)
    reply(e, Ack, free)
    for cl in (live, free):
        e.send(CancelReq(cl=cl, ts=CLOCK.now_ns(), epoch=5 if cl == live else 0))
        assert reply(e, Done, cl).state == "canceled"
    oe = w.gw.gw.oe
    assert oe.fence.highest == {"binance-spot": 5} and oe.fence.fenced == 2


def test_a_restarted_gateway_still_fences(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    px = bid_of(w) - 50_000
    live = new_cl(7)
    send_new(e, live, px, 7)
    reply(e, Ack, live)
    path = w.gw.gw.oe.fence.path
    assert path is not None and path.parent == w.d / "state"
    assert json.loads(path.read_text()) == {"binance-spot": 7}  # on disk before the order left
    w.gw.stop()  # the gateway goes down; the order rests at the exchange
    again = GatewayThread(w.cfg, "binance", str(w.d / "g2"), w.fake.http,
                          account="binance-spot").start()
    try:
        e2 = Engine(w.ctx, w.cfg, "binance", str(w.d / "g2"), SYM)
        try:
            stale = new_cl(6)
            send_new(e2, stale, px, 6)
            assert reply(e2, Reject, stale).code == "fenced"
            assert at_exchange(w, stale) == []
            e2.send(CancelReq(cl=live, ts=CLOCK.now_ns(), epoch=6))
            assert reply(e2, CancelReject, live).code == "fenced"
            assert live in open_at_exchange(w)
            e2.send(CancelReq(cl=live, ts=CLOCK.now_ns(), epoch=7))
            assert reply(e2, Done, live).state == "canceled"
            assert live not in open_at_exchange(w)
        finally:
            e2.close()
    finally:
        again.stop()
