"""The ``cmc gateway ccxt`` process: config, signals, ``READY``, exit codes
(``transports.venues.gateway_process``)."""

from __future__ import annotations

import asyncio

from transports.config.engine import AppConfig, VenueConfig, load_config
from transports.venues.ccxt.config import find_venue
from transports.venues.ccxt.gateway import run_gateway
from transports.venues.gateway_process import run_gateway_process


def main(conf_path: str, exchange: str, market: str, venue: str | None, sock_dir: str,
         sandbox: bool, fake_url: str | None) -> int:
    """Run the gateway process; print ``READY <venue>`` once serving. Returns 0 on a stop by
    SIGTERM/SIGINT, 2 on a configuration error (the message names the field or symbol), 1 when
    the exchange cannot be reached at start."""

    def load() -> tuple[AppConfig, VenueConfig]:
        cfg = load_config(conf_path)
        return cfg, find_venue(cfg, venue, exchange, market)

    async def serve(loaded: tuple[AppConfig, VenueConfig], stop: asyncio.Event) -> None:
        cfg, v = loaded
        await run_gateway(cfg, v.name, sock_dir, stop_event=stop, fake_base=fake_url,
                          sandbox=sandbox,
                          ready=lambda gw: print(f"READY {v.name}", flush=True))

    return run_gateway_process(load, serve)


__all__ = ["main"]
