"""Bad numbers in a venue's market data (fault catalogue F07): NaN, infinities, floats, numbers
past int64, strings, booleans, nil and nested values where a level's price or quantity goes,
in deltas of one or many levels. Each frame goes through the engine's own market-data decoder,
Feed and Book (routed by the host's ``Dispatcher``) exactly as a live frame does. Whatever comes,
the book offered as usable never holds a level that is not a positive price with a quantity in
``0..MAX_LEVEL_LOTS``, and a frame refused as a whole asks the venue for a fresh snapshot."""

from __future__ import annotations

import math
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.book import MAX_LEVEL_LOTS, BookCore
from actors.feed import FeedCore
from actors.runtime.dispatch import Dispatcher, Sink
from transports.errors import CodecError
from transports.wire.codec import Codec
from transports.wire.messages import BadFrame
from transports.wire.venue_msgs import MdMessage, Snapshot, SnapshotReq

MD: Codec[Any] = Codec(MdMessage)
SYM, BOOK = "au2606", "book.shfe:au2606"

#: what a hostile or broken gateway might put where an integer goes
HOSTILE = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1e400, -0.0, 30500.5, True, False, None,
                     "30500", "", [], {}, [30500, 1], 2**63, 2**64 - 1, -(2**63), 0, -1,
                     MAX_LEVEL_LOTS + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.text(max_size=6),
)
GOOD_PX = st.integers(min_value=30_000, max_value=31_000)
GOOD_QTY = st.integers(min_value=0, max_value=50)


class _Venue(Sink):
    """What the feed asks the venue (snapshot requests) and what the book publishes."""

    def __init__(self) -> None:
        self.asked: list[SnapshotReq] = []

    def send(self, actor: str, key: str, msg: Any) -> None:
        if isinstance(msg, SnapshotReq):
            self.asked.append(msg)

    def forward(self, dest: str, msg: Any) -> None:
        pass

    def failed(self, actor: str, exc: BaseException, now_ns: int) -> None:
        raise exc


def _synced() -> tuple[Dispatcher, BookCore, _Venue]:
    venue = _Venue()
    feed = FeedCore("feed.shfe", "shfe", [SYM], {SYM: BOOK}, [], [], stale_after_ms=60_000)
    book = BookCore(BOOK, "shfe", SYM, ["strategy"], depth=20)
    d = Dispatcher({feed.name: feed, BOOK: book}, venue, journaling=False)
    d.start(feed.name, feed, 0)
    d.route("@ref", [(feed.name, Snapshot(sym=SYM, seq=10, ts=0,
                                          b=[(30_400 - i, 5) for i in range(5)],
                                          a=[(30_410 + i, 5) for i in range(5)]))], 1)
    assert book.valid
    venue.asked.clear()
    return d, book, venue


@settings(max_examples=300, deadline=None)
@given(bad=HOSTILE, where=st.sampled_from(["px", "qty"]), side=st.sampled_from(["b", "a"]),
       others=st.lists(st.tuples(GOOD_PX, GOOD_QTY), max_size=30), at=st.integers(0, 30))
def test_a_bad_number_never_reaches_a_usable_book(bad: Any, where: str, side: str,
                                                  others: list[tuple[int, int]],
                                                  at: int) -> None:
    d, book, venue = _synced()
    level: list[Any] = [bad, 3] if where == "px" else [30_405, bad]
    levels: list[Any] = [list(x) for x in others]
    levels.insert(min(at, len(levels)), level)
    frame = msgspec.msgpack.encode({"t": "delta", "sym": SYM, "seq": 11, "ts": 2,
                                    side: levels, ("a" if side == "b" else "b"): []})
    try:
        msg: Any = MD.decode(frame)
    except CodecError as exc:
        msg = BadFrame("md", str(exc))
    d.route("@md", [("feed.shfe", msg)], 3)
    if book.valid:
        bids, asks = book.levels()
        for px, qty in bids + asks:
            assert type(px) is int and type(qty) is int
            assert px > 0 and 0 < qty <= MAX_LEVEL_LOTS, (bad, px, qty)
    else:
        assert venue.asked == [SnapshotReq(sym=SYM)]  # refused: a fresh snapshot is asked for
