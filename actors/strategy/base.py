"""What every strategy kind does with its control inputs, once.

``PairStrategyCore`` is the base of the five kinds' cores (parity, basis, funding, multi,
stat). It owns no state of its own: each subclass composes a ``PairGuard`` (``self.guard``) and
its legs, and names, in its constructor, the legs a ``SessionStatus`` reaches
(``session_legs``, by ``(venue, sym)``) and those a ``FeedHealth`` reaches (``feed_legs``).
The handlers here hand operator and risk control to the guard, session and feed state to the
legs, and apply a live ``SetParams`` whole or not at all (validated as the config file is,
journaled either way); a kind refuses what it cannot change live in ``check_live`` and takes a
new config in ``_configure``.
"""

from __future__ import annotations

import msgspec

from actors.core import Core, Out
from actors.strategy.guard import PairGuard
from actors.strategy.legs import Leg
from transports.config.engine import PairConfig, live_update
from transports.errors import ConfigError
from transports.wire.messages import (
    ClockJump,
    Decision,
    FeedHealth,
    Flatten,
    Halt,
    Resume,
    SessionStatus,
    SetParams,
    TradingState,
    VenueGate,
)


class PairStrategyCore(Core):
    """The control handlers every strategy kind shares (see the module docstring)."""

    guard: PairGuard
    journal: str
    _pair: PairConfig
    #: (venue, sym) -> the leg a gateway's SessionStatus for it reaches
    session_legs: dict[tuple[str, str], Leg]
    #: the legs a venue's FeedHealth reaches (every leg whose book the strategy reads)
    feed_legs: tuple[Leg, ...]

    def _configure(self, pair: PairConfig) -> None:
        """Take ``pair`` and rebuild what the kind caches from it."""
        raise NotImplementedError

    def check_live(self, new: PairConfig) -> None:
        """Raise ``ConfigError`` when ``new`` changes what this kind fixes at start."""

    def on_session_status(self, s: SessionStatus, now_ns: int) -> Out:
        leg = self.session_legs.get((s.venue, s.sym))
        if leg is not None:
            leg.set_session(s.state)
        return []

    def on_feed_health(self, h: FeedHealth, now_ns: int) -> Out:
        """A venue feed's state and clock offset, for every leg on that venue."""
        venue = h.venue
        for leg in self.feed_legs:
            if leg.venue == venue:
                leg.set_feed(h.state, h.clock_offset_ns)
        return []

    def on_venue_gate(self, g: VenueGate, now_ns: int) -> Out:
        """A leg executor's gate: no open while it would deny (closes are left to it)."""
        self.guard.on_venue_gate(g)
        return []

    def on_clock_jump(self, m: ClockJump, now_ns: int) -> Out:
        """The node was frozen: open nothing until every leg has a quote made after now."""
        self.guard.on_clock_jump(m, now_ns)
        return []

    def on_trading_state(self, t: TradingState, now_ns: int) -> Out:
        self.guard.on_trading_state(t)
        return []

    def on_halt(self, m: Halt, now_ns: int) -> Out:
        """Open nothing until resumed (closes go on)."""
        self.guard.on_halt(m)
        return []

    def on_resume(self, m: Resume, now_ns: int) -> Out:
        """Open again; a flatten in progress stops."""
        self.guard.on_resume(m)
        return []

    def on_flatten(self, m: Flatten, now_ns: int) -> Out:
        """Close what the pair holds at once, reverted or not, and open nothing until resumed."""
        self.guard.on_flatten(m)
        return []

    def on_set_params(self, m: SetParams, now_ns: int) -> Out:
        """A live change of this pair's parameters (a kind's section by ``<section>.<field>``):
        validated as the config file is, applied whole or not at all, journaled either way
        (``set`` / ``set_rejected``)."""
        detail = msgspec.json.encode(m.values).decode()
        try:
            if m.section != f"pairs.{self._pair.name}":
                raise ConfigError(f"{m.section}: not this strategy's pair {self._pair.name!r}")
            new = live_update(self._pair, m.values)
            self.check_live(new)
        except ConfigError as exc:
            return [(self.journal, Decision(self.name, "set_rejected", f"{detail}: {exc}",
                                            now_ns))]
        self._configure(new)
        return [(self.journal, Decision(self.name, "set", detail, now_ns))]


__all__ = ["PairStrategyCore"]
