"""A take-over (or a restart) after the orders of a cycle left but before its journal batch
reached the successor: the successor's strategy must count what those orders filled.

The engine releases a cycle's orders (intents fsynced and, with a hot standby, replicated)
before it hands that cycle's journal batch on (``actors.runtime.host.host``: ``_release_sends`` then
``_flush``). A partition (or a SIGKILL) in between leaves the successor with the intents but not
the decision: its executors query those orders by client id (``in_flight_at_restart``) and
apply their fills, but the combo they belong to is unknown to the rebuilt ComboExecutor. Found
by ``cmc drill failover --mode partition --shape production`` (``a leg held 56 lots, beyond the
spread limit 30``): the lost combo closed the primary's spread at the venue, the survivor's
strategy still believed it held it, "closed" it again (opening the opposite spread nobody
owns, hedged so risk never flattened it) and then opened on top -- 56 au lots.

The cores here, in process and in virtual time, are driven with exactly the messages the
survivor's journal held in that run (combo ``1000000004``, the lost close).
"""

from __future__ import annotations

import msgspec

from actors.combo.executor import ComboExecutorCore
from actors.risk.holdings import PairHoldings
from actors.strategy.strategy import StrategyCore
from transports.config.engine import load_config
from transports.wire.messages import ComboIntent, ComboState, ExecReport, LegSpec

OLD, NEW = 1, 2  #: the deposed primary's run epoch and the survivor's
LOST = OLD * 1_000_000_000 + 4  #: the close combo whose decision the journal lost
HELD = OLD * 1_000_000_000 + 2  #: the open combo the survivor's journal holds


def _intent(cid: int, action: str, side_a: str, side_b: str) -> ComboIntent:
    """A combo of the short spread (A -28 / B +9): its open or its close."""
    return ComboIntent(cid, "au-gc", action, -1, [  # type: ignore[arg-type]
        LegSpec("shfe", "au2606", side_a, 28, 30_700, 30_700.0),  # type: ignore[arg-type]
        LegSpec("comex", "GCZ6", side_b, 9, 26_500, 26_500.0)],  # type: ignore[arg-type]
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0)


def _world() -> tuple[StrategyCore, ComboExecutorCore, PairHoldings]:
    """The survivor's strategy, combo executor and risk holdings after the rebuild: the journal
    held the open of a short spread (A -28 / B +9, combo ``HELD``), not the close after it."""
    cfg = load_config()  # the demo pair au-gc, as in the drill
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = cfg.pairs[0]
    strategy = StrategyCore("strategy.au-gc", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", NEW)
    combo = ComboExecutorCore("combo", {p.name: p}, c, ["strategy.au-gc", "risk"])
    risk = PairHoldings()
    # the rebuilt combo executor saw the open's intent (its legs' orders are not needed here)
    combo.handle(_intent(HELD, "open", "S", "B"), 0)
    strategy.posn.pending = HELD  # the rebuilt strategy heard the open complete
    held = ComboState(HELD, p.name, "open", "complete", -1, 28, 9, 6.87, 0)
    strategy.handle(held, 0)
    risk.on_combo_state(held)
    assert (strategy.pos_dir, strategy.posn.pos_a_lots, strategy.posn.pos_b_lots) == (-1, -28, 9)
    return strategy, combo, risk


def _flat_world() -> tuple[StrategyCore, ComboExecutorCore, PairHoldings]:
    """``_world`` after the journal held the close of that spread too: the survivor's strategy
    and risk hold nothing."""
    strategy, combo, risk = _world()
    strategy.posn.pending = HELD + 1
    closed = ComboState(HELD + 1, "au-gc", "close", "complete", -1, 28, 9, 6.87, 0)
    combo.handle(_intent(HELD + 1, "close", "B", "S"), 0)
    strategy.handle(closed, 0)
    risk.on_combo_state(closed)
    assert strategy.pos_dir == 0
    return strategy, combo, risk


def _fill(venue: str, sym: str, leg: int, side: str, qty: int, tid: str) -> ExecReport:
    cl = f"{OLD}.{LOST}.{leg}.0"
    return ExecReport(venue, cl, LOST, leg, 0, sym, side, "fill", "FILLED",  # type: ignore[arg-type]
                      30_673 if leg == 0 else 26_462, qty, qty, 0, 0.0, tid, "", 0, 0)


def _deliver(out: list, strategy: StrategyCore, risk: PairHoldings) -> None:
    for dest, msg in out:
        if type(msg) is ComboState:
            if dest == "strategy.au-gc":
                strategy.handle(msg, 1)
            elif dest == "risk":
                risk.on_combo_state(msg)


def test_fills_of_a_combo_the_journal_lost_reach_the_strategy_and_risk() -> None:
    strategy, combo, risk = _world()
    # the in-flight queries at the take-over: the lost close filled both legs at the venue
    fills = [("shfe", "au2606", 0, "B", 27, "shfe-t3"), ("shfe", "au2606", 0, "B", 1, "shfe-t4"),
             ("comex", "GCZ6", 1, "S", 8, "comex-t6"), ("comex", "GCZ6", 1, "S", 1, "comex-t7")]
    venue = {"au2606": -28, "GCZ6": 9}  # what the venue held before the lost close
    for venue_name, sym, leg, side, qty, tid in fills:
        _deliver(combo.handle(_fill(venue_name, sym, leg, side, qty, tid), 1), strategy, risk)
        venue[sym] += qty if side == "B" else -qty
    # a fill reported twice (the status and the trades listing) counts once
    _deliver(combo.handle(_fill(*fills[-1]), 1), strategy, risk)
    assert venue == {"au2606": 0, "GCZ6": 0}
    # the strategy's position is the venue's: flat, so its next decision is an open of one
    # clip (not a close of a spread that is gone, which would open one nobody owns)
    posn = strategy.posn
    assert (posn.pos_a_lots, posn.pos_b_lots) == (venue["au2606"], venue["GCZ6"])
    assert strategy.pos_dir == 0 and posn.pending is None
    assert risk.pos["au-gc"] == (0, 0)  # risk's holdings agree: nothing is nobody's


def test_a_lost_open_is_held_so_the_strategy_closes_it_instead_of_opening_on_top() -> None:
    strategy, combo, risk = _flat_world()
    # then a lost open (long A / short B) filled both legs
    for venue_name, sym, leg, side, qty, tid in [("shfe", "au2606", 0, "B", 28, "s1"),
                                                 ("comex", "GCZ6", 1, "S", 9, "c1")]:
        _deliver(combo.handle(_fill(venue_name, sym, leg, side, qty, tid), 1), strategy, risk)
    assert (strategy.posn.pos_a_lots, strategy.posn.pos_b_lots) == (28, -9)
    assert strategy.pos_dir == 1  # it holds a spread: its next decision is that spread's close
    assert risk.pos["au-gc"] == (28, -9)


def test_a_lost_open_off_balance_by_a_partial_fill_is_still_the_strategys_spread() -> None:
    """The partition drill under load (session 12): the lost open's au IOC filled 26 of 28,
    its GC leg 9 of 9. Left to nobody (it was not "hedged" to half a lot), it was a spread no
    strategy closed and risk never flattened while the strategy traded, and the strategy opened
    its next clip on top of it: 54 au at the venue. Adopted, the strategy holds 26 / 9 and
    closes that; the 2 lots' imbalance is its exposure for risk to judge."""
    strategy, combo, risk = _flat_world()
    out = combo.handle(_fill("shfe", "au2606", 0, "B", 20, "s1"), 1)
    assert any(getattr(m, "what", "") == "combo_not_adopted" for _d, m in out)  # one leg yet
    _deliver(out, strategy, risk)
    for venue_name, sym, leg, side, qty, tid in [("comex", "GCZ6", 1, "S", 9, "c1"),
                                                 ("shfe", "au2606", 0, "B", 6, "s2")]:
        _deliver(combo.handle(_fill(venue_name, sym, leg, side, qty, tid), 1), strategy, risk)
    assert (strategy.posn.pos_a_lots, strategy.posn.pos_b_lots) == (26, -9)
    assert strategy.pos_dir == 1  # its next decision closes what it holds, opens nothing
    assert risk.pos["au-gc"] == (26, -9)


def test_a_late_fill_of_a_forgotten_combo_stays_an_orphan() -> None:
    """An unknown combo older than the newest the executor ran is one it forgot (finished and
    retained no longer): its late fill is risk's to flatten, as before; never adopted."""
    strategy, combo, risk = _world()
    old = msgspec.structs.replace(_fill("shfe", "au2606", 0, "B", 1, "late"),
                                  combo_id=HELD - 1, cl=f"{OLD}.{HELD - 1}.0.0")
    assert combo.handle(old, 1) == []
    assert combo.counters["orphan_reports"] == 1
    assert strategy.pos_dir == -1 and risk.pos["au-gc"] == (-28, 9)


def test_a_lost_combo_with_one_leg_filled_is_not_adopted() -> None:
    """Only a hedged spread is adopted: a lost combo whose hedge never filled leaves a naked
    leg, which must stay exposure no combo owns so risk flattens it (``unhedged_limit_ms``).
    Adopted, it would be a finished combo's holding nobody ever hedges (the cut drill: one leg
    filled, the exposure never came back)."""
    strategy, combo, risk = _world()
    out = combo.handle(_fill("shfe", "au2606", 0, "B", 28, "only-a"), 1)
    _deliver(out, strategy, risk)
    assert not [m for _d, m in out if type(m) is ComboState]
    assert any(getattr(m, "what", "") == "combo_not_adopted" for _d, m in out)
    # the strategy and risk still hold what the journal said: the 28 lots are nobody's
    assert (strategy.pos_dir, strategy.posn.pos_a_lots, strategy.posn.pos_b_lots) == (-1, -28, 9)
    assert risk.pos["au-gc"] == (-28, 9)


def test_a_lost_close_found_only_in_the_venues_trades_is_adopted_at_the_take_over() -> None:
    """The partition drill's other lost combo (session 11): cut off from NATS, the old primary
    sent a *reducing* close without a replicated intent (the documented non-durable rule) and
    it filled. The survivor has no intent to query; only the venue's ``trades`` listing holds
    it. The survivor's leg executors (restored, then restarted) report those trades, the combo
    executor adopts the close, and the strategy and risk end flat with the venue -- before
    this the strategy "closed" the spread again: au +28 / GC -9 at the venue, nobody's."""
    import pickle

    from actors.leg.executor import LegExecutorCore
    from transports.config.engine import RiskConfig
    from transports.wire.messages import Decision, LegOrder
    from transports.wire.venue_msgs import (
        Done,
        Fill,
        FillRecord,
        NewOrder,
        OpenOrders,
        Positions,
        Trades,
    )

    ms = 1_000_000
    strategy, combo, risk = _world()
    cfg = load_config()
    legs = {}
    for x in cfg.contracts:
        if x.sym in ("au2606", "GCZ6"):
            legs[x.venue] = LegExecutorCore(f"leg.{x.venue}", x.venue, "acct", {x.sym: x}, OLD,
                                            RiskConfig(), ["combo", "risk"], 2000, oe_link=True)
    # the primary's run: the first start, then the open of the held spread fills both legs
    held = {"shfe": ("au2606", 0, "S", 28), "comex": ("GCZ6", 1, "B", 9)}
    for venue, leg in legs.items():
        leg.on_start(1_000 * ms)
        for m in (OpenOrders(list=[]), Trades(list=[]), Positions(list=[])):
            leg.handle(m, 1_000 * ms)
        sym, n, side, qty = held[venue]
        out = leg.handle(LegOrder(HELD, n, 0, venue, sym, side, qty, 30_000,  # type: ignore[arg-type]
                                  "IOC", "entry", 0, 2_000 * ms), 2_000 * ms)
        (new,) = [m for _d, m in out if isinstance(m, NewOrder)]
        leg.handle(Fill(cl=new.cl, oid="o", tid=f"{venue}-t1", px=30_000, qty=qty, ts=2_000 * ms),
                   2_001 * ms)
        leg.handle(Done(cl=new.cl, oid="o", state="filled", cum=qty, ts=2_001 * ms), 2_001 * ms)
    # the survivor's copies (replayed from the stream: the first start is in them), restarted
    legs = {v: pickle.loads(pickle.dumps(leg)).restarted() for v, leg in legs.items()}
    close = {"shfe": FillRecord(cl=f"{OLD}.{LOST}.0.0", oid="c", tid="shfe-t9", px=30_673, qty=28,
                                ts=3_000 * ms, sym="au2606", side="B"),
             "comex": FillRecord(cl=f"{OLD}.{LOST}.1.0", oid="c", tid="comex-t9", px=26_462,
                                 qty=9, ts=3_000 * ms, sym="GCZ6", side="S")}
    alarms = []
    for venue, leg in legs.items():
        leg.on_start(5_000 * ms)
        leg.handle(OpenOrders(list=[]), 5_001 * ms)
        out = leg.handle(Trades(list=[close[venue]]), 5_001 * ms)
        out += leg.handle(Positions(list=[]), 5_001 * ms)  # the venue: flat after the close
        for dest, msg in out:
            if dest == "combo":
                _deliver(combo.handle(msg, 5_002 * ms), strategy, risk)
            elif isinstance(msg, Decision) and msg.what == "alarm":
                alarms.append(msg.detail)
        assert not leg.positions.get(held[venue][0]) and leg.gate == ""
    assert not [a for a in alarms if "position_mismatch" in a]
    posn = strategy.posn
    assert (strategy.pos_dir, posn.pos_a_lots, posn.pos_b_lots) == (0, 0, 0)
    assert risk.pos["au-gc"] == (0, 0)


def test_a_lost_close_with_only_its_hedge_leg_filled_is_flattened_back_to_the_strategys_spread(
) -> None:
    """The partition drill under load (session 12, three runs in eighteen): the lost close
    filled its GC leg only (its au IOC found no price), so it is not adopted and the strategy
    still holds the spread. The 9 GC nobody holds must be closed on GC: risk cut the exposure
    on the smallest lot instead (sold 28 au), the venue went flat while the strategy still held
    the spread, and its shutdown close left au +28 / GC -9 at the venue, owned by nobody."""
    from actors.risk.risk import RiskCore
    from transports.config.engine import RiskConfig
    from transports.wire.messages import BookUpdate, LegOrder, SetTimer, Timer

    strategy, combo, _holdings = _world()
    cfg = load_config()
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    risk = RiskCore("risk", contracts, RiskConfig(unhedged_limit_ms=100),
                    ["leg.shfe", "leg.comex"], ["strategy.au-gc"],
                    {"USD": ("fx:USDCNH", False)}, epoch=NEW,
                    pairs={"au-gc": ("shfe:au2606", "comex:GCZ6")})
    for venue, sym, mid in [("fx", "USDCNH", 72_000), ("shfe", "au2606", 30_700),
                            ("comex", "GCZ6", 26_500)]:
        risk.on_book_update(BookUpdate(venue, sym, True, 0, 0, 0, [mid - 1], [1], [mid + 1],
                                       [1]), 0)
    venue = {"au2606": 0, "GCZ6": 0}

    def fill(r: ExecReport) -> list:
        venue[r.sym] += r.qty_lots if r.side == "B" else -r.qty_lots
        return risk.on_exec_report(r, 1)

    # what the survivor's risk was rebuilt with: the held short spread, complete
    fill(msgspec.structs.replace(_fill("shfe", "au2606", 0, "S", 28, "o1"), combo_id=HELD))
    fill(msgspec.structs.replace(_fill("comex", "GCZ6", 1, "B", 9, "o2"), combo_id=HELD))
    risk.on_combo_state(ComboState(HELD, "au-gc", "open", "complete", -1, 28, 9, 6.87, 1), 1)
    # the lost close: its GC leg filled, its au leg did not; not adopted (a naked leg)
    gc = _fill("comex", "GCZ6", 1, "S", 9, "lost-gc")
    out = combo.handle(gc, 2)
    assert any(getattr(m, "what", "") == "combo_not_adopted" for _d, m in out)
    _deliver(out, strategy, _holdings)
    out = fill(gc)
    assert venue == {"au2606": -28, "GCZ6": 0}
    (timer,) = [m for _, m in out if isinstance(m, SetTimer) and m.due_ns]
    out = risk.on_timer(Timer("unhedged", timer.due_ns), timer.due_ns)
    (order,) = [m for _d, m in out if type(m) is LegOrder]
    assert (order.venue, order.sym, order.side, order.qty_lots) == ("comex", "GCZ6", "B", 9)
    venue[order.sym] += order.qty_lots  # the flatten IOC fills
    # the venue holds again exactly what the strategy holds: its close will leave it flat
    assert (venue["au2606"], venue["GCZ6"]) == (strategy.posn.pos_a_lots,
                                                strategy.posn.pos_b_lots) == (-28, 9)
