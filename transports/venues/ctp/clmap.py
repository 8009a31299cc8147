"""The durable map of engine client ids to CTP order keys.

An order is known to CTP by (FrontID, SessionID, OrderRef) within the session that sent it and
by (ExchangeID, OrderSysID) once the exchange accepted it. Each ``cl`` is written with its
session key (and the order's terms) and fsynced BEFORE ``ReqOrderInsert``, so after a crash or
a reconnect (new SessionID) the reports the private topic replays still find their ``cl``; the
OrderSysID is appended when known. One JSON object per line; a torn last line (a crash
mid-write: that order was never sent) is cut off at start (``transports.venues.durable_lines``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loguru import logger

from transports.venues.durable_lines import DurableLines


class ClMap:
    """Append-only JSONL: ``{"cl",...,"front","session","ref"}`` then ``{"cl","ex","sys"}``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.by_cl: dict[str, dict[str, Any]] = {}
        self.by_ref: dict[tuple[int, int, str], str] = {}
        self.by_sys: dict[tuple[str, str], str] = {}
        self.log = DurableLines(self.path, "ctp clmap")
        for rec in self.log.records():
            try:
                self._apply(rec)
            except (ValueError, KeyError, TypeError):
                self.log.bad_lines += 1
                logger.warning("ctp clmap {}: a record unreadable, skipped: {}", self.path, rec)

    def _apply(self, rec: dict[str, Any]) -> None:
        cl = rec["cl"]
        cur = self.by_cl.setdefault(cl, {})
        cur.update(rec)
        if "ref" in rec:
            self.by_ref[(int(rec["front"]), int(rec["session"]), str(rec["ref"]).strip())] = cl
        if rec.get("sys"):
            self.by_sys[(rec["ex"], str(rec["sys"]).strip())] = cl

    @property
    def bad_lines(self) -> int:
        """Lines or records that could not be read at start (logged, skipped)."""
        return self.log.bad_lines

    def _write(self, rec: dict[str, Any], sync: bool) -> None:
        self.log.append(rec, sync)
        self._apply(rec)

    def put_order(self, cl: str, front: int, session: int, ref: str, **terms: Any) -> None:
        """Record a new order's session key and terms, fsynced (call before sending it)."""
        self._write({"cl": cl, "front": front, "session": session, "ref": ref, **terms}, True)

    def put_sys(self, cl: str, exchange: str, sys_id: str) -> None:
        """Record the exchange's OrderSysID of ``cl`` (once)."""
        key = (exchange, sys_id.strip())
        if self.by_sys.get(key) != cl:
            self._write({"cl": cl, "ex": exchange, "sys": sys_id.strip()}, False)

    def cl_of_ref(self, front: int, session: int, ref: str) -> str | None:
        """The ``cl`` of an order key within a session."""
        return self.by_ref.get((front, session, ref.strip()))

    def cl_of_sys(self, exchange: str, sys_id: str) -> str | None:
        """The ``cl`` of an exchange order id."""
        return self.by_sys.get((exchange, sys_id.strip()))

    def max_ref(self, front: int, session: int) -> int:
        """The highest numeric OrderRef used in this session (0: none)."""
        refs = [int(r) for (f, s, r) in self.by_ref if f == front and s == session
                and r.isdigit()]
        return max(refs, default=0)

    def close(self) -> None:
        """Close the file."""
        try:
            self.log.close()
        except OSError as exc:
            logger.warning("clmap close: {!r}", exc)


__all__ = ["ClMap"]
