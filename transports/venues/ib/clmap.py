"""The durable map engine ``cl`` -> IB ``orderId``/``permId`` (JSONL, append + fsync).

IB takes the engine's ``cl`` unchanged as ``orderRef`` (any text), and reports carry it back
(``Order.orderRef``, ``Execution.orderRef``), so no rewriting is needed. The map still exists
because ``orderId`` is per API client and session and ``permId`` only becomes known after
TWS accepts the order: a restarted gateway must answer ``query``/``cancel`` for orders placed
by its predecessor. An entry is written and fsynced BEFORE ``placeOrder``; the ``permId`` is
appended when TWS reports it. A torn last line (crash mid-write) is cut off at start: that order
was never sent (``transports.venues.durable_lines``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from transports.venues.durable_lines import DurableLines


@dataclass
class Entry:
    """One order as placed: the engine's id, IB's ids, and what was asked."""

    cl: str
    order_id: int
    sym: str
    side: str = ""
    px: int = 0
    qty: int = 0
    tif: str = ""
    perm_id: int = 0


class ClMap:
    """cl <-> orderId/permId of one IB account, durable before each order is sent."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.by_cl: dict[str, Entry] = {}
        self.by_order: dict[int, str] = {}
        self.by_perm: dict[int, str] = {}
        self.log = DurableLines(self.path, "ib clmap")
        for e in self.log.records():
            try:
                cl = str(e["cl"])
                if "perm_id" in e and "order_id" not in e:
                    self._set_perm(cl, int(e["perm_id"]))
                    continue
                self._add(Entry(cl, int(e["order_id"]), str(e["sym"]), str(e.get("side", "")),
                                int(e.get("px", 0)), int(e.get("qty", 0)),
                                str(e.get("tif", ""))))
            except (ValueError, KeyError, TypeError):
                logger.warning("ib clmap {}: a record unreadable, skipped: {}", self.path, e)

    def _add(self, e: Entry) -> None:
        self.by_cl[e.cl] = e
        self.by_order[e.order_id] = e.cl

    def _set_perm(self, cl: str, perm_id: int) -> None:
        e = self.by_cl.get(cl)
        if e is not None and perm_id:
            e.perm_id = perm_id
            self.by_perm[perm_id] = cl

    def _append(self, obj: dict[str, object]) -> None:
        self.log.append(obj)

    def record(self, e: Entry) -> None:
        """Append the order durably (fsync); call before ``placeOrder``."""
        self._append({"cl": e.cl, "order_id": e.order_id, "sym": e.sym, "side": e.side,
                      "px": e.px, "qty": e.qty, "tif": e.tif})
        self._add(e)

    def record_perm(self, cl: str, perm_id: int) -> None:
        """Remember TWS's permanent id of ``cl`` (once)."""
        e = self.by_cl.get(cl)
        if e is None or not perm_id or e.perm_id == perm_id:
            return
        self._append({"cl": cl, "perm_id": perm_id})
        self._set_perm(cl, perm_id)

    def cl_of(self, order_ref: str, order_id: int = 0, perm_id: int = 0) -> str | None:
        """The engine id of an IB report: its ``orderRef`` when it is one of ours, else by
        ``permId`` or ``orderId``; ``None`` for an order that is not the engine's."""
        if order_ref in self.by_cl:
            return order_ref
        return self.by_perm.get(perm_id) or self.by_order.get(order_id)

    def close(self) -> None:
        """Close the file (entries are already durable)."""
        self.log.close()


__all__ = ["ClMap", "Entry"]
