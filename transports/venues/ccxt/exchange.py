"""The ccxt exchange objects of one gateway: built, pointed at a fake if configured, and hooked.

Two ccxt.pro objects per gateway: one for public market data, one for the account (REST
orders and the private websocket). Separate objects keep their websocket clients apart, so a
connection event tells which side it concerns without parsing URLs, and the md hot path never
shares state with order entry.

Hooks (a subclass per exchange class, built once): ``on_connected``/``on_close`` of a websocket
client call the gateway's callback (session up/down), ``handle_message`` stamps the receive
time of the last websocket message (the bench's "exchange stamp -> frame sent") and then calls
``cmc_after`` (the md side publishes the books that moved, without a task wake-up), and
``on_rest_response`` stores the HTTP status and headers of the current request in a context
variable, so an order task that gets an exception also gets ITS response's ``Retry-After``
(asyncio tasks each have their own context; ccxt's ``last_response_headers`` is shared).

Pointing at a fake: ``transports.venues.fake.<name>`` exports ``ccxt_urls(base_http, base_ws)``
(the ``urls['api']`` to install) and ``ccxt_options()``; nothing else in the gateway knows.
"""

from __future__ import annotations

import contextvars
import importlib
from collections.abc import Callable
from typing import Any

import ccxt.pro as ccxtpro

from transports.config.gateways import CcxtVenueConfig
from transports.errors import ConfigError
from transports.venues.ccxt.credentials import Credentials

#: the HTTP status and headers of the latest REST response in this task (``None``: none yet)
LAST_HTTP: contextvars.ContextVar[tuple[int, dict[str, str]] | None] = contextvars.ContextVar(
    "cmc_ccxt_last_http", default=None)

#: ccxt ``fetchMarkets`` types to load for each (exchange, market): only what is traded
_MARKET_TYPES = {("binance", "spot"): ["spot"], ("binance", "swap"): ["linear"],
                 ("okx", "spot"): ["spot"], ("okx", "swap"): ["swap"],
                 ("bybit", "spot"): ["spot"], ("bybit", "swap"): ["linear"]}
_DEFAULT_TYPE = {"spot": "spot", "swap": "swap"}

WsEvent = Callable[[str, str, str], None]  #: (side "md"/"oe", "up"/"down", reason)

_CLASSES: dict[tuple[str, str], type] = {}


def _hooked(name: str, side: str) -> type:
    key = (name, side)
    cls = _CLASSES.get(key)
    if cls is not None:
        return cls
    base = getattr(ccxtpro, name)

    class Hooked(base):  # type: ignore[misc, valid-type]
        """ccxt.pro exchange with the gateway's connection and response hooks."""

        cmc_side = side
        cmc_on_ws: WsEvent | None = None
        cmc_clock: Callable[[], int] | None = None
        cmc_after: Callable[[], None] | None = None  #: after each websocket message
        cmc_rx_ns = 0

        def on_connected(self, client: Any, message: Any = None) -> None:
            super().on_connected(client, message)
            if self.cmc_on_ws is not None:
                self.cmc_on_ws(self.cmc_side, "up", "websocket connected")

        def on_close(self, client: Any, error: Any) -> None:
            super().on_close(client, error)
            if self.cmc_on_ws is not None:
                self.cmc_on_ws(self.cmc_side, "down", f"websocket closed ({error})")

        def on_error(self, client: Any, error: Any) -> None:
            super().on_error(client, error)
            if self.cmc_on_ws is not None:
                self.cmc_on_ws(self.cmc_side, "down", f"websocket error: {type(error).__name__}")

        def handle_message(self, client: Any, message: Any) -> Any:
            if self.cmc_clock is not None:
                self.cmc_rx_ns = self.cmc_clock()
            out = super().handle_message(client, message)
            if self.cmc_after is not None:
                self.cmc_after()
            return out

        def on_rest_response(self, code: Any, reason: Any, url: Any, method: Any,
                             response_headers: Any, response_body: Any, request_headers: Any,
                             request_body: Any) -> Any:
            LAST_HTTP.set((int(code), dict(response_headers or {})))
            return super().on_rest_response(code, reason, url, method, response_headers,
                                            response_body, request_headers, request_body)

    Hooked.__name__ = f"Cmc{name.capitalize()}{side.capitalize()}"
    _CLASSES[key] = Hooked
    return Hooked


def fake_settings(fake: str, base_http: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``urls['api']`` and options that point ccxt at local fake ``fake``."""
    try:
        mod = importlib.import_module(f"transports.venues.fake.{fake}")
    except ImportError as exc:
        raise ConfigError(f"ccxt.fake: no fake exchange module {fake!r} ({exc})") from None
    base_ws = "ws" + base_http[4:] if base_http.startswith("http") else base_http
    return dict(mod.ccxt_urls(base_http.rstrip("/"), base_ws.rstrip("/"))), dict(mod.ccxt_options())


def make_exchange(cfg: CcxtVenueConfig, side: str, creds: Credentials | None, *,
                  fake_base: str | None, on_ws: WsEvent | None,
                  clock: Callable[[], int] | None) -> Any:
    """A hooked ccxt.pro exchange for one side (``md`` or ``oe``) of the venue."""
    cls = _hooked(cfg.exchange, side)
    conf: dict[str, Any] = {
        "enableRateLimit": False,  # the exchange's 429 is the limit (reported as throttled)
        "timeout": cfg.request_timeout_ms,
        "options": {"defaultType": _DEFAULT_TYPE[cfg.market],
                    "fetchMarkets": {"types": _MARKET_TYPES[(cfg.exchange, cfg.market)]}},
    }
    if creds is not None:
        conf.update(creds.ccxt())
    ex = cls(conf)
    if cfg.sandbox:
        ex.set_sandbox_mode(True)
    if fake_base:
        urls, options = fake_settings(cfg.fake or cfg.exchange, fake_base)
        ex.urls["api"] = urls
        ex.options.update(options)
    ex.cmc_on_ws = on_ws
    ex.cmc_clock = clock
    return ex


__all__ = ["LAST_HTTP", "fake_settings", "make_exchange"]
