"""CTP's instrument (trading) status as the protocol's session ``status``.

The trader front reports every change of an exchange's trading phase with
``OnRtnInstrumentStatus``; most exchanges report it per *product* (``InstrumentID`` "au" for
every gold contract), some per contract, so a report applies to each served symbol that is the
instrument or belongs to that product (the symbol's leading letters). The phases map to the
protocol's states (docs/venue-protocol.md, ``status``): continuous trading is ``open``; the
call auction phases are ``auction``; ``NoTrading`` (a scheduled break, or a halt the exchange
declares) is ``break``; before the open, closed and settlement processing are ``closed``. The
engine opens positions only on legs whose last state is ``open``, so an unscheduled halt the
calendar cannot know stops new exposure on that leg. A change is published once on
``md.<sym>``; a new subscription is answered with the current states it covers (``status_for``).
"""

from __future__ import annotations

import re
from typing import Any

from loguru import logger

from transports.wire.venue_msgs import MdStatus, md_topic

#: CTP ``InstrumentStatus`` (THOST_FTDC_IS_*) -> the protocol's session state
CTP_STATES = {
    "0": "closed",  # BeforeTrading
    "1": "break",  # NoTrading: a break or a declared halt
    "2": "open",  # Continous
    "3": "auction",  # AuctionOrdering
    "4": "auction",  # AuctionBalance
    "5": "auction",  # AuctionMatch
    "6": "closed",  # Closed
    "7": "closed",  # TransactionProcessing (settlement)
}
_PRODUCT = re.compile(r"[A-Za-z]+")


def product_of(sym: str) -> str:
    """A CTP contract's product: its leading letters ("au2612" -> "au", "SR701" -> "SR")."""
    m = _PRODUCT.match(sym)
    return m.group(0) if m else ""


class SessionStates:
    """The last session state of each served symbol, from CTP's instrument status reports."""

    def __init__(self) -> None:
        self.state: dict[str, str] = {}  #: sym -> last state published (absent: none yet)
        self.unknown = 0  #: reports with a status this mapping does not know (logged)

    def on_status(self, row: Any, symbols: list[str], now_ns: int) -> list[tuple[str, MdStatus]]:
        """The ``status`` messages one ``CThostFtdcInstrumentStatusField`` causes: one per
        served symbol it covers whose state changed."""
        iid = str(row.InstrumentID).strip()
        code = str(row.InstrumentStatus)
        st = CTP_STATES.get(code)
        if st is None:
            self.unknown += 1
            logger.warning("ctp: instrument status {!r} of {} not known; ignored", code, iid)
            return []
        out = []
        for sym in symbols:
            if (sym == iid or product_of(sym) == iid) and self.state.get(sym) != st:
                self.state[sym] = st
                out.append((md_topic(sym), MdStatus(sym=sym, ts=now_ns, state=st)))  # type: ignore[arg-type]
        return out

    def status_for(self, prefix: str, now_ns: int) -> list[tuple[str, MdStatus]]:
        """The current ``status`` of every symbol whose topic starts with ``prefix`` and whose
        state CTP reported (a new subscription's answer)."""
        return [(md_topic(s), MdStatus(sym=s, ts=now_ns, state=st))  # type: ignore[arg-type]
                for s, st in self.state.items() if md_topic(s).startswith(prefix)]


__all__ = ["CTP_STATES", "SessionStates", "product_of"]
