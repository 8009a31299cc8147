"""The risk state said with its reason (the end of a run's halt named as such), combos by outcome
with the failed ones listed, amounts with their currency and exposure with its unit."""

from __future__ import annotations

import json

from scripts.audit.extract import JournalIndex
from scripts.summary.build import _alarms, _combos, _risk, stop_marker
from scripts.summary.text import amounts, exposure_line, money, risk_state_text

STOP_NS = 1_000


def test_the_halt_of_the_stop_is_said_as_the_end_of_the_run() -> None:
    changes = [(STOP_NS + 5, "HALTED", "operator_halt")]
    assert risk_state_text("HALTED", changes, STOP_NS) == "HALTED (end of run: shutdown flatten)"
    assert risk_state_text("HALTED", changes, STOP_NS, "shutdown halt") == \
        "HALTED (end of run: shutdown halt)"


def test_a_real_halt_keeps_its_reason_and_detail() -> None:
    # an operator's halt before the stop is not the end of the run
    before = [(STOP_NS - 5, "HALTED", "operator_halt")]
    assert risk_state_text("HALTED", before, STOP_NS, details={"operator_halt": "news"}) == \
        "HALTED (operator_halt: news)"
    # an exposure breach latched: the stop's own halt changed no state, the breach is the reason
    breach = [(10, "HALTED", "max_net_exposure")]
    assert risk_state_text("HALTED", breach, STOP_NS,
                           details={"max_net_exposure": "41000.0"}) == \
        "HALTED (max_net_exposure: 41000.0)"
    assert risk_state_text("REDUCING", [(10, "REDUCING", "reject_rate")], None) == \
        "REDUCING (reject_rate)"
    assert risk_state_text("ACTIVE", [], STOP_NS) == "ACTIVE"
    assert risk_state_text(None, [], None).startswith("unknown")


def _index() -> JournalIndex:
    idx = JournalIndex()
    idx.controls = [{"record": 9, "ts_ns": STOP_NS, "dest": "strategy.au-gc", "cmd": "flatten",
                     "arg": "shutdown"},
                    {"record": 10, "ts_ns": STOP_NS + 9, "dest": "risk", "cmd": "halt",
                     "arg": "shutdown"}]
    idx.risk_events = [
        {"record": 1, "ts_ns": 10, "state": "REDUCING", "reason": "reject_rate"},
        {"record": 2, "ts_ns": 20, "state": "ACTIVE", "reason": ""},
        {"record": 3, "ts_ns": 30, "state": "HALTED", "reason": "daily_loss"},
    ]
    idx.decisions = [{"record": 3, "ts_ns": 30, "actor": "risk", "what": "breach",
                      "detail": json.dumps({"reason": "daily_loss", "state": "HALTED",
                                            "detail": "-5000.00"})}]
    return idx


def test_the_journal_risk_state_names_a_real_halt_before_the_stop() -> None:
    idx = _index()
    end_ns, how = stop_marker(idx)
    assert (end_ns, how) == (STOP_NS, "shutdown flatten")
    r = _risk(idx, {}, end_ns, how)
    assert r["final_state"] == "HALTED"
    assert r["state_text"] == "HALTED (daily_loss: -5000.00)"
    assert r["earlier"] == "REDUCING (reject_rate), ACTIVE"
    # a run that never stopped in order (killed): no end-of-run marker
    idx.controls = []
    assert stop_marker(idx) == (None, "")


def test_combos_by_outcome_list_the_failed_ones() -> None:
    idx = JournalIndex()
    base = {"pair": "au-gc", "action": "open", "direction": 1, "filled_a_lots": 0,
            "filled_b_lots": 0, "residual_final": 0.0, "repair_steps": 0}
    idx.combos = [{**base, "combo_id": 1, "final_state": "complete"},
                  {**base, "combo_id": 2, "final_state": "failed", "filled_a_lots": 3},
                  {**base, "combo_id": 3, "final_state": "repaired"},
                  {**base, "combo_id": 4, "final_state": ""}]
    c = _combos(idx)
    assert (c["total"], c["complete"], c["repaired"], c["failed"]) == (4, 1, 1, 1)
    assert c["other"] == {"unfinished": 1}
    assert [(x["combo_id"], x["filled_a_lots"]) for x in c["failed_list"]] == [(2, 3)]


def test_amounts_carry_their_currency_and_exposure_its_unit() -> None:
    assert money(123.4, "CNY") == "+123.40 CNY"
    assert money(-1234.5, "USD") == "-1,234.50 USD"
    assert amounts({"USD": 90.0, "CNY": 1680.0}, signed=False) == "CNY 1,680.00, USD 90.00"
    assert exposure_line({"gold": -12.0}, {"gold": "g"}) == "gold -12.000 g"
    assert exposure_line({}, {}) == "none (no fills)"


def test_alarms_count_kinds_and_real_breaches_not_the_stops_halt() -> None:
    idx = _index()

    def decision(actor: str, what: str, detail: dict[str, str]) -> dict[str, object]:
        return {"record": 0, "ts_ns": 0, "actor": actor, "what": what,
                "detail": json.dumps(detail)}

    idx.decisions += [
        decision("leg.comex", "alarm", {"alarm": "bad_frame", "venue": "comex"}),
        decision("leg.comex", "alarm", {"alarm": "bad_frame", "venue": "comex"}),
        decision("combo", "alarm", {"alarm": "orphan_report"}),
        decision("risk", "breach", {"reason": "operator_halt", "state": "HALTED",
                                    "detail": "shutdown"}),
    ]
    a = _alarms(idx)
    assert a["by_kind"] == {"leg.comex:bad_frame": 2, "combo:orphan_report": 1}
    assert a["total"] == 3
    assert a["breaches"] == {"daily_loss": 1}
