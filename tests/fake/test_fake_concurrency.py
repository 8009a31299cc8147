"""Concurrent requests of ONE account to a fake, through the real ccxt (REST): every answer must
be the answer to its own request, and a request that genuinely times out must not spoil the
requests after it.

The gateway issues its reconciliation reads together (``asyncio.gather`` of several
``fetch_my_trades``, ``fetch_open_orders`` and ``fetch_order``); each read has its own
parameters (``since``, ``limit``), so an answer handed to the wrong request shows as wrong
content, and an answer handed to no request shows as the exchange's timeout error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import ccxt.async_support as ccxt_async
import pytest

from tests.support.fakes import FakeProcess, write_test_conf
from transports.clock import LiveClock
from transports.venues.fake import binance as fake_binance
from transports.venues.fake import okx as fake_okx
from transports.venues.fake.replies import Replies
from transports.wire.venue_msgs import Ack, CancelReq, Done, Fill, NewOrder, Reject

T = TypeVar("T")
CLOCK = LiveClock()
TEST_TIMEOUT_S = 40.0  #: a lost answer costs the fake's request timeout (3 s) per round
ROUNDS = 3  #: gathers in a row: a stale waiter left by one round would spoil the next
#: the simulator's one-way latency: requests sent together arrive within it, so the venue
#: answers them in one batch (as it does on a busy fake), which is where answers went astray
LATENCY_US = 30_000


@pytest.fixture(scope="module")
def conf(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return write_test_conf(tmp_path_factory.mktemp("fakec") / "conf.toml", funding_s=60.0,
                           rate_limit=50, btc=0.05, latency_us=LATENCY_US)


@pytest.fixture(scope="module")
def binance(conf: Any) -> Iterator[FakeProcess]:
    with FakeProcess("binance", conf) as f:
        yield f


@pytest.fixture(scope="module")
def okx(conf: Any) -> Iterator[FakeProcess]:
    with FakeProcess("okx", conf) as f:
        yield f


def run(coro: Awaitable[T]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(TEST_TIMEOUT_S):
            return await coro

    return asyncio.run(bounded())


def binance_client(fake: FakeProcess, key: str) -> Any:
    ex = ccxt_async.binance({"apiKey": key, "secret": f"{key}-secret", "enableRateLimit": False,
                             "options": fake_binance.ccxt_options(), "timeout": 10_000})
    ex.urls["api"] = fake_binance.ccxt_urls(fake.http, fake.ws)
    return ex


def okx_client(fake: FakeProcess, key: str) -> Any:
    ex = ccxt_async.okx({"apiKey": key, "secret": f"{key}-secret", "password": f"{key}-pass",
                         "enableRateLimit": False, "timeout": 10_000,
                         "options": fake_okx.ccxt_options()})
    ex.urls["api"] = fake_okx.ccxt_urls(fake.http, fake.ws)
    return ex


async def fills_and_a_resting_order(ex: Any, sym: str) -> tuple[list[str], int, Any]:
    """Two IOC buys that fill (a millisecond apart at least) and one GTC buy far below the book:
    (the two orders' ids, a ``since`` in ms between them, the resting order)."""
    ids, mid_ms = [], 0
    for i in range(2):
        ob = await ex.fetch_order_book(sym, 5)
        o = await ex.create_order(sym, "limit", "buy", 0.0003, ob["asks"][0][0] + 300,
                                  {"timeInForce": "IOC", "clientOrderId": f"ioc{i}"})
        got = await ex.fetch_order(o["id"], sym)  # OKX's answer to a new order has no fills
        assert got["filled"] == pytest.approx(0.0003), got
        ids.append(o["id"])
        if i == 0:
            t0 = CLOCK.now_ns() // 1_000_000
            while CLOCK.now_ns() // 1_000_000 <= t0 + 1:  # a distinct ms for the since
                await asyncio.sleep(0.001)
            mid_ms = CLOCK.now_ns() // 1_000_000
    ob = await ex.fetch_order_book(sym, 5)
    gtc = await ex.create_order(sym, "limit", "buy", 0.0002, ob["bids"][0][0] - 300,
                                {"clientOrderId": "rest1"})
    assert (await ex.fetch_order(gtc["id"], sym))["status"] == "open"
    return ids, mid_ms, gtc


async def gather_reads(ex: Any, sym: str, ids: list[str], mid_ms: int, gtc: Any) -> None:
    """Three ``fetch_my_trades`` with different windows, ``fetch_open_orders`` and
    ``fetch_order`` at the same time: each answers its own request."""
    every, since, last, opened, order = await asyncio.gather(
        ex.fetch_my_trades(sym), ex.fetch_my_trades(sym, mid_ms),
        ex.fetch_my_trades(sym, None, 1), ex.fetch_open_orders(sym),
        ex.fetch_order(gtc["id"], sym))
    assert {t["order"] for t in every} == set(ids)
    assert {t["order"] for t in since} == {ids[1]}
    assert len(last) == 1 and last[0]["order"] == ids[1]
    assert [o["clientOrderId"] for o in opened] == ["rest1"]
    assert order["id"] == gtc["id"] and order["status"] == "open"


def test_binance_concurrent_reads_answer_their_own_requests(binance: FakeProcess) -> None:
    async def go() -> None:
        ex = binance_client(binance, "c-bn")
        try:
            await ex.load_markets()
            ids, mid_ms, gtc = await fills_and_a_resting_order(ex, "BTC/USDT")
            for _ in range(ROUNDS):
                await gather_reads(ex, "BTC/USDT", ids, mid_ms, gtc)
        finally:
            await ex.close()

    run(go())


def test_okx_concurrent_reads_answer_their_own_requests(okx: FakeProcess) -> None:
    async def go() -> None:
        ex = okx_client(okx, "c-okx")
        try:
            await ex.load_markets()
            ids, mid_ms, gtc = await fills_and_a_resting_order(ex, "BTC/USDT")
            for _ in range(ROUNDS):
                await gather_reads(ex, "BTC/USDT", ids, mid_ms, gtc)
        finally:
            await ex.close()

    run(go())


def test_binance_reads_after_a_lost_answer_still_answer(binance: FakeProcess) -> None:
    """The ``lose_reply`` switch loses the venue's answer to the next read: that read times
    out (-1007) and every later read, alone or concurrent, answers again."""
    async def go() -> None:
        ex = binance_client(binance, "c-bn-lost")
        try:
            await ex.load_markets()
            ids, mid_ms, gtc = await fills_and_a_resting_order(ex, "BTC/USDT")
            binance.fault(kind="lose_reply", account="c-bn-lost", n=1)
            with pytest.raises(ccxt_async.RequestTimeout, match="-1007"):
                await ex.fetch_open_orders("BTC/USDT")
            assert [o["clientOrderId"] for o in await ex.fetch_open_orders("BTC/USDT")] == [
                "rest1"]
            for _ in range(ROUNDS):
                await gather_reads(ex, "BTC/USDT", ids, mid_ms, gtc)
            hits = binance.truth()["fake_faults"]["counts"]
            assert hits.get("lose_reply") == 1
        finally:
            await ex.close()

    run(go())


def test_binance_orders_and_reads_at_once(binance: FakeProcess) -> None:
    """New orders, a cancel and reads of one account together: the orders' answers are still
    correlated through the simulator (by client id), the reads answer their own requests."""
    async def go() -> None:
        ex = binance_client(binance, "c-bn-mix")
        try:
            await ex.load_markets()
            ids, mid_ms, gtc = await fills_and_a_resting_order(ex, "BTC/USDT")
            bid = (await ex.fetch_order_book("BTC/USDT", 5))["bids"][0][0]
            outs = await asyncio.gather(
                *(ex.create_order("BTC/USDT", "limit", "buy", 0.0001, bid - 30 - i,
                                  {"clientOrderId": f"mix{i}"}) for i in range(3)),
                ex.cancel_order(gtc["id"], "BTC/USDT"),
                ex.fetch_my_trades("BTC/USDT"), ex.fetch_my_trades("BTC/USDT", mid_ms),
                *(ex.create_order("BTC/USDT", "limit", "buy", 0.0001, bid - 40,
                                  {"clientOrderId": "dup"}) for _ in range(2)),
                return_exceptions=True)
            news, cancel, every, since, dups = outs[:3], outs[3], outs[4], outs[5], outs[6:]
            assert [o["clientOrderId"] for o in news] == ["mix0", "mix1", "mix2"], outs
            assert all(o["status"] == "open" for o in news)
            # the same client id twice at once: one is accepted, the other refused as Binance
            # refuses a duplicate, each answer to its own request
            placed = [d for d in dups if isinstance(d, dict)]
            refused = [d for d in dups if isinstance(d, Exception)]
            assert len(placed) == 1 and placed[0]["status"] == "open", dups
            assert len(refused) == 1 and "Duplicate order sent" in str(refused[0]), dups
            assert cancel["id"] == gtc["id"]
            assert {t["order"] for t in every} == set(ids)
            assert {t["order"] for t in since} == {ids[1]}
            opened = await ex.fetch_open_orders("BTC/USDT")
            assert sorted(o["clientOrderId"] for o in opened) == ["dup", "mix0", "mix1", "mix2"]
        finally:
            await ex.close()

    run(go())


def test_replies_match_order_answers_by_processing_time() -> None:
    """The order matching alone: two ``new`` of one client id and a ``cancel`` of it processed
    in one batch each get their own replies (by the ``ts`` they were processed at); a request
    that gives up leaves nothing waiting."""
    async def go() -> None:
        r = Replies()
        new = NewOrder(cl="a", sym="X", side="B", px=10, qty=2, tif="GTC", ts=0)
        _, w1 = r.expect("v", "acct", new, 100)
        _, w2 = r.expect("v", "acct", new, 105)
        _, w3 = r.expect("v", "acct", CancelReq(cl="a", ts=0), 103)
        late = Fill(cl="a", oid="v-1", tid="v-t0", px=10, qty=1, ts=90)  # before any request
        batch = [late, Ack(cl="a", oid="v-1", ts=100), Fill(cl="a", oid="v-1", tid="v-t1",
                 px=10, qty=1, ts=100), Done(cl="a", oid="v-1", state="canceled", cum=1, ts=103),
                 Reject(cl="a", code="duplicate_cl", reason="", ts=105)]
        for m in batch:
            r.offer("v", "acct", m)
        r.settle()
        assert [type(m).__name__ for m in await w1.fut] == ["Ack", "Fill"]
        assert [type(m).__name__ for m in await w3.fut] == ["Done"]
        assert [type(m).__name__ for m in await w2.fut] == ["Reject"]
        assert r.waiting() == 0
        k4, w4 = r.expect("v", "acct", new, 200)
        r.forget(k4, w4)  # timed out or abandoned
        r.offer("v", "acct", Ack(cl="a", oid="v-2", ts=200))
        r.settle()
        assert r.waiting() == 0 and not w4.fut.done()

    run(go())
