"""A harness for the simulator's fault tests, and its baseline: with every switch off nothing
goes wrong.

``Run`` drives a ``SimCore`` with a ``TestClock`` (no sockets, deterministic) and records what an
engine would receive: every md frame as bytes through the engine's own md decoder, and every oe
report. ``Mirror`` follows one symbol's md the way the protocol's Feed rules say (gaps, duplicates,
sequence resets, bad frames, crossed books -> resync from a snapshot), so a test can check how many
resyncs a fault costs and that the book is right afterwards.
"""

from __future__ import annotations

from typing import Any

import msgspec

from transports.clock import TestClock
from transports.config.engine import AppConfig, load_config, with_overrides
from transports.config.sim import FaultsConfig, FaultWindow
from transports.errors import CodecError
from transports.venues.sim.core import SimCore
from transports.wire.codec import Codec
from transports.wire.venue_msgs import Delta, Heartbeat, MdMessage, NewOrder, Snapshot, SnapshotReq

CFG = load_config(None)
T0 = 1_700_000_000_000_000_000
MS = 1_000_000
ENC = msgspec.msgpack.Encoder()
MD = Codec(MdMessage)
MAX_QTY = 10_000_000


def cfg_with(schedule: list[dict[str, Any]] | None = None, **faults: Any) -> AppConfig:
    """The demo config with these ``[sim.faults]`` switches."""
    f = FaultsConfig(**faults, schedule=[FaultWindow(**w) for w in schedule or []])
    return with_overrides(CFG, sim=msgspec.structs.replace(CFG.sim, faults=f))


class Mirror:
    """One symbol's book as a protocol-following feed would hold it."""

    def __init__(self, core: SimCore, venue: str, sym: str) -> None:
        self.core, self.venue, self.sym = core, venue, sym
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.last = 0
        self.need = True  # waiting for a snapshot (start, or after a resync)
        self.resyncs = self.duplicates = self.rejected = 0
        self.reasons: list[str] = []

    def _resync(self, why: str) -> None:
        self.resyncs += 1
        self.reasons.append(why)
        self.need = True

    def before_batch(self, now: int) -> None:
        """A pending snapshot request is answered now (before the batch's frames arrive)."""
        if not self.need:
            return
        snap = self.core.ref(now, self.venue, SnapshotReq(sym=self.sym))
        if not isinstance(snap, Snapshot) or _crossed(dict(snap.b), dict(snap.a)):
            return  # no answer (stopped) or unusable: ask again next time
        self.bids, self.asks, self.last, self.need = dict(snap.b), dict(snap.a), snap.seq, False

    def on_frame(self, frame: bytes) -> None:
        try:
            msg = MD.decode(frame)
        except CodecError:
            self.rejected += 1
            return
        if isinstance(msg, Heartbeat):
            s = msg.seqs.get(self.sym)
            if self.need or s is None:
                return
            if s > self.last:
                self._resync("hb_gap")
            elif s < self.last and s <= 1:
                self._resync("hb_reset")
            return
        if not isinstance(msg, Delta) or msg.sym != self.sym or self.need:
            return
        if msg.seq == 1 and self.last > 1:
            self._resync("reset")
        elif msg.seq <= self.last:
            self.duplicates += 1
        elif msg.seq > self.last + 1:
            self._resync("gap")
        else:
            for book, levels in ((self.bids, msg.b), (self.asks, msg.a)):
                for px, q in levels:
                    if q == 0:
                        book.pop(px, None)
                    else:
                        book[px] = q
            self.last = msg.seq
            if _bad(msg) or _crossed(self.bids, self.asks):
                self._resync("bad_book")

    def matches_venue(self, now: int) -> bool:
        """True when this book is the venue's published book."""
        snap = self.core.ref(now, self.venue, SnapshotReq(sym=self.sym))
        assert isinstance(snap, Snapshot)
        return (
            not self.need
            and self.last == snap.seq
            and (self.bids, self.asks) == (dict(snap.b), dict(snap.a))
        )


def _crossed(bids: dict[int, int], asks: dict[int, int]) -> bool:
    return bool(bids and asks and max(bids) >= min(asks))


def _bad(d: Delta) -> bool:
    return any(px <= 0 or q < 0 or q > MAX_QTY for px, q in (*d.b, *d.a))


class Run:
    """A ``SimCore`` on a ``TestClock``, with what the engine would receive."""

    def __init__(self, cfg: AppConfig = CFG) -> None:
        self.clock = TestClock(T0)
        self.core = SimCore(cfg, T0)
        self.md: list[tuple[int, str, str, bytes]] = []  # (arrival, venue, topic, frame)
        self.oe: list[tuple[int, str, str, Any]] = []  # (arrival, venue, account, msg)
        self.mirrors: dict[tuple[str, str], Mirror] = {}
        self._flush(T0, *self.core.advance(T0))

    @property
    def now(self) -> int:
        return self.clock.now_ns()

    def mirror(self, venue: str, sym: str) -> Mirror:
        m = Mirror(self.core, venue, sym)
        m.before_batch(self.now)
        self.mirrors[(venue, sym)] = m
        return m

    def to(self, t_ms: float) -> None:
        """Run until ``t_ms`` after the start."""
        end = T0 + round(t_ms * MS)
        while (t := self.core.next_due()) <= end:
            self.clock.set_ns(max(t, self.now))
            for m in self.mirrors.values():
                m.before_batch(self.now)
            self._flush(self.now, *self.core.advance(self.now))
        self.clock.set_ns(max(end, self.now))

    def _flush(self, now: int, md: list[Any], oe: list[Any]) -> None:
        for venue, topic, msg in md:
            frame = ENC.encode(msg)
            self.md.append((now, venue, topic, frame))
            for (v, _), m in self.mirrors.items():
                if v == venue:
                    m.on_frame(frame)
        self.oe.extend((now, v, a, m) for v, a, m in oe)

    def send(self, venue: str, req: Any, account: str = "acct") -> None:
        self.core.request(self.now, venue, account, req)

    def deltas(self, venue: str, sym: str) -> list[tuple[int, Delta]]:
        """(arrival, delta) of ``venue:sym`` that the engine's decoder accepts."""
        out = []
        for t, v, _, frame in self.md:
            if v == venue:
                try:
                    msg = MD.decode(frame)
                except CodecError:
                    continue
                if isinstance(msg, Delta) and msg.sym == sym:
                    out.append((t, msg))
        return out

    def frames(self, venue: str) -> list[tuple[int, Any]]:
        """(arrival, msgpack-decoded map) of every md frame of ``venue``."""
        return [(t, msgspec.msgpack.decode(f)) for t, v, _, f in self.md if v == venue]

    def replies(self, account: str = "acct") -> list[Any]:
        return [m for _, _, a, m in self.oe if a == account]

    def ask_price(self, venue: str, sym: str, ticks: int = 2) -> int:
        best = self.core.venues[venue].books[sym].best("S")
        assert best is not None
        return best + ticks

    def counts(self) -> dict[str, int]:
        return self.core.truth.to_dict()["counts"]


def test_no_faults_no_resyncs_and_books_match() -> None:
    r = Run()
    mirrors = [r.mirror("shfe", "au2606"), r.mirror("comex", "GCZ6"), r.mirror("fx", "USDCNH")]
    r.to(300)
    r.send("shfe", NewOrder("c1", "au2606", "B", r.ask_price("shfe", "au2606"), 3, "IOC", r.now))
    r.to(3000)
    for m in mirrors:
        assert (m.resyncs, m.duplicates, m.rejected) == (0, 0, 0), m.reasons
        assert m.matches_venue(r.now)
        seqs = [d.seq for _, d in r.deltas(m.venue, m.sym)]
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > 50
    counts = r.counts()
    assert all(n == 0 for k, n in counts.items() if k.startswith("fault_"))
    assert counts["fills"] >= 1 and r.core.truth.fault_events == []


def test_same_seed_same_faults_different_seed_differs() -> None:
    def run(seed: int) -> tuple[list[bytes], list[dict[str, Any]]]:
        cfg = cfg_with(md_drop=0.05, md_duplicate=0.05, md_reorder=0.05, md_bad=0.05)
        cfg = with_overrides(cfg, sim=msgspec.structs.replace(cfg.sim, seed=seed))
        r = Run(cfg)
        r.to(2000)
        return [f for *_, f in r.md], r.core.truth.fault_events

    a, b, c = run(3), run(3), run(4)
    assert a == b and len(a[1]) > 10
    assert a[1] != c[1]
