"""``cmc gateway paper``: paper trading on another gateway's live market data."""

from __future__ import annotations

import sys

import click

from scripts.gateway.curve_opts import curve_options, use_curve


@click.command("paper")
@click.option("--conf", required=True, help="Config TOML with a [[venues]] entry that has a "
              "[venues.paper] section.")
@click.option("--md-from", "md_from", default=None,
              help="Where the market data comes from: a venue name of the config, or "
                   "md=ADDR,ref=ADDR (default: the venue's [venues.paper] md_from).")
@click.option("--venue", default=None,
              help="The paper venue to serve (default: the config's only paper venue).")
@click.option("--sock", "sock_dir", default=None,
              help="Directory for ipc sockets ({sock}); default: the config's launch.sock_dir.")
@click.option("--truth-out", default=None, help="Write the paper venue's record (JSON) at exit.")
@click.option("--duration", "duration_s", type=float, default=None, help="Stop after S seconds.")
@curve_options
def paper(conf: str, md_from: str | None, venue: str | None, sock_dir: str | None,
          truth_out: str | None, duration_s: float | None, curve_secret: str | None,
          curve_allow: str | None) -> None:
    """Fill orders against another gateway's book (latency, fees, queue position) behind the
    venue protocol; prints READY once bound, stops on SIGTERM."""
    use_curve("paper", curve_secret, curve_allow)
    from transports.config.engine import load_config
    from transports.errors import ConfigError
    from transports.venues.paper.run import main

    if sock_dir is None:
        try:
            sock_dir = load_config(conf).launch.sock_dir
        except ConfigError as exc:
            click.echo(f"cmc gateway paper: config error: {exc}", err=True)
            sys.exit(2)
        if not sock_dir:
            click.echo("cmc gateway paper: --sock is needed (the config has no "
                       "launch.sock_dir)", err=True)
            sys.exit(2)
    sys.exit(main(conf, sock_dir, venue=venue, md_from=md_from, truth_out=truth_out,
                  duration_s=duration_s))
