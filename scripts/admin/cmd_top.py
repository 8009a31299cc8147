"""``cmc top``: a live terminal view of a running launch, fed by its admin socket."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime

import click

from transports.clock import LiveClock
from transports.errors import CmcError


@click.command()
@click.option("--once", is_flag=True, help="Print one frame and exit.")
@click.option("--interval", "interval_s", type=float, default=1.0, show_default=True)
@click.option("--endpoint", default=None, help="Admin endpoint (see `cmc admin`).")
@click.option("--status", "status_file", default=None, help="A launch's status.json.")
@click.option("--keys", "keys_dir", default="keys", show_default=True, envvar="CMC_ADMIN_KEYS")
@click.option("--client", default="client", show_default=True)
@click.option("--timeout", "timeout_s", type=float, default=3.0, show_default=True)
def top(once: bool, interval_s: float, endpoint: str | None, status_file: str | None,
        keys_dir: str, client: str, timeout_s: float) -> None:
    """Each pair's spread against its thresholds, legs' health, positions, exposure, PnL,
    latency and the trading state, redrawn every --interval seconds (Ctrl-C quits)."""
    from scripts.admin.client import request, resolve_endpoint
    from scripts.admin.top import render

    color = sys.stdout.isatty() and not once
    wait = threading.Event()
    try:
        ep = resolve_endpoint(endpoint, status_file)
        while True:
            reply = request(ep, keys_dir, "pairs", {}, timeout_s, client=client)
            if not reply.get("ok"):
                raise CmcError(str(reply.get("error")))
            now = datetime.fromtimestamp(LiveClock().now_ns() / 1e9, UTC).strftime("%H:%M:%S")
            frame = render(reply["result"], f"{now} UTC", color)
            sys.stdout.write(frame if once else "\x1b[H\x1b[2J" + frame)
            sys.stdout.flush()
            if once or wait.wait(interval_s):
                return
    except CmcError as exc:
        click.echo(f"cmc top: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        return


COMMANDS = [top]
