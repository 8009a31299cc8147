"""Binance fake, websockets: market streams (diff depth, trades, mark price), the spot user data
stream over the WebSocket API and the futures user data stream on a listen key.

Every connection has a bounded send queue drained by its own writer task; a client too slow to
keep up is disconnected (as Binance does). Market data is formatted once per message and fanned
out to the connections subscribed to its stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

from aiohttp import WSMsgType, web
from loguru import logger

from transports.venues.fake.binance import docs
from transports.venues.fake.binance.fake import BinanceError, BinanceFake
from transports.wire.venue_msgs import Delta, Fill, Funding, Mark, Trade

QUEUE_MAX = 10_000  #: messages queued for one connection before it is dropped as too slow
SEND_TIMEOUT_S = 5.0
RECV_TIMEOUT_S = 30.0  #: a silent client is fine (ccxt pings); we only wake to notice closes


class Conn:
    """One websocket connection: its subscriptions and send queue."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.q: asyncio.Queue[str] = asyncio.Queue(QUEUE_MAX)
        self.streams: set[str] = set()
        self.kinds: set[tuple[str, str]] = set()  # (symbol lowercase, depth|trade|markPrice)
        self.tokens: list[int] = []
        self.closing: asyncio.Task[Any] | None = None

    def push(self, text: str) -> None:
        """Queue ``text``; a full queue closes the connection."""
        if self.closing is not None:
            return
        try:
            self.q.put_nowait(text)
        except asyncio.QueueFull:
            logger.warning("binance fake: a websocket client is too slow; disconnecting it")
            self.close()

    def close(self) -> None:
        """Close from the server side (once)."""
        if self.closing is None:
            self.closing = asyncio.ensure_future(self.ws.close())

    def subscribe(self, names: list[str]) -> None:
        for n in names:
            self.streams.add(n)
            parts = n.split("@")
            if len(parts) >= 2:
                self.kinds.add((parts[0].lower(), parts[1]))

    def unsubscribe(self, names: list[str]) -> None:
        self.streams.difference_update(names)
        self.kinds = set()
        self.subscribe(sorted(self.streams))

    async def writer(self) -> None:
        while True:
            text = await self.q.get()
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await self.ws.send_str(text)


class Streams:
    """The websocket side of the Binance fake."""

    def __init__(self, bf: BinanceFake) -> None:
        self.bf = bf
        self.md: dict[str, set[Conn]] = {}  # venue -> its market-stream connections
        self.conns: set[Conn] = set()
        self._sub_ids = itertools.count(0)
        for venue in bf.core.venues:
            self.md[venue] = set()
            bf.core.subscribe_md(venue, lambda msg, v=venue: self._on_md(v, msg))

    # --- market data ----------------------------------------------------------------------------

    def _on_md(self, venue: str, msg: Any) -> None:
        conns = self.md[venue]
        if isinstance(msg, Delta):  # the update ids advance even with nobody listening
            u, pu = self._ids(venue, msg)
            self.bf.core.md_trace.append((venue, msg.sym, u, msg.ts))
        if not conns:
            return
        sym = getattr(msg, "sym", "").lower()
        if isinstance(msg, Delta):
            kind, ev = "depth", self._depth(venue, msg, u, pu)
        elif isinstance(msg, Trade):
            kind, ev = "trade", self._trade(venue, msg)
        elif isinstance(msg, Mark):
            kind, ev = "markPrice", self._mark(venue, msg)
        else:
            return
        text = json.dumps(ev, separators=(",", ":"))
        for c in conns:
            if (sym, kind) in c.kinds:
                c.push(text)

    def _ids(self, venue: str, d: Delta) -> tuple[int, int]:
        prev = self.bf.last_u.get((venue, d.sym), 0)
        u = self.bf.update_id(venue, d.sym, d.seq)
        self.bf.last_u[(venue, d.sym)] = u
        return u, prev

    def _depth(self, venue: str, d: Delta, u: int, pu: int) -> dict[str, Any]:
        bf = self.bf
        ts = docs.ms(d.ts)
        ev: dict[str, Any] = {"e": "depthUpdate", "E": ts, "s": d.sym, "U": u, "u": u}
        if self.bf.core.market_of(venue) == "swap":
            ev.update({"T": ts, "pu": pu})
        ev["b"] = [[bf.px(venue, d.sym, p), bf.qty(venue, d.sym, q)] for p, q in d.b]
        ev["a"] = [[bf.px(venue, d.sym, p), bf.qty(venue, d.sym, q)] for p, q in d.a]
        return ev

    def _trade(self, venue: str, t: Trade) -> dict[str, Any]:
        ts = docs.ms(t.ts)
        return {"e": "trade", "E": ts, "s": t.sym, "t": next(self.bf.trade_ids),
                "p": self.bf.px(venue, t.sym, t.px), "q": self.bf.qty(venue, t.sym, t.qty),
                "T": ts, "m": t.side == "S", "M": True}

    def _mark(self, venue: str, m: Mark) -> dict[str, Any]:
        p = docs.premium_index(self.bf, venue, m.sym)
        return {"e": "markPriceUpdate", "E": docs.ms(m.ts), "s": m.sym, "p": p["markPrice"],
                "ap": p["markPrice"], "P": p["estimatedSettlePrice"], "i": p["indexPrice"],
                "r": p["lastFundingRate"], "T": p["nextFundingTime"]}

    # --- private events -------------------------------------------------------------------------

    def _events(self, venue: str, account: str, msg: Any) -> list[dict[str, Any]]:
        bf = self.bf
        out = []
        ev = docs.order_event(bf, venue, account, msg)
        if ev is not None:
            out.append(ev)
        if isinstance(msg, Fill):
            o = bf.core.order(venue, account, msg.cl)
            if o is not None:
                out.append(docs.balance_event(bf, venue, account, msg, o.sym))
        elif isinstance(msg, Funding) and bf.core.market_of(venue) == "swap":
            out.append(docs.balance_event(bf, venue, account, msg, msg.sym))
        return out

    # --- handlers -------------------------------------------------------------------------------

    async def _serve(self, request: web.Request, conn: Conn, on_text: Any) -> web.StreamResponse:
        """Run a prepared connection until it closes: the writer, and ``on_text`` per message."""
        self.conns.add(conn)
        writer = asyncio.ensure_future(conn.writer())
        try:
            while not conn.ws.closed:
                try:
                    msg = await conn.ws.receive(timeout=RECV_TIMEOUT_S)
                except TimeoutError:
                    continue
                if msg.type == WSMsgType.TEXT:
                    try:
                        req = json.loads(msg.data)
                    except ValueError:
                        continue
                    if isinstance(req, dict):
                        on_text(conn, req)
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                                  WSMsgType.ERROR):
                    break
        finally:
            self.conns.discard(conn)
            for v in self.md.values():
                v.discard(conn)
            for tok in conn.tokens:
                self.bf.core.unsubscribe(tok)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            if not conn.ws.closed:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(SEND_TIMEOUT_S):
                        await conn.ws.close()
        return conn.ws

    def market_handler(self, market: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            conn = Conn(ws)
            if market in self.bf.markets:
                self.md[self.bf.core.venue_for(market)].add(conn)
            return await self._serve(request, conn, self._on_market_request)

        return handler

    def _on_market_request(self, conn: Conn, req: dict[str, Any]) -> None:
        method, params, rid = req.get("method"), req.get("params") or [], req.get("id")
        names = [str(p) for p in params] if isinstance(params, list) else []
        if method == "SUBSCRIBE":
            conn.subscribe(names)
        elif method == "UNSUBSCRIBE":
            conn.unsubscribe(names)
        elif method == "LIST_SUBSCRIPTIONS":
            conn.push(json.dumps({"result": sorted(conn.streams), "id": rid}))
            return
        else:
            conn.push(json.dumps({"error": {"code": 2, "msg": "Invalid request: unknown "
                                            "method"}, "id": rid}))
            return
        conn.push(json.dumps({"result": None, "id": rid}))

    async def ws_api(self, request: web.Request) -> web.StreamResponse:
        """``/ws-api/v3``: the spot WebSocket API, user data stream subscription only."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        return await self._serve(request, Conn(ws), self._on_ws_api)

    def _on_ws_api(self, conn: Conn, req: dict[str, Any]) -> None:
        rid, method = req.get("id"), req.get("method")
        params = req.get("params") if isinstance(req.get("params"), dict) else {}
        if method == "userDataStream.subscribe.signature" and "spot" in self.bf.markets:
            try:
                account = self.bf.check_params_signed(params)  # type: ignore[arg-type]
            except BinanceError as exc:
                conn.push(json.dumps({"id": rid, "status": exc.status,
                                      "error": {"code": exc.code, "msg": exc.msg}}))
                return
            sid = next(self._sub_ids)
            venue = self.bf.core.venue_for("spot")

            def on_event(msg: Any) -> None:
                for ev in self._events(venue, account, msg):
                    conn.push(json.dumps({"subscriptionId": sid, "event": ev}))

            conn.tokens.append(self.bf.core.subscribe_private(venue, account, on_event, conn.close))
            conn.push(json.dumps({"id": rid, "status": 200, "result": {"subscriptionId": sid}}))
        elif method in ("userDataStream.unsubscribe", "ping"):
            conn.push(json.dumps({"id": rid, "status": 200, "result": {}}))
        else:
            conn.push(json.dumps({"id": rid, "status": 400, "error": {
                "code": -1020, "msg": "This operation is not supported."}}))

    async def user_stream(self, request: web.Request) -> web.StreamResponse:
        """``/fstream/private/ws?listenKey=K``: the futures user data stream."""
        found = self.bf.listen_keys.get(request.query.get("listenKey", ""))
        if found is None:
            return web.json_response({"code": -1125, "msg": "This listenKey does not exist."},
                                     status=400)
        venue, account = found
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = Conn(ws)

        def on_event(msg: Any) -> None:
            for ev in self._events(venue, account, msg):
                conn.push(json.dumps(ev))

        conn.tokens.append(self.bf.core.subscribe_private(venue, account, on_event, conn.close))
        return await self._serve(request, conn, lambda c, r: None)

    async def close_all(self, app: web.Application) -> None:
        """On shutdown: close every connection so the server can stop."""
        for c in list(self.conns):
            c.close()
        tasks = [c.closing for c in self.conns if c.closing is not None]
        if tasks:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await asyncio.gather(*tasks, return_exceptions=True)


def add_routes(app: web.Application, bf: BinanceFake) -> None:
    """The websocket routes."""
    s = Streams(bf)
    r = app.router
    for path in ("/stream/ws", "/stream/ws/{n}"):
        r.add_get(path, s.market_handler("spot"))
    r.add_get("/fstream/private/ws", s.user_stream)
    for path in ("/fstream/{cat}/ws", "/fstream/{cat}/ws/{n}", "/fstream/ws", "/fstream/ws/{n}"):
        r.add_get(path, s.market_handler("swap"))
    r.add_get("/ws-api/v3", s.ws_api)
    app.on_shutdown.append(s.close_all)


__all__ = ["Conn", "Streams", "add_routes"]
