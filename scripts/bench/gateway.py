"""A load generator that speaks the venue gateway protocol, for ``cmc bench tick-to-trade``.

It serves snapshots on ref, publishes deltas for two instruments at a fixed rate on md (and one
FX rate), and answers every order on oe with an immediate ``reject`` so the strategy is flat
again for the next tick. It records when each order arrived. Run as its own process:

``python -m scripts.bench.gateway --sock DIR --rate R --seconds T --out FILE``
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

import click
import msgspec
import zmq

from transports.clock import LiveClock, sleep_s
from transports.wire.venue_msgs import (
    Delta,
    Heartbeat,
    NewOrder,
    OeRequest,
    Ping,
    Pong,
    RefRequest,
    Reject,
    Snapshot,
)

SYMS = {"bench-a": ("au2606", 30_700, 2), "bench-b": ("GCZ6", 26_500, 1)}
FX = ("USDCNH", 72_000)


def _levels(mid: int, side: int, qty: int) -> list[tuple[int, int]]:
    return [(mid + side * (1 + i), qty) for i in range(5)]


@click.command()
@click.option("--sock", "sock_dir", required=True)
@click.option("--rate", type=float, required=True, help="Ticks per second (both symbols).")
@click.option("--seconds", type=float, required=True)
@click.option("--warmup", type=int, default=400, help="Ticks sent slowly before measuring.")
@click.option("--out", "out_path", required=True)
def main(sock_dir: str, rate: float, seconds: float, warmup: int, out_path: str) -> None:
    """Serve the bench venues, send the ticks, write what arrived."""
    clock = LiveClock()
    ctx: zmq.Context[Any] = zmq.Context()
    enc = msgspec.msgpack.Encoder()
    ref_dec = msgspec.msgpack.Decoder(RefRequest)
    oe_dec = msgspec.msgpack.Decoder(OeRequest)
    socks: dict[str, dict[str, zmq.Socket[bytes]]] = {}
    poller = zmq.Poller()
    for venue in ("bench-a", "bench-b", "bench-fx"):
        md = ctx.socket(zmq.PUB)
        md.setsockopt(zmq.SNDHWM, 0)
        md.bind(f"ipc://{sock_dir}/{venue}-md")
        ref = ctx.socket(zmq.ROUTER)
        ref.bind(f"ipc://{sock_dir}/{venue}-ref")
        oe = ctx.socket(zmq.ROUTER)
        oe.bind(f"ipc://{sock_dir}/{venue}-oe")
        for s in (md, ref, oe):
            s.setsockopt(zmq.LINGER, 0)
        poller.register(ref, zmq.POLLIN)
        poller.register(oe, zmq.POLLIN)
        socks[venue] = {"md": md, "ref": ref, "oe": oe}
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
    seqs = {"bench-a": 0, "bench-b": 0, "bench-fx": 0}
    synced: set[str] = set()
    orders: list[tuple[str, int]] = []

    def handle(sock: zmq.Socket[bytes], venue: str, kind: str) -> None:
        while True:
            try:
                ident, payload = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if kind == "ref":
                req = ref_dec.decode(payload)
                sym = getattr(req, "sym", "")
                if venue == "bench-fx":
                    snap = Snapshot(sym=sym, seq=seqs[venue], ts=clock.now_ns(),
                                    b=[(FX[1] - 1, 1000)], a=[(FX[1] + 1, 1000)])
                else:
                    _, mid, _ = SYMS[venue]
                    snap = Snapshot(sym=sym, seq=seqs[venue], ts=clock.now_ns(),
                                    b=_levels(mid, -1, 100), a=_levels(mid, 1, 100))
                synced.add(venue)
                sock.send_multipart([ident, enc.encode(snap)])
            else:
                msg = oe_dec.decode(payload)
                if isinstance(msg, Ping):
                    sock.send_multipart([ident, enc.encode(Pong(ts=clock.now_ns(), echo=msg.ts))])
                elif isinstance(msg, NewOrder):
                    orders.append((msg.cl, clock.now_ns()))
                    sock.send_multipart([ident, enc.encode(Reject(
                        cl=msg.cl, code="bench", reason="bench venue rejects all",
                        ts=clock.now_ns()))])

    def pump(timeout_ms: int) -> None:
        for sock, _ in poller.poll(timeout_ms):
            for venue, d in socks.items():
                if sock is d["ref"]:
                    handle(sock, venue, "ref")
                elif sock is d["oe"]:
                    handle(sock, venue, "oe")

    next_hb = [0]

    def heartbeat() -> None:
        # the engine's feeds go STALE without heartbeats: send them on every venue, 4 a second
        now = clock.mono_ns()
        if now < next_hb[0]:
            return
        next_hb[0] = now + 250_000_000
        for venue in ("bench-a", "bench-b", "bench-fx"):
            socks[venue]["md"].send_multipart([b"hb", enc.encode(Heartbeat(
                ts=clock.now_ns(), seqs={SYMS[venue][0]: seqs[venue]} if venue in SYMS
                else {}))])

    def send_tick(i: int) -> None:
        venue = "bench-a" if i % 2 == 0 else "bench-b"
        sym, mid, _ = SYMS[venue]
        seqs[venue] += 1
        # move the best level's quantity: one changed level per delta, like a busy book
        d = Delta(sym=sym, seq=seqs[venue], ts=clock.now_ns(), b=[(mid - 1, 100 + i % 7)], a=[])
        socks[venue]["md"].send_multipart([f"md.{sym}".encode(), enc.encode(d)])

    # wait until the engine has asked for every snapshot, then let its subscriptions settle
    deadline = clock.mono_ns() + 30_000_000_000
    while len(synced) < 3 and clock.mono_ns() < deadline and not stop["flag"]:
        pump(50)
        for venue in ("bench-a", "bench-b", "bench-fx"):
            socks[venue]["md"].send_multipart([b"hb", enc.encode(Heartbeat(
                ts=clock.now_ns(), seqs={}))])
    print("SYNCED", flush=True)
    for i in range(warmup):
        send_tick(i)
        pump(1)
        heartbeat()
    n_warm = len(orders)
    print("MEASURE", flush=True)
    total = int(rate * seconds)
    t0 = clock.mono_ns()
    period_ns = 1e9 / rate
    sent_ns: list[int] = []
    for i in range(total):
        due = t0 + int(i * period_ns)
        while True:
            now = clock.mono_ns()
            if now >= due:
                break
            if due - now > 2_000_000:
                pump(1)
            elif due - now > 200_000:
                sleep_s(0.0001)
        send_tick(warmup + i)
        sent_ns.append(clock.now_ns())
        if i % 2 == 0:
            pump(0)  # answer orders promptly: the strategy fires again once its combo is done
        if i % 64 == 0:
            heartbeat()
    send_end = clock.mono_ns()
    # answer what the engine still sends: at least 1 s, then until no order came for 300 ms
    # (a loaded engine can be behind by more than a second; an order it sends after the count
    # would look lost), at most 10 s
    drain_from = clock.mono_ns()
    last_order_ns, n_seen = drain_from, len(orders)
    while True:
        pump(20)
        heartbeat()
        now = clock.mono_ns()
        if len(orders) != n_seen:
            last_order_ns, n_seen = now, len(orders)
        if now - drain_from >= 10_000_000_000 or (
                now - drain_from >= 1_000_000_000 and now - last_order_ns >= 300_000_000):
            break
    with open(out_path, "w") as f:
        json.dump({"sent": total, "send_s": (send_end - t0) / 1e9, "warm_orders": n_warm,
                   "orders": len(orders) - n_warm}, f)
    print("DONE", flush=True)
    while not stop["flag"]:
        pump(50)
        heartbeat()
    for d in socks.values():
        for s in d.values():
            s.close(linger=0)
    ctx.term()
    sys.exit(0)


if __name__ == "__main__":
    main()
