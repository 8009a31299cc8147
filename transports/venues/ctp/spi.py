"""The SPI subclasses: the CTP API thread calls them; each callback copies its fields (CTP
reuses the structures after the callback returns) and hands the event to the protocol loop
through ``post`` (thread-safe)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from openctp_ctp import thostmduserapi as mdapi
from openctp_ctp import thosttraderapi as tdapi

Post = Callable[[str, tuple[Any, ...]], None]


def copy_field(f: Any) -> Any:
    """A plain copy of a CTP field's values (None stays None)."""
    if f is None:
        return None
    return SimpleNamespace(**{k: getattr(f, k) for k in dir(f)
                              if not k.startswith("_") and k not in ("this", "thisown")
                              and not callable(getattr(f, k))})


def _err(info: Any) -> tuple[int, str]:
    return (0, "") if info is None else (int(info.ErrorID), str(info.ErrorMsg))


class TdSpi(tdapi.CThostFtdcTraderSpi):
    """Trader callbacks -> ``post(name, args)``."""

    def __init__(self, post: Post) -> None:
        super().__init__()
        self.post = post

    def OnFrontConnected(self) -> None:
        self.post("td_connected", ())

    def OnFrontDisconnected(self, nReason: int) -> None:
        self.post("td_disconnected", (int(nReason),))

    def _rsp(self, name: str, f: Any, info: Any, last: bool) -> None:
        self.post(name, (copy_field(f), *_err(info), bool(last)))

    def OnRspAuthenticate(self, f: Any, info: Any, rid: int, last: bool) -> None:
        self._rsp("authenticated", f, info, last)

    def OnRspUserLogin(self, f: Any, info: Any, rid: int, last: bool) -> None:
        self._rsp("td_login", f, info, last)

    def OnRspSettlementInfoConfirm(self, f: Any, info: Any, rid: int,
                                   last: bool) -> None:
        self._rsp("settlement_confirmed", f, info, last)

    def OnRspQryInstrument(self, f: Any, info: Any, rid: int, last: bool) -> None:
        self._rsp("instrument", f, info, last)

    def OnRspQryInvestorPosition(self, f: Any, info: Any, rid: int,
                                 last: bool) -> None:
        self._rsp("position", f, info, last)

    def OnRspQryTradingAccount(self, f: Any, info: Any, rid: int,
                               last: bool) -> None:
        self._rsp("account", f, info, last)

    def OnRspQryInstrumentCommissionRate(self, f: Any, info: Any, rid: int,
                                         last: bool) -> None:
        self._rsp("commission", f, info, last)

    def OnRspQryInstrumentMarginRate(self, f: Any, info: Any, rid: int, last: bool) -> None:
        self._rsp("margin", f, info, last)

    def OnRspOrderInsert(self, f: Any, info: Any, rid: int, last: bool) -> None:
        self._rsp("insert_error", f, info, last)

    def OnErrRtnOrderInsert(self, f: Any, info: Any) -> None:
        self._rsp("insert_error", f, info, True)

    def OnRspOrderAction(self, f: Any, info: Any, rid: int, last: bool) -> None:
        self._rsp("action_error", f, info, last)

    def OnErrRtnOrderAction(self, f: Any, info: Any) -> None:
        self._rsp("action_error", f, info, True)

    def OnRtnOrder(self, f: Any) -> None:
        self.post("order", (copy_field(f),))

    def OnRtnTrade(self, f: Any) -> None:
        self.post("trade", (copy_field(f),))

    def OnRtnInstrumentStatus(self, f: Any) -> None:
        self.post("instrument_status", (copy_field(f),))

    def OnRspError(self, info: Any, rid: int, last: bool) -> None:
        self.post("rsp_error", (*_err(info), int(rid)))


class MdSpi(mdapi.CThostFtdcMdSpi):
    """Market-data callbacks -> ``post(name, args)``."""

    def __init__(self, post: Post) -> None:
        super().__init__()
        self.post = post

    def OnFrontConnected(self) -> None:
        self.post("md_connected", ())

    def OnFrontDisconnected(self, nReason: int) -> None:
        self.post("md_disconnected", (int(nReason),))

    def OnRspUserLogin(self, f: Any, info: Any, rid: int, last: bool) -> None:
        self.post("md_login", (copy_field(f), *_err(info), bool(last)))

    def OnRtnDepthMarketData(self, f: Any) -> None:
        self.post("depth", (copy_field(f),))


__all__ = ["MdSpi", "TdSpi", "copy_field"]
