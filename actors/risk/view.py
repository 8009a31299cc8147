"""The ``RiskView`` the RiskSupervisor sends the leg executors for their pre-trade checks.

It carries what an executor cannot see itself: the net exposure, the FX rates, the gross
notional and margin of every venue, the positions they were computed from and each lot's value
(docs/architecture.md, "Risk"). ``Views`` owns what the last view said, to send a new one only
when it matters.
"""

from __future__ import annotations

from actors.core import Out
from actors.risk.valuation import Book
from transports.wire.messages import RiskView

#: a rate moving more than this fraction (1 bp) since the last view sends a new one
FX_MOVE = 1e-4
#: a held lot's value moving more than this fraction (10 bp) since the last view sends a new one
LOT_MOVE = 1e-3


class Views:
    """The views sent to the leg executors (the ``leg.*`` names of ``executors``)."""

    def __init__(self, executors: list[str]) -> None:
        self.legs = [e for e in executors if e.startswith("leg.")]
        self.sent_fx: dict[str, float] = {}  #: ccy -> rate in the last view
        self.sent_lot: dict[str, float] = {}  #: "venue:sym" -> lot value in the last view

    def lot_moved(self, key: str, lot_value: float) -> bool:
        """Whether one lot of ``key``, now worth ``lot_value`` (``Book.lot_notional``), moved
        more than ``LOT_MOVE`` since the last view."""
        sent = self.sent_lot.get(key, 0.0)
        return abs(lot_value - sent) > LOT_MOVE * sent

    def rate_moved(self, book: Book, key: str) -> bool:
        """Whether a rate that FX book ``key`` prices moved more than ``FX_MOVE`` since the
        last view: ``send``'s question asked of these currencies only.

        Valid once a view was sent (``sent_fx`` holds every rate): after each view, and after
        each change of an FX mark (asked at once, ``RiskCore.on_book_update``), every rate is
        within ``FX_MOVE`` of the last view's or a new view was sent, so only the currencies
        whose mark just changed can have moved."""
        sent = self.sent_fx
        for ccy in book.fx_ccys.get(key, ()):
            v = book.fx(ccy)
            if abs(v - sent.get(ccy, 0.0)) > FX_MOVE * max(v, 1e-12):
                return True
        return False

    def send(self, book: Book, now_ns: int, force: bool = False) -> Out:
        """A view of ``book`` to every leg executor when ``force`` (a position changed, a held
        lot's value moved) or a rate moved more than ``FX_MOVE`` since the last one."""
        fx = book.fx_rates()
        if not force:  # a forced view is sent whether or not a rate moved: not asked
            sent = self.sent_fx
            if not any(abs(v - sent.get(k, 0.0)) > FX_MOVE * max(v, 1e-12)
                       for k, v in fx.items()):
                return []
        self.sent_fx = fx
        lots = book.lot_notionals()
        self.sent_lot = lots
        gross, margin = book.gross_and_margin(lots)
        # the exposure as valued once per change of the positions: never changed in place (a
        # fill or an adopt drops it for a new dict), so the view may share it
        view = RiskView(book.exposure_view(), now_ns, fx, gross, margin,
                        {k: q for k, q in book.positions.items() if q}, lots, len(self.legs))
        return [(e, view) for e in self.legs]


__all__ = ["FX_MOVE", "LOT_MOVE", "Views"]
