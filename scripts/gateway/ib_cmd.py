"""``cmc gateway ib``: one Interactive Brokers account (TWS or IB Gateway via ib-async)."""

from __future__ import annotations

import sys

import click

from scripts.gateway.curve_opts import curve_options, use_curve


@click.command("ib")
@click.option("--conf", required=True, help="Config TOML with the venue's [venues.ib].")
@click.option("--venue", default=None, help="The [[venues]] name (default: the one ib venue).")
@click.option("--sock", "sock_dir", default="/tmp/cmc", show_default=True,
              help="Directory for ipc sockets ({sock}).")
@curve_options
def ib(conf: str, venue: str | None, sock_dir: str, curve_secret: str | None,
       curve_allow: str | None) -> None:
    """Serve one IB account (TWS/IB Gateway must be running) on the venue's md/ref/oe sockets,
    protocol v2.

    Prints READY <venue> once serving; stops on SIGTERM/SIGINT. Exit 2: configuration error
    (a contract IB does not know, venue); exit 1: TWS/IB Gateway not reachable at start."""
    use_curve("ib", curve_secret, curve_allow)
    try:
        from transports.venues.ib.process import main as ib_main  # ib-async only when run
    except ModuleNotFoundError as exc:  # the vendor library comes with an optional extra
        from scripts.gateway.cmd import missing_extra

        missing_extra("ib", exc)

    sys.exit(ib_main(conf, venue, sock_dir))


COMMANDS = [ib]
