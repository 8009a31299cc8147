"""The risk limits judged from the venue's side: a pure audit of the simulator's record (truth).

``audit_venue_limits(truth, cfg, fx)`` reads the orders and fills the simulated venues recorded
for the engine's accounts (``truth["orders"]``, ``truth["fills"]``, as ``scripts/demo/summary.py``
gets them) and reports, per limit and per key (instrument ``venue:sym``, underlying, venue),
the worst value the venue saw, the limit, the number of violations and ``ok``. ``exceeded`` is
the total number of violations; ``unchecked`` names the limits the record cannot judge and why.

Each limit is judged the way the pre-trade check judges it, so what the check rightly lets
through is not called a breach. Exposure limits are checked on the way in: an order that
reduces its instrument's position passes every exposure check (a repair, unwind or flatten may
leave the net exposure or the gross above a limit the market moved through). So a fill is a
violation only if it *grew* its instrument's ``|position|``:

- ``max_lots_per_order`` (per instrument): every order received, ``qty`` <= the contract's;
- ``max_position_lots`` (per instrument): the account's position replayed from the fills in
  time order; a growing fill that leaves ``|position|`` above the limit;
- ``max_net_exposure_base`` (per underlying, in base units across venues): a growing fill that
  leaves ``|exposure|`` above the limit and larger than before it;
- ``max_notional_per_order`` (per instrument): ``px x tick x multiplier``, converted into the
  home currency by ``fx`` (ccy -> home per unit; a currency without a rate counts as is, as the
  pre-trade check does without a ``RiskView`` rate);
- ``max_gross_notional`` and ``max_margin_pct`` of ``margin_capital`` (``all``): every
  position's ``|lots|`` at its instrument's last fill price (x ``margin_rate`` for the margin),
  after a growing fill;
- ``max_orders_per_s`` (per venue): the executor's token bucket (``rate`` per second, a burst
  of one second's worth, full at the start) replayed on the venue's receive times; an order
  that finds the bucket short of a token by more than ``rate x jitter_s`` (the send-to-receive
  jitter that can bring an order in early) is a violation. ``worst`` is the most orders in any
  one-second window, ``limit`` the most a conforming sender can put there (``2 x rate - 1``:
  the burst and one second's refill), ``rate_per_s`` the configured rate.

The money limits (notional, gross, margin) use the venue's fill prices and one FX rate where
the engine used its marks and the supervisor's live rate: values within ``rel_tol`` of a limit
are not called a breach. A limit that is off (0) is reported with ``limit`` None, never
violated. Not judged: the price band (the record holds no book at an order's arrival) and the
cancel rate (it holds cancel counts, not times).
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

from transports.config.engine import AppConfig, ContractConfig

UNCHECKED = {
    "price_band_ticks": "the simulator's record holds no book at an order's arrival",
    "max_cancels_per_s": "the simulator's record counts cancels but holds no cancel times",
}


def _row(worst: float, limit: float | None, violations: int) -> dict[str, Any]:
    return {"worst": round(worst, 6) if isinstance(worst, float) else worst,
            "limit": limit, "violations": violations, "ok": violations == 0}


def _engine(records: list[dict[str, Any]], cfg: AppConfig) -> list[dict[str, Any]]:
    """The records of the engine's accounts, in the venue's time order (stable)."""
    accounts = {v.account for v in cfg.venues}
    return sorted((r for r in records if r.get("account") in accounts), key=lambda r: r["ts"])


def _bucket(ts_list: list[int], rate: int, jitter_ns: int) -> tuple[int, int]:
    """Replay a token bucket on ``ts_list``; return (violations, most orders in any 1 s)."""
    cap = rate * 1_000_000_000  # nano-tokens, as ``actors.leg.pretrade.RateBucket``
    need = 1_000_000_000 - rate * jitter_ns
    tokens, last, over = cap, None, 0
    window: deque[int] = deque()
    most = 0
    for ts in ts_list:
        if last is not None and ts > last:
            tokens = min(cap, tokens + (ts - last) * rate)
        last = ts if last is None else max(last, ts)
        if tokens < need:
            over += 1
        tokens -= 1_000_000_000  # the venue took the order whatever the bucket says
        window.append(ts)
        while window[0] <= ts - 1_000_000_000:
            window.popleft()
        most = max(most, len(window))
    return over, most


def audit_venue_limits(truth: dict[str, Any], cfg: AppConfig, fx: dict[str, float] | None = None,
                       rel_tol: float = 2e-3, jitter_s: float = 0.05) -> dict[str, Any]:
    """Return ``{"limits": {limit: {key: row}}, "exceeded": n, "unchecked": {limit: why}}``."""
    risk = cfg.risk
    rates = dict(fx or {})
    rates[risk.home_ccy] = 1.0
    contracts: dict[str, ContractConfig] = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    tick = {k: float(Decimal(c.tick)) for k, c in contracts.items()}
    orders = _engine(truth.get("orders", []), cfg)
    fills = _engine(truth.get("fills", []), cfg)
    slack = 1.0 + rel_tol
    out: dict[str, dict[str, dict[str, Any]]] = {}

    # per order: lots and notional
    lots: dict[str, list[int]] = {}
    notional: dict[str, list[int | float]] = {}
    for o in orders:
        key = f"{o['venue']}:{o['sym']}"
        c = contracts.get(key)
        if c is None:
            continue
        w = lots.setdefault(key, [0, 0])
        w[0] = max(w[0], o["qty"])
        w[1] += o["qty"] > c.max_lots_per_order
        v = o["px"] * tick[key] * c.multiplier * o["qty"] * rates.get(c.ccy, 1.0)
        n = notional.setdefault(key, [0.0, 0])
        n[0] = max(n[0], v)
        n[1] += bool(risk.max_notional_per_order) and v > risk.max_notional_per_order * slack
    out["max_lots_per_order"] = {k: _row(w, contracts[k].max_lots_per_order, bad)
                                 for k, (w, bad) in lots.items()}
    out["max_notional_per_order"] = {k: _row(float(w), risk.max_notional_per_order or None,
                                             int(bad)) for k, (w, bad) in notional.items()}

    # fills, in time order: positions, net exposure, gross notional and margin
    pos: dict[str, int] = {}
    last_px: dict[str, float] = {}  #: key -> home ccy per lot at the last fill
    expo: dict[str, float] = {}
    worst_pos: dict[str, list[int]] = {}
    worst_expo: dict[str, list[float]] = {}
    gross_row = [0.0, 0]
    margin_row = [0.0, 0]
    margin_limit = risk.margin_capital * risk.max_margin_pct / 100.0
    for f in fills:
        key = f"{f['venue']}:{f['sym']}"
        c = contracts.get(key)
        if c is None:
            continue
        signed = f["qty"] if f["side"] == "B" else -f["qty"]
        before = pos.get(key, 0)
        after = before + signed
        pos[key] = after
        grew = abs(after) > abs(before)
        last_px[key] = f["px"] * tick[key] * c.multiplier * rates.get(c.ccy, 1.0)
        wp = worst_pos.setdefault(key, [0, 0])
        wp[0] = max(wp[0], abs(after))
        wp[1] += grew and abs(after) > c.max_position_lots
        if c.underlying:
            e0 = expo.get(c.underlying, 0.0)
            e1 = e0 + signed * c.base_per_lot
            expo[c.underlying] = e1
            we = worst_expo.setdefault(c.underlying, [0.0, 0])
            we[0] = max(we[0], abs(e1))
            we[1] += grew and abs(e1) > risk.max_net_exposure_base and abs(e1) > abs(e0)
        gross = margin = 0.0
        for k, q in pos.items():
            if q:
                v = abs(q) * last_px.get(k, 0.0)
                gross += v
                margin += v * contracts[k].margin_rate
        gross_row[0] = max(gross_row[0], gross)
        margin_row[0] = max(margin_row[0], margin)
        if grew and risk.max_gross_notional and gross > risk.max_gross_notional * slack:
            gross_row[1] += 1
        if grew and margin_limit and margin > margin_limit * slack:
            margin_row[1] += 1
    out["max_position_lots"] = {k: _row(w, contracts[k].max_position_lots, bad)
                                for k, (w, bad) in worst_pos.items()}
    out["max_net_exposure_base"] = {u: _row(w, risk.max_net_exposure_base, bad)
                                    for u, (w, bad) in worst_expo.items()}
    out["max_gross_notional"] = {"all": _row(gross_row[0], risk.max_gross_notional or None,
                                             int(gross_row[1]))}
    out["max_margin"] = {"all": _row(margin_row[0], margin_limit or None, int(margin_row[1]))}

    # order rate per venue
    by_venue: dict[str, list[int]] = {}
    for o in orders:
        by_venue.setdefault(o["venue"], []).append(o["ts"])
    rate_rows = {}
    for venue, ts_list in by_venue.items():
        over, most = _bucket(ts_list, risk.max_orders_per_s, int(jitter_s * 1e9))
        r = risk.max_orders_per_s
        rate_rows[venue] = {**_row(most, 2 * r - 1, over), "rate_per_s": r}
    out["max_orders_per_s"] = rate_rows

    exceeded = sum(r["violations"] for rows in out.values() for r in rows.values())
    return {"limits": out, "exceeded": exceeded, "unchecked": dict(UNCHECKED)}


__all__ = ["UNCHECKED", "audit_venue_limits"]
