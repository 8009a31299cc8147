"""``cmc top``'s live console (Textual), split by seam.

- ``events``: pure. ``Snapshot`` (one poll's replies), ``Alarm``, ``changes`` (the alarms two
  successive polls show), ``ha_of`` (replication as the status carries it).
- ``model``: pure. ``History`` keeps what one poll cannot say (spread samples for the sparkline,
  how long a feed has been in its state, the alarms seen so far, warm-up counters) with the
  clock passed in; ``build_view`` turns the admin replies plus that history into a frozen
  ``ConsoleView`` of rows, units and currencies.
- ``source``: the admin socket side: one poll (``pairs``, ``combos``, ``actors``) and the
  operator commands (``halt``, ``resume``, ``reduce``, ``flatten``), every request bounded by a
  timeout through ``scripts.admin.client.request``.
- ``app``: the Textual app (widgets, keys, confirmation dialogs, waiting for a launch).
"""

from scripts.admin.console.model import ConsoleView, History, Snapshot, Units, build_view

__all__ = ["ConsoleView", "History", "Snapshot", "Units", "build_view"]
