"""Every risk limit breached through the simulator (issue 5).

Each test runs the whole engine (``SimEngine``: every core of the demo config against a
``SimCore`` in virtual time) with one limit set so that normal trading breaches it, then checks
two things: the engine denied (``ExecReport`` ``denied`` with the limit's reason code) or changed
its trading state (``TradingState`` with the limit's reason), and -- from the simulator's own
record -- no order that breaks the limit reached the venue.
"""

from __future__ import annotations

import collections
import itertools
from typing import Any

import msgspec
import pytest

from tests.sim.test_sim_harness import cfg_with
from tests.support.engine_sim import MS, T0, SimEngine, check_invariants, illegal_transitions
from transports.config.engine import AppConfig, with_overrides
from transports.wire.messages import (
    CancelLeg,
    ComboIntent,
    Flatten,
    Halt,
    LegOrder,
    TradingState,
)
from transports.wire.venue_msgs import NewOrder

RUN_MS = 16_000


def cfg_risk(base: AppConfig | None = None, **risk: Any) -> AppConfig:
    cfg = base or cfg_with()
    return with_overrides(cfg, risk=msgspec.structs.replace(cfg.risk, **risk))


def cfg_contract(venue: str, base: AppConfig | None = None, **fields: Any) -> AppConfig:
    cfg = base or cfg_with()
    contracts = [msgspec.structs.replace(c, **fields) if c.venue == venue else c
                 for c in cfg.contracts]
    return with_overrides(cfg, contracts=contracts)


def run(cfg: AppConfig, ms: float = RUN_MS) -> SimEngine:
    eng = SimEngine(cfg)
    eng.run_to(ms)
    return eng


def denials(eng: SimEngine) -> collections.Counter[str]:
    return collections.Counter(r.reason for r in eng.reports() if r.kind == "denied")


def states(eng: SimEngine) -> list[tuple[str, str]]:
    """The trading states risk sent (state, reason), in order, once per change."""
    seen = [(m.state, m.reason) for _, s, _, m in eng.log
            if s == "risk" and type(m) is TradingState]
    return [x for i, x in enumerate(seen) if i == 0 or seen[i - 1] != x]


def venue_orders(eng: SimEngine, venue: str | None = None) -> list[dict[str, Any]]:
    accounts = set(eng.accounts.values())
    return [o for o in eng.truth()["orders"]
            if o["account"] in accounts and (venue is None or o["venue"] == venue)]


def positions_over_time(eng: SimEngine, venue: str) -> list[int]:
    pos, out = 0, []
    for f in sorted(eng.truth()["fills"], key=lambda f: f["ts"]):
        if f["venue"] == venue and f["account"] == eng.accounts[venue]:
            pos += f["qty"] if f["side"] == "B" else -f["qty"]
            out.append(pos)
    return out


def venue_books_over_time(eng: SimEngine) -> list[tuple[float, float, float]]:
    """(net exposure in base units, gross notional and margin in CNY) after each venue fill,
    valuing every position at its last fill price (USD at 7.2 CNY)."""
    cs = {f"{c.venue}:{c.sym}": c for c in eng.cfg.contracts}
    pos: dict[str, int] = {}
    px: dict[str, float] = {}
    out = []
    accounts = set(eng.accounts.values())
    for f in sorted(eng.truth()["fills"], key=lambda f: f["ts"]):
        if f["account"] not in accounts:
            continue
        k = f"{f['venue']}:{f['sym']}"
        pos[k] = pos.get(k, 0) + (f["qty"] if f["side"] == "B" else -f["qty"])
        px[k] = f["px"] * float(cs[k].tick) * cs[k].multiplier * (7.2 if cs[k].ccy == "USD"
                                                                    else 1.0)
        net = sum(q * cs[x].base_per_lot for x, q in pos.items())
        gross = sum(abs(q) * px[x] for x, q in pos.items())
        margin = sum(abs(q) * px[x] * cs[x].margin_rate for x, q in pos.items())
        out.append((net, gross, margin))
    return out


def test_max_lots_per_order() -> None:
    eng = run(cfg_contract("shfe", max_lots_per_order=20))
    assert denials(eng)["max_lots"] > 0
    assert max(o["qty"] for o in venue_orders(eng, "shfe")) <= 20 if venue_orders(eng, "shfe") \
        else True
    assert check_invariants(eng, 60_000).violations == []


def test_max_position_per_instrument() -> None:
    eng = run(cfg_contract("shfe", max_position_lots=20))
    assert denials(eng)["max_position"] > 0
    assert all(abs(p) <= 20 for p in positions_over_time(eng, "shfe"))
    assert check_invariants(eng, 60_000).violations == []


def test_max_net_exposure_per_underlying() -> None:
    eng = run(cfg_risk(max_net_exposure_base=20_000.0))
    assert denials(eng)["max_exposure"] > 0
    assert all(abs(net) <= 20_000 for net, _, _ in venue_books_over_time(eng))
    assert check_invariants(eng, 60_000).violations == []


def test_max_notional_per_order() -> None:
    # a clip leg is ~17 M CNY (28 x 1000 g x ~612 CNY/g; 9 x 100 oz x ~2650 USD x 7.2)
    eng = run(cfg_risk(max_notional_per_order=10_000_000.0))
    assert denials(eng)["max_notional"] > 0
    ticks = {f"{c.venue}:{c.sym}": float(c.tick) * c.multiplier for c in eng.cfg.contracts}
    fx = 7.3  # USDCNH in the simulation stays well below this
    for o in venue_orders(eng):
        k = ticks[f"{o['venue']}:{o['sym']}"] * o["px"] * o["qty"]
        assert k * (fx if o["venue"] == "comex" else 1.0) <= 10_000_000.0, o


def two_pairs(cfg: AppConfig) -> AppConfig:
    """The demo pair twice: the second strategy wants a clip while the first holds one."""
    p = cfg.pairs[0]
    return with_overrides(cfg, pairs=[p, msgspec.structs.replace(p, name="au-gc-2")])


# Each venue's executor may add at most its share of the headroom (limit minus what the risk
# view holds, over the venues sharing it): a clip is ~17.2 M CNY gross a leg (1.72 M margin).


def test_max_gross_notional() -> None:
    eng = run(two_pairs(cfg_risk(max_gross_notional=40_000_000.0)), ms=25_000)
    assert denials(eng)["gross_notional"] > 0
    books = venue_books_over_time(eng)
    assert max(g for _, g, _ in books) > 30_000_000  # one clip held: the limit was in play
    assert all(g <= 40_000_000 * 1.002 for _, g, _ in books)  # FX and marks differ slightly
    assert check_invariants(eng, 60_000).violations == []


def test_margin_available() -> None:
    eng = run(two_pairs(cfg_risk(margin_capital=4_000_000.0, margin_alarm_pct=99.0)),
              ms=25_000)
    assert denials(eng)["margin"] > 0
    books = venue_books_over_time(eng)
    assert max(m for _, _, m in books) > 3_000_000
    assert all(m <= 4_000_000 * 1.002 for _, _, m in books)
    assert check_invariants(eng, 60_000).violations == []


def test_price_band_against_the_book() -> None:
    # the IOC limit is the touch +/- max_slippage_ticks (3): a band of 1 tick denies it
    eng = run(cfg_risk(price_band_ticks=1))
    assert denials(eng)["price_band"] > 0
    assert venue_orders(eng) == []


def test_order_rate_per_venue() -> None:
    eng = run(cfg_risk(max_orders_per_s=1), ms=25_000)
    assert denials(eng)["rate_limit"] > 0
    for venue in ("shfe", "comex"):
        ts = sorted(o["ts"] for o in venue_orders(eng, venue))
        # a bucket of 1 token per second, bursting 1: never two orders within a second
        assert all(b - a >= 1000 * MS - 2 * MS for a, b in itertools.pairwise(ts)), ts


def _rest_gtc(eng: SimEngine, n: int, combo0: int = 900_000_001) -> list[str]:
    """Rest ``n`` passive GTC buys on shfe (300 ticks under the bid), as the combo would."""
    book = eng.sim.venues["shfe"].books["au2606"]
    bid = book.best("B")
    assert bid is not None
    for k in range(n):
        eng.send("leg.shfe", LegOrder(combo0 + k, 0, 0, "shfe", "au2606", "B", 1, bid - 300,
                                      "GTC", "entry", eng.now, eng.now))
    return [f"{eng.cfg.run.epoch}.{combo0 + k}.0.0" for k in range(n)]


def test_cancel_rate_paces_cancels_and_drops_none() -> None:
    eng = SimEngine(cfg_risk(max_cancels_per_s=2, max_orders_per_s=50))
    eng.run_to(3_000)
    cls = _rest_gtc(eng, 6)
    eng.run_to(3_100)
    for cl in cls:
        eng.send("leg.shfe", CancelLeg("shfe", cl))
    eng.run_to(8_000)
    acked = {c for c in cls if c in {o["cl"] for o in venue_orders(eng, "shfe")}}
    assert acked == set(cls)
    canceled = [r.cl for r in eng.reports() if r.kind == "done" and r.state == "CANCELED"]
    assert sorted(canceled) == sorted(cls)  # every cancel went out in the end
    assert eng.truth()["counts"]["cancels"] == 6
    # ...but at most 2 per second (the bucket's burst), the rest retried on a timer
    reqs = sorted(t for t, a, m in eng.frames_out if a == "leg.shfe" and type(m).__name__ ==
                  "CancelReq")
    assert len(reqs) == 6
    # a bucket of 2 per second bursting 2: k cancels span at least (k - 2) / 2 seconds
    for i in range(len(reqs)):
        for j in range(i + 2, len(reqs)):
            assert reqs[j] - reqs[i] >= (j - i - 1) * 500 * MS - MS, reqs


def test_halt_stops_new_orders_at_every_executor_while_cancels_go_out() -> None:
    eng = SimEngine(cfg_with())
    eng.run_to(4_000)
    cls = _rest_gtc(eng, 3)
    eng.run_to(4_100)
    t_halt = eng.now
    eng.send("risk", Halt("operator"))
    eng.run_to(RUN_MS)  # the strategy goes on seeing dislocations
    assert ("HALTED", "operator") in states(eng) or eng.cores["risk"].state == "HALTED"
    for leg in eng.leg_cores():
        assert leg.trading_state == "HALTED"
    after = [o for o in venue_orders(eng) if o["ts"] > t_halt]
    assert after == []
    cancels = [m.cl for t, a, m in eng.frames_out if t >= t_halt and type(m).__name__ ==
               "CancelReq"]
    assert sorted(cancels) == sorted(cls)
    refused = eng.cores["strategy.au-gc"].refusals
    assert refused.get("HALTED", 0) > 0 or denials(eng)["halted"] > 0


def test_a_lost_cancel_is_not_taken_for_done_and_is_sent_again() -> None:
    """V10: the venue loses the first cancel (the simulator's ``oe_swallow_cancel``, once). The
    order stays PENDING_CANCEL while the venue still works it -- never assumed canceled, nothing
    sent in its place -- until the cancel timeout: a query shows it working and the cancel goes
    again. Checked against the venue's own orders."""
    eng = SimEngine(cfg_with(schedule=[{"kind": "oe_swallow_cancel", "at_s": 0.0}]))
    eng.run_to(4_000)
    cls = _rest_gtc(eng, 3)
    eng.run_to(4_100)
    t_halt = eng.now
    eng.send("risk", Halt("operator"))  # the halt cancels what works
    venue = eng.sim.venues["shfe"]
    account = eng.accounts["shfe"]
    eng.run_to(4_600)
    # the venue still works the one whose cancel it lost...
    (lost,) = [cl for cl in cls if venue.orders[(account, cl)].is_open]
    leg = eng.cores["leg.shfe"]
    assert leg.orders[lost].state.value == "PENDING_CANCEL"  # ...and so the engine says
    assert not [r for r in eng.reports() if r.cl == lost and r.kind == "done"]
    eng.run_to(RUN_MS)
    assert eng.truth()["counts"]["fault_oe_swallow_cancel"] == 1
    assert all(venue.orders[(account, cl)].state == "canceled" for cl in cls)
    assert all(leg.orders[cl].state.value == "CANCELED" for cl in cls)
    cancels = [m.cl for t, a, m in eng.frames_out if t >= t_halt and type(m).__name__ ==
               "CancelReq"]
    assert sorted(cancels) == sorted([*cls, lost])  # the lost one twice, the others once
    assert [o for o in venue_orders(eng) if o["ts"] > t_halt] == []  # nothing in its place
    assert [a["cl"] for a in eng.alarms() if a["alarm"] == "unknown_outcome"
            and a["why"] == "no_cancel_answer"] == [lost]


def test_a_cancel_that_crosses_the_fill_is_rejected_and_the_fill_stands() -> None:
    """V11: a resting GTC order fills at the venue while our cancel is on its way (the cancel
    is sent the moment the venue's book fills it, before its fill report reaches the engine).
    The venue rejects the cancel (``not_open``); the engine's order ends FILLED with the venue's
    quantity, no illegal transition, the cancel sent once, the position the venue's."""
    eng = SimEngine(cfg_with())
    eng.run_to(3_000)
    eng.stop_strategies()  # only the test's order trades on SHFE
    venue, account = eng.sim.venues["shfe"], eng.accounts["shfe"]
    book = venue.books["au2606"]
    t_ms, raced = 3_000, ""
    for k in range(20):  # a GTC buy joins the bid; the market comes down to it in time
        bid = book.best("B")
        assert bid is not None
        combo = 900_000_100 + k
        eng.send("leg.shfe", LegOrder(combo, 0, 0, "shfe", "au2606", "B", 1, bid, "GTC",
                                      "entry", eng.now, eng.now))
        cl = f"{eng.cfg.run.epoch}.{combo}.0.0"
        for _ in range(3_000):
            t_ms += 1
            eng.run_to(t_ms)
            o = venue.orders.get((account, cl))
            if o is not None and o.state == "filled":
                raced = cl
                break
        eng.send("leg.shfe", CancelLeg("shfe", cl))  # crosses the fill, or cancels a rest
        t_ms += 500
        eng.run_to(t_ms)
        if raced:
            break
    assert raced, "the market never came down to a resting bid"
    kinds = [(r.kind, r.state) for r in eng.reports() if r.cl == raced]
    assert kinds[-1] == ("cancel_reject", "FILLED") and ("fill", "FILLED") in kinds, kinds
    leg = eng.cores["leg.shfe"]
    assert leg.orders[raced].state.value == "FILLED"
    assert leg.orders[raced].cum_lots == venue.orders[(account, raced)].cum == 1
    cancels = [m.cl for _t, a, m in eng.frames_out if a == "leg.shfe" and type(m).__name__ ==
               "CancelReq" and m.cl == raced]
    assert cancels == [raced]
    assert leg.positions.get("au2606", 0) == venue.positions.get(account, {}).get("au2606", 0)
    assert illegal_transitions(eng.reports()) == []


def test_an_operators_flatten_while_a_combo_is_live_ends_flat_at_the_venue() -> None:
    """A08: the desk's flatten lands while the strategy holds a spread and a combo is live (the
    venue fills partially, so combos repair): the live combo ends, the spread is closed, nothing
    opens afterwards, and the venue's own positions are flat on both legs within T_flat (the
    pair's hedge budget plus risk's unhedged limit) -- checked on the venue's record."""
    eng = SimEngine(cfg_with(oe_partial=0.3))
    t_ms = 4_000
    eng.run_to(t_ms)
    risk, strategy = eng.cores["risk"], eng.cores["strategy.au-gc"]
    while not (risk.live_combos and strategy.pos_dir != 0):
        t_ms += 1
        assert t_ms < 25_000, "no moment with a spread held and a combo live"
        eng.run_to(t_ms)
    t_flat = eng.now
    eng.send("risk", Flatten("desk"))
    deadline_ms = max(p.hedge_budget_ms for p in eng.cfg.pairs) + eng.cfg.risk.unhedged_limit_ms
    eng.run_to(t_ms + deadline_ms)
    pos = eng.truth()["positions"]
    assert pos["shfe-acct"]["au2606"] == 0 and pos["comex-acct"]["GCZ6"] == 0
    assert not risk.live_combos and strategy.pos_dir == 0
    eng.run_to(t_ms + deadline_ms + 10_000)  # the dislocations go on: nothing opens on them
    assert [ts for ts, _s, _d, m in eng.log if type(m) is ComboIntent and m.action == "open"
            and ts > t_flat] == []
    assert check_invariants(eng, deadline_ms).violations == []


def test_reject_rate_goes_reducing() -> None:
    eng = run(cfg_risk(cfg_with(oe_reject=0.6), max_reject_rate=0.3, reject_window=6),
              ms=25_000)
    assert ("REDUCING", "reject_rate") in states(eng)
    assert check_invariants(eng, 60_000).violations == []


def test_margin_usage_alarm_goes_reducing() -> None:
    eng = run(cfg_risk(margin_capital=4_000_000.0, margin_alarm_pct=50.0))
    assert ("REDUCING", "margin_usage") in states(eng)
    assert check_invariants(eng, 60_000).violations == []


def test_daily_loss_halts() -> None:
    # an entry pays the spread and fees at once (~ -700 CNY marked to market): a 300 CNY
    # daily loss limit is breached by the first combo
    eng = run(cfg_risk(daily_loss_limit=300.0), ms=25_000)
    assert ("HALTED", "daily_loss") in states(eng)
    t_halt = next(t for t, s, d, m in eng.log if type(m) is TradingState and m.state == "HALTED")
    assert [o for o in venue_orders(eng) if o["ts"] > t_halt
            and o["cl"].split(".")[1][-6:-3] != "999"] == []  # only risk's own flatten orders


def test_drawdown_halts() -> None:
    eng = run(cfg_risk(max_drawdown=1.0), ms=25_000)
    assert ("HALTED", "drawdown") in states(eng)


LEFTOVER = [("shfe", NewOrder("old.1", "au2606", "B", 40_000, 5, "IOC", 0))]


def test_unhedged_exposure_no_combo_owns_is_flattened() -> None:
    # a previous run left 5 lots (5,000 g) at the venue: the executor adopts them when it
    # reconciles, no combo owns them, risk flattens them after unhedged_limit_ms
    eng = SimEngine(cfg_risk(unhedged_limit_ms=1000), leftover=LEFTOVER)
    eng.run_to(4_000)
    assert positions_over_time(eng, "shfe")[0] == 5
    flat = [d for d in eng.decisions if d.actor == "risk" and d.what == "flatten"]
    assert len(flat) == 1 and '"lots": 5' in flat[0].detail
    assert eng.truth()["positions"]["shfe-acct"]["au2606"] == 0
    assert flat[0].ts_ns - T0 >= 1000 * MS  # not before the limit


def test_unhedged_exposure_halts_when_flattening_is_off() -> None:
    eng = SimEngine(cfg_risk(unhedged_limit_ms=1000, flatten_orphans=False), leftover=LEFTOVER)
    eng.run_to(4_000)
    assert ("HALTED", "unhedged_exposure") in states(eng)
    assert eng.truth()["positions"]["shfe-acct"]["au2606"] == 5


def test_feed_unhealthy_denies_exposure_increasing_orders() -> None:
    # the simulator holds shfe's market data (heartbeats too) 4 s from t=6 s: the feed goes
    # STALE while order entry works; an order that would increase exposure there is denied
    base = cfg_with(md_delay_ms=4000,
                    schedule=[{"kind": "md_delay", "at_s": 6.0, "venue": "shfe"}])
    eng = SimEngine(base)
    eng.run_to(8_500)
    assert eng.cores["feed.shfe"].snapshot()["state"] == "STALE"
    pos = eng.cores["leg.shfe"].positions.get("au2606", 0)
    assert pos != 0  # the strategy holds its first spread (opened at ~5.7 s)
    grow, shrink = ("S", "B") if pos < 0 else ("B", "S")
    for k, side in enumerate((grow, shrink)):
        eng.send("leg.shfe", LegOrder(900_000_001 + k, 0, 0, "shfe", "au2606", side, 1, 30_600,
                                      "IOC", "entry", eng.now, eng.now))
    eng.run_to(8_600)
    assert denials(eng) == {"feed_unhealthy": 1}
    sent = {o["cl"].split(".")[1] for o in venue_orders(eng)}
    assert "900000001" not in sent and "900000002" in sent  # the reducing one went


def test_session_break_refuses_opens_and_denies_increasing_orders() -> None:
    # the simulator puts shfe in a session break for 3 s from t=8 s (status `break` published,
    # new orders rejected there): the strategy opens nothing, the executor denies an order that
    # would grow a position, and nothing of ours reaches the venue during the break
    base = cfg_with(schedule=[{"kind": "session_break", "at_s": 8.0, "for_s": 3.0,
                               "venue": "shfe"}])
    eng = SimEngine(base)
    eng.run_to(9_000)
    pos = eng.cores["leg.shfe"].positions.get("au2606", 0)
    side = "S" if pos <= 0 else "B"
    eng.send("leg.shfe", LegOrder(900_000_001, 0, 0, "shfe", "au2606", side, 1, 30_600, "IOC",
                                  "entry", eng.now, eng.now))
    eng.run_to(16_000)
    assert denials(eng)["session_closed"] == 1
    refused = eng.cores["strategy.au-gc"].refusals
    assert refused.get("CLOSED_A", 0) > 0
    t0, t1 = T0 + 8_000 * MS, T0 + 11_000 * MS
    during = [o for o in venue_orders(eng, "shfe") if t0 <= o["ts"] < t1]
    assert during == []
    assert eng.truth()["counts"]["fault_session_break"] == 1
    assert venue_orders(eng, "shfe")[-1]["ts"] > t1  # trading resumed after the break


@pytest.mark.parametrize("gc_side", ["B", "S"])
def test_nobodys_positions_on_both_legs_are_flattened_leg_by_leg(gc_side: str) -> None:
    # a previous run left 10 au (10,000 g) and 3 GC (9,331 g) at the venues, the same way or
    # against each other. Hedging the whole exposure with au alone (as risk once did) would
    # leave an au/GC spread nobody owns: each leg must end flat at the venue, not just the net
    leftover = [("shfe", NewOrder("old.1", "au2606", "B", 40_000, 10, "IOC", 0)),
                ("comex", NewOrder("old.2", "GCZ6", gc_side, 30_000 if gc_side == "B" else 20_000,
                                   3, "IOC", 0))]
    eng = SimEngine(cfg_risk(unhedged_limit_ms=1000), leftover=leftover)
    eng.run_to(4_000)
    assert positions_over_time(eng, "shfe")[0] == 10
    assert positions_over_time(eng, "comex")[0] == (3 if gc_side == "B" else -3)
    pos = eng.truth()["positions"]
    assert pos["shfe-acct"]["au2606"] == 0 and pos["comex-acct"]["GCZ6"] == 0
    pairs = [d for d in eng.decisions if d.actor == "risk" and d.what == "flatten_pair"]
    assert len(pairs) == 1
    assert eng.cores["risk"].snapshot()["state"] != "HALTED"


def test_a_flatten_to_risk_closes_what_no_strategy_holds_at_once() -> None:
    # the shutdown's flatten (cmc launch, cmc demo) reaches risk too: an orphan position (here
    # a previous run's 5 lots; after a crash, the fill of an order the journal never saw) is
    # closed then, not left naked when the engine stops before unhedged_limit_ms
    eng = SimEngine(cfg_risk(unhedged_limit_ms=60_000), leftover=LEFTOVER)
    eng.run_to(1_500)
    assert eng.truth()["positions"]["shfe-acct"]["au2606"] == 5
    eng.send("risk", Flatten("shutdown"))
    eng.run_to(3_000)
    assert eng.truth()["positions"]["shfe-acct"]["au2606"] == 0


def test_an_operators_flatten_while_halted_closes_the_strategys_spread() -> None:
    # session 12: HALTED denied the strategy's closing combos even under the operator's
    # flatten (its closes go under a halt, its legs were denied ``halted``): the desk had to
    # resume first, and the strategies could open again until the flatten reached them
    eng = SimEngine(cfg_with())
    st = eng.cores["strategy.au-gc"]
    t = 4_000
    while not (st.pos_dir != 0 and st.posn.pending is None) and t < 30_000:
        t += 100
        eng.run_to(t)
    assert st.pos_dir != 0, "the strategy never held a spread"
    eng.send("risk", Halt("operator"))
    eng.run_to(t + 2_000)
    held = dict(eng.truth()["positions"])
    assert any(n for acct in held.values() for n in acct.values())  # halted: still held
    t_flat = eng.now
    eng.send("risk", Flatten("desk"))
    eng.run_to(t + 8_000)
    pos = eng.truth()["positions"]
    assert all(n == 0 for acct in pos.values() for n in acct.values()), pos
    assert st.pos_dir == 0
    assert eng.cores["risk"].state == "HALTED"  # still halted
    assert ("HALTED", "flatten_through_halt") in states(eng)
    # nothing opened after the halt: every order after the flatten reduced its position
    after = [o for o in venue_orders(eng) if o["ts"] > t_flat]
    assert after  # the closes went out
    accounts = set(eng.accounts.values())
    fills = [f for f in eng.truth()["fills"] if f["account"] in accounts]
    for o in after:
        before = sum(f["qty"] if f["side"] == "B" else -f["qty"] for f in fills
                     if f["sym"] == o["sym"] and f["ts"] < o["ts"])
        assert before != 0 and (before > 0) == (o["side"] == "S"), (o, before)
