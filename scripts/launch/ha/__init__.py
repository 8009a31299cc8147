"""A launch with ``[ha]``: the primary's side (``runtime``: lease, fencing, replication), the
launch itself (``launch``), the hot standby (``standby``, its admin socket ``standby_admin``) and
``cmc ha export`` (``cmd``, ``export``)."""
