"""``cmc drill``: drills a desk runs before going live (``cmc drill crash``)."""

from __future__ import annotations

import sys

import click
import msgspec

from transports.errors import CmcError, ConfigError


@click.group()
def drill() -> None:
    """Drills a desk runs before going live, judged from the venue's record."""


@drill.command()
@click.option("--kills", type=click.IntRange(1, 50), default=5, show_default=True,
              help="How many times the trade node is SIGKILLed.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seeds the kill instants and the simulator.")
@click.option("--out", "out_dir", default=None, help="Directory for the run (default: a temp dir).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def crash(kills: int, seed: int, out_dir: str | None, as_json: bool) -> None:
    """SIGKILL the trade node at KILLS random instants of a simulated launch; judge duplicate
    client ids, the fill sets, exposure, spread positions and the time to flat after each kill
    from the simulator's record. Exit 1 if an oracle fails."""
    from scripts.drill.crash import run_drill
    from scripts.progress import echo

    def progress(text: str) -> None:
        if not as_json:
            echo(f"drill: {text}")  # above the kills bar when one is shown

    try:
        report = run_drill(kills, seed, out_dir, progress, bar=not as_json)
    except ConfigError as exc:
        click.echo(f"cmc drill crash: configuration error: {exc}", err=True)
        sys.exit(2)
    except CmcError as exc:
        click.echo(f"cmc drill crash: {exc}", err=True)
        sys.exit(1)
    if as_json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    else:
        for k in ("kills", "orders", "fills", "duplicate_client_ids", "fills_equal",
                  "worst_exposure_g", "final_exposure_g", "residual_g", "max_leg_lots",
                  "limit_leg_lots", "time_to_flat_ms", "run_dir"):
            click.echo(f"{k:<22} {report[k]}")
    if not report["ok"]:
        click.echo("cmc drill crash: FAILED: " + "; ".join(report["failures"]), err=True)
        sys.exit(1)


COMMANDS = [drill]
