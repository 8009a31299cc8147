"""The order driver of ``cmc bench orders`` (engine path), run as its own process.

It stands where another node's ComboExecutor would: a PUSH socket on the engine node's inbound
link (CURVE, the run's node key), sending ``LegOrder``s on an open-loop schedule, **one
node-link frame per order** (a one-item list of ``(actor, message)``), each sent at its
scheduled time or, when the driver is late, as soon as it can -- never several orders in one
frame, which would hand the engine a batch a real sender at that rate would not. The frames are
encoded before the clock starts (a ``LegOrder`` here carries no time stamp), so at rate the
driver's own work per order is a socket send. It sleeps until the next order is due (never
spins: the machine may have two cores); a late wake shows up as send lag (``sent`` is stamped
as each send starts: stamped after it, a driver descheduled right after its send -- common on a
loaded machine -- would stamp later than the engine took the order), and the latency is taken
from the schedule anyway. At the end it
writes the schedule, the send stamps and its own cost (``numpy.savez``: ``sched``, ``sent``,
ns on CLOCK_MONOTONIC -- ``LiveClock.mono_ns``, the one clock two processes share exactly;
``frames`` sent, ``cpu_s`` and ``wall_s`` of the sending loop) and prints ``DONE``.
``cmc bench orders`` reports them as the row's ``driver``: a driver near 100 % of a CPU, or
with a large send lag, is itself the limit, not the engine.

``python -m scripts.bench.orders.driver --address A --keys PATH --rate R --seconds S --base-id B
--touch shfe=BID:ASK --touch comex=BID:ASK --out FILE``
"""

from __future__ import annotations

import time
from typing import Any

import click
import numpy as np
import zmq

from actors.runtime import link_auth
from scripts.bench.orders.stats import schedule_ns
from transports.clock import LiveClock, sleep_s
from transports.wire.codec import encode
from transports.wire.messages import LegOrder

#: (venue, symbol) the orders alternate over (the same as ``scripts.bench.orders.bench.LEGS``)
LEGS = (("shfe", "au2606"), ("comex", "GCZ6"))
AWAY_TICKS = 500  #: how far from the touch (passive side) each IOC is priced: it never fills
START_DELAY_NS = 300_000_000  #: the link's CURVE handshake is done well before the first order


def order_fields(i: int, touch: dict[str, tuple[int, int]]) -> tuple[str, str, str, int]:
    """(venue, sym, side, price in ticks) of order ``i``: venues alternate, each venue
    alternates buy and sell, priced ``AWAY_TICKS`` beyond the touch on the passive side."""
    venue, sym = LEGS[i % len(LEGS)]
    side = "B" if (i // len(LEGS)) % 2 == 0 else "S"
    bid, ask = touch[venue]
    return venue, sym, side, bid - AWAY_TICKS if side == "B" else ask + AWAY_TICKS


def leg_order(base_id: int, i: int, touch: dict[str, tuple[int, int]]) -> tuple[str, LegOrder]:
    """(destination actor, the ``LegOrder``) of order ``i``: IOC, 1 lot, combo id
    ``base_id + i``; no tick stamps (``ts_recv_ns`` 0: not a tick-to-order sample)."""
    venue, sym, side, px = order_fields(i, touch)
    return f"leg.{venue}", LegOrder(base_id + i, 0, 0, venue, sym, side, 1, px,  # type: ignore[arg-type]
                                    "IOC", "entry", 0, 0)


def drive(sock: zmq.Socket[bytes], rate: float, seconds: float, base_id: int,
          touch: dict[str, tuple[int, int]], clock: LiveClock
          ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Send the schedule on ``sock``, one frame per order; return (scheduled, sent) ns on
    CLOCK_MONOTONIC and the driver's cost (``frames``, ``cpu_s``, ``wall_s`` of the sending
    loop)."""
    n = max(2, int(rate * seconds))
    frames = [encode([leg_order(base_id, i, touch)]) for i in range(n)]
    sched = schedule_ns(clock.mono_ns() + START_DELAY_NS, rate, n)
    due = sched.tolist()  # Python ints: compared once per order
    sent = np.full(n, -1, np.int64)
    stamps = [0] * n
    now_ns = clock.mono_ns  # the bench compares these with the node's stamps: see the module
    cpu0, wall0 = time.process_time(), clock.mono_ns()
    i = 0
    while i < n:
        wait_ns = due[i] - now_ns()
        if wait_ns > 0:
            sleep_s(wait_ns / 1e9)
            continue
        stamps[i] = now_ns()
        sock.send(frames[i])
        i += 1
    cost = {"frames": float(n), "cpu_s": time.process_time() - cpu0,
            "wall_s": (clock.mono_ns() - wall0) / 1e9}
    sent[:] = stamps
    return sched, sent, cost


def _touch(values: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    out = {}
    for v in values:
        venue, _, pair = v.partition("=")
        bid, _, ask = pair.partition(":")
        out[venue] = (int(bid), int(ask))
    return out


@click.command()
@click.option("--address", required=True, help="The engine node's inbound link address.")
@click.option("--keys", "keys_path", required=True, help="The run's node-link key file.")
@click.option("--rate", type=float, required=True)
@click.option("--seconds", type=float, required=True)
@click.option("--base-id", type=int, required=True)
@click.option("--touch", "touches", multiple=True, required=True, help="VENUE=BID:ASK (ticks).")
@click.option("--out", "out_path", required=True)
def main(address: str, keys_path: str, rate: float, seconds: float, base_id: int,
         touches: tuple[str, ...], out_path: str) -> None:
    """Drive LegOrders into the engine node on a schedule; write the stamps."""
    ctx: zmq.Context[Any] = zmq.Context()
    link_auth.attach(ctx, link_auth.load_link_keys(keys_path))
    sock = link_auth.push_to(ctx, "engine", address)
    try:
        sched, sent, cost = drive(sock, rate, seconds, base_id, _touch(touches), LiveClock())
        np.savez(out_path, sched=sched, sent=sent, **{k: np.float64(v) for k, v in cost.items()})
    finally:
        sock.close(linger=2000)  # what is queued still leaves
        link_auth.detach(ctx)
        ctx.term()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
