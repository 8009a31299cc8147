"""Who is who: the names of the actors a config implies, given to each core.

Cores address each other by name (``"risk"``, ``"leg.shfe"``). The naming rule lives here once;
a core is given the ``Topology`` and asks it (``topo.risk``, ``topo.leg(venue)``) instead of
writing a name itself, so a placement or a test can rename or remove an actor in one place.
"""

from __future__ import annotations

import msgspec


class Topology(msgspec.Struct, frozen=True):
    """The actor names of one engine. Defaults are the names ``build_shells`` uses."""

    journal: str = "journal"
    risk: str = "risk"
    combo: str = "combo"
    #: every strategy, in config order
    strategies: tuple[str, ...] = ()
    #: every trading LegExecutor, in config order
    legs: tuple[str, ...] = ()

    def touch_only(self, name: str) -> bool:
        """Whether subscriber ``name`` reads only the validity and the best bid and ask prices
        of a ``BookUpdate`` (risk: its marks; a LegExecutor: its price band and budgets), so a
        Book sends it an update only when those may have changed (``actors.book``). The
        strategies and the ComboExecutor read the depth and the timestamps: every update."""
        return name == self.risk or name in self.legs or name == self.leg(name.partition(".")[2])

    @staticmethod
    def feed(venue: str) -> str:
        """The Feed of ``venue``."""
        return f"feed.{venue}"

    @staticmethod
    def book(venue: str, sym: str) -> str:
        """The Book of ``venue:sym``."""
        return f"book.{venue}:{sym}"

    @staticmethod
    def strategy(pair: str) -> str:
        """The Strategy of pair ``pair``."""
        return f"strategy.{pair}"

    @staticmethod
    def leg(venue: str) -> str:
        """The LegExecutor of ``venue``'s account."""
        return f"leg.{venue}"


#: The default names, for cores built without a config (tests).
DEFAULT = Topology()

__all__ = ["DEFAULT", "Topology"]
