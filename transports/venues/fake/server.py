"""The fake exchange process: an aiohttp server on 127.0.0.1 around one ``FakeCore``.

``main`` loads the config, picks its ``[[fakes]]`` entry for the exchange, starts the core and
the server, prints ``READY <port>`` on stdout once listening, and on SIGTERM/SIGINT stops and
writes the truth JSON (``FakeCore.truth``) to ``truth_out``.

Test-only control endpoints (not part of any exchange's API):

- ``POST /__fake__/fault`` with a JSON switch (``faults.py``; ``market`` = spot/swap may stand
  for ``venue``) -> ``{"ok": true}``, or 400 ``{"error": ...}``;
- ``GET /__fake__/truth`` -> the truth so far;
- ``GET /__fake__/book?market=spot&sym=BTCUSDT`` -> the published book in exchange decimals
  ``{"seq", "bids": [[px, qty]], "asks": ...}`` (strings), to compare a client's book with;
- ``GET /__fake__/trace`` -> for ``cmc bench gateway``: ``http`` (every REST request's method,
  path, receive and response ns) and ``md`` (each depth diff's venue, symbol, update id and the
  ns stamp of the book change), the last ``TRACE_LEN`` of each.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import sys
from collections import deque
from pathlib import Path
from typing import Any

from aiohttp import web
from loguru import logger

from transports.clock import Clock, LiveClock
from transports.config.engine import AppConfig, load_config
from transports.config.gateways import FakeConfig
from transports.errors import ConfigError
from transports.venues.fake.core import FakeCore, FakeError
from transports.venues.fake.faults import FaultSpecError

EXCHANGES = ("binance", "okx")
STOP_TIMEOUT_S = 5.0
TRACE_LEN = 100_000  #: requests kept for the bench trace


def fake_config(cfg: AppConfig, exchange: str) -> FakeConfig:
    """The ``[[fakes]]`` entry of ``exchange``; ``ConfigError`` if there is none."""
    for f in cfg.fakes:
        if f.exchange == exchange:
            return f
    raise ConfigError(f"no [[fakes]] entry with exchange = {exchange!r}")


def build_app(core: FakeCore, exchange: str) -> web.Application:
    """The exchange's routes (its module's ``setup``) plus the control endpoints."""
    if exchange not in EXCHANGES:
        raise ConfigError(f"unknown fake exchange {exchange!r} (known: {', '.join(EXCHANGES)})")
    http_trace: deque[tuple[str, str, int, int]] = deque(maxlen=TRACE_LEN)

    @web.middleware
    async def timing(request: web.Request, handler: Any) -> web.StreamResponse:
        t_in = core.clock.now_ns()  # the wall clock: comparable with the bench's and gateway's
        resp: web.StreamResponse = await handler(request)
        if not request.path.startswith("/__fake__"):
            http_trace.append((request.method, request.path, t_in, core.clock.now_ns()))
        return resp

    app = web.Application(middlewares=[timing])
    importlib.import_module(f"transports.venues.fake.{exchange}").setup(app, core)

    async def fault(request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            if not isinstance(spec, dict):
                raise FaultSpecError("the body must be a JSON object")
            if spec.get("market"):
                spec["venue"] = core.venue_for(str(spec.pop("market")))
            core.set_fault(spec)
        except (ValueError, FaultSpecError, FakeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def truth(request: web.Request) -> web.Response:
        return web.json_response(core.truth(core.now_ns()))

    async def book(request: web.Request) -> web.Response:
        try:
            venue = core.venue_for(request.query.get("market", "spot"))
            sym = request.query.get("sym", "")
            snap = core.snapshot(venue, sym)
        except FakeError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if snap is None:
            return web.json_response({"error": "the venue is stopped"}, status=503)

        def side(levels: list[tuple[int, int]]) -> list[list[str]]:
            return [[str(core.from_ticks(venue, sym, p)), str(core.from_lots(venue, sym, q))]
                    for p, q in levels]

        return web.json_response({"seq": snap.seq, "bids": side(snap.b), "asks": side(snap.a)})

    async def trace(request: web.Request) -> web.Response:
        return web.json_response({"http": list(http_trace), "md": list(core.md_trace)})

    app.router.add_get("/__fake__/trace", trace)
    app.router.add_post("/__fake__/fault", fault)
    app.router.add_get("/__fake__/truth", truth)
    app.router.add_get("/__fake__/book", book)
    return app


def write_truth(path: str, truth: dict[str, Any]) -> None:
    """Write the truth JSON atomically."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(truth))
    os.replace(tmp, out)


async def serve(cfg: AppConfig, fake: FakeConfig, *, port: int, start_ns: int | None,
                truth_out: str | None, clock: Clock, stop: asyncio.Event) -> int:
    """Run the fake until ``stop`` is set; returns the process exit code."""
    core = FakeCore(cfg, fake, start_ns if start_ns is not None else clock.now_ns(), clock)
    app = build_app(core, fake.exchange)
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=STOP_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        logger.error("fake {}: cannot listen on port {}: {}", fake.exchange, port, exc)
        return 2
    bound = runner.addresses[0][1]
    ticker = asyncio.ensure_future(core.run())
    waiter = asyncio.ensure_future(stop.wait())
    logger.info("fake {} listening on 127.0.0.1:{} (venues {})", fake.exchange, bound,
                ", ".join(core.venues))
    print(f"READY {bound}", flush=True)
    rc = 0
    try:
        done, _ = await asyncio.wait({ticker, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if ticker in done:  # the simulator loop died: a bug; say so and stop
            logger.error("fake {}: the simulator loop stopped: {!r}", fake.exchange,
                         ticker.exception())
            rc = 1
    finally:
        for t in (ticker, waiter):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if truth_out:
            write_truth(truth_out, core.truth(clock.now_ns()))
        with contextlib.suppress(Exception):
            async with asyncio.timeout(STOP_TIMEOUT_S * 2):
                await runner.cleanup()
    logger.info("fake {} stopped", fake.exchange)
    return rc


def main(exchange: str, conf_path: str, port: int | None, start_ns: int | None,
         truth_out: str | None) -> int:
    """The ``cmc fake-exchange`` process. Returns 0, 1 (a failure) or 2 (config error)."""
    try:
        cfg = load_config(conf_path)
        fake = fake_config(cfg, exchange)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await serve(cfg, fake, port=fake.port if port is None else port,
                           start_ns=start_ns, truth_out=truth_out, clock=LiveClock(), stop=stop)

    return asyncio.run(run())


__all__ = ["EXCHANGES", "build_app", "fake_config", "main", "serve", "write_truth"]
