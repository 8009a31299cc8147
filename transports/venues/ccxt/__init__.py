"""The ccxt gateway: one real exchange account (Binance, OKX, Bybit; spot or perpetual swaps)
behind the venue protocol, version 2 (``cmc gateway ccxt``).

Pure layers first: ``units`` (decimals <-> ticks/lots), ``instruments`` (ccxt markets ->
``Instrument``), ``errors`` (exchange errors -> reject / unknown / throttled / clock skew),
``clmap`` (engine client ids -> exchange client ids, durable), ``credentials``, ``book`` (top
levels -> deltas), ``reports`` (ccxt orders and trades -> ack/fill/done/reject). Then the
asyncio parts: ``exchange`` (the ccxt objects and their hooks), ``md`` (books, heartbeats,
marks, status), ``orders`` (oe requests), ``positions`` (spot positions), ``private`` (the
private streams, catch-up after a reconnect, session, funding) and ``gateway`` (sockets, tasks,
``run_gateway``, the process ``main``). Needs the ``crypto`` extra (ccxt with ccxt.pro).
"""
