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
import os
from collections.abc import Callable
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
from transports.venues.aio_frames import answer_subscriptions, decode_request, ready_frames
from transports.venues.ctp.clmap import ClMap
from transports.venues.ctp.events import CtpEvents
from transports.venues.ctp.md import DepthBooks
from transports.venues.ctp.order_entry import CtpOrderEntry
from transports.venues.ctp.orders import OrderTracker
from transports.venues.ctp.queries import CtpQueries
from transports.venues.ctp.spi import MdSpi, TdSpi
from transports.venues.ctp.state import CtpState
from transports.venues.curve import ServerKeys
from transports.venues.fence import EpochFence
from transports.venues.gateway_sockets import GatewaySockets
from transports.wire.venue_msgs import (
    Error,
    Heartbeat,
    Instruments,
    InstrumentsReq,
    OeRequest,
    RefRequest,
    SnapshotReq,
)

POLL_MS = 100  #: how long a loop waits for an event or a frame before it looks again

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


class CtpGateway:
    """Sockets, SPIs, loops, start and stop of one CTP account.

    What the gateway and its helpers share is ``self.state`` (``state.CtpState``); the helpers
    are ``self.ctp`` (``events.CtpEvents``: the login chains and CTP's reports), ``self.oe``
    (``order_entry.CtpOrderEntry``: the engine's oe requests) and ``self.queries``
    (``queries.CtpQueries``: the paced trader-front queries)."""

    def __init__(self, cfg: AppConfig, venue: VenueConfig, sock_dir: str,
                 creds: dict[str, str]) -> None:
        assert venue.ctp is not None
        self.cfg, self.venue, self.cc, self.sock_dir = cfg, venue, venue.ctp, sock_dir
        self.state = CtpState.for_venue(cfg, venue, creds, LiveClock().now_ns)
        self.enc = msgspec.msgpack.Encoder()
        self.ref_dec = msgspec.msgpack.Decoder(RefRequest)
        self.oe_dec = msgspec.msgpack.Decoder(OeRequest)
        self.queries = CtpQueries(self.state, self.cc.query_interval_ms * 1_000_000, self.send)
        self.oe = CtpOrderEntry(self.state, self.send, self.queries)
        self.ctp = CtpEvents(self.state, self.send, self.publish, self.queries, self.oe)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.events: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue()
        self.td_spi, self.md_spi = TdSpi(self.post), MdSpi(self.post)
        self.io = GatewaySockets()  #: the engine-facing sockets (``bind``)
        self.tasks: list[asyncio.Task[Any]] = []

    # --- what the process and tests read: shared state, the helpers' -----------------------

    @property
    def now_ns(self) -> Callable[[], int]:
        """The receipt clock (settable: a test pins it)."""
        return self.state.now_ns

    @now_ns.setter
    def now_ns(self, clock: Callable[[], int]) -> None:
        self.state.now_ns = clock

    @property
    def creds(self) -> dict[str, str]:
        """The account's credentials."""
        return self.state.creds

    @property
    def account(self) -> bytes:
        """The engine's DEALER identity on oe."""
        return self.state.account

    @property
    def td(self) -> Any:
        """The trader API (None before ``start``)."""
        return self.state.td

    @property
    def md(self) -> Any:
        """The market-data API (None before ``start``)."""
        return self.state.md

    @property
    def clmap(self) -> ClMap:
        """Client id <-> CTP order keys, durable."""
        return self.state.clmap

    @property
    def tracker(self) -> OrderTracker:
        """The order tracker."""
        return self.state.tracker

    @property
    def books(self) -> DepthBooks:
        """The depth books."""
        return self.state.books

    @property
    def instruments(self) -> Instruments | None:
        """The instrument list with the latest rates (None until CTP lists them)."""
        return self.state.instruments

    @property
    def logged_in(self) -> bool:
        """The trader front's login chain has finished."""
        return self.state.logged_in

    @property
    def fence(self) -> EpochFence:
        """The account's fencing epochs (order entry's)."""
        return self.oe.fence

    @property
    def ready(self) -> asyncio.Event:
        """Set once logged in with the instrument list."""
        return self.ctp.ready

    # --- the bridge from the API threads ------------------------------------------------------

    def post(self, name: str, args: tuple[Any, ...]) -> None:
        """Called on a CTP thread: queue the event for the loop."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (name, args))

    # --- sockets ------------------------------------------------------------------------------

    def bind(self, curve: ServerKeys | None = None) -> None:
        """Bind md XPUB, ref ROUTER and oe ROUTER at the venue's addresses (``GatewaySockets``:
        the oe replies never drop silently); CURVE servers with ``curve`` (default:
        ``CMC_CURVE_SECRET`` / ``CMC_CURVE_ALLOW``, set by the command's ``--curve-secret`` /
        ``--curve-allow``; neither: plain)."""
        self.md_sock, self.ref_sock, self.oe_sock = self.io.bind(self.venue, self.sock_dir, curve)

    def send(self, ident: bytes, msg: Any) -> None:
        """One oe frame to ``ident`` (dropped if the peer is gone: the engine queries)."""
        payload = self.enc.encode(msg)
        creds = self.state.creds
        for secret in (creds.get("password"), creds.get("auth")):
            if secret and secret.encode() in payload:
                payload = self.enc.encode(Error(code="internal", msg="reply withheld"))
        self.io.reply(self.oe_sock, ident, payload)

    def publish(self, topic: str, msg: Any) -> None:
        """One md frame."""
        self.md_sock.send_multipart([topic.encode(), self.enc.encode(msg)], flags=zmq.NOBLOCK)

    # --- the loops ----------------------------------------------------------------------------

    async def _event_loop(self) -> None:
        while True:
            try:
                name, args = await asyncio.wait_for(self.events.get(), POLL_MS / 1000)
            except TimeoutError:
                continue
            try:
                self.ctp.handle(name, args)
            except Exception:  # noqa: BLE001 - one bad report must not stop the gateway
                logger.exception("{}: handling {} failed", self.venue.name, name)

    async def _frames(self, sock: zmq.asyncio.Socket) -> list[list[bytes]]:
        return await ready_frames(sock, POLL_MS)

    async def _ref_loop(self) -> None:
        st = self.state
        while True:
            for fr in await self._frames(self.ref_sock):
                req = reply = decode_request(fr, self.ref_dec)  # the request or its Error
                if isinstance(req, InstrumentsReq):
                    reply = st.instruments or Instruments(list=[], v=2)
                elif isinstance(req, SnapshotReq):
                    reply = (st.books.snapshot(req.sym, st.now_ns()) if req.sym in st.ticks
                             else Error(code="unknown_symbol", msg=f"no symbol {req.sym!r}"))
                self.io.reply(self.ref_sock, fr[0], self.enc.encode(reply))

    async def _oe_loop(self) -> None:
        while True:
            for fr in await self._frames(self.oe_sock):
                req = decode_request(fr, self.oe_dec)
                if isinstance(req, Error):
                    self.send(fr[0], req)
                    continue
                try:
                    self.oe.request(fr[0], req)
                except Exception:  # noqa: BLE001 - one bad request must not stop order entry
                    logger.exception("{}: handling {} failed", self.venue.name,
                                     type(req).__name__)
                    self.send(fr[0], Error(code="internal", msg=type(req).__name__))

    async def _sub_loop(self) -> None:
        """A new md subscription is answered with the current session ``status`` of the symbols
        it covers (``status.SessionStates``)."""
        sessions = self.state.sessions
        await answer_subscriptions(self.md_sock, POLL_MS,
                                   lambda prefix: sessions.status_for(prefix, self.now_ns()),
                                   self.publish)

    async def _hb_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cc.hb_interval_ms / 1000)
            self.publish("hb", Heartbeat(ts=self.now_ns(), seqs=dict(self.books.seqs)))

    # --- start / stop -------------------------------------------------------------------------

    def start(self, apis: tuple[Any, Any] | None = None) -> None:
        """Bind, start the loop tasks and the APIs (``apis``: stand-ins for tests)."""
        self.loop = asyncio.get_running_loop()
        self.bind()
        self.state.td, self.state.md = apis or real_apis(self.cc, self.venue.name, self.td_spi,
                                                         self.md_spi)
        self.tasks = [self.loop.create_task(c) for c in (
            self._event_loop(), self._ref_loop(), self._oe_loop(), self._sub_loop(),
            self._hb_loop(),
            self.queries.run())]

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
        self.io.close()


__all__ = ["CtpGateway", "credentials", "real_apis"]
