"""Properties of the paper venue over random order flow and a random source book: no order
takes more than the source shows, none fills beyond its quantity or before its latency, and the
positions equal the sum of the fills the accounts were told about."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.paper.test_matcher import Rig
from transports.wire.venue_msgs import CancelReq, Delta, Done, Fill, NewOrder, PositionsReq

ACCOUNTS = ("a", "b")

_new = st.tuples(st.just("new"), st.sampled_from(ACCOUNTS), st.sampled_from("BS"),
                 st.integers(96, 104), st.integers(1, 15), st.sampled_from(["IOC", "FOK", "GTC"]))
_delta = st.tuples(st.just("delta"), st.lists(st.tuples(st.integers(-4, 4), st.integers(0, 12)),
                                              min_size=1, max_size=4))
_cancel = st.tuples(st.just("cancel"), st.sampled_from(ACCOUNTS), st.integers(0, 30))
_wait = st.tuples(st.just("wait"), st.integers(1, 3))


@settings(max_examples=150, deadline=None)
@given(latency=st.integers(0, 2), queue=st.sampled_from([0.0, 0.5, 1.0]),
       plan=st.lists(st.one_of(_new, _delta, _cancel, _wait), min_size=1, max_size=50))
def test_no_fill_beyond_the_visible_quantity_or_the_order_and_positions_sum_the_fills(
        latency: int, queue: float, plan: list[tuple[Any, ...]]) -> None:
    r = Rig([(99, 10), (98, 10), (97, 10)], [(101, 10), (102, 10), (103, 10)],
            latency_us=latency)
    r.v.model.queue_frac = queue
    now = 0
    n = 0
    arrived: dict[tuple[str, str], int] = {}
    qty: dict[tuple[str, str], int] = {}
    got: dict[tuple[str, str], int] = Counter()
    closed: dict[tuple[str, str], int] = {}
    signed: dict[str, int] = Counter()
    tids: set[str] = set()
    taken: dict[tuple[str, int], int] = Counter()  # T fills per source level since it changed

    def collect() -> None:
        for account, m in r.v.take_out():
            if isinstance(m, Fill):
                key = (account, m.cl)
                assert m.tid not in tids
                tids.add(m.tid)
                assert m.qty > 0 and m.ts >= arrived[key] + latency * 1000
                got[key] += m.qty
                assert got[key] <= qty[key], "filled beyond the order's quantity"
                o = r.v.orders[key]
                signed[account] += m.qty if o.side == "B" else -m.qty
                if m.liq == "T":
                    level = ("S" if o.side == "B" else "B", m.px)
                    taken[level] += m.qty
                    assert taken[level] <= r.book.qty(*level), "took more than the source shows"
            elif isinstance(m, Done):
                key = (account, m.cl)
                assert key not in closed, "a second done"
                closed[key] = m.cum
                assert m.cum == got[key]
        for sym, side_levels in r.v.model.consumed.items():
            for side, lv in side_levels.items():
                for px, q in lv.items():
                    assert q <= r.book.qty(side, px), f"overlay beyond the level {sym} {side}{px}"

    for step in plan:
        kind = step[0]
        if kind == "new":
            _, account, side, px, q, tif = step
            n += 1
            cl = str(n)
            arrived[(account, cl)], qty[(account, cl)] = now, q
            r.v.request(now, account, NewOrder(cl=cl, sym="X", side=side, px=px, qty=q,
                                               tif=tif, ts=now))
        elif kind == "cancel":
            r.v.request(now, step[1], CancelReq(cl=str(step[2]), ts=now))
        elif kind == "wait":
            now += step[1] * 1000
            r.v.advance(now)
        else:
            r.v.advance(now)
            collect()
            b, a = _moves(r, step[1])
            if not b and not a:
                continue
            r.seq += 1
            _, changes = r.book.on_delta(Delta(sym="X", seq=r.seq, ts=now, b=b, a=a))
            assert r.book.synced
            for c in changes:
                taken.pop((c.side, c.px), None)
            r.v.on_book(now, "X", changes)
        collect()
    now += 10_000
    r.v.advance(now)
    collect()
    for key, o in r.v.orders.items():
        assert o.cum <= o.qty and o.cum == got.get(key, 0) == sum(f.qty for f in o.fills)
        if not o.is_open and o.oid:
            assert closed[key] == o.cum
    for account in ACCOUNTS:
        r.v.request(now, account, PositionsReq())
        (rep,) = [m for acct, m in r.v.take_out() if acct == account]
        assert {p.sym: p.qty for p in rep.list if p.qty} == (
            {"X": signed[account]} if signed[account] else {})
        assert r.v.truth.positions.get(account, {}).get("X", 0) == signed[account]


def _moves(r: Rig, moves: list[tuple[int, int]]) -> tuple[list[tuple[int, int]],
                                                         list[tuple[int, int]]]:
    """Level changes around 100 that keep the source book uncrossed: bids below the best ask,
    asks above the best bid, after the change."""
    levels = {"B": dict(r.book.levels["B"]), "S": dict(r.book.levels["S"])}
    out: dict[str, dict[int, int]] = defaultdict(dict)
    for off, q in moves:
        px = 100 + off
        side = "B" if off < 0 or (off == 0 and q % 2) else "S"
        trial = {s: dict(lv) for s, lv in levels.items()}
        if q:
            trial[side][px] = q
        else:
            trial[side].pop(px, None)
        bb, ba = max(trial["B"], default=None), min(trial["S"], default=None)
        if bb is not None and ba is not None and bb >= ba:
            continue
        levels = trial
        out[side][px] = q
    return (sorted(out["B"].items(), reverse=True), sorted(out["S"].items()))
