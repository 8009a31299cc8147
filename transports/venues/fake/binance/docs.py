"""Binance fake: the JSON documents (exchange info, orders, trades, accounts, positions, funding,
user-data events) built from the simulator's state, in Binance's field names and formats."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from transports.venues.fake.binance.fake import BinanceFake, num
from transports.venues.fake.core import oid_int
from transports.venues.sim.matching import Order
from transports.wire.venue_msgs import Ack, Done, Fill, FillRecord, Funding

_STATUS = {"new": "NEW", "partial": "PARTIALLY_FILLED", "filled": "FILLED",
           "expired": "EXPIRED", "rejected": "REJECTED"}
_SIDE = {"B": "BUY", "S": "SELL"}
FAR_DELIVERY_MS = 4133404800000  #: Binance's deliveryDate of a perpetual


def oid(x: str | int) -> int:
    """A simulator id as Binance's integer id."""
    return oid_int(x)


def ms(ns: int) -> int:
    """ns -> ms."""
    return ns // 1_000_000


def status(state: str, tif: str) -> str:
    """A simulator order state as Binance's status (an IOC/FOK remainder expires)."""
    if state == "canceled":
        return "CANCELED" if tif == "GTC" else "EXPIRED"
    return _STATUS.get(state, "NEW")


def exchange_info(bf: BinanceFake, market: str) -> dict[str, Any]:
    """``/exchangeInfo`` of ``market`` (no symbols when the fake does not serve it)."""
    core = bf.core
    now = ms(core.server_ns())
    venue = core.venue_for(market) if market in bf.markets else ""
    symbols = []
    for c in core.contracts(venue) if venue else []:
        tick, step = core.tick(venue, c.sym), core.step(venue, c.sym)
        filters = [
            {"filterType": "PRICE_FILTER", "minPrice": str(tick), "maxPrice": "10000000",
             "tickSize": str(tick)},
            {"filterType": "LOT_SIZE", "minQty": str(step),
             "maxQty": str(step * c.max_lots_per_order), "stepSize": str(step)},
        ]
        doc: dict[str, Any] = {"symbol": c.sym, "status": "TRADING", "baseAsset": c.unit,
                               "quoteAsset": c.ccy, "baseAssetPrecision": 8, "quotePrecision": 8,
                               "filters": filters}
        if market == "spot":
            filters.append({"filterType": "MIN_NOTIONAL", "minNotional": "1.00000000",
                            "applyToMarket": True, "avgPriceMins": 5})
            doc.update({"quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
                        "quoteCommissionPrecision": 8,
                        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                        "icebergAllowed": False, "ocoAllowed": False,
                        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                        "permissions": ["SPOT"], "defaultSelfTradePreventionMode": "NONE"})
        else:
            filters.append({"filterType": "MARKET_LOT_SIZE", "minQty": str(step),
                            "maxQty": str(step * c.max_lots_per_order), "stepSize": str(step)})
            filters.append({"filterType": "MIN_NOTIONAL", "notional": "5"})
            doc.update({"pair": c.sym, "contractType": "PERPETUAL",
                        "deliveryDate": FAR_DELIVERY_MS, "onboardDate": 1569398400000,
                        "marginAsset": c.ccy, "maintMarginPercent": "2.5000",
                        "requiredMarginPercent": f"{c.margin_rate * 100:.4f}",
                        "pricePrecision": bf.places("swap", tick),
                        "quantityPrecision": bf.places("swap", step), "underlyingType": "COIN",
                        "orderTypes": ["LIMIT", "MARKET"],
                        "timeInForce": ["GTC", "IOC", "FOK", "GTX"]})
        symbols.append(doc)
    return {"timezone": "UTC", "serverTime": now, "rateLimits": [
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 1,
         "limit": core.fake.rate_limit_per_s}], "exchangeFilters": [], "symbols": symbols}


def _quote(bf: BinanceFake, venue: str, sym: str, fills: list[Any]) -> Decimal:
    tick, step = bf.core.tick(venue, sym), bf.core.step(venue, sym)
    return sum((f.px * tick * f.qty * step for f in fills), Decimal(0))


def order(bf: BinanceFake, venue: str, o: Order, *, state: str | None = None,
          cum: int | None = None, fills: list[Fill] | None = None,
          resp: bool = False) -> dict[str, Any]:
    """An order document (a new-order response with ``resp``: its fills and transactTime)."""
    core = bf.core
    market = core.market_of(venue)
    state = o.state if state is None else state
    cum = o.cum if cum is None else cum
    used: list[Any] = list(o.fills) if fills is None else list(fills)
    quote = _quote(bf, venue, o.sym, used)
    step = core.step(venue, o.sym)
    avg = quote / (cum * step) if cum else Decimal(0)
    now = ms(core.now_ns())
    doc: dict[str, Any] = {
        "symbol": o.sym, "orderId": oid(o.oid), "clientOrderId": o.cl,
        "price": bf.px(venue, o.sym, o.px), "origQty": bf.qty(venue, o.sym, o.qty),
        "executedQty": bf.qty(venue, o.sym, cum), "status": status(state, o.tif),
        "timeInForce": o.tif, "type": "LIMIT", "side": _SIDE[o.side],
    }
    places = bf.places(market, core.tick(venue, o.sym))
    if market == "spot":
        doc.update({"orderListId": -1, "cummulativeQuoteQty": num(quote),
                    "stopPrice": num(0), "icebergQty": num(0), "origQuoteOrderQty": num(0),
                    "selfTradePreventionMode": "NONE", "workingTime": ms(o.ts)})
        if resp:
            c = core.contract(venue, o.sym)
            doc["transactTime"] = now
            doc["fills"] = [{"price": bf.px(venue, o.sym, f.px), "qty": bf.qty(venue, o.sym, f.qty),
                             "commission": num(Decimal(repr(f.fee))), "commissionAsset": c.ccy,
                             "tradeId": oid(f.tid)} for f in used]
        else:
            doc.update({"time": ms(o.ts), "updateTime": now, "isWorking": o.is_open})
    else:
        doc.update({"avgPrice": num(avg, places), "cumQty": doc["executedQty"],
                    "cumQuote": num(quote, places), "stopPrice": "0",
                    "reduceOnly": (venue, o.account, o.cl) in bf.reduce_only,
                    "closePosition": False, "positionSide": "BOTH", "workingType": "CONTRACT_PRICE",
                    "priceProtect": False, "origType": "LIMIT", "priceMatch": "NONE",
                    "selfTradePreventionMode": "NONE", "goodTillDate": 0, "updateTime": now})
        if not resp:
            doc["time"] = ms(o.ts)
    return doc


def trade(bf: BinanceFake, venue: str, f: FillRecord) -> dict[str, Any]:
    """A ``myTrades`` (spot) / ``userTrades`` (futures) record."""
    core = bf.core
    c = core.contract(venue, f.sym)
    price, qty = bf.px(venue, f.sym, f.px), bf.qty(venue, f.sym, f.qty)
    quote = f.px * core.tick(venue, f.sym) * f.qty * core.step(venue, f.sym)
    doc: dict[str, Any] = {"symbol": f.sym, "id": oid(f.tid), "orderId": oid(f.oid),
                           "price": price, "qty": qty, "commission": num(Decimal(repr(f.fee))),
                           "commissionAsset": c.ccy, "time": ms(f.ts)}
    if core.market_of(venue) == "spot":
        doc.update({"orderListId": -1, "quoteQty": num(quote), "isBuyer": f.side == "B",
                    "isMaker": f.liq == "M", "isBestMatch": True})
    else:
        doc.update({"quoteQty": num(quote, 8), "buyer": f.side == "B", "maker": f.liq == "M",
                    "side": _SIDE.get(f.side, "BUY"), "positionSide": "BOTH", "realizedPnl": "0"})
    return doc


def spot_account(bf: BinanceFake, venue: str, account: str) -> dict[str, Any]:
    """``GET /api/v3/account``."""
    bal = bf.core.balances(venue, account)
    return {"makerCommission": 0, "takerCommission": 0, "buyerCommission": 0,
            "sellerCommission": 0, "canTrade": True, "canWithdraw": False, "canDeposit": False,
            "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": ms(bf.core.now_ns()), "accountType": "SPOT",
            "balances": [{"asset": a, "free": num(free), "locked": num(tot - free)}
                         for a, (tot, free) in sorted(bal.items())],
            "permissions": ["SPOT"], "uid": 0}


def futures_account(bf: BinanceFake, venue: str, account: str) -> dict[str, Any]:
    """``GET /fapi/v2|v3/account`` (``assets`` is also ``/balance``)."""
    core = bf.core
    now = ms(core.now_ns())
    wallet = core.ledger.wallet(venue, account)
    bal = core.balances(venue, account)
    assets = []
    for a, (tot, free) in sorted(bal.items()):
        wb = wallet.get(a, Decimal(0))
        assets.append({"asset": a, "walletBalance": num(wb), "unrealizedProfit": num(tot - wb),
                       "marginBalance": num(tot), "maintMargin": num(0),
                       "initialMargin": num(tot - free), "positionInitialMargin": num(0),
                       "openOrderInitialMargin": num(0), "crossWalletBalance": num(wb),
                       "crossUnPnl": num(tot - wb), "availableBalance": num(free),
                       "maxWithdrawAmount": num(free), "marginAvailable": True,
                       "updateTime": now})
    usdt = bal.get("USDT", (Decimal(0), Decimal(0)))
    return {"totalWalletBalance": num(wallet.get("USDT", Decimal(0))),
            "totalMarginBalance": num(usdt[0]), "availableBalance": num(usdt[1]),
            "maxWithdrawAmount": num(usdt[1]), "assets": assets,
            "positions": [position(bf, venue, account, c.sym) for c in core.contracts(venue)]}


def position(bf: BinanceFake, venue: str, account: str, sym: str) -> dict[str, Any]:
    """A ``positionRisk`` record."""
    core = bf.core
    c = core.contract(venue, sym)
    p = core.ledger.perp(venue, account, sym)
    m = core.mark(venue, sym)
    mark = core.from_ticks(venue, sym, m.mark_px) if m is not None else p.entry_px
    amt = core.from_lots(venue, sym, p.lots)
    places = bf.places("swap", core.tick(venue, sym))
    return {"symbol": sym, "positionSide": "BOTH", "positionAmt": bf.qty(venue, sym, p.lots),
            "entryPrice": num(p.entry_px, places), "breakEvenPrice": num(p.entry_px, places),
            "markPrice": num(mark, places), "unRealizedProfit": num(core.ledger.unrealized(
                c, account, mark)), "liquidationPrice": "0", "isolatedMargin": "0",
            "notional": num(amt * mark), "marginAsset": c.ccy, "isolatedWallet": "0",
            "initialMargin": num(abs(amt) * mark * Decimal(repr(c.margin_rate))),
            "maintMargin": "0", "positionInitialMargin": "0", "openOrderInitialMargin": "0",
            "adl": 0, "bidNotional": "0", "askNotional": "0", "marginType": "cross",
            "leverage": str(max(1, round(1 / c.margin_rate))) if c.margin_rate else "20",
            "updateTime": ms(core.now_ns())}


def premium_index(bf: BinanceFake, venue: str, sym: str) -> dict[str, Any]:
    """``GET /fapi/v1/premiumIndex`` of one symbol."""
    core = bf.core
    m = core.mark(venue, sym)
    places = bf.places("swap", core.tick(venue, sym))
    mark = core.from_ticks(venue, sym, m.mark_px) if m is not None else Decimal(0)
    index = core.from_ticks(venue, sym, m.index_px) if m is not None else Decimal(0)
    return {"symbol": sym, "markPrice": num(mark, places), "indexPrice": num(index, places),
            "estimatedSettlePrice": num(mark, places),
            "lastFundingRate": num(core.funding_rate), "interestRate": num(0),
            "nextFundingTime": ms(core.next_funding_ns), "time": ms(core.now_ns())}


def income(rec: dict[str, Any], n: int) -> dict[str, Any]:
    """A ``/fapi/v1/income`` record of one funding settlement."""
    return {"symbol": rec["sym"], "incomeType": "FUNDING_FEE", "income": num(Decimal(repr(
        rec["paid"]))), "asset": rec["ccy"], "info": "FUNDING_FEE", "time": ms(rec["ts"]),
        "tranId": n, "tradeId": ""}


# --- user data events -----------------------------------------------------------------------------


def order_event(bf: BinanceFake, venue: str, account: str, msg: Any) -> dict[str, Any] | None:
    """The ``executionReport`` (spot) / ``ORDER_TRADE_UPDATE`` order (futures) of one report, or
    None when Binance sends none (rejects, a ``done`` after the last fill)."""
    core = bf.core
    if not isinstance(msg, Ack | Fill | Done):
        return None
    o = core.order(venue, account, msg.cl)
    if o is None:
        return None
    ts = ms(msg.ts)
    if isinstance(msg, Fill):
        upto = []
        for f in o.fills:
            upto.append(f)
            if f.tid == msg.tid:
                break
        cum = sum(f.qty for f in upto)
        x, st = "TRADE", ("FILLED" if cum >= o.qty else "PARTIALLY_FILLED")
        last = (bf.qty(venue, o.sym, msg.qty), bf.px(venue, o.sym, msg.px), oid(msg.tid))
        fee, maker = num(Decimal(repr(msg.fee))), msg.liq == "M"
    elif isinstance(msg, Done):
        if msg.state == "filled":
            return None
        upto, cum = list(o.fills), msg.cum
        x = st = status(msg.state, o.tif)
        last, fee, maker = (bf.qty(venue, o.sym, 0), bf.px(venue, o.sym, 0), -1), num(0), False
    else:
        upto, cum, x, st = [], 0, "NEW", "NEW"
        last, fee, maker = (bf.qty(venue, o.sym, 0), bf.px(venue, o.sym, 0), -1), num(0), False
    quote = _quote(bf, venue, o.sym, upto)
    ccy = core.contract(venue, o.sym).ccy
    ev: dict[str, Any] = {"s": o.sym, "c": o.cl, "S": _SIDE[o.side], "o": "LIMIT", "f": o.tif,
                          "q": bf.qty(venue, o.sym, o.qty), "p": bf.px(venue, o.sym, o.px),
                          "x": x, "X": st, "i": oid(o.oid), "l": last[0],
                          "z": bf.qty(venue, o.sym, cum), "L": last[1], "n": fee, "N": ccy,
                          "T": ts, "t": last[2], "m": maker}
    if core.market_of(venue) == "spot":
        ev.update({"e": "executionReport", "E": ts, "P": num(0), "F": num(0), "g": -1, "C": "",
                   "r": "NONE", "I": 0, "w": st in ("NEW", "PARTIALLY_FILLED") and o.tif == "GTC",
                   "M": True, "O": ms(o.ts), "Z": num(quote), "Y": num(Decimal(0)),
                   "Q": num(0), "W": ms(o.ts), "V": "NONE"})
        return ev
    step = core.step(venue, o.sym)
    places = bf.places("swap", core.tick(venue, o.sym))
    avg = quote / (cum * step) if cum else Decimal(0)
    ev.update({"ap": num(avg, places), "sp": "0", "b": "0", "a": "0",
               "R": (venue, account, o.cl) in bf.reduce_only, "wt": "CONTRACT_PRICE",
               "ot": "LIMIT", "ps": "BOTH", "cp": False, "rp": "0", "pP": False, "si": 0, "ss": 0,
               "V": "NONE", "pm": "NONE", "gtd": 0})
    return {"e": "ORDER_TRADE_UPDATE", "E": ts, "T": ts, "o": ev}


def balance_event(bf: BinanceFake, venue: str, account: str, msg: Fill | Funding,
                  sym: str) -> dict[str, Any]:
    """After a fill or a funding payment: ``outboundAccountPosition`` (spot) or
    ``ACCOUNT_UPDATE`` (futures, reason ``ORDER`` or ``FUNDING_FEE``)."""
    core = bf.core
    c = core.contract(venue, sym)
    bal = core.balances(venue, account)
    ts = ms(msg.ts)
    if core.market_of(venue) == "spot":
        return {"e": "outboundAccountPosition", "E": ts, "u": ts, "B": [
            {"a": a, "f": num(bal[a][1]), "l": num(bal[a][0] - bal[a][1])}
            for a in (c.unit, c.ccy) if a in bal]}
    wb = core.ledger.wallet(venue, account).get(c.ccy, Decimal(0))
    change = num(Decimal(repr(msg.paid))) if isinstance(msg, Funding) else "0"
    p = position(bf, venue, account, sym)
    return {"e": "ACCOUNT_UPDATE", "E": ts, "T": ts, "a": {
        "m": "FUNDING_FEE" if isinstance(msg, Funding) else "ORDER",
        "B": [{"a": c.ccy, "wb": num(wb), "cw": num(wb), "bc": change}],
        "P": [{"s": sym, "pa": p["positionAmt"], "ep": p["entryPrice"],
               "bep": p["breakEvenPrice"], "cr": "0", "up": p["unRealizedProfit"],
               "mt": "cross", "iw": "0", "ps": "BOTH"}]}}


__all__ = ["balance_event", "exchange_info", "futures_account", "income", "order",
           "order_event", "position", "premium_index", "spot_account", "status", "trade"]
