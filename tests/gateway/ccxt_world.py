"""The ccxt gateway's test world: a config with ccxt venues pointed at the local fakes, the
gateway run in process (its own thread and event loop) or as the real ``cmc gateway ccxt``
subprocess, and the engine's side of the protocol on real ZeroMQ sockets.

Every receive has a timeout; waits are on conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from tests.gateway.ccxt_conf import CONF, ENV, SECRETS, cred_env, creds_of, write_conf
from transports.clock import LiveClock
from transports.config.engine import AppConfig
from transports.venues.ccxt.gateway import CcxtGateway, run_gateway
from transports.venues.sim.gateway import address
from transports.wire.codec import Codec, encode
from transports.wire.venue_msgs import (
    Delta,
    Heartbeat,
    InstrumentsReq,
    MdMessage,
    OeReply,
    RefReply,
    Snapshot,
    SnapshotReq,
)

ROOT = Path(__file__).resolve().parents[2]
CLOCK = LiveClock()


def _now_s() -> float:
    return CLOCK.mono_ns() / 1e9
def wait_until(pred: Callable[[], Any], timeout_s: float, what: str,
               step_s: float = 0.01) -> Any:
    """Poll ``pred`` until it is truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = _now_s() + timeout_s
    while True:
        got = pred()
        if got:
            return got
        if _now_s() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        threading.Event().wait(step_s)


class GatewayThread:
    """``run_gateway`` on its own event loop in a thread (stopped by ``stop``)."""

    def __init__(self, cfg: AppConfig, venue: str, sock_dir: str, fake_base: str, *,
                 account: str, trace: bool = True) -> None:
        self.cfg, self.venue, self.sock_dir, self.fake_base = cfg, venue, sock_dir, fake_base
        self.creds, self.trace = creds_of(account), trace
        self.gw: CcxtGateway | None = None
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"gw-{venue}", daemon=True)

    def _main(self) -> None:
        async def go() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(gw: CcxtGateway) -> None:
                self.gw = gw
                self._ready.set()

            await run_gateway(self.cfg, self.venue, self.sock_dir, stop_event=self._stop,
                              fake_base=self.fake_base, credentials=self.creds,
                              trace=self.trace, ready=ready)

        try:
            asyncio.run(go())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
            self._ready.set()

    def start(self, timeout_s: float = 20.0) -> GatewayThread:
        """Start and wait until the gateway serves."""
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise AssertionError(f"gateway {self.venue} not ready within {timeout_s}s")
        if self.error is not None:
            raise self.error
        return self

    def call(self, fn: Callable[[], Any], timeout_s: float = 5.0) -> Any:
        """Run ``fn`` on the gateway's loop (a consistent view of its state)."""
        assert self.loop is not None

        async def wrapped() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout_s)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop and join."""
        if self.loop is not None and self._stop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "gateway thread did not stop"

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GatewayProcess:
    """``cmc gateway ccxt ...`` as a subprocess (stdout READY line, stderr to a file)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args, self.env = args, env
        self.stderr_path = Path(tempfile.mkdtemp(prefix="cmct-gw-")) / "stderr.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_line = ""

    def start(self, timeout_s: float = 30.0) -> GatewayProcess:
        """Start; wait for ``READY`` (``AssertionError`` with the stderr tail if it exits)."""
        env = {**os.environ, **self.env}
        env.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "cmc-numba-cache"))
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", *self.args],
                                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err)
        assert self.proc.stdout is not None
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = _now_s() + timeout_s
        buf = b""
        while _now_s() < deadline and b"\n" not in buf:
            if sel.select(timeout=0.2):
                chunk = os.read(self.proc.stdout.fileno(), 256)
                if not chunk:
                    break
                buf += chunk
        sel.close()
        self.ready_line = buf.decode(errors="replace").strip()
        return self

    def wait_exit(self, timeout_s: float = 15.0) -> int:
        """Wait for the process to exit; its code."""
        assert self.proc is not None
        return self.proc.wait(timeout_s)

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM and wait; the exit code."""
        p = self.proc
        assert p is not None
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout_s)
        if p.stdout is not None:
            p.stdout.close()
        return p.returncode

    def stderr(self) -> str:
        """Everything the process logged."""
        return self.stderr_path.read_text(errors="replace")


class Engine:
    """The engine's side of one venue: oe DEALER (identity = account), ref DEALER, md SUB.

    Every frame received is kept (``frames``: raw bytes, for the secret check) and decoded by
    the engine's own codecs. ``book`` follows the md stream as the engine's Feed does: a
    snapshot, then deltas seq+1; any gap or reset is recorded in ``gaps``.
    """

    def __init__(self, ctx: zmq.Context[Any], cfg: AppConfig, venue: str, sock_dir: str,
                 sym: str) -> None:
        v = next(x for x in cfg.venues if x.name == venue)
        self.sym = sym
        self.oe = ctx.socket(zmq.DEALER)
        self.oe.setsockopt(zmq.IDENTITY, v.account.encode())
        self.oe.setsockopt(zmq.LINGER, 0)
        self.oe.connect(address(v.oe, sock_dir))
        self.ref = ctx.socket(zmq.DEALER)
        self.ref.setsockopt(zmq.LINGER, 0)
        self.ref.connect(address(v.ref, sock_dir))
        self.md = ctx.socket(zmq.SUB)
        self.md.setsockopt(zmq.LINGER, 0)
        self.md.setsockopt(zmq.SUBSCRIBE, f"md.{sym}".encode())
        self.md.setsockopt(zmq.SUBSCRIBE, b"hb")
        self.md.connect(address(v.md, sock_dir))
        self.oe_codec: Codec[Any] = Codec(OeReply)
        self.md_codec: Codec[Any] = Codec(MdMessage)
        self.ref_codec: Codec[Any] = Codec(RefReply)
        self.oe_log: list[Any] = []
        self.md_log: list[tuple[float, Any]] = []
        self.frames: list[bytes] = []
        self.book: dict[str, dict[int, int]] | None = None
        self.seq = 0
        self.pending: list[Delta] = []
        self.gaps: list[tuple[int, int]] = []

    def close(self) -> None:
        """Close the sockets."""
        for s in (self.oe, self.ref, self.md):
            s.close(linger=0)

    # --- ref --------------------------------------------------------------------------------

    def ref_request(self, msg: Any, timeout_s: float = 5.0) -> Any:
        """One ref request and its reply."""
        self.ref.send(encode(msg))
        if not self.ref.poll(int(timeout_s * 1000)):
            raise AssertionError(f"no ref reply to {msg!r} within {timeout_s}s")
        frame = self.ref.recv_multipart()[-1]
        self.frames.append(frame)
        return self.ref_codec.decode(frame)

    def instruments(self) -> Any:
        """The ``instruments`` reply."""
        return self.ref_request(InstrumentsReq())

    # --- oe ---------------------------------------------------------------------------------

    def send(self, msg: Any) -> None:
        """Send an oe request."""
        self.oe.send(encode(msg))

    def pump_oe(self, timeout_s: float = 0.05) -> None:
        """Receive whatever oe frames arrive within ``timeout_s``."""
        if self.oe.poll(int(timeout_s * 1000)):
            while True:
                try:
                    frame = self.oe.recv_multipart(zmq.NOBLOCK)[-1]
                except zmq.Again:
                    break
                self.frames.append(frame)
                self.oe_log.append(self.oe_codec.decode(frame))

    def wait_oe(self, pred: Callable[[Any], bool], timeout_s: float, what: str) -> Any:
        """The first oe message (received so far or later) satisfying ``pred``."""
        deadline = _now_s() + timeout_s
        while True:
            for m in self.oe_log:
                if pred(m):
                    return m
            if _now_s() > deadline:
                raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; got "
                                     f"{self.oe_log[-10:]!r}")
            self.pump_oe(0.05)

    def of(self, kind: type, cl: str | None = None) -> list[Any]:
        """oe messages of a type (and client id) received so far."""
        return [m for m in self.oe_log if isinstance(m, kind)
                and (cl is None or getattr(m, "cl", None) == cl)]

    # --- md ---------------------------------------------------------------------------------

    def pump_md(self, timeout_s: float = 0.05) -> None:
        """Receive md frames for ``timeout_s``, following the book like the engine's Feed."""
        deadline = _now_s() + timeout_s
        while True:
            left = deadline - _now_s()
            if not self.md.poll(max(0, int(left * 1000))):
                return
            while True:
                try:
                    frame = self.md.recv_multipart(zmq.NOBLOCK)[-1]
                except zmq.Again:
                    break
                self.frames.append(frame)
                msg = self.md_codec.decode(frame)
                self.md_log.append((_now_s(), msg))
                if isinstance(msg, Delta) and msg.sym == self.sym:
                    self._on_delta(msg)
                elif isinstance(msg, Heartbeat) and self.book is not None:
                    s = msg.seqs.get(self.sym, 0)
                    if s > self.seq:
                        self.gaps.append((self.seq, s))

    def _on_delta(self, d: Delta) -> None:
        if self.book is None:
            self.pending.append(d)
            return
        if d.seq <= self.seq:  # already in the snapshot (the engine drops it too)
            return
        if d.seq != self.seq + 1:
            self.gaps.append((self.seq, d.seq))
        self._apply(d)

    def _apply(self, d: Delta) -> None:
        assert self.book is not None
        for side, lv in (("b", d.b), ("a", d.a)):
            for px, q in lv:
                if q:
                    self.book[side][px] = q
                else:
                    self.book[side].pop(px, None)
        self.seq = d.seq

    def sync(self, timeout_s: float = 10.0) -> None:
        """Take a snapshot and apply the buffered deltas after it (the engine's resync)."""
        self.pump_md(0.2)
        snap = self.ref_request(SnapshotReq(sym=self.sym))
        assert isinstance(snap, Snapshot), snap
        self.book = {"b": dict(snap.b), "a": dict(snap.a)}
        self.seq = snap.seq
        for d in self.pending:
            if d.seq > self.seq:
                if d.seq != self.seq + 1:
                    self.gaps.append((self.seq, d.seq))
                self._apply(d)
        self.pending = []
        wait_until(lambda: self.seq > 0 or self.pump_md(0.05), timeout_s, "a first delta")


__all__ = ["CLOCK", "CONF", "ENV", "SECRETS", "Engine", "GatewayProcess", "GatewayThread",
           "cred_env", "creds_of", "wait_until", "write_conf"]
