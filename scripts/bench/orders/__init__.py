"""``cmc bench orders``: the order path's round trip through the simulator gateway, raw and through
the engine (``bench``: the orchestration and the JSON keys; ``baseline``, ``raw``, ``engine``,
``driver``, ``stats``, ``report``)."""
