"""``cmc fake-exchange binance|okx``: a local fake of the exchange's REST and websocket API
(``transports/venues/fake``), backed by the simulator's venues of ``--conf``."""

from __future__ import annotations

import sys

import click


@click.command("fake-exchange")
@click.argument("exchange", type=click.Choice(["binance", "okx"]))
@click.option("--conf", required=True, help="Config TOML with a [[fakes]] entry for EXCHANGE.")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port on 127.0.0.1 (default: the [[fakes]] entry's; 0 picks a free one).")
@click.option("--start-ns", type=int, default=None,
              help="The simulator's start time (ns); fakes started with the same value and "
                   "seed quote the same prices. Default: now.")
@click.option("--truth-out", default=None, help="Write the truth JSON here on exit.")
@click.option("--log-level", default="INFO", show_default=True, help="loguru level (stderr).")
def fake_exchange(exchange: str, conf: str, port: int | None, start_ns: int | None,
                  truth_out: str | None, log_level: str) -> None:
    """Serve a fake EXCHANGE API on 127.0.0.1; prints READY <port> once listening; stops on
    SIGTERM/SIGINT, writing the truth JSON. Exit 2 on a config error."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level=log_level.upper())
    try:
        from transports.venues.fake.server import main
    except ModuleNotFoundError as exc:  # aiohttp comes with the crypto extra
        click.echo(f"cmc fake-exchange: {exc.name!r} is not installed "
                   "(pip install -e '.[crypto]')", err=True)
        sys.exit(2)
    sys.exit(main(exchange, conf, port, start_ns, truth_out))


COMMANDS = [fake_exchange]
