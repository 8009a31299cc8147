"""The OKX fake's websockets: ``/ws/v5/public``, ``/ws/v5/private`` and ``/ws/v5/business``.

Client messages: the text ``ping`` (answered ``pong``); ``{"op": "login", "args": [{apiKey,
passphrase, timestamp, sign}]}`` (sign = base64 HMAC-SHA256 of ``timestamp + "GET" +
"/users/self/verify"``; answered ``{"event": "login", "code": "0"}`` or ``{"event": "error",
"code": "60009"}``); ``{"op": "subscribe" | "unsubscribe", "args": [{"channel", ...}]}``
(answered ``{"event": "subscribe", "arg", "connId"}``); and, logged in, the order ops ``order``,
``batch-orders``, ``cancel-order`` with an ``id`` (answered ``{"id", "op", "code", "msg",
"data"}``).

Channels: public ``books`` (``book.py``), ``books5`` and ``bbo-tbt`` (top 5 / top 1 as plain
snapshots on every change), ``mark-price`` and ``funding-rate`` (swaps, every second),
``trades``; private (after login; 60011 before) ``orders`` (every order event of the account:
accepted ``live``, each fill with ``tradeId``/``fillSz``/``fillPx``, the close), ``account``
(the balance, at subscription and after every fill or funding payment) and ``positions``
(swaps, likewise). A connection idle for 30 s is closed, as OKX does; the
``disconnect_private`` fault closes the account's private connections (clients reconnect and
log in again).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from loguru import logger

from transports.venues.fake.okx import trade
from transports.venues.fake.okx.book import BookFeed
from transports.venues.fake.okx.codec import (
    OkxError,
    OkxMarket,
    ms_str,
    order_json,
    passphrase_for,
    sign_ok,
)
from transports.wire.venue_msgs import Ack, Delta, Done, Fill, Funding, Mark, MdStatus, Trade

if TYPE_CHECKING:
    from transports.venues.fake.okx.fake import OkxFake

IDLE_S = 30.0  #: OKX closes a connection without any message for this long
LOGIN_WINDOW_S = 30  #: a login timestamp further than this from the fake's clock is refused
SEND_TIMEOUT_S = 5.0  #: a send that takes longer drops the client
OUTBOX = 10_000  #: messages queued for one slow client before the fake drops it
PUBLIC = ("books", "books5", "bbo-tbt", "mark-price", "funding-rate", "trades")
PRIVATE = ("orders", "account", "positions")


class _Conn:
    """One client connection: its subscriptions, login and outgoing queue."""

    def __init__(self, cid: int, ws: web.WebSocketResponse) -> None:
        self.cid, self.ws = str(cid), ws
        self.account = ""
        self.subs: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, instId|"") -> arg
        self.tokens: list[int] = []
        self.final: set[str] = set()  # orders whose closing state was pushed already
        self.out: asyncio.Queue[str] = asyncio.Queue(OUTBOX)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    def send(self, obj: Any) -> None:
        """Queue one message (a ``str`` is sent as is); a client too slow to take it is
        dropped."""
        if self.closed:
            return
        try:
            self.out.put_nowait(obj if isinstance(obj, str) else json.dumps(obj))
        except asyncio.QueueFull:
            logger.warning("okx fake: ws client {} too slow, dropping it", self.cid)
            self.close()

    def close(self) -> None:
        """Close the connection from the server's side."""
        if not self.closed:
            self.closed = True
            self.spawn(self.ws.close())

    def spawn(self, coro: Any) -> None:
        """Run ``coro`` as a task owned by the connection."""
        t = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)


class OkxWs:
    """The websocket side of the OKX fake."""

    def __init__(self, fake: OkxFake) -> None:
        self.fake, self.core = fake, fake.core
        self.conns: set[_Conn] = set()
        self.trade_ids = itertools.count(1)
        self.books = {i: BookFeed(m, self.core.snapshot(m.venue, i))
                      for i, m in fake.markets.items()}
        for venue in self.core.venues:
            self.core.subscribe_md(venue, partial(self.on_md, venue))

    # --- market data ----------------------------------------------------------------------------

    def _fanout(self, channel: str, inst_id: str, data: list[Any], action: str = "") -> None:
        msg: dict[str, Any] = {"arg": {"channel": channel, "instId": inst_id}}
        if action:
            msg["action"] = action
        msg["data"] = data
        text = ""
        for c in self.conns:
            if (channel, inst_id) in c.subs:
                text = text or json.dumps(msg)
                c.send(text)

    def on_md(self, venue: str, msg: Any) -> None:
        """A market data message of ``venue`` from the core."""
        try:
            if isinstance(msg, Delta):
                self._delta(venue, msg)
            elif isinstance(msg, Mark):
                self._mark(msg)
            elif isinstance(msg, MdStatus) and msg.sym in self.fake.markets:
                self.fake.session[msg.sym] = msg.state
            elif isinstance(msg, Trade) and msg.sym in self.fake.markets:
                m = self.fake.markets[msg.sym]
                self._fanout("trades", m.inst_id, [{
                    "instId": m.inst_id, "tradeId": str(next(self.trade_ids)),
                    "px": m.px_str(msg.px),
                    "sz": m.sz_str(msg.qty), "side": "buy" if msg.side == "B" else "sell",
                    "ts": ms_str(msg.ts), "count": "1"}])
        except Exception:  # noqa: BLE001 - one bad frame must not stop the feed
            logger.exception("okx fake: md {!r} failed", msg)

    def _delta(self, venue: str, d: Delta) -> None:
        feed = self.books.get(d.sym)
        if feed is None or feed.m.venue != venue:
            return
        out = feed.apply(d, lambda: self.core.snapshot(venue, d.sym))
        if out is None:
            return
        action, data = out
        self._fanout("books", d.sym, [data], action)
        for ch, depth in (("books5", 5), ("bbo-tbt", 1)):
            if any((ch, d.sym) in c.subs for c in self.conns):
                snap = feed.snapshot(d.ts, depth)
                del snap["checksum"], snap["prevSeqId"]
                self._fanout(ch, d.sym, [snap])

    def _mark(self, mk: Mark) -> None:
        m = self.fake.markets.get(mk.sym)
        if m is None:
            return
        self._fanout("mark-price", m.inst_id, [{"instType": m.inst_type, "instId": m.inst_id,
                                                "markPx": m.px_str(mk.mark_px),
                                                "ts": ms_str(mk.ts)}])
        self._fanout("funding-rate", m.inst_id, [self._funding(m)])

    def _funding(self, m: OkxMarket) -> dict[str, Any]:
        core = self.core
        rate = str(core.funding_rate)
        return {"instType": "SWAP", "instId": m.inst_id, "method": "current_period",
                "fundingRate": rate, "nextFundingRate": rate,
                "fundingTime": ms_str(core.next_funding_ns),
                "nextFundingTime": ms_str(core.next_funding_ns + core.funding_ns),
                "ts": ms_str(core.server_ns())}

    # --- private --------------------------------------------------------------------------------

    def on_private(self, conn: _Conn, venue: str, msg: Any) -> None:
        """An order event or funding payment of ``conn``'s account on ``venue``."""
        try:
            self._private(conn, venue, msg)
        except Exception:  # noqa: BLE001 - one bad event must not stop the stream
            logger.exception("okx fake: private {!r} failed", msg)

    def _private(self, conn: _Conn, venue: str, msg: Any) -> None:
        acct = conn.account
        if isinstance(msg, Funding):
            self._push_account(conn)
            return
        if not isinstance(msg, Ack | Fill | Done):
            return  # rejects travel in the request's answer, not on the stream
        o = self.core.order(venue, acct, msg.cl)
        m = self.fake.markets.get(o.sym) if o is not None else None
        if o is None or m is None or m.venue != venue or o.oid != msg.oid:
            return
        meta = self.fake.meta_for(venue, acct, o.cl)
        if isinstance(msg, Ack):
            data = order_json(m, o, meta, fills=[], state="live")
        elif isinstance(msg, Fill):
            fills = list(o.fills)
            for i, f in enumerate(fills):
                if f.tid == msg.tid:
                    fills = fills[: i + 1]
                    break
            acc = sum(f.qty for f in fills)
            full = acc >= o.qty
            if full:
                conn.final.add(o.oid)
            state = "filled" if full else "partially_filled"
            data = order_json(m, o, meta, fills=fills, state=state, fill=fills[-1])
        else:
            if meta is not None:
                meta.done_ns = msg.ts
            if msg.state == "filled" and o.oid in conn.final:
                return
            conn.final.add(o.oid)
            state = "filled" if msg.state == "filled" else "canceled"
            data = order_json(m, o, meta, state=state)
        self._push(conn, "orders", m, data)
        if isinstance(msg, Fill):
            self._push_account(conn)
            if m.market == "swap":
                lots = self.core.position_lots(venue, acct, m.inst_id)
                self._push(conn, "positions", m, self.fake.position(m, acct, lots))

    def _push(self, conn: _Conn, channel: str, m: OkxMarket, data: dict[str, Any]) -> None:
        for (ch, inst), arg in conn.subs.items():
            t = str(arg.get("instType", "ANY")).upper()
            if ch == channel and inst in ("", m.inst_id) and t in ("ANY", m.inst_type):
                conn.send({"arg": arg, "data": [data]})

    def _push_account(self, conn: _Conn) -> None:
        for (ch, _), arg in conn.subs.items():
            if ch == "account":
                conn.send({"arg": arg, "eventType": "snapshot",
                           "data": [self.fake.balance_json(conn.account, arg.get("ccy", ""))]})

    # --- connections ----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """One websocket connection."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(next(self.fake.conn_ids), ws)
        self.conns.add(conn)
        writer = asyncio.get_running_loop().create_task(self._writer(conn))
        try:
            while not conn.closed:
                try:
                    msg = await ws.receive(timeout=IDLE_S)
                except TimeoutError:
                    break  # OKX: no data for 30 s closes the connection
                if msg.type != WSMsgType.TEXT:
                    break
                if msg.data == "ping":
                    conn.send("pong")
                    continue
                try:
                    req = json.loads(msg.data)
                except ValueError:
                    req = None
                if not isinstance(req, dict):
                    conn.send({"event": "error", "code": "60012",
                               "msg": f"Illegal request: {msg.data[:200]}", "connId": conn.cid})
                    continue
                self._dispatch(conn, req)
        finally:
            self.conns.discard(conn)
            for tok in conn.tokens:
                self.core.unsubscribe(tok)
            conn.closed = True
            writer.cancel()
            for t in list(conn.tasks):
                t.cancel()
            if not ws.closed:
                await ws.close()
        return ws

    async def _writer(self, conn: _Conn) -> None:
        # cancelled when the connection ends; a client that does not read is dropped
        while True:
            text = await conn.out.get()
            if conn.ws.closed:
                return
            try:
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await conn.ws.send_str(text)
            except (TimeoutError, ConnectionError):
                conn.close()
                return

    def _dispatch(self, conn: _Conn, req: dict[str, Any]) -> None:
        op = req.get("op")
        if op == "login":
            self._login(conn, req)
        elif op in ("subscribe", "unsubscribe"):
            for arg in req.get("args") or []:
                self._subscribe(conn, op, arg if isinstance(arg, dict) else {})
        elif op in ("order", "batch-orders", "cancel-order"):
            if not conn.account:
                conn.send({"id": req.get("id", ""), "op": op, "code": "60011",
                           "msg": "Please log in", "data": []})
            else:
                conn.spawn(self._order_op(conn, req))
        else:
            conn.send({"event": "error", "code": "60019", "msg": f"Invalid op: {op}",
                       "connId": conn.cid})

    def _login(self, conn: _Conn, req: dict[str, Any]) -> None:
        args = (req.get("args") or [{}])[0]
        key, ts = str(args.get("apiKey", "")), str(args.get("timestamp", ""))
        try:
            skew = abs(float(ts) - self.core.server_ns() / 1e9)
        except ValueError:
            skew = float("inf")
        if skew > LOGIN_WINDOW_S:
            conn.send({"event": "error", "code": "60006", "msg": "Timestamp request expired",
                       "connId": conn.cid})
            return
        good = bool(key) and sign_ok(self.fake.secret(key), ts + "GET/users/self/verify",
                                     str(args.get("sign", "")))
        if not good or args.get("passphrase") != passphrase_for(key):
            conn.send({"event": "error", "code": "60009", "msg": "Login failed.",
                       "connId": conn.cid})
            return
        if conn.account != key:
            for tok in conn.tokens:
                self.core.unsubscribe(tok)
            conn.account = key
            conn.tokens = [self.core.subscribe_private(venue, key,
                                                       partial(self.on_private, conn, venue),
                                                       on_drop=conn.close)
                           for venue in self.core.venues]
        conn.send({"event": "login", "code": "0", "msg": "", "connId": conn.cid})

    def _subscribe(self, conn: _Conn, op: str, arg: dict[str, Any]) -> None:
        ch, inst = str(arg.get("channel", "")), str(arg.get("instId", "") or "")
        if ch in PRIVATE and not conn.account:
            conn.send({"event": "error", "code": "60011", "msg": "Please log in",
                       "connId": conn.cid})
            return
        if ch not in PUBLIC + PRIVATE or (ch in PUBLIC and inst not in self.fake.markets):
            conn.send({"event": "error", "code": "60018", "connId": conn.cid,
                       "msg": f"Wrong URL or channel:{ch},instId:{inst} doesn't exist."})
            return
        conn.send({"event": op, "arg": arg, "connId": conn.cid})
        if op == "unsubscribe":
            conn.subs.pop((ch, inst), None)
            return
        conn.subs[(ch, inst)] = arg
        now = self.core.server_ns()
        if ch == "books":
            conn.send({"arg": {"channel": ch, "instId": inst}, "action": "snapshot",
                       "data": [self.books[inst].snapshot(now)]})
        elif ch == "funding-rate" and self.fake.markets[inst].market == "swap":
            conn.send({"arg": arg, "data": [self._funding(self.fake.markets[inst])]})
        elif ch == "account":
            self._push_account(conn)
        elif ch == "positions":  # the snapshot of the open positions (maybe none)
            data = []
            for m in self.fake.markets_of(arg.get("instType"), inst or None):
                lots = self.core.position_lots(m.venue, conn.account, m.inst_id)
                if m.market == "swap" and lots:
                    data.append(self.fake.position(m, conn.account, lots))
            conn.send({"arg": arg, "eventType": "snapshot", "data": data})

    async def _order_op(self, conn: _Conn, req: dict[str, Any]) -> None:
        op, rid = req.get("op"), req.get("id", "")
        args = [a for a in req.get("args") or [] if isinstance(a, dict)]
        t_in = str(self.core.server_ns() // 1000)  # OKX stamps ops in microseconds
        try:
            if op == "cancel-order":
                data = [await trade.cancel(self.fake, conn.account, a) for a in args]
            else:
                data = [await trade.place(self.fake, conn.account, a) for a in args]
            code, msg = trade.batch_code(data)
        except OkxError as e:
            data, code, msg = [], e.code, e.msg
        conn.send({"id": rid, "op": op, "code": code, "msg": msg, "data": data,
                   "inTime": t_in, "outTime": str(self.core.server_ns() // 1000)})


def add_routes(app: web.Application, fake: OkxFake) -> None:
    """Register the websocket endpoints."""
    ws = OkxWs(fake)
    for path in ("/ws/v5/public", "/ws/v5/private", "/ws/v5/business"):
        app.router.add_get(path, ws.handle)


__all__ = ["OkxWs", "add_routes"]
