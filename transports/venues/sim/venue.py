"""One simulated venue: its books, order registry, accounts and the replies of the protocol.

Pure logic: requests come in as decoded ``venue_msgs`` structs with the account (the DEALER's
identity) and a venue time ``ts``; replies pile up in ``oe_out`` as ``(account, struct)`` and
market data in ``md_out`` as ``(topic, struct)``, and reports that go out late (fault
``oe_late_fill``) in ``oe_late`` as ``(extra_ns, account, struct)``. The order fault switches act
here (see ``faults``); the caller (``core.SimCore``) adds latency, applies the md fault switches
and moves the bytes.

This module holds the venue's reference data, market data (publish, the maker's requote) and
session states; its order entry and executions are the helper object ``self.oe``
(``venue_oe.SimOrderEntry``, its own state the order registry). What the two share -- the
books, the outboxes, the fault switches, the truth, the session state -- is one
``venue_state.SimVenueState`` both hold.
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
from transports.venues.sim.venue_state import SimVenueState
from transports.wire.venue_msgs import (
    Error,
    FillRecord,
    Heartbeat,
    Instrument,
    Instruments,
    MdStatus,
    Session,
    Snapshot,
    md_topic,
)


def _dec(x: float) -> str:
    """A float multiplier as a plain decimal string (1000.0 -> "1000")."""
    d = Decimal(repr(x)).normalize()
    return format(d, "f")


class SimVenue:
    """A venue: matching, market maker, order registry, positions.

    This class is its reference data, market data and session side; order entry and executions
    are ``self.oe`` (``venue_oe.SimOrderEntry``), the state both share ``self.state``."""

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
        self.state = SimVenueState(
            name=name,
            cfg=scfg,
            contracts={c.sym: c for c in contracts},
            books={c.sym: Book(c.sym) for c in contracts},
            faults=faults,
            truth=truth,
        )
        self.ticks = {c.sym: float(Decimal(c.tick)) for c in contracts}
        self.rng = rng  #: the maker's quote draws
        #: order entry and executions: the order registry, positions, fences, throttles
        self.oe = SimOrderEntry(self.state, publish=self.publish)

    # --- what the core, the fake exchanges and tests read: shared state, order entry's ---------

    @property
    def name(self) -> str:
        """The venue's name."""
        return self.state.name

    @property
    def contracts(self) -> dict[str, ContractConfig]:
        """sym -> contract."""
        return self.state.contracts

    @property
    def faults(self) -> FaultInjector:
        """This venue's fault switches."""
        return self.state.faults

    @property
    def truth(self) -> SimTruth:
        """The run's truth (every order, fill and count)."""
        return self.state.truth

    @property
    def books(self) -> dict[str, Book]:
        """sym -> book."""
        return self.state.books

    @property
    def oe_out(self) -> list[tuple[str, msgspec.Struct]]:
        """Replies to order entry, ``(account, struct)`` (the caller drains it in place)."""
        return self.state.oe_out

    @property
    def oe_late(self) -> list[tuple[int, str, msgspec.Struct]]:
        """Reports that go out late, ``(extra delay ns, account, struct)``."""
        return self.state.oe_late

    @property
    def md_out(self) -> list[tuple[str, msgspec.Struct]]:
        """Market data, ``(topic, struct)``."""
        return self.state.md_out

    @property
    def orders(self) -> dict[tuple[str, str], Order]:
        """(account, cl) -> the latest order (``SimOrderEntry.orders``)."""
        return self.oe.orders

    @property
    def trades(self) -> dict[str, list[FillRecord]]:
        """account -> its fills (``SimOrderEntry.trades``)."""
        return self.oe.trades

    @property
    def positions(self) -> dict[str, dict[str, int]]:
        """account -> sym -> net lots (``SimOrderEntry.positions``)."""
        return self.oe.positions

    @property
    def used(self) -> set[tuple[str, str]]:
        """Every (account, cl) received (``SimOrderEntry.used``)."""
        return self.oe.used

    @property
    def offsets(self) -> SimOffsets:
        """The two-sided positions of contracts with offsets (``SimOrderEntry.offsets``)."""
        return self.oe.offsets

    @property
    def fence(self) -> EpochFence:
        """The highest fencing epoch per account (``SimOrderEntry.fence``)."""
        return self.oe.fence

    def handle(self, account: str, req: msgspec.Struct, ts: int) -> None:
        """Apply one oe request of ``account`` (``SimOrderEntry.handle``); replies go to
        ``oe_out``."""
        self.oe.handle(account, req, ts)

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
                for c in self.state.contracts.values()
            ]
        )

    def snapshot(self, sym: str, ts: int) -> Snapshot | Error:
        """The published book of ``sym``."""
        book = self.state.books.get(sym)
        if book is None:
            return Error(code="unknown_symbol", msg=f"{self.state.name} has no symbol {sym!r}")
        return book.snapshot(ts)

    def heartbeat(self, ts: int) -> Heartbeat:
        """The heartbeat: last seq per symbol."""
        return Heartbeat(ts=ts, seqs={s: b.seq for s, b in self.state.books.items()})

    def open_session(self, ts: int) -> None:
        """Publish ``status open`` for every symbol."""
        st = self.state
        st.session = dict.fromkeys(st.books, "open")
        st.md_out.extend(self.session_status(ts))

    def session_status(self, ts: int, prefix: str = "") -> list[tuple[str, MdStatus]]:
        """The session state of every symbol whose md topic starts with ``prefix``."""
        return [
            (md_topic(sym), MdStatus(sym=sym, ts=ts, state=state))
            for sym, state in self.state.session.items()
            if md_topic(sym).startswith(prefix)
        ]

    def publish(self, sym: str, ts: int) -> None:
        """Queue the delta of ``sym``'s changes since the last one (if any; none while the md is
        stalled or stopped: the changes go into the next delta)."""
        st = self.state
        if st.faults.md_frozen(ts):
            return
        d = st.books[sym].take_delta(ts)
        if d is not None:
            st.md_out.append((md_topic(sym), d))
            st.truth.count("md_deltas")

    def requote(self, ts: int, fairs: Mapping[str, float]) -> None:
        """The market maker replaces its ladder around each fair price (may fill resting GTCs)."""
        c = self.state.cfg
        for sym, fair in fairs.items():
            book = self.state.books[sym]
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
                        self.oe.report(book.submit(o), ts)
            self.oe.match_pending(sym, ts)
            self.publish(sym, ts)

    def reset_seqs(self, ts: int) -> None:
        """Fault ``md_reset``: every book's seq restarts (as after a gateway restart); the
        session state is published again."""
        for book in self.state.books.values():
            book.reset_seq()
        self.state.md_out.extend(self.session_status(ts))

    # --- sessions -------------------------------------------------------------------------------

    def set_session(self, state: str, ts: int) -> None:
        """Every symbol's session becomes ``state`` (fault ``session_break``); a change is
        published as ``status``."""
        st = self.state
        if all(v == state for v in st.session.values()):
            return
        st.session = dict.fromkeys(st.books, state)
        st.md_out.extend(self.session_status(ts))

    def set_session_down(self, down: bool, ts: int) -> None:
        """The gateway's session with its exchange goes down or comes back (fault
        ``session_down``): every account heard from is told (protocol v2 ``session``)."""
        if down == self.state.session_down:
            return
        self.state.session_down = down
        msg = Session(state="down" if down else "up", ts=ts,
                      reason="sim fault session_down" if down else "")
        self.oe.tell_accounts(msg)
