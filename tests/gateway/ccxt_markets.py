"""Real ccxt market dicts for the gateway's unit tests: the exchanges' own market listings
(exchangeInfo / instruments shaped) parsed by ccxt's own ``parse_market``."""

from __future__ import annotations

from typing import Any

import ccxt


def _binance() -> Any:
    b = ccxt.binance()
    b.options["crossMarginPairsData"] = []
    b.options["isolatedMarginPairsData"] = []
    return b


def binance_spot(sym: str = "BTCUSDT", tick: str = "0.01", step: str = "0.0001",
                 status: str = "TRADING") -> dict[str, Any]:
    """A Binance spot market as ccxt parses ``GET /api/v3/exchangeInfo``."""
    return _binance().parse_market({
        "symbol": sym, "status": status, "baseAsset": sym[:-4], "quoteAsset": sym[-4:],
        "baseAssetPrecision": 8, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT"], "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "permissions": ["SPOT"], "permissionSets": [["SPOT"]],
        "filters": [{"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000",
                     "tickSize": tick},
                    {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000",
                     "stepSize": step}]})


def binance_usdm(sym: str = "BTCUSDT", tick: str = "0.1", step: str = "0.001") -> dict[str, Any]:
    """A Binance USDⓈ-M perpetual as ccxt parses ``GET /fapi/v1/exchangeInfo``."""
    b = _binance()
    b.options["defaultType"] = "swap"
    return b.parse_market({
        "symbol": sym, "pair": sym, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000, "status": "TRADING", "marginAsset": "USDT",
        "baseAsset": sym[:-4], "quoteAsset": "USDT", "pricePrecision": 1,
        "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
        "underlyingType": "COIN", "orderTypes": ["LIMIT"],
        "timeInForce": ["GTC", "IOC", "FOK"],
        "filters": [{"filterType": "PRICE_FILTER", "minPrice": "556.80", "maxPrice": "4529764",
                     "tickSize": tick},
                    {"filterType": "LOT_SIZE", "stepSize": step, "maxQty": "1000",
                     "minQty": step}]})


def okx(inst_id: str = "BTC-USDT", tick: str = "0.1", lot: str = "0.0001",
        inst_type: str = "SPOT", ct_val: str = "", state: str = "live") -> dict[str, Any]:
    """An OKX market as ccxt parses ``GET /api/v5/public/instruments``."""
    base, quote = inst_id.split("-")[:2]
    swap = inst_type == "SWAP"
    return ccxt.okx().parse_market({
        "instId": inst_id, "instType": inst_type, "baseCcy": "" if swap else base,
        "quoteCcy": "" if swap else quote, "settleCcy": quote if swap else "",
        "uly": f"{base}-{quote}" if swap else "", "ctVal": ct_val,
        "ctValCcy": base if swap else "", "ctType": "linear" if swap else "",
        "lotSz": lot, "minSz": lot, "tickSz": tick, "maxLmtSz": "10000", "state": state,
        "lever": "10", "listTime": "1548133413000"})


def markets_table(*ms: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``exchange.markets``-shaped: by unified symbol."""
    return {m["symbol"]: m for m in ms}
