"""The Book's touch-only subscribers (risk, the LegExecutors): what reaches them and that their
decisions are those of a subscriber that hears every update."""

from __future__ import annotations

import pickle
import random
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.book import TOUCH_REFRESH_NS, BookCore
from actors.leg.executor import LegExecutorCore
from actors.risk.risk import RiskCore
from actors.runtime.checkpoint import dumps
from actors.runtime.node import build_shells
from actors.topology import DEFAULT, Topology
from tests.support.contracts import au
from transports.clock import LiveClock
from transports.config.engine import RiskConfig, load_config
from transports.latency import LatencyRecorder
from transports.wire.messages import (
    BookDelta,
    BookInvalid,
    BookSnapshot,
    BookUpdate,
    ExecReport,
    LegOrder,
    Resync,
    RiskView,
)

SUBS = ["strategy.p", "combo", "risk", "leg.shfe"]
FULL = ["strategy.p", "combo"]
MS = 1_000_000


def _book(**kw: Any) -> BookCore:
    return BookCore("book.shfe:au2606", "shfe", "au2606", list(SUBS), depth=10,
                    publish_levels=5, **kw)


def _snap(t: int = 10, seq: int = 1) -> BookSnapshot:
    return BookSnapshot("shfe", "au2606", seq, t, t, [(100, 2), (99, 3), (98, 1)],
                        [(101, 5), (102, 1)])


def _delta(seq: int, t: int, bids: list[tuple[int, int]],
           asks: list[tuple[int, int]] | None = None) -> BookDelta:
    return BookDelta("shfe", "au2606", seq, t, t, bids, asks or [])


def _to(out: list[tuple[str, Any]]) -> list[str]:
    return [d for d, m in out if isinstance(m, BookUpdate)]


def test_a_touch_price_change_reaches_them_a_depth_or_quantity_change_does_not() -> None:
    b = _book()
    assert _to(b.on_book_snapshot(_snap(), 1)) == SUBS
    assert _to(b.on_book_delta(_delta(2, 20, [(100, 7)]), 2)) == FULL  # touch quantity
    assert _to(b.on_book_delta(_delta(3, 30, [(97, 4)], [(103, 2)]), 3)) == FULL  # deeper
    assert _to(b.on_book_delta(_delta(4, 40, [], [(101, 0)]), 4)) == SUBS  # best ask left
    out = b.on_book_delta(_delta(5, 50, [(100, 1)], [(102, 9)]), 5)  # qty only, ask now 102
    assert _to(out) == FULL
    out = b.on_book_delta(_delta(6, 60, [(100, 5), (100, 6)], []), 6)  # a many-level delta
    assert _to(out) == FULL
    u = b.on_book_delta(_delta(7, 70, [(100, 0)]), 7)  # best bid left: 99 now
    assert _to(u) == SUBS and u[0][1].bid_px[0] == 99 and u[0][1].ask_px[0] == 102
    assert _to(b.on_book_delta(_delta(8, 80, [(100, 3)]), 8)) == SUBS  # a new better bid
    # every update still reaches the full subscribers, in subscriber order
    assert b.updates == 8


def test_validity_changes_always_reach_them() -> None:
    b = _book()
    b.on_book_snapshot(_snap(), 1)
    out = b.on_book_invalid(BookInvalid("shfe", "au2606", "book_stale", 20), 2)  # quiet
    assert _to(out) == SUBS and not out[0][1].valid
    out = b.on_book_delta(_delta(2, 30, [(100, 9)]), 3)  # it moves: usable, same touch
    assert _to(out) == SUBS and out[0][1].valid
    out = b.on_book_delta(_delta(3, 40, [(101, 1)]), 4)  # crossed: invalid, resync
    assert _to(out) == SUBS and not out[0][1].valid and ("feed.shfe", Resync("au2606")) in out
    out = b.on_book_snapshot(_snap(50, seq=9), 5)  # the resync's snapshot, same touch as before
    assert _to(out) == SUBS and out[0][1].valid
    out = b.on_book_invalid(BookInvalid("shfe", "au2606", "gap", 60), 6)
    assert _to(out) == SUBS and not out[0][1].valid


def test_a_snapshot_a_restart_and_the_refresh_bound_send_them_the_current_touch() -> None:
    b = _book()
    b.on_book_snapshot(_snap(), 1)
    assert _to(b.on_book_delta(_delta(2, 20, [(100, 7)]), 2)) == FULL
    # a snapshot with the same touch still reaches everyone (a resync is a fresh start)
    assert _to(b.on_book_snapshot(_snap(30, seq=5), 3)) == SUBS
    assert _to(b.on_book_delta(_delta(6, 40, [(100, 8)]), 4)) == FULL
    # the book restarted (a rebuild's adopted core gets ``on_start``): its next update to all
    assert b.on_start(5) == []
    assert _to(b.on_book_delta(_delta(7, 50, [(100, 9)]), 6)) == SUBS
    # the touch stands still: they hear it again once TOUCH_REFRESH_NS of receive time passed
    assert _to(b.on_book_delta(_delta(8, 50 + TOUCH_REFRESH_NS - 1, [(100, 1)]), 7)) == FULL
    assert _to(b.on_book_delta(_delta(9, 50 + TOUCH_REFRESH_NS, [(100, 2)]), 8)) == SUBS
    assert _to(b.on_book_delta(_delta(10, 60 + TOUCH_REFRESH_NS, [(100, 3)]), 9)) == FULL
    # a receive time that went back (a clock step) is not trusted to be recent
    assert _to(b.on_book_delta(_delta(11, 70, [(100, 4)]), 10)) == SUBS


def test_a_checkpointed_book_keeps_the_rule_and_an_older_one_sends_everything() -> None:
    b = _book()
    b.on_book_snapshot(_snap(), 1)
    restored = pickle.loads(dumps(b))  # as a checkpoint stores and loads it
    assert _to(restored.on_book_delta(_delta(2, 20, [(100, 7)]), 2)) == FULL
    assert _to(restored.on_book_delta(_delta(3, 30, [(101, 1)], [(101, 0)]), 3)) == SUBS
    # a book checkpointed before touch-only subscribers existed has none of the rule's state
    old = _book()
    old.on_book_snapshot(_snap(), 1)
    for attr in ("_touch", "_full", "_sent_bid", "_sent_ask", "_sent_ns", "_refresh_ns"):
        del vars(old)[attr]
    old = pickle.loads(dumps(old))
    assert _to(old.on_book_delta(_delta(2, 20, [(100, 7)]), 2)) == SUBS


def test_the_topology_names_risk_and_the_executors_touch_only() -> None:
    topo = Topology(strategies=("strategy.p",), legs=("leg.shfe", "leg.comex"))
    assert [n for n in ["risk", "leg.shfe", "leg.comex", "combo", "strategy.p", "journal"]
            if topo.touch_only(n)] == ["risk", "leg.shfe", "leg.comex"]
    assert DEFAULT.touch_only("leg.x") and not DEFAULT.touch_only("strategy.leg")
    # the books a config builds: strategies and the combo executor hear every update
    cfg = load_config()
    names = {f"book.{c.venue}:{c.sym}" for c in cfg.contracts}
    shells = build_shells(cfg, "/nonexistent", LiveClock(), LatencyRecorder(), None, names)
    trading = {v.name for v in cfg.venues if v.trading}
    for name in names:
        core = shells[name].core
        want = {"risk"} | ({f"leg.{core.venue}"} if core.venue in trading else set())
        assert set(core._touch) == want, name
        assert "combo" in core._full and any(s.startswith("strategy.") for s in core._full)
        assert [*core._full, *core._touch] == sorted(core.subscribers, key=lambda s: (
            s in core._touch, core.subscribers.index(s)))


# --- the touch-only subscribers decide as if they heard every update --------------------------


def _events(rng: random.Random, n: int) -> list[Any]:
    """Random book events around a drifting mid: mostly quantity and depth changes, some touch
    moves, a few invalidations and snapshots; receive times 0.1-40 ms apart (some gaps pass
    the touch refresh)."""
    mid, t, out = 30000, 0, []
    for seq in range(1, n + 1):
        t += rng.choice([100_000, 300_000, 1 * MS, 40 * MS])
        r = rng.random()
        if r < 0.03:
            out.append(BookInvalid("shfe", "au2606", rng.choice(["gap", "book_stale"]), t))
        elif r < 0.07 or not out:
            out.append(BookSnapshot("shfe", "au2606", seq, t, t,
                                    [(mid - 1 - k, 5) for k in range(4)],
                                    [(mid + 1 + k, 5) for k in range(4)]))
        elif r < 0.2:
            mid += rng.choice([-2, -1, 1, 2, -40, 40])  # 40 ticks: a held lot moves > 10 bp
            out.append(_delta(seq, t, [(mid - 1, rng.randint(1, 9))],
                              [(mid + 1, rng.randint(1, 9))]))
        else:
            side = rng.randint(0, 1)
            px = mid - rng.randint(1, 6) if side == 0 else mid + rng.randint(1, 6)
            lv = [(px, rng.choice([0, 1, 3, 40]))]
            out.append(_delta(seq, t, lv if side == 0 else [], lv if side == 1 else []))
    return out


def _risk() -> RiskCore:
    contracts = {"shfe:au2606": au()}
    return RiskCore("risk", contracts, RiskConfig(), ["leg.shfe", "combo"], ["strategy.p"], {},
                    epoch=1)


def _leg() -> LegExecutorCore:
    return LegExecutorCore("leg.shfe", "shfe", "acct", {"au2606": au()}, 1,
                           RiskConfig(price_band_ticks=3), ["combo", "risk"], 2000)


def _fill(i: int, px: int) -> ExecReport:
    return ExecReport("shfe", f"1.{i}.0.0", i, 0, 0, "au2606", "B" if i % 3 else "S", "fill",
                      "FILLED", px, 2, 2, 0, 0.5, f"t{i}", "", 0, 0)


def _same_decisions(seed: int, n: int) -> tuple[int, int, int]:
    """Run ``n`` random events through a book that sends every update to everyone and one with
    the rule, each feeding its own risk and executor; assert they decide alike. Return the
    updates risk heard from each book and the views it sent."""
    rng = random.Random(seed)
    heard_all = heard_rule = views = 0
    every = _book(touch_only=())  # the reference: every subscriber hears every update
    rule = _book()
    r_all, r_touch, l_all, l_touch = _risk(), _risk(), _leg(), _leg()
    for i, m in enumerate(_events(rng, n)):
        now = i * MS
        out_all, out_rule = every.handle(m, now), rule.handle(m, now)
        # the full subscribers hear exactly what they always heard
        full = ("strategy.p", "combo")
        assert ([(d, msgspec.msgpack.encode(u)) for d, u in out_all if d in full]
                == [(d, msgspec.msgpack.encode(u)) for d, u in out_rule if d in full]), m
        for sub, core_all, core_touch in (("risk", r_all, r_touch), ("leg.shfe", l_all, l_touch)):
            got_all = [core_all.handle(u, now) for d, u in out_all if d == sub]
            got_touch = [core_touch.handle(u, now) for d, u in out_rule if d == sub]
            assert [x for o in got_all for x in o] == [x for o in got_touch for x in o], (sub, m)
            if sub == "risk":
                heard_all, heard_rule = heard_all + len(got_all), heard_rule + len(got_touch)
                views += sum(isinstance(v, RiskView) for out in got_all for _, v in out)
        assert r_all.book.marks == r_touch.book.marks
        assert l_all.market.touch == l_touch.market.touch
        if rng.random() < 0.1:  # fills: risk holds lots, so a mark's move may send a view
            fill = _fill(i, 30000 + rng.randint(-5, 5))
            assert r_all.handle(fill, now) == r_touch.handle(fill, now)
        if rng.random() < 0.1:  # an order: the executors' price band decides alike
            o = LegOrder(i, 0, 0, "shfe", "au2606", rng.choice(["B", "S"]), 1,
                         30000 + rng.randint(-8, 8), "IOC", "entry", 0, 0)
            assert l_all.handle(o, now) == l_touch.handle(o, now)
    assert r_all.snapshot() == r_touch.snapshot()
    assert l_all.snapshot() == l_touch.snapshot()
    return heard_all, heard_rule, views


def test_risk_and_the_executor_decide_alike_on_the_touch_only_stream() -> None:
    runs = [_same_decisions(seed, 300) for seed in range(6)]
    # not vacuous: the rule left out many updates, and the marks' moves sent views
    assert 0 < sum(r[1] for r in runs) < 0.8 * sum(r[0] for r in runs)
    assert all(r[2] > 0 for r in runs)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_risk_and_the_executor_decide_alike_on_random_streams(seed: int) -> None:
    _same_decisions(seed, 120)


def test_an_executor_restarted_without_its_state_has_the_touch_within_the_refresh() -> None:
    b, live = _book(), _leg()

    def feed(m: Any, core: LegExecutorCore, now: int) -> None:
        for d, u in b.handle(m, now):
            if d == "leg.shfe":
                core.handle(u, now)

    feed(_snap(), live, 1)
    assert live.market.touch == {"au2606": (100, 101)}
    fresh = _leg()  # a restart whose rebuild failed: a fresh core, no touch
    feed(_delta(2, 20, [(100, 7)]), fresh, 2)
    assert fresh.market.touch == {}  # the touch did not move: not sent yet
    feed(_delta(3, 20 + TOUCH_REFRESH_NS, [(100, 8)]), fresh, 3)
    assert fresh.market.touch == {"au2606": (100, 101)}
