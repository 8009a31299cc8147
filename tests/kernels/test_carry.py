"""Cash-and-carry kernels: against their ``py_func`` and plain formulas, and their properties
(monotone in the rate and the days, the fair is the spot at zero carry, edges and costs)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import carry
from kernels.carry import carry_eval, carry_fair, expiry_ns, roll_mean_push

SETTINGS = settings(deadline=None, max_examples=200)

spot_st = st.floats(1.0, 1e5)
rate_st = st.floats(-0.05, 0.2)
days_st = st.floats(0.0, 800.0)
div_st = st.floats(0.0, 200.0)


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    assert carry.warm() == 3


def test_expiry_is_the_end_of_the_last_trading_day_utc() -> None:
    end = datetime(2027, 3, 20, tzinfo=timezone.utc)  # noqa: UP017
    assert expiry_ns("2027-03-19") == int(end.timestamp()) * 1_000_000_000


@SETTINGS
@given(s=spot_st, r=rate_st, d=days_st, div=div_st)
def test_fair_matches_py_func_and_formula(s: float, r: float, d: float, div: float) -> None:
    got = carry_fair(s, r, d, div)
    assert got == carry_fair.py_func(s, r, d, div)
    assert got == pytest.approx(s * (1.0 + r * d / 365.0) - div, rel=1e-12, abs=1e-9)


@SETTINGS
@given(s=spot_st, r=rate_st)
def test_fair_is_the_spot_at_expiry_without_dividends(s: float, r: float) -> None:
    assert carry_fair(s, r, 0.0, 0.0) == s
    assert carry_fair(s, 0.0, 123.0, 0.0) == s


@SETTINGS
@given(s=spot_st, r1=rate_st, r2=rate_st, d=days_st, div=div_st)
def test_fair_is_monotone_in_the_rate(s: float, r1: float, r2: float, d: float,
                                      div: float) -> None:
    lo, hi = min(r1, r2), max(r1, r2)
    assert carry_fair(s, lo, d, div) <= carry_fair(s, hi, d, div)


@SETTINGS
@given(s=spot_st, r=st.floats(0.0, 0.2), d1=days_st, d2=days_st, div=div_st)
def test_fair_grows_with_days_at_a_positive_rate(s: float, r: float, d1: float, d2: float,
                                                 div: float) -> None:
    lo, hi = min(d1, d2), max(d1, d2)
    assert carry_fair(s, r, lo, div) <= carry_fair(s, r, hi, div)


def _book(mid_s: float, half_s: float, mid_f: float, half_f: float) -> tuple[float, ...]:
    return mid_f - half_f, mid_f + half_f, mid_s - half_s, mid_s + half_s


@SETTINGS
@given(mid_s=st.floats(100.0, 1e4), half_s=st.floats(0.0, 2.0), dev=st.floats(-50.0, 50.0),
       half_f=st.floats(0.0, 2.0), r=rate_st, d=days_st, div=div_st,
       fee=st.floats(0.0, 2.0), fin=st.floats(0.0, 5.0), hold=st.floats(0.0, 10.0))
def test_eval_matches_py_func_and_the_definitions(mid_s: float, half_s: float, dev: float,
                                                  half_f: float, r: float, d: float, div: float,
                                                  fee: float, fin: float, hold: float) -> None:
    fair_mid = carry_fair(mid_s, r, d, div)
    bid_f, ask_f, bid_s, ask_s = _book(mid_s, half_s, fair_mid + dev, half_f)
    args = (bid_f, ask_f, bid_s, ask_s, r, d, div, fee, 2 * half_f, 2 * half_s, fin, hold)
    got = carry_eval(*args)
    assert got == carry_eval.py_func(*args)
    rich, cheap, dv, cost = got
    assert rich == pytest.approx((bid_f - carry_fair(ask_s, r, d, div)) / ask_s * 1e4,
                                 rel=1e-9, abs=1e-7)
    assert cheap == pytest.approx((carry_fair(bid_s, r, d, div) - ask_f) / bid_s * 1e4,
                                  rel=1e-9, abs=1e-7)
    assert dv == pytest.approx(dev / mid_s * 1e4, rel=1e-6, abs=1e-6)
    want_cost = (2 * fee + 2 * half_f + 2 * half_s) / mid_s * 1e4 + fin * hold
    assert cost == pytest.approx(want_cost, rel=1e-9, abs=1e-9)
    # both directions never pay at once: in points they sum to minus both legs' spreads
    assert rich * ask_s + cheap * bid_s <= 1e-6 * mid_s
    assert not (rich > 0 and cheap > 0)


@SETTINGS
@given(mid_s=st.floats(100.0, 1e4), dev=st.floats(-50.0, 50.0), r1=rate_st, r2=rate_st,
       d=st.floats(1.0, 800.0))
def test_a_higher_rate_makes_the_future_less_rich(mid_s: float, dev: float, r1: float,
                                                   r2: float, d: float) -> None:
    lo, hi = min(r1, r2), max(r1, r2)
    book = _book(mid_s, 0.5, mid_s + dev, 0.1)
    a = carry_eval(*book, lo, d, 0.0, 0.1, 0.2, 1.0, 0.0, 1.0)
    b = carry_eval(*book, hi, d, 0.0, 0.1, 0.2, 1.0, 0.0, 1.0)
    assert b[0] <= a[0] + 1e-9  # positive carry pays less
    assert b[1] >= a[1] - 1e-9  # reverse carry pays more
    assert b[3] == a[3]  # the cost does not depend on the rate


def test_no_spot_gives_zeros() -> None:
    assert carry_eval(1.0, 2.0, 0.0, 1.0, 0.02, 30.0, 0.0, 0.1, 0.1, 0.1, 0.0, 1.0) == \
        (0.0, 0.0, 0.0, 0.0)


@SETTINGS
@given(xs=st.lists(st.integers(0, 50), min_size=1, max_size=120), window=st.integers(1, 20))
def test_roll_mean_is_the_mean_of_the_last_window(xs: list[int], window: int) -> None:
    buf, state = np.zeros(window), np.zeros(3)
    buf2, state2 = np.zeros(window), np.zeros(3)
    for i, x in enumerate(xs):
        got = roll_mean_push(buf, state, float(x))
        assert got == roll_mean_push.py_func(buf2, state2, float(x))
        win = xs[max(0, i - window + 1): i + 1]
        assert got == sum(win) / len(win)  # integer samples: exact
