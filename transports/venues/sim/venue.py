"""One simulated venue: its books, order registry, accounts and the replies of the protocol.

Pure logic: requests come in as decoded ``venue_msgs`` structs with the account (the DEALER's
identity) and a venue time ``ts``; replies pile up in ``oe_out`` as ``(account, struct)`` and
market data in ``md_out`` as ``(topic, struct)``, and reports that go out late (fault
``oe_late_fill``) in ``oe_late`` as ``(extra_ns, account, struct)``. The order fault switches act
here (see ``faults``); the caller (``core.SimCore``) adds latency, applies the md fault switches
and moves the bytes.

This module holds the venue's state, reference data, market data (publish, the maker's
requote) and session states; its order entry and executions are the mixin
``venue_oe.SimOrderEntry``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import msgspec
import numpy as np

from transports.config.engine import ContractConfig
from transports.config.sim import SimVenueConfig
from transports.venues.fence import EpochFence
from transports.venues.sim.faults import FaultInjector
from transports.venues.sim.matching import MM_ACCOUNT, Book, Order, maker_quotes
from transports.venues.sim.offsets import SimOffsets
from transports.venues.sim.truth import SimTruth
from transports.venues.sim.venue_oe import SimOrderEntry
from transports.wire.venue_msgs import (
    Error,
    FillRecord,
    Heartbeat,
    Instrument,
    Instruments,
    MdStatus,
    Session,
    Snapshot,
)


def _dec(x: float) -> str:
    """A float multiplier as a plain decimal string (1000.0 -> "1000")."""
    d = Decimal(repr(x)).normalize()
    return format(d, "f")


class SimVenue(SimOrderEntry):
    """A venue: matching, market maker, order registry, positions.

    This module holds its state, reference data, market data and session side; order entry
    and executions are ``venue_oe.SimOrderEntry``."""

    def __init__(
        self,
        name: str,
        contracts: list[ContractConfig],
        scfg: SimVenueConfig,
        *,
        faults: FaultInjector,
        truth: SimTruth,
        rng: np.random.Generator,
    ) -> None:
        self.name = name
        self.cfg = scfg
        self.contracts = {c.sym: c for c in contracts}
        self.ticks = {c.sym: float(Decimal(c.tick)) for c in contracts}
        self.books = {c.sym: Book(c.sym) for c in contracts}
        self.faults, self.truth, self.rng = faults, truth, rng
        self.orders: dict[tuple[str, str], Order] = {}  # (account, cl) -> latest order
        self.used: set[tuple[str, str]] = set()
        self.trades: dict[str, list[FillRecord]] = {}
        self.positions: dict[str, dict[str, int]] = {}
        self.oe_out: list[tuple[str, msgspec.Struct]] = []
        self.oe_late: list[tuple[int, str, msgspec.Struct]] = []  # (extra delay ns, account, msg)
        self.pending: list[Order] = []  # GTC remainders of a partial fault, matched at requote
        self.md_out: list[tuple[str, msgspec.Struct]] = []
        self.session: dict[str, str] = {}  # sym -> open, break, auction, closed, halt
        self._oid = 0
        self._tid = 0
        #: account -> when the back-off the venue announced in its last ``throttled`` ends
        self.throttled_until: dict[str, int] = {}
        self.accounts: set[str] = set()  #: every account (DEALER identity) heard from
        self.session_down = False  #: the gateway's own session is down (fault ``session_down``)
        #: the contracts with ``offsets``: two-sided positions, offsets checked (``offsets``)
        self.offsets = SimOffsets(contracts, scfg.close_today_fee_per_lot)
        #: the highest fencing epoch per account (protocol v2 ``epoch``; in memory)
        self.fence = EpochFence()

    # --- reference data and market data ---------------------------------------------------------

    def instruments(self) -> Instruments:
        """The instrument list of this venue."""
        return Instruments(
            list=[
                Instrument(
                    sym=c.sym,
                    tick=c.tick,
                    lot=_dec(c.multiplier),
                    ccy=c.ccy,
                    unit=c.unit,
                    min_qty=1,
                    max_qty=c.max_lots_per_order,
                    **({"kind": "future", "offsets": True, "close_today": c.close_today}
                       if c.offsets else {}),
                )
                for c in self.contracts.values()
            ]
        )

    def snapshot(self, sym: str, ts: int) -> Snapshot | Error:
        """The published book of ``sym``."""
        book = self.books.get(sym)
        if book is None:
            return Error(code="unknown_symbol", msg=f"{self.name} has no symbol {sym!r}")
        return book.snapshot(ts)

    def heartbeat(self, ts: int) -> Heartbeat:
        """The heartbeat: last seq per symbol."""
        return Heartbeat(ts=ts, seqs={s: b.seq for s, b in self.books.items()})

    def open_session(self, ts: int) -> None:
        """Publish ``status open`` for every symbol."""
        self.session = dict.fromkeys(self.books, "open")
        self.md_out.extend(self.session_status(ts))

    def session_status(self, ts: int, prefix: str = "") -> list[tuple[str, MdStatus]]:
        """The session state of every symbol whose md topic starts with ``prefix``."""
        return [
            (f"md.{sym}", MdStatus(sym=sym, ts=ts, state=state))
            for sym, state in self.session.items()
            if f"md.{sym}".startswith(prefix)
        ]

    def publish(self, sym: str, ts: int) -> None:
        """Queue the delta of ``sym``'s changes since the last one (if any; none while the md is
        stalled or stopped: the changes go into the next delta)."""
        if self.faults.md_frozen(ts):
            return
        d = self.books[sym].take_delta(ts)
        if d is not None:
            self.md_out.append((f"md.{sym}", d))
            self.truth.count("md_deltas")

    def requote(self, ts: int, fairs: Mapping[str, float]) -> None:
        """The market maker replaces its ladder around each fair price (may fill resting GTCs)."""
        c = self.cfg
        for sym, fair in fairs.items():
            book = self.books[sym]
            # the usual case: only the maker's ladder rests, so the new one crosses nothing
            # and simply replaces it (the same book as removing it and submitting each order)
            alone = book.only(MM_ACCOUNT)
            if not alone:
                book.remove_account(MM_ACCOUNT)
            bids, asks = maker_quotes(
                fair,
                self.ticks[sym],
                spread_ticks=c.spread_ticks,
                levels=c.levels,
                level_qty=c.level_qty_lots,
                rng=self.rng,
            )
            if alone and (not bids or not asks or bids[0][0] < asks[0][0]):
                book.replace_ladder(
                    [Order("mm", MM_ACCOUNT, "", sym, "B", px, qty, "GTC", ts) for px, qty in bids],
                    [Order("mm", MM_ACCOUNT, "", sym, "S", px, qty, "GTC", ts) for px, qty in asks],
                )
            else:
                if alone:  # a ladder that crosses itself (spread 0) matches as before
                    book.remove_account(MM_ACCOUNT)
                for side, ladder in (("B", bids), ("S", asks)):
                    for px, qty in ladder:
                        o = Order("mm", MM_ACCOUNT, "", sym, side, px, qty, "GTC", ts)
                        self._report(book.submit(o), ts)
            for o in [p for p in self.pending if p.sym == sym]:
                self.pending.remove(o)
                if o.is_open:  # a partial fault's GTC remainder meets the new quotes
                    self._report(book.submit(o), ts)
            self.publish(sym, ts)

    def reset_seqs(self, ts: int) -> None:
        """Fault ``md_reset``: every book's seq restarts (as after a gateway restart); the
        session state is published again."""
        for book in self.books.values():
            book.reset_seq()
        self.md_out.extend(self.session_status(ts))

    # --- sessions -------------------------------------------------------------------------------

    def set_session(self, state: str, ts: int) -> None:
        """Every symbol's session becomes ``state`` (fault ``session_break``); a change is
        published as ``status``."""
        if all(v == state for v in self.session.values()):
            return
        self.session = dict.fromkeys(self.books, state)
        self.md_out.extend(self.session_status(ts))

    def set_session_down(self, down: bool, ts: int) -> None:
        """The gateway's session with its exchange goes down or comes back (fault
        ``session_down``): every account heard from is told (protocol v2 ``session``)."""
        if down == self.session_down:
            return
        self.session_down = down
        msg = Session(state="down" if down else "up", ts=ts,
                      reason="sim fault session_down" if down else "")
        self.oe_out.extend((account, msg) for account in sorted(self.accounts))
