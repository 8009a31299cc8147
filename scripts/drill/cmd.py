"""``cmc drill``: drills a desk runs before going live (``cmc drill crash``, ``cmc drill
failover``)."""

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


@drill.command()
@click.option("--mode", type=click.Choice(["kill", "freeze", "partition", "handover"]),
              default="kill", show_default=True,
              help="SIGKILL the primary, SIGSTOP it past the lease TTL (then SIGCONT), cut it "
                   "from NATS, or SIGTERM it (a planned switch).")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seeds the fault's instant and the simulator.")
@click.option("--out", "out_dir", default=None, help="Directory for the run (default: a temp dir).")
@click.option("--ttl-ms", type=click.IntRange(50, 60_000), default=300, show_default=True,
              help="The lease's TTL.")
@click.option("--renew-ms", type=click.IntRange(10, 30_000), default=100, show_default=True,
              help="How often the primary renews the lease.")
@click.option("--shape", type=click.Choice(["single", "production"]), default="single",
              show_default=True, help="One NATS server and ipc venue links, or the production "
                                      "shape on loopback: a 3-server NATS cluster (R3) and TCP "
                                      "venue links.")
@click.option("--replicate-intents", "intents", type=click.Choice(["sync", "async"]),
              default="sync", show_default=True,
              help="Intents acknowledged by JetStream before their orders leave, or pipelined.")
@click.option("--cut-at", type=click.Choice(["random", "both-legs"]), default="random",
              show_default=True,
              help="partition: cut at a seeded instant, or right after both legs' intents of "
                   "a combo were acknowledged (their orders leave, the cycle's journal batch "
                   "never reaches the standby).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def failover(mode: str, seed: int, out_dir: str | None, ttl_ms: int, renew_ms: int,
             shape: str, intents: str, cut_at: str, as_json: bool) -> None:
    """A primary and a hot standby on a NATS server from the package and the simulator; the
    fault of MODE hits the primary; judge the take-over time (last renewal to the survivor's
    first possible order, at most 500 ms), fenced orders, duplicate client ids, the fill sets
    (survivor's journal against the venue) and exposure from the simulator's record. Exit 1 if
    an oracle fails."""
    from scripts.drill.failover import run_failover
    from scripts.progress import echo

    def progress(text: str) -> None:
        if not as_json:
            echo(f"drill: {text}")

    if renew_ms * 2 > ttl_ms:
        raise click.BadParameter(f"{renew_ms} must be at most half of --ttl-ms {ttl_ms}",
                                 param_hint="--renew-ms")
    try:
        report = run_failover(mode, seed, out_dir, progress, ttl_ms=ttl_ms, renew_ms=renew_ms,
                              shape=shape, intents=intents,
                              cut_at="" if cut_at == "random" else "both_legs")
    except ConfigError as exc:
        click.echo(f"cmc drill failover: configuration error: {exc}", err=True)
        sys.exit(2)
    except CmcError as exc:
        click.echo(f"cmc drill failover: {exc}", err=True)
        sys.exit(1)
    if as_json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    else:
        for k in ("mode", "seed", "takeover_ms", "intent_cost_us", "fenced", "fenced_cancels",
                  "orders", "fills",
                  "duplicate_client_ids", "fills_equal", "worst_exposure_g", "final_exposure_g",
                  "residual_g", "max_leg_lots", "limit_leg_lots", "run_dir"):
            click.echo(f"{k:<22} {report.get(k)}")
    if not report["ok"]:
        click.echo("cmc drill failover: FAILED: " + "; ".join(report["failures"]), err=True)
        sys.exit(1)


COMMANDS = [drill]
