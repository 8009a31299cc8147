"""What a venue protocol version 2 gateway tells the LegExecutor beyond its orders: its own
session with the exchange, funding payments, balances, and (from the Feed) its version and the
kinds of its instruments.

The executor (``actors.leg.executor``) owns one ``VenueSession``; its ``on_session``,
``on_funding``, ``on_balances`` and ``on_venue_info`` handlers delegate here.

- **session** (``{"t":"session","state":"up"|"down"|"auth_failed"}`` on oe): the gateway is
  cut off from its exchange. ``down`` is treated exactly as a lost order-entry link
  (``actors.leg.faults.oe_lost``): every open order's outcome becomes unknown (queried, never
  resent), new orders are denied ``session_down`` and the strategies hear ``session_down``
  (``VenueGate``); a query answered ``unknown`` (not found) meanwhile proves nothing and counts
  toward no inferred reject. ``up`` after a down starts the one reconciliation
  (``actors.leg.reconciler``: open orders, trades, positions) before anything new goes.
  ``auth_failed`` is a down that will not heal by itself: it also asks risk to reduce
  (``Reduce("session_auth_failed:<venue>: <reason>")``, once per failure) and alarms.
- **funding** (on oe): a payment on the account's position, deduplicated by ``(sym, ts)``,
  summed per symbol and currency (the instrument's when the venue names none), counted, and
  told to risk (``FundingPaid``), whose PnL counts it in that currency.
- **balances**: the reply to ``balances``, kept as the venue gave it. The request goes only to
  a gateway that announced version 2 (``VenueInfo``; a version 1 gateway answers an unknown
  request with an error): asked by every reconciliation, and once when the announcement comes.
- **VenueInfo** (from the Feed: the gateway's ``instruments`` reply): the protocol version and
  the instruments' kinds; on a version 2 venue an order that only closes a ``perp`` position
  goes with ``reduce_only`` (``actors.leg.entry``). Until it comes the venue counts as version
  1: nothing version 2 is sent.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from actors.core import Out
from actors.leg.book import OrderBook
from actors.leg.reports import Reports
from transports.config.engine import ContractConfig
from transports.wire.messages import FundingPaid, Reduce, VenueInfo
from transports.wire.venue_msgs import Balances, BalancesReq, Funding, Session

if TYPE_CHECKING:
    from actors.leg.executor import LegExecutorCore

_NS = 1_000_000


class VenueSession:
    """The gateway's session state, its version and kinds, funding sums and balances. It counts
    and alarms through the executor's ``book`` and ``reports``; the executor gates the result."""

    def __init__(self, book: OrderBook, reports: Reports, venue: str, risk: str,
                 contracts: dict[str, ContractConfig]) -> None:
        self.book = book
        self.reports = reports
        self.venue = venue
        self.risk = risk  #: the risk actor (``Reduce``, ``FundingPaid``)
        self.contracts = contracts  #: keyed by sym on this venue (the executor's dict)
        self.state = "up"  #: the gateway's last word on its session; up until it says otherwise
        self.reason = ""
        self.since_ns = 0  #: when the state last changed
        self.version = 1  #: the protocol version the gateway announced (``VenueInfo``)
        self.kinds: dict[str, str] = {}  #: sym -> kind, as the venue lists it
        #: the symbols whose closing orders carry ``reduce_only`` (version 2 ``perp`` only)
        self.perps: frozenset[str] = frozenset()
        self.balances: dict[str, dict[str, float]] = {}  #: ccy -> total, available, margin_used
        self.balances_ns = 0
        self.funding: dict[str, dict[str, float]] = {}  #: sym -> ccy -> sum of ``paid``
        self._funded: set[tuple[str, int]] = set()  #: (sym, ts) of every payment applied

    @property
    def down(self) -> bool:
        """True while the gateway says its session with the exchange is not up."""
        return self.state != "up"

    def _count(self, key: str) -> None:
        c = self.book.counters
        c[key] = c.get(key, 0) + 1

    def on_session(self, ex: LegExecutorCore, m: Session, now_ns: int) -> Out:
        """Take the gateway's session state: a down shuts the executor's gate
        (``session_down``) and flags its open orders unknown; an up after a down reconciles
        (a start's reconciliation still under way stays a start's)."""
        prev, self.state, self.reason = self.state, m.state, m.reason[:200]
        if m.state != "up" and ex.gate != "disconnected":
            ex.gate = "session_down"  # the link's own loss says more; it reconciles on return
        if m.state == prev:
            return []
        alarm = self.reports.alarm
        down_ms = (now_ns - self.since_ns) // _NS
        self.since_ns = now_ns
        if m.state == "up":
            up = alarm("session_up", now_ns, down_ms=down_ms, was=prev)
            if ex.gate == "disconnected":
                return [up]  # the link's own return reconciles (``on_pong``)
            rec = ex.reconciler
            return [up, *rec.begin(ex, now_ns, start=rec.active and rec.start)]
        out: Out = []
        if prev == "up":
            # what the exchange did with our working orders meanwhile is unknown here
            self._count("session_downs")
            book = self.book
            out.append(alarm("session_down", now_ns, state=m.state, reason=self.reason,
                             open=len(book.open)))
            for lo in list(book.open.values()):
                out += self.reports.flag_unknown(lo, "session_down", now_ns)
        if m.state == "auth_failed":
            self._count("session_auth_failed")
            why = f"session_auth_failed:{self.venue}: {self.reason}"[:300]
            out += [(self.risk, Reduce(why)),
                    alarm("session_auth_failed", now_ns, reason=self.reason)]
        return out

    def on_funding(self, m: Funding, now_ns: int) -> Out:
        """A funding payment: summed, counted and told to risk once per ``(sym, ts)``."""
        key = (m.sym, m.ts)
        if key in self._funded:
            self._count("duplicate_funding")
            return []
        c = self.contracts.get(m.sym)
        ccy = m.ccy or (c.ccy if c is not None else "")
        if c is None or not ccy or not math.isfinite(m.paid):
            self._count("unknown_reports")
            return [self.reports.alarm("bad_funding", now_ns, sym=m.sym, ccy=m.ccy,
                                       paid=repr(m.paid))]
        self._funded.add(key)
        try:
            rate = float(m.rate)
        except ValueError:
            rate = math.nan
        per = self.funding.setdefault(m.sym, {})
        per[ccy] = per.get(ccy, 0.0) + m.paid
        self._count("funding")
        return [(self.risk, FundingPaid(self.venue, m.sym, ccy, m.paid,
                                        rate if math.isfinite(rate) else 0.0, m.ts, now_ns))]

    def on_balances(self, m: Balances, now_ns: int) -> Out:
        """Keep the venue's balances (the reply to ``balances``)."""
        self.balances = {b.ccy: {"total": b.total, "available": b.available,
                                 "margin_used": b.margin_used} for b in m.list}
        self.balances_ns = now_ns
        self._count("balances")
        return []

    def ask_balances(self) -> Out:
        """The ``balances`` request, to a version 2 gateway only."""
        return [("@oe", BalancesReq())] if self.version >= 2 else []

    def on_venue_info(self, ex: LegExecutorCore, m: VenueInfo, now_ns: int) -> Out:
        """The gateway's version and kinds (from the Feed); the perpetuals' closing orders go
        ``reduce_only`` from now on (``ex.entry``); a first announcement of version 2 asks the
        balances at once (the start's reconciliation may have gone without)."""
        if m.venue != self.venue:
            return []
        first = m.version >= 2 > self.version
        self.version = m.version
        self.kinds = dict(m.kinds)
        self.perps = frozenset(s for s, k in self.kinds.items()
                               if k == "perp") if m.version >= 2 else frozenset()
        ex.entry.perps = self.perps
        return self.ask_balances() if first else []

    def snapshot(self) -> dict[str, Any]:
        """The session, the version and kinds, the balances and the funding sums."""
        return {"state": self.state, "reason": self.reason, "since_ns": self.since_ns,
                "protocol": self.version, "kinds": dict(self.kinds),
                "reduce_only": sorted(self.perps),
                "balances": {k: dict(v) for k, v in self.balances.items()},
                "balances_ns": self.balances_ns,
                "funding": {s: dict(v) for s, v in self.funding.items()}}


__all__ = ["VenueSession"]
