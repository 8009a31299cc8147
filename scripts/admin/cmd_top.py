"""``cmc top``: the live console of a running launch, fed by its admin socket.

On a terminal it is the Textual console (``scripts.admin.console``): pairs, legs, feeds,
positions, PnL, alarms, combos, replication, and keys to halt, resume, reduce and flatten; it
waits for a launch that is not up yet. ``--once``, ``--plain`` or a stdout that is not a
terminal (a pipe, CI) print the plain text frame (``scripts.admin.top.render``) instead.
"""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime

import click

from transports.clock import LiveClock
from transports.errors import CmcError


def _plain(ep: str, once: bool, interval_s: float, keys_dir: str, client: str,
           timeout_s: float) -> None:
    """The text frame: once, or redrawn every ``interval_s`` (colour on a terminal)."""
    from scripts.admin.client import request
    from scripts.admin.top import render

    color = sys.stdout.isatty() and not once
    wait = threading.Event()
    while True:
        reply = request(ep, keys_dir, "pairs", {}, timeout_s, client=client)
        if not reply.get("ok"):
            raise CmcError(str(reply.get("error")))
        now = datetime.fromtimestamp(LiveClock().now_ns() / 1e9, UTC).strftime("%H:%M:%S")
        frame = render(reply["result"], f"{now} UTC", color)
        sys.stdout.write(frame if once or not color else "\x1b[H\x1b[2J" + frame)
        sys.stdout.flush()
        if once or wait.wait(interval_s):
            return


@click.command()
@click.option("--once", is_flag=True, help="Print one plain text frame and exit.")
@click.option("--plain", is_flag=True, help="Plain text frames instead of the console.")
@click.option("--interval", "interval_s", type=float, default=1.0, show_default=True)
@click.option("--endpoint", default=None, help="Admin endpoint (see `cmc admin`).")
@click.option("--status", "status_file", default=None, help="A launch's status.json.")
@click.option("--keys", "keys_dir", default="keys", show_default=True, envvar="CMC_ADMIN_KEYS")
@click.option("--client", default="client", show_default=True)
@click.option("--timeout", "timeout_s", type=float, default=3.0, show_default=True,
              help="Deadline of each admin request (seconds).")
def top(once: bool, plain: bool, interval_s: float, endpoint: str | None,
        status_file: str | None, keys_dir: str, client: str, timeout_s: float) -> None:
    """Live console: each pair's spread against its thresholds, legs and feeds, positions,
    PnL, alarms, combos, replication; keys h halt, r resume, d reduce, f flatten (halt and
    flatten ask first), q quit. Waits for a launch that is not up yet.

    With --once, --plain or when stdout is not a terminal: the plain text frame."""
    from scripts.admin.client import resolve_endpoint

    try:
        ep = resolve_endpoint(endpoint, status_file)
        if once or plain or not sys.stdout.isatty():
            _plain(ep, once, interval_s, keys_dir, client, timeout_s)
            return
        from scripts.admin.console.app import TopApp
        from scripts.admin.console.source import AdminSource

        TopApp(AdminSource(ep, keys_dir, client, timeout_s), interval_s).run()
    except CmcError as exc:
        click.echo(f"cmc top: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        return


COMMANDS = [top]
