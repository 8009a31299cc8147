"""A load generator that speaks the venue gateway protocol, for ``cmc bench tick-to-trade``.

It serves snapshots on ref, publishes deltas for two instruments at a fixed rate on md (and one
FX rate), and answers every order on oe with an immediate ``reject`` so the strategy is flat
again for the next tick. It records when each order arrived. Run as its own process:

``python -m scripts.bench.gateway --sock DIR --rate R --seconds T --out FILE``

Pacing. Up to ``PRECISE_MAX_RATE`` ticks/s each tick leaves at its due time: the generator
sleeps while the tick is more than 200 µs away and spins the rest, so the latency rows (1,000 and
10,000 ticks/s) see evenly spaced ticks. Above it (the search for the highest sustained rate) the
generator never spins: it sleeps ``BURST_SLEEP_S`` and then sends every tick that has come due,
in a burst (~10 at 80,000 ticks/s), as market data under load arrives. Spinning keeps the
generator on its CPU all the time at any rate where ticks are less than 200 µs apart, which on
a 2-CPU machine left the engine one; bursts cost it ~5-6 µs of CPU a tick (about half a CPU at
80,000 ticks/s: ``generator_cpu_us_per_tick`` in the bench's rows). A real feed costs the
engine's machine the kernel's network work, not a core. The ticks, their count and their
average rate are the same either way (the rate actually kept is reported and checked).

``--out`` gets ``{"sent", "send_s", "warm_orders", "orders", "cpu_s"}``: ``cpu_s`` is the CPU
time the generator used while it sent the measured ticks.
"""

from __future__ import annotations

import json
import signal
import sys
import time
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
    md_topic,
)

SYMS = {"bench-a": ("au2606", 30_700, 2), "bench-b": ("GCZ6", 26_500, 1)}
FX = ("USDCNH", 72_000)
#: up to this rate (ticks/s) each tick is sent at its due time (module docstring: pacing)
PRECISE_MAX_RATE = 10_000.0
#: above ``PRECISE_MAX_RATE``: how long the generator sleeps between two bursts
BURST_SLEEP_S = 0.0001


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

    # per venue: the md socket's two sends and the topic, made once (the generator's own CPU per
    # tick is CPU the engine does not get on a small machine)
    md_out = {v: (socks[v]["md"].send, md_topic(SYMS[v][0]).encode(), SYMS[v][0], SYMS[v][1])
              for v in SYMS}
    now_ns, encode, more = clock.now_ns, enc.encode, zmq.SNDMORE

    def send_tick(i: int) -> None:
        venue = "bench-a" if i % 2 == 0 else "bench-b"
        send, topic, sym, mid = md_out[venue]
        seqs[venue] = seq = seqs[venue] + 1
        # move the best level's quantity: one changed level per delta, like a busy book
        d = Delta(sym=sym, seq=seq, ts=now_ns(), b=[(mid - 1, 100 + i % 7)], a=[])
        send(topic, more)
        send(encode(d))

    def send_precise(total: int, t0: int, period_ns: float) -> None:
        """Each tick at its due time: sleep while it is more than 200 µs away, spin the rest."""
        mono = clock.mono_ns
        for i in range(total):
            due = t0 + int(i * period_ns)
            while True:
                now = mono()
                if now >= due:
                    break
                if due - now > 2_000_000:
                    pump(1)
                elif due - now > 200_000:
                    sleep_s(0.0001)
            send_tick(warmup + i)
            if i % 2 == 0:
                pump(0)  # answer orders promptly: the strategy fires again once its combo is done
            if i % 64 == 0:
                heartbeat()

    def send_bursts(total: int, t0: int, period_ns: float) -> None:
        """Never spin: sleep ``BURST_SLEEP_S``, then send every tick that came due; the orders
        are answered and the heartbeats kept after each burst."""
        mono = clock.mono_ns
        i = 0
        while i < total:
            due_n = min(total, int((mono() - t0) / period_ns) + 1)  # ticks due by now
            if due_n <= i:
                sleep_s(BURST_SLEEP_S)
                continue
            for k in range(i, due_n):
                send_tick(warmup + k)
            i = due_n
            pump(0)
            heartbeat()

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
    cpu0 = time.process_time()
    t0 = clock.mono_ns()
    if rate <= PRECISE_MAX_RATE:
        send_precise(total, t0, 1e9 / rate)
    else:
        send_bursts(total, t0, 1e9 / rate)
    send_end = clock.mono_ns()
    cpu_s = time.process_time() - cpu0
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
    def write_stats() -> None:
        with open(out_path, "w") as f:
            json.dump({"sent": total, "send_s": (send_end - t0) / 1e9, "warm_orders": n_warm,
                       "orders": len(orders) - n_warm, "cpu_s": cpu_s}, f)

    write_stats()
    print("DONE", flush=True)
    while not stop["flag"]:
        pump(50)
        heartbeat()
    # stopped (after the engine): what it sent after DONE is counted too, so ``orders`` is every
    # order the venue got -- a loaded engine can send its last one after the drain above ended
    pump(0)
    write_stats()
    for d in socks.values():
        for s in d.values():
            s.close(linger=0)
    ctx.term()
    sys.exit(0)


if __name__ == "__main__":
    main()
