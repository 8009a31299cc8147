"""The venue's rate limit (protocol v2, issue 12): the simulator's ``oe_throttle`` rejects a
share of new orders with code ``throttled`` and ``retry_ms``; the engine must send that account
no new order until the announced back-off is over, keep trading, and stay whole against the
venue's record."""

from __future__ import annotations

from tests.engine.test_engine_oe_faults import (
    TAIL_MS,
    TRADE_MS,
    assert_holds,
    budgets,
    counters,
    fault_counts,
)
from tests.sim.test_sim_harness import cfg_with
from tests.support.engine_sim import MS, SimEngine
from transports.wire.messages import VenueGate

RETRY_MS = 2000  #: longer than a repair step and than the gap between opens: it is tested


def test_throttled_venue_gets_no_new_order_inside_the_back_off_and_combos_still_trade() -> None:
    eng = SimEngine(cfg_with(oe_throttle=0.2, oe_throttle_retry_ms=RETRY_MS))
    eng.run_to(TRADE_MS)
    eng.stop_strategies()
    eng.run_to(TAIL_MS)
    truth = eng.truth()
    hits = [e for e in truth["faults"]["events"] if e["kind"] == "oe_throttle"]
    assert len(hits) >= 3, "the fault did not fire"
    # no new order of that account reached the venue inside a back-off it announced (the
    # venue's own record of the orders and of the throttled rejects' times)
    inside = [(h["cl"], o["cl"], (o["ts"] - h["ts"]) / MS)
              for h in hits for o in truth["orders"]
              if o["account"] == h["account"] and o["venue"] == h["venue"]
              and h["ts"] < o["ts"] < h["ts"] + h["retry_ms"] * MS]
    assert inside == []
    assert truth["counts"].get("throttle_violations", 0) == 0
    # each hit was a definitive reject the executor counted, and a back-off it announced
    assert counters(eng)["throttled"] == len(hits) == fault_counts(eng)["fault_oe_throttle"]
    gates = [m.state for _, _, d, m in eng.log
             if isinstance(m, VenueGate) and d.startswith("strategy")]
    assert "throttled" in gates and all(lc.venue_gate == "" for lc in eng.leg_cores())
    # the combos still trade (``assert_holds``: at least 8 of them, fills equal the venue's,
    # exposure back within the lot residual in time, legal transitions only)
    assert_holds(eng, budgets(eng)[1])
    combo = eng.cores["combo"].snapshot()["counters"]
    assert combo.get("complete", 0) + combo.get("repaired", 0) > 0, combo
