"""The console's pure view model: admin replies (as ``AdminCore._pairs`` shapes them) plus the
history of polls -> what the desk reads. No sockets, no clock: times are passed in."""

from __future__ import annotations

import copy
from typing import Any

from scripts.admin.console.model import (
    SPARK_WINDOW_NS,
    History,
    Snapshot,
    Units,
    build_view,
)
from transports.config.engine import load_config

S = 1_000_000_000
T0 = 1_700_000_000 * S


def reply(state: str = "ACTIVE", spread: float = 0.5, warmup_refusals: int = 0, **status: Any
          ) -> dict[str, Any]:
    """A ``pairs`` reply of the demo's shape."""
    refusals = {"WARMUP": warmup_refusals} if warmup_refusals else {"WARMUP": 200, "NO_EDGE": 40}
    return {
        "risk": {"state": state, "reasons": {"operator": state} if state != "ACTIVE" else {},
                 "positions": {"shfe:au2606": 28, "comex:GCZ6": -9},
                 "exposure": {"gold": -6.9}, "pnl": {"gross": 120.5, "fees": 20.0, "net": 100.5},
                 "feeds": {"shfe": {"state": "SYNCED", "gaps": 0, "resyncs": 0},
                           "comex": {"state": "SYNCED", "gaps": 0, "resyncs": 0}}},
        "pairs": {"au-gc": {"z_entry": 2.0, "z_exit": 0.5, "min_edge": 0.3,
                            "last": {"mid_spread": spread, "mean": 0.5, "std": 0.05, "z": 1.0},
                            "pos_lots": [28, -9], "pending": None, "intents": 2,
                            "halted": False, "flattening": False, "refusals": refusals,
                            "reachable": True}},
        "legs": {"shfe": {"gate": "", "bad_frames": 0, "reachable": True}},
        "latency": {},
        "status": {"state": "running",
                   "nodes": {"engine": {"pid": 1, "state": "running", "restarts": 0}}, **status},
    }


UNITS = Units.from_config(load_config(None))


def view_of(*replies: dict[str, Any], step_s: float = 1.0, hist: History | None = None,
            start_s: float = 0.0) -> Any:
    """Poll ``replies`` one ``step_s`` apart from ``start_s``; return the last frame."""
    hist = hist or History()
    v = None
    for i, r in enumerate(replies):
        now = T0 + int((start_s + i * step_s) * S)
        hist.observe(Snapshot(r), now)
        v = build_view(Snapshot(r), hist, UNITS, now)
    return v


def test_a_pair_never_reads_trading_while_risk_is_halted_or_reducing() -> None:
    assert view_of(reply()).pairs[0].state == "trading"
    halted = view_of(reply("HALTED")).pairs[0]
    assert halted.state.startswith("HALTED (risk)") and halted.blocked
    reducing = view_of(reply("REDUCING")).pairs[0]
    assert "reduce only" in reducing.state and reducing.blocked


def test_units_and_currency_come_from_the_config() -> None:
    assert (UNITS.home_ccy, UNITS.spread["au-gc"], UNITS.base["gold"]) == ("CNY", "CNY/g", "g")
    v = view_of(reply())
    assert v.positions == (("shfe:au2606", 28, "lots"), ("comex:GCZ6", -9, "lots"))
    assert v.exposure == (("gold", -6.9, "g"),)
    assert ("net", 100.5, "CNY") in v.pnl
    p = v.pairs[0]
    assert p.unit == "CNY/g" and p.entry_band == (0.4, 0.6)  # mean ± z_entry · std
    # a reply that carries its own units wins over the config's
    r = reply()
    r["units"] = {"home_ccy": "USD", "spread": {"au-gc": "USD/ozt"}, "base": {"gold": "ozt"}}
    v = view_of(r)
    assert ("net", 100.5, "USD") in v.pnl and v.pairs[0].unit == "USD/ozt"
    # a PnL that names its currency is shown in it (and "ccy" is no PnL component)
    r = reply()
    r["risk"]["pnl"]["ccy"] = "CNH"
    assert [x for x in view_of(r).pnl if x[0] in ("net", "ccy")] == [("net", 100.5, "CNH")]
    # unknown units are said to be unknown, not invented
    bare = build_view(Snapshot(reply()), History(), None, T0)
    assert ("net", 100.5, "?") in bare.pnl and bare.exposure == (("gold", -6.9, "base units"),)


def test_the_sparkline_keeps_the_last_minutes_of_spread() -> None:
    hist = History()
    v = view_of(*(reply(spread=0.1 * i) for i in range(8)), step_s=60.0, hist=hist)
    window_s = SPARK_WINDOW_NS // S
    kept = [round(x, 6) for x in v.pairs[0].spark]
    assert kept == [round(0.1 * i, 6) for i in range(8) if 7 * 60 - i * 60 <= window_s]
    assert len(kept) < 8


def test_replication_is_shown_only_when_the_status_carries_it() -> None:
    assert view_of(reply()).ha is None
    ha = {"role": "standby", "holder": "srv-a", "epoch": 4, "lag_records": 12, "lag_ms": 3.25}
    v = view_of(reply(ha=ha))
    assert v.ha is not None
    assert (v.ha.role, v.ha.holder, v.ha.epoch, v.ha.lag_records, v.ha.lag_ms) == (
        "standby", "srv-a", 4, 12, 3.25)
    promoted = view_of(reply(ha=ha), reply(ha={**ha, "role": "primary", "holder": "srv-b"}))
    assert [a.kind for a in promoted.alarms] == ["failover"]
    assert promoted.alarms[0].severity == "critical"


def test_alarms_appear_as_they_happen_newest_first() -> None:
    first = reply()
    stale = copy.deepcopy(first)
    stale["risk"]["feeds"]["comex"] = {"state": "STALE", "gaps": 1, "resyncs": 0}
    halted = copy.deepcopy(stale)
    halted["risk"].update(state="HALTED", reasons={"feed comex STALE": "HALTED"})
    halted["status"]["nodes"]["engine"]["restarts"] = 1
    hist = History()
    assert view_of(first, first, hist=hist).alarms == ()  # nothing changed, nothing said
    v = view_of(stale, halted, hist=hist, start_s=2.0)
    kinds = [a.kind for a in v.alarms]
    assert kinds[0] in ("halted", "restart") and "feed_down" in kinds and "feed_gap" in kinds
    halt = next(a for a in v.alarms if a.kind == "halted")
    assert halt.severity == "critical" and "ACTIVE -> HALTED" in halt.text
    assert "feed comex STALE" in halt.text
    assert any(a.kind == "restart" and "node engine" in a.text for a in v.alarms)
    # a feed's age is how long the polls have seen it in its state
    comex = next(f for f in v.feeds if f.name == "comex")
    assert comex.state == "STALE" and not comex.healthy and comex.age_s == 1.0 and comex.observed
    shfe = next(f for f in v.feeds if f.name == "shfe")
    assert shfe.healthy and shfe.age_s == 3.0


def test_alarms_the_status_carries_are_shown_once() -> None:
    hist = History()
    r = reply(alarms=["admin ZAP handler died"])
    v = view_of(r, r, hist=hist)
    assert [a.text for a in v.alarms] == ["admin ZAP handler died"]


def test_warm_up_after_a_restart_is_derived_from_the_strategys_refusals() -> None:
    hist = History()
    # long past warm-up when the console starts: not warming
    assert view_of(reply(), reply(), hist=hist).warmup == ()
    # the strategy restarted (a fresh core: its counters reset) and refuses for warm-up
    restarted = reply(warmup_refusals=3)
    restarted["status"]["nodes"]["engine"]["restarts"] = 1
    grown = copy.deepcopy(restarted)
    grown["pairs"]["au-gc"]["refusals"]["WARMUP"] = 40
    v = view_of(restarted, grown, hist=hist, start_s=2.0)
    assert v.warmup == ("au-gc",) and v.restarted and v.pairs[0].warming
    done = copy.deepcopy(grown)
    done["pairs"]["au-gc"]["refusals"]["NO_EDGE"] = 5
    assert view_of(done, hist=hist, start_s=4.0).warmup == ()  # no more warm-up refusals: warm
    # a console started during the warm-up of a fresh launch sees it on its first poll
    fresh = reply(warmup_refusals=10)
    fresh["pairs"]["au-gc"]["intents"] = 0
    assert view_of(fresh).warmup == ("au-gc",)
    # or the status says so itself
    assert view_of(reply(warmup=["au-gc"])).warmup == ("au-gc",)


def test_an_age_the_reply_gives_wins_over_the_time_in_state() -> None:
    r = reply()
    r["status"]["nodes"]["engine"]["silent_ms"] = 2500  # the launcher's heartbeat watch
    r["risk"]["feeds"]["shfe"]["age_ms"] = 40
    v = view_of(r, r, r)
    node = v.nodes[0]
    assert (node.age_s, node.observed) == (2.5, False)
    shfe, comex = v.feeds
    assert (shfe.age_s, shfe.observed) == (0.04, False)
    assert (comex.age_s, comex.observed) == (2.0, True)
