"""``cmc bench gateway --venue ccxt-fake``: what a real-venue gateway adds, beside the simulator
gateway, in one run on the same market.

Both gateways serve the same venue (Binance spot BTCUSDT of ``conf/demo-crypto.toml``, venue
latency set to 0) and are measured from a plain ZeroMQ client speaking the protocol:

- **md**: the venue's stamp of a book change -> the protocol frame received by the client.
  Simulator: the delta's ``ts`` is the simulator's stamp. ccxt: the fake records each depth
  diff's update id with its stamp (``GET /__fake__/trace``), the gateway's trace ties each
  delta's seq to the exchange update id it came from and stamps the websocket receive and the
  frame send. Reported: stamp -> client receive for both, and the ccxt path's parts (fake stamp
  -> gateway websocket receive, gateway receive -> frame sent).
- **orders**: one IOC order at a time (buy then sell, 1 lot, crossing): protocol ``new`` sent
  -> first report received (round trip). For ccxt the fake's own handling of each order request
  (its REST receive -> response, from its trace) is subtracted: what is left is what the gateway
  and the transports add (protocol ``new`` -> the fake's receive, and back).

Medians and p99 in microseconds; the target for the ccxt gateway is <= 500 us p50 added per md
update and per order. Processes: the fake (``cmc fake-exchange``), the ccxt gateway (traced, a
child of this module's ``_traced_gateway``) and the simulator (``cmc gateway sim``), one at a
time; the client is this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import zmq

from scripts.launch.process import GatewayProcess, new_sock_dir
from scripts.progress import Progress, progress_bar
from transports.clock import LiveClock
from transports.config.engine import AppConfig, load_config
from transports.venues.sim.gateway import address
from transports.wire.venue_msgs import Delta, NewOrder, md_topic

VENUE = "binance"
SYM = "BTCUSDT"
CONF = Path(__file__).resolve().parents[2] / "conf" / "demo-crypto.toml"


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * len(s)))], 1)


def _stats(xs_ns: list[int]) -> dict[str, Any]:
    us = [x / 1000 for x in xs_ns]
    return {"n": len(us), "p50_us": _pct(us, 0.5), "p99_us": _pct(us, 0.99)}


def bench_conf(tmp: Path, *, via_sim: bool, md_interval_ms: int) -> Path:
    """The demo-crypto world with no venue latency; ``via_sim``: the Binance venue served by the
    simulator gateway instead of a ccxt gateway."""
    text = CONF.read_text()
    text = text.replace("latency_us = 200", "latency_us = 0")
    text = text.replace("md_interval_ms = 50", f"md_interval_ms = {md_interval_ms}")
    if via_sim:  # drop the venue's [venues.ccxt] table: the simulator serves it
        start = text.index("[venues.ccxt]\nexchange = \"binance\"\nmarket = \"spot\"")
        end = text.index("[[venues]]", start)
        text = text[:start] + text[end:]
    path = tmp / ("bench-sim.toml" if via_sim else "bench-ccxt.toml")
    path.write_text(text)
    return path


class _Client:
    """A protocol client: SUB on md, DEALER on oe (identity = the venue's account)."""

    def __init__(self, cfg: AppConfig, sock_dir: str, ctx: zmq.Context[Any]) -> None:
        v = next(x for x in cfg.venues if x.name == VENUE)
        self.account = v.account
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.SUBSCRIBE, md_topic(SYM).encode())
        self.sub.connect(address(v.md, sock_dir))
        self.oe = ctx.socket(zmq.DEALER)
        self.oe.setsockopt(zmq.LINGER, 0)
        self.oe.setsockopt(zmq.IDENTITY, v.account.encode())
        self.oe.connect(address(v.oe, sock_dir))
        self.clock = LiveClock()
        self.dec = msgspec.msgpack.Decoder()

    def collect_md(self, seconds: float, bar: Progress | None = None) -> list[tuple[int, int, int]]:
        """(seq, delta ts, receive ns) of every delta for ``seconds``; ``bar`` is moved at most
        twice a second, after a frame was stamped (a terminal write never delays a stamp)."""
        out: list[tuple[int, int, int]] = []
        start = self.clock.mono_ns()
        end = start + int(seconds * 1e9)
        next_bar = start
        while self.clock.mono_ns() < end:
            if self.sub.poll(100):
                _topic, payload = self.sub.recv_multipart()
                rx = self.clock.now_ns()
                m = self.dec.decode(payload)
                if m.get("t") == "delta":
                    out.append((int(m["seq"]), int(m["ts"]), rx))
            if bar is not None and self.clock.mono_ns() >= next_bar:
                next_bar += 500_000_000
                bar.to((self.clock.mono_ns() - start) / 1e9)
        return out

    def touch(self, timeout_s: float = 10.0) -> tuple[int, int]:
        """(best bid, best ask) in ticks from the deltas (a fresh book, by snapshot-free
        accumulation of the top levels the deltas carry)."""
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        end = self.clock.mono_ns() + int(timeout_s * 1e9)
        while self.clock.mono_ns() < end:
            if not self.sub.poll(100):
                continue
            m = self.dec.decode(self.sub.recv_multipart()[1])
            if m.get("t") != "delta":
                continue
            d = msgspec.convert(m, Delta)
            for side, lv in ((bids, d.b), (asks, d.a)):
                for px, q in lv:
                    if q:
                        side[px] = q
                    else:
                        side.pop(px, None)
            if bids and asks and max(bids) < min(asks):
                return max(bids), min(asks)
        raise RuntimeError("no two-sided book from the gateway")

    def orders(self, n: int, tag: str, bar: Progress | None = None) -> list[int]:
        """Round trips (ns) of ``n`` IOC orders, one at a time, alternating buy and sell across
        the touch; ``bar`` moves once an order, after its reports were drained."""
        rtts: list[int] = []
        for i in range(n):
            bid, ask = self.touch()
            side = "B" if i % 2 == 0 else "S"
            px = ask + 50 if side == "B" else bid - 50
            cl = f"9.{tag}.{i}.0"
            t0 = self.clock.now_ns()
            self.oe.send(msgspec.msgpack.encode(NewOrder(cl=cl, sym=SYM, side=side, px=px, qty=1,
                                                         tif="IOC", ts=t0)))
            deadline = self.clock.mono_ns() + 5_000_000_000
            while self.clock.mono_ns() < deadline:
                if not self.oe.poll(100):
                    continue
                m = self.dec.decode(self.oe.recv())
                if m.get("cl") == cl and m.get("t") in ("ack", "fill", "done", "reject"):
                    rtts.append(self.clock.now_ns() - t0)
                    break
            # drain the rest of this order's reports before the next one
            while self.oe.poll(30):
                self.oe.recv()
            if bar is not None:
                bar.advance()
        return rtts


def _measure(c: _Client, name: str, seconds: float, n_orders: int, tag: str,
             progress: bool) -> tuple[list[tuple[int, int, int]], list[int]]:
    """The md window then the orders of one gateway, each with its bar (on a terminal)."""
    with progress_bar(seconds, f"{name} md", "s", enabled=progress) as bar:
        md = c.collect_md(seconds, bar)
    with progress_bar(n_orders, f"{name} orders", "order", enabled=progress) as bar:
        rtts = c.orders(n_orders, tag, bar)
    return md, rtts


def _run_sim(tmp: Path, seconds: float, n_orders: int, md_ms: int,
             progress: bool = False) -> dict[str, Any]:
    conf = bench_conf(tmp, via_sim=True, md_interval_ms=md_ms)
    cfg = load_config(conf)
    sock = new_sock_dir()
    sim = GatewayProcess("simulator", ["gateway", "sim", "--sock", sock, "--conf", str(conf)],
                         tmp / "sim.log")
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        sim.wait_ready()
        c = _Client(cfg, sock, ctx)
        md, rtts = _measure(c, "sim", seconds, n_orders, "s", progress)
    finally:
        sim.stop()
        ctx.destroy(linger=0)
    return {"md_stamp_to_client": _stats([rx - ts for _s, ts, rx in md]),
            "order_round_trip": _stats(rtts)}


def _http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:  # loopback: our own fake
        return json.loads(r.read())


def _run_ccxt(tmp: Path, seconds: float, n_orders: int, md_ms: int,
              progress: bool = False) -> dict[str, Any]:
    conf = bench_conf(tmp, via_sim=False, md_interval_ms=md_ms)
    cfg = load_config(conf)
    sock = new_sock_dir()
    fake = GatewayProcess("fake binance", ["fake-exchange", "binance", "--port", "0", "--conf",
                                           str(conf)], tmp / "fake.log")
    gw: subprocess.Popen[bytes] | None = None
    ctx: zmq.Context[Any] = zmq.Context()
    trace_out = tmp / "gateway-trace.json"
    try:
        port = int(fake.wait_ready().split()[0])
        base = f"http://127.0.0.1:{port}"
        v = next(x for x in cfg.venues if x.name == VENUE)
        assert v.ccxt is not None
        env = {**os.environ, f"{v.ccxt.credentials_env}_KEY": v.account,
               f"{v.ccxt.credentials_env}_SECRET": f"{v.account}-secret"}
        gw = subprocess.Popen([sys.executable, "-m", "scripts.bench.venue_gateways", str(conf),
                               sock, base, str(trace_out)], stdout=subprocess.PIPE,
                              stderr=open(tmp / "gateway.log", "wb"), env=env)  # noqa: SIM115
        assert gw.stdout is not None
        line = gw.stdout.readline().decode()
        if not line.startswith("READY"):
            raise RuntimeError(f"traced gateway did not start: {line!r}; see {tmp}/gateway.log")
        c = _Client(cfg, sock, ctx)
        md, rtts = _measure(c, "ccxt", seconds, n_orders, "c", progress)
        fake_trace = _http_json(f"{base}/__fake__/trace")
    finally:
        if gw is not None:
            gw.terminate()
            gw.wait(30)
        fake.stop()
        ctx.destroy(linger=0)
    tr = json.loads(trace_out.read_text())
    stamp = {int(u): int(ts) for venue, sym, u, ts in fake_trace["md"]
             if venue == VENUE and sym == SYM}
    gw_md = {int(seq): (int(nonce), int(rx), int(sent))
             for sym, seq, nonce, _ms, rx, sent in tr["md"] if sym == SYM}
    to_client, to_ws, in_gw = [], [], []
    for seq, _ts, rx in md:
        g = gw_md.get(seq)
        if g is None or g[0] not in stamp:
            continue
        s = stamp[g[0]]
        to_client.append(rx - s)
        to_ws.append(g[1] - s)
        in_gw.append(g[2] - g[1])
    posts = [t_out - t_in for method, path, t_in, t_out in fake_trace["http"]
             if method == "POST" and path == "/api/v3/order"]
    added = [r - f for r, f in zip(rtts, posts[-len(rtts):], strict=False)] if posts else []
    return {"md_stamp_to_client": _stats(to_client), "md_fake_to_gateway_ws": _stats(to_ws),
            "md_gateway_ws_to_frame": _stats(in_gw), "order_round_trip": _stats(rtts),
            "order_fake_handling": _stats(posts[-len(rtts):]),
            "order_added_by_gateway": _stats(added), "md_matched": len(to_client),
            "md_received": len(md)}


def run_gateway_bench(venue: str, *, quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Both gateways, one after the other, on the same market; returns the numbers.
    ``progress``: a bar per phase on a terminal (``scripts.progress``)."""
    if venue != "ccxt-fake":
        raise ValueError(f"unknown bench venue {venue!r} (known: ccxt-fake)")
    seconds, n_orders, md_ms = (3.0, 20, 20) if quick else (15.0, 200, 20)
    with tempfile.TemporaryDirectory(prefix="cmc-bench-gw-") as d:
        tmp = Path(d)
        sim = _run_sim(tmp, seconds, n_orders, md_ms, progress)
        cc = _run_ccxt(tmp, seconds, n_orders, md_ms, progress)
    md_added = None
    if cc["md_stamp_to_client"]["p50_us"] is not None and sim["md_stamp_to_client"]["p50_us"]:
        md_added = round(cc["md_stamp_to_client"]["p50_us"] - sim["md_stamp_to_client"]["p50_us"],
                         1)
    return {"venue": venue, "seconds": seconds, "orders": n_orders, "md_interval_ms": md_ms,
            "sim": sim, "ccxt_fake": cc,
            "ccxt_vs_sim": {"md_p50_added_us": md_added,
                            "order_p50_added_us": cc["order_added_by_gateway"]["p50_us"]},
            "target_p50_us": 500}


def print_table(r: dict[str, Any]) -> None:
    """Human-readable rows."""
    def row(name: str, s: dict[str, Any]) -> str:
        return f"  {name:<34} p50 {s['p50_us']!s:>9} us   p99 {s['p99_us']!s:>9} us   n {s['n']}"

    print(f"cmc bench gateway --venue {r['venue']} ({r['seconds']} s of md, {r['orders']} orders)")
    print(" simulator gateway")
    print(row("md: stamp -> client", r["sim"]["md_stamp_to_client"]))
    print(row("order: new -> first report", r["sim"]["order_round_trip"]))
    print(" ccxt gateway on the Binance fake")
    for k in ("md_stamp_to_client", "md_fake_to_gateway_ws", "md_gateway_ws_to_frame",
              "order_round_trip", "order_fake_handling", "order_added_by_gateway"):
        print(row(k.replace("_", " "), r["ccxt_fake"][k]))
    a = r["ccxt_vs_sim"]
    print(f" added p50: md {a['md_p50_added_us']} us (vs the simulator's path), "
          f"order {a['order_p50_added_us']} us (target <= {r['target_p50_us']} us)")


def _traced_gateway(conf: str, sock: str, base: str, out: str) -> int:
    """Child process: the ccxt gateway with its traces on, written to ``out`` at SIGTERM."""
    import asyncio
    import signal

    from loguru import logger

    from transports.venues.ccxt.gateway import run_gateway

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    cfg = load_config(conf)

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        gw = await run_gateway(cfg, VENUE, sock, stop_event=stop, fake_base=base, trace=True,
                               ready=lambda _g: print("READY", flush=True))
        md = list(gw.md.trace or [])
        Path(out).write_text(json.dumps({"md": md, "oe": gw.oe.trace or []}))

    asyncio.run(main())
    return 0


if __name__ == "__main__":
    sys.exit(_traced_gateway(*sys.argv[1:5]))
