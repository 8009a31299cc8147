"""The ``cmc gateway ib`` process: config, signals, ``READY``, exit codes."""

from __future__ import annotations

import asyncio
import signal
import sys

from transports.config.engine import load_config
from transports.errors import CmcError, ConfigError
from transports.venues.ib.gateway import find_venue, run_gateway


def main(conf_path: str, venue: str | None, sock_dir: str) -> int:
    """Run the gateway; print ``READY <venue>`` once serving. Returns 0 on SIGTERM/SIGINT, 2 on
    a configuration error (a contract IB does not know is named), 1 when TWS/IB Gateway cannot
    be reached at start."""
    try:
        cfg = load_config(conf_path)
        v = find_venue(cfg, venue)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_gateway(cfg, v.name, sock_dir, stop_event=stop,
                          ready=lambda gw: print(f"READY {v.name}", flush=True))

    try:
        asyncio.run(_run())
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except CmcError as exc:
        print(f"gateway error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - e.g. TWS gone during start
        print(f"gateway error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


__all__ = ["main"]
