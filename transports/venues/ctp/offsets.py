"""Protocol <-> CTP code mappings (pure): offsets, time-in-force, direction, order states and
error ids.

CTP codes are single characters (``THOST_FTDC_*`` constants of ``thosttraderapi``); they are
spelled here as literals so this module imports without the vendor library (and its locale).
"""

from __future__ import annotations

from typing import Literal

# --- order fields --------------------------------------------------------------------------

#: protocol offset -> CombOffsetFlag (first character); "" (a venue without offsets) opens
OFFSET_TO_CTP = {"open": "0", "": "0", "close": "1", "close_today": "3",
                 "close_yesterday": "4"}
#: CombOffsetFlag -> protocol offset ('2' ForceClose and '5' ForceOff are the broker's closes)
CTP_TO_OFFSET = {"0": "open", "1": "close", "2": "close", "3": "close_today",
                 "4": "close_yesterday", "5": "close", "6": "close"}
SIDE_TO_DIRECTION = {"B": "0", "S": "1"}  #: THOST_FTDC_D_Buy / _Sell
DIRECTION_TO_SIDE = {"0": "B", "1": "S"}
HEDGE_SPECULATION = "1"
PRICE_LIMIT = "2"  #: THOST_FTDC_OPT_LimitPrice
TC_IOC, TC_GFD = "1", "3"  #: THOST_FTDC_TC_*
VC_ANY, VC_COMPLETE = "1", "3"  #: THOST_FTDC_VC_AV / _CV
CONTINGENT_IMMEDIATELY = "1"
FORCE_CLOSE_NOT = "0"
ACTION_DELETE = "0"  #: THOST_FTDC_AF_Delete
#: exchanges where closing today's lots is its own offset ('3'; '1' closes yesterday's)
CLOSE_TODAY_EXCHANGES = frozenset({"SHFE", "INE"})


def tif_to_ctp(tif: str) -> tuple[str, str]:
    """Protocol tif -> (TimeCondition, VolumeCondition): IOC = FAK (IOC + any volume), FOK =
    IOC + complete volume, GTC = good for the day (CTP has no GTC: GFD orders end with the
    trading day and arrive as canceled, ``done`` ``expired``)."""
    if tif == "IOC":
        return TC_IOC, VC_ANY
    if tif == "FOK":
        return TC_IOC, VC_COMPLETE
    return TC_GFD, VC_ANY


def ctp_to_tif(time_condition: str, volume_condition: str) -> str:
    """(TimeCondition, VolumeCondition) -> protocol tif."""
    if time_condition == TC_IOC:
        return "FOK" if volume_condition == VC_COMPLETE else "IOC"
    return "GTC"


# --- order states --------------------------------------------------------------------------

State = Literal["new", "partial", "filled", "canceled", "expired", "rejected", "unknown"]

OS_ALL_TRADED = "0"
OS_PART_QUEUEING, OS_PART_NOT_QUEUEING = "1", "2"
OS_NO_TRADE_QUEUEING, OS_NO_TRADE_NOT_QUEUEING = "3", "4"
OS_CANCELED = "5"
OS_UNKNOWN = "a"  #: accepted by the CTP front, not yet by the exchange
SS_INSERT_REJECTED = "4"  #: THOST_FTDC_OSS_InsertRejected
SS_CANCEL_REJECTED = "5"


def order_state(status: str, submit_status: str, traded: int, tif: str) -> State:
    """A CTP order's (OrderStatus, OrderSubmitStatus) -> protocol state.

    Canceled with InsertRejected is a reject (the exchange refused it, nothing traded);
    canceled IOC/FOK remainders are ``expired`` (the venue ended them), a canceled GTC
    (= GFD) is ``canceled``."""
    if status == OS_ALL_TRADED:
        return "filled"
    if status == OS_CANCELED:
        if submit_status == SS_INSERT_REJECTED and traded == 0:
            return "rejected"
        return "expired" if tif in ("IOC", "FOK") else "canceled"
    if status in (OS_PART_QUEUEING, OS_PART_NOT_QUEUEING):
        return "partial"
    if status in (OS_NO_TRADE_QUEUEING, OS_NO_TRADE_NOT_QUEUEING, OS_UNKNOWN):
        return "partial" if traded > 0 else "new"
    return "unknown"


def is_final(state: str) -> bool:
    """Whether the order is closed."""
    return state in ("filled", "canceled", "expired", "rejected")


# --- errors --------------------------------------------------------------------------------

Kind = Literal["reject", "unknown", "throttled", "not_found"]

#: CTP ErrorID (error.xml) -> (kind, protocol code). Every CTP ErrorID on an order insert is a
#: refusal (the order never reached the book), so an unlisted id is a reject with code
#: ``ctp_<id>``; only the listed ones are more specific.
ERRORS: dict[int, tuple[Kind, str]] = {
    3: ("reject", "not_logged_in"),  # INVALID_LOGIN
    6: ("reject", "not_logged_in"),  # NOT_LOGIN_YET
    7: ("reject", "session_down"),  # NOT_INITED
    8: ("reject", "session_down"),  # FRONT_NOT_ACTIVE
    15: ("reject", "bad_field"),  # BAD_FIELD
    16: ("reject", "unknown_symbol"),  # INSTRUMENT_NOT_FOUND
    17: ("reject", "not_trading"),  # INSTRUMENT_NOT_TRADING
    22: ("reject", "duplicate_cl"),  # DUPLICATE_ORDER_REF
    25: ("not_found", "unknown_order"),  # ORDER_NOT_FOUND (an action)
    26: ("not_found", "not_open"),  # UNSUITABLE_ORDER_STATUS (cancel of a closed order)
    29: ("reject", "close_only"),  # CLOSE_ONLY
    30: ("reject", "over_close"),  # OVER_CLOSE_POSITION
    31: ("reject", "insufficient_funds"),  # INSUFFICIENT_MONEY
    42: ("reject", "settlement_unconfirmed"),  # SETTLEMENT_INFO_NOT_CONFIRMED
    50: ("reject", "over_close_today"),  # OVER_CLOSETODAY_POSITION
    51: ("reject", "over_close_yesterday"),  # OVER_CLOSEYESTERDAY_POSITION
    90: ("throttled", "throttled"),  # query not ready / too frequent: retry later
}
THROTTLE_RETRY_MS = 1000  #: CTP's flow control is per second


def classify(error_id: int) -> tuple[Kind, str]:
    """ErrorID of an ``OnRspOrderInsert``/``OnErrRtnOrderInsert``/action -> (kind, code)."""
    return ERRORS.get(error_id, ("reject", f"ctp_{error_id}"))


def classify_req_return(rc: int) -> tuple[Kind, str] | None:
    """The return value of a ``Req*`` call: 0 sent; -1 the network failed (the request may or
    may not have left: unknown); -2 too many requests in flight, -3 too many per second: the
    request was NOT sent (throttled, definitive)."""
    if rc == 0:
        return None
    if rc in (-2, -3):
        return "throttled", "throttled"
    return "unknown", ""


__all__ = ["CLOSE_TODAY_EXCHANGES", "CTP_TO_OFFSET", "DIRECTION_TO_SIDE", "ERRORS",
           "OFFSET_TO_CTP", "SIDE_TO_DIRECTION", "classify", "classify_req_return",
           "ctp_to_tif", "is_final", "order_state", "tif_to_ctp"]
