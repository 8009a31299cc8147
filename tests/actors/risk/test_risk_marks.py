"""RiskCore's marks and views made cheaper with the same answers (docs/performance.md).

What changed, and what each test holds it to:

- a ``BookUpdate`` of an FX book asks only the rates that book prices whether they moved
  (``Views.rate_moved``) instead of valuing every rate (``Views.send``); a held contract's lot
  value is worked out from the mark just set; a forced view does not ask whether a rate moved;
  a view values each currency's rate once and its gross and margin from its lot values, and
  shares the exposure as valued once per change of the positions (``Book.exposure_view``);
  ``Book.pnl`` asks each rate once. Every output of every message (the views' dicts in their
  order too) equals the old rules', written out below as they were (``_OldRisk``);
- a ``BookUpdate`` finds its contract's key in ``Book.keys`` (venue -> symbol -> key) instead
  of building ``f"{venue}:{sym}"``: the same key for every split of a key at a colon;
- ``Book.fx_ccys`` and ``Book.keys`` are derived, never pickled: a book pickled before they
  existed gets them on load (a checkpoint loads the risk objects attribute by attribute:
  ``actors.runtime.checkpoint``, tests/runtime/supervision/test_checkpoint_inline.py).
"""

from __future__ import annotations

import pickle
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.core import Out
from actors.risk.risk import RiskCore
from actors.risk.valuation import Book
from actors.risk.view import FX_MOVE, LOT_MOVE, Views
from tests.support.contracts import au
from transports.config.engine import RiskConfig, load_config
from transports.wire.messages import (
    BookUpdate,
    ComboState,
    ExecReport,
    FundingPaid,
    Position,
    Resume,
    RiskView,
)

PAIRS = {"au-gc": ("shfe:au2606", "comex:GCZ6")}
#: FX books: the run's one; one book pricing two currencies (one inverted); the home currency
#: with a book (its rate is 1 whatever the book says: 0 in no view yet, so it "moved" until the
#: first view), the same one or one that never updates
FX_BOOKS = [{"USD": ("fx:USDCNH", False)},
            {"USD": ("fx:USDCNH", False), "CNH": ("fx:USDCNH", True)},
            {"USD": ("fx:USDCNH", False), "CNY": ("fx:USDCNH", True)},
            {"USD": ("fx:USDCNH", False), "CNY": ("fx:CNYCNY", False)}]


# --- the rules as they were before ----------------------------------------------------------------


def _old_lot_notional(b: Book, key: str) -> float:
    c = b.contracts.get(key)
    if c is None:
        return 0.0
    return b.marks.get(key, 0.0) * c.multiplier * b.fx(c.ccy)


def _old_gross_and_margin(b: Book) -> tuple[float, float]:
    gross = margin = 0.0
    two = b.sides
    for key, lots in b.positions.items():
        c = b.contracts.get(key)
        if c is None:
            continue
        held = two.gross_lots(key, lots) if key in two.rules else abs(lots)
        if not held:
            continue
        v = held * _old_lot_notional(b, key)
        gross += v
        margin += v * c.margin_rate
    return gross, margin


class _OldBook(Book):
    """``Book`` valuing as it did: every rate asked where it is used."""

    def pnl(self) -> dict[str, float]:
        gross = 0.0
        fees = sum(v * self.fx(k) for k, v in self.fees.items())
        funding = sum(v * self.fx(k) for k, v in self.funding.items())
        for ccy, v in self.cash.items():
            gross += v * self.fx(ccy)
        for key, lots in self.positions.items():
            c = self.contracts.get(key)
            if c is None or not lots:
                continue
            gross += lots * self.marks.get(key, 0.0) * c.multiplier * self.fx(c.ccy)
        return {"gross": gross, "fees": fees, "funding": funding, "net": gross - fees + funding}

    def gross_and_margin(self, lot_values: dict[str, float] | None = None) -> tuple[float, float]:
        return _old_gross_and_margin(self)


class _OldViews(Views):
    """``Views`` as it was: every rate asked, every value made afresh."""

    def send(self, book: Book, now_ns: int, force: bool = False) -> Out:
        fx = book.fx_rates()
        moved = any(abs(v - self.sent_fx.get(k, 0.0)) > FX_MOVE * max(v, 1e-12)
                    for k, v in fx.items())
        if not (force or moved):
            return []
        self.sent_fx = fx
        lots = {k: _old_lot_notional(book, k) for k in book.marks if k in book.contracts
                and k not in book.fx_keys}
        self.sent_lot = lots
        gross, margin = _old_gross_and_margin(book)
        view = RiskView(book.exposure(), now_ns, fx, gross, margin,
                        {k: q for k, q in book.positions.items() if q}, lots, len(self.legs))
        return [(e, view) for e in self.legs]


class _OldRisk(RiskCore):
    """``RiskCore`` with the old ``on_book_update`` (every FX update values every rate)."""

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        if u.valid and u.bid_px and u.ask_px:
            key = f"{u.venue}:{u.sym}"
            if self.book.mark(key, u.bid_px[0], u.ask_px[0]) is not None:
                if key in self.book.fx_keys:
                    return self.views.send(self.book, now_ns)
                held = self.book.positions.get(key) or (key in self.book.sides.rules and
                                                        self.book.sides.gross_lots(key, 0))
                if held:
                    sent = self.views.sent_lot.get(key, 0.0)
                    if abs(_old_lot_notional(self.book, key) - sent) > LOT_MOVE * sent:
                        return self.views.send(self.book, now_ns, force=True)
        return []


def _cores(fx_books: dict[str, tuple[str, bool]], offsets: bool) -> tuple[RiskCore, RiskCore]:
    cfg = load_config()
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    if offsets:  # SHFE gold with both sides (gross and margin count long + short)
        contracts["shfe:au2606"] = au(offsets=True, close_today=True, trading_day_roll_s=10,
                                      margin_rate=0.1)
    risk = RiskConfig(unhedged_limit_ms=100, max_net_exposure_base=1e12)
    args = ("risk", contracts, risk, ["leg.shfe", "leg.comex"], ["strategy.au-gc"], fx_books)
    new = RiskCore(*args, epoch=1, pairs=PAIRS)
    old = _OldRisk(*args, epoch=1, pairs=PAIRS)
    old.book.__class__ = _OldBook
    old.views.__class__ = _OldViews
    return new, old


BOOKS = {"fx": ("USDCNH", 72000, 8), "shfe": ("au2606", 30650, 40),
         "comex": ("GCZ6", 26500, 40), "lme": ("XAU", 100, 1)}  # lme: not a contract


def _update(venue: str, step: int, spread: int, valid: bool, prices: dict[str, int]) -> Any:
    sym, _, _ = BOOKS[venue]
    prices[venue] += step
    px = prices[venue]
    if spread == -1:  # a side empty
        return BookUpdate(venue, sym, valid, 0, 0, 0, [px], [1], [], [])
    if spread == -2:  # prices of 0: a mark (and a rate) of 0
        return BookUpdate(venue, sym, valid, 0, 0, 0, [0], [1], [0], [1])
    return BookUpdate(venue, sym, valid, 0, 0, 0, [px - spread, px - spread - 1], [1, 2],
                      [px + spread], [3])


legs = st.sampled_from([("shfe", "au2606"), ("comex", "GCZ6"), ("fx", "USDCNH")])
events = st.one_of(
    st.tuples(st.just("book"), st.sampled_from(list(BOOKS)), st.integers(-1, 1),
              st.integers(-2, 3), st.booleans() | st.just(True)),
    st.tuples(st.just("fill"), legs, st.sampled_from("BS"), st.integers(1, 20),
              st.sampled_from(["", "open", "close"])),
    st.tuples(st.just("position"), legs, st.integers(-30, 30)),
    st.tuples(st.just("combo"), st.integers(1, 3), st.sampled_from(["working", "complete"]),
              st.integers(0, 3)),
    st.tuples(st.just("funding"), st.sampled_from(["USD", "CNY"]), st.floats(-50, 50)),
    st.just(("resume",)),
)


def _message(ev: tuple[Any, ...], prices: dict[str, int], i: int) -> Any:
    kind = ev[0]
    if kind == "book":
        _, venue, direction, spread, valid = ev
        return _update(venue, direction * BOOKS[venue][2], spread, valid, prices)
    if kind == "fill":
        _, (venue, sym), side, qty, offset = ev
        return ExecReport(venue, f"1.1.{i}", 1, 0, 0, sym, side, "fill", "FILLED",
                          prices.get(venue, 100), qty, qty, 0, 0.5, f"t{i}", "", i, i,
                          offset=offset)
    if kind == "position":
        _, (venue, sym), lots = ev
        return Position(venue, sym, lots, i)
    if kind == "combo":
        _, cid, state, filled = ev
        return ComboState(cid, "au-gc", "open", state, 1, filled, filled, 0.0, 0)
    if kind == "funding":
        return FundingPaid("fx", "USDCNH", ev[1], ev[2], 0.0, i, i)
    return Resume()


@given(st.sampled_from(FX_BOOKS), st.booleans(), st.booleans(),
       st.lists(events, max_size=60))
@settings(max_examples=100, deadline=None)
def test_every_output_is_the_old_rules(fx_books: dict[str, tuple[str, bool]], offsets: bool,
                                       started: bool, evs: list[Any]) -> None:
    new, old = _cores(fx_books, offsets)
    if started:  # a first view (a core that never got one must ask every rate)
        assert repr(new.on_start(0)) == repr(old.on_start(0))
    prices = {v: px for v, (_, px, _) in BOOKS.items()}
    for i, ev in enumerate(evs, start=1):
        m = _message(ev, prices, i)
        got, want = new.handle(m, i * 1_000_000), old.handle(m, i * 1_000_000)
        # the same messages to the same actors, their dicts in the same order (repr)
        assert got == want and repr(got) == repr(want)
        assert new.views.sent_fx == old.views.sent_fx
        assert new.views.sent_lot == old.views.sent_lot
        assert repr(new.book.pnl()) == repr(old.book.pnl())
    assert repr(new.snapshot()) == repr(old.snapshot())


def test_a_held_lot_moves_a_view_and_an_fx_tick_within_a_bp_does_not() -> None:
    new, _ = _cores(FX_BOOKS[0], False)
    prices = {v: px for v, (_, px, _) in BOOKS.items()}
    new.on_start(0)
    assert new.handle(_update("fx", 0, 1, True, prices), 1)  # the first rate: a view
    assert new.handle(_update("fx", 5, 1, True, prices), 2) == []  # 5 ticks of 72000 < 1 bp
    views = new.handle(_update("fx", 3, 1, True, prices), 3)  # 8 ticks from the view's > 1 bp
    assert [d for d, _ in views] == ["leg.shfe", "leg.comex"]
    assert views[0][1].fx == {"USD": 72008 * 1e-4}
    new.handle(_update("comex", 0, 1, True, prices), 4)
    fill = ExecReport("comex", "1.1.1", 1, 0, 0, "GCZ6", "B", "fill", "FILLED", 26500, 1, 1, 0,
                      0.0, "t1", "", 5, 5)
    (_, view), _ = new.handle(fill, 5)[:2]
    assert view.exposure is new.book.exposure_view()  # shared, never changed in place
    assert new.handle(_update("comex", 20, 1, True, prices), 6) == []  # 20 ticks < 10 bp
    assert new.handle(_update("comex", 20, 1, True, prices), 7)  # 40 ticks > 10 bp: a view


# --- checkpoints ---------------------------------------------------------------------------------


def test_the_fx_lookup_is_never_pickled_and_an_older_book_derives_it() -> None:
    new, _ = _cores(FX_BOOKS[1], False)
    assert new.book.fx_ccys == {"fx:USDCNH": ("USD", "CNH")}
    state = new.book.__getstate__()
    assert "fx_ccys" not in state  # a checkpoint holds what the base code's held
    old = Book.__new__(Book)  # pickled before the lookup existed
    old.__setstate__(dict(state))
    assert old.fx_ccys == {"fx:USDCNH": ("USD", "CNH")}


def test_a_core_pickled_midway_continues_with_the_same_outputs() -> None:
    a, _ = _cores(FX_BOOKS[0], False)
    prices = {v: px for v, (_, px, _) in BOOKS.items()}
    a.on_start(0)
    evs = [("book", "fx", 0, 1, True), ("book", "comex", 0, 1, True),
           ("fill", ("comex", "GCZ6"), "B", 2, ""), ("book", "fx", 1, 1, True)]
    for i, ev in enumerate(evs, 1):
        a.handle(_message(ev, prices, i), i)
    state = a.__dict__.copy()
    book_state = a.book.__getstate__()
    b = pickle.loads(pickle.dumps(a))
    # the same attributes as pickled (set one by one, ``actors.risk.state``), the derived ones
    # made on load
    assert set(book_state) | {"fx_ccys", "keys", "_exposure"} == set(vars(b.book))
    assert set(state) == set(vars(b))
    for part in ("limits", "orphans", "views", "entry_slippage"):
        assert vars(getattr(b, part)).keys() == vars(getattr(a, part)).keys()
    assert vars(b.orphans.holdings) == vars(a.orphans.holdings)
    then = [("book", "fx", 1, 1, True), ("book", "comex", 1, 2, True),
            ("book", "fx", -1, 1, True), ("fill", ("shfe", "au2606"), "S", 1, ""),
            ("book", "comex", 1, 1, True), ("position", ("comex", "GCZ6"), 5)]
    pa, pb = dict(prices), dict(prices)
    for i, ev in enumerate(then, 10):
        assert repr(a.handle(_message(ev, pa, i), i)) == repr(b.handle(_message(ev, pb, i), i))
    assert repr(a.snapshot()) == repr(b.snapshot())


def test_a_book_update_finds_its_contract_without_building_the_key() -> None:
    """``Book.keys`` answers ``f"{venue}:{sym}"`` for every way a key splits at a colon."""
    b = Book({}, "CNY", {})
    b.ticks = {"a:b:c": 0.5, "x:y": 1.0}
    b.__setstate__(b.__getstate__())  # derived again, as on a load
    assert b.keys == {"a": {"b:c": "a:b:c"}, "a:b": {"c": "a:b:c"}, "x": {"y": "x:y"}}
    new, _ = _cores(FX_BOOKS[0], False)
    new.handle(BookUpdate("shfe", "au2606", True, 0, 0, 0, [30649], [1], [30651], [1]), 1)
    new.handle(BookUpdate("shfe:au2606", "", True, 0, 0, 0, [1], [1], [3], [1]), 2)  # no such
    new.handle(BookUpdate("shfe", "au", True, 0, 0, 0, [1], [1], [3], [1]), 3)  # no such
    assert new.book.marks == {"shfe:au2606": 30650 * 0.02}


def test_until_the_first_view_every_rate_is_asked() -> None:
    """Before any view the home currency's rate (1) "moved" from nothing: an FX update whose
    own rate did not move (a mark of 0 gives 0, as in no view) still sends the first view."""
    new, old = _cores(FX_BOOKS[3], False)
    prices = {v: px for v, (_, px, _) in BOOKS.items()}
    m = _update("fx", 0, -2, True, prices)
    got = new.handle(m, 1)
    assert repr(got) == repr(old.handle(m, 1))
    assert [v.fx for _, v in got] == [{"USD": 0.0, "CNY": 1.0}] * 2
    assert new.handle(m, 2) == old.handle(m, 2) == []  # now nothing moved
