"""``AlertRules`` with a test clock: each event kind, one alert per change, dedupe windows with
their count, the global per-minute cap, and what the journal's thread keeps (``select``)."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from transports.alerts.rules import AlertRules, select
from transports.config.alerts import AlertsConfig
from transports.wire.messages import (
    BadFrame,
    Decision,
    FeedHealth,
    Position,
    RiskView,
    TradingState,
)

S = 1_000_000_000
T0 = 1_700_000_000 * S


def cfg(**kw: Any) -> AlertsConfig:
    return msgspec.convert({"enabled": True, "webhooks": [{"url": "http://127.0.0.1:9/x"}],
                            **kw}, AlertsConfig)


def feed(venue: str, state: str) -> FeedHealth:
    return FeedHealth(venue, state, 0, 0, 0, 0, T0, T0)


def decision(actor: str, what: str, **detail: Any) -> Decision:
    return Decision(actor, what, json.dumps(detail), T0)


def test_halted_once_though_every_executor_gets_a_copy_with_the_breach_detail() -> None:
    r = AlertRules(cfg(), label="desk-1")
    halt = TradingState("HALTED", "operator_halt", T0)
    items = [("risk", "journal", decision("risk", "breach", reason="operator_halt",
                                          state="HALTED", detail="admin client: fat finger")),
             ("risk", "leg.shfe", halt), ("risk", "leg.comex", halt)]
    got = r.on_items(items, 0)
    assert [(a.kind, a.severity, a.title) for a in got] == [
        ("halted", "critical", "trading HALTED")]
    assert "operator_halt (admin client: fat finger)" in got[0].text
    assert got[0].message().startswith("[CRITICAL] desk-1: trading HALTED")
    # the state stays HALTED: a later copy is no new alert; ACTIVE again is one (info)
    assert r.on_items([("risk", "leg.shfe", halt)], S) == []
    back = r.on_items([("risk", "leg.shfe", TradingState("ACTIVE", "", T0 + S))], 2 * S)
    assert [(a.kind, a.severity) for a in back] == [("risk_state", "info")]


def test_the_shutdown_halt_is_said_as_such() -> None:
    r = AlertRules(cfg())
    got = r.on_items([("risk", "journal", decision("risk", "breach", reason="operator_halt",
                                                   state="HALTED", detail="shutdown")),
                      ("risk", "leg.shfe", TradingState("HALTED", "operator_halt", T0))], 0)
    assert [(a.severity, a.title) for a in got] == [("info", "trading HALTED for the shutdown")]


def test_feed_session_bad_frame_restart_failover_and_exposure_events() -> None:
    r = AlertRules(cfg(naked_exposure_base=500.0))
    items = [
        ("feed.shfe", "risk", feed("shfe", "SYNCED")),
        ("feed.shfe", "risk", feed("shfe", "STALE")),
        ("@oe", "leg.comex", BadFrame("oe", "msgpack: truncated")),
        ("leg.comex", "journal", decision("leg.comex", "alarm", alarm="session_down",
                                          venue="comex", state="down")),
        ("supervisor", "journal", decision("supervisor", "restart", actors=["combo"],
                                           host="hot", reason="crashed 3 times")),
        ("admin", "journal", decision("admin", "node_restart", node="trade", epoch=2)),
        ("ha", "journal", decision("ha", "promoted", node="b")),
        ("risk", "leg.shfe", RiskView({"gold": 620.0}, T0)),
        ("risk", "journal", decision("risk", "flatten", underlying="gold", exposure=620.0)),
    ]
    got = r.on_items(items, 0)
    assert [(a.kind, a.key) for a in got] == [
        ("feed_down", "feed_down:shfe"),
        ("bad_frame", "bad_frame:leg.comex:oe"),
        ("session_down", "session_down:comex"),
        ("restart", "restart:restart:hot"),
        ("restart", "restart:node_restart:trade"),
        ("failover", "failover:promoted"),
        ("naked_exposure", "naked_exposure:gold"),
        ("naked_exposure", "flatten:gold"),
    ]
    # edges: still over the limit, still down -> nothing; back -> the resolutions
    again = [("risk", "leg.shfe", RiskView({"gold": 700.0}, T0)),
             ("leg.comex", "journal", decision("leg.comex", "alarm", alarm="oe_disconnected",
                                               venue="comex"))]
    assert r.on_items(again, S) == []
    back = [("feed.shfe", "risk", feed("shfe", "SYNCED")),
            ("leg.comex", "journal", decision("leg.comex", "alarm", alarm="session_up",
                                              venue="comex")),
            ("risk", "leg.shfe", RiskView({"gold": 10.0}, T0)),
            ("risk", "leg.shfe", RiskView({"gold": -900.0}, T0))]
    assert [(a.key, a.severity) for a in r.on_items(back, 2 * S)] == [
        ("feed_up:shfe", "info"), ("session_up:comex", "info")]
    # the crossing again (-900 after 10) is an event, inside the window of the first: counted
    assert r.counters["deduped"] == 1


def test_events_not_asked_for_are_not_sent() -> None:
    r = AlertRules(cfg(events=["halted"]))
    assert r.on_items([("@md", "feed.shfe", BadFrame("md", "x"))], 0) == []
    assert r.counters["events"] == 1 and r.counters["alerts"] == 0


def test_the_same_key_within_the_window_is_one_alert_then_one_with_its_count() -> None:
    r = AlertRules(cfg(dedupe_window_s=60.0))
    bad = [("@oe", "leg.comex", BadFrame("oe", "garbage"))]
    assert len(r.on_items(bad, 0)) == 1
    for i in range(1, 5):
        assert r.on_items(bad, i * S) == []
    assert r.tick(59 * S) == []  # the window is still open
    [summary] = r.tick(60 * S)
    assert summary.count == 4 and summary.title.endswith("(repeated)")
    assert "(seen 4 times)" in summary.message()
    assert r.counters["deduped"] == 4
    # a new window: the next one is sent at once; a window without repeats says nothing
    assert len(r.on_items(bad, 61 * S)) == 1
    assert r.tick(200 * S) == []


def test_a_repeat_past_the_window_sends_the_count_and_the_new_event() -> None:
    r = AlertRules(cfg(dedupe_window_s=10.0))
    bad = [("@oe", "leg.comex", BadFrame("oe", "garbage"))]
    r.on_items(bad, 0)
    r.on_items(bad, 5 * S)
    got = r.on_items(bad, 11 * S)
    assert [a.count for a in got] == [1, 1] and got[0].title.endswith("(repeated)")


def test_the_global_cap_per_minute_drops_and_the_next_alert_says_how_many() -> None:
    r = AlertRules(cfg(max_per_minute=3))
    frames = [("@oe", "leg.comex", BadFrame(f"k{i}", "x")) for i in range(5)]
    assert len(r.on_items(frames, 0)) == 3
    assert r.counters["rate_dropped"] == 2
    [later] = r.on_items([("@md", "feed.shfe", BadFrame("md", "y"))], 60 * S)
    assert later.suppressed == 2
    assert "2 other alerts dropped by the rate limit" in later.message()


def test_select_keeps_only_what_may_be_an_alert() -> None:
    items = [("leg.shfe", "risk", Position("shfe", "au2606", 3, T0)),
             ("strategy.x", "journal", decision("strategy.x", "refuse", reason="stale")),
             ("risk", "leg.shfe", RiskView({"gold": 1.0}, T0)),
             ("risk", "leg.shfe", TradingState("HALTED", "x", T0)),
             ("leg.shfe", "journal", decision("leg.shfe", "alarm", alarm="bad_frame"))]
    assert [type(m).__name__ for _s, _d, m in select(items, exposure=False)] == [
        "TradingState", "Decision"]
    assert len(select(items, exposure=True)) == 3
