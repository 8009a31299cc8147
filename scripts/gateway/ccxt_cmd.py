"""``cmc gateway ccxt``: one exchange account (Binance, OKX, Bybit) behind the venue protocol."""

from __future__ import annotations

import sys

import click

from scripts.gateway.curve_opts import curve_options, use_curve


@click.command("ccxt")
@click.option("--exchange", type=click.Choice(["binance", "okx", "bybit"]), required=True,
              help="The exchange.")
@click.option("--market", type=click.Choice(["spot", "swap"]), required=True,
              help="Spot, or USDT perpetual swaps.")
@click.option("--conf", required=True, help="Config TOML with the venue's [venues.ccxt].")
@click.option("--venue", default=None,
              help="The [[venues]] name (default: the one ccxt venue of this exchange/market).")
@click.option("--sock", "sock_dir", default="/tmp/cmc", show_default=True,
              help="Directory for ipc sockets ({sock}).")
@click.option("--sandbox", is_flag=True, help="Use the exchange's testnet (where ccxt can).")
@click.option("--fake-url", default=None,
              help="Point ccxt at a local fake exchange (http://127.0.0.1:PORT).")
@curve_options
def ccxt(exchange: str, market: str, conf: str, venue: str | None, sock_dir: str,
         sandbox: bool, fake_url: str | None, curve_secret: str | None,
         curve_allow: str | None) -> None:
    """Serve one exchange account (ccxt) on the venue's md/ref/oe sockets, protocol v2.

    Prints READY <venue> once serving; stops on SIGTERM/SIGINT. Exit 2: configuration error
    (unknown symbol, credentials, venue); exit 1: the exchange could not be reached at start."""
    use_curve("ccxt", curve_secret, curve_allow)
    try:
        from transports.venues.ccxt.process import main as ccxt_main
    except ModuleNotFoundError as exc:  # the vendor library comes with an optional extra
        from scripts.gateway.cmd import missing_extra

        missing_extra("ccxt", exc)

    sys.exit(ccxt_main(conf, exchange, market, venue, sock_dir, sandbox, fake_url))


COMMANDS = [ccxt]
