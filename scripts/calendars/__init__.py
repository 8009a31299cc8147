"""``cmc calendar``: a trading day's sessions as the engine's calendars see them."""
