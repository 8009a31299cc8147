"""``cmc summary RUN [--json]``: a run's summary computed from its journal."""

from __future__ import annotations

import sys

import click
import msgspec

from transports.errors import CmcError


@click.command("summary")
@click.argument("run", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def summary(run: str, as_json: bool) -> None:
    """Summarize RUN (a run directory or its journal.cmcj) from its journal: orders, fills,
    combos by outcome (failed ones listed), PnL per currency and in the home currency, fees,
    exposure in base units, legging, feed health, the risk state and why, alarms.

    Works on any run (`cmc demo`, `cmc launch`, a copied run directory with its config.json);
    `cmc launch` writes the same JSON to summary.json when it stops. Exit code 2 when RUN holds
    no readable journal.
    """
    from scripts.summary.build import build_run_summary
    from scripts.summary.text import print_summary

    try:
        s = build_run_summary(run)
    except CmcError as exc:
        click.echo(f"cmc summary: {exc}", err=True)
        sys.exit(2)
    if as_json:
        sys.stdout.write(msgspec.json.encode(s).decode() + "\n")
    else:
        print_summary(s)


COMMANDS = [summary]
