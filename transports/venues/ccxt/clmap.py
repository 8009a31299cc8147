"""The engine's client order id ``cl`` -> the exchange's client order id, and its durable map.

The engine's ids are ``[A-Za-z0-9._-]``, at most 32 characters (``"1.17.0.0"``). Where the
exchange takes them as they are (Binance: ``^[.A-Z:/a-z0-9_-]{1,36}$``) the id is used
unchanged. Where it does not (OKX ``clOrdId``: letters and digits only, at most 32; Bybit
``orderLinkId``: no ``.``), the id is rewritten by an injective escape: an allowed character
stays, the escape character doubles, and each other character becomes the escape character and
a code letter (OKX: ``1.17.0.0`` -> ``1Zd17Zd0Zd0``). An id whose escaped form is too long is
replaced by the escape character, ``h`` and a base-62 SHA-256 digest (a form the escape never
produces, so the two cannot collide).

Mapping is deterministic, so a second gateway (or a restart without its map) sends the same
exchange id, and the exchange's own duplicate check still applies. The map is nevertheless
appended to a JSONL file and fsynced BEFORE the order is sent (``ClMap.record``), with the
symbol, so that a restarted gateway answers ``query`` for an order it did not place and reads
reports of digest-mapped ids; identity-mapped ids need no entry.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from transports.errors import VenueError
from transports.venues.durable_lines import DurableLines

_ALNUM = frozenset(string.ascii_letters + string.digits)
_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
#: the engine's alphabet (docs/venue-protocol.md, section 2)
ENGINE_CHARS = _ALNUM | frozenset("._-")
_CODES = {".": "d", "_": "u", "-": "m"}
_DECODE = {v: k for k, v in _CODES.items()}
_HASHED = "h"  #: after the escape character: a digest follows (never an escape code)


@dataclass(frozen=True)
class IdRules:
    """What an exchange accepts as a client order id."""

    allowed: frozenset[str]
    max_len: int
    escape: str = ""  #: "" when every engine id is accepted as it is

    @property
    def identity(self) -> bool:
        """True when every engine id is a valid exchange id unchanged."""
        return not self.escape


RULES: dict[str, IdRules] = {
    "binance": IdRules(_ALNUM | frozenset(".:/_-"), 36),
    "okx": IdRules(_ALNUM, 32, "Z"),
    "bybit": IdRules(_ALNUM | frozenset("_-"), 36, "_"),
}


def _digest(cl: str, n: int) -> str:
    v = int.from_bytes(hashlib.sha256(cl.encode()).digest(), "big")
    out = []
    for _ in range(n):
        v, r = divmod(v, 62)
        out.append(_B62[r])
    return "".join(out)


def to_exchange(cl: str, rules: IdRules) -> str:
    """The exchange client id of engine id ``cl`` (deterministic, injective)."""
    if rules.identity:
        if len(cl) <= rules.max_len and all(c in rules.allowed for c in cl):
            return cl
        raise VenueError(f"client id {cl!r} is not valid on this exchange")
    esc = rules.escape
    out = []
    for c in cl:
        if c == esc:
            out.append(esc + esc)
        elif c in rules.allowed:
            out.append(c)
        elif c in _CODES:
            out.append(esc + _CODES[c])
        else:
            break
    else:
        xid = "".join(out)
        if 0 < len(xid) <= rules.max_len:
            return xid
    return esc + _HASHED + _digest(cl, rules.max_len - 2)


def from_exchange(xid: str, rules: IdRules) -> str | None:
    """The engine id whose exchange id is ``xid`` by the escape rule; ``None`` for a digest
    form or an id the rule cannot have produced (the durable map must answer those)."""
    if rules.identity:
        return xid
    esc, out, i = rules.escape, [], 0
    while i < len(xid):
        c = xid[i]
        if c != esc:
            out.append(c)
            i += 1
            continue
        nxt = xid[i + 1: i + 2]
        if nxt == esc:
            out.append(esc)
        elif nxt in _DECODE:
            out.append(_DECODE[nxt])
        else:
            return None
        i += 2
    return "".join(out)


class ClMap:
    """The durable engine-id <-> exchange-id map of one venue account (JSONL, append + fsync).

    ``record`` returns once the entry is on disk; the construction reads every entry, a torn
    last line (a crash mid-write: that order was never sent) cut off
    (``transports.venues.durable_lines``).
    """

    def __init__(self, path: str | Path, rules: IdRules) -> None:
        self.path = Path(path)
        self.rules = rules
        self.by_cl: dict[str, tuple[str, str]] = {}  # cl -> (exchange id, sym)
        self.by_xid: dict[str, str] = {}
        self.log = DurableLines(self.path, "clmap")
        for e in self.log.records():
            try:
                cl, xid, sym = str(e["cl"]), str(e["xid"]), str(e.get("sym", ""))
            except KeyError:
                logger.warning("clmap {}: a record without cl or xid skipped: {}", self.path, e)
                continue
            self.by_cl[cl] = (xid, sym)
            self.by_xid[xid] = cl

    def exchange_id(self, cl: str) -> str:
        """The exchange id for ``cl`` (from the map if recorded, else by the rule)."""
        hit = self.by_cl.get(cl)
        return hit[0] if hit is not None else to_exchange(cl, self.rules)

    def engine_id(self, xid: str) -> str | None:
        """The engine id of exchange id ``xid``, or ``None`` if it is none of ours."""
        if not xid:
            return None
        hit = self.by_xid.get(xid)
        if hit is not None:
            return hit
        cl = from_exchange(xid, self.rules)
        if cl is not None and to_exchange(cl, self.rules) == xid:
            return cl
        return None

    def symbol(self, cl: str) -> str:
        """The symbol recorded for ``cl`` ("" if unknown)."""
        hit = self.by_cl.get(cl)
        return hit[1] if hit is not None else ""

    def known(self, cl: str) -> bool:
        """True if an order with this ``cl`` was recorded (sent or about to be)."""
        return cl in self.by_cl

    def record(self, cl: str, xid: str, sym: str) -> None:
        """Append ``cl -> xid`` durably (fsync) before the order is sent."""
        self.log.append({"cl": cl, "xid": xid, "sym": sym})
        self.by_cl[cl] = (xid, sym)
        self.by_xid[xid] = cl

    def close(self) -> None:
        """Close the file (entries are already durable)."""
        self.log.close()


__all__ = ["ENGINE_CHARS", "RULES", "ClMap", "IdRules", "from_exchange", "to_exchange"]
