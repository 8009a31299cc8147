"""Independent check, from the journal alone, that no decision used an unusable book.

A book is unusable from the moment the Feed invalidates it (``BookInvalid``, any reason) or the
Book rejects its data (``Resync`` to the Feed) until the Feed receives a fresh
snapshot for it (a ``snapshot`` frame on ref); a book flagged only for being quiet
(``book_stale``) is usable again at its next delta. Every ``ComboIntent`` is checked against
the state of each leg it prices (both legs and the FX rate).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors.journal import read_journal
from transports.config.engine import AppConfig


def decisions_on_unusable_book(journal: str | Path, cfg: AppConfig) -> dict[str, Any]:
    """Return ``{"decisions": n, "on_unusable_book": m, "examples": [...]}``."""
    pairs = {p.name: [k for k in (p.leg_a, p.leg_b, p.fx) if k] for p in cfg.pairs}
    bad: dict[str, str] = {}  # "venue:sym" -> reason it is unusable
    decisions = 0
    violations: list[dict[str, Any]] = []
    for ts, _group, dest, msg in read_journal(journal):
        if isinstance(msg, list) and msg:
            tag = msg[0]
            if tag == "BookInvalid" and dest.startswith("book."):
                bad[f"{msg[1]}:{msg[2]}"] = msg[3]
            elif tag == "Resync" and dest.startswith("feed."):
                bad[f"{dest[5:]}:{msg[1]}"] = "book_rejected"
            elif tag == "ComboIntent" and dest == "combo":
                decisions += 1
                legs = pairs.get(msg[2], [])
                unusable = {k: bad[k] for k in legs if k in bad}
                if unusable:
                    violations.append({"ts_ns": ts, "combo_id": msg[1], "legs": unusable})
        elif isinstance(msg, dict) and dest.startswith("feed."):
            key = f"{dest[5:]}:{msg.get('sym', '')}"
            if msg.get("t") == "snapshot" or (msg.get("t") == "delta"
                                              and bad.get(key) == "book_stale"):
                bad.pop(key, None)
    return {"decisions": decisions, "on_unusable_book": len(violations),
            "examples": violations[:5]}
