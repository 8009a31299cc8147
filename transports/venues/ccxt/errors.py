"""What an exchange error means for an order (pure): a definitive reject, an unknown outcome,
a throttle with its back-off, or a clock skew.

The protocol's ``reject`` is definitive ("the order never traded and never will"), so only an
answer that proves the request was refused becomes one. Anything that leaves the outcome open
(a timeout, a lost connection, a 5xx, Binance ``-1007`` "execution status unknown", OKX
``50004``) is ``unknown``: the gateway sends nothing and the engine queries. A rate limit
(HTTP 429/418, Binance ``-1003``/``-1015``, OKX ``50011``/``50061``, Bybit ``10006``) is the
definitive ``throttled`` with ``retry_ms`` from ``Retry-After``. A clock skew (Binance ``-1021``,
OKX ``50102``, Bybit ``10002``) is a definitive reject too, and tells the gateway to resync its
time offset.

The exchange's own error code decides first (ccxt maps some codes to different classes per
market, e.g. Binance ``-1007`` is ``RequestTimeout`` on spot and ``BadResponse`` on futures);
the ccxt exception class decides where the code is unknown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Literal

import ccxt
import msgspec

Kind = Literal["reject", "unknown", "throttled", "clock_skew", "not_found"]

DEFAULT_RETRY_MS = 1000  #: a throttle without ``Retry-After``
MAX_REASON = 200

# (exchange, code) -> (kind, protocol code)
_CODES: dict[tuple[str, str], tuple[Kind, str]] = {
    ("binance", "-1007"): ("unknown", ""),
    ("binance", "-1006"): ("unknown", ""),  # unexpected response from the message bus
    ("binance", "-1021"): ("clock_skew", "clock_skew"),
    ("binance", "-1003"): ("throttled", "throttled"),
    ("binance", "-1015"): ("throttled", "throttled"),
    ("binance", "-4116"): ("reject", "duplicate_cl"),
    ("binance", "-2013"): ("not_found", "unknown_order"),
    ("binance", "-2022"): ("reject", "reduce_only"),  # ReduceOnly Order is rejected.
    ("binance", "-2019"): ("reject", "insufficient_funds"),  # margin is insufficient
    ("binance", "-2011"): ("not_found", "unknown_order"),
    ("okx", "50004"): ("unknown", ""),
    ("okx", "50011"): ("throttled", "throttled"),
    ("okx", "50061"): ("throttled", "throttled"),
    ("okx", "50102"): ("clock_skew", "clock_skew"),
    ("okx", "51016"): ("reject", "duplicate_cl"),
    ("okx", "51400"): ("not_found", "unknown_order"),
    ("okx", "51401"): ("not_found", "not_open"),
    ("okx", "51402"): ("not_found", "not_open"),
    ("okx", "51603"): ("not_found", "unknown_order"),
    ("okx", "51169"): ("reject", "reduce_only"),  # no position in this direction to reduce
    ("okx", "51170"): ("reject", "reduce_only"),
    ("bybit", "10006"): ("throttled", "throttled"),
    ("bybit", "10018"): ("throttled", "throttled"),
    ("bybit", "10002"): ("clock_skew", "clock_skew"),
    ("bybit", "110072"): ("reject", "duplicate_cl"),
    ("bybit", "110001"): ("not_found", "unknown_order"),
    ("bybit", "10016"): ("unknown", ""),
    ("bybit", "110017"): ("reject", "reduce_only"),
}

# ccxt class -> protocol reject code (first match wins: subclasses before their bases)
_CLASSES: tuple[tuple[type[BaseException], str], ...] = (
    (ccxt.DuplicateOrderId, "duplicate_cl"),
    (ccxt.InsufficientFunds, "insufficient_funds"),
    (ccxt.BadSymbol, "unknown_symbol"),
    (ccxt.OrderImmediatelyFillable, "would_take"),
    (ccxt.OrderNotFillable, "not_fillable"),
    (ccxt.MarketClosed, "session_closed"),
    (ccxt.InvalidOrder, "invalid_order"),
    (ccxt.AuthenticationError, "auth"),
    (ccxt.BadRequest, "bad_request"),
    (ccxt.NotSupported, "unsupported"),
    (ccxt.OperationRejected, "exchange_reject"),
)

_DUPLICATE = re.compile(r"duplicate", re.IGNORECASE)


class Outcome(msgspec.Struct, frozen=True):
    """What an exchange error means for the request that raised it.

    ``kind``: ``reject`` (definitive; ``code`` is the protocol reject code), ``unknown`` (the
    outcome is open: send nothing, the engine queries), ``throttled`` (definitive, back off
    ``retry_ms``), ``clock_skew`` (definitive; resync the time offset), ``not_found`` (no such
    order: ``cancel_reject``/``unknown``). ``exchange_code`` is the exchange's own code, if any.
    """

    kind: Kind
    code: str
    reason: str
    retry_ms: int = 0
    exchange_code: str = ""


def exchange_code(exc: BaseException) -> tuple[str, str]:
    """The exchange's error code and message from a ccxt exception's text (ccxt puts the
    response body after the exchange id: ``"binance {"code":-1021,"msg":"..."}"``)."""
    text = str(exc)
    start = text.find("{")
    if start < 0:
        return "", ""
    try:
        body = json.loads(text[start:])
    except ValueError:
        m = re.search(r'"(?:code|sCode|retCode)"\s*:\s*"?(-?\d+)', text)
        return (m.group(1), "") if m else ("", "")
    if not isinstance(body, dict):
        return "", ""
    for item in body.get("data") or []:  # OKX: per-order codes inside data[]
        if isinstance(item, dict) and str(item.get("sCode", "0")) not in ("0", ""):
            return str(item["sCode"]), str(item.get("sMsg") or "")
    for key in ("code", "retCode"):  # Binance, OKX top level; Bybit
        code = body.get(key)
        if code is not None and str(code) not in ("0", ""):
            return str(code), str(body.get("msg") or body.get("retMsg") or "")
    return "", ""


def retry_after_ms(headers: Mapping[str, str] | None) -> int:
    """``Retry-After`` (seconds) in ms; 0 when absent or not a number (an HTTP date is left to
    the default)."""
    if not headers:
        return 0
    for k, v in headers.items():
        if k.lower() == "retry-after":
            try:
                return max(0, int(float(v) * 1000))
            except (TypeError, ValueError):
                return 0
    return 0


def classify(exc: BaseException, exchange: str, *, status: int | None = None,
             headers: Mapping[str, str] | None = None) -> Outcome:
    """The outcome of a request that raised ``exc`` on ``exchange``; ``status`` and
    ``headers`` are the HTTP response's, when the gateway saw one."""
    code, msg = exchange_code(exc)
    reason = (f"{type(exc).__name__}: {msg or exc}")[:MAX_REASON]
    hit = _CODES.get((exchange, code))
    if hit is None and exchange == "binance" and code == "-2010" and _DUPLICATE.search(msg):
        hit = ("reject", "duplicate_cl")  # Binance spot: "Duplicate order sent."
    throttled = (status in (418, 429)
                 or isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded)
                 or (hit is not None and hit[0] == "throttled"))
    if throttled:
        retry = retry_after_ms(headers) or DEFAULT_RETRY_MS
        return Outcome("throttled", "throttled", reason, retry, code)
    if hit is not None:
        kind, pcode = hit
        return Outcome(kind, pcode, reason, 0, code)
    if status is not None and status >= 500:
        return Outcome("unknown", "", reason, 0, code)
    if isinstance(exc, ccxt.InvalidNonce) and not isinstance(exc, ccxt.ChecksumError):
        return Outcome("clock_skew", "clock_skew", reason, 0, code)
    if isinstance(exc, ccxt.OrderNotFound):
        return Outcome("not_found", "unknown_order", reason, 0, code)
    if isinstance(exc, ccxt.OperationFailed):  # network, timeouts, bad responses: open
        return Outcome("unknown", "", reason, 0, code)
    for cls, pcode in _CLASSES:
        if isinstance(exc, cls):
            return Outcome("reject", pcode, reason, 0, code)
    if isinstance(exc, ccxt.ExchangeError) and status is not None and 400 <= status < 500:
        return Outcome("reject", "exchange_reject", reason, 0, code)
    # an unmapped error without a 4xx proving the refusal: the order may exist
    return Outcome("unknown", "", reason, 0, code)


def table() -> list[tuple[str, str, str]]:
    """(exchange, code, outcome) rows of the code table, for docs and tests."""
    return [(ex, code, f"{kind}{':' + pcode if pcode else ''}")
            for (ex, code), (kind, pcode) in sorted(_CODES.items())]


__all__ = ["DEFAULT_RETRY_MS", "Outcome", "classify", "exchange_code", "retry_after_ms", "table"]
