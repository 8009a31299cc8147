"""Binance fake, REST: the spot ``/api/v3`` and futures ``/fapi/v1|v2|v3`` endpoints ccxt 4.5.90
calls (see ``binance`` for the conventions). Order endpoints go through ``FakeCore.request``
(latency, simulator faults, the truth's record); documents come from the core's state.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from transports.venues.fake.binance import docs
from transports.venues.fake.binance.fake import (
    UNKNOWN_OUTCOME,
    BinanceError,
    BinanceFake,
    from_fake,
    parse_form,
    throttled,
)
from transports.venues.fake.core import FakeError, Throttled
from transports.wire.venue_msgs import (
    CancelReject,
    CancelReq,
    Done,
    Fill,
    NewOrder,
    OpenOrders,
    OpenOrdersReq,
    OrderStatus,
    Positions,
    PositionsReq,
    QueryReq,
    Reject,
    Trades,
    TradesReq,
)

REQUEST_TIMEOUT_S = 3.0  #: no answer from the simulator by then: -1007 (outcome unknown)
CL_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")  #: Binance's newClientOrderId alphabet
_SIDES = {"BUY": "B", "SELL": "S"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Ctx:
    """One parsed request: market, venue, parameters, account (signed requests)."""

    def __init__(self, bf: BinanceFake, market: str, params: dict[str, str], account: str,
                 venue: str) -> None:
        self.bf, self.core, self.market = bf, bf.core, market
        self.venue = venue
        self.params, self.account = params, account

    def sym(self) -> str:
        sym = self.params.get("symbol", "")
        try:
            self.core.contract(self.venue, sym)
        except FakeError as exc:
            raise from_fake(exc, self.market) from None
        return sym


def _endpoint(bf: BinanceFake, market: str, fn: Callable[[Ctx], Awaitable[Any]], *,
              signed: bool = False, key_only: bool = False, anywhere: bool = False) -> Handler:
    """A handler around ``fn``: parameters, signature, errors as Binance writes them, the
    ``delay`` fault. ``anywhere``: answers even when the fake serves no such market."""

    async def handler(request: web.Request) -> web.StreamResponse:
        key = request.headers.get("X-MBX-APIKEY", "")
        try:
            venue = "" if anywhere and market not in bf.markets else bf.venue(market)
            query = request.raw_path.partition("?")[2]  # as sent: the signature covers it
            body = await request.text() if request.can_read_body else ""
            pairs = parse_form(query) + parse_form(body)
            account = ""
            if signed:
                account = bf.check_signed(key, pairs, "&".join(p for p in (query, body) if p))
            elif key_only:
                if not key:
                    raise BinanceError(401, -2014, "API-key format invalid.")
                account = key
            out = await fn(Ctx(bf, market, dict(pairs), account, venue))
            resp = web.json_response(out)
        except BinanceError as exc:
            resp = exc.response()
        except FakeError as exc:
            resp = from_fake(exc, market).response()
        delay = bf.core.faults.delay_s(key)
        if delay:
            await asyncio.sleep(delay)
        return resp

    return handler


# --- public ---------------------------------------------------------------------------------------


async def _time(c: Ctx) -> dict[str, Any]:
    return {"serverTime": c.core.server_ns() // 1_000_000}


async def _ping(c: Ctx) -> dict[str, Any]:
    return {}


async def _exchange_info(c: Ctx) -> dict[str, Any]:
    return docs.exchange_info(c.bf, c.market)


async def _depth(c: Ctx) -> dict[str, Any]:
    sym = c.sym()
    snap = c.core.snapshot(c.venue, sym)
    if snap is None:
        raise BinanceError(503, -1001, "Internal error; unable to process your request. "
                           "Please try again.")
    limit = int(c.params.get("limit", "100") or 100)
    out: dict[str, Any] = {
        "lastUpdateId": c.bf.update_id(c.venue, sym, snap.seq, observe=False),
        "bids": [[c.bf.px(c.venue, sym, p), c.bf.qty(c.venue, sym, q)] for p, q in snap.b[:limit]],
        "asks": [[c.bf.px(c.venue, sym, p), c.bf.qty(c.venue, sym, q)] for p, q in snap.a[:limit]],
    }
    if c.market == "swap":
        now_ms = c.core.server_ns() // 1_000_000
        out = {"lastUpdateId": out["lastUpdateId"], "E": now_ms, "T": now_ms, **out}
    return out


async def _premium_index(c: Ctx) -> Any:
    if c.params.get("symbol"):
        return docs.premium_index(c.bf, c.venue, c.sym())
    return [docs.premium_index(c.bf, c.venue, k.sym) for k in c.core.contracts(c.venue)]


async def _funding_info(c: Ctx) -> Any:
    hours = c.core.fake.funding_interval_s / 3600.0
    return [{"symbol": k.sym, "adjustedFundingRateCap": "0.02", "adjustedFundingRateFloor": "-0.02",
             "fundingIntervalHours": hours, "disclaimer": False} for k in c.core.contracts(c.venue)]


# --- orders ---------------------------------------------------------------------------------------


def _reject(c: Ctx, rep: Reject) -> BinanceError:
    if rep.code == "duplicate_cl":
        if c.market == "swap":
            return BinanceError(400, -4116, "ClientOrderId is duplicated.")
        return BinanceError(400, -2010, "Duplicate order sent.")
    if rep.code == "throttled":
        return throttled(-(-max(rep.retry_ms, 1) // 1000))
    if rep.code == "session_closed":
        return BinanceError(400, -1013, "Market is closed.")
    if rep.code in ("bad_qty", "qty_above_max"):
        return BinanceError(400, -1013, "Filter failure: LOT_SIZE")
    if rep.code == "bad_price":
        return BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
    if rep.code == "unknown_symbol":
        return BinanceError(400, -1121, "Invalid symbol.")
    return BinanceError(400, -2010, "New order rejected.")


async def _new_order(c: Ctx) -> dict[str, Any]:
    p = c.params
    sym = c.sym()
    side = _SIDES.get(p.get("side", ""))
    if side is None:
        raise BinanceError(400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, "
                           "or malformed.")
    if p.get("type") != "LIMIT":
        raise BinanceError(400, -1116, "Invalid orderType.")
    tif = p.get("timeInForce", "")
    if tif not in ("GTC", "IOC", "FOK"):
        raise BinanceError(400, -1115, "Invalid timeInForce.")
    cl = p.get("newClientOrderId") or f"fake-{secrets.token_hex(8)}"
    if not CL_RE.match(cl):
        raise BinanceError(400, -1100, "Illegal characters found in parameter "
                           "'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
    reduce_only = p.get("reduceOnly", "false").lower() == "true"
    if reduce_only and c.market != "swap":
        raise BinanceError(400, -1106, "Parameter 'reduceOnly' sent when not required.")
    px = c.core.to_ticks(c.venue, sym, p.get("price", ""))
    lots = c.core.to_lots(c.venue, sym, p.get("quantity", ""))
    c.core.check_funds(c.venue, c.account, sym, side, px, lots, reduce_only)
    req = NewOrder(cl=cl, sym=sym, side=side, px=px, qty=lots, tif=tif,  # type: ignore[arg-type]
                   ts=c.core.now_ns(), reduce_only=reduce_only)
    try:
        replies = await c.core.request(c.venue, c.account, req, REQUEST_TIMEOUT_S)
    except Throttled as exc:
        raise throttled(exc.retry_after_s) from None
    rej = next((m for m in replies if isinstance(m, Reject)), None)
    if rej is not None:
        raise _reject(c, rej)
    # the ``timeout_order`` fault: the order executed, the answer is "status unknown"
    hit = c.core.faults.take_timeout(c.account, c.core.now_ns(), cl)
    if hit is not None or not replies:
        if hit is not None and hit[0] == "hang":
            await asyncio.sleep(hit[1] / 1000.0)
        raise BinanceError(*UNKNOWN_OUTCOME)
    o = c.core.order(c.venue, c.account, cl)
    assert o is not None
    if reduce_only:
        c.bf.reduce_only.add((c.venue, c.account, cl))
    fills = [m for m in replies if isinstance(m, Fill)]
    done = next((m for m in replies if isinstance(m, Done)), None)
    cum = sum(f.qty for f in fills)
    state = done.state if done is not None else ("partial" if cum else "new")
    return docs.order(c.bf, c.venue, o, state=state, cum=cum, fills=fills, resp=True)


def _find(c: Ctx) -> tuple[str, Any]:
    """The order a cancel or query names (``origClientOrderId`` or ``orderId``): (cl, order)."""
    cl, oid = c.params.get("origClientOrderId"), c.params.get("orderId")
    if cl:
        o = c.core.order(c.venue, c.account, cl)
    elif oid:
        o = c.core.order_by_oid(c.venue, c.account, oid) if oid.isdigit() else None
        cl = o.cl if o is not None else ""
    else:
        raise BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but "
                           "both were empty/null!")
    return cl, o


async def _cancel(c: Ctx) -> dict[str, Any]:
    sym = c.sym()
    cl, o = _find(c)
    if o is None or o.sym != sym or not o.oid:
        raise BinanceError(400, -2011, "Unknown order sent.")
    replies = await c.core.request(c.venue, c.account, CancelReq(cl=cl, ts=c.core.now_ns()),
                                   REQUEST_TIMEOUT_S)
    if not replies:
        raise BinanceError(*UNKNOWN_OUTCOME)
    if any(isinstance(m, CancelReject) for m in replies):
        raise BinanceError(400, -2011, "Unknown order sent.")
    return docs.order(c.bf, c.venue, o)


async def _query(c: Ctx) -> dict[str, Any]:
    sym = c.sym()
    cl, o = _find(c)
    if o is None or o.sym != sym or not o.oid:
        raise BinanceError(400, -2013, "Order does not exist.")
    replies = await c.core.request(c.venue, c.account, QueryReq(cl=cl), REQUEST_TIMEOUT_S)
    st = next((m for m in replies if isinstance(m, OrderStatus)), None)
    if st is None:
        raise BinanceError(*UNKNOWN_OUTCOME)
    if st.state in ("unknown", "rejected"):
        raise BinanceError(400, -2013, "Order does not exist.")
    return docs.order(c.bf, c.venue, o)


async def _open_orders(c: Ctx) -> list[dict[str, Any]]:
    sym = c.sym() if c.params.get("symbol") else None
    replies = await c.core.request(c.venue, c.account, OpenOrdersReq(), REQUEST_TIMEOUT_S)
    lst = next((m for m in replies if isinstance(m, OpenOrders)), None)
    if lst is None:
        raise BinanceError(*UNKNOWN_OUTCOME)
    out = []
    for rec in lst.list:
        o = c.core.order(c.venue, c.account, rec.cl)
        if o is not None and (sym is None or o.sym == sym):
            out.append(docs.order(c.bf, c.venue, o))
    return out


async def _my_trades(c: Ctx) -> list[dict[str, Any]]:
    sym = c.sym()
    p = c.params
    since_ms = int(p.get("startTime", "0") or 0)
    replies = await c.core.request(c.venue, c.account, TradesReq(since=since_ms * 1_000_000),
                                   REQUEST_TIMEOUT_S)
    lst = next((m for m in replies if isinstance(m, Trades)), None)
    if lst is None:
        raise BinanceError(*UNKNOWN_OUTCOME)
    recs = [f for f in lst.list if f.sym == sym]
    if p.get("endTime"):
        recs = [f for f in recs if f.ts // 1_000_000 <= int(p["endTime"])]
    if p.get("orderId"):
        recs = [f for f in recs if str(docs.oid(f.oid)) == p["orderId"]]
    if p.get("fromId"):
        recs = [f for f in recs if docs.oid(f.tid) >= int(p["fromId"])]
    limit = min(int(p.get("limit", "500") or 500), 1000)
    return [docs.trade(c.bf, c.venue, f) for f in recs[-limit:]]


# --- accounts -------------------------------------------------------------------------------------


async def _account(c: Ctx) -> dict[str, Any]:
    return docs.spot_account(c.bf, c.venue, c.account)


async def _fut_account(c: Ctx) -> dict[str, Any]:
    return docs.futures_account(c.bf, c.venue, c.account)


async def _fut_balance(c: Ctx) -> list[dict[str, Any]]:
    return docs.futures_account(c.bf, c.venue, c.account)["assets"]


async def _position_risk(c: Ctx) -> list[dict[str, Any]]:
    replies = await c.core.request(c.venue, c.account, PositionsReq(), REQUEST_TIMEOUT_S)
    lst = next((m for m in replies if isinstance(m, Positions)), None)
    if lst is None:
        raise BinanceError(*UNKNOWN_OUTCOME)
    want = c.params.get("symbol")
    return [docs.position(c.bf, c.venue, c.account, r.sym) for r in lst.list
            if r.qty != 0 and (not want or r.sym == want)]


async def _leverage_bracket(c: Ctx) -> list[dict[str, Any]]:
    return [{"symbol": k.sym, "notionalCoef": 1.0, "brackets": [
        {"bracket": 1, "initialLeverage": max(1, round(1 / k.margin_rate)) if k.margin_rate else 20,
         "notionalCap": 1_000_000_000, "notionalFloor": 0, "maintMarginRatio": 0.004, "cum": 0.0}]}
        for k in c.core.contracts(c.venue)]


async def _income(c: Ctx) -> list[dict[str, Any]]:
    p = c.params
    kind = p.get("incomeType", "")
    if kind not in ("", "FUNDING_FEE"):
        return []
    start = int(p.get("startTime", "0") or 0)
    recs = [r for r in c.core.ledger.funding
            if r["venue"] == c.venue and r["account"] == c.account
            and (not p.get("symbol") or r["sym"] == p["symbol"]) and r["ts"] // 1_000_000 >= start]
    limit = min(int(p.get("limit", "100") or 100), 1000)
    return [docs.income(r, i) for i, r in enumerate(recs, 1)][-limit:]


async def _listen_key_new(c: Ctx) -> dict[str, Any]:
    return {"listenKey": c.bf.new_listen_key(c.venue, c.account)}


async def _listen_key_keep(c: Ctx) -> dict[str, Any]:
    key = c.bf.new_listen_key(c.venue, c.account)
    return {"listenKey": key} if c.market == "swap" else {}


async def _listen_key_close(c: Ctx) -> dict[str, Any]:
    for k, v in list(c.bf.listen_keys.items()):
        if v == (c.venue, c.account):
            del c.bf.listen_keys[k]
    return {}


def add_routes(app: web.Application, bf: BinanceFake) -> None:
    """The REST routes of the markets ``bf`` serves."""
    r = app.router

    def add(method: str, path: str, market: str, fn: Callable[[Ctx], Awaitable[Any]],
            **kw: bool) -> None:
        r.add_route(method, path, _endpoint(bf, market, fn, **kw))

    for base, market in (("/api/v3", "spot"), ("/fapi/v1", "swap")):
        add("GET", f"{base}/time", market, _time, anywhere=True)
        add("GET", f"{base}/ping", market, _ping, anywhere=True)
        add("GET", f"{base}/exchangeInfo", market, _exchange_info, anywhere=True)
        add("GET", f"{base}/depth", market, _depth)
        add("POST", f"{base}/order", market, _new_order, signed=True)
        add("DELETE", f"{base}/order", market, _cancel, signed=True)
        add("GET", f"{base}/order", market, _query, signed=True)
        add("GET", f"{base}/openOrders", market, _open_orders, signed=True)
    add("GET", "/api/v3/myTrades", "spot", _my_trades, signed=True)
    add("GET", "/api/v3/account", "spot", _account, signed=True)
    add("POST", "/api/v3/userDataStream", "spot", _listen_key_new, key_only=True)
    add("PUT", "/api/v3/userDataStream", "spot", _listen_key_keep, key_only=True)
    add("DELETE", "/api/v3/userDataStream", "spot", _listen_key_close, key_only=True)
    add("GET", "/fapi/v1/userTrades", "swap", _my_trades, signed=True)
    add("GET", "/fapi/v1/premiumIndex", "swap", _premium_index)
    add("GET", "/fapi/v1/fundingInfo", "swap", _funding_info)
    add("GET", "/fapi/v1/income", "swap", _income, signed=True)
    add("GET", "/fapi/v1/leverageBracket", "swap", _leverage_bracket, signed=True)
    add("POST", "/fapi/v1/listenKey", "swap", _listen_key_new, key_only=True)
    add("PUT", "/fapi/v1/listenKey", "swap", _listen_key_keep, key_only=True)
    add("DELETE", "/fapi/v1/listenKey", "swap", _listen_key_close, key_only=True)
    for v in ("v2", "v3"):
        add("GET", f"/fapi/{v}/account", "swap", _fut_account, signed=True)
        add("GET", f"/fapi/{v}/balance", "swap", _fut_balance, signed=True)
        add("GET", f"/fapi/{v}/positionRisk", "swap", _position_risk, signed=True)


__all__ = ["add_routes"]
