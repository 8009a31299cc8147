"""``cmc config new``: a starting config written from what the venues' gateways list."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from transports.errors import CmcError, ConfigError


@click.group()
def config() -> None:
    """Engine configs."""


def build(venues: tuple[str, ...] | list[str], sock_dir: str = "",
          timeout_ms: int = 3000) -> str:
    """Ask every venue (``NAME=md,ref,oe``) for its instruments and return the config TOML,
    checked by the project's loader both as written and with its pair uncommented; raise
    ``ConfigError`` for a bad spec, ``VenueError`` naming the venue and endpoint for a venue
    that does not answer."""
    from scripts.config_new.render import render
    from scripts.config_new.venues import ask_all, parse_specs
    from transports.config.engine import load_config_bytes

    specs = parse_specs(list(venues))
    if not sock_dir and any("{sock}" in a for s in specs for a in (s.md, s.ref, s.oe)):
        raise ConfigError("an endpoint contains {sock}: give --sock DIR (the socket directory "
                          "the gateways use)")
    replies = ask_all(specs, sock_dir, timeout_ms)
    text = render(specs, replies, sock_dir=sock_dir)
    for with_pair in (False, True):
        check = text if not with_pair else render(specs, replies, sock_dir=sock_dir,
                                                  with_pair=True)
        try:
            load_config_bytes(check.encode(), "the new config")
        except ConfigError as exc:  # a bug here, not the operator's: say what was written
            raise ConfigError(f"the written config does not validate"
                              f"{' with its pair uncommented' if with_pair else ''}: {exc}"
                              ) from None
    return text


@config.command("new")
@click.option("--venue", "venues", multiple=True, required=True, metavar="NAME=MD,REF,OE",
              help="A venue and its gateway's market-data, reference and order-entry "
                   "endpoints (repeat for each venue).")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="Write the config here (default: stdout).")
@click.option("--sock", "sock_dir", default="",
              help="The socket directory that fills {sock} in the endpoints (also written as "
                   "[launch] sock_dir).")
@click.option("--timeout-ms", type=click.IntRange(1, 600_000), default=3000, show_default=True,
              help="How long each venue has to answer.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def config_new(venues: tuple[str, ...], out: str | None, sock_dir: str, timeout_ms: int,
               force: bool) -> None:
    """Ask each venue's gateway for its instruments and write a starting config: venues,
    contracts (tick, lot, currency, unit, fees), a parity pair skeleton (commented out),
    placement and supervision. Exit 2 on a bad --venue or an existing --out, 1 when a venue
    does not answer."""
    from transports.errors import VenueError

    if out is not None and Path(out).exists() and not force:
        click.echo(f"cmc config new: {out} exists (--force to overwrite)", err=True)
        sys.exit(2)
    try:
        text = build(venues, sock_dir, timeout_ms)
    except VenueError as exc:
        click.echo(f"cmc config new: {exc}", err=True)
        sys.exit(1)
    except CmcError as exc:
        click.echo(f"cmc config new: {exc}", err=True)
        sys.exit(2)
    if out is None:
        sys.stdout.write(text)
        return
    Path(out).write_text(text)
    click.echo(f"cmc config new: wrote {out}; review it, then: cmc launch {out}", err=True)


COMMANDS = [config]
