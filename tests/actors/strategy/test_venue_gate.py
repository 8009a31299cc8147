"""``VenueGate``: a LegExecutor tells the strategies when its venue would deny a new order, and
the strategies open nothing into it (found by the swallowed-order test of
``test_engine_oe_faults``: a strategy kept opening combos whose other leg the uncertain venue
denied, each one filled on one side and unwound at a loss)."""

from __future__ import annotations

import msgspec

from actors.leg.executor import LegExecutorCore
from actors.leg.orders import LegTimer
from tests.actors.leg.test_leg_executor import MS, order, send
from tests.actors.strategy.test_strategy import _at, _core, _open, _prime, msgs
from transports.config.engine import load_config
from transports.wire.messages import ComboIntent, ComboState, Timer, VenueGate
from transports.wire.venue_msgs import FillRecord, OrderStatus

CFG = load_config(None)


def gated_core() -> LegExecutorCore:
    contracts = {c.sym: c for c in CFG.contracts if c.venue == "shfe"}
    return LegExecutorCore("leg.shfe", "shfe", "acct", contracts, 3, CFG.risk, ["combo", "risk"],
                           2000, gate_to=("strategy.a", "strategy.b"))


def gates(out: list[tuple[str, object]]) -> list[tuple[str, str]]:
    return [(d, m.state) for d, m in out if isinstance(m, VenueGate)]


def test_executor_publishes_uncertain_once_and_clears_when_the_venue_proves_the_outcome() -> None:
    c = gated_core()
    cl = send(c, order(qty=10), 0)
    out = c.handle(Timer(LegTimer.ACK, 2000 * MS, cl), 2000 * MS)
    assert gates(out) == [("strategy.a", "uncertain"), ("strategy.b", "uncertain")]
    out = c.handle(Timer(LegTimer.QUERY, 4000 * MS, cl), 4000 * MS)
    assert gates(out) == []  # no change, nothing sent
    fills = [FillRecord(cl=cl, oid="X1", tid="t1", px=30500, qty=10, ts=5)]
    out = c.handle(OrderStatus(cl=cl, state="filled", oid="X1", cum=10, leaves=0, fills=fills),
                   5000 * MS)
    assert gates(out) == [("strategy.a", ""), ("strategy.b", "")]


def test_executor_without_listeners_sends_no_gate() -> None:
    c = gated_core()
    c.gate_to = ()
    cl = send(c, order(qty=10), 0)
    assert gates(c.handle(Timer(LegTimer.ACK, 2000 * MS, cl), 2000 * MS)) == []


def test_strategy_opens_nothing_into_a_gated_venue_and_resumes_after() -> None:
    s = _core()
    parity = _prime(s)
    venue_b = s.b.venue
    s.handle(VenueGate(venue_b, "uncertain", 999), 999)
    assert msgs(_at(s, parity + 2.1, 1000), ComboIntent) == []
    assert s.refusals["VENUE_UNCERTAIN"] == 1
    s.handle(VenueGate("elsewhere", "disconnected", 1001), 1001)  # not one of its legs
    s.handle(VenueGate(venue_b, "", 1002), 1002)
    intent = _open(s, parity, 1003)
    assert intent.action == "open"
    assert msgspec.structs.asdict(intent)["pair"] == s.name.split(".", 1)[1]


def _state(s: object, intent: ComboIntent, state: str, fa: int, fb: int, now: int) -> None:
    s.on_combo_state(ComboState(intent.combo_id, "au-gc", intent.action, state,  # type: ignore[attr-defined]
                                intent.direction, fa, fb, 0.0, now), now)


def test_closes_wait_for_a_gated_venue_and_back_off_after_two_that_came_to_nothing() -> None:
    s = _core()
    parity = _prime(s)
    sec = 1_000_000_000
    t = 10 * sec
    _state(s, _open(s, parity, t), "complete", 28, 9, t)
    # reverted: a close is due, but leg B's venue is uncertain
    s.handle(VenueGate(s.b.venue, "uncertain", t + 1), t + 1)
    assert msgs(_at(s, parity + 0.5, t + 2), ComboIntent) == []
    assert s.refusals["VENUE_UNCERTAIN"] == 1
    s.handle(VenueGate(s.b.venue, "", t + 3), t + 3)
    (close,) = msgs(_at(s, parity + 0.5, t + 4), ComboIntent)
    assert close.action == "close"
    _state(s, close, "repaired", 0, 0, t + 5)  # one leg refused, the other unwound: nothing
    (again,) = msgs(_at(s, parity + 0.5, t + 6), ComboIntent)  # the first one retries at once
    _state(s, again, "failed", 0, 0, t + 7)
    assert msgs(_at(s, parity + 0.5, t + 8), ComboIntent) == []  # two in a row: back off
    assert s.refusals["COOLDOWN"] == 1
    (later,) = msgs(_at(s, parity + 0.5, t + 7 + sec), ComboIntent)  # retry_cooldown_ms, flat
    assert later.action == "close"


def test_an_open_repaired_back_to_nothing_cools_down_like_a_failed_one() -> None:
    s = _core()
    parity = _prime(s)
    t = 10_000_000_000
    _state(s, _open(s, parity, t), "repaired", 0, 0, t + 1)
    assert msgs(_at(s, parity + 2.1, t + 2), ComboIntent) == []
    assert s.refusals["COOLDOWN"] == 1
