"""The simulator's fast paths leave exactly what the plain paths would (no sockets).

Each shortcut taken for the gateway's speed is checked against the slow way it replaces: the
ladder replacement against removing and submitting each order, the delta's "nothing changed"
flag against the levels, the early-exit walks against sums over every level, and the truth's
deferred observation (``advance(settle=False)`` + ``settle``) against ``advance``.
"""

from __future__ import annotations

import random

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from transports.config.engine import load_config
from transports.venues.sim.core import SimCore
from transports.venues.sim.matching import MM_ACCOUNT, Book, Order
from transports.wire.venue_msgs import CancelReq, NewOrder

CFG = load_config(None)
T0 = 1_700_000_000_000_000_000


def _state(b: Book) -> tuple:
    """Everything observable about a book: levels, queues (who, how much), prices, seq."""
    return (
        b.levels("B"), b.levels("S"), b.best("B"), b.best("S"), b.seq,
        [(o.account, o.side, o.px, o.qty, o.cum, o.state) for s in "BS" for o in b.resting(s)],
    )


ladder = st.lists(st.integers(1, 9), min_size=0, max_size=6)


@settings(max_examples=80, deadline=None, database=None)
@given(ladder, ladder, st.integers(0, 3), st.sampled_from(["B", "S"]), st.integers(90, 110),
       st.integers(1, 40))
def test_replace_ladder_is_remove_and_submit(bq: list[int], aq: list[int], spread: int,
                                            side: str, px: int, qty: int) -> None:
    mid = 100
    bids = [(mid - i, q) for i, q in enumerate(bq)]
    asks = [(mid + 1 + spread + i, q) for i, q in enumerate(aq)]
    slow, fast = Book("X"), Book("X")
    for b in (slow, fast):  # an old ladder, published
        for s, p in (("B", 97), ("S", 106)):
            b.submit(Order("mm", MM_ACCOUNT, "", "X", s, p, 5, "GTC", 0))
        b.take_delta(0)
    assert fast.only(MM_ACCOUNT)
    slow.remove_account(MM_ACCOUNT)
    for s, lad in (("B", bids), ("S", asks)):
        for p, q in lad:
            assert slow.submit(Order("mm", MM_ACCOUNT, "", "X", s, p, q, "GTC", 1)) == []
    fast.replace_ladder([Order("mm", MM_ACCOUNT, "", "X", "B", p, q, "GTC", 1) for p, q in bids],
                        [Order("mm", MM_ACCOUNT, "", "X", "S", p, q, "GTC", 1) for p, q in asks])
    assert _state(fast) == _state(slow)
    assert fast.take_delta(2) == slow.take_delta(2)
    # and the books trade the same afterwards
    ex = [[(e.maker.px, e.qty) for e in b.submit(Order("o", "acct", "c", "X", side, px, qty,
                                                         "GTC", 3))] for b in (slow, fast)]
    assert ex[0] == ex[1]
    assert _state(fast) == _state(slow)
    assert fast.take_delta(4) == slow.take_delta(4)


book_ops = st.lists(
    st.tuples(
        st.sampled_from(["GTC", "IOC", "FOK", "cancel", "mm", "crossed", "reset", "none"]),
        st.sampled_from(["B", "S"]),
        st.integers(95, 105),
        st.integers(1, 8),
    ),
    min_size=1,
    max_size=50,
)


@settings(max_examples=80, deadline=None, database=None)
@given(book_ops)
def test_take_delta_publishes_every_change(seq_ops: list) -> None:
    """After ``take_delta`` the published view is the book, whatever came before (a change the
    "nothing changed" flag missed would leave the snapshot behind the levels)."""
    b = Book("X")
    resting: list[Order] = []
    for i, (kind, side, px, qty) in enumerate(seq_ops):
        if kind == "cancel" and resting:
            o = resting.pop(0)
            if o.is_open and b.remove(o):
                o.state = "canceled"
        elif kind == "mm":
            b.remove_account(MM_ACCOUNT)
            b.submit(Order("mm", MM_ACCOUNT, "", "X", "B", px - 3, qty, "GTC", 0))
            b.submit(Order("mm", MM_ACCOUNT, "", "X", "S", px + 3, qty, "GTC", 0))
        elif kind == "crossed":
            b.crossing_delta(i, qty)
        elif kind == "reset":
            b.reset_seq()
        elif kind in ("GTC", "IOC", "FOK"):
            o = Order(f"o{i}", f"a{i % 3}", f"o{i}", "X", side, px, qty, kind, 0)
            b.submit(o)
            if o.is_open and kind == "GTC":
                resting.append(o)
        seq = b.seq
        d = b.take_delta(i)
        snap = b.snapshot(i)
        assert snap.b == b.levels("B") and snap.a == b.levels("S")
        assert (d is None) == (b.seq == seq)
        assert b.take_delta(i) is None  # nothing new


@settings(max_examples=60, deadline=None, database=None)
@given(book_ops, st.sampled_from(["B", "S"]), st.integers(90, 110), st.integers(1, 30))
def test_walks_equal_sums_over_every_level(seq_ops: list, side: str, limit: int,
                                           lots: int) -> None:
    b = Book("X")
    for i, (kind, s, px, qty) in enumerate(seq_ops):
        if kind in ("GTC", "mm"):
            b.submit(Order(f"o{i}", "a", f"o{i}", "X", s, px, qty, "GTC", 0))
    opp = "S" if side == "B" else "B"
    crossing = [q for p, q in b.levels(opp) if (p <= limit if side == "B" else p >= limit)]
    assert b.available(side, limit) == sum(crossing)
    levels, need, cost = b.levels(side), lots, 0
    for p, q in levels:
        take = min(need, q)
        cost, need = cost + take * p, need - take
    assert b.vwap(side, lots) == (cost / lots if need == 0 else None)


def _drive(defer: bool) -> bytes:
    """Every output and the truth of a SimCore run with orders that rest, cross and cancel;
    ``defer``: the gateway's way (``advance(settle=False)``, send, ``settle``)."""
    core = SimCore(CFG, T0)
    enc = msgspec.msgpack.Encoder()
    out = [enc.encode(core.advance(T0))]
    rng = random.Random(3)
    now, n = T0, 0
    for _ in range(1500):
        now += rng.randint(200_000, 4_000_000)
        v = rng.choice(["shfe", "comex"])
        sym = next(iter(core.venues[v].books))
        bid = core.venues[v].books[sym].best("B")
        if bid is not None and rng.random() < 0.6:
            n += 1
            core.request(now, v, "acct", NewOrder(
                cl=f"c{n}", sym=sym, side=rng.choice("BS"), px=bid + rng.randint(-3, 4),
                qty=rng.randint(1, 20), tif=rng.choice(["IOC", "GTC", "FOK"]), ts=now))
            if rng.random() < 0.3:
                core.request(now + 1, v, "acct", CancelReq(cl=f"c{rng.randint(1, n)}", ts=now))
        if defer:
            out.append(enc.encode(core.advance(now, settle=False)))
            core.settle()
        else:
            out.append(enc.encode(core.advance(now)))
    out.append(enc.encode(core.finish(now + 1).to_dict()))
    return b"".join(out)


def test_deferred_truth_observation_changes_nothing() -> None:
    assert _drive(defer=True) == _drive(defer=False)
