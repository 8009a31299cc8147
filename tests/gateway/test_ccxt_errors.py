"""Exchange errors -> protocol outcomes, from the exceptions ccxt itself raises for the
exchanges' documented error responses."""

from __future__ import annotations

import json
from typing import Any

import ccxt
import pytest

from transports.venues.ccxt.errors import DEFAULT_RETRY_MS, classify, exchange_code, table


def raised(exchange: Any, status: int, body: dict[str, Any],
           headers: dict[str, str] | None = None) -> BaseException:
    """The exception ccxt raises for this HTTP response (its own error handling)."""
    text = json.dumps(body)
    try:
        exchange.handle_errors(status, "", "https://x/api", "POST", headers or {}, text, body,
                               {}, "")
        exchange.handle_http_status_code(status, "", "https://x/api", "POST", text)
    except ccxt.BaseError as exc:
        return exc
    raise AssertionError("ccxt raised nothing")


BINANCE = ccxt.binance()
OKX = ccxt.okx()


@pytest.mark.parametrize(("status", "body", "kind", "code"), [
    (400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."},
     "clock_skew", "clock_skew"),
    (408, {"code": -1007, "msg": "Timeout waiting for response from backend server. Send "
                                 "status unknown; execution status unknown."}, "unknown", ""),
    (400, {"code": -2010, "msg": "Duplicate order sent."}, "reject", "duplicate_cl"),
    (400, {"code": -2010, "msg": "Account has insufficient balance for requested action."},
     "reject", "insufficient_funds"),
    (400, {"code": -1121, "msg": "Invalid symbol."}, "reject", "unknown_symbol"),
    (400, {"code": -2013, "msg": "Order does not exist."}, "not_found", "unknown_order"),
    (429, {"code": -1003, "msg": "Too many requests."}, "throttled", "throttled"),
    (418, {"code": -1003, "msg": "IP banned until 1700000000000."}, "throttled", "throttled"),
    (503, {"code": -1001, "msg": "Internal error; unable to process your request."},
     "unknown", ""),
])
def test_binance_outcomes(status: int, body: dict[str, Any], kind: str, code: str) -> None:
    exc = raised(BINANCE, status, body)
    out = classify(exc, "binance", status=status, headers={"Retry-After": "7"})
    assert (out.kind, out.code) == (kind, code), repr(exc)
    if kind == "throttled":
        assert out.retry_ms == 7000
    if "{" in str(exc):  # ccxt quoted the body (a broad match quotes only the message)
        assert exchange_code(exc)[0] == str(body["code"])


def test_throttle_without_retry_after_gets_the_default() -> None:
    out = classify(raised(BINANCE, 429, {"code": -1003, "msg": "Too many requests."}),
                   "binance", status=429, headers={})
    assert (out.kind, out.retry_ms) == ("throttled", DEFAULT_RETRY_MS)
    assert classify(ccxt.RateLimitExceeded("binance x"), "binance").kind == "throttled"


@pytest.mark.parametrize(("body", "kind", "code"), [
    ({"code": "1", "msg": "", "data": [{"clOrdId": "1Zd2", "ordId": "", "sCode": "51016",
                                        "sMsg": "Duplicated clOrdId"}]}, "reject", "duplicate_cl"),
    ({"code": "1", "msg": "", "data": [{"sCode": "51008", "sMsg": "Order failed. Insufficient "
                                        "USDT balance in account."}]}, "reject",
     "insufficient_funds"),
    ({"code": "50011", "msg": "Rate limit reached.", "data": []}, "throttled", "throttled"),
    ({"code": "50102", "msg": "Timestamp request expired", "data": []}, "clock_skew",
     "clock_skew"),
    ({"code": "50004", "msg": "API endpoint request timeout", "data": []}, "unknown", ""),
    ({"code": "50013", "msg": "Systems are busy. Please try again later.", "data": []},
     "unknown", ""),
    ({"code": "1", "msg": "", "data": [{"sCode": "51603", "sMsg": "Order does not exist"}]},
     "not_found", "unknown_order"),
])
def test_okx_outcomes(body: dict[str, Any], kind: str, code: str) -> None:
    exc = raised(OKX, 200, body)
    out = classify(exc, "okx", status=200, headers={})
    assert (out.kind, out.code) == (kind, code), repr(exc)


def test_network_failures_are_unknown_never_rejects() -> None:
    for exc in (ccxt.RequestTimeout("binance POST https://x"),
                ccxt.ExchangeNotAvailable("okx POST https://x"),
                ccxt.NetworkError("closed"), ccxt.BadResponse("garbled"),
                ccxt.ExchangeError("okx something new")):  # no 4xx proving the refusal
        assert classify(exc, "binance").kind == "unknown", exc
    # an unmapped exchange error answered with a 4xx was refused
    assert classify(ccxt.ExchangeError("binance {}"), "binance", status=400).kind == "reject"


def test_the_code_table_is_documented() -> None:
    rows = table()
    assert ("binance", "-1007", "unknown") in rows
    assert ("binance", "-1021", "clock_skew:clock_skew") in rows
