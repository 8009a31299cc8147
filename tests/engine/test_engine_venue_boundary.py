"""Never blind at the venue boundary (issue 12): the engine against venue frames it cannot read.

``oe_garble`` makes the simulator send a share of its order-entry replies as frames the protocol
refuses (still MessagePack: the tag dropped or a field of the wrong type). What such a frame
said -- an ack, a fill, a done, a pong -- is lost to the engine, while the venue's record (the
truth) keeps what really traded. The engine must never be silent about it (an alarm per frame,
counted per venue) and never act blind: the venue is uncertain until it proves itself, every
order that was open is queried, and the invariants of ``check_invariants`` hold against the
venue's own record: fills equal the venue's trades, no order twice, exposure back within the
residual by the deadline.
"""

from __future__ import annotations

import msgspec
import pytest

from tests.engine.test_engine_oe_faults import (
    TAIL_MS,
    TRADE_MS,
    assert_holds,
    budgets,
    counters,
    fault_counts,
)
from tests.sim.test_sim_harness import cfg_with
from tests.support.engine_sim import SimEngine
from transports.config.engine import with_overrides
from transports.wire.messages import BadFrame, Reduce, VenueGate


@pytest.mark.parametrize("seed", [7, 9])
def test_garbled_order_entry_frames_are_reported_and_the_engine_stays_whole(seed: int) -> None:
    cfg = cfg_with(oe_garble=0.03)
    eng = SimEngine(with_overrides(cfg, sim=msgspec.structs.replace(cfg.sim, seed=seed)))
    eng.run_to(TRADE_MS)
    eng.stop_strategies()
    eng.run_to(TAIL_MS)
    assert_holds(eng, budgets(eng)[1])
    hit = fault_counts(eng)["fault_oe_garble"]
    assert hit >= 5, "the fault did not fire"
    # every garbled frame that reached an executor is counted and alarmed, per venue
    legs = {lc.venue: lc for lc in eng.leg_cores()}
    accounts = {v.name: v.account for v in eng.cfg.venues}
    events = [e for e in eng.truth()["faults"]["events"] if e["kind"] == "oe_garble"]
    for venue, lc in legs.items():
        sent = sum(1 for e in events if e["venue"] == venue and e["account"] == accounts[venue])
        assert lc.counters["bad_frames"] == sent, (venue, lc.counters["bad_frames"], sent)
        assert eng.shells[f"leg.{venue}"].bad_frames == sent
    delivered = [m for _, s, d, m in eng.log if isinstance(m, BadFrame) and d.startswith("leg.")]
    alarms = [a for a in eng.alarms() if a["alarm"] == "bad_frame"]
    assert len(alarms) == len(delivered) == sum(lc.counters["bad_frames"] for lc in legs.values())
    assert {a["venue"] for a in alarms} <= set(legs)
    # the venue was held uncertain (the strategies heard it) and then proved itself again
    gates = [m for _, _, d, m in eng.log if isinstance(m, VenueGate) and d.startswith("strategy")]
    assert any(g.state == "uncertain" for g in gates)
    assert all(lc.suspect_ns == 0 and lc.venue_gate == "" for lc in legs.values())
    assert counters(eng)["unknown_outcomes"] > 0  # open orders were queried, not trusted


def test_repeated_bad_frames_make_risk_reduce() -> None:
    """A burst of undecodable frames (every reply for 3 s) is more than ``bad_frame_limit``
    within the window: risk goes REDUCING with its own reason, and the exposure still comes
    back within bounds (reducing orders pass)."""
    sched = [{"kind": "oe_garble", "at_s": 12.0, "for_s": 3.0, "venue": "shfe"}]
    eng = SimEngine(cfg_with(schedule=sched))
    eng.run_to(TRADE_MS)
    eng.stop_strategies()
    eng.run_to(TAIL_MS)
    risk = eng.cores["risk"]
    assert risk.reasons.get("bad_frames") == "REDUCING", risk.snapshot()
    reduces = [m for _, _, d, m in eng.log if isinstance(m, Reduce) and d == "risk"]
    assert len(reduces) == 1 and reduces[0].reason.startswith("bad_frames:shfe")
    assert eng.cores["leg.shfe"].counters["bad_frames"] >= 3
    assert any(a["alarm"] == "bad_frames_reduce" for a in eng.alarms())
    from tests.support.engine_sim import check_invariants
    inv = check_invariants(eng, budgets(eng)[1])
    assert inv.violations == [], inv


def test_bad_frames_are_counted_per_venue_in_the_summary_top_and_anomalies() -> None:
    """The demo summary, ``cmc top``'s frame and ``cmc audit anomalies`` name the venue and
    count its undecodable frames (from the engine's own snapshots and alarm decisions)."""
    from scripts.admin.top import render
    from scripts.audit.anomalies import _alarm_kind, bad_frames, format_anomalies
    from scripts.demo.summary import build_summary

    sched = [{"kind": "oe_garble", "at_s": 8.0, "for_s": 0.0, "venue": "comex"}]
    eng = SimEngine(cfg_with(schedule=sched))
    eng.run_to(12_000)
    snaps = {n: c.snapshot() for n, c in eng.cores.items()}
    s = build_summary(eng.cfg, 12.0, snaps, eng.truth(), {}, "")
    assert s["bad_frames"] == {"shfe": 0, "comex": 1}
    legs = {v: {"gate": snaps[f"leg.{v}"]["gate"],
                "bad_frames": snaps[f"leg.{v}"]["counters"]["bad_frames"]} for v in s["bad_frames"]}
    frame = render({"legs": legs})
    assert "comex: open bad frames 1" in frame and "shfe: open bad frames 0" in frame
    rows = [{"ts_ns": d.ts_ns, "time": "", "actor": d.actor, "what": d.what,
             "detail": d.detail, **_alarm_kind({"what": d.what, "detail": d.detail})}
            for d in eng.decisions]
    assert bad_frames({"alarms": rows}) == {"comex": 1}
    assert "undecodable order-entry frames: comex 1" in format_anomalies({"alarms": rows})
