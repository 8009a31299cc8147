"""``cmc audit verify``: check every CRC, the hash chain across segments, and the intent WALs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transports.errors import CmcError
from transports.journal.format import T_BATCH, T_INTENT, T_SEAL, FormatError, decode_batch_raw
from transports.journal.intent_wal import read_intents
from transports.journal.reader import JournalReader
from transports.journal.writer import JournalCorrupt, base_path


def verify_journal(path: str | Path) -> dict[str, Any]:
    """Return counts and the head hash, or the first bad record (``ok`` False)."""
    reader = JournalReader(path)
    counts = {"records": 0, "batches": 0, "items": 0, "seals": 0, "intents": 0}
    first_ts = last_ts = 0
    out: dict[str, Any] = {"journal": str(base_path(path)), "ok": True, "first_bad": None}
    try:
        for frame in reader:
            counts["records"] += 1
            if frame.rtype == T_BATCH:
                ts, _g, items = decode_batch_raw(frame.body)
                counts["batches"] += 1
                counts["items"] += len(items)
                first_ts = first_ts or ts
                last_ts = max(last_ts, ts)
            elif frame.rtype == T_SEAL:
                counts["seals"] += 1
            elif frame.rtype == T_INTENT:
                counts["intents"] += 1
    except JournalCorrupt as exc:
        out["ok"] = False
        out["first_bad"] = {
            "file": exc.path,
            "offset": exc.bad.offset,
            "record": exc.bad.index,
            "reason": exc.bad.reason,
        }
    except FormatError as exc:
        out["ok"] = False
        out["first_bad"] = {"file": str(path), "offset": 0, "record": 0, "reason": str(exc)}
    meta = reader.metas[0] if reader.metas else None
    torn = reader.torn_tail
    out.update(counts)
    out.update(
        {
            "segments": [str(p) for p in reader.paths],
            "bytes": reader.bytes,
            "run_id": meta.run_id if meta else "",
            "config_hash": meta.config_hash if meta else "",
            "head_hash": reader.head_hash.hex() if out["ok"] else "",
            "closed_cleanly": bool(reader.seals)
            and reader.seals[-1].get("reason") == "close"
            and torn is None,
            "torn_tail": None
            if torn is None
            else {
                "file": torn[0],
                "offset": torn[1].offset,
                "record": torn[1].index,
                "bytes": torn[2],
                "reason": torn[1].reason,
            },
            "first_ts_ns": first_ts,
            "last_ts_ns": last_ts,
            "intent_wals": _verify_wals(path),
        }
    )
    # every order intent the run made durable: the journal's own intent records and the intent
    # WALs' (``journal_intents`` is the first part alone)
    out["journal_intents"] = counts["intents"]
    out["intents"] = counts["intents"] + sum(w["intents"] for w in out["intent_wals"])
    if any(not w["ok"] for w in out["intent_wals"]):
        out["ok"] = False
        if out["first_bad"] is None:
            bad = next(w for w in out["intent_wals"] if not w["ok"])
            out["first_bad"] = bad["first_bad"]
    return out


def _verify_wals(path: str | Path) -> list[dict[str, Any]]:
    res = []
    for p in sorted(base_path(path).parent.glob("intents-*.cmcw")):
        n = 0
        try:
            for _ in read_intents(p):
                n += 1
            res.append({"file": str(p), "ok": True, "intents": n, "first_bad": None})
        except JournalCorrupt as exc:
            res.append(
                {
                    "file": str(p),
                    "ok": False,
                    "intents": n,
                    "first_bad": {
                        "file": exc.path,
                        "offset": exc.bad.offset,
                        "record": exc.bad.index,
                        "reason": exc.bad.reason,
                    },
                }
            )
        except (FormatError, CmcError) as exc:
            res.append(
                {
                    "file": str(p),
                    "ok": False,
                    "intents": n,
                    "first_bad": {"file": str(p), "offset": 0, "record": 0, "reason": str(exc)},
                }
            )
    return res


def format_verify(r: dict[str, Any]) -> str:
    """Return the verification as readable text."""
    if not r["ok"]:
        b = r["first_bad"]
        return (
            f"BAD: {b['file']}: record {b['record']} at offset {b['offset']}: {b['reason']}"
            f"\n  ({r['records']} good records before it)"
        )
    lines: list[str] = [
        f"OK: {r['journal']}  run {r['run_id']}  config {r['config_hash']}",
        f"  segments {len(r['segments'])}  records {r['records']}  batches {r['batches']}  "
        f"items {r['items']}  seals {r['seals']}  bytes {r['bytes']}",
        f"  head hash {r['head_hash']}  closed cleanly {r['closed_cleanly']}",
        f"  intents {r['intents']} (journal {r['journal_intents']}, intent WALs "
        f"{r['intents'] - r['journal_intents']})",
    ]
    if r["torn_tail"]:
        t = r["torn_tail"]
        lines.append(
            f"  torn tail: {t['bytes']} bytes at offset {t['offset']} of {t['file']} "
            f"({t['reason']}); cut when the journal is next opened for append"
        )
    lines += [f"  intent WAL {w['file']}: {w['intents']} intents" for w in r["intent_wals"]]
    return "\n".join(lines)


__all__ = ["format_verify", "verify_journal"]
