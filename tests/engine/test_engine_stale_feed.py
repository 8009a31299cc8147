"""A venue whose market data stops while its connection stays open (fault catalogue F05), against
the whole engine and the simulator: the venue's ``stop`` switch on SHFE for 4 s in the middle of
the trading (no md, no heartbeat, order entry held). The feed must call SHFE ``STALE`` once the
heartbeats are ``stale_after_ms`` late, no combo may open on its books until the feed is
``SYNCED`` again, the engine must trade again after, and the venue's record must hold the order
invariants (``check_invariants``)."""

from __future__ import annotations

import pytest

from tests.engine.test_engine_oe_faults import TAIL_MS, TRADE_MS, budgets
from tests.sim.test_sim_harness import cfg_with
from tests.support.engine_sim import MS, T0, SimEngine, check_invariants
from transports.wire.messages import ComboIntent, FeedHealth, LegOrder

STOP_AT_S, STOP_FOR_S = 10.0, 4.0


@pytest.fixture(scope="module")
def eng() -> SimEngine:
    e = SimEngine(cfg_with([{"kind": "stop", "at_s": STOP_AT_S, "for_s": STOP_FOR_S,
                             "venue": "shfe"}]))
    e.run_to(TRADE_MS)
    e.stop_strategies()
    e.run_to(TAIL_MS)
    return e


def _states(eng: SimEngine) -> list[tuple[int, str, int]]:
    """(time, state, last heartbeat) of each change of the SHFE feed's health."""
    out: list[tuple[int, str, int]] = []
    for ts, s, _d, m in eng.log:
        if s == "feed.shfe" and type(m) is FeedHealth and (not out or out[-1][1] != m.state):
            out.append((ts, m.state, m.last_hb_ns))
    return out


def test_the_feed_goes_stale_and_nothing_opens_on_it_until_it_is_synced(eng: SimEngine) -> None:
    assert eng.truth()["counts"]["fault_stop"] == 1
    states = _states(eng)
    stop_ns = T0 + int(STOP_AT_S * 1000) * MS
    stale = [(ts, hb) for ts, st, hb in states if st == "STALE" and ts >= stop_ns]
    assert stale, states
    t_stale, last_hb = stale[0]
    t_synced = next(ts for ts, st, _hb in states if ts > t_stale and st == "SYNCED")
    stale_after_ms = next(v.stale_after_ms for v in eng.cfg.venues if v.name == "shfe")
    # STALE once the last heartbeat (before the stop) was the limit old, within the outage,
    # and until the outage was over
    assert last_hb <= stop_ns and (t_stale - last_hb) / MS >= stale_after_ms
    assert t_stale < stop_ns + int(STOP_FOR_S * 1000) * MS <= t_synced
    # no combo opened, and no entry order went to SHFE, while its feed was STALE
    opened = [ts for ts, _s, _d, m in eng.log if type(m) is ComboIntent and m.action == "open"
              and t_stale <= ts <= t_synced]
    entries = [ts for ts, _s, d, m in eng.log if d == "leg.shfe" and type(m) is LegOrder
               and m.purpose == "entry" and t_stale <= ts <= t_synced]
    assert opened == [] and entries == []
    # it did trade before the stop and trades again after the feed came back
    opens = [ts for ts, _s, _d, m in eng.log if type(m) is ComboIntent and m.action == "open"]
    assert any(ts < stop_ns for ts in opens) and any(ts > t_synced for ts in opens), opens


def test_the_venues_record_holds_the_order_invariants(eng: SimEngine) -> None:
    inv = check_invariants(eng, budgets(eng)[1])
    assert inv.violations == [], inv
