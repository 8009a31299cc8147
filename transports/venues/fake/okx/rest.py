"""The OKX fake's REST API (``/api/v5/...``): public market data and signed account and trade
endpoints (see ``okx`` for the list, the signature rules and the quirks).

Every answer is ``{"code", "msg", "data"}``; errors travel in HTTP 200 with ``code`` != "0"
except the ones OKX sends with another status (401 for authentication, 429 for the rate limit
with ``Retry-After``). The account reads that reconcile an engine (open orders, fills,
positions) go through the simulator as protocol requests, so its truth records them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from transports.venues.fake.okx import trade
from transports.venues.fake.okx.codec import (
    OkxError,
    OkxMarket,
    bill_id,
    dec_str,
    fill_json,
    ms,
    ms_str,
    order_json,
    passphrase_for,
    sign_ok,
)
from transports.wire.venue_msgs import (
    OpenOrders,
    OpenOrdersReq,
    Positions,
    PositionsReq,
    Trades,
    TradesReq,
)

if TYPE_CHECKING:
    from transports.venues.fake.okx.fake import OkxFake

TS_WINDOW_MS = 30_000  #: OKX refuses a request timestamp further than this from its clock
MAX_LIMIT = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def ok(data: Any, code: str = "0", msg: str = "") -> web.Response:
    """An OKX answer (HTTP 200)."""
    return web.json_response({"code": code, "msg": msg, "data": data})


def error(e: OkxError) -> web.Response:
    """An OKX error answer with its HTTP status (and ``Retry-After`` on a 429)."""
    headers = {"Retry-After": str(e.retry_after_s)} if e.retry_after_s else None
    return web.json_response({"code": e.code, "msg": e.msg, "data": []}, status=e.status,
                             headers=headers)


def _iso_ms(ts: str) -> int:
    try:
        dt = datetime.fromisoformat(ts)
    except ValueError:
        raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP", 401) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def _limit(q: Any) -> int:
    try:
        n = int(q.get("limit", MAX_LIMIT))
    except ValueError:
        raise OkxError("51000", "Parameter limit error") from None
    return max(1, min(MAX_LIMIT, n))


class _Rest:
    def __init__(self, fake: OkxFake) -> None:
        self.fake, self.core = fake, fake.core

    # --- plumbing -------------------------------------------------------------------------------

    def public(self, fn: Callable[[web.Request], Any]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                data = fn(request)
                resp = ok(data)
            except OkxError as e:
                resp = error(e)
            delay = self.core.faults.delay_s("")
            if delay:
                await asyncio.sleep(delay)
            return resp
        return handle

    def private(self, fn: Callable[[str, web.Request, str], Awaitable[web.Response]]
                ) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            account = ""
            try:
                account, body = await self.auth(request)
                resp = await fn(account, request, body)
            except OkxError as e:
                resp = error(e)
            delay = self.core.faults.delay_s(account)
            if delay:
                await asyncio.sleep(delay)
            return resp
        return handle

    async def auth(self, request: web.Request) -> tuple[str, str]:
        """The account (API key) of a signed request and its body; ``OkxError`` (HTTP 401)
        when a header is missing, the passphrase or the signature is wrong (50113) or the
        timestamp is 30 s away from the fake's clock (50102)."""
        body = await request.text()
        h = request.headers
        key = h.get("OK-ACCESS-KEY", "")
        if not key:
            raise OkxError("50103", 'Request header "OK-ACCESS-KEY" cannot be empty.', 401)
        if not h.get("OK-ACCESS-PASSPHRASE"):
            raise OkxError("50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.', 401)
        ts = h.get("OK-ACCESS-TIMESTAMP", "")
        if not ts:
            raise OkxError("50107", 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.', 401)
        if abs(_iso_ms(ts) - ms(self.core.server_ns())) > TS_WINDOW_MS:
            raise OkxError("50102", "Timestamp request expired", 401)
        prehash = ts + request.method + request.raw_path + body
        if not sign_ok(self.fake.secret(key), prehash, h.get("OK-ACCESS-SIGN", "")):
            raise OkxError("50113", "Invalid Sign", 401)
        if h["OK-ACCESS-PASSPHRASE"] != passphrase_for(key):
            raise OkxError("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', 401)
        return key, body

    @staticmethod
    def _json(body: str) -> Any:
        try:
            return json.loads(body) if body else {}
        except ValueError:
            raise OkxError("50002", "JSON syntax error") from None

    # --- public ---------------------------------------------------------------------------------

    def time(self, request: web.Request) -> Any:
        return [{"ts": ms_str(self.core.server_ns())}]

    def status(self, request: web.Request) -> Any:
        return []

    def instruments(self, request: web.Request) -> Any:
        q = request.query
        t = q.get("instType", "")
        if not t:
            raise OkxError("50014", "Parameter instType can not be empty")
        if t.upper() not in ("SPOT", "SWAP"):
            return []
        return [m.instrument(self.core.start_ns,
                             "live" if self.fake.session.get(m.inst_id, "open") == "open"
                             else "suspend")
                for m in self.fake.markets_of(t, q.get("instId"))]

    def _levels(self, m: OkxMarket, levels: list[tuple[int, int]], n: int) -> list[list[str]]:
        return [[m.px_str(px), m.sz_str(qty), "0", "1"] for px, qty in levels[:n]]

    def books(self, request: web.Request) -> Any:
        q = request.query
        m = self.fake.market(q.get("instId"))
        try:
            n = max(1, min(5000, int(q.get("sz", 1))))
        except ValueError:
            raise OkxError("51000", "Parameter sz error") from None
        snap = self.core.snapshot(m.venue, m.inst_id)
        if snap is None:
            raise OkxError("50026", "System error, please try again later")
        return [{"asks": self._levels(m, snap.a, n), "bids": self._levels(m, snap.b, n),
                 "ts": ms_str(self.core.server_ns())}]

    def _ticker(self, m: OkxMarket) -> dict[str, Any]:
        snap = self.core.snapshot(m.venue, m.inst_id)
        if snap is None:
            raise OkxError("50026", "System error, please try again later")
        bid, ask = (snap.b[0] if snap.b else None), (snap.a[0] if snap.a else None)
        last = (bid[0] + ask[0]) // 2 if bid and ask else (bid or ask or (0, 0))[0]
        lp = m.px_str(last) if last else ""
        return {"instType": m.inst_type, "instId": m.inst_id, "last": lp, "lastSz": "0",
                "askPx": m.px_str(ask[0]) if ask else "", "askSz": m.sz_str(ask[1]) if ask else "",
                "bidPx": m.px_str(bid[0]) if bid else "", "bidSz": m.sz_str(bid[1]) if bid else "",
                "open24h": lp, "high24h": lp, "low24h": lp, "volCcy24h": "0", "vol24h": "0",
                "sodUtc0": lp, "sodUtc8": lp, "ts": ms_str(self.core.server_ns())}

    def ticker(self, request: web.Request) -> Any:
        return [self._ticker(self.fake.market(request.query.get("instId")))]

    def tickers(self, request: web.Request) -> Any:
        return [self._ticker(m) for m in self.fake.markets_of(request.query.get("instType", ""))]

    def _swap(self, inst_id: Any) -> OkxMarket:
        m = self.fake.market(inst_id)
        if m.market != "swap":
            raise OkxError("51001", f"Instrument ID {inst_id} does not exist")
        return m

    def funding_rate(self, request: web.Request) -> Any:
        m = self._swap(request.query.get("instId"))
        core = self.core
        rate = dec_str(core.funding_rate)
        nxt = core.next_funding_ns
        return [{"instType": "SWAP", "instId": m.inst_id, "method": "current_period",
                 "fundingRate": rate, "nextFundingRate": rate, "fundingTime": ms_str(nxt),
                 "nextFundingTime": ms_str(nxt + core.funding_ns), "minFundingRate": "-0.0075",
                 "maxFundingRate": "0.0075", "settState": "settled", "settFundingRate": rate,
                 "premium": "0", "interestRate": "0", "impactValue": "",
                 "ts": ms_str(core.server_ns())}]

    def mark_price(self, request: web.Request) -> Any:
        q = request.query
        out = []
        for m in self.fake.markets_of(q.get("instType", "SWAP"), q.get("instId")):
            mk = self.core.mark(m.venue, m.inst_id) if m.market == "swap" else None
            if mk is not None:
                out.append({"instType": m.inst_type, "instId": m.inst_id,
                            "markPx": m.px_str(mk.mark_px), "ts": ms_str(mk.ts)})
        return out

    # --- account --------------------------------------------------------------------------------

    async def currencies(self, account: str, request: web.Request, body: str) -> web.Response:
        assets = set(self.core.fake.balances)
        for m in self.fake.markets.values():
            assets |= {m.contract.unit, m.contract.ccy}
        return ok([{"ccy": a, "name": a, "chain": f"{a}-{a}", "canDep": True, "canWd": True,
                    "canInternal": True, "minWd": "0", "maxWd": "1000000", "wdTickSz": "8",
                    "minFee": "0", "maxFee": "0", "mainNet": True} for a in sorted(assets)])

    async def balance(self, account: str, request: web.Request, body: str) -> web.Response:
        return ok([self.fake.balance_json(account, request.query.get("ccy", ""))])

    async def positions(self, account: str, request: web.Request, body: str) -> web.Response:
        q = request.query
        markets = [m for m in self.fake.markets_of(q.get("instType", ""), q.get("instId"))
                   if m.market == "swap"]
        out = []
        for venue in sorted({m.venue for m in markets}):
            recs = await self._list(venue, account, PositionsReq(), Positions)
            mine = {m.inst_id: m for m in markets if m.venue == venue}
            out += [self.fake.position(mine[r.sym], account, r.net)
                    for r in recs if r.sym in mine and r.net != 0]
        return ok(out)

    async def bills(self, account: str, request: web.Request, body: str) -> web.Response:
        q = request.query
        if q.get("type", "8") != "8" or q.get("instType", "SWAP") not in ("SWAP", ""):
            return ok([])
        begin, end = int(q.get("begin", 0) or 0), int(q.get("end", 0) or 0)
        out = []
        for i, r in enumerate(self.core.ledger.funding):
            m = self.fake.markets.get(r["sym"])
            if r["account"] != account or m is None or m.venue != r["venue"]:
                continue
            if (q.get("ccy") and q["ccy"] != r["ccy"]) or (q.get("instId") and
                                                          q["instId"] != m.inst_id):
                continue
            t = ms(r["ts"])
            if (begin and t < begin) or (end and t > end):
                continue
            paid = dec_str(r["paid"])
            out.append({"billId": bill_id(i), "type": "8",
                        "subType": "174" if r["paid"] >= 0 else "173", "ccy": r["ccy"],
                        "instId": m.inst_id, "instType": "SWAP", "mgnMode": "cross",
                        "balChg": paid, "bal": "", "posBalChg": "0", "posBal": "0",
                        "pnl": paid, "fee": "0", "sz": m.sz_str(abs(r["lots"])),
                        "px": r["mark"], "ts": ms_str(r["ts"]), "fillTime": ms_str(r["ts"]),
                        "ordId": "", "tradeId": "", "execType": "", "from": "", "to": "",
                        "notes": "funding fee", "interest": "0", "tag": ""})
        out.sort(key=lambda b: -int(b["ts"]))
        return ok(out[:_limit(q)])

    # --- trade ----------------------------------------------------------------------------------

    async def place(self, account: str, request: web.Request, body: str) -> web.Response:
        args = self._json(body)
        if not isinstance(args, dict):
            raise OkxError("50002", "JSON syntax error")
        entry = await trade.place(self.fake, account, args)
        return ok([entry], *trade.batch_code([entry]))

    async def place_batch(self, account: str, request: web.Request, body: str) -> web.Response:
        args = self._json(body)
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            raise OkxError("50002", "JSON syntax error")
        if len(args) > 20:
            raise OkxError("51111", "Maximum 20 orders can be placed in bulk")
        entries = [await trade.place(self.fake, account, a) for a in args]
        return ok(entries, *trade.batch_code(entries))

    async def cancel(self, account: str, request: web.Request, body: str) -> web.Response:
        args = self._json(body)
        if not isinstance(args, dict):
            raise OkxError("50002", "JSON syntax error")
        entry = await trade.cancel(self.fake, account, args)
        return ok([entry], *trade.batch_code([entry]))

    async def cancel_batch(self, account: str, request: web.Request, body: str) -> web.Response:
        args = self._json(body)
        if not isinstance(args, list) or not all(isinstance(a, dict) for a in args):
            raise OkxError("50002", "JSON syntax error")
        entries = [await trade.cancel(self.fake, account, a) for a in args]
        return ok(entries, *trade.batch_code(entries))

    async def order(self, account: str, request: web.Request, body: str) -> web.Response:
        q = request.query
        if not q.get("instId"):
            raise OkxError("50014", "Parameter instId can not be empty")
        m, o = trade.find_order(self.fake, account, dict(q))
        return ok([order_json(m, o, self.fake.meta_for(m.venue, account, o.cl))])

    async def _list(self, venue: str, account: str, req: Any, kind: type) -> list[Any]:
        replies = await self.core.request(venue, account, req, trade.REQUEST_TIMEOUT_S)
        for r in replies:
            if isinstance(r, kind):
                return list(r.list)
        raise OkxError(*trade.TIMEOUT)

    async def pending(self, account: str, request: web.Request, body: str) -> web.Response:
        q = request.query
        markets = {m.inst_id: m for m in self.fake.markets_of(q.get("instType"), q.get("instId"))}
        out = []
        for venue in sorted({m.venue for m in markets.values()}):
            for r in await self._list(venue, account, OpenOrdersReq(), OpenOrders):
                m, o = markets.get(r.sym), self.core.order(venue, account, r.cl)
                if m is not None and m.venue == venue and o is not None:
                    out.append(order_json(m, o, self.fake.meta_for(venue, account, o.cl)))
        out.sort(key=lambda d: -int(d["cTime"]))
        return ok(out[:_limit(q)])

    async def history(self, account: str, request: web.Request, body: str) -> web.Response:
        q = request.query
        out = []
        for m in self.fake.markets_of(q.get("instType"), q.get("instId")):
            out += [order_json(m, o, self.fake.meta_for(m.venue, account, o.cl))
                    for o in self.core.orders(m.venue, account)
                    if o.sym == m.inst_id and o.oid and not o.is_open]
        if q.get("state"):
            out = [d for d in out if d["state"] == q["state"]]
        out.sort(key=lambda d: -int(d["uTime"]))
        return ok(out[:_limit(q)])

    async def fills(self, account: str, request: web.Request, body: str) -> web.Response:
        q = request.query
        markets = {m.inst_id: m for m in self.fake.markets_of(q.get("instType"), q.get("instId"))}
        begin, end = int(q.get("begin", 0) or 0), int(q.get("end", 0) or 0)
        out = []
        for venue in sorted({m.venue for m in markets.values()}):
            since = begin * 1_000_000
            for f in await self._list(venue, account, TradesReq(since=since), Trades):
                m = markets.get(f.sym)
                if m is None or m.venue != venue or (end and ms(f.ts) > end):
                    continue
                d = fill_json(m, f)
                if not q.get("ordId") or q["ordId"] == d["ordId"]:
                    out.append(d)
        out.sort(key=lambda d: (-int(d["ts"]), -int(d["tradeId"])))
        return ok(out[:_limit(q)])


def add_routes(app: web.Application, fake: OkxFake) -> None:
    """Register the REST endpoints."""
    r = _Rest(fake)
    p = "/api/v5/"
    for path, fn in (("public/time", r.time), ("system/status", r.status),
                     ("public/instruments", r.instruments), ("market/books", r.books),
                     ("market/books-full", r.books), ("market/ticker", r.ticker),
                     ("market/tickers", r.tickers), ("public/funding-rate", r.funding_rate),
                     ("public/mark-price", r.mark_price)):
        app.router.add_get(p + path, r.public(fn))
    for path, pfn in (("asset/currencies", r.currencies), ("account/balance", r.balance),
                      ("account/positions", r.positions), ("account/bills", r.bills),
                      ("account/bills-archive", r.bills), ("trade/order", r.order),
                      ("trade/orders-pending", r.pending), ("trade/orders-history", r.history),
                      ("trade/fills", r.fills), ("trade/fills-history", r.fills)):
        app.router.add_get(p + path, r.private(pfn))
    for path, pfn in (("trade/order", r.place), ("trade/batch-orders", r.place_batch),
                      ("trade/cancel-order", r.cancel),
                      ("trade/cancel-batch-orders", r.cancel_batch)):
        app.router.add_post(p + path, r.private(pfn))


__all__ = ["add_routes", "error", "ok"]
