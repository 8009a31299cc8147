"""What a strategy knows of each leg of its pair: the book's best levels, the feed's state and
clock offset, the session and the trading calendar; and ``walk_levels``, the executable VWAP of a
clip (split off ``actors.strategy.strategy`` for size).
"""

from __future__ import annotations

from decimal import Decimal

from transports.calendar import Calendar
from transports.config.engine import ContractConfig
from transports.wire.messages import BookUpdate

_SYNCED = "SYNCED"

def walk_levels(px: list[int], qty: list[int], clip_lots: int) -> tuple[float, int, int]:
    """The clip walk over a BookUpdate's short level lists, in plain Python (the tests' oracle:
    ``tests.support.oracles.walk_book``).

    A clip is taken from one to three levels, so a Numba call (and an array) per walk would
    cost more than the walk. Same arithmetic, same order, so the results are bit-identical:
    ``(vwap_ticks, filled_lots, worst_px_ticks)``, ``(0.0, 0, 0)`` when nothing fills.
    """
    remaining = clip_lots
    filled = 0
    notional = 0.0
    worst = 0
    for i in range(len(px)):
        if remaining <= 0:
            break
        q = qty[i]
        if q > 0:
            take = q if q < remaining else remaining
            notional += float(take) * float(px[i])
            filled += take
            remaining -= take
            worst = px[i]
    if filled <= 0:
        return 0.0, 0, 0
    return notional / filled, filled, worst


class Leg:
    __slots__ = ("ask_n", "ask_px", "ask_qty", "bid_n", "bid_px", "bid_qty", "cal", "cal_hi",
                 "cal_lo", "cal_state", "cfg", "checks", "feed", "key", "offset_ns", "ok",
                 "session", "session_known", "sym", "tick", "ts_event_ns", "up", "valid", "venue")

    def __init__(self, cfg: ContractConfig, tag: str, cal: Calendar | None = None) -> None:
        self.cfg = cfg
        self.venue, self.sym = cfg.venue, cfg.sym
        self.key = f"{cfg.venue}:{cfg.sym}"
        self.tick = float(Decimal(cfg.tick))
        #: refusal reasons: invalid, closed session, empty side
        self.checks = (f"INVALID_{tag}", f"CLOSED_{tag}", f"EMPTY_{tag}")
        self.valid = False
        self.session = "open"
        self.session_known = False  #: a gateway SessionStatus arrived (it overrides the calendar)
        self.feed = _SYNCED  #: the venue feed's state from FeedHealth (SYNCED until told)
        self.offset_ns = 0  #: venue clock minus ours, from FeedHealth
        self.up = True  #: session open and feed SYNCED (kept by ``set_session``/``set_feed``)
        self.ts_event_ns = 0
        #: the trading calendar and its cached verdict for opens: ``cal_state`` ("ok", "short":
        #: open but closing within the hedge budget, "closed") holds for now in [cal_lo, cal_hi]
        self.cal = cal
        self.cal_state = "ok"
        self.cal_lo, self.cal_hi = 0, -1
        # the BookUpdate's own lists (never mutated by anyone), best first
        self.bid_px: list[int] = []
        self.bid_qty: list[int] = []
        self.ask_px: list[int] = []
        self.ask_qty: list[int] = []
        self.bid_n = 0
        self.ask_n = 0
        #: ``usable()``, kept current on every update (``StrategyCore.on_book_update``) and
        #: session change (``set_session``)
        self.ok = False

    def take(self, u: BookUpdate) -> None:
        """Take a ``BookUpdate`` of this leg: its own level lists (nobody mutates them); an
        invalid update keeps the last levels but makes the leg unusable. (The parity core does
        the same inline on its hot path.)"""
        self.valid = u.valid
        if not u.valid:
            self.ok = False
            return
        self.ts_event_ns = u.ts_event_ns
        self.bid_px, self.bid_qty = u.bid_px, u.bid_qty
        self.ask_px, self.ask_qty = u.ask_px, u.ask_qty
        self.bid_n, self.ask_n = len(u.bid_px), len(u.ask_px)
        self.ok = self.up and self.bid_n > 0 and self.ask_n > 0

    def set_session(self, state: str) -> None:
        self.session = state
        self.session_known = True
        self.up = state == "open" and self.feed == _SYNCED
        self.ok = self.usable()

    def set_feed(self, state: str, offset_ns: int) -> None:
        self.feed = state
        self.offset_ns = offset_ns
        self.up = up = self.session == "open" and state == _SYNCED
        self.ok = self.valid and up and self.bid_n > 0 and self.ask_n > 0  # ``usable()``

    def usable(self) -> bool:
        return self.valid and self.up and self.bid_n > 0 and self.ask_n > 0

    def refusal(self) -> str:
        """The reason this leg blocks a decision, or "" if it is usable."""
        if not self.valid:
            return self.checks[0]
        if self.feed != _SYNCED:
            return self.feed  # STALE, RESYNCING, CONNECTING
        if not self.usable():
            return self.checks[1] if self.session != "open" else self.checks[2]
        return ""

    def calendar_state(self, now_ns: int, budget_ns: int) -> str:
        """The calendar's verdict for an open at ``now_ns``: "ok", "short" or "closed"."""
        if self.cal_lo <= now_ns <= self.cal_hi:
            return self.cal_state
        cal = self.cal
        assert cal is not None
        until = cal.open_until_ns(now_ns)
        if until:
            if until - now_ns >= budget_ns:
                self.cal_state, self.cal_lo, self.cal_hi = "ok", now_ns, until - budget_ns
            else:  # too close to the end of the span: not before the next one opens
                nxt = cal.next_open_ns(until)
                self.cal_state, self.cal_lo = "short", now_ns
                self.cal_hi = nxt - 1 if nxt else until
        else:
            nxt = cal.next_open_ns(now_ns)
            self.cal_state, self.cal_lo = "closed", now_ns
            self.cal_hi = nxt - 1 if nxt > now_ns else now_ns
        return self.cal_state
