"""A position the engine never saw as its own, found at a reconnect, is adopted and flattened.

Another session trades on the engine's COMEX account (an IOC under a client id the engine never
sent): its reports name an order the executor does not know, the ``trades`` reply at the next
reconciliation lists a trade it cannot own, so only the venue's ``positions`` say it. After the
simulator's scheduled order-entry disconnect the executor reconciles, adopts the venue's figure
and tells risk (``Position``); risk books the difference at the mark and, since no combo owns it,
flattens it within ``unhedged_limit_ms``. Venue truth: net exposure from every fill the venue
made on the engine's accounts is back within the lot residual by that deadline.
"""

from __future__ import annotations

import msgspec

from tests.sim.test_sim_harness import cfg_with
from tests.support.engine_sim import MS, T0, SimEngine
from transports.config.engine import ContractConfig
from transports.wire.venue_msgs import NewOrder

FOREIGN_MS, DOWN_S = 6_000, 3.0


def _net_base(eng: SimEngine, until_ns: int) -> float:
    bpl = {f"{c.venue}:{c.sym}": c.base_per_lot for c in eng.cfg.contracts}
    accounts = set(eng.accounts.values())
    return sum((1 if f["side"] == "B" else -1) * f["qty"] * bpl[f"{f['venue']}:{f['sym']}"]
               for f in eng.truth()["fills"] if f["account"] in accounts and f["ts"] <= until_ns)


def _foreign_buy(eng: SimEngine, cl: str) -> ContractConfig:
    """Another session buys 2 GC on the engine's COMEX account (an IOC through the ask); return
    the contract once the venue holds the lots (the engine does not)."""
    gc = eng.cfg.contracts[[c.venue for c in eng.cfg.contracts].index("comex")]
    ask = eng.sim.books[f"comex:{gc.sym}"].best("S")
    assert ask is not None
    eng.sim.request(eng.now, "comex", eng.accounts["comex"],
                    NewOrder(cl=cl, sym=gc.sym, side="B", px=ask + 5, qty=2, tif="IOC",
                             ts=eng.now))
    eng.run_to(FOREIGN_MS + 200)
    assert abs(_net_base(eng, eng.now) - 2 * gc.base_per_lot) < 1e-6  # the venue holds it
    assert not eng.cores["leg.comex"].positions.get(gc.sym)  # the engine does not
    return gc


def _flat_by(eng: SimEngine, deadline_ms: float) -> None:
    """Venue truth: net exposure back within the residual by ``deadline_ms``, and it stays."""
    smallest = min(c.base_per_lot for c in eng.cfg.contracts if c.base_per_lot > 0)
    tol = max(eng.residual_base(), smallest / 2) + 1e-6
    assert abs(_net_base(eng, T0 + round(deadline_ms * MS))) <= tol
    eng.run_to(deadline_ms + 5_000)
    assert abs(_net_base(eng, eng.now)) <= tol
    assert not eng.errors


def test_a_position_found_at_reconnect_is_adopted_by_risk_and_flattened() -> None:
    sched = [{"kind": "oe_disconnect", "at_s": FOREIGN_MS / 1000 + 0.5, "for_s": DOWN_S,
              "venue": "comex"}]
    eng = SimEngine(cfg_with(schedule=sched))
    eng.stop_strategies()  # no combos: the only exposure is the foreign trade
    eng.run_to(FOREIGN_MS)
    gc = _foreign_buy(eng, "other.1")
    # the disconnect, the reconnect's reconciliation, then risk's unhedged limit
    deadline_ms = FOREIGN_MS + 500 + DOWN_S * 1000 + 3_000 + eng.cfg.risk.unhedged_limit_ms
    eng.run_to(deadline_ms)
    alarms = [a["alarm"] for a in eng.alarms()]
    assert "position_mismatch" in alarms and "oe_reconnected" in alarms
    risk = eng.cores["risk"]
    assert risk.orphans.flatten_orders >= 1
    adopted = [d for d in eng.decisions if d.what == "adopt_position"]
    assert adopted and f"comex:{gc.sym}" in adopted[0].detail
    _flat_by(eng, deadline_ms)


def test_a_foreign_fill_in_a_connected_session_is_found_by_the_positions_check() -> None:
    """The same foreign trade with the link up the whole time (reliability V13): no reconnect
    comes, so only the periodic positions check can see it. Two checks see the same difference
    with nothing traded in between: a drift, reconciled, adopted, flattened; venue truth."""
    every_ms = 2_000  # ``[[venues]] position_check_ms`` (60 s by default)
    base = cfg_with()
    eng = SimEngine(msgspec.structs.replace(base, venues=[
        msgspec.structs.replace(v, position_check_ms=every_ms) for v in base.venues]))
    assert eng.cores["leg.comex"].reconciler.check_every_ns == every_ms * MS
    eng.stop_strategies()
    eng.run_to(FOREIGN_MS)
    _foreign_buy(eng, "other.2")
    deadline_ms = FOREIGN_MS + 3 * every_ms + 1_000 + eng.cfg.risk.unhedged_limit_ms
    eng.run_to(deadline_ms)
    alarms = [a["alarm"] for a in eng.alarms()]
    assert "position_drift" in alarms and "oe_reconnected" not in alarms
    assert eng.cores["risk"].orphans.flatten_orders >= 1
    _flat_by(eng, deadline_ms)
