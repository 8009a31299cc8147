"""The Binance fake (spot ``/api/v3`` and USDⓈ-M futures ``/fapi``, REST and websockets): the
exchange module ``server`` loads as ``transports.venues.fake.binance``.

Modules: ``fake`` (conventions, errors, auth, shared state ``BinanceFake``, ``ccxt_urls``,
``ccxt_options``, ``setup``), ``rest`` (the REST endpoints), ``ws`` (market and user data
streams), ``docs`` (the JSON documents in Binance's shapes).
"""

from transports.venues.fake.binance.fake import (
    BinanceError,
    BinanceFake,
    ccxt_options,
    ccxt_urls,
    setup,
)

__all__ = ["BinanceError", "BinanceFake", "ccxt_options", "ccxt_urls", "setup"]
