"""The venue-side risk audit on synthetic simulator records: clean runs pass, each kind of
violation is found, and what the pre-trade check rightly lets through (reducing fills) is not."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from scripts.demo.risk_audit import audit_venue_limits
from scripts.demo.summary import check_summary
from transports.config.engine import AppConfig, load_config

S = 1_000_000_000
AU_LOT = 30500 * 0.02 * 1000  #: CNY per au2606 lot at 30500 ticks (610k)
GC_LOT = 26500 * 0.1 * 100 * 7.2  #: CNY per GCZ6 lot at 26500 ticks and 7.2 (1.908M)
FX = {"USD": 7.2}


def cfg(**risk: Any) -> AppConfig:
    """The demo config with au2606/GCZ6 limited to 30 lots an order, 40 held, and ``risk``."""
    base = load_config()
    contracts = [msgspec.structs.replace(c, max_lots_per_order=30, max_position_lots=40)
                 for c in base.contracts]
    limits = {"max_net_exposure_base": 40_000.0, "max_orders_per_s": 2, **risk}
    return msgspec.structs.replace(base, contracts=contracts,
                                   risk=msgspec.structs.replace(base.risk, **limits))


class Record:
    """A simulator truth record built one order (and its fill) at a time."""

    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []
        self.fills: list[dict[str, Any]] = []
        self.ts = 0

    def trade(self, venue: str, side: str, qty: int, filled: int | None = None,
              px: int | None = None, dt: int = S) -> Record:
        """The venue receives an order ``dt`` after the last one and fills ``filled`` lots."""
        self.ts += dt
        sym, acct = ("au2606", "shfe-acct") if venue == "shfe" else ("GCZ6", "comex-acct")
        px = px if px is not None else (30500 if venue == "shfe" else 26500)
        cl = f"1.{len(self.orders)}.0.0"
        self.orders.append({"ts": self.ts, "venue": venue, "account": acct, "cl": cl, "sym": sym,
                            "side": side, "px": px, "qty": qty, "tif": "IOC"})
        q = qty if filled is None else filled
        if q:
            self.fills.append({"ts": self.ts, "venue": venue, "account": acct, "cl": cl,
                               "oid": "o", "tid": f"t{len(self.fills)}", "sym": sym,
                               "side": side, "px": px, "qty": q, "fee": 0.0, "liq": "T"})
        return self

    def truth(self) -> dict[str, Any]:
        return {"orders": self.orders, "fills": self.fills}


def bad(report: dict[str, Any]) -> dict[str, list[str]]:
    """limit -> keys with a violation."""
    return {lim: sorted(k for k, r in rows.items() if not r["ok"])
            for lim, rows in report["limits"].items()
            if any(not r["ok"] for r in rows.values())}


def hedged_round_trips(n: int = 3) -> Record:
    """Entries of 28 au2606 against 9 GCZ6 and their closes, one order a second."""
    r = Record()
    for _ in range(n):
        r.trade("shfe", "S", 28).trade("comex", "B", 9).trade("shfe", "B", 28)
        r.trade("comex", "S", 9)
    return r


def test_a_clean_record_stays_within_every_limit() -> None:
    c = cfg(max_notional_per_order=20_000_000.0, max_gross_notional=40_000_000.0,
            margin_capital=4_000_000.0)
    rep = audit_venue_limits(hedged_round_trips().truth(), c, FX)
    assert rep["exceeded"] == 0 and bad(rep) == {}
    lim = rep["limits"]
    assert lim["max_lots_per_order"]["shfe:au2606"]["worst"] == 28
    assert lim["max_position_lots"]["comex:GCZ6"]["worst"] == 9
    assert lim["max_net_exposure_base"]["gold"]["worst"] == pytest.approx(28_000.0)
    assert lim["max_gross_notional"]["all"]["worst"] == pytest.approx(28 * AU_LOT + 9 * GC_LOT)
    assert lim["max_margin"]["all"]["worst"] == pytest.approx(0.1 * (28 * AU_LOT + 9 * GC_LOT))
    assert lim["max_orders_per_s"]["shfe"]["ok"] and lim["max_orders_per_s"]["shfe"]["limit"] == 3
    assert set(rep["unchecked"]) == {"price_band_ticks", "max_cancels_per_s"}


def test_an_order_above_max_lots_is_a_violation_even_if_rejected() -> None:
    rep = audit_venue_limits(Record().trade("comex", "B", 31, filled=0).truth(), cfg(), FX)
    assert rep["exceeded"] == 1 and bad(rep) == {"max_lots_per_order": ["comex:GCZ6"]}


def test_a_position_grown_beyond_max_position_is_a_violation() -> None:
    c = cfg(max_net_exposure_base=100_000.0)
    r = Record().trade("shfe", "B", 30).trade("shfe", "B", 10)  # 40: at the limit
    assert audit_venue_limits(r.truth(), c, FX)["exceeded"] == 0
    r.trade("shfe", "B", 1)
    rep = audit_venue_limits(r.truth(), c, FX)
    assert bad(rep) == {"max_position_lots": ["shfe:au2606"]}
    assert rep["limits"]["max_position_lots"]["shfe:au2606"]["worst"] == 41


def test_net_exposure_judged_like_the_pretrade_check_reducing_fills_pass() -> None:
    r = Record().trade("shfe", "B", 30).trade("comex", "S", 15)  # +30 kg, then -16.7 kg
    # selling SHFE reduces its position, so it passes, though the net goes to -46.7 kg
    r.trade("shfe", "S", 30)
    rep = audit_venue_limits(r.truth(), cfg(), FX)
    assert rep["exceeded"] == 0
    assert rep["limits"]["max_net_exposure_base"]["gold"]["worst"] == pytest.approx(
        15 * 3110.34768)
    r.trade("comex", "S", 1)  # grows GCZ6 and the net beyond 40 kg
    assert bad(audit_venue_limits(r.truth(), cfg(), FX)) == {"max_net_exposure_base": ["gold"]}


def test_notional_per_order_converted_into_the_home_currency() -> None:
    c = cfg(max_notional_per_order=20_000_000.0)
    r = Record().trade("comex", "B", 10, filled=0)  # 19.08M CNY
    assert audit_venue_limits(r.truth(), c, FX)["exceeded"] == 0
    r.trade("comex", "B", 11, filled=0)  # 20.99M CNY
    assert bad(audit_venue_limits(r.truth(), c, FX)) == {"max_notional_per_order": ["comex:GCZ6"]}
    # without a rate USD counts as is, as the pre-trade check does without a RiskView rate
    assert audit_venue_limits(r.truth(), c)["exceeded"] == 0


@pytest.mark.parametrize("limit", ["gross", "margin"])
def test_gross_notional_and_margin_grown_beyond_their_limit(limit: str) -> None:
    budget = 30 * AU_LOT + 5 * GC_LOT  # 27.84M
    c = cfg(max_gross_notional=budget) if limit == "gross" else \
        cfg(margin_capital=budget * 0.1 / 0.8, max_margin_pct=80.0)
    r = Record().trade("shfe", "B", 30).trade("comex", "S", 5)  # at the limit
    assert audit_venue_limits(r.truth(), c, FX)["exceeded"] == 0
    r.trade("shfe", "S", 1).trade("comex", "S", 1)  # reducing passes; then 29 + 6 lots
    rep = audit_venue_limits(r.truth(), c, FX)
    assert bad(rep) == {"max_gross_notional" if limit == "gross" else "max_margin": ["all"]}
    assert rep["exceeded"] == 1


def test_the_order_rate_replays_the_executors_token_bucket() -> None:
    steady = Record()
    for _ in range(10):
        steady.trade("shfe", "B", 1, filled=0, dt=S // 2)  # 2 a second, for 5 s
    assert audit_venue_limits(steady.truth(), cfg(), FX)["exceeded"] == 0
    burst = Record().trade("shfe", "B", 1, filled=0, dt=S)
    for _ in range(2):
        burst.trade("shfe", "B", 1, filled=0, dt=10_000_000)  # the third within 20 ms
    rep = audit_venue_limits(burst.truth(), cfg(), FX)
    assert bad(rep) == {"max_orders_per_s": ["shfe"]}
    assert rep["limits"]["max_orders_per_s"]["shfe"]["worst"] == 3
    fast = Record()
    for _ in range(12):
        fast.trade("comex", "B", 1, filled=0, dt=S // 3)  # 3 a second: beyond the burst soon
    assert audit_venue_limits(fast.truth(), cfg(), FX)["limits"]["max_orders_per_s"][
        "comex"]["violations"] > 0


def test_other_accounts_are_not_the_engines() -> None:
    r = Record().trade("shfe", "B", 99)
    r.orders[0]["account"] = r.fills[0]["account"] = "market-maker"
    assert audit_venue_limits(r.truth(), cfg(), FX)["exceeded"] == 0


def _summary(exceeded: int) -> dict[str, Any]:
    return {"venue": {"duplicate_client_ids": 0}, "lot_residual_base": 0.0,
            "final_exposure": {"gold": 0.0}, "legging": {"unresolved_unknowns": 0},
            "combos": 1, "risk": {"limits_exceeded_at_venue": exceeded,
                                  "venue_limits": {"max_lots_per_order": {
                                      "shfe:au2606": {"ok": exceeded == 0}}}}}


def test_a_breach_at_the_venue_fails_the_run_only_for_a_risk_config() -> None:
    risky = cfg(fail_on_venue_breach=True)
    assert check_summary(risky, _summary(0)) == ""
    why = check_summary(risky, _summary(2))
    assert "2 limit violations at the venue" in why and "max_lots_per_order" in why
    assert check_summary(cfg(), _summary(2)) == ""
