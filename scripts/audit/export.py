"""``cmc audit export``: the audit tables as CSV or Parquet files, one file per table.

Prices are journaled in ticks (``px``, ``avg_px``); beside each the export writes the price in
the contract's price unit (``price`` = ticks x tick, in ``price_unit``, e.g. CNY/g), and beside
each fill's fee its currency (``fee_ccy``: the venue's when it named one, else the contract's).
The units come from the run's ``config.json`` beside the journal; without it they are empty.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from scripts.audit.extract import TABLES, JournalIndex, load_config_map
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
        "price",
        "price_unit",
        "qty",
        "tif",
        "ack_ts_ns",
        "venue_ack_ts_ns",
        "state",
        "cum_qty",
        "avg_px",
        "avg_price",
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
        "price",
        "price_unit",
        "qty",
        "fee",
        "fee_ccy",
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
        "spread_unit",
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


def with_units(name: str, rows: list[dict[str, Any]], cfg: Any) -> list[dict[str, Any]]:
    """``rows`` of table ``name`` with their price columns in price units and their fee
    currency (new dicts; a row whose contract the config lacks gets empty ones)."""
    from scripts.report.units import (
        cfg_get,
        contracts_by_key,
        price_of,
        price_unit,
        spread_unit,
    )

    if not cfg:
        return rows
    contracts = contracts_by_key(cfg)
    if name in ("orders", "fills"):
        out = []
        for r in rows:
            c = contracts.get((r.get("venue"), r.get("sym")))
            # None, not "": a Parquet column holds one type (CSV writes None as empty)
            extra: dict[str, Any] = {"price": None, "price_unit": None}
            if c is not None:
                extra = {"price": price_of(int(r["px"]), c), "price_unit": price_unit(c)}
                if name == "orders":
                    extra["avg_price"] = price_of(float(r["avg_px"]), c) if r["cum_qty"] else None
                else:
                    extra["fee_ccy"] = r.get("fee_ccy") or cfg_get(c, "ccy", "")
            out.append({**r, **extra})
        return out
    if name == "combos":
        pairs = {cfg_get(p, "name"): p for p in cfg_get(cfg, "pairs") or []}
        # a multi-venue pair's combos are named by route: "<pair>/<i>-<j>"
        return [{**r, "spread_unit": spread_unit(cfg, pairs[name])
                 if (name := r["pair"].split("/")[0]) in pairs else None} for r in rows]
    return rows


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


def export_tables(
    idx: JournalIndex, out_dir: str | Path, fmt: str, cfg: Any = None
) -> dict[str, int]:
    """Write every table to ``out_dir/<table>.<csv|parquet>``; return table -> rows written.

    ``cfg`` (an ``AppConfig`` or the ``config.json`` map) gives the price units; None: the
    ``config.json`` beside the journal the index was read from."""
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
    if cfg is None and idx.journal:
        try:
            cfg = load_config_map(idx.journal)
        except (OSError, ValueError):  # no readable config.json beside it: no units
            cfg = None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in TABLES:
        rows = with_units(name, idx.table(name), cfg)
        cols = COLUMNS[name]
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            _write_csv(path, cols, rows)
        else:
            _write_parquet(path, cols, rows)
        counts[name] = len(rows)
    return counts


__all__ = ["COLUMNS", "export_tables", "with_units"]
