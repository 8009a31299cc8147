"""The ``cmc gateway ccxt`` process: config, signals, ``READY``, exit codes."""

from __future__ import annotations

import asyncio
import signal
import sys

from transports.config.engine import load_config
from transports.errors import CmcError, ConfigError
from transports.venues.ccxt.config import find_venue
from transports.venues.ccxt.gateway import run_gateway


def main(conf_path: str, exchange: str, market: str, venue: str | None, sock_dir: str,
         sandbox: bool, fake_url: str | None) -> int:
    """Run the gateway process; print ``READY <venue>`` once serving. Returns 0 on a stop by
    SIGTERM/SIGINT, 2 on a configuration error (the message names the field or symbol), 1 when
    the exchange cannot be reached at start."""
    try:
        cfg = load_config(conf_path)
        v = find_venue(cfg, venue, exchange, market)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_gateway(cfg, v.name, sock_dir, stop_event=stop, fake_base=fake_url,
                          sandbox=sandbox,
                          ready=lambda gw: print(f"READY {v.name}", flush=True))

    try:
        asyncio.run(_run())
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except CmcError as exc:
        print(f"gateway error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - e.g. the exchange unreachable at start
        print(f"gateway error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


__all__ = ["main"]
