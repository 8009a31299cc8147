"""StrategyCore's per-tick path (``on_book_update`` with the ``zscore`` open inline): the leg an
update reaches, the clip priced on the touch or walked, the quick open gate against the full
one, and a checkpoint pickled before the hot path's derived lookups existed."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import msgspec

from actors.strategy.legs import walk_levels
from actors.strategy.strategy import MIN_WARM_SAMPLES, StrategyCore
from tests.support.helpers import msgs
from transports.config.engine import load_config
from transports.wire.messages import BookUpdate, ComboIntent, ComboState, VenueGate

GRAMS_PER_OZ = 31.1034768
T0 = 10_000_000_000
BASIS = 0.5  #: the calm spread A - parity(B), CNY/g


def _core(b_sym: str | None = None, **over: Any) -> StrategyCore:
    """The demo pair (quote age and skew gates off); ``b_sym`` renames leg B's symbol."""
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = msgspec.structs.replace(cfg.pairs[0], max_quote_age_ms=10**13,
                                max_quote_skew_ms=10**9, **over)
    lb = c[p.leg_b] if b_sym is None else msgspec.structs.replace(c[p.leg_b], sym=b_sym)
    return StrategyCore("strategy.au-gc", p, c[p.leg_a], lb, c[p.fx], "combo", 1)


def _upd(venue: str, sym: str, bid: int, qty: int = 100, ts: int = 0) -> BookUpdate:
    return BookUpdate(venue, sym, True, ts, ts, ts, [bid, bid - 1, bid - 2], [qty] * 3,
                      [bid + 2, bid + 3, bid + 4], [qty] * 3)


def _prime(s: StrategyCore, gc: float = 2650.0, b_sym: str = "GCZ6") -> float:
    """Warm the pair on a calm market (basis 0.5 CNY/g); return parity (CNY/g)."""
    s.on_book_update(_upd("fx", "USDCNH", 71_999), 0)
    s.on_book_update(_upd("comex", b_sym, round(gc / 0.1) - 1), 0)
    parity = gc * 7.2 / GRAMS_PER_OZ
    for i in range(MIN_WARM_SAMPLES + 50):
        _feed(s, parity + BASIS + (0.02 if i % 2 else 0.0), i)
    return parity


def _feed(s: StrategyCore, au_mid_cny: float, ts: int, qty: int = 100) -> list:
    return s.on_book_update(_upd("shfe", "au2606", round(au_mid_cny / 0.02) - 1, qty, ts), ts)


def _stream(s: StrategyCore, parity: float) -> list:
    """Dislocations that open (each combo then failing at once, so the pair opens again),
    calm ticks and thin books: every output, in order."""
    out = []
    for i in range(40):
        t = T0 + i * 1_000
        disl = (1.6, -1.6, 0.02, 2.5, -2.5)[i % 5]
        got = _feed(s, parity + BASIS + disl, t, qty=(100, 20, 100, 7)[i % 4])
        out.append(got)
        out.extend(s.on_combo_state(ComboState(x.combo_id, "au-gc", "open", "failed",
                                               x.direction, 0, 0, 0.0, t), t)
                   for x in msgs(got, ComboIntent))
    return out


def test_a_checkpoint_from_before_the_derived_lookups_loads_and_decides_the_same() -> None:
    """A core pickled by the code before ``_by_sym`` / ``_lots_a_f`` / ``_lots_b_f`` existed
    (its state lacks them) gets them on load and goes on with the same outputs."""
    s = _core(retry_cooldown_ms=0)  # a failed combo: open again at once
    parity = _prime(s)
    twin = copy.deepcopy(s)
    old_state = {k: v for k, v in vars(s).items()
                 if k not in ("_by_sym", "_lots_a_f", "_lots_b_f")}
    restored = StrategyCore.__new__(StrategyCore)
    restored.__setstate__(pickle.loads(pickle.dumps(old_state)))
    want = _stream(twin, parity)
    got = _stream(restored, parity)
    assert got == want
    assert sum(len(msgs(o, ComboIntent)) for o in got) >= 10  # the stream does open
    assert restored.snapshot() == twin.snapshot()


def test_a_sym_two_venues_trade_reaches_each_venues_leg() -> None:
    """Leg B trades the same symbol as leg A on its own venue: each update reaches its venue's
    leg, and one from a venue the pair does not trade reaches none."""
    s = _core(b_sym="au2606")
    s.on_book_update(_upd("shfe", "au2606", 30_700), 0)
    s.on_book_update(_upd("comex", "au2606", 26_499), 0)
    assert (s.a.bid_px[0], s.b.bid_px[0]) == (30_700, 26_499)
    assert s.on_book_update(_upd("elsewhere", "au2606", 1), 0) == []
    assert (s.a.bid_px[0], s.b.bid_px[0]) == (30_700, 26_499)
    parity = _prime(s, b_sym="au2606")
    assert len(msgs(_feed(s, parity + BASIS + 1.6, T0), ComboIntent)) == 1


def _legs_walked(s: StrategyCore, intent: ComboIntent) -> list[tuple[float, int]]:
    """(expected VWAP, limit) of each leg as ``walk_levels`` prices the clip on the books."""
    a, b, slip = s.a, s.b, s.pair.max_slippage_ticks
    if intent.direction < 0:
        va, _, wa = walk_levels(a.bid_px, a.bid_qty, s.lots_a)
        vb, _, wb = walk_levels(b.ask_px, b.ask_qty, s.lots_b)
        return [(va, wa - slip), (vb, wb + slip)]
    va, _, wa = walk_levels(a.ask_px, a.ask_qty, s.lots_a)
    vb, _, wb = walk_levels(b.bid_px, b.bid_qty, s.lots_b)
    return [(va, wa + slip), (vb, wb - slip)]


def test_the_clip_is_priced_as_the_walk_on_the_touch_and_beyond_at_negative_prices() -> None:
    """Prices in ticks may be negative (a contract that trades below zero): the touch that
    covers the clip (100 lots) and the clip walked over two levels (20 + 8) price as
    ``walk_levels``; no price is taken for "not filled"."""
    for gc in (2650.0, -2650.0):
        for qty, disl in ((100, 1.6), (20, 1.6), (100, -1.6), (20, -1.6)):
            s = _core()
            parity = _prime(s, gc=gc)
            (intent,) = msgs(_feed(s, parity + BASIS + disl, T0, qty=qty), ComboIntent)
            assert intent.direction == (-1 if disl > 0 else 1)
            assert [(x.expected_px_ticks, x.limit_px_ticks) for x in intent.legs] == \
                _legs_walked(s, intent)
            assert intent.edge >= s._need_fx


def test_a_thin_side_is_not_priced_and_refuses_no_edge() -> None:
    """7 lots a level cannot fill the clip (28 lots over 3 levels): no open either way."""
    s = _core()
    parity = _prime(s)
    before = dict(s.refusals)
    assert msgs(_feed(s, parity + BASIS + 1.6, T0, qty=7), ComboIntent) == []
    assert s.refusals["NO_EDGE"] == before.get("NO_EDGE", 0) + 1
    assert {k: v for k, v in s.refusals.items() if k != "NO_EDGE"} == \
        {k: v for k, v in before.items() if k != "NO_EDGE"}


def test_a_venue_gate_on_a_venue_the_pair_does_not_order_on_still_opens() -> None:
    """Any venue gate sends the tick through the full open gate (``parity_rules.open_block``),
    which lets through one on a venue the pair sends no order to (the FX rate's)."""
    s, ref = _core(), _core()
    parity = _prime(s)
    _prime(ref)
    s.on_venue_gate(VenueGate("fx", "unknown", 0), 0)
    assert s.venue_gates == {"fx": "unknown"}
    assert _feed(s, parity + BASIS + 1.6, T0) == _feed(ref, parity + BASIS + 1.6, T0)
    s.on_venue_gate(VenueGate("comex", "unknown", 0), 0)
    out = _feed(s, parity + BASIS + 1.6, T0 + 1)
    assert msgs(out, ComboIntent) == []
