"""The simulator's heart without sockets: every venue, the price process, timers and latency.

``SimCore`` is driven by time only: ``request`` queues an oe request to be processed one venue
latency later, ``advance(now)`` runs everything due up to ``now`` in time order (market-maker
refreshes, heartbeats, requests, delayed replies), stamping each with its scheduled time, and
returns the market data to publish and the replies to send. ``next_due`` says when to call again.
With a ``TestClock`` a whole run is deterministic and needs no sockets.

Latency: a request received at ``t`` is processed at ``t + latency`` and its replies (and any
fills it triggers later, e.g. a resting GTC hit by a refresh) are delivered ``latency`` after they
happen, so an order's round trip is twice the venue's one-way ``latency_us``.

Faults (``faults``): each venue has a ``FaultInjector`` (its ``[[sim.venues]] faults`` or else
``[sim.faults]``, plus the schedule entries naming it or no venue) and an ``MdPipe``. The core
applies the span switches: during a ``stop`` no md or hb is published, ``ref`` returns None (no
answer), and requests, reports and held md wait until the stop ends; during an
``oe_disconnect`` requests arriving are lost and reports due to leave are dropped.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import msgspec
from loguru import logger

from transports.config.engine import AppConfig
from transports.config.sim import SimVenueConfig
from transports.errors import ConfigError
from transports.venues.sim.faults import FaultInjector, zero_counts
from transports.venues.sim.mdpipe import MdPipe
from transports.venues.sim.process import FairModel, PriceProcess, rng_for
from transports.venues.sim.truth import SimTruth
from transports.venues.sim.venue import SimVenue
from transports.wire.venue_msgs import (
    CancelReq,
    Error,
    Funding,
    InstrumentsReq,
    NewOrder,
    SnapshotReq,
)

MdOut = tuple[str, str, msgspec.Struct]  # venue, topic, message
OeOut = tuple[str, str, msgspec.Struct]  # venue, account, message


#: id keys the simulator writes as integers with ``[sim] ids = "int"``
_ID_KEYS = ("oid", "tid")


def int_ids(msg: Any) -> Any:
    """The reply as a gateway with integer ids writes it (``[sim] ids = "int"``): ``oid`` and
    ``tid`` as integers (``shfe-12`` -> 12, ``shfe-t5`` -> 5; unique per venue), an empty
    optional ``oid`` as nil. The engine must read both spellings (docs/venue-protocol.md)."""
    if not isinstance(msg, msgspec.Struct):
        return msg
    return _ints(msgspec.to_builtins(msg))


def _ints(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_ints(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for k, v in obj.items():
        if k in _ID_KEYS and isinstance(v, str):
            digits = v.rsplit("-", 1)[-1].lstrip("t")
            v = int(digits) if digits.isdigit() else None  # "" (no order yet): nil
        elif isinstance(v, list | dict):
            v = _ints(v)
        out[k] = v
    return out


class SimCore:
    """All simulated venues of one config, on one timeline."""

    def __init__(self, cfg: AppConfig, start_ns: int) -> None:
        self.cfg = cfg
        self.start_ns = start_ns
        sim = cfg.sim
        self.step_ns = sim.step_ms * 1_000_000
        self._int_ids = sim.ids == "int"
        self.process = PriceProcess(sim)
        self.fair = FairModel(cfg)
        for model in self.fair.models.values():  # scenario models that price by wall time
            if hasattr(model, "set_start"):
                model.set_start(start_ns)
        counts = zero_counts()
        self.truth = SimTruth(cfg, counts, models=self.fair.models)
        self.truth.meta["start_ns"] = start_ns
        scfgs = {v.name: v for v in sim.venues}
        _check_schedule(cfg)
        self.venues: dict[str, SimVenue] = {}
        self.scfg: dict[str, SimVenueConfig] = {}
        self.faults: dict[str, FaultInjector] = {}
        self.pipes: dict[str, MdPipe] = {}
        for i, v in enumerate(cfg.venues):
            sc = scfgs.get(v.name) or SimVenueConfig(name=v.name)
            self.scfg[v.name] = sc
            own = sc.faults.schedule if sc.faults is not None else []
            inj = FaultInjector(
                sc.faults if sc.faults is not None else sim.faults,
                rng_for(sim.seed, 2, i),
                venue=v.name,
                start_ns=start_ns,
                schedule=[*sim.faults.schedule, *own],
                counts=counts,
                events=self.truth.fault_events,
            )
            self.faults[v.name] = inj
            self.truth.fault_by_venue[v.name] = inj.by_venue
            self.venues[v.name] = SimVenue(
                v.name,
                [c for c in cfg.contracts if c.venue == v.name],
                sc,
                faults=inj,
                truth=self.truth,
                rng=rng_for(sim.seed, 3, i),
            )
            self.pipes[v.name] = MdPipe(inj, self.venues[v.name].books)
        self.books = {f"{vn}:{s}": b for vn, v in self.venues.items() for s, b in v.books.items()}
        self._quoted = {
            vn: [s for s in v.books if self.fair.quoted(f"{vn}:{s}")]
            for vn, v in self.venues.items()
        }
        self._next_md = dict.fromkeys(self.venues, start_ns)
        self._next_hb = dict.fromkeys(self.venues, start_ns)
        self._heap: list[tuple[int, int, str, str, str, Any]] = []
        self._n = 0
        self._observe_at: int | None = None  # truth.observe is due at this time
        self._md: list[MdOut] = []
        self._oe: list[OeOut] = []
        for name, v in self.venues.items():
            v.open_session(start_ns)
            self._drain(name, start_ns)

    def latency_ns(self, venue: str) -> int:
        """One-way latency of ``venue``."""
        return self.scfg[venue].latency_us * 1000

    # --- inputs ---------------------------------------------------------------------------------

    def request(self, now: int, venue: str, account: str, req: msgspec.Struct) -> None:
        """An oe request of ``account`` arrived at ``now``; it is processed one latency later
        (or lost, when the venue's oe connection is down)."""
        inj = self.faults[venue]
        if inj.oe_down(now):
            inj.count("oe_disconnect_msgs", now, dir="in", t=type(req).__name__)
            if isinstance(req, NewOrder):
                self.truth.record_order(
                    ts=now,
                    venue=venue,
                    account=account,
                    cl=req.cl,
                    sym=req.sym,
                    side=req.side,
                    px=req.px,
                    qty=req.qty,
                    tif=req.tif,
                    fault="oe_disconnect",
                )
            return
        self._push(now + self.latency_ns(venue), "req", venue, account, req)

    def ref(self, now: int, venue: str, req: msgspec.Struct) -> msgspec.Struct | None:
        """Answer a ref request at once (instruments, snapshot); None (no answer) while the
        venue is stopped."""
        if self.faults[venue].stopped_until(now):
            return None
        v = self.venues[venue]
        if isinstance(req, InstrumentsReq):
            return v.instruments()
        if isinstance(req, SnapshotReq):
            if self.faults[venue].snapshot_error(now, req.sym):
                return Error(code="unavailable", msg=f"no snapshot of {req.sym} now")
            return v.snapshot(req.sym, now)
        return Error(code="unsupported", msg=type(req).__name__)

    # --- time -----------------------------------------------------------------------------------

    def _push(self, t: int, kind: str, venue: str, account: str, msg: Any) -> None:
        self._n += 1
        heapq.heappush(self._heap, (t, self._n, kind, venue, account, msg))

    def next_due(self) -> int:
        """The time of the next thing to do."""
        t = min(min(self._next_md.values()), min(self._next_hb.values()))
        if self._heap:
            t = min(t, self._heap[0][0])
        return t

    def advance(self, now: int, *, settle: bool = True) -> tuple[list[MdOut], list[OeOut]]:
        """Run everything due at or before ``now``; return (md to publish, oe replies to send).

        ``settle`` False leaves the truth's observation of the last instant pending, so the
        caller can send first and ``settle()`` after; the record is the same either way (the
        books cannot change before the next ``advance``, which settles first)."""
        self.settle()
        while True:
            step = self._earliest()
            if self._observe_at is not None and (step is None or step[0] > self._observe_at):
                # once every change at that instant is applied (venues refresh in lock-step)
                self.truth.observe(self._observe_at, self.books)
                self._observe_at = None
            if step is None or step[0] > now:
                break
            fn, name = step[1], step[2]
            if name is None:
                fn(now)
            else:
                fn(name, step[0], now)
        if settle:
            self.settle()
        md, oe = self._md, self._oe
        self._md, self._oe = [], []
        return md, oe

    def settle(self) -> None:
        """Make the truth's pending observation (the books after the last instant run)."""
        if self._observe_at is not None:
            self.truth.observe(self._observe_at, self.books)
            self._observe_at = None

    def _earliest(self) -> tuple[int, Callable[..., None], str | None] | None:
        """(time, step, venue) of the next thing due: a venue's md refresh or heartbeat, the
        first of each venue in config order winning a tie, else the heap's head (venue None)."""
        best_t: int | None = None
        best: tuple[int, Callable[..., None], str | None] | None = None
        next_md, next_hb = self._next_md, self._next_hb
        for name in self.venues:
            t = next_md[name]
            if best_t is None or t < best_t:
                best_t, best = t, (t, self._refresh, name)
            t = next_hb[name]
            if t < best_t:
                best_t, best = t, (t, self._heartbeat, name)
        heap = self._heap
        if heap and (best_t is None or heap[0][0] < best_t):
            best = (heap[0][0], self._pop, None)
        return best

    def _reschedule(self, nxt: dict[str, int], name: str, t: int, iv: int, now: int) -> None:
        n = t + iv
        if n + iv <= now:  # far behind (a stall): skip the missed ticks
            n = now
        nxt[name] = n

    def _refresh(self, name: str, t: int, now: int) -> None:
        inj = self.faults[name]
        if inj.tick(t):
            self.pipes[name].reset()
            self.venues[name].reset_seqs(t)
        self.venues[name].set_session("break" if inj.in_break(t) else "open", t)
        self.venues[name].set_session_down(inj.session_down(t), t)
        k = (t - self.start_ns) // self.step_ns
        fairs: dict[str, float] = {}
        for sym in self._quoted[name]:
            f = self.fair.fair(f"{name}:{sym}", self.process, k)
            if f is not None:
                fairs[sym] = f
        self.venues[name].requote(t, fairs)
        v = self.venues[name]
        for hook in self.fair.hooks:  # scenario venues that do more than quote (funding)
            md, oe = hook.on_refresh(name, t, k, self.process, self.truth.positions)
            v.md_out.extend(md)
            v.oe_out.extend(oe)
            for account, msg in oe:  # the record of every funding payment the venue settled
                if isinstance(msg, Funding):
                    self.truth.record_funding(ts=msg.ts, venue=name, account=account,
                                              sym=msg.sym, rate=msg.rate, paid=msg.paid,
                                              ccy=msg.ccy)
        self._drain(name, t)
        self._observe_at = t
        iv = self.scfg[name].md_interval_ms * 1_000_000
        self._reschedule(self._next_md, name, t, iv, now)

    def _heartbeat(self, name: str, t: int, now: int) -> None:
        if not self.faults[name].stopped_until(t):
            self._publish(name, t, [("hb", self.venues[name].heartbeat(t))])
        iv = self.scfg[name].hb_interval_ms * 1_000_000
        self._reschedule(self._next_hb, name, t, iv, now)

    def _pop(self, now: int) -> None:
        t, _, kind, venue, account, msg = heapq.heappop(self._heap)
        inj = self.faults[venue]
        until = inj.stopped_until(t)
        if until:  # the gateway is frozen: everything waits
            self._push(until, kind, venue, account, msg)
            return
        if kind == "md":
            self._md.extend((venue, tp, m) for tp, m in self.pipes[venue].release(t))
            return
        if kind == "send":
            if inj.oe_down(t):
                inj.count("oe_disconnect_msgs", t, dir="out", t=type(msg).__name__)
            else:
                out = int_ids(msg) if self._int_ids else msg
                bad = inj.garble(t, out, account)
                self._oe.append((venue, account, out if bad is None else bad))
            return
        v = self.venues[venue]
        try:
            v.handle(account, msg, t)
        except Exception as exc:  # noqa: BLE001 - a client's request must never stop the venue
            logger.exception("sim {}: request {!r} failed", venue, msg)
            self.truth.count("internal_errors")
            v.oe_out.append((account, Error(code="internal", msg=repr(exc)[:200])))
        if isinstance(msg, NewOrder):
            inj.after_order(t)
        self._drain(venue, t)
        if isinstance(msg, NewOrder | CancelReq):
            self._observe_at = t

    def _drain(self, name: str, t: int) -> None:
        v = self.venues[name]
        lat = self.latency_ns(name)
        for account, msg in v.oe_out:
            self._push(t + lat, "send", name, account, msg)
        v.oe_out.clear()
        for extra, account, msg in v.oe_late:
            self._push(t + lat + extra, "send", name, account, msg)
        v.oe_late.clear()
        if v.md_out:
            if not self.faults[name].stopped_until(t):
                self._publish(name, t, v.md_out)
            v.md_out.clear()

    def _publish(self, name: str, t: int, items: list[tuple[str, msgspec.Struct]]) -> None:
        pipe = self.pipes[name]
        held = bool(pipe.held)
        self._md.extend((name, topic, msg) for topic, msg in pipe.feed(t, items))
        if pipe.held and not held:
            self._push(pipe.hold_until, "md", name, "", None)

    # --- the record -----------------------------------------------------------------------------

    def _episodes(self, now: int) -> None:
        t_s = (now - self.start_ns) / 1e9
        self.truth.episodes = [
            {
                "start_ns": self.start_ns + round(e.start_s * 1e9),
                "end_ns": self.start_ns + round(e.end_s * 1e9),
                "sign": e.sign,
                "size": round(e.size, 6),
                "taken": e.taken,
            }
            for e in self.process.episodes_until(t_s)
        ]

    def truth_dict(self, now: int) -> dict[str, Any]:
        """The truth so far (open windows not included)."""
        self.settle()
        self._episodes(now)
        return self.truth.to_dict()

    def finish(self, now: int) -> SimTruth:
        """End of run: close open windows, record the episodes; return the truth."""
        self.settle()
        self._episodes(now)
        self.truth.finish(now)
        return self.truth


def _check_schedule(cfg: AppConfig) -> None:
    names = {v.name for v in cfg.venues}
    scheds = [("sim.faults", cfg.sim.faults)]
    scheds += [(f"sim.venues[{i}].faults", v.faults) for i, v in enumerate(cfg.sim.venues)]
    for path, f in scheds:
        for j, w in enumerate(f.schedule if f is not None else []):
            if w.venue and w.venue not in names:
                raise ConfigError(f"$.{path}.schedule[{j}].venue: unknown venue {w.venue!r}")

