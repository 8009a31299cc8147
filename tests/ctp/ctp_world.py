"""A CTP gateway in a loop thread, its API replaced by recorders with the real API's ``Req*``
names, its SPIs called (from this, a non-loop thread, like CTP's own) with real
``CThostFtdc*Field`` structures, and an engine side of real ZeroMQ sockets."""

from __future__ import annotations

import asyncio
import gc
import threading
from pathlib import Path
from typing import Any

import msgspec
import zmq
from openctp_ctp import thostmduserapi as mdapi
from openctp_ctp import thosttraderapi as tdapi

from actors.runtime.node import build_shells
from transports.clock import LiveClock
from transports.config.engine import AppConfig, load_config_bytes
from transports.latency import LatencyRecorder
from transports.venues.ctp.gateway import CtpGateway
from transports.wire.venue_msgs import MdMessage, OeReply, RefReply

WAIT_S = 5.0
CLOCK = LiveClock()


def _mono_s() -> float:
    return CLOCK.mono_ns() / 1e9

CONF = """
[[venues]]
name = "shfe"
md = "ipc://{sock}/shfe-md"
ref = "ipc://{sock}/shfe-ref"
oe = "ipc://{sock}/shfe-oe"
account = "acct"
[venues.ctp]
md_front = "tcp://127.0.0.1:1"
td_front = "tcp://127.0.0.1:2"
broker_id = "9999"
user_id = "u1"
app_id = "app"
query_interval_ms = 50
hb_interval_ms = 100
state_dir = "STATE"
[[contracts]]
venue = "shfe"
sym = "au2612"
tick = "0.02"
multiplier = 1000
unit = "g"
ccy = "CNY"
fee_per_lot = 10.0
[[contracts]]
venue = "shfe"
sym = "m2701"
tick = "1"
multiplier = 10
unit = "t"
ccy = "CNY"
"""
CREDS = {"broker": "9999", "user": "u1", "app": "app", "password": "s3cret-pw",
         "auth": "auth-code-x"}


def make_cfg(state_dir: Path) -> AppConfig:
    """The test config with its state under ``state_dir``."""
    return load_config_bytes(CONF.replace("STATE", str(state_dir)).encode())


class RecordingApi:
    """Stands in for CThostFtdcTraderApi / CThostFtdcMdApi: records every ``Req*`` call and
    its request field; ``rc`` sets a method's return value (CTP: 0, -1, -2, -3); ``raises``
    makes a method raise after recording the call (as SWIG does on a field it cannot convert)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.rc: dict[str, int] = {}
        self.raises: dict[str, BaseException] = {}
        self.cv = threading.Condition()

    def _record(self, name: str, f: Any) -> int:
        with self.cv:
            self.calls.append((name, f))
            self.cv.notify_all()
        if name in self.raises:
            raise self.raises[name]
        return self.rc.get(name, 0)

    def wait(self, name: str, n: int = 1, timeout: float = WAIT_S) -> Any:
        """The ``n``-th call of ``name`` (1-based), waiting for it with a deadline."""
        with self.cv:
            ok = self.cv.wait_for(lambda: len(self.of(name)) >= n, timeout)
            assert ok, f"no {name} #{n}; calls: {[c[0] for c in self.calls]}"
            return self.of(name)[n - 1]

    def of(self, name: str) -> list[Any]:
        """Request fields of every call of ``name``."""
        return [f for c, f in self.calls if c == name]

    def __getattr__(self, name: str) -> Any:
        if name.startswith(("Req", "Subscribe")):
            return lambda f, *rest: self._record(name, f)
        raise AttributeError(name)


def rsp_info(error_id: int = 0, msg: str = "") -> Any:
    """A real CThostFtdcRspInfoField."""
    r = tdapi.CThostFtdcRspInfoField()
    r.ErrorID, r.ErrorMsg = error_id, msg
    return r


def instrument(sym: str, exchange: str, tick: float, mult: int) -> Any:
    """A real CThostFtdcInstrumentField."""
    f = tdapi.CThostFtdcInstrumentField()
    f.InstrumentID, f.ExchangeID, f.PriceTick, f.VolumeMultiple = sym, exchange, tick, mult
    f.ExpireDate, f.MinLimitOrderVolume, f.MaxLimitOrderVolume = "20261215", 1, 500
    f.LongMarginRatio = 0.08
    return f


def engine_md_topics(cfg: AppConfig, venue: str) -> tuple[bytes, ...]:
    """The md topics the engine's own feed subscribes to for ``venue`` (its ``FeedShell``,
    built as a node builds it): what a gateway must publish on, or the engine sees nothing."""
    feed = f"feed.{venue}"
    shell = build_shells(cfg, "/nonexistent", LiveClock(), LatencyRecorder(), None, {feed})[feed]
    return next(spec.subscribe for spec in shell.socket_specs() if spec.key == "md")


class World:
    """The gateway on its loop thread, the recorders, and engine sockets."""

    def __init__(self, tmp: Path, oe_rcvhwm: int = 1000) -> None:
        self.tmp = tmp
        self.sock_dir = str(tmp / "sock")
        self.cfg = make_cfg(tmp / "state")
        self.td, self.md = RecordingApi(), RecordingApi()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.gw: CtpGateway = self._call(self._make())
        self.ctx = zmq.Context()
        self.oe = self.ctx.socket(zmq.DEALER)
        self.oe.setsockopt(zmq.IDENTITY, b"acct")
        self.oe.setsockopt(zmq.RCVHWM, oe_rcvhwm)  # the engine's receive queue, in frames
        self.oe.setsockopt(zmq.LINGER, 0)
        self.oe.connect(f"ipc://{self.sock_dir}/shfe-oe")
        self.ref = self.ctx.socket(zmq.DEALER)
        self.ref.setsockopt(zmq.LINGER, 0)
        self.ref.connect(f"ipc://{self.sock_dir}/shfe-ref")
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.connect(f"ipc://{self.sock_dir}/shfe-md")
        for topic in engine_md_topics(self.cfg, "shfe"):  # as the engine subscribes
            self.sub.setsockopt(zmq.SUBSCRIBE, topic)
        self.oe_dec = msgspec.msgpack.Decoder(OeReply)
        self.md_dec = msgspec.msgpack.Decoder(MdMessage)
        self.ref_dec = msgspec.msgpack.Decoder(RefReply)
        self.enc = msgspec.msgpack.Encoder()

    async def _make(self) -> CtpGateway:
        gw = CtpGateway(self.cfg, self.cfg.venues[0], self.sock_dir, dict(CREDS))
        gw.start(apis=(self.td, self.md))
        return gw

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT_S)

    def close(self) -> None:
        """Stop the gateway, the loop and the sockets."""
        self._call(self.gw.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT_S)
        self.loop.close()
        for s in (self.oe, self.ref, self.sub):
            s.close(0)
        self.ctx.term()
        # free the SWIG director SPIs here, not in a later GC pass: their finalizers running
        # inside another module's ast.parse (pytest's assertion rewriting) make CPython 3.11
        # raise "AST constructor recursion depth mismatch"
        self.gw.td_spi = self.gw.md_spi = None  # type: ignore[assignment]
        self.td.calls.clear()
        self.md.calls.clear()
        gc.collect()

    # --- engine side ---------------------------------------------------------------------------

    def send(self, msg: Any) -> None:
        """One request on oe."""
        self.oe.send(self.enc.encode(msg))

    def recv(self, timeout: float = WAIT_S) -> Any:
        """The next oe reply (fails at the deadline)."""
        assert self.oe.poll(int(timeout * 1000)), "no oe reply"
        return self.oe_dec.decode(self.oe.recv_multipart()[-1])

    def recv_until(self, kind: type, timeout: float = WAIT_S) -> list[Any]:
        """oe replies up to and including the first of type ``kind``."""
        out: list[Any] = []
        end = _mono_s() + timeout
        while not out or not isinstance(out[-1], kind):
            out.append(self.recv(max(0.01, end - _mono_s())))
        return out

    def no_oe(self, within: float = 0.3) -> None:
        """Nothing arrives on oe within ``within`` s (after the gateway drained its queue)."""
        assert not self.oe.poll(int(within * 1000)), self.oe_dec.decode(
            self.oe.recv_multipart()[-1])

    def ref_req(self, msg: Any) -> Any:
        """One ref request and its reply."""
        self.ref.send(self.enc.encode(msg))
        assert self.ref.poll(int(WAIT_S * 1000)), "no ref reply"
        return self.ref_dec.decode(self.ref.recv_multipart()[-1])

    def md_next(self, topic: bytes = b"md.au2612", timeout: float = WAIT_S) -> Any:
        """The next md message on ``topic``."""
        end = _mono_s() + timeout
        while True:
            left = end - _mono_s()
            assert left > 0 and self.sub.poll(int(left * 1000)), "no md message"
            t, payload = self.sub.recv_multipart()
            if t == topic:
                return self.md_dec.decode(payload)

    # --- the CTP side ---------------------------------------------------------------------------

    def login(self, front: int = 1, session: int = 100, max_ref: str = "") -> None:
        """Run the whole trader login chain with real fields; the first login also loads
        the instruments. Waits for ``session`` up."""
        spi = self.gw.td_spi
        n_auth = len(self.td.of("ReqAuthenticate")) + 1
        spi.OnFrontConnected()
        self.td.wait("ReqAuthenticate", n_auth)
        spi.OnRspAuthenticate(tdapi.CThostFtdcRspAuthenticateField(), rsp_info(), 1, True)
        self.td.wait("ReqUserLogin", n_auth)
        rsp = tdapi.CThostFtdcRspUserLoginField()
        rsp.FrontID, rsp.SessionID, rsp.MaxOrderRef = front, session, max_ref
        rsp.TradingDay = "20261207"
        spi.OnRspUserLogin(rsp, rsp_info(), 2, True)
        self.td.wait("ReqSettlementInfoConfirm", n_auth)
        spi.OnRspSettlementInfoConfirm(tdapi.CThostFtdcSettlementInfoConfirmField(),
                                       rsp_info(), 3, True)
        if n_auth == 1:
            self.td.wait("ReqQryInstrument")
            rows = [instrument("au2612", "SHFE", 0.02, 1000), instrument("m2701", "DCE", 1, 10),
                    instrument("zz9999", "CZCE", 1, 10)]
            for i, r in enumerate(rows):
                spi.OnRspQryInstrument(r, None, 4, i == len(rows) - 1)
        replies = self.recv_until(type(self).session_type())
        assert replies[-1].state == "up", replies

    @staticmethod
    def session_type() -> type:
        from transports.wire.venue_msgs import Session
        return Session

    def md_login(self) -> None:
        """md front connected and logged in: subscribes."""
        self.gw.md_spi.OnFrontConnected()
        self.md.wait("ReqUserLogin")
        self.gw.md_spi.OnRspUserLogin(mdapi.CThostFtdcRspUserLoginField(), None, 1, True)
        self.md.wait("SubscribeMarketData")


__all__ = ["CREDS", "RecordingApi", "World", "instrument", "make_cfg", "rsp_info"]
