"""The numbers of one paced order run (``cmc bench orders``), from its stamps alone.

A run is open loop: order ``i`` is *scheduled* at ``t0 + i / rate`` whatever happened to the
orders before it. Latency is measured from the scheduled time to the ack, so a driver or a
pipeline that falls behind shows up in the latency instead of silently lowering the offered rate
(coordinated omission). Every stamp is ns on one clock; ``-1`` means "never happened".

``summarize`` is pure (arrays in, a dict out): the same numbers for the raw client and for the
engine path, and a unit test can feed it made-up stamps. ``split`` (engine path) cuts each
order's round trip where the executor took it.

``sustained`` (no queue growth) needs all of: every order acked and none failed; acks at
``MIN_RATE_SHARE`` of the offered rate; the last second's mean backlog at most twice the first
second's plus ``BACKLOG_SLACK_S`` worth of orders (the queue does not grow during the run); and
that backlog at most ``MAX_QUEUE_S`` worth of orders (no queue stood from the start either: a
pipeline that fell a second behind in its first second and then kept pace has a flat backlog
but is not keeping up).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transports.hdr import LatencyHist

#: outstanding (scheduled, not yet acked) orders are sampled on this grid
GRID_NS = 10_000_000
#: ``sustained`` allows the backlog of the last second to exceed twice the first second's by
#: this much time's worth of orders (noise on a busy 2-core machine)
BACKLOG_SLACK_S = 0.002
#: ``sustained`` needs this share of the offered rate
MIN_RATE_SHARE = 0.95
#: ``sustained`` allows at most this much time's worth of orders outstanding in the last second
MAX_QUEUE_S = 0.1
#: how long after the last scheduled order the replies are waited for (both paths)
DRAIN_S = 3.0


def pcts(ns: np.ndarray) -> dict[str, Any]:
    """``n``, p50/p99/p99.9/max (µs) of the samples, through the HDR histogram."""
    if not len(ns):
        return {"n": 0, "p50_us": None, "p99_us": None, "p999_us": None, "max_us": None}
    s = LatencyHist.of(ns).summary_us((50, 99, 99.9), 1)
    return {"n": s["count"], "p50_us": s["p50"], "p99_us": s["p99"], "p999_us": s["p999"],
            "max_us": s["max"]}


def schedule_ns(t0_ns: int, rate: float, n: int) -> np.ndarray:
    """The scheduled send times of ``n`` orders at ``rate`` per second from ``t0_ns``."""
    return t0_ns + (np.arange(n, dtype=np.float64) * (1e9 / rate)).astype(np.int64)


def outstanding_series(sched: np.ndarray, ack: np.ndarray, start_ns: int, end_ns: int,
                       step_ns: int = GRID_NS) -> tuple[np.ndarray, np.ndarray]:
    """(grid times, orders scheduled by then minus orders acked by then) on a grid."""
    grid = np.arange(start_ns, end_ns + 1, step_ns, dtype=np.int64)
    acked = np.sort(ack[ack >= 0])
    out = np.searchsorted(sched, grid, side="right") - np.searchsorted(acked, grid, side="right")
    return grid, out


def summarize(rate: float, sched: np.ndarray, sent: np.ndarray, ack: np.ndarray,
              done: np.ndarray, failed: int = 0) -> dict[str, Any]:
    """The row of one run: counts, latencies, the backlog over time and ``sustained``.

    ``sched``/``sent``/``ack``/``done``: per order, ns (``-1``: never). ``failed``: orders that
    were denied or rejected instead of acked (the engine path counts them)."""
    n = len(sched)
    sent_ok = sent >= 0
    acked_ok = ack >= 0
    t0 = int(sched[0]) if n else 0
    span_ns = int(sched[-1] - sched[0]) + int(1e9 / rate) if n else 0
    seconds = span_ns / 1e9
    lat = (ack - sched)[acked_ok]
    acks = np.sort(ack[acked_ok])
    achieved = float((len(acks) - 1) / ((acks[-1] - acks[0]) / 1e9)) if len(acks) > 1 and \
        acks[-1] > acks[0] else 0.0
    # the backlog in the first and the last second (a quarter of the run if it is shorter)
    win = min(1_000_000_000, max(GRID_NS, span_ns // 4))
    grid, backlog = outstanding_series(sched, ack, t0, t0 + span_ns)
    first = backlog[grid < t0 + win]
    last = backlog[grid >= t0 + span_ns - win]
    b_first = float(first.mean()) if len(first) else 0.0
    b_last = float(last.mean()) if len(last) else 0.0
    per_s = []
    for k in range(int(np.ceil(seconds))):
        lo, hi = t0 + k * 1_000_000_000, t0 + (k + 1) * 1_000_000_000
        m = (sched >= lo) & (sched < hi)
        ms = m & acked_ok
        sec = pcts((ack - sched)[ms])
        at_end = backlog[(grid >= lo) & (grid < hi)]
        per_s.append({"second": k, "offered": int(m.sum()), "acked": int(ms.sum()),
                      "backlog_max": int(at_end.max()) if len(at_end) else 0,
                      "p50_us": sec["p50_us"], "p99_us": sec["p99_us"]})
    all_acked = bool(acked_ok.all()) and failed == 0
    sustained = bool(all_acked and achieved >= MIN_RATE_SHARE * rate
                     and b_last <= 2 * b_first + max(2.0, rate * BACKLOG_SLACK_S)
                     and b_last <= max(2.0, rate * MAX_QUEUE_S))
    return {
        "rate": rate,
        "seconds": round(seconds, 3),
        "scheduled": n,
        "sent": int(sent_ok.sum()),
        "acked": int(acked_ok.sum()),
        "done": int((done >= 0).sum()),
        "failed": failed,
        "achieved_rate": round(achieved, 1),
        "latency": pcts(lat),  # scheduled -> ack
        "send_lag": pcts((sent - sched)[sent_ok]),  # scheduled -> handed to the socket/host
        "service": pcts((ack - sent)[sent_ok & acked_ok]),  # handed over -> ack
        "backlog_first_s": round(b_first, 2),
        "backlog_last_s": round(b_last, 2),
        "backlog_max": int(backlog.max()) if len(backlog) else 0,
        "per_second": per_s,
        "sustained": sustained,
    }


def split(sent: np.ndarray, routed: np.ndarray, ack: np.ndarray) -> dict[str, Any]:
    """Each order's service time cut where the engine's executor took it (engine path):
    ``to_executor`` (handed over by the driver -> the executor's cycle: the node link and
    the hot host's wait) and ``executor_to_ack`` (that cycle -> the ack: the executor, the
    intent and its fdatasync, the gateway round trip and the ack's wait to be read), each
    ``{n, p50_us, p99_us, p999_us, max_us}``. ``routed``: ns, ``-1`` never."""
    got = routed >= 0
    return {"to_executor": pcts((routed - sent)[got & (sent >= 0)]),
            "executor_to_ack": pcts((ack - routed)[got & (ack >= 0)])}


__all__ = ["DRAIN_S", "outstanding_series", "pcts", "schedule_ns", "split", "summarize"]
