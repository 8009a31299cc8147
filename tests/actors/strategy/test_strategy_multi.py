"""MultiVenueCore (搬砖) on hand-made books of three venues: the best pair net of each venue's
fees, the outlier gate (exclusion and return, journaled), the spot inventory bound, the close on
revert and on flatten; and end to end through the ComboExecutor and LegExecutors over the
sub-pairs: a leg refused pre-trade leaves no position on the other venue; risk routes a
sub-pair's naked leg back to the multi pair's strategy."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from actors.combo.executor import ComboExecutorCore
from actors.leg.executor import LegExecutorCore
from actors.risk.risk import RiskCore
from actors.runtime.dispatch import Dispatcher, Sink
from actors.strategy.kinds import build_strategy, combo_pairs, pair_keys, sub_pair_name
from actors.strategy.multi import MultiVenueCore
from actors.strategy.multi_outlier import WARM_SAMPLES
from tests.actors.combo.test_combo_executor import FakeVenue
from tests.support.helpers import msgs
from transports.config.engine import AppConfig, ContractConfig, PairConfig, RiskConfig
from transports.config.strategies import MultiConfig
from transports.errors import ConfigError
from transports.wire.messages import (
    BookUpdate,
    ComboIntent,
    ComboState,
    Decision,
    ExecReport,
    Flatten,
    SessionStatus,
    SetParams,
    SetTimer,
    Timer,
)
from transports.wire.venue_msgs import NewOrder

MS = 1_000_000
NAME = "btc"
VENUES = {"bina": ("BTCUSDT", 0.006), "okx": ("BTC-USDT", 0.012), "byb": ("BTCUSDT-P", 0.009)}
KEYS = [f"{v}:{s}" for v, (s, _) in VENUES.items()]  # legs 0 bina, 1 okx, 2 byb
MID = 60_000  # ticks of 1 USDT


def _contract(venue: str, **kw: Any) -> ContractConfig:
    sym, fee = VENUES[venue]
    base: dict[str, Any] = dict(venue=venue, sym=sym, tick="1", multiplier=0.001, unit="BTC",
                                ccy="USDT", underlying="btc", base_per_lot=0.001,
                                fee_per_lot=fee)
    return ContractConfig(**{**base, **kw})


CONTRACTS = {f"{v}:{VENUES[v][0]}": _contract(v) for v in VENUES}


def _pair(**multi: Any) -> PairConfig:
    m: dict[str, Any] = dict(legs=KEYS, spot=KEYS[:2], outlier_min_bps=50.0,
                             inventory_base={KEYS[0]: 0.02, KEYS[1]: 0.02})
    m.update(multi)
    return PairConfig(name=NAME, kind="multi", leg_a=KEYS[0], leg_b=KEYS[1], max_clip_lots_a=5,
                      max_clip_lots_b=5, max_spread_position=2, slippage_ticks=0.5,
                      max_slippage_ticks=2, min_edge=5.0, exit_edge=30.0,
                      max_quote_skew_ms=5, max_quote_age_ms=1000, retry_cooldown_ms=0,
                      multi=MultiConfig(**m))


def _core(pair: PairConfig | None = None) -> MultiVenueCore:
    core = build_strategy(f"strategy.{NAME}", pair or _pair(), CONTRACTS, "combo", 1, 0)
    assert isinstance(core, MultiVenueCore)
    return core


def _upd(venue: str, bid: int, ask: int, ts: int, qty: int = 50) -> BookUpdate:
    return BookUpdate(venue, VENUES[venue][0], True, ts, ts, ts, [bid, bid - 1], [qty, qty],
                      [ask, ask + 1], [qty, qty])


class Clock:
    """The test's time: each ``tick`` is one refresh of every venue at the same instant."""

    def __init__(self) -> None:
        self.ts = 1_000 * MS

    def tick(self, core: Any, quotes: dict[str, tuple[int, int]] | None = None) -> list[Any]:
        """Every venue quotes (bid, ask) (default: MID -1/+1 ... the calm market); return what
        the core sent, over the whole refresh."""
        self.ts += 20 * MS
        q = {v: (MID - 1, MID + 1) for v in VENUES}
        q.update(quotes or {})
        out: list[Any] = []
        for v, (bid, ask) in q.items():
            out += core.handle(_upd(v, bid, ask, self.ts), self.ts)
        return out


def _warm(core: Any, clock: Clock) -> None:
    for _ in range(WARM_SAMPLES):
        assert msgs(clock.tick(core), ComboIntent) == []


def _done(core: MultiVenueCore, i: ComboIntent, ts: int, state: str = "complete",
          a: int | None = None, b: int | None = None) -> None:
    a = i.legs[0].qty_lots if a is None else a
    b = i.legs[1].qty_lots if b is None else b
    core.handle(ComboState(i.combo_id, i.pair, i.action, state, i.direction, a, b, 0.0, ts), ts)


def _refusals(out: list[Any]) -> list[str]:
    return [m.detail for m in msgs(out, Decision) if m.what == "refuse"]


# --- routing --------------------------------------------------------------------------------------


def test_sub_pairs_are_two_legged_pairs_of_every_ordered_venue_pair() -> None:
    p = _pair()
    cfg = msgspec.structs.replace(AppConfig(), contracts=list(CONTRACTS.values()), pairs=[p])
    subs = combo_pairs(cfg)
    assert sorted(subs) == sorted([NAME] + [sub_pair_name(NAME, i, j) for i in range(3)
                                            for j in range(3) if i != j])
    assert (subs["btc/2-0"].leg_a, subs["btc/2-0"].leg_b) == (KEYS[2], KEYS[0])
    assert pair_keys(p) == KEYS


# --- selection ------------------------------------------------------------------------------------


def test_picks_the_best_pair_net_of_fees_a_cheaper_fee_beats_a_slightly_better_price() -> None:
    core, clock = _core(), Clock()
    _warm(core, clock)
    # byb rich by ~100; okx asks 2 USDT less than bina, but its fee costs 6 USDT/BTC more
    out = clock.tick(core, {"byb": (MID + 100, MID + 102), "okx": (MID - 3, MID - 1)})
    (i,) = msgs(out, ComboIntent)
    assert (i.pair, i.action, i.direction) == ("btc/0-2", "open", 1)
    assert [(x.venue, x.side, x.qty_lots) for x in i.legs] == [("bina", "B", 5), ("byb", "S", 5)]
    assert [x.expected_px_ticks for x in i.legs] == [MID + 1, MID + 100]
    assert [x.limit_px_ticks for x in i.legs] == [MID + 1 + 2, MID + 100 - 2]
    fee_open = (5 * 0.006 + 5 * 0.009) / (5 * 0.001)  # 15 USDT per BTC
    assert i.edge == pytest.approx(99 - fee_open)
    assert i.cost == pytest.approx(fee_open + 2 * 0.5 * 2)
    # the same prices with equal fees: the better price wins
    core2, clock2 = _core(), Clock()
    core2.contracts[1] = _contract("okx", fee_per_lot=0.006)
    core2._configure(core2.pair)
    _warm(core2, clock2)
    out = clock2.tick(core2, {"byb": (MID + 100, MID + 102), "okx": (MID - 3, MID - 1)})
    assert msgs(out, ComboIntent)[0].pair == "btc/1-2"


def test_the_clip_stays_within_each_venues_order_size_limit() -> None:
    contracts = {**CONTRACTS, KEYS[2]: _contract("byb", max_lots_per_order=3)}
    core = build_strategy(f"strategy.{NAME}", _pair(), contracts, "combo", 1, 0)
    assert isinstance(core, MultiVenueCore)
    clock = Clock()
    _warm(core, clock)
    (i,) = msgs(clock.tick(core, {"byb": (MID + 100, MID + 102)}), ComboIntent)
    assert [(x.venue, x.qty_lots) for x in i.legs] == [("bina", 3), ("byb", 3)]


def test_legs_in_different_currencies_are_refused_at_start() -> None:
    contracts = {**CONTRACTS, KEYS[2]: _contract("byb", ccy="USD")}
    with pytest.raises(ConfigError, match="different currencies"):
        build_strategy(f"strategy.{NAME}", _pair(), contracts, "combo", 1, 0)


def test_no_edge_below_cost_times_safety_plus_min_edge() -> None:
    core, clock = _core(), Clock()
    _warm(core, clock)
    # bina buy / byb sell needs (15 + 2) x 1.2 + 5 = 25.4 USDT: a 26 USDT gap nets 11 < 25.4
    out = clock.tick(core, {"byb": (MID + 25, MID + 27)})
    assert msgs(out, ComboIntent) == [] and "NO_EDGE" in core.guard.refusals
    out = clock.tick(core, {"byb": (MID + 42, MID + 44)})  # 41 - 15 = 26 >= 25.4
    assert msgs(out, ComboIntent)[0].pair == "btc/0-2"


def test_no_open_before_the_outlier_windows_are_warm_nor_on_books_of_different_instants() -> None:
    core, clock = _core(), Clock()
    out = clock.tick(core, {"byb": (MID + 100, MID + 102)})
    assert msgs(out, ComboIntent) == [] and _refusals(out)[-1] == "WARMUP"
    _warm(core, clock)
    # byb's rich quote arrives first: bina's book is 20 ms older, its update is on the way
    clock.ts += 20 * MS
    out = core.handle(_upd("byb", MID + 100, MID + 102, clock.ts), clock.ts)
    assert msgs(out, ComboIntent) == [] and _refusals(out) == ["SKEW"]
    out = core.handle(_upd("bina", MID - 1, MID + 1, clock.ts), clock.ts)
    assert msgs(out, ComboIntent)[0].pair == "btc/0-2"


# --- outliers -------------------------------------------------------------------------------------


def test_an_outlier_venue_is_excluded_journaled_and_readmitted_when_it_comes_back() -> None:
    core, clock = _core(), Clock()
    _warm(core, clock)
    # byb prints 300 bps up: the best "edge" by price, but a bad print
    out = clock.tick(core, {"byb": (MID + 1800, MID + 1802)})
    assert msgs(out, ComboIntent) == []
    assert [(m.what, m.detail.split()[0]) for m in msgs(out, Decision)
            if m.what != "refuse"] == [("exclude", "OUTLIER_byb")]
    assert _refusals(out)[-1] == "OUTLIER_byb"
    assert core.snapshot()["outliers"]["out"] == [False, False, True]
    # while it is out, the other two still trade between themselves
    out = clock.tick(core, {"byb": (MID + 1800, MID + 1802), "okx": (MID + 100, MID + 102)})
    assert msgs(out, ComboIntent)[0].pair == "btc/0-1"
    core2, clock2 = _core(), Clock()
    _warm(core2, clock2)
    clock2.tick(core2, {"byb": (MID - 1800, MID - 1798)})
    out = clock2.tick(core2)
    assert [(m.what, m.detail.split()[0]) for m in msgs(out, Decision)
            if m.what != "refuse"] == [("readmit", "OUTLIER_byb")]
    assert core2.snapshot()["outliers"]["out"] == [False, False, False]
    out = clock2.tick(core2, {"byb": (MID + 100, MID + 102)})  # an episode, not an outlier
    assert msgs(out, ComboIntent)[0].pair == "btc/0-2"


def test_the_sigma_rule_excludes_beyond_k_sigmas_above_the_floor() -> None:
    core, clock = _core(_pair(outlier_min_bps=0.0, outlier_sigma=5.0)), Clock()
    # byb's mid wanders +-10 USDT around the others (sigma ~ 1.7 bps): 100 USDT (~17 bps) is
    # beyond 5 sigma, 12 USDT is not
    for n in range(WARM_SAMPLES + 50):
        d = 10 if n % 2 else -10
        clock.tick(core, {"byb": (MID + d - 1, MID + d + 1)})
    assert core.snapshot()["outliers"]["out"] == [False, False, False]
    clock.tick(core, {"byb": (MID + 12 - 1, MID + 12 + 1)})
    assert core.snapshot()["outliers"]["out"] == [False, False, False]
    out = clock.tick(core, {"byb": (MID + 99, MID + 101)})
    assert core.snapshot()["outliers"]["out"] == [False, False, True]
    assert msgs(out, ComboIntent) == []


# --- inventory ------------------------------------------------------------------------------------


def test_a_spot_venue_sells_only_what_it_holds_and_the_reason_names_it() -> None:
    core, clock = _core(_pair(inventory_base={KEYS[0]: 0.02, KEYS[1]: 0.004})), Clock()
    _warm(core, clock)
    # okx rich: selling the 5-lot clip there needs 0.005 BTC, it holds 0.004
    out = clock.tick(core, {"okx": (MID + 100, MID + 102)})
    assert msgs(out, ComboIntent) == [] and _refusals(out)[-1] == "INVENTORY_okx"
    # byb (not spot) may be sold short, and okx bought: the other way round goes
    out = clock.tick(core, {"okx": (MID - 102, MID - 100)})
    (i,) = msgs(out, ComboIntent)
    assert i.pair == "btc/1-0"  # bought on okx, sold on bina (the cheaper fee than byb)
    _done(core, i, clock.ts)
    assert core.available_base(1) == pytest.approx(0.009)
    assert core.available_base(0) == pytest.approx(0.015)
    assert core.snapshot()["venue_lots"] == {KEYS[0]: -5, KEYS[1]: 5, KEYS[2]: 0}


def test_inventory_sold_is_not_sold_twice_the_next_best_pair_is_tried() -> None:
    core, clock = _core(_pair(inventory_base={KEYS[0]: 0.02, KEYS[1]: 0.005})), Clock()
    _warm(core, clock)
    out = clock.tick(core, {"okx": (MID + 100, MID + 102)})
    (i,) = msgs(out, ComboIntent)
    assert [(x.venue, x.side) for x in i.legs] == [("bina", "B"), ("okx", "S")]
    _done(core, i, clock.ts)
    assert core.available_base(1) == pytest.approx(0.0)
    # still rich: byb -> okx would sell okx again, beyond what it holds
    out = clock.tick(core, {"okx": (MID + 100, MID + 102)})
    assert msgs(out, ComboIntent) == [] and _refusals(out)[-1] == "INVENTORY_okx"


# --- closes ---------------------------------------------------------------------------------------


def test_closes_on_revert_selling_where_it_bought_and_buying_where_it_sold() -> None:
    core, clock = _core(msgspec.structs.replace(_pair(), max_spread_position=1)), Clock()
    _warm(core, clock)
    (o,) = msgs(clock.tick(core, {"byb": (MID + 100, MID + 102)}), ComboIntent)
    _done(core, o, clock.ts)
    assert core.snapshot()["pos_dir"] == 1 and core.snapshot()["pending"] is None
    # still dislocated (70 > exit_edge 30): held
    assert msgs(clock.tick(core, {"byb": (MID + 70, MID + 72)}), ComboIntent) == []
    (c,) = msgs(clock.tick(core, {"byb": (MID + 20, MID + 22)}), ComboIntent)
    assert (c.pair, c.action, c.direction) == ("btc/0-2", "close", 1)
    assert [(x.venue, x.side, x.qty_lots) for x in c.legs] == [("bina", "S", 5), ("byb", "B", 5)]
    assert core.snapshot()["pending"] == c.combo_id
    _done(core, c, clock.ts)
    snap = core.snapshot()
    assert (snap["pos_dir"], snap["pending"], snap["held"]) == (0, None, {})
    assert set(snap["venue_lots"].values()) == {0}
    assert snap["available_base"] == {KEYS[0]: pytest.approx(0.02), KEYS[1]: pytest.approx(0.02)}


def test_flatten_closes_everything_held_and_waits_a_while_for_an_excluded_venue() -> None:
    core, clock = _core(_pair(flatten_wait_s=0.5)), Clock()
    _warm(core, clock)
    (o1,) = msgs(clock.tick(core, {"byb": (MID + 100, MID + 102)}), ComboIntent)
    _done(core, o1, clock.ts)
    (o2,) = msgs(clock.tick(core, {"byb": (MID + 100, MID + 102)}), ComboIntent)
    assert o2.pair == "btc/1-2"  # a second venue pair on the same dislocation
    _done(core, o2, clock.ts)
    assert _refusals(clock.tick(core, {"byb": (MID + 100, MID + 102)}))[-1] == "MAX_POSITION"
    # byb goes bad: held (no close against a bad print), then the flatten waits for it
    out = clock.tick(core, {"byb": (MID + 1800, MID + 1802)})
    assert msgs(out, ComboIntent) == []
    core.handle(Flatten("shutdown"), clock.ts)
    out = clock.tick(core, {"byb": (MID + 1800, MID + 1802)})
    assert msgs(out, ComboIntent) == [] and _refusals(out)[-1] == "OUTLIER_byb"
    closes = []
    for _ in range(30):  # 0.6 s: the wait is over, the closes go one at a time
        for c in msgs(clock.tick(core, {"byb": (MID + 1800, MID + 1802)}), ComboIntent):
            closes.append(c)
            _done(core, c, clock.ts)
    assert [(c.pair, c.action) for c in closes] == [("btc/0-2", "close"), ("btc/1-2", "close")]
    assert (core.snapshot()["pos_dir"], core.snapshot()["pending"]) == (0, None)
    assert msgs(clock.tick(core, {"byb": (MID + 100, MID + 102)}), ComboIntent) == []


def test_a_combo_that_came_to_nothing_is_not_held_and_backs_off() -> None:
    core, clock = _core(msgspec.structs.replace(_pair(), retry_cooldown_ms=500)), Clock()
    _warm(core, clock)
    (o,) = msgs(clock.tick(core, {"byb": (MID + 100, MID + 102)}), ComboIntent)
    _done(core, o, clock.ts, "failed", 0, 0)
    assert core.snapshot()["pos_dir"] == 0
    out = clock.tick(core, {"byb": (MID + 100, MID + 102)})
    assert msgs(out, ComboIntent) == [] and _refusals(out)[-1] == "COOLDOWN"


def test_set_params_reaches_the_multi_section_and_legs_stay_fixed() -> None:
    core = _core()
    out = core.handle(SetParams(f"pairs.{NAME}", {"multi.outlier_min_bps": 80.0}), 1)
    assert msgs(out, Decision)[0].what == "set" and core.outliers.floor_bps == 80.0
    out = core.handle(SetParams(f"pairs.{NAME}", {"multi.legs": KEYS[:1] + KEYS[2:] + KEYS[1:2]}),
                      2)
    assert msgs(out, Decision)[0].what == "set_rejected" and core.keys == KEYS


# --- end to end over the sub-pairs ----------------------------------------------------------------


class _Net(Sink):
    """``@oe`` to the fake venues (answered after the cycle); everything else kept."""

    def __init__(self, world: World) -> None:
        self.w = world

    def send(self, actor: str, key: str, msg: Any) -> None:
        self.w.answers += [(actor, r) for r in self.w.venues[actor].on(msg)]

    def forward(self, dest: str, msg: Any) -> None:
        self.w.sink.setdefault(dest, []).append(msg)

    def failed(self, actor: str, exc: BaseException, now_ns: int) -> None:
        raise exc


class World:
    """The strategy, the ComboExecutor over ``combo_pairs`` and one LegExecutor per venue,
    wired by the host's dispatcher, against fake venues that fill what they are sent."""

    def __init__(self, contracts: dict[str, ContractConfig],
                 leg_contracts: dict[str, ContractConfig] | None = None) -> None:
        p = _pair()
        cfg = msgspec.structs.replace(AppConfig(), contracts=list(contracts.values()), pairs=[p])
        self.strategy = build_strategy(f"strategy.{NAME}", p, contracts, "combo", 1, 0)
        risk = RiskConfig()
        cores: dict[str, Any] = {
            "strategy." + NAME: self.strategy,
            "combo": ComboExecutorCore("combo", combo_pairs(cfg), contracts,
                                       [f"strategy.{NAME}", "risk"]),
        }
        for c in (leg_contracts or contracts).values():
            cores[f"leg.{c.venue}"] = LegExecutorCore(f"leg.{c.venue}", c.venue, c.venue,
                                                      {c.sym: c}, 1, risk, ["combo", "risk"],
                                                      2000)

        def fill_all(o: NewOrder) -> int:
            return o.qty

        self.venues = {f"leg.{v}": FakeVenue(v, fill_all) for v in VENUES}
        self.answers: list[tuple[str, Any]] = []
        self.sink: dict[str, list[Any]] = {}
        self.now = 0
        self.dispatch = Dispatcher(cores, _Net(self), journaling=False)

    def tick(self, quotes: dict[str, tuple[int, int]] | None = None) -> None:
        self.now += 20 * MS
        q = {v: (MID - 1, MID + 1) for v in VENUES}
        q.update(quotes or {})
        for v, (bid, ask) in q.items():
            u = _upd(v, bid, ask, self.now)
            self.dispatch.route("@test", [(f"strategy.{NAME}", u), ("combo", u)], self.now)
            while self.answers:
                actor, r = self.answers.pop(0)
                self.dispatch.route("@oe", [(actor, r)], self.now)
        while (due := self.dispatch.next_due()) is not None and due <= self.now:
            self.dispatch.fire_due(due)

    def positions(self) -> dict[str, int]:
        return {v[4:]: fv.position() for v, fv in self.venues.items()}


def test_end_to_end_open_and_close_over_a_sub_pair_leave_every_venue_where_it_started() -> None:
    w = World(CONTRACTS)
    for _ in range(WARM_SAMPLES):
        w.tick()
    w.tick({"byb": (MID + 100, MID + 102)})
    assert w.positions() == {"bina": 5, "okx": 0, "byb": -5}
    assert w.strategy.snapshot()["held"] == {"btc/0-2": [5, -5]}
    w.tick({"byb": (MID + 100, MID + 102)})  # a second venue pair on the same dislocation
    assert w.positions() == {"bina": 5, "okx": 5, "byb": -10}
    assert w.strategy.snapshot()["held"] == {"btc/0-2": [5, -5], "btc/1-2": [5, -5]}
    w.tick()  # reverted: one close per refresh (one combo in flight)
    w.tick()
    assert w.positions() == {"bina": 0, "okx": 0, "byb": 0}
    assert (w.strategy.snapshot()["pos_dir"], w.strategy.snapshot()["pending"]) == (0, None)


def test_a_leg_refused_pre_trade_leaves_the_other_venue_flat_both_legs_or_none() -> None:
    # byb's executor takes at most 2 lots an order (a limit the strategy was not told): the
    # 5-lot sell is denied before it leaves; bina's buy went at once (concurrent) and filled:
    # the combo unwinds it
    w = World(CONTRACTS, {**CONTRACTS, KEYS[2]: _contract("byb", max_lots_per_order=2)})
    for _ in range(WARM_SAMPLES):
        w.tick()
    w.tick({"byb": (MID + 100, MID + 102)})
    for _ in range(5):
        w.tick({"byb": (MID + 100, MID + 102)})
    denied = [m for m in w.sink.get("risk", []) if isinstance(m, ExecReport)
              and m.kind == "denied"]
    assert denied and {m.venue for m in denied} == {"byb"}
    assert w.venues["leg.byb"].orders == []  # never reached the venue
    assert w.positions() == {"bina": 0, "okx": 0, "byb": 0}
    finals = [m for m in w.sink["risk"] if isinstance(m, ComboState)
              and m.state not in ("working", "repairing")]
    assert finals and all(m.pair == "btc/0-2" for m in finals)
    assert all((m.filled_a_lots, m.filled_b_lots) == (0, 0) for m in finals)
    snap = w.strategy.snapshot()
    assert (snap["pos_dir"], snap["pending"]) == (0, None)
    assert snap["fail_streak"] >= 1  # it backs off before trying again


def test_risk_sends_a_sub_pairs_naked_leg_to_the_multi_pairs_strategy() -> None:
    p = _pair()
    cfg = msgspec.structs.replace(AppConfig(), contracts=list(CONTRACTS.values()), pairs=[p])
    pairs = {n: (x.leg_a, x.leg_b) for n, x in combo_pairs(cfg).items()}
    r = RiskCore("risk", CONTRACTS, RiskConfig(unhedged_limit_ms=100), ["leg.bina"],
                 [f"strategy.{NAME}"], {}, epoch=1, pairs=pairs)
    for v in VENUES:
        r.handle(_upd(v, MID - 1, MID + 1, 0), 0)
    r.on_combo_state(ComboState(7, "btc/0-2", "open", "working", 1, 0, 0, 0.0, 0), 0)
    r.on_exec_report(ExecReport("bina", "1.7.0.0", 7, 0, 0, "BTCUSDT", "B", "fill", "FILLED",
                                MID + 1, 5, 5, 0, 0.0, "t1", "", 0, 0), 1)
    out = r.on_combo_state(ComboState(7, "btc/0-2", "open", "failed", 1, 5, 0, 0.005, 2), 2)
    (timer,) = [m for _, m in out if isinstance(m, SetTimer) and m.due_ns]
    out = r.on_timer(Timer("unhedged", timer.due_ns), timer.due_ns)
    assert [d for d, m in out if isinstance(m, Flatten)] == [f"strategy.{NAME}"]


# --- limit-lock and halt (issue 15, item 6) -------------------------------------------------------


def _limit_up(core: MultiVenueCore, venue: str, bid: int, ts: int) -> list[Any]:
    """``venue`` locked limit-up: bids at ``bid``, no ask."""
    u = BookUpdate(venue, VENUES[venue][0], True, ts, ts, ts, [bid, bid - 1], [50, 50], [], [])
    return core.handle(u, ts)


def _closes(out: list[Any]) -> list[str]:
    return [m.detail for m in msgs(out, Decision) if m.what == "close"]


def _held_0_2(core: MultiVenueCore, clock: Clock) -> None:
    """Warm, then hold sub-pair 0-2: long 5 on bina, short 5 on byb."""
    _warm(core, clock)
    (o,) = msgs(clock.tick(core, {"byb": (MID + 100, MID + 102)}), ComboIntent)
    _done(core, o, clock.ts)
    assert core.snapshot()["held"] == {"btc/0-2": [5, -5]}


def test_a_limit_locked_leg_closes_its_sub_pair_at_the_locked_price() -> None:
    core, clock = _core(msgspec.structs.replace(_pair(), max_spread_position=1)), Clock()
    _held_0_2(core, clock)
    out = _limit_up(core, "byb", MID + 150, clock.ts + 1)
    (c,) = msgs(out, ComboIntent)
    assert _closes(out) == ["limit btc/0-2"] and (c.pair, c.action) == ("btc/0-2", "close")
    bina, byb = c.legs
    assert (bina.venue, bina.side, bina.qty_lots) == ("bina", "S", 5)
    # the short on byb is bought back as an IOC at the locked price
    assert (byb.venue, byb.side, byb.qty_lots, byb.limit_px_ticks) == ("byb", "B", 5, MID + 150)


def test_a_halted_leg_closes_its_sub_pair_on_the_next_book_update() -> None:
    core, clock = _core(msgspec.structs.replace(_pair(), max_spread_position=1)), Clock()
    _held_0_2(core, clock)
    core.handle(SessionStatus("bina", "BTCUSDT", "halt", clock.ts), clock.ts)
    out = clock.tick(core, {"byb": (MID + 100, MID + 102)})
    (c,) = msgs(out, ComboIntent)
    assert _closes(out) == ["halt btc/0-2"] and c.action == "close"


def test_without_close_on_limit_a_locked_leg_holds() -> None:
    core, clock = _core(msgspec.structs.replace(_pair(), max_spread_position=1,
                                                close_on_limit=False)), Clock()
    _held_0_2(core, clock)
    out = _limit_up(core, "byb", MID + 150, clock.ts + 1)
    assert msgs(out, ComboIntent) == [] and _closes(out) == []


def test_nothing_opens_on_a_limit_locked_leg() -> None:
    core, clock = _core(), Clock()
    _warm(core, clock)
    for v in ("bina", "okx"):
        core.handle(_upd(v, MID - 1, MID + 1, clock.ts + 1), clock.ts + 1)
    # byb rich by 100 ticks, but locked limit-up: not a venue to sell on
    out = _limit_up(core, "byb", MID + 100, clock.ts + 1)
    assert msgs(out, ComboIntent) == [] and _refusals(out)[-1:] == ["EMPTY_byb"]
