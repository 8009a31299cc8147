"""The CTP gateway: one futures account behind the venue protocol, version 2.

Import only after ``localecheck.require_ctp_locale()`` (the vendor import aborts without it).
The CTP API threads call the SPIs (``spi.py``), which post copies of the fields to the asyncio
loop (``call_soon_threadsafe``); everything else — the login chain, the order tracker, the
query queue, the sockets — runs on that one loop, so no state is shared between threads.

Login chain (trader front): connected -> ReqAuthenticate -> ReqUserLogin ->
ReqSettlementInfoConfirm -> ReqQryInstrument (first login only) -> ``session`` up. A front
disconnect is ``session`` down; CTP reconnects by itself and the chain runs again. The private
topic is subscribed with THOST_TERT_RESUME: after a reconnect (or restart, from the flow file)
CTP replays the order and trade reports since the last one received, so nothing missed during
a drop is lost; the replayed duplicates are dropped by (ExchangeID, TradeID). QUICK would skip
them (lost fills), RESTART replays the whole day (harmless but slow).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import zmq
import zmq.asyncio
from loguru import logger
from openctp_ctp import thostmduserapi as mdapi
from openctp_ctp import thosttraderapi as tdapi

from transports.clock import LiveClock
from transports.config.engine import AppConfig, VenueConfig
from transports.errors import ConfigError
from transports.venues.ctp.clmap import ClMap
from transports.venues.ctp.fees import FeeBook
from transports.venues.ctp.handlers import Handlers
from transports.venues.ctp.md import DepthBooks
from transports.venues.ctp.orders import OrderTracker
from transports.venues.ctp.reports import QueryQueue
from transports.venues.ctp.spi import MdSpi, TdSpi
from transports.venues.curve import CurveServer, ServerKeys, start_server
from transports.venues.sim.gateway import address
from transports.wire.venue_msgs import Error, Instruments, OeRequest, RefRequest, Session


def credentials(cc: Any, env: dict[str, str] | None = None) -> dict[str, str]:
    """BrokerID, UserID, AppID from the config or ``<env>_*``; password and AuthCode only from
    the environment. Raises ``ConfigError`` naming the missing variable (never its value)."""
    e = os.environ if env is None else env
    p = cc.credentials_env
    out = {"broker": cc.broker_id or e.get(f"{p}_BROKER_ID", ""),
           "user": cc.user_id or e.get(f"{p}_USER_ID", ""),
           "app": cc.app_id or e.get(f"{p}_APP_ID", ""),
           "password": e.get(f"{p}_PASSWORD", ""), "auth": e.get(f"{p}_AUTH_CODE", "")}
    for k, var in (("broker", "BROKER_ID"), ("user", "USER_ID"), ("password", "PASSWORD")):
        if not out[k]:
            raise ConfigError(f"CTP credentials: {p}_{var} is not set")
    return out


def real_apis(cc: Any, venue: str, td_spi: Any, md_spi: Any) -> tuple[Any, Any]:
    """Create, register and start the real trader and md APIs."""
    flow = Path(cc.flow_dir) / venue
    (flow / "td").mkdir(parents=True, exist_ok=True)
    (flow / "md").mkdir(parents=True, exist_ok=True)
    td = tdapi.CThostFtdcTraderApi.CreateFtdcTraderApi(str(flow / "td") + "/")
    td.RegisterSpi(td_spi)
    td.SubscribePrivateTopic(tdapi.THOST_TERT_RESUME)
    td.SubscribePublicTopic(tdapi.THOST_TERT_QUICK)
    td.RegisterFront(cc.td_front)
    md = mdapi.CThostFtdcMdApi.CreateFtdcMdApi(str(flow / "md") + "/")
    md.RegisterSpi(md_spi)
    md.RegisterFront(cc.md_front)
    td.Init()
    md.Init()
    return td, md


class CtpGateway(Handlers):
    """Sockets, SPIs, login chain and order tracking of one CTP account."""

    def __init__(self, cfg: AppConfig, venue: VenueConfig, sock_dir: str,
                 creds: dict[str, str]) -> None:
        assert venue.ctp is not None
        self.cfg, self.venue, self.cc, self.sock_dir = cfg, venue, venue.ctp, sock_dir
        self.creds = creds
        self.now_ns = LiveClock().now_ns
        self.account = venue.account.encode()
        self.enc = msgspec.msgpack.Encoder()
        self.ref_dec = msgspec.msgpack.Decoder(RefRequest)
        self.oe_dec = msgspec.msgpack.Decoder(OeRequest)
        contracts = [c for c in cfg.contracts if c.venue == venue.name]
        self.symbols = list(self.cc.symbols) or [c.sym for c in contracts]
        self.fee_per_lot = {c.sym: c.fee_per_lot for c in contracts}
        self.multipliers: dict[str, int] = {}
        self.fees = FeeBook(self.multipliers, self.fee_per_lot)
        self.rid = itertools.count(1)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.events: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue()
        self.td_spi, self.md_spi = TdSpi(self.post), MdSpi(self.post)
        self.td: Any = None
        self.md: Any = None
        state = Path(self.cc.state_dir)
        self.clmap = ClMap(self.cc.clmap_path or state / f"{venue.name}-ctp-orders.jsonl")
        self.ticks: dict[str, Decimal] = {}
        self.exchanges: dict[str, str] = {}
        self.tracker = OrderTracker(self.clmap, self.ticks, self.fees.fee)
        self.books = DepthBooks(self.ticks, self.exchanges)
        self.queries = QueryQueue(self.cc.query_interval_ms * 1_000_000)
        self.instruments: Instruments | None = None
        self._inst_rows: list[Any] = []
        self._listed: dict[str, Any] = {}  #: instrument rows of the served symbols
        self._rows: dict[str, list[Any]] = {"position": [], "account": []}
        self._waiting: dict[str, list[bytes]] = {"position": [], "account": []}
        self.logged_in = False
        self.session_up = False
        self.ready = asyncio.Event()
        self.next_ref = 1
        self.socks: list[zmq.asyncio.Socket] = []
        self.curve: CurveServer | None = None  #: CURVE on the three sockets (None: plain)
        self.tasks: list[asyncio.Task[Any]] = []

    # --- the bridge from the API threads ------------------------------------------------------

    def post(self, name: str, args: tuple[Any, ...]) -> None:
        """Called on a CTP thread: queue the event for the loop."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (name, args))

    # --- sockets ------------------------------------------------------------------------------

    def bind(self, curve: ServerKeys | None = None) -> None:
        """Bind md XPUB, ref ROUTER, oe ROUTER at the venue's addresses; CURVE servers with
        ``curve`` (default: ``CMC_CURVE_SECRET`` / ``CMC_CURVE_ALLOW``, set by the command's
        ``--curve-secret`` / ``--curve-allow``; neither: plain)."""
        self.ctx = zmq.asyncio.Context()
        self.curve = start_server(self.ctx, curve or ServerKeys.from_env())
        v = self.venue
        if "{sock}" in v.md + v.ref + v.oe:
            Path(self.sock_dir).mkdir(parents=True, exist_ok=True)
        self.md_sock = self._sock(zmq.XPUB, address(v.md, self.sock_dir))
        self.ref_sock = self._sock(zmq.ROUTER, address(v.ref, self.sock_dir))
        self.oe_sock = self._sock(zmq.ROUTER, address(v.oe, self.sock_dir))

    def _sock(self, kind: int, addr: str) -> zmq.asyncio.Socket:
        s = self.ctx.socket(kind)
        self.socks.append(s)
        s.setsockopt(zmq.LINGER, 0)
        if kind == zmq.ROUTER:
            s.setsockopt(zmq.ROUTER_HANDOVER, 1)
        if self.curve is not None:
            self.curve.apply(s)
        s.bind(addr)
        return s

    def send(self, ident: bytes, msg: Any) -> None:
        """One oe frame to ``ident`` (dropped if the peer is gone: the engine queries)."""
        payload = self.enc.encode(msg)
        for secret in (self.creds.get("password"), self.creds.get("auth")):
            if secret and secret.encode() in payload:
                payload = self.enc.encode(Error(code="internal", msg="reply withheld"))
        self.oe_sock.send_multipart([ident, payload], flags=zmq.NOBLOCK)

    def publish(self, topic: str, msg: Any) -> None:
        """One md frame."""
        self.md_sock.send_multipart([topic.encode(), self.enc.encode(msg)], flags=zmq.NOBLOCK)

    def _session(self, up: bool, reason: str, auth_failed: bool = False) -> None:
        if up == self.session_up and not auth_failed:
            return
        self.session_up = up
        state = "up" if up else "auth_failed" if auth_failed else "down"
        logger.info("{}: session {} ({})", self.venue.name, state, reason)
        self.send(self.account, Session(state=state, ts=self.now_ns(), reason=reason))

    # --- start / stop -------------------------------------------------------------------------

    def start(self, apis: tuple[Any, Any] | None = None) -> None:
        """Bind, start the loop tasks and the APIs (``apis``: stand-ins for tests)."""
        self.loop = asyncio.get_running_loop()
        self.bind()
        self.td, self.md = apis or real_apis(self.cc, self.venue.name, self.td_spi,
                                             self.md_spi)
        self.tasks = [self.loop.create_task(c) for c in (
            self._event_loop(), self._ref_loop(), self._oe_loop(), self._hb_loop(),
            self._query_loop())]

    async def stop(self) -> None:
        """Stop tasks, APIs and sockets."""
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for api in (self.md, self.td):
            if api is not None and hasattr(api, "Release"):
                api.RegisterSpi(None)
                api.Release()
        self.clmap.close()
        for s in self.socks:
            s.close(linger=0)
        if self.curve is not None:
            self.curve.stop()  # its ZAP socket would keep term() waiting
        if self.socks:
            self.ctx.term()


__all__ = ["CtpGateway", "credentials", "real_apis"]
