"""The simulator gateway and the paper gateway for real, each in a thread, over ipc sockets
(no tests here). ``World`` starts and stops them and hands out connected sockets; every receive
waits on a deadline."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import msgspec
import zmq

from transports.clock import LiveClock
from transports.config.engine import AppConfig
from transports.venues.paper.gateway import serve_paper
from transports.venues.sim.gateway import serve

CLOCK = LiveClock()
ENC = msgspec.msgpack.Encoder()


def deadline(seconds: float) -> int:
    """A monotonic deadline ``seconds`` from now."""
    return CLOCK.mono_ns() + int(seconds * 1e9)


def recv(sock: zmq.Socket[Any], timeout_ms: int = 3000) -> list[bytes]:
    """One multipart message, or fail after ``timeout_ms``."""
    assert sock.poll(timeout_ms, zmq.POLLIN), "no message before the deadline"
    return sock.recv_multipart()


def ask(sock: zmq.Socket[Any], req: Any) -> dict[str, Any]:
    """Send one request (a struct or a map) and decode the next reply."""
    sock.send(ENC.encode(req))
    reply: dict[str, Any] = msgspec.msgpack.decode(recv(sock)[-1])
    return reply


def reports_until(sock: zmq.Socket[Any], done: Callable[[list[dict[str, Any]]], bool],
                  timeout_s: float = 5.0) -> list[dict[str, Any]]:
    """Reports from an oe DEALER until ``done(reports)`` holds; fail at the deadline."""
    out: list[dict[str, Any]] = []
    end = deadline(timeout_s)
    while not done(out):
        left_ms = (end - CLOCK.mono_ns()) // 1_000_000
        assert left_ms > 0, f"reports so far: {out}"
        out.append(msgspec.msgpack.decode(recv(sock, int(left_ms))[-1]))
    return out


class World:
    """The simulator (``sim_cfg``) and the paper venue (``cfg``'s ``comex-paper``) on one
    socket directory."""

    def __init__(self, cfg: AppConfig, sim_cfg: AppConfig, sock_dir: str) -> None:
        self.cfg, self.sim_cfg, self.sock_dir = cfg, sim_cfg, sock_dir
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.socks: list[zmq.Socket[Any]] = []
        self.sim_stop = threading.Event()
        self.paper_stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.result: dict[str, Any] = {}

    def _thread(self, name: str, fn: Callable[[], None], timeout_s: float,
                ready: threading.Event) -> threading.Thread:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - the test reads it
                self.result[f"{name}_error"] = exc
                ready.set()

        th = threading.Thread(target=run, name=name, daemon=True)
        th.start()
        self.threads.append(th)
        assert ready.wait(timeout_s), f"{name} not ready"
        assert f"{name}_error" not in self.result, self.result[f"{name}_error"]
        return th

    def start_sim(self) -> threading.Thread:
        self.sim_stop = threading.Event()
        ready = threading.Event()

        def fn() -> None:
            self.result["sim"] = serve(self.sim_cfg, self.sock_dir, self.ctx, clock=CLOCK,
                                       stop=self.sim_stop, ready=ready.set)

        return self._thread("sim", fn, 10, ready)

    def start_paper(self, venue: str = "comex-paper") -> threading.Thread:
        ready = threading.Event()

        def fn() -> None:
            self.result["paper"] = serve_paper(self.cfg, venue, self.sock_dir,
                                               stop=self.paper_stop, ready=ready.set,
                                               ctx=self.ctx)

        return self._thread("paper", fn, 15, ready)

    def sock(self, kind: int, venue: str, which: str, ident: bytes | None = None,
             subscribe: tuple[bytes, ...] = (), rcvhwm: int = 1000) -> zmq.Socket[Any]:
        v = next(v for v in self.cfg.venues if v.name == venue)
        s = self.ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, rcvhwm)  # the receive queue, in frames (before connect)
        if ident is not None:
            s.setsockopt(zmq.IDENTITY, ident)
        for topic in subscribe:
            s.setsockopt(zmq.SUBSCRIBE, topic)
        s.connect(getattr(v, which).replace("{sock}", self.sock_dir))
        self.socks.append(s)
        return s

    def stop_paper(self) -> dict[str, Any]:
        """Stop the paper gateway; its truth."""
        self.paper_stop.set()
        for th in self.threads:
            if th.name == "paper":
                th.join(10)
                assert not th.is_alive()
        truth: dict[str, Any] = self.result["paper"]
        return truth

    def stop_sim(self) -> None:
        self.sim_stop.set()
        for th in self.threads:
            if th.name == "sim":
                th.join(10)
                assert not th.is_alive()

    def close(self) -> None:
        self.paper_stop.set()
        self.sim_stop.set()
        for th in self.threads:
            th.join(10)
        for s in self.socks:
            s.close(linger=0)
        self.ctx.term()
