"""The OKX fake driven by the real ccxt 4.5.90 okx (``ccxt.async_support`` / ``ccxt.pro``)
pointed at a real ``cmc fake-exchange okx`` process through ``ccxt_urls``.

One fake process serves the whole module (spot BTC-USDT and swap BTC-USDT-SWAP, funding every
second, 20 orders/s per key); each test signs with its own API key (= simulator account), so
orders, rate limits and account-scoped faults of one test never touch another's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import zlib
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import ccxt.pro as ccxtpro
import pytest
from ccxt.base.errors import (
    AuthenticationError,
    InvalidNonce,
    InvalidOrder,
    NetworkError,
    OrderNotFound,
    RateLimitExceeded,
    RequestTimeout,
)

from tests.support.fakes import FakeProcess
from transports.venues.fake.okx import ccxt_options, ccxt_urls

T = TypeVar("T")
SPOT, SWAP = "BTC/USDT", "BTC/USDT:USDT"
STEP_S = 5.0  #: deadline of any one wait in these tests

CONF = """
[run]
epoch = 1
duration_s = 30.0

[[venues]]
name = "okx"
md = "ipc://{sock}/okx-md"
ref = "ipc://{sock}/okx-ref"
oe = "ipc://{sock}/okx-oe"
account = "okx-spot"

[[venues]]
name = "okx-swap"
md = "ipc://{sock}/okx-swap-md"
ref = "ipc://{sock}/okx-swap-ref"
oe = "ipc://{sock}/okx-swap-oe"
account = "okx-swap"

[[contracts]]
venue = "okx"
sym = "BTC-USDT"
tick = "0.1"
multiplier = 0.0001
unit = "BTC"
ccy = "USDT"
underlying = "btc"
base_per_lot = 0.0001
fee_per_lot = 0.0019
max_lots_per_order = 1000

[[contracts]]
venue = "okx-swap"
sym = "BTC-USDT-SWAP"
tick = "0.1"
multiplier = 0.01
unit = "BTC"
ccy = "USDT"
underlying = "btc"
base_per_lot = 0.01
fee_per_lot = 0.38
max_lots_per_order = 1000

# the pair only gives both books a market maker around the same BTC price
[[pairs]]
name = "btc-spot-swap"
leg_a = "okx:BTC-USDT"
leg_b = "okx-swap:BTC-USDT-SWAP"

[sim]
seed = 11
gold_usd_oz = 95000.0
usdcnh = 1.0
basis_cny_g = 0.0
vol_gold_bps_s = 3.0
vol_fx_bps_s = 0.0
dislocation_every_s = 3.0
dislocation_cny_g = 60.0
dislocation_hold_s = 1.5
threshold_cny_g = 10.0
warmup_s = 0.5

[[sim.venues]]
name = "okx"
latency_us = 200
md_interval_ms = 50
level_qty_lots = 20

[[sim.venues]]
name = "okx-swap"
latency_us = 200
md_interval_ms = 100
level_qty_lots = 20

[[fakes]]
exchange = "okx"
markets = [{ market = "spot", venue = "okx" }, { market = "swap", venue = "okx-swap" }]
funding_interval_s = 1.0
funding_rate = "0.0001"
rate_limit_per_s = 20
"""


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeProcess]:
    conf = tmp_path_factory.mktemp("okx") / "okx.toml"
    conf.write_text(CONF)
    with FakeProcess("okx", conf) as f:
        yield f


def run(coro: Awaitable[T], timeout_s: float = 15.0) -> T:
    """Run one test body with a deadline."""
    async def body() -> T:
        async with asyncio.timeout(timeout_s):
            return await coro
    return asyncio.run(body())


def exchange(fake: FakeProcess, key: str, *, secret: str | None = None,
             timeout_ms: int = 3000) -> Any:
    """The real ccxt.pro okx, signed as ``key``, pointed at the fake."""
    ex = ccxtpro.okx({"apiKey": key, "secret": secret or f"{key}-secret",
                      "password": f"{key}-pass", "enableRateLimit": False,
                      "timeout": timeout_ms, "options": ccxt_options()})
    ex.urls["api"] = ccxt_urls(fake.http, fake.ws)
    return ex


async def until(fn: Callable[[], Awaitable[T | None]], what: str,
                deadline_s: float = STEP_S) -> T:
    """Call ``fn`` until it returns something (not None/False) or the deadline passes."""
    async with asyncio.timeout(deadline_s):
        while True:
            out = await fn()
            if out:
                return out
            await asyncio.sleep(0.02)
    raise AssertionError(what)  # pragma: no cover - the timeout raises first


async def book_top(ex: Any, symbol: str) -> tuple[float, float]:
    """Best bid and ask from ccxt's websocket book."""
    ob = await asyncio.wait_for(ex.watch_order_book(symbol), STEP_S)
    return ob["bids"][0][0], ob["asks"][0][0]


async def order_event(ex: Any, cl: str, status: str) -> dict[str, Any]:
    """Wait on ``watch_orders`` until the order ``cl`` is reported ``status`` (ccxt's cache
    first: pushes that came while nobody was watching are in it)."""
    async with asyncio.timeout(STEP_S):
        orders = list(ex.orders or [])
        while True:
            for o in orders:
                if o["clientOrderId"] == cl and o["status"] == status:
                    return o
            orders = await ex.watch_orders()


def okx_checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """OKX's checksum as its docs define it, written independently of the fake."""
    parts = []
    for i in range(25):
        if i < len(bids):
            parts.append(f"{bids[i][0]}:{bids[i][1]}")
        if i < len(asks):
            parts.append(f"{asks[i][0]}:{asks[i][1]}")
    c = zlib.crc32(":".join(parts).encode())
    return c - 2**32 if c >= 2**31 else c


# --- market data -----------------------------------------------------------------------------


def test_load_markets_shapes(fake: FakeProcess) -> None:
    async def body() -> None:
        ex = exchange(fake, "t-markets")
        try:
            markets = await ex.load_markets()
            spot, swap = markets[SPOT], markets[SWAP]
            assert spot["id"] == "BTC-USDT" and spot["spot"] and spot["active"]
            assert spot["precision"] == {"amount": 0.0001, "price": 0.1}
            assert spot["limits"]["amount"]["min"] == 0.0001
            assert swap["id"] == "BTC-USDT-SWAP" and swap["swap"] and swap["linear"]
            assert swap["settle"] == "USDT" and swap["contractSize"] == 0.01
            assert swap["precision"] == {"amount": 1.0, "price": 0.1}
            assert set(markets) == {SPOT, SWAP}
            t = await ex.fetch_time()
            assert abs(t - ex.milliseconds()) < 2000
            fr = await ex.fetch_funding_rate(SWAP)
            assert fr["fundingRate"] == 0.0001 and fr["interval"] == "1000"
        finally:
            await ex.close()
    run(body())


def test_watch_order_book_converges_to_the_fakes_book(fake: FakeProcess) -> None:
    async def body() -> None:
        ex = exchange(fake, "t-book")
        try:
            async def same() -> bool:
                ob = await asyncio.wait_for(ex.watch_order_book(SPOT), STEP_S)
                truth = await asyncio.to_thread(fake.book, "spot", "BTC-USDT")
                if truth["seq"] != ob["nonce"]:
                    return False
                bids = [[Decimal(p), Decimal(q)] for p, q in truth["bids"]]
                mine = [[Decimal(str(p)), Decimal(str(q))] for p, q in ob["bids"]]
                return bids == mine and len(ob["asks"]) == len(truth["asks"])
            await until(same, "ccxt's book never equalled the fake's")
            rest = await ex.fetch_order_book(SPOT, 5)
            assert len(rest["bids"]) == 5 and rest["bids"][0][0] < rest["asks"][0][0]
        finally:
            await ex.close()
    run(body())


def test_books_channel_checksum_seq_and_dropped_update(fake: FakeProcess) -> None:
    """Raw websocket: every message's checksum matches OKX's definition over the client's
    book, seqIds chain; a dropped update shows as prevSeqId != last seqId and its checksum
    (the exchange's true book) no longer matches the client's book."""
    async def body() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(fake.ws + "/ws/v5/public") as ws:
            await ws.send_json({"op": "subscribe",
                                "args": [{"channel": "books", "instId": "BTC-USDT"}]})
            book: dict[str, dict[str, str]] = {"bids": {}, "asks": {}}
            last, updates, gap = -1, 0, None
            while gap is None:
                msg = await ws.receive_json(timeout=STEP_S)
                if "event" in msg:
                    assert msg["event"] == "subscribe"
                    continue
                d = msg["data"][0]
                if msg["action"] == "snapshot":
                    assert d["prevSeqId"] == -1
                    book = {"bids": {}, "asks": {}}
                for side in ("bids", "asks"):
                    for px, sz, _, _ in d[side]:
                        if sz == "0":
                            book[side].pop(px, None)
                        else:
                            book[side][px] = sz
                bids = sorted(book["bids"].items(), key=lambda kv: -Decimal(kv[0]))
                asks = sorted(book["asks"].items(), key=lambda kv: Decimal(kv[0]))
                ok = okx_checksum([list(b) for b in bids], [list(a) for a in asks]) == \
                    d["checksum"]
                if msg["action"] == "update" and d["prevSeqId"] != last:
                    gap = (d, ok)
                    break
                assert ok, f"checksum mismatch at seqId {d['seqId']}"
                last = d["seqId"]
                if msg["action"] == "update":
                    updates += 1
                    if updates == 3:
                        await asyncio.to_thread(fake.fault, kind="drop_diff", market="spot",
                                                sym="BTC-USDT", n=1)
            d, ok = gap
            assert updates >= 3 and d["prevSeqId"] == last + 1 and d["seqId"] == last + 2
            assert not ok  # the client missed a change: its book is not the exchange's
        assert (await asyncio.to_thread(fake.truth))["fake_faults"]["counts"]["drop_diff"] >= 1
    run(body())


def test_dropped_update_makes_ccxt_resync(fake: FakeProcess) -> None:
    async def body() -> None:
        ex = exchange(fake, "t-resync")
        try:
            await book_top(ex, SPOT)
            await asyncio.to_thread(fake.fault, kind="drop_diff", market="spot",
                                    sym="BTC-USDT", n=1)
            with pytest.raises(InvalidNonce):
                async with asyncio.timeout(STEP_S):
                    while True:
                        await ex.watch_order_book(SPOT)

            async def resynced() -> bool:
                ob = await asyncio.wait_for(ex.watch_order_book(SPOT), STEP_S)
                truth = await asyncio.to_thread(fake.book, "spot", "BTC-USDT")
                return truth["seq"] == ob["nonce"] and Decimal(truth["bids"][0][0]) == \
                    Decimal(str(ob["bids"][0][0]))
            await until(resynced, "ccxt did not resync after the gap")
        finally:
            await ex.close()
    run(body())


def test_stalled_md_resumes_without_a_gap(fake: FakeProcess) -> None:
    async def body() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(fake.ws + "/ws/v5/public") as ws:
            await ws.send_json({"op": "subscribe",
                                "args": [{"channel": "books", "instId": "BTC-USDT"}]})
            await ws.receive_json(timeout=STEP_S)  # the subscribe event
            last = (await ws.receive_json(timeout=STEP_S))["data"][0]["seqId"]
            await asyncio.to_thread(fake.fault, kind="stall_md", market="spot", ms=600)
            loop = asyncio.get_running_loop()
            t0, gaps = loop.time(), []
            while loop.time() - t0 < 1.0:
                d = (await ws.receive_json(timeout=STEP_S))["data"][0]
                gaps.append(loop.time())
                assert d["prevSeqId"] == last, "a stall must not lose updates"
                last = d["seqId"]
            assert max(b - a for a, b in zip([t0, *gaps], gaps, strict=False)) > 0.4
    run(body())


# --- orders ----------------------------------------------------------------------------------


def test_ioc_fill_on_watch_orders_and_fetch_my_trades(fake: FakeProcess) -> None:
    async def body() -> None:
        ex = exchange(fake, "t-ioc")
        try:
            _, ask = await book_top(ex, SPOT)
            sub = asyncio.ensure_future(ex.watch_orders())
            await private_ready(ex)
            # far through the touch: the book moves (and jumps on dislocations) meanwhile
            o = await ex.create_order(SPOT, "limit", "buy", 0.0003, ask + 200,
                                      {"timeInForce": "IOC", "clientOrderId": "ioc1"})
            assert o["id"].isdigit() and o["clientOrderId"] == "ioc1"
            await asyncio.wait_for(sub, STEP_S)
            done = await order_event(ex, "ioc1", "closed")
            assert done["filled"] == 0.0003 and done["id"] == o["id"]
            trades = await ex.fetch_my_trades(SPOT)
            mine = [t for t in trades if t["order"] == o["id"]]
            assert sum(t["amount"] for t in mine) == pytest.approx(0.0003)
            assert all(t["takerOrMaker"] == "taker" and t["fee"]["cost"] > 0 for t in mine)
            # the orders channel's fill pushes are ccxt's watch_my_trades cache
            assert {t["id"] for t in mine} <= {t["id"] for t in ex.myTrades}
            got = await ex.fetch_order(o["id"], SPOT)
            assert got["status"] == "closed" and got["average"] is not None
        finally:
            await ex.close()
    run(body())


def test_partial_fill_of_an_ioc(fake: FakeProcess) -> None:
    async def body() -> None:
        ex = exchange(fake, "t-partial")
        try:
            ob = await ex.fetch_order_book(SPOT, 400)
            ask = ob["asks"][0][0]
            amount = 0.1  # 1000 lots: more than the whole ask side holds
            assert sum(q for _, q, _ in ob["asks"]) < amount / 2
            o = await ex.create_order(SPOT, "limit", "buy", amount, ask + 500,
                                      {"timeInForce": "IOC", "clientOrderId": "part1"})
            got = await ex.fetch_order(o["id"], SPOT)
            assert got["status"] == "canceled" and got["timeInForce"] == "IOC"
            assert 0 < got["filled"] < amount
        finally:
            await ex.close()
    run(body())


def test_gtc_rests_then_cancel(fake: FakeProcess) -> None:
    async def body() -> None:
        ex = exchange(fake, "t-gtc")
        try:
            bid, _ = await book_top(ex, SPOT)
            o = await ex.create_order(SPOT, "limit", "buy", 0.0002, bid - 50,
                                      {"clientOrderId": "gtc1"})
            opened = await ex.fetch_open_orders(SPOT)
            assert [x["clientOrderId"] for x in opened] == ["gtc1"]
            assert opened[0]["status"] == "open" and opened[0]["price"] == pytest.approx(bid - 50)
            with pytest.raises(InvalidOrder, match="51016"):  # OKX: duplicated clOrdId
                await ex.create_order(SPOT, "limit", "buy", 0.0002, bid - 50,
                                      {"clientOrderId": "gtc1"})
            await ex.cancel_order(o["id"], SPOT)
            got = await ex.fetch_order(None, SPOT, {"clientOrderId": "gtc1"})
            assert got["status"] == "canceled" and got["id"] == o["id"]
            assert await ex.fetch_open_orders(SPOT) == []
            with pytest.raises(OrderNotFound):  # 51401: already canceled
                await ex.cancel_order(o["id"], SPOT)
            with pytest.raises(OrderNotFound):  # 51603
                await ex.fetch_order("1900000000999999999", SPOT)
        finally:
            await ex.close()
    run(body())


def test_rate_limit_is_429_with_retry_after(fake: FakeProcess) -> None:
    async def body() -> None:
        ex = exchange(fake, "t-throttle")
        try:
            bid, _ = await book_top(ex, SPOT)
            with pytest.raises(RateLimitExceeded, match="50011"):
                for i in range(25):  # the fake allows 20 orders per second per key
                    await ex.create_order(SPOT, "limit", "buy", 0.0001, bid - 100,
                                          {"clientOrderId": f"rl{i}"})
            assert ex.last_http_response and '"50011"' in ex.last_http_response
            assert int(ex.last_response_headers["Retry-After"]) >= 1
            await asyncio.to_thread(fake.fault, kind="throttle_orders", account="t-throttle2")
            ex2 = exchange(fake, "t-throttle2")
            try:
                with pytest.raises(RateLimitExceeded):
                    await ex2.create_order(SPOT, "limit", "buy", 0.0001, bid - 100)
            finally:
                await ex2.close()
        finally:
            await ex.close()
    run(body())


@pytest.mark.parametrize("mode", ["error", "hang"])
def test_timed_out_order_executes_and_is_found_by_clordid(fake: FakeProcess, mode: str) -> None:
    async def body() -> None:
        key = f"t-timeout-{mode}"
        ex = exchange(fake, key, timeout_ms=800)
        try:
            _, ask = await book_top(ex, SPOT)
            await asyncio.to_thread(fake.fault, kind="timeout_order", account=key, mode=mode,
                                    hang_ms=2000)
            with pytest.raises(RequestTimeout):
                await ex.create_order(SPOT, "limit", "buy", 0.0002, ask + 200,
                                      {"timeInForce": "IOC", "clientOrderId": "lost1"})
            got = await ex.fetch_order(None, SPOT, {"clientOrderId": "lost1"})
            assert got["status"] == "closed" and got["filled"] == 0.0002
        finally:
            await ex.close()
    run(body())


def test_rejects_and_bad_parameters(fake: FakeProcess) -> None:
    async def body() -> None:
        ex = exchange(fake, "t-reject")
        try:
            bid, _ = await book_top(ex, SPOT)
            await asyncio.to_thread(fake.fault, kind="reject_orders", account="t-reject")
            with pytest.raises(InvalidOrder, match="51137"):
                await ex.create_order(SPOT, "limit", "buy", 0.0001, bid - 100)
            with pytest.raises(InvalidOrder, match="51139"):  # reduce-only on spot
                await ex.create_order(SPOT, "limit", "sell", 0.0001, bid + 100,
                                      {"reduceOnly": True})
            with pytest.raises(InvalidOrder, match="51205"):  # nothing to reduce
                await ex.create_order(SWAP, "limit", "sell", 1, bid + 100, {"reduceOnly": True})
        finally:
            await ex.close()
    run(body())


def test_private_ws_disconnect_then_reconnect(fake: FakeProcess) -> None:
    async def body() -> None:
        key = "t-drop"
        ex = exchange(fake, key)
        try:
            _, ask = await book_top(ex, SPOT)
            pending = asyncio.ensure_future(ex.watch_orders())
            await private_ready(ex)
            await asyncio.to_thread(fake.fault, kind="disconnect_private", account=key)
            with pytest.raises(NetworkError):
                await asyncio.wait_for(pending, STEP_S)
            # an order fills while the stream is down; reconciliation finds it
            gap = await ex.create_order(SPOT, "limit", "buy", 0.0001, ask + 200,
                                        {"timeInForce": "IOC", "clientOrderId": "gap1"})
            trades = await ex.fetch_my_trades(SPOT)
            assert any(t["order"] == gap["id"] for t in trades)
            # the client reconnects and logs in again; new orders stream as before
            sub = asyncio.ensure_future(ex.watch_orders())
            await private_ready(ex)
            await ex.create_order(SPOT, "limit", "buy", 0.0001, ask + 200,
                                  {"timeInForce": "IOC", "clientOrderId": "after1"})
            await asyncio.wait_for(sub, STEP_S)
            assert (await order_event(ex, "after1", "closed"))["filled"] == 0.0001
        finally:
            await ex.close()
    run(body())


def _cash(balance: dict[str, Any]) -> Decimal:
    """USDT ``cashBal`` (without unrealised PnL) of an ``account`` channel push."""
    details = balance["info"]["data"][0]["details"]
    return next(Decimal(d["cashBal"]) for d in details if d["ccy"] == "USDT")


async def _orders_sent(ex: Any) -> bool:
    client = ex.clients.get(ex.urls["api"]["ws"] + "/private")
    return client is not None and "orders" in client.subscriptions


async def private_ready(ex: Any) -> None:
    """Wait until the fake has taken the pending ``watch_orders`` subscription: once ccxt sent
    it, an ``account`` subscription on the same connection is answered (with the balance) only
    after the fake processed it."""
    await until(lambda: _orders_sent(ex), "watch_orders never subscribed")
    await asyncio.wait_for(ex.watch_balance(), STEP_S)


def test_swap_position_and_funding(fake: FakeProcess) -> None:
    async def body() -> None:
        ex = exchange(fake, "t-swap")
        try:
            _, ask = await book_top(ex, SWAP)
            await ex.create_order(SWAP, "limit", "buy", 3, ask + 200, {"timeInForce": "IOC"})
            pos = [p for p in await ex.fetch_positions([SWAP]) if p["contracts"]]
            assert len(pos) == 1 and pos[0]["side"] == "long" and pos[0]["contracts"] == 3
            assert pos[0]["contractSize"] == 0.01

            async def paid() -> list[dict[str, Any]]:
                return await ex.fetch_funding_history(SWAP)
            hist = await until(paid, "no funding payment within 5 s")
            mark = (await ex.fetch_mark_price(SWAP))["markPrice"]
            # the same on the websockets: mark price and funding rate (public), the position
            # and the balance the funding changed (private)
            ws_mark = await asyncio.wait_for(ex.watch_mark_price(SWAP), STEP_S)
            assert abs(ws_mark["markPrice"] - mark) < 100
            fr = await asyncio.wait_for(ex.watch_funding_rate(SWAP), STEP_S)
            assert fr["fundingRate"] == 0.0001 and fr["nextFundingTimestamp"] > ex.milliseconds()
            ws_pos = await asyncio.wait_for(ex.watch_positions([SWAP]), STEP_S)
            assert [p["contracts"] for p in ws_pos if p["side"] == "long"] == [3]
            first = _cash(await asyncio.wait_for(ex.watch_balance(), STEP_S))
            after = _cash(await asyncio.wait_for(ex.watch_balance(), STEP_S))
            # the next push is the next funding payment's (no fill in between)
            hist = await ex.fetch_funding_history(SWAP)
            assert any(float(after - first) == pytest.approx(h["amount"], abs=1e-9) for h in hist)
            # a long pays a positive rate: 3 contracts x 0.01 BTC x mark x 0.0001
            assert hist[0]["code"] == "USDT"
            assert hist[0]["amount"] == pytest.approx(-3 * 0.01 * mark * 0.0001, rel=0.01)
            # a reduce-only sell closes it
            bid, _ = await book_top(ex, SWAP)
            await ex.create_order(SWAP, "limit", "sell", 3, bid - 200,
                                  {"timeInForce": "IOC", "reduceOnly": True})
            assert not [p for p in await ex.fetch_positions([SWAP]) if p["contracts"]]
            truth = await asyncio.to_thread(fake.truth)
            assert any(r["account"] == "t-swap" and r["paid"] < 0 for r in truth["funding"])
        finally:
            await ex.close()
    run(body())


def test_ws_order_ops(fake: FakeProcess) -> None:
    """``create_order_ws`` (op ``batch-orders``) and ``cancel_order_ws`` (op ``cancel-order``)
    on the private websocket."""
    async def body() -> None:
        ex = exchange(fake, "t-wsops")
        try:
            bid, _ = await book_top(ex, SPOT)
            o = await asyncio.wait_for(ex.create_order_ws(
                SPOT, "limit", "buy", 0.0002, bid - 300, {"clientOrderId": "wsgtc1"}), STEP_S)
            assert o["id"].isdigit() and o["clientOrderId"] == "wsgtc1"
            assert [x["id"] for x in await ex.fetch_open_orders(SPOT)] == [o["id"]]
            await asyncio.wait_for(ex.cancel_order_ws(o["id"], SPOT), STEP_S)
            assert (await ex.fetch_order(o["id"], SPOT))["status"] == "canceled"
        finally:
            await ex.close()
    run(body())


def test_delay_fault_slows_rest_answers(fake: FakeProcess) -> None:
    async def body() -> None:
        key = "t-delay"
        ex = exchange(fake, key)
        try:
            await ex.load_markets()
            loop = asyncio.get_running_loop()
            await asyncio.to_thread(fake.fault, kind="delay", account=key, ms=400)
            t0 = loop.time()
            await ex.fetch_balance()
            assert loop.time() - t0 >= 0.4
            await asyncio.to_thread(fake.fault, kind="delay", account=key, ms=0)
            t0 = loop.time()
            await ex.fetch_balance()
            assert loop.time() - t0 < 0.4
        finally:
            await ex.close()
    run(body())


# --- authentication --------------------------------------------------------------------------


def test_bad_signature_is_an_authentication_error(fake: FakeProcess) -> None:
    async def body() -> None:
        ex = exchange(fake, "t-auth", secret="not-the-secret")
        try:
            with pytest.raises(AuthenticationError, match="50113"):
                await ex.fetch_balance()  # (load_markets' signed currencies call fails first)
            ex.set_markets(list((await _markets(fake)).values()))  # to reach the ws login
            with pytest.raises(AuthenticationError, match="60009"):
                await asyncio.wait_for(ex.watch_orders(), STEP_S)
        finally:
            await ex.close()
        good = exchange(fake, "t-auth")
        try:
            bal = await good.fetch_balance()
            assert bal["USDT"]["total"] == 1_000_000.0 and bal["BTC"]["free"] == 10.0
        finally:
            await good.close()
    run(body())


def test_rest_signature_matches_okx_definition(fake: FakeProcess) -> None:
    """A hand-signed request (no ccxt): OKX's prehash, and 50113 with HTTP 401 when the body
    is changed after signing."""
    async def body() -> None:
        key = "t-raw"
        path = "/api/v5/account/balance?ccy=USDT"
        async with aiohttp.ClientSession() as s:
            for tamper in (False, True):
                ts = (await (await s.get(fake.http + "/api/v5/public/time")).json())
                iso = _iso(int(ts["data"][0]["ts"]))
                mac = hmac.new(f"{key}-secret".encode(), (iso + "GET" + path).encode(),
                               hashlib.sha256).digest()
                headers = {"OK-ACCESS-KEY": key, "OK-ACCESS-PASSPHRASE": f"{key}-pass",
                           "OK-ACCESS-TIMESTAMP": iso,
                           "OK-ACCESS-SIGN": base64.b64encode(mac).decode()}
                url = fake.http + (path + "," if tamper else path)
                async with s.get(url, headers=headers) as r:
                    out = json.loads(await r.text())
                    if tamper:
                        assert r.status == 401 and out["code"] == "50113"
                    else:
                        assert r.status == 200 and out["code"] == "0"
                        assert [d["ccy"] for d in out["data"][0]["details"]] == ["USDT"]
    run(body())


async def _markets(fake: FakeProcess) -> dict[str, Any]:
    pub = exchange(fake, "t-auth")
    try:
        return await pub.load_markets()
    finally:
        await pub.close()


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{ms % 1000:03d}Z"


# --- the books stream without sockets ---------------------------------------------------------


def _feed() -> Any:
    from transports.config.engine import ContractConfig
    from transports.venues.fake.okx.book import BookFeed
    from transports.venues.fake.okx.codec import OkxMarket
    from transports.wire.venue_msgs import Snapshot

    c = ContractConfig(venue="okx", sym="BTC-USDT", tick="0.1", multiplier=0.0001, unit="BTC",
                       ccy="USDT")
    snap = Snapshot(sym="BTC-USDT", seq=5, ts=1_000_000_000, b=[(9500, 3), (9499, 2)],
                    a=[(9501, 4)])
    return BookFeed(OkxMarket("spot", "okx", c), snap)


def test_book_feed_duplicate_reorder_gap_and_reset() -> None:
    from transports.wire.venue_msgs import Delta, Snapshot

    feed = _feed()
    snap = feed.snapshot(1_000_000_000)
    assert snap["seqId"] == 5 and snap["prevSeqId"] == -1
    assert snap["bids"] == [["950", "0.0003", "0", "1"], ["949.9", "0.0002", "0", "1"]]
    assert snap["checksum"] == okx_checksum(snap["bids"], snap["asks"])
    # one update: deletes and changes, prevSeqId chains, checksum of the book after it
    kind, up = feed.apply(Delta(sym="BTC-USDT", seq=6, ts=2, b=[(9499, 0)], a=[(9502, 1)]),
                          lambda: None)
    assert kind == "update" and (up["prevSeqId"], up["seqId"]) == (5, 6)
    assert up["bids"] == [["949.9", "0", "0", "0"]]
    assert up["checksum"] == okx_checksum([["950", "0.0003"]],
                                          [["950.1", "0.0004"], ["950.2", "0.0001"]])
    # the simulator's duplicate: the very same message again
    assert feed.apply(Delta(sym="BTC-USDT", seq=6, ts=2, b=[(9499, 0)], a=[(9502, 1)]),
                      lambda: None) == ("update", up)
    # a gap: prevSeqId shows it; the fake's book is the exchange's (the core's snapshot)
    truth = Snapshot(sym="BTC-USDT", seq=8, ts=3, b=[(9500, 1)], a=[(9501, 1)])
    kind, gap = feed.apply(Delta(sym="BTC-USDT", seq=8, ts=3, b=[(9500, 1)]), lambda: truth)
    assert (gap["prevSeqId"], gap["seqId"]) == (7, 8)
    assert gap["checksum"] == okx_checksum([["950", "0.0001"]], [["950.1", "0.0001"]])
    # a late (reordered) update is sent, not applied
    kind, late = feed.apply(Delta(sym="BTC-USDT", seq=7, ts=3, a=[(9600, 5)]), lambda: truth)
    assert late["seqId"] == 7 and 9600 not in feed.asks
    # the simulator restarted its ids: a new snapshot for everyone
    reset = Snapshot(sym="BTC-USDT", seq=1, ts=4, b=[(9400, 1)], a=[(9401, 1)])
    kind, again = feed.apply(Delta(sym="BTC-USDT", seq=1, ts=4, b=[(9400, 1)]), lambda: reset)
    assert kind == "snapshot" and again["seqId"] == 1 and again["bids"][0][0] == "940"


def test_conf_has_the_swap_market(tmp_path: Path) -> None:
    """The test world parses (a guard for the module fixture's config)."""
    from transports.config.engine import load_config

    p = tmp_path / "c.toml"
    p.write_text(CONF)
    cfg = load_config(str(p))
    assert [m.market for m in cfg.fakes[0].markets] == ["spot", "swap"]
