"""Local fakes of real exchange APIs (``cmc fake-exchange binance|okx``), for tests and demos.

``core.FakeCore`` runs the simulator's venues on the wall clock and exposes them in exchange
terms (decimal prices and amounts, order requests, md and private streams, funding, balances,
fault switches); each exchange package (``binance``, ``okx``) serves that exchange's REST and
websocket API on top with aiohttp and exports:

- ``setup(app: aiohttp.web.Application, core: FakeCore) -> None``: add its routes (and any
  startup/cleanup hooks) to the app;
- ``ccxt_urls(base_http: str, base_ws: str) -> dict``: the ``urls['api']`` dict that points
  ccxt at the fake;
- ``ccxt_options() -> dict``: options ccxt needs to run against the fake.

``server`` builds the app (plus the test-only control endpoint ``/__fake__/...``) and runs it.
Beside the core: ``markets`` (units, errors), ``ledger`` (balances, funding), ``faults`` (the
run-time switches), ``replies`` (order answers matched by client id), ``reads`` (reads answered
one by one).
"""
