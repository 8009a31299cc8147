"""``cmc gateway``: the venue gateway processes (simulator, ccxt, paper)."""
