"""What the two halves of a simulated venue share (``venue.SimVenue``, its market side, and
``venue_oe.SimOrderEntry``, its order entry).

One object, created by the venue and handed to its order entry, so that what both read and
write is named in one place: the venue's identity and reference data, its books (orders rest
and match there; the market side quotes and publishes them), the fault switches and the truth,
the three outboxes the caller (``core.SimCore``) drains, and the session state (set by the
market side, checked by order entry).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from transports.config.engine import ContractConfig
from transports.config.sim import SimVenueConfig
from transports.venues.sim.faults import FaultInjector
from transports.venues.sim.matching import Book
from transports.venues.sim.truth import SimTruth


@dataclass(eq=False, slots=True)
class SimVenueState:
    """The state a simulated venue's market side and order entry share."""

    name: str
    cfg: SimVenueConfig
    contracts: dict[str, ContractConfig]  #: sym -> contract
    books: dict[str, Book]  #: sym -> book (the maker's ladder and the clients' resting orders)
    faults: FaultInjector
    truth: SimTruth
    #: replies to order entry, ``(account, struct)``; drained (cleared in place) by the core
    oe_out: list[tuple[str, msgspec.Struct]] = field(default_factory=list)
    #: reports that go out late (fault ``oe_late_fill``), ``(extra delay ns, account, struct)``
    oe_late: list[tuple[int, str, msgspec.Struct]] = field(default_factory=list)
    #: market data, ``(topic, struct)``
    md_out: list[tuple[str, msgspec.Struct]] = field(default_factory=list)
    #: sym -> open, break, auction, closed, halt (replaced as a whole on a change)
    session: dict[str, str] = field(default_factory=dict)
    #: the gateway's own session is down (fault ``session_down``): new orders are rejected
    session_down: bool = False


__all__ = ["SimVenueState"]
