"""Binance fake: spot (``/api/v3``) and USDⓈ-M futures (``/fapi/v1|v2|v3``), REST and websocket,
the subset ccxt 4.5.90 (``ccxt.async_support.binance`` and ``ccxt.pro.binance``) calls.

Paths (``ccxt_urls`` installs them; the server serves nothing else):

- REST: ``/api/v3/...`` (spot), ``/fapi/v1|v2|v3/...`` (futures); other sections (sapi, dapi,
  eapi, papi) point at the fake too but answer 404 ``{"code": -1020}``.
- Market streams: spot ``/stream/ws/<n>`` (ccxt tells spot from futures by ``/stream`` in the
  url), futures ``/fstream/public/ws/<n>`` (depth) and ``/fstream/market/ws/<n>``
  (markPrice), with ``{"method": "SUBSCRIBE", "params": [...], "id": n}``.
- User data: spot through the WebSocket API ``/ws-api/v3``
  (``userDataStream.subscribe.signature``, events as ``{"subscriptionId", "event"}``), as
  ccxt 4.5.90 does; futures through a listen key (``POST /fapi/v1/listenKey``) and
  ``/fstream/private/ws?listenKey=<key>``.

Signed requests: the API key (``X-MBX-APIKEY``, or ``apiKey`` on the WebSocket API) is the
simulator account; the secret is ``[[fakes]] secrets[key]``, default ``<key>-secret``. The
HMAC-SHA256 of the query (query string + body, without ``signature``) must match (else -1022),
and ``timestamp`` must be within ``recvWindow`` (default 5000 ms) behind and 1000 ms ahead of
the fake's clock (else -1021; the ``clock_offset`` fault shifts that clock and ``/time``).

Exchange quirks kept: integer ``orderId`` and trade ids; a diff event per book change with
``U`` = ``u`` = the book's update id (``pu`` = the previous one on futures), so a dropped diff is
a gap ccxt detects and resyncs from ``/depth`` (``lastUpdateId``); an IOC/FOK remainder is
``EXPIRED``; errors as Binance sends them (HTTP status + ``{"code", "msg"}``): -1003 with HTTP
429 and ``Retry-After``, -1007 (503) for an order whose outcome is unknown, -1013 for price or
quantity filters, -1021, -1022, -2010 (duplicate open client id "Duplicate order sent." on
spot, insufficient balance), -4116 (duplicate client id on futures), -2011 (cancel of an unknown
order), -2013 (query of an unknown order), -2019 (futures margin), -2022 (reduce-only).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets as _secrets
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from transports.errors import CmcError
from transports.venues.fake.core import FakeCore, FakeError

DEFAULT_RECV_WINDOW_MS = 5000
AHEAD_MS = 1000  #: a timestamp this far ahead of the server is refused (Binance's rule)

#: generic FakeError codes -> (HTTP status, Binance code, message) per market
_ERRORS: dict[str, tuple[int, int, str]] = {
    "unknown_symbol": (400, -1121, "Invalid symbol."),
    "unknown_market": (400, -1121, "Invalid symbol."),
    "bad_price": (400, -1013, "Filter failure: PRICE_FILTER"),
    "bad_qty": (400, -1013, "Filter failure: LOT_SIZE"),
    "insufficient_balance": (400, -2010, "Account has insufficient balance for requested action."),
    "reduce_only": (400, -2022, "ReduceOnly Order is rejected."),
}


class BinanceError(CmcError):
    """An error answer: HTTP ``status``, Binance ``code`` and ``msg`` (and ``Retry-After``)."""

    def __init__(self, status: int, code: int, msg: str, retry_after_s: int = 0) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status, self.code, self.msg, self.retry_after_s = status, code, msg, retry_after_s

    def response(self) -> web.Response:
        """The HTTP answer."""
        headers = {"Retry-After": str(self.retry_after_s)} if self.retry_after_s else None
        return web.json_response({"code": self.code, "msg": self.msg}, status=self.status,
                                 headers=headers)


def from_fake(exc: FakeError, market: str) -> BinanceError:
    """A core refusal as Binance words it."""
    if exc.code == "insufficient_balance" and market == "swap":
        return BinanceError(400, -2019, "Margin is insufficient.")
    status, code, msg = _ERRORS.get(exc.code, (400, -1013, exc.msg))
    return BinanceError(status, code, msg)


def throttled(retry_after_s: int) -> BinanceError:
    """The rate-limit answer (HTTP 429, -1003, ``Retry-After``)."""
    return BinanceError(429, -1003, "Too many requests; please use the websocket for live "
                        "updates to avoid bans.", max(1, retry_after_s))


UNKNOWN_OUTCOME = (503, -1007, "Timeout waiting for response from backend server. Send status "
                   "unknown; execution status unknown.")


def ccxt_urls(base_http: str, base_ws: str) -> dict[str, Any]:
    """ccxt's ``urls['api']`` pointing at a fake on ``base_http`` / ``base_ws`` (no slash at
    the end, e.g. ``http://127.0.0.1:8001`` and ``ws://127.0.0.1:8001``)."""
    h, w = base_http.rstrip("/"), base_ws.rstrip("/")
    urls: dict[str, Any] = {
        "public": f"{h}/api/v3", "private": f"{h}/api/v3", "v1": f"{h}/api/v1",
        "fapiPublic": f"{h}/fapi/v1", "fapiPublicV2": f"{h}/fapi/v2",
        "fapiPublicV3": f"{h}/fapi/v3", "fapiPrivate": f"{h}/fapi/v1",
        "fapiPrivateV2": f"{h}/fapi/v2", "fapiPrivateV3": f"{h}/fapi/v3",
        "fapiData": f"{h}/futures/data",
    }
    for name in ("sapi", "sapiV2", "sapiV3", "sapiV4", "dapiPublic", "dapiPrivate",
                 "dapiPrivateV2", "dapiData", "eapiPublic", "eapiPrivate", "papi", "papiV2"):
        urls[name] = f"{h}/unsupported/{name}"  # answered 404: not part of the fake
    urls["ws"] = {
        "spot": f"{w}/stream/ws", "margin": f"{w}/stream/ws",
        "linear": f"{w}/fstream/ws", "inverse": f"{w}/dstream/ws",
        "ws-api": {"spot": f"{w}/ws-api/v3", "linear": f"{w}/ws-fapi/v1",
                   "inverse": f"{w}/ws-dapi/v1"},
    }
    return urls


def ccxt_options() -> dict[str, Any]:
    """Options ccxt needs against the fake: only spot and linear markets, no currencies call
    (``sapi``), no margin pairs."""
    return {"fetchMarkets": {"types": ["spot", "linear"]}, "fetchCurrencies": False,
            "fetchMargins": False}


def num(d: Decimal | int, places: int = 8) -> str:
    """A decimal as Binance writes it: fixed ``places`` decimals."""
    return f"{Decimal(d):.{places}f}"


class BinanceFake:
    """Shared state of the Binance fake: the core, listen keys, update ids, formatting."""

    def __init__(self, core: FakeCore) -> None:
        self.core = core
        self.markets = {m.market for m in core.fake.markets}
        #: (venue, account, cl) of the reduce-only orders (the simulator does not keep it)
        self.reduce_only: set[tuple[str, str, str]] = set()
        self.listen_keys: dict[str, tuple[str, str]] = {}  # key -> (venue, account)
        self._uid: dict[tuple[str, str], tuple[int, int]] = {}  # (venue, sym) -> (offset, last)
        self.last_u: dict[tuple[str, str], int] = {}  # (venue, sym) -> last diff's update id
        self.trade_ids = itertools.count(1)

    # --- markets --------------------------------------------------------------------------------

    def venue(self, market: str) -> str:
        """The simulator venue of ``spot`` or ``swap``; -1121 if the fake serves none."""
        try:
            return self.core.venue_for(market)
        except FakeError as exc:
            raise from_fake(exc, market) from None

    def places(self, market: str, step: Decimal) -> int:
        """Decimals Binance prints: 8 on spot, the step's on futures."""
        return 8 if market == "spot" else max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]

    def px(self, venue: str, sym: str, ticks: int) -> str:
        """Ticks as the exchange price string."""
        tick = self.core.tick(venue, sym)
        return num(ticks * tick, self.places(self.core.market_of(venue), tick))

    def qty(self, venue: str, sym: str, lots: int) -> str:
        """Lots as the exchange quantity string."""
        step = self.core.step(venue, sym)
        return num(lots * step, self.places(self.core.market_of(venue), step))

    def update_id(self, venue: str, sym: str, seq: int, *, observe: bool = True) -> int:
        """The Binance update id of the book's ``seq``: strictly increasing; a restart of the
        simulator's seqs (fault ``md_reset``) jumps it, so clients see a gap and resync."""
        offset, last = self._uid.get((venue, sym), (0, 0))
        if observe:
            if seq <= last:
                offset += last + 1
            self._uid[(venue, sym)] = (offset, seq)
        return offset + seq

    # --- auth -----------------------------------------------------------------------------------

    def check_signed(self, key: str, params: list[tuple[str, str]], raw: str) -> str:
        """Verify a signed request of API ``key``; ``raw`` is the text that carried the
        parameters in order (query + body). Returns the account."""
        if not key:
            raise BinanceError(401, -2014, "API-key format invalid.")
        sig = ""
        signed = []
        for part in raw.split("&"):
            if part.startswith("signature="):
                sig = part[len("signature="):]
            elif part:
                signed.append(part)
        want = hmac.new(self.core.secret(key).encode(), "&".join(signed).encode(),
                        hashlib.sha256).hexdigest()
        if not sig or not hmac.compare_digest(sig.lower(), want):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        self.check_timestamp(dict(params))
        return key

    def check_params_signed(self, params: dict[str, Any]) -> str:
        """Verify WebSocket API parameters (``apiKey``, ``timestamp``, ``signature``, sorted
        ``k=v`` joined by ``&`` as the string signed). Returns the account."""
        key = str(params.get("apiKey", ""))
        items = sorted((k, v) for k, v in params.items() if k != "signature")
        raw = "&".join(f"{k}={_ws_value(v)}" for k, v in items)
        raw += f"&signature={params.get('signature', '')}"
        return self.check_signed(key, [(k, str(v)) for k, v in items], raw)

    def check_timestamp(self, params: dict[str, str]) -> None:
        """-1021 when ``timestamp`` is outside ``recvWindow`` of the fake's clock."""
        try:
            ts = int(params.get("timestamp", ""))
            window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW_MS))
        except ValueError:
            raise BinanceError(400, -1102, "Mandatory parameter 'timestamp' was not sent, was "
                               "empty/null, or malformed.") from None
        server_ms = self.core.server_ns() // 1_000_000
        if ts > server_ms + AHEAD_MS:
            raise BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the "
                               "server's time.")
        if server_ms - ts > window:
            raise BinanceError(400, -1021, "Timestamp for this request is outside of the "
                               "recvWindow.")

    def new_listen_key(self, venue: str, account: str) -> str:
        """A listen key for ``account``'s user data stream on ``venue`` (one per account, as
        Binance: asking again returns the same key)."""
        for k, v in self.listen_keys.items():
            if v == (venue, account):
                return k
        k = _secrets.token_urlsafe(48)[:60]
        self.listen_keys[k] = (venue, account)
        return k


def _ws_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def parse_form(text: str) -> list[tuple[str, str]]:
    """``a=1&b=2`` as pairs (percent-decoded)."""
    return parse_qsl(text, keep_blank_values=True)


def setup(app: web.Application, core: FakeCore) -> None:
    """Add the Binance fake's routes to ``app``."""
    from transports.venues.fake.binance import rest, ws

    bf = BinanceFake(core)
    rest.add_routes(app, bf)
    ws.add_routes(app, bf)


__all__ = ["BinanceError", "BinanceFake", "ccxt_options", "ccxt_urls", "setup"]
