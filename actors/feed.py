"""Feed actor: one market-data session with one venue gateway.

In: gateway md frames (``delta``, ``status``, ``hb``) on a SUB socket, snapshot replies on the ref
DEALER. Out: ``BookSnapshot`` / ``BookDelta`` / ``BookInvalid`` to each symbol's Book actor,
``SessionStatus`` to the strategies, ``FeedHealth`` to the RiskSupervisor.

Sequence integrity: per symbol, each delta must be the previous plus one. A duplicate or older
delta is ignored and counted. A gap (seen on a delta or on a heartbeat's ``seqs``) makes the book
INVALID at once and starts a resync: live deltas are buffered, a snapshot is requested, deltas
already inside the snapshot are dropped and the rest must continue it without a hole (else the
resync starts again). A sequence that restarts at 1 is a gateway restart: a full resync.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import zmq

from actors.base import Core, Out, Shell, SocketSpec
from transports.codec import Codec, encode
from transports.errors import CodecError
from transports.latency import LatencyRecorder
from transports.messages import (
    BadFrame,
    BookDelta,
    BookInvalid,
    BookSnapshot,
    Control,
    FeedHealth,
    SessionStatus,
    SetTimer,
    Timer,
)
from transports.venue_msgs import Delta, Heartbeat, MdMessage, MdStatus, RefReply, Snapshot, \
    SnapshotReq

SYNCED = "SYNCED"
RESYNCING = "RESYNCING"
#: Deltas buffered during a resync before we give up and ask for a fresh snapshot again.
MAX_BUFFERED = 10_000


class _Sym:
    __slots__ = ("buffer", "last_seq", "snap_pending_since", "state")

    def __init__(self) -> None:
        self.state = RESYNCING
        self.last_seq = 0
        self.buffer: list[Delta] = []
        self.snap_pending_since = 0


class FeedCore(Core):
    """Pure sequence checking and resync logic for one venue's market data."""

    def __init__(self, name: str, venue: str, symbols: Iterable[str], books: dict[str, str],
                 status_to: list[str], health_to: list[str], snapshot_retry_ms: int = 1000) -> None:
        super().__init__(name)
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

    # --- lifecycle -------------------------------------------------------------------------------

    def on_start(self, now_ns: int) -> Out:
        out: Out = []
        for sym in self.syms:
            out += self._resync(sym, now_ns, count=False)
        out.append(("@timer", SetTimer("health", now_ns + 1_000_000_000)))
        return out

    def _resync(self, sym: str, now_ns: int, count: bool = True, reason: str = "gap") -> Out:
        st = self.syms[sym]
        if count:
            self.resyncs += 1
        st.state = RESYNCING
        st.buffer = []
        st.snap_pending_since = now_ns
        out: Out = [("@ref", SnapshotReq(sym=sym))]
        book = self.books.get(sym)
        if book is not None:
            out.insert(0, (book, BookInvalid(self.venue, sym, reason, now_ns)))
        out.append(("@timer", SetTimer(f"snap:{sym}", now_ns + self.snapshot_retry_ns)))
        return out

    # --- market data -----------------------------------------------------------------------------

    def on_delta(self, d: Delta, now_ns: int) -> Out:
        st = self.syms.get(d.sym)
        if st is None:
            return []
        self.deltas += 1
        if st.state == RESYNCING:
            if len(st.buffer) >= MAX_BUFFERED:
                return self._resync(d.sym, now_ns, reason="buffer_overflow")
            st.buffer.append(d)
            return []
        if d.seq == st.last_seq + 1:
            st.last_seq = d.seq
            return [(self.books[d.sym], BookDelta(self.venue, d.sym, d.seq, d.ts, now_ns,
                                                  d.b, d.a))]
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
        st.state = SYNCED
        out.append(("@timer", SetTimer(f"snap:{s.sym}", 0)))
        self.state = "SYNCED" if all(x.state == SYNCED for x in self.syms.values()) \
            else "RESYNCING"
        return out

    def on_heartbeat(self, hb: Heartbeat, now_ns: int) -> Out:
        self.last_hb_ns = now_ns
        out: Out = []
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

    def on_md_status(self, s: MdStatus, now_ns: int) -> Out:
        msg = SessionStatus(self.venue, s.sym, s.state, s.ts)
        return [(dest, msg) for dest in self.status_to]

    def on_control(self, c: Control, now_ns: int) -> Out:
        """``resync <sym>``: the Book found the data bad (crossed, bad value); fetch a snapshot."""
        if c.cmd == "resync" and c.arg in self.syms and self.syms[c.arg].state == SYNCED:
            return self._resync(c.arg, now_ns, reason="book_rejected")
        return []

    def on_error(self, err: Any, now_ns: int) -> Out:
        self.rejects += 1
        return []

    def on_timer(self, t: Timer, now_ns: int) -> Out:
        if t.key == "health":
            return [*self._health(now_ns), ("@timer", SetTimer("health", now_ns + 1_000_000_000))]
        if t.key.startswith("snap:"):
            sym = t.key[5:]
            st = self.syms.get(sym)
            if st is not None and st.state == RESYNCING:
                return self._resync(sym, now_ns, reason="snapshot_timeout")
        return []

    def on_bad_frame(self, b: BadFrame, now_ns: int) -> Out:
        """Count a frame that failed to decode and resync every symbol: it may have been a delta."""
        self.rejects += 1
        out: Out = []
        for sym, st in self.syms.items():
            if st.state == SYNCED:
                out += self._resync(sym, now_ns, reason="bad_frame")
        return out

    def _health(self, now_ns: int) -> Out:
        h = FeedHealth(self.venue, self.state, self.gaps, self.resyncs, self.duplicates,
                       self.rejects, self.last_hb_ns, now_ns)
        return [(dest, h) for dest in self.health_to]

    def snapshot(self) -> dict[str, Any]:
        """Return counters and per-symbol state."""
        return {
            "venue": self.venue, "state": self.state, "gaps": self.gaps,
            "resyncs": self.resyncs, "duplicates": self.duplicates,
            "rejected_frames": self.rejects, "deltas": self.deltas,
            "symbols": {s: {"state": st.state, "seq": st.last_seq} for s, st in self.syms.items()},
        }


_md_codec: Codec[Any] = Codec(MdMessage)
_ref_codec: Codec[Any] = Codec(RefReply)


class FeedShell(Shell):
    """Owns the md SUB and ref DEALER sockets of one venue."""

    core: FeedCore

    def __init__(self, core: FeedCore, md_address: str, ref_address: str,
                 latency: LatencyRecorder | None = None) -> None:
        super().__init__(core)
        self.md_address = md_address
        self.ref_address = ref_address
        self.latency = latency

    def socket_specs(self) -> Iterable[SocketSpec]:
        topics = tuple(f"md.{s}".encode() for s in self.core.syms) + (b"hb",)
        return (
            SocketSpec("md", zmq.SUB, self.md_address, subscribe=topics),
            SocketSpec("ref", zmq.DEALER, self.ref_address),
        )

    def decode(self, key: str, frames: list[bytes], now_ns: int) -> Any:
        codec = _md_codec if key == "md" else _ref_codec
        try:
            msg = codec.decode(frames[-1])
        except CodecError as exc:
            return BadFrame(key, str(exc))
        if self.latency is not None and type(msg) is Delta:
            # venue stamp to our receive: the wire hop plus any queueing in front of us
            self.latency.record("md_wire", now_ns - msg.ts)
        return msg

    def send(self, key: str, msg: Any) -> None:
        self.sockets[key].send(encode(msg), zmq.NOBLOCK)
