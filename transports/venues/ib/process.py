"""The ``cmc gateway ib`` process: config, signals, ``READY``, exit codes
(``transports.venues.gateway_process``)."""

from __future__ import annotations

import asyncio

from transports.config.engine import AppConfig, VenueConfig, load_config
from transports.venues.gateway_process import run_gateway_process
from transports.venues.ib.gateway import find_venue, run_gateway


def main(conf_path: str, venue: str | None, sock_dir: str) -> int:
    """Run the gateway; print ``READY <venue>`` once serving. Returns 0 on SIGTERM/SIGINT, 2 on
    a configuration error (a contract IB does not know is named), 1 when TWS/IB Gateway cannot
    be reached at start."""

    def load() -> tuple[AppConfig, VenueConfig]:
        cfg = load_config(conf_path)
        return cfg, find_venue(cfg, venue)

    async def serve(loaded: tuple[AppConfig, VenueConfig], stop: asyncio.Event) -> None:
        cfg, v = loaded
        await run_gateway(cfg, v.name, sock_dir, stop_event=stop,
                          ready=lambda gw: print(f"READY {v.name}", flush=True))

    return run_gateway_process(load, serve)


__all__ = ["main"]
