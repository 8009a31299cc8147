"""``cmc audit export``: the audit tables as CSV or Parquet files, one file per table."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from scripts.audit.extract import TABLES, JournalIndex
from transports.errors import CmcError

#: column order per table (also the header of an empty table)
COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": (
        "record",
        "ts_ns",
        "venue",
        "cl",
        "combo_id",
        "leg",
        "attempt",
        "purpose",
        "sym",
        "side",
        "px",
        "qty",
        "tif",
        "ack_ts_ns",
        "venue_ack_ts_ns",
        "state",
        "cum_qty",
        "avg_px",
        "done_ts_ns",
        "reject_reason",
    ),
    "fills": (
        "record",
        "ts_ns",
        "venue_ts_ns",
        "venue",
        "cl",
        "oid",
        "tid",
        "combo_id",
        "leg",
        "attempt",
        "sym",
        "side",
        "px",
        "qty",
        "fee",
        "liq",
        "source",
    ),
    "combos": (
        "record",
        "ts_ns",
        "combo_id",
        "pair",
        "action",
        "direction",
        "spread",
        "mean",
        "z",
        "edge",
        "cost",
        "residual_base",
        "ts_event_ns",
        "ts_recv_ns",
        "ts_book_ns",
        "ts_signal_ns",
        "legs",
        "final_state",
        "filled_a_lots",
        "filled_b_lots",
        "residual_final",
        "end_ts_ns",
        "repair_steps",
    ),
    "risk_events": ("record", "ts_ns", "state", "reason"),
    "feed_health": (
        "record",
        "ts_ns",
        "venue",
        "state",
        "gaps",
        "resyncs",
        "duplicates",
        "rejects",
        "last_hb_ns",
    ),
    "book_events": ("record", "ts_ns", "venue", "sym", "reason"),
    "decisions": ("record", "ts_ns", "actor", "what", "detail"),
}


def _write_csv(path: Path, cols: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _write_parquet(path: Path, cols: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({c: [r.get(c) for r in rows] for c in cols})
    pq.write_table(table, path)


def export_tables(idx: JournalIndex, out_dir: str | Path, fmt: str) -> dict[str, int]:
    """Write every table to ``out_dir/<table>.<csv|parquet>``; return table -> rows written."""
    if fmt not in ("csv", "parquet"):
        raise CmcError(f"--format: {fmt!r} is not csv or parquet")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise CmcError(
                "--format parquet needs pyarrow: pip install "
                "'cross-market-connect[parquet]' (or pip install pyarrow)"
            ) from None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in TABLES:
        rows = idx.table(name)
        cols = COLUMNS[name]
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            _write_csv(path, cols, rows)
        else:
            _write_parquet(path, cols, rows)
        counts[name] = len(rows)
    return counts


__all__ = ["COLUMNS", "export_tables"]
