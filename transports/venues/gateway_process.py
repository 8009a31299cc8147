"""What the venue gateway processes (``cmc gateway ccxt | ctp | ib``) share: a configuration
read before anything starts, a stop on SIGTERM/SIGINT, one exit-code rule.

Exit codes: 0 after a stop by SIGTERM or SIGINT; 2 on a configuration error (the message names
the field, symbol or venue), before or during the start; 1 on a gateway error (the venue cannot
be reached, a login times out). Each error is one line on stderr: ``config error: ...`` or
``gateway error: ...``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from transports.errors import CmcError, ConfigError

T = TypeVar("T")


def run_gateway_process(load: Callable[[], T],
                        serve: Callable[[T, asyncio.Event], Awaitable[None]]) -> int:
    """``load()`` the configuration (a ``ConfigError`` exits 2), then run ``serve(loaded,
    stop)`` on a new event loop until it returns; ``stop`` is set by SIGTERM or SIGINT. Return
    the process's exit code (module docstring)."""
    try:
        loaded = load()
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(loaded, stop)

    try:
        asyncio.run(_run())
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except CmcError as exc:
        print(f"gateway error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - e.g. the venue unreachable at start
        print(f"gateway error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


__all__ = ["run_gateway_process"]
