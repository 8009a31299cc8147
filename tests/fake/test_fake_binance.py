"""The Binance fake driven by the REAL ccxt 4.5.90 (``ccxt.pro`` / ``ccxt.async_support``
binance, urls from ``ccxt_urls``) against a real ``cmc fake-exchange binance`` process.

One fake process serves the module; every test trades with its own API key (= simulator
account), so tests do not see each other's orders, balances or rate limits.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxtpro
import pytest
import yarl

from tests.support.fakes import FakeProcess, write_test_conf
from transports.clock import LiveClock
from transports.venues.fake.binance import ccxt_options, ccxt_urls

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"
TEST_TIMEOUT_S = 15.0
T = TypeVar("T")
CLOCK = LiveClock()


def mono_s() -> float:
    return CLOCK.mono_ns() / 1e9


def now_ms() -> int:
    return CLOCK.now_ns() // 1_000_000


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeProcess]:
    conf = write_test_conf(tmp_path_factory.mktemp("fakeb") / "conf.toml", funding_s=1.0,
                           rate_limit=50, btc=0.05)
    with FakeProcess("binance", conf) as f:
        yield f


def run(coro: Awaitable[T]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(TEST_TIMEOUT_S):
            return await coro

    return asyncio.run(bounded())


async def client(fake: FakeProcess, key: str, *, swap: bool = False, secret: str | None = None,
                 rest_only: bool = False, **config: Any) -> Any:
    """A ccxt binance client of account ``key`` pointed at the fake, markets loaded."""
    cls = ccxt_async.binance if rest_only else ccxtpro.binance
    ex = cls({"apiKey": key, "secret": secret or f"{key}-secret", "options": ccxt_options(),
              **config})
    ex.urls["api"] = ccxt_urls(fake.http, fake.ws)
    if swap:
        ex.options["defaultType"] = "swap"
    await ex.load_markets()
    return ex


async def until(check: Callable[[], Awaitable[T | None]], deadline_s: float = 5.0,
                every_s: float = 0.05) -> T:
    """Call ``check`` until it returns something not None (or fail at the deadline)."""
    end = mono_s() + deadline_s
    while True:
        out = await check()
        if out is not None:
            return out
        assert mono_s() < end, "condition not met before the deadline"
        await asyncio.sleep(every_s)


async def watching(ex: Any, url: str, message_hash: str) -> None:
    """Wait until ccxt waits for ``message_hash`` on ``url`` (the watch is registered)."""

    async def registered() -> bool | None:
        return True if message_hash in ex.client(url).futures else None

    await until(registered, 3.0, 0.005)


def user_url(ex: Any, swap: bool) -> str:
    """The url of ccxt's user data stream connection."""
    if swap:
        return ex.get_private_ws_url("linear", ex.options["linear"]["listenKey"])
    return ex.urls["api"]["ws"]["ws-api"]["spot"]


async def taker_price(ex: Any, symbol: str, side: str) -> float:
    """A limit price that crosses the book with room to spare (the book moves every 50 ms)."""
    ob = await ex.fetch_order_book(symbol, 5)
    return ob["asks"][0][0] + 50 if side == "buy" else ob["bids"][0][0] - 50


async def raw(fake: FakeProcess, method: str, path: str, params: dict[str, Any], key: str,
              secret: str | None = None) -> tuple[int, dict[str, str], Any]:
    """A signed request as Binance documents it, without ccxt: (status, headers, json)."""
    q = urlencode({**params, "timestamp": now_ms()})
    sig = hmac.new((secret or f"{key}-secret").encode(), q.encode(), hashlib.sha256).hexdigest()
    url = yarl.URL(f"{fake.http}{path}?{q}&signature={sig}", encoded=True)  # sent as signed
    async with aiohttp.ClientSession() as s, s.request(
            method, url, headers={"X-MBX-APIKEY": key},
            timeout=aiohttp.ClientTimeout(total=5)) as r:
        return r.status, dict(r.headers), await r.json()


# --- markets and market data ----------------------------------------------------------------------


def test_load_markets_shape(fake: FakeProcess) -> None:
    async def go() -> None:
        ex = await client(fake, "t-markets", rest_only=True)
        try:
            spot, perp = ex.market(SPOT), ex.market(PERP)
            assert (spot["id"], spot["type"], spot["active"]) == ("BTCUSDT", "spot", True)
            assert spot["precision"]["price"] == 0.01 and spot["precision"]["amount"] == 0.0001
            assert spot["limits"]["amount"] == {"min": 0.0001, "max": 0.1}
            assert (perp["id"], perp["type"], perp["linear"], perp["settle"]) == (
                "BTCUSDT", "swap", True, "USDT")
            assert perp["precision"]["price"] == 0.1 and perp["precision"]["amount"] == 0.001
            assert abs(await ex.fetch_time() - now_ms()) < 2000
        finally:
            await ex.close()

    run(go())


def test_order_book_resyncs_after_a_dropped_diff(fake: FakeProcess) -> None:
    async def go() -> None:
        ex = await client(fake, "t-book")
        try:
            snap = await ex.fetch_order_book(SPOT)
            assert snap["nonce"] > 0 and snap["bids"][0][0] < snap["asks"][0][0]
            first = await ex.watch_order_book(SPOT)
            fake.fault(kind="drop_diff", market="spot", sym="BTCUSDT", n=1)
            gaps = 0
            end = mono_s() + 6.0
            while True:
                assert mono_s() < end, f"no converged book (gaps seen: {gaps})"
                try:
                    ob = await ex.watch_order_book(SPOT)
                except ccxt.ChecksumError:  # ccxt saw U != last u + 1: it resyncs on re-watch
                    gaps += 1
                    continue
                book = fake.book("spot", "BTCUSDT")
                if gaps and book["seq"] == ob["nonce"] and ob["nonce"] > first["nonce"]:
                    break
            assert gaps == 1
            assert [[float(p), float(q)] for p, q in book["bids"]] == ob["bids"]
            assert [[float(p), float(q)] for p, q in book["asks"]] == ob["asks"]
            assert fake.truth()["fake_faults"]["counts"]["drop_diff"] == 1
        finally:
            await ex.close()

    run(go())


# --- orders ---------------------------------------------------------------------------------------


def test_ioc_fill_in_trades_and_on_the_user_stream(fake: FakeProcess) -> None:
    async def go() -> None:
        ex = await client(fake, "t-ioc")
        try:
            await ex.authenticate({"type": "spot"})
            orders = asyncio.ensure_future(ex.watch_orders())
            trades = asyncio.ensure_future(ex.watch_my_trades())
            await watching(ex, user_url(ex, False), "orders")
            await watching(ex, user_url(ex, False), "myTrades")
            px = await taker_price(ex, SPOT, "buy")
            o = await ex.create_order(SPOT, "limit", "buy", 0.0003, px,
                                      {"timeInForce": "IOC", "clientOrderId": "ioc-1"})
            assert (o["status"], o["filled"], o["clientOrderId"]) == ("closed", 0.0003, "ioc-1")
            assert isinstance(o["info"]["orderId"], int) and o["average"] <= px
            mine = await ex.fetch_my_trades(SPOT)
            assert {t["order"] for t in mine} == {o["id"]}
            assert sum(t["amount"] for t in mine) == pytest.approx(0.0003)
            ws_orders, ws_trades = await asyncio.gather(orders, trades)
            while ws_orders[-1]["status"] != "closed":  # NEW first, then the TRADE
                ws_orders = await ex.watch_orders()
            assert ws_orders[-1]["id"] == o["id"]
            assert {t["id"] for t in ws_trades} <= {t["id"] for t in mine}
            assert ws_trades[0]["order"] == o["id"]
            bal = await ex.fetch_balance()
            assert bal["BTC"]["total"] == pytest.approx(0.05 + 0.0003)
        finally:
            await ex.close()

    run(go())


def test_partial_fill_expires_the_rest(fake: FakeProcess) -> None:
    async def go() -> None:
        ex = await client(fake, "t-partial")
        try:
            async def partial() -> Any:
                ob = await ex.fetch_order_book(SPOT, 5)  # more than the 10 levels hold
                o = await ex.create_order(SPOT, "limit", "buy", 0.1, ob["asks"][0][0],
                                          {"timeInForce": "IOC"})
                return o if o["filled"] > 0 else None

            o = await until(partial)
            assert 0 < o["filled"] < 0.1 and o["status"] == "expired"
            assert o["info"]["status"] == "EXPIRED"
            again = await ex.fetch_order(o["id"], SPOT)
            assert (again["status"], again["filled"]) == ("expired", o["filled"])
        finally:
            await ex.close()

    run(go())


def test_gtc_rests_then_cancel(fake: FakeProcess) -> None:
    async def go() -> None:
        ex = await client(fake, "t-gtc")
        try:
            px = (await ex.fetch_order_book(SPOT, 5))["bids"][0][0] - 500
            o = await ex.create_order(SPOT, "limit", "buy", 0.0002, px, {"clientOrderId": "g-1"})
            assert o["status"] == "open" and o["filled"] == 0
            assert [x["clientOrderId"] for x in await ex.fetch_open_orders(SPOT)] == ["g-1"]
            assert (await ex.fetch_balance())["USDT"]["used"] == pytest.approx(px * 0.0002)
            c = await ex.cancel_order(o["id"], SPOT)
            assert c["status"] == "canceled"
            assert await ex.fetch_open_orders(SPOT) == []
            by_cl = await ex.fetch_order(None, SPOT, {"clientOrderId": "g-1"})
            assert by_cl["id"] == o["id"] and by_cl["status"] == "canceled"
            with pytest.raises(ccxt.OrderNotFound, match="-2011"):
                await ex.cancel_order(o["id"], SPOT)
            with pytest.raises(ccxt.OrderNotFound, match="-2013"):
                await ex.fetch_order("987654", SPOT)
        finally:
            await ex.close()

    run(go())


def test_duplicate_client_id_is_rejected(fake: FakeProcess) -> None:
    async def go() -> None:
        ex = await client(fake, "t-dup")
        try:
            px = (await ex.fetch_order_book(SPOT, 5))["bids"][0][0] - 500
            await ex.create_order(SPOT, "limit", "buy", 0.0002, px, {"clientOrderId": "dup-1"})
            with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
                await ex.create_order(SPOT, "limit", "buy", 0.0002, px,
                                      {"clientOrderId": "dup-1"})
            assert len(await ex.fetch_open_orders(SPOT)) == 1
        finally:
            await ex.close()
        truth = fake.truth()
        assert truth["counts"]["duplicate_client_ids"] >= 1
        assert [o["cl"] for o in truth["orders"] if o["account"] == "t-dup"] == ["dup-1", "dup-1"]

    run(go())


def test_rate_limit_answers_429_with_retry_after(fake: FakeProcess) -> None:
    async def go() -> None:
        ex = await client(fake, "t-429", enableRateLimit=False)
        try:
            px = (await ex.fetch_order_book(SPOT, 5))["bids"][0][0] - 500
            burst = [ex.create_order(SPOT, "limit", "buy", 0.0001, px, {"timeInForce": "IOC"})
                     for _ in range(60)]  # the test conf allows 50 orders/s
            results = await asyncio.gather(*burst, return_exceptions=True)
            limited = [r for r in results if isinstance(r, Exception)]
            assert limited and all(isinstance(e, ccxt.DDoSProtection) for e in limited)
            assert "-1003" in str(limited[0])
        finally:
            await ex.close()
        fake.fault(kind="throttle_orders", account="t-429b", n=1)
        status, headers, body = await raw(fake, "POST", "/api/v3/order", {
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "IOC",
            "quantity": "0.0001", "price": "1000.00"}, "t-429b")
        assert (status, body["code"], headers.get("Retry-After")) == (429, -1003, "1")

    run(go())


@pytest.mark.parametrize("mode", ["error", "hang"])
def test_timed_out_order_still_executed(fake: FakeProcess, mode: str) -> None:
    async def go() -> None:
        key = f"t-timeout-{mode}"
        ex = await client(fake, key, timeout=800)  # ccxt's own HTTP timeout, ms
        try:
            fake.fault(kind="timeout_order", account=key, n=1, mode=mode, hang_ms=1500)
            px = await taker_price(ex, SPOT, "buy")
            # "error": Binance's -1007; "hang": no answer before ccxt gives up
            with pytest.raises(ccxt.RequestTimeout, match="-1007" if mode == "error" else None):
                await ex.create_order(SPOT, "limit", "buy", 0.0002, px,
                                      {"timeInForce": "IOC", "clientOrderId": "lost-1"})
            found = await ex.fetch_order(None, SPOT, {"clientOrderId": "lost-1"})
            assert (found["status"], found["filled"]) == ("closed", 0.0002)
            assert [t["order"] for t in await ex.fetch_my_trades(SPOT)] == [found["id"]]
        finally:
            await ex.close()

    run(go())


def test_clock_skew_rejected_until_resynced(fake: FakeProcess) -> None:
    async def go() -> None:
        ex = await client(fake, "t-skew")
        try:
            px = (await ex.fetch_order_book(SPOT, 5))["bids"][0][0] - 500
            fake.fault(kind="clock_offset", ms=60_000)  # the exchange runs a minute ahead
            with pytest.raises(ccxt.InvalidNonce, match="-1021"):
                await ex.create_order(SPOT, "limit", "buy", 0.0002, px)
            assert await ex.load_time_difference() < -55_000
            o = await ex.create_order(SPOT, "limit", "buy", 0.0002, px)
            assert o["status"] == "open"
        finally:
            fake.fault(kind="clock_offset", ms=0)
            await ex.close()
        assert len([o for o in fake.truth()["orders"] if o["account"] == "t-skew"]) == 1

    run(go())


@pytest.mark.parametrize("swap", [False, True], ids=["spot-ws-api", "futures-listen-key"])
def test_private_stream_drop_and_reconnect(fake: FakeProcess, swap: bool) -> None:
    async def go() -> None:
        key = f"t-drop-{int(swap)}"
        sym, amount = (PERP, 0.002) if swap else (SPOT, 0.0002)
        ex = await client(fake, key, swap=swap)
        try:
            await ex.authenticate({"type": "linear" if swap else "spot"})
            pending = asyncio.ensure_future(ex.watch_orders())
            await watching(ex, user_url(ex, swap), "orders")
            fake.fault(kind="disconnect_private", account=key)
            with pytest.raises(ccxt.NetworkError):
                await pending
            # a fill while the stream is down is found over REST
            gap = await ex.create_order(sym, "limit", "buy", amount,
                                        await taker_price(ex, sym, "buy"), {"timeInForce": "IOC"})
            assert gap["id"] in {t["order"] for t in await ex.fetch_my_trades(sym)}
            await ex.authenticate({"type": "linear" if swap else "spot"})
            again = asyncio.ensure_future(ex.watch_orders())
            await watching(ex, user_url(ex, swap), "orders")
            after = await ex.create_order(sym, "limit", "buy", amount,
                                          await taker_price(ex, sym, "buy"),
                                          {"timeInForce": "IOC"})
            seen = await again  # the order's first event; then until it is closed
            while not any(x["id"] == after["id"] and x["status"] == "closed" for x in seen):
                seen = await ex.watch_orders()
            assert seen[-1]["id"] == after["id"]
        finally:
            await ex.close()
        assert fake.truth()["fake_faults"]["counts"]["disconnect_private"] >= 1

    run(go())


async def funding_event(fake: FakeProcess, key: str, ready: asyncio.Event) -> dict[str, Any]:
    """The first ``ACCOUNT_UPDATE`` of reason ``FUNDING_FEE`` on ``key``'s listen-key stream."""
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{fake.http}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": key},
                          timeout=aiohttp.ClientTimeout(total=5)) as r:
            listen_key = (await r.json())["listenKey"]
        async with s.ws_connect(f"{fake.ws}/fstream/private/ws?listenKey={listen_key}") as ws:
            ready.set()
            while True:
                ev = json.loads((await ws.receive(timeout=5)).data)
                if ev["e"] == "ACCOUNT_UPDATE" and ev["a"]["m"] == "FUNDING_FEE":
                    return ev


def test_funding_paid_on_the_perp_position(fake: FakeProcess) -> None:
    async def go() -> None:
        key = "t-funding"
        # ccxt's own limiter would wait ~1.5 s after each income call (its weight is 30)
        ex = await client(fake, key, swap=True, enableRateLimit=False)
        ready = asyncio.Event()
        pushed = asyncio.ensure_future(funding_event(fake, key, ready))
        try:
            await ready.wait()
            o = await ex.create_order(PERP, "limit", "buy", 0.005,
                                      await taker_price(ex, PERP, "buy"), {"timeInForce": "IOC"})
            assert o["filled"] == 0.005
            pos = await ex.fetch_positions([PERP])
            assert [(p["symbol"], p["contracts"], p["side"]) for p in pos] == [
                (PERP, 0.005, "long")]
            assert pos[0]["entryPrice"] == pytest.approx(o["average"])
            # settles every second in the test conf; the mark price streams every second
            event, mark = await asyncio.gather(pushed, ex.watch_mark_price(PERP))
            hist = await ex.fetch_funding_history(PERP)
            rate = await ex.fetch_funding_rate(PERP)
            assert rate["fundingRate"] == 0.0001 and rate["markPrice"] > 0
            assert mark["markPrice"] > 0
        finally:
            pushed.cancel()
            await ex.close()
        truth = [r for r in fake.truth()["funding"] if r["account"] == key]
        first = truth[0]
        assert first["lots"] == 5 and first["paid"] < 0  # a long pays a positive rate
        assert first["paid"] == pytest.approx(-0.005 * float(first["mark"]) * 0.0001)
        assert [h["amount"] for h in hist] == pytest.approx([r["paid"] for r in truth][:len(hist)])
        assert hist[0]["code"] == "USDT"
        assert float(event["a"]["B"][0]["bc"]) == pytest.approx(first["paid"])
        assert event["a"]["P"][0]["pa"] == "0.005"

    run(go())


def test_reject_delay_and_stall_switches(fake: FakeProcess) -> None:
    async def go() -> None:
        ex = await client(fake, "t-switches")
        try:
            fake.fault(kind="reject_orders", account="t-switches", n=1)
            px = (await ex.fetch_order_book(SPOT, 5))["bids"][0][0] - 500
            with pytest.raises(ccxt.InvalidOrder, match="-2010"):
                await ex.create_order(SPOT, "limit", "buy", 0.0002, px)
            assert (await ex.create_order(SPOT, "limit", "buy", 0.0002, px))["status"] == "open"
            fake.fault(kind="delay", account="t-switches", ms=400)
            t0 = mono_s()
            await ex.fetch_balance()
            assert mono_s() - t0 >= 0.4
            fake.fault(kind="delay", account="t-switches", ms=0)
            await ex.watch_order_book(SPOT)
            fake.fault(kind="stall_md", market="spot", ms=600)
            stamps = [mono_s()]
            while mono_s() < stamps[0] + 1.5:  # a ChecksumError would fail the test: no gap
                await ex.watch_order_book(SPOT)
                stamps.append(mono_s())
            assert max(b - a for a, b in itertools.pairwise(stamps)) >= 0.4
        finally:
            await ex.close()
        faults = [o.get("fault") for o in fake.truth()["orders"] if o["account"] == "t-switches"]
        assert faults == ["fake_reject", None]

    run(go())


# --- refusals -----------------------------------------------------------------------------------


def test_bad_signature_rejected(fake: FakeProcess) -> None:
    async def go() -> None:
        ex = await client(fake, "t-sig", secret="not-the-secret")
        try:
            with pytest.raises(ccxt.AuthenticationError, match="-1022"):
                await ex.fetch_balance()
        finally:
            await ex.close()
        params = {"apiKey": "t-sig", "timestamp": now_ms()}
        signed = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{fake.ws}/ws-api/v3") as ws:
            for secret, want in (("nope", -1022), ("t-sig-secret", None)):
                sig = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
                await ws.send_str(json.dumps({"id": "1", "method": "userDataStream.subscribe."
                                              "signature", "params": {**params,
                                                                      "signature": sig}}))
                reply = json.loads((await ws.receive(timeout=5)).data)
                if want is None:
                    assert reply["status"] == 200 and "subscriptionId" in reply["result"]
                else:
                    assert reply["status"] == 400 and reply["error"]["code"] == want
        async with aiohttp.ClientSession() as s, s.get(
                f"{fake.http}/fstream/private/ws?listenKey=bogus",
                timeout=aiohttp.ClientTimeout(total=5)) as r:
            assert r.status == 400 and (await r.json())["code"] == -1125

    run(go())


def test_filters_and_funds_refused_as_binance_does(fake: FakeProcess) -> None:
    async def go() -> None:
        order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
        cases = [
            ({"quantity": "0.0001", "price": "1000.005"}, 400, -1013, "PRICE_FILTER"),
            ({"quantity": "0.00015", "price": "1000.00"}, 400, -1013, "LOT_SIZE"),
            ({"quantity": "0.0001", "price": "1000.00", "newClientOrderId": "bad id!"}, 400,
             -1100, "newClientOrderId"),
            ({"quantity": "0.06", "price": "1000.00", "side": "SELL"}, 400, -2010,
             "insufficient balance"),
            ({"quantity": "0.0001", "price": "1000.00", "symbol": "ETHUSDT"}, 400, -1121,
             "Invalid symbol"),
        ]
        for extra, status, code, text in cases:
            got = await raw(fake, "POST", "/api/v3/order", {**order, **extra}, "t-filters")
            assert (got[0], got[2]["code"]) == (status, code), (extra, got)
            assert text in got[2]["msg"]
        got = await raw(fake, "POST", "/fapi/v1/order", {
            "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.001", "price": "1000.0", "reduceOnly": "true"}, "t-filters")
        assert (got[0], got[2]["code"]) == (400, -2022)  # nothing to reduce

    run(go())


def test_truth_written_on_sigterm(tmp_path: Path) -> None:
    conf = write_test_conf(tmp_path / "conf.toml")

    async def trade(f: FakeProcess) -> str:
        ex = await client(f, "t-truth")
        try:
            o = await ex.create_order(SPOT, "limit", "buy", 0.0002,
                                      await taker_price(ex, SPOT, "buy"), {"timeInForce": "IOC"})
            return o["clientOrderId"]
        finally:
            await ex.close()

    with FakeProcess("binance", conf, truth_out=tmp_path / "truth.json") as f:
        cl = run(trade(f))
    truth = f.final_truth
    assert truth is not None
    assert {"orders", "fills", "counts", "positions", "funding", "fake_faults"} <= set(truth)
    assert [(o["venue"], o["account"], o["cl"]) for o in truth["orders"]] == [
        ("binance", "t-truth", cl)]
    assert truth["positions"] == {"t-truth": {"BTCUSDT": 2}}
    assert truth["meta"]["venues"] == ["binance", "binance-usdm"]
