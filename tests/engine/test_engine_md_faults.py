"""The engine's own Feed and Book against each simulator market-data fault, on a test clock.

The simulator (a ``SimCore``) produces exactly what the engine would receive; the engine's
``FeedCore`` and ``BookCore`` consume it, asking the simulator for snapshots as they would over
ref. Each test checks, against a protocol-following reference ``Mirror`` fed the same frames:

- no usable book is ever published that differs from the reference (no decision on a bad book);
- the engine resyncs exactly as often as the reference says the fault requires;
- afterwards the engine's book is the venue's book.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors.book import BookCore
from actors.feed import FeedCore
from actors.runtime.dispatch import Dispatcher, Sink
from tests.sim.test_sim_harness import MD, Run, cfg_with
from transports.errors import CodecError
from transports.wire.messages import BadFrame, BookUpdate
from transports.wire.venue_msgs import Snapshot, SnapshotReq

SHFE, AU = "shfe", "au2606"


class _Edges(Sink):
    """The feed's snapshot requests and the book's publications (to ``strategy``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def send(self, actor: str, key: str, msg: Any) -> None:
        if key == "ref":  # other frames (the feed's session pings) have no answer here
            assert isinstance(msg, SnapshotReq), msg
            self.engine.snapshot_wanted = True

    def forward(self, dest: str, msg: Any) -> None:
        if dest == "strategy":
            self.engine.publish(msg)

    def failed(self, actor: str, exc: BaseException, now_ns: int) -> None:
        raise exc


class Engine:
    """FeedCore + BookCore of one symbol, routed by the host's ``Dispatcher``, driven by a
    simulator ``Run``."""

    def __init__(self, run: Run, venue: str, sym: str) -> None:
        self.run, self.venue, self.sym = run, venue, sym
        self.book_name = f"book.{venue}:{sym}"
        self.feed = FeedCore(f"feed.{venue}", venue, [sym], {sym: self.book_name}, [], [],
                             stale_after_ms=60_000)
        self.book = BookCore(self.book_name, venue, sym, ["strategy"], depth=20)
        self.snapshot_wanted = False
        self.dispatch = Dispatcher({self.feed.name: self.feed, self.book_name: self.book},
                                   _Edges(self), journaling=False)
        self.published: list[tuple[int, BookUpdate]] = []
        self.bad_publications: list[str] = []
        self.compared = 0
        self.ref_mirror = run.mirror(venue, sym)
        self.dispatch.start(self.feed.name, self.feed, run.now)
        run.mirrors[(venue, sym + "#engine")] = self  # type: ignore[assignment]

    def publish(self, msg: BookUpdate) -> None:
        self.published.append((self.run.now, msg))
        if msg.valid:
            self._check_usable(msg)

    def _check_usable(self, u: BookUpdate) -> None:
        # a book offered as usable must be the venue's book at that sequence number
        snap = self.run.core.ref(self.run.now, self.venue, SnapshotReq(sym=self.sym))
        if not isinstance(snap, Snapshot) or snap.seq != self.book.seq:
            return  # the venue has moved on (a delayed stream): compared when they meet again
        self.compared += 1
        bids, asks = self.book.levels()
        if (dict(bids), dict(asks)) != (dict(snap.b), dict(snap.a)):
            self.bad_publications.append(f"seq {self.book.seq}: engine {bids[:2]}/{asks[:2]} "
                                         f"venue {snap.b[:2]}/{snap.a[:2]}")

    def before_batch(self, now: int) -> None:
        self.dispatch.fire_due(now)
        if self.snapshot_wanted:
            snap = self.run.core.ref(now, self.venue, SnapshotReq(sym=self.sym))
            if isinstance(snap, Snapshot):
                self.snapshot_wanted = False
                self.dispatch.route("@ref", [(self.feed.name, snap)], now)

    def on_frame(self, frame: bytes) -> None:
        now = self.run.now
        try:
            msg: Any = MD.decode(frame)
        except CodecError as exc:
            msg = BadFrame("md", str(exc))
        self.dispatch.route("@md", [(self.feed.name, msg)], now)

    def matches_venue(self) -> bool:
        snap = self.run.core.ref(self.run.now, self.venue, SnapshotReq(sym=self.sym))
        assert isinstance(snap, Snapshot)
        bids, asks = self.book.levels()
        return (self.book.valid and self.book.seq == snap.seq
                and (dict(bids), dict(asks)) == (dict(snap.b), dict(snap.a)))


FAULTS = [
    # (kind, at_s, for_s): one each, on shfe; the run lasts long enough to recover
    ("md_drop", 0.2, 0.0),
    ("md_duplicate", 0.2, 0.0),
    ("md_reorder", 0.2, 0.0),
    ("md_delay", 0.2, 0.0),
    ("md_crossed", 0.2, 0.0),
    ("md_bad", 0.2, 0.0),
    ("md_stall", 0.2, 0.6),
    ("md_reset", 0.2, 0.0),
    ("stop", 0.2, 0.5),
]


@pytest.mark.parametrize(("kind", "at_s", "for_s"), FAULTS, ids=[f[0] for f in FAULTS])
def test_engine_survives_each_md_fault(kind: str, at_s: float, for_s: float) -> None:
    run = Run(cfg_with([{"kind": kind, "at_s": at_s, "for_s": for_s, "venue": SHFE}]))
    engine = Engine(run, SHFE, AU)
    run.to(2500)
    assert run.counts().get(f"fault_{kind}", 0) >= 1, "the fault was not injected"
    # no usable book that differs from the venue's book at the same sequence number
    assert engine.bad_publications == []
    assert engine.compared > 50
    # exactly the resyncs the fault requires (the reference's count; a resync the engine
    # starts from a bad frame or a rejected book counts the same as the reference's)
    assert engine.feed.resyncs == engine.ref_mirror.resyncs, (
        engine.feed.resyncs, engine.ref_mirror.reasons)
    # and afterwards the engine's book is the venue's
    assert engine.matches_venue()
    assert any(u.valid for _, u in engine.published[-3:])


def test_without_faults_there_is_no_resync_and_the_books_agree() -> None:
    run = Run(cfg_with([]))
    engine = Engine(run, SHFE, AU)
    run.to(1500)
    assert engine.feed.resyncs == 0 and engine.bad_publications == []
    assert engine.matches_venue()
