"""Feed actor: one market-data session with one venue gateway (its shell, with the sockets:
``actors.runtime.shells.feed_shell``).

In: gateway md frames (``delta``, ``status``, ``hb``, ``mark``) on a SUB socket, snapshot and
instruments replies on the ref DEALER. Out: ``BookSnapshot`` / ``BookDelta`` / ``BookInvalid`` to
each symbol's Book actor, ``SessionStatus`` to the strategies, ``FeedHealth`` to the
RiskSupervisor; ``VenueInfo`` (the gateway's protocol version and instrument kinds) to the
venue's LegExecutor and ``MarkUpdate`` to the strategies of a perpetual (``facts``:
``actors.venue_facts``).

Sequence integrity: per symbol, each delta must be the previous plus one. A duplicate or older
delta is ignored and counted. A gap (seen on a delta or on a heartbeat's ``seqs``) makes the book
INVALID at once and starts a resync: live deltas are buffered, a snapshot is requested, deltas
already inside the snapshot are dropped and the rest must continue it without a hole (else the
resync starts again). A sequence that restarts at 1 is a gateway restart: a full resync.
Repeated resyncs of one symbol back off exponentially (a stalled venue is not hammered).

Staleness: no heartbeat for ``stale_after_ms`` makes the feed STALE: every book is invalidated at
once and the sockets are reconnected with exponential backoff and jitter (seeded, so replay is
exact); the books are usable again only after a fresh snapshot each (SYNCED).

Clock calibration (``actors.feed_clock.FeedClock``, the core's ``calib``): heartbeats and pings
on a dedicated oe connection give the venue's clock offset and the one-way latency, published in
``FeedHealth``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from actors.core import Core, Out, restore_attrs
from actors.feed_clock import FeedClock
from actors.venue_facts import VenueFacts
from transports.wire.messages import (
    BadFrame,
    BookDelta,
    BookInvalid,
    BookSnapshot,
    ClockJump,
    FeedHealth,
    Reconnect,
    Resync,
    SessionStatus,
    SetTimer,
    Timer,
)
from transports.wire.venue_msgs import (
    Delta,
    Heartbeat,
    Instruments,
    Mark,
    MdStatus,
    Ping,
    Pong,
    Snapshot,
    SnapshotReq,
)

SYNCED = "SYNCED"
RESYNCING = "RESYNCING"
STALE = "STALE"
HEALTH_PERIOD_NS = 100_000_000  #: how often staleness is checked and health published
#: Deltas buffered during a resync before we give up and ask for a fresh snapshot again.
MAX_BUFFERED = 10_000
#: timer keys; a symbol's snapshot timer carries the symbol in ``Timer.arg``
HEALTH_TIMER = "health"
PING_TIMER = "ping"
RECONNECT_TIMER = "reconnect"
SNAPSHOT_TIMER = "snap"


class _Sym:
    __slots__ = ("buffer", "last_recv_ns", "last_seq", "quiet", "recent_resyncs",
                 "snap_pending_since", "snapshot_seq", "state")

    def __init__(self) -> None:
        self.state = RESYNCING
        self.last_seq = 0
        self.buffer: list[Delta] = []
        self.snap_pending_since = 0
        self.last_recv_ns = 0
        self.recent_resyncs = 0
        self.quiet = False  #: flagged stale for lack of updates (the data itself is intact)
        self.snapshot_seq = -1  #: seq of the last snapshot applied


class FeedCore(Core):
    """Pure sequence checking and resync logic for one venue's market data."""

    def __init__(self, name: str, venue: str, symbols: Iterable[str], books: dict[str, str],
                 status_to: list[str], health_to: list[str], snapshot_retry_ms: int = 1000,
                 stale_after_ms: int = 1500, backoff_ms: int = 200, backoff_max_ms: int = 5000,
                 ping_interval_ms: int = 1000, seed: int = 0, book_stale_after_ms: int = 0,
                 info_to: list[str] | None = None,
                 mark_to: dict[str, list[str]] | None = None) -> None:
        super().__init__(name)
        self.book_stale_after_ns = book_stale_after_ms * 1_000_000
        self.stale_after_ns = stale_after_ms * 1_000_000
        self.backoff_ns = backoff_ms * 1_000_000
        self.backoff_max_ns = backoff_max_ms * 1_000_000
        self.ping_interval_ns = ping_interval_ms * 1_000_000
        self.rng = random.Random(seed)
        self.stale_periods = 0
        self.reconnects = 0
        self.reconnect_attempt = 0
        self.started_ns = 0
        self.calib = FeedClock()  #: the venue's clock offset and one-way latency
        self.ping_sent_ns = 0
        self.venue = venue
        self.syms = {s: _Sym() for s in symbols}
        self.books = books  #: sym -> book actor name
        self.status_to = status_to
        self.health_to = health_to
        self.snapshot_retry_ns = snapshot_retry_ms * 1_000_000
        self.gaps = 0
        self.resyncs = 0
        self.duplicates = 0
        self.rejects = 0
        self.deltas = 0
        self.last_hb_ns = 0
        self.state = "CONNECTING"
        #: the venue's protocol version, instrument kinds and marks (``info_to``: who needs
        #: the version, which makes the feed ask the instruments; ``mark_to``: sym -> who
        #: hears its marks)
        self.facts = VenueFacts(venue, self.syms, info_to, mark_to, self.snapshot_retry_ns)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Load a pickled feed; one pickled before ``calib`` existed (its clock samples on the
        core itself) gets them moved into its ``FeedClock``."""
        if "calib" not in state:
            state = dict(state)
            state["calib"] = FeedClock(state.pop("clock_samples", None),
                                       state.pop("hb_deltas", None),
                                       state.pop("rtt_samples", None))
        restore_attrs(self, state)  # attribute by attribute: reads stay fast

    # --- lifecycle -------------------------------------------------------------------------------

    def on_start(self, now_ns: int) -> Out:
        out: Out = []
        self.started_ns = now_ns
        self.last_hb_ns = now_ns  # staleness counts from the start, not from the epoch
        out += self.facts.ask(now_ns)  # first: the answer comes before the snapshots
        for sym in self.syms:
            out += self._resync(sym, now_ns, count=False)
        out.append(("@timer", SetTimer(HEALTH_TIMER, now_ns + HEALTH_PERIOD_NS)))
        out.append(("@timer", SetTimer(PING_TIMER, now_ns + 1_000_000)))
        return out

    def _resync(self, sym: str, now_ns: int, count: bool = True, reason: str = "gap") -> Out:
        st = self.syms[sym]
        if count:
            self.resyncs += 1
            st.recent_resyncs += 1
        st.state = RESYNCING
        st.buffer = []
        st.snap_pending_since = now_ns
        book = self.books.get(sym)
        out: Out = []
        if book is not None:
            out.append((book, BookInvalid(self.venue, sym, reason, now_ns)))
        if st.recent_resyncs > 2:
            # resyncing again and again: back off before asking the venue for more snapshots
            delay = min(self.backoff_max_ns, self.snapshot_retry_ns << min(st.recent_resyncs, 6))
            out.append(("@timer", SetTimer(SNAPSHOT_TIMER, now_ns + delay, sym)))
            return out
        out.append(("@ref", SnapshotReq(sym=sym)))
        out.append(("@timer", SetTimer(SNAPSHOT_TIMER, now_ns + self.snapshot_retry_ns, sym)))
        return out

    # --- market data -----------------------------------------------------------------------------

    def on_delta(self, d: Delta, now_ns: int) -> Out:
        sym = d.sym
        st = self.syms.get(sym)
        if st is None:
            return []
        self.deltas += 1
        seq = d.seq
        # the next delta of a synced book first: every venue frame but a few takes this path
        if seq == st.last_seq + 1 and st.state != RESYNCING:
            st.last_seq = seq
            st.last_recv_ns = now_ns
            if st.quiet:
                st.quiet = False
            return [(self.books[sym], BookDelta(self.venue, sym, seq, d.ts, now_ns, d.b, d.a))]
        if st.state == RESYNCING:
            if len(st.buffer) >= MAX_BUFFERED:
                return self._resync(sym, now_ns, reason="buffer_overflow")
            st.buffer.append(d)
            return []
        if d.seq == 1 and st.last_seq > 1:
            # a gateway restart: sequences start again; never treat it as a gap into the past
            out = self._resync(d.sym, now_ns, reason="seq_reset")
            st.buffer.append(d)
            return out
        if d.seq <= st.last_seq:
            self.duplicates += 1
            return []
        self.gaps += 1
        out = self._resync(d.sym, now_ns, reason="gap")
        st.buffer.append(d)
        return out

    def on_snapshot(self, s: Snapshot, now_ns: int) -> Out:
        st = self.syms.get(s.sym)
        if st is None or st.state != RESYNCING:
            return []
        out: Out = [(self.books[s.sym], BookSnapshot(self.venue, s.sym, s.seq, s.ts, now_ns,
                                                     s.b, s.a))]
        last = s.seq
        pending = [d for d in st.buffer if d.seq > last]
        st.buffer = []
        for d in pending:
            if d.seq != last + 1:
                if d.seq < last + 1:
                    continue
                # the buffer does not continue the snapshot: fetch another one
                self.gaps += 1
                return out + self._resync(s.sym, now_ns, reason="snapshot_gap")
            last = d.seq
            out.append((self.books[s.sym], BookDelta(self.venue, s.sym, d.seq, d.ts, now_ns,
                                                     d.b, d.a)))
        st.last_seq = last
        st.snapshot_seq = s.seq if last == s.seq else -1
        st.last_recv_ns = now_ns
        st.state = SYNCED
        out.append(("@timer", SetTimer(SNAPSHOT_TIMER, 0, s.sym)))
        self.state = "SYNCED" if all(x.state == SYNCED for x in self.syms.values()) \
            else "RESYNCING"
        return out

    def on_heartbeat(self, hb: Heartbeat, now_ns: int) -> Out:
        self.last_hb_ns = now_ns
        self.calib.on_heartbeat(hb.ts, now_ns)
        out: Out = []
        if self.state == STALE:
            # the venue speaks again: books come back only through fresh snapshots
            self.state = "RESYNCING"
            self.reconnect_attempt = 0
            out += self.facts.ask(now_ns)  # perhaps another gateway now
            for sym in self.syms:
                out += self._resync(sym, now_ns, reason="stale_recovered")
        for sym, seq in hb.seqs.items():
            st = self.syms.get(sym)
            if st is None or st.state != SYNCED:
                continue
            if seq > st.last_seq:
                # deltas and heartbeats share one ordered stream: a higher seq here was lost
                self.gaps += 1
                out += self._resync(sym, now_ns, reason="gap_hb")
            elif seq < st.last_seq and seq <= 1:
                out += self._resync(sym, now_ns, reason="seq_reset")
        return out

    def on_instruments(self, m: Instruments, now_ns: int) -> Out:
        """The gateway's instruments: its protocol version and kinds (``facts``)."""
        return self.facts.on_instruments(m, now_ns)

    def on_mark(self, m: Mark, now_ns: int) -> Out:
        """A perpetual's mark (protocol v2): kept and forwarded (``facts``)."""
        return self.facts.on_mark(m, now_ns)

    def on_md_status(self, s: MdStatus, now_ns: int) -> Out:
        msg = SessionStatus(self.venue, s.sym, s.state, s.ts)
        return [(dest, msg) for dest in self.status_to]

    def on_clock_jump(self, m: ClockJump, now_ns: int) -> Out:
        """The node was frozen for ``m.gap_ns``: what waits in the sockets is that old and a
        delta may have been dropped on the way, so every book is resynced from a fresh snapshot
        (invalid until then). The heartbeats missed were our silence, not the venue's: the
        staleness clock restarts now instead of reconnecting a live feed."""
        self.last_hb_ns = max(self.last_hb_ns, now_ns)
        out: Out = []
        for sym in self.syms:
            out += self._resync(sym, now_ns, reason="clock_jump")
        return out

    def on_resync(self, m: Resync, now_ns: int) -> Out:
        """The Book found the data of ``m.sym`` bad (crossed, bad value); fetch a snapshot."""
        st = self.syms.get(m.sym)
        if st is not None and st.state == SYNCED:
            # the snapshot itself was unusable (e.g. crossed): fetching another one is the same
            # resync retried, not a new one
            retry = st.last_seq == st.snapshot_seq
            return self._resync(m.sym, now_ns, count=not retry, reason="book_rejected")
        return []

    def on_error(self, err: Any, now_ns: int) -> Out:
        self.rejects += 1
        return []

    def on_pong(self, p: Pong, now_ns: int) -> Out:
        """A pong (either protocol version): a clock sample (``calib``)."""
        self.calib.on_pong(p, now_ns)
        return []

    def clock(self) -> tuple[int, int]:
        """Return (offset_ns, one_way_ns): venue clock minus ours, and one-way latency."""
        return self.calib.clock()

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        key = t.key
        if key == HEALTH_TIMER:
            out = self._check_stale(now_ns)  # a list of its own
            for st in self.syms.values():
                # a synced symbol's resync count decays (it never goes below 0)
                if st.recent_resyncs > 0 and st.state == SYNCED:
                    st.recent_resyncs -= 1
            out += self._health(now_ns)
            out.append(("@timer", SetTimer(HEALTH_TIMER, now_ns + HEALTH_PERIOD_NS)))
            return out
        if key == PING_TIMER:
            self.ping_sent_ns = now_ns
            return [*self.facts.retry(now_ns), ("@oe", Ping(ts=now_ns)),
                    ("@timer", SetTimer(PING_TIMER, now_ns + self.ping_interval_ns))]
        if key == RECONNECT_TIMER:
            return self._reconnect(now_ns)
        if key == SNAPSHOT_TIMER:
            st = self.syms.get(t.arg)
            if st is not None and st.state == RESYNCING:
                st.snap_pending_since = now_ns
                return [("@ref", SnapshotReq(sym=t.arg)),
                        ("@timer", SetTimer(SNAPSHOT_TIMER, now_ns + self.snapshot_retry_ns,
                                            t.arg))]
        return []

    def _check_stale(self, now_ns: int) -> Out:
        out: Out = []
        if self.book_stale_after_ns and self.state != STALE:
            for sym, st in self.syms.items():
                if st.state == SYNCED and not st.quiet and \
                        now_ns - st.last_recv_ns > self.book_stale_after_ns:
                    # the book is still right (no gap), only old: unusable until it moves again
                    st.quiet = True
                    self.stale_periods += 1
                    out.append((self.books[sym], BookInvalid(self.venue, sym, "book_stale",
                                                             now_ns)))
        if self.state == STALE or now_ns - self.last_hb_ns <= self.stale_after_ns:
            return out
        self.state = STALE
        self.stale_periods += 1
        for sym, st in self.syms.items():
            st.state = RESYNCING
            st.buffer = []
            book = self.books.get(sym)
            if book is not None:
                out.append((book, BookInvalid(self.venue, sym, "stale", now_ns)))
        return out + self._reconnect(now_ns)

    def _reconnect(self, now_ns: int) -> Out:
        if self.state != STALE:
            return []
        self.reconnects += 1
        delay = min(self.backoff_max_ns, self.backoff_ns << min(self.reconnect_attempt, 16))
        self.reconnect_attempt += 1
        # full jitter on half the delay: many engines reconnecting never stampede a gateway
        delay = delay // 2 + int(self.rng.random() * (delay // 2))
        return [("@host", Reconnect("md")), ("@host", Reconnect("ref")),
                ("@timer", SetTimer(RECONNECT_TIMER, now_ns + delay))]

    def on_bad_frame(self, b: BadFrame, now_ns: int) -> Out:
        """Count a frame that failed to decode and resync every symbol: it may have been a delta."""
        self.rejects += 1
        out: Out = []
        for sym, st in self.syms.items():
            if st.state == SYNCED:
                out += self._resync(sym, now_ns, reason="bad_frame")
        return out

    def _health(self, now_ns: int) -> Out:
        offset, one_way = self.clock()
        h = FeedHealth(self.venue, self.state, self.gaps, self.resyncs, self.duplicates,
                       self.rejects, self.last_hb_ns, now_ns, self.stale_periods, offset,
                       one_way, self.reconnects)
        return [(dest, h) for dest in self.health_to]

    def snapshot(self) -> dict[str, Any]:
        """Return counters and per-symbol state."""
        offset, one_way = self.clock()
        return {
            "venue": self.venue, "state": self.state, "gaps": self.gaps,
            "resyncs": self.resyncs, "duplicates": self.duplicates,
            "rejected_frames": self.rejects, "deltas": self.deltas,
            "stale_periods": self.stale_periods, "reconnects": self.reconnects,
            "clock_offset_us": round(offset / 1e3, 1), "one_way_us": round(one_way / 1e3, 1),
            "symbols": {s: {"state": st.state, "seq": st.last_seq} for s, st in self.syms.items()},
            **self.facts.snapshot(),
        }
