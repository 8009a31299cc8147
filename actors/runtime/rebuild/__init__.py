"""Rebuilds and replay of a group: the one replay of a group's journaled items through the
dispatcher (``group_router``, shared by ``cmc replay --verify``, the hot standby and restarts),
a restarted actor's state rebuilt from the journal and its latest checkpoint (``rebuild``), and
the supervisor's driving of those rebuilds for one node (``rebuild_driver``)."""
