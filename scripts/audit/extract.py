"""One pass over a journal into audit tables: orders, fills, combos, risk events, feed health.

Counting rules (what "the journal's count" of each table is):

- ``orders``: one row per ``NewOrder`` frame an actor sent to a venue (``leg.<v>@oe`` items);
- ``fills``: one row per distinct venue trade of one of the run's orders, as the LegExecutor
  counts them (``actors.leg.reports``/``actors.leg.reconciler``): a ``fill`` frame, a fill
  listed in a query's ``OrderStatus`` or in a reconciliation's ``Trades`` reply, each trade id
  once per venue (a venue's repeated fill report is one trade); ``source`` says which report
  brought it first. An order's ``cum_qty``/``avg_px`` come from these rows, and its state from
  the venue's ``done``/``reject``/status answers and the executor's own definitive rejects
  (``inferred`` after the venue's "not found" answers, a local reject);
- ``combos``: one row per ``ComboIntent`` delivered to ``combo``;
- ``risk_events``: one row per distinct ``TradingState`` message (it is delivered to several
  executors, each delivery journaled);
- ``feed_health``: one row per ``FeedHealth`` delivery;
- ``book_events``: one row per ``BookInvalid`` delivery (gaps, resyncs, bad data);
- ``decisions``: one row per ``Decision`` (repairs, alarms, handler errors).

The orders and fills rules (an order's state and fills from the venue's reports, each trade
once) are ``scripts.audit.extract_orders.OrderTables``, a helper the index holds; ``cl_parts``
is re-exported from there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from scripts.audit.extract_orders import OrderTables, cl_parts, venue_of
from transports.journal.format import T_BATCH, decode_batch_raw, decode_item
from transports.journal.reader import JournalReader
from transports.journal.writer import base_path
from transports.wire.messages import (
    BookInvalid,
    CancelLeg,
    ComboIntent,
    ComboState,
    Decision,
    ExecReport,
    FeedHealth,
    Flatten,
    Halt,
    LegOrder,
    Reduce,
    Restart,
    Resume,
    SessionStatus,
    SetParams,
    Start,
    Stop,
    TradingState,
)
from transports.wire.venue_msgs import CancelReq, Delta, Heartbeat, NewOrder

#: Operator and launcher commands, journaled where they arrive (``@group``): the controls table
OPERATOR_CONTROL = frozenset({Halt, Reduce, Resume, Flatten, SetParams})

TABLES = ("orders", "fills", "combos", "risk_events", "feed_health", "book_events", "decisions")


class JournalIndex:
    """Audit tables plus per-combo event lists and market-data receive times.

    The ``orders`` and ``fills`` tables are kept by ``self.order_tables``
    (``scripts.audit.extract_orders.OrderTables``); this class routes every item and keeps the
    rest."""

    def __init__(self) -> None:
        self.combos: list[dict[str, Any]] = []
        self.risk_events: list[dict[str, Any]] = []
        self.feed_health: list[dict[str, Any]] = []
        self.book_events: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self.controls: list[dict[str, Any]] = []
        #: the hosts' lifecycle markers: Start/Stop of each actor, the supervisor's Restarts
        self.lifecycle: list[dict[str, Any]] = []
        self.events: dict[int, list[dict[str, Any]]] = {}  #: combo id -> its events, in order
        self.md: dict[str, list[tuple[int, int]]] = {}  #: venue -> (recv ts, venue ts)
        self.items = 0
        #: the journal this index was read from ("" when built item by item): its run's config
        #: (``config.json`` beside it) gives the tables' units (``scripts.audit.export``)
        self.journal = ""
        self.first_ts = 0
        self.last_ts = 0
        self._combo_by_id: dict[int, dict[str, Any]] = {}
        self._seen: set[bytes] = set()
        #: the ``orders`` and ``fills`` tables; their rules add to this index's ``events``
        self.order_tables = OrderTables(note=self._event)

    @property
    def orders(self) -> list[dict[str, Any]]:
        """The ``orders`` table (``OrderTables.orders``)."""
        return self.order_tables.orders

    @property
    def fills(self) -> list[dict[str, Any]]:
        """The ``fills`` table (``OrderTables.fills``)."""
        return self.order_tables.fills

    def table(self, name: str) -> list[dict[str, Any]]:
        """Return one of ``TABLES``."""
        return getattr(self, name)  # type: ignore[no-any-return]

    def _event(self, combo_id: int, rec: int, ts: int, kind: str, **kw: Any) -> None:
        self.events.setdefault(combo_id, []).append(
            {"record": rec, "ts_ns": ts, "kind": kind, **kw}
        )

    def _once(self, raw: Any) -> bool:
        b = bytes(raw)
        if b in self._seen:
            return False
        self._seen.add(b)
        return True

    def add(self, rec: int, ts: int, src: str, dest: str, raw: Any) -> None:
        """Index one journaled item."""
        msg = decode_item(src, dest, raw)
        t = type(msg)
        if t is Delta or t is Heartbeat:
            self.md.setdefault(venue_of(dest), []).append((ts, msg.ts))
            return
        if t is NewOrder:
            self.order_tables.new_order(rec, ts, dest, msg)
        elif src == "@oe":
            self.order_tables.venue_report(rec, ts, dest, msg)
        elif t is CancelReq:
            o = self.order_tables.order(msg.cl)
            if o is not None:
                self._event(o["combo_id"], rec, ts, "cancel_sent", cl=msg.cl)
        elif t is ComboIntent and dest == "combo":
            self._intent(rec, ts, msg)
        elif t is LegOrder:
            self.order_tables.leg_order(msg)
            self._event(
                msg.combo_id,
                rec,
                ts,
                "leg_order",
                leg=msg.leg,
                attempt=msg.attempt,
                purpose=msg.purpose,
                side=msg.side,
                qty=msg.qty_lots,
                px=msg.px_ticks,
                venue=msg.venue,
            )
        elif t is ExecReport and self._once(raw):
            self.order_tables.exec_report(msg)
            self._event(
                msg.combo_id,
                rec,
                ts,
                f"exec_{msg.kind}",
                cl=msg.cl,
                leg=msg.leg,
                state=msg.state,
                qty=msg.qty_lots,
                px=msg.px_ticks,
                reason=msg.reason,
            )
        elif t is ComboState and self._once(raw):
            c = self._combo_by_id.get(msg.combo_id)
            if c is not None:
                c.update(
                    final_state=msg.state,
                    filled_a_lots=msg.filled_a_lots,
                    filled_b_lots=msg.filled_b_lots,
                    residual_final=msg.residual_base,
                    end_ts_ns=msg.ts_ns,
                )
            self._event(
                msg.combo_id,
                rec,
                ts,
                "state",
                state=msg.state,
                filled=[msg.filled_a_lots, msg.filled_b_lots],
                residual_base=msg.residual_base,
            )
        elif t is TradingState and self._once(raw):
            self.risk_events.append(
                {"record": rec, "ts_ns": msg.ts_ns, "state": msg.state, "reason": msg.reason}
            )
        elif t is FeedHealth:
            self.feed_health.append({"record": rec, **msgspec.structs.asdict(msg)})
        elif t is BookInvalid:
            self.book_events.append(
                {
                    "record": rec,
                    "ts_ns": ts,
                    "venue": msg.venue,
                    "sym": msg.sym,
                    "reason": msg.reason,
                }
            )
        elif t is Decision:
            self._decision(rec, ts, msg)
        elif t is SessionStatus and self._once(raw):
            self.sessions.append({"record": rec, "ts_ns": ts, **msgspec.structs.asdict(msg)})
        elif t in OPERATOR_CONTROL and src == "@group":
            arg = (json.dumps(msg.values, sort_keys=True) if t is SetParams
                   else getattr(msg, "reason", ""))
            self.controls.append({"record": rec, "ts_ns": ts, "dest": dest,
                                  "cmd": t.__name__.lower(), "arg": arg})
        elif t is Start or t is Stop or t is Restart:
            self.lifecycle.append({"record": rec, "ts_ns": ts, "actor": dest,
                                   "event": t.__name__.lower(),
                                   "epoch": getattr(msg, "epoch", None),
                                   "kind": getattr(msg, "kind", ""),
                                   "reason": getattr(msg, "reason", "")})
        elif t is CancelLeg:
            o = self.order_tables.order(msg.cl)
            if o is not None:
                self._event(o["combo_id"], rec, ts, "cancel_leg", cl=msg.cl)

    def _intent(self, rec: int, ts: int, i: ComboIntent) -> None:
        row = {
            "record": rec,
            "ts_ns": ts,
            "combo_id": i.combo_id,
            "pair": i.pair,
            "action": i.action,
            "direction": i.direction,
            "spread": i.spread,
            "mean": i.mean,
            "z": i.z,
            "edge": i.edge,
            "cost": i.cost,
            "residual_base": i.residual_base,
            "ts_event_ns": i.ts_event_ns,
            "ts_recv_ns": i.ts_recv_ns,
            "ts_book_ns": i.ts_book_ns,
            "ts_signal_ns": i.ts_signal_ns,
            "legs": len(i.legs),
            "final_state": "",
            "filled_a_lots": 0,
            "filled_b_lots": 0,
            "residual_final": 0.0,
            "end_ts_ns": 0,
            "repair_steps": 0,
        }
        self.combos.append(row)
        self._combo_by_id[i.combo_id] = row
        self._event(i.combo_id, rec, ts, "intent", legs=[msgspec.structs.asdict(x) for x in i.legs])

    def _decision(self, rec: int, ts: int, d: Decision) -> None:
        self.decisions.append(
            {
                "record": rec,
                "ts_ns": d.ts_ns or ts,
                "actor": d.actor,
                "what": d.what,
                "detail": d.detail,
            }
        )
        try:
            detail = json.loads(d.detail)
        except ValueError:
            detail = {}
        cid = detail.get("combo_id") if isinstance(detail, dict) else None
        if cid is None and isinstance(detail, dict) and detail.get("cl"):
            cid = (cl_parts(str(detail["cl"])) or (None,))[0]
        if isinstance(cid, int):
            if d.what == "repair" and cid in self._combo_by_id:
                self._combo_by_id[cid]["repair_steps"] += 1
            self._event(cid, rec, d.ts_ns or ts, f"decision_{d.what}", actor=d.actor, detail=detail)


def build_index(journal: str | Path, progress: Callable[[int], None] | None = None) -> JournalIndex:
    """Read the journal once and return its index."""
    idx = JournalIndex()
    rec = 0
    for frame in JournalReader(journal):
        if frame.rtype != T_BATCH:
            continue
        ts, _group, items = decode_batch_raw(frame.body)
        idx.first_ts = idx.first_ts or ts
        idx.last_ts = max(idx.last_ts, ts)
        for src, dest, raw in items:
            idx.add(rec, ts, src, dest, raw)
            rec += 1
        if progress is not None:
            progress(len(frame.body))
    idx.items = rec
    idx.journal = str(journal)
    return idx


def load_config_map(journal: str | Path) -> dict[str, Any]:
    """Return the run's config.json as a dict ({} when missing)."""
    p = base_path(journal).parent / "config.json"
    return json.loads(p.read_bytes()) if p.exists() else {}


__all__ = ["TABLES", "JournalIndex", "build_index", "cl_parts", "load_config_map"]
