"""The ``cmc bench orders`` and ``cmc bench soak`` commands (added to the ``bench`` group of
``scripts.cli``). Light to import: the benches load when a command runs."""

from __future__ import annotations

import sys

import click
import msgspec


@click.command("orders")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quick", is_flag=True, help="Short runs (1 s per rate; smoke test).")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=None,
              help="Seconds per rate and path (default 5, --quick 1).")
@click.option("--rate", "rates", type=click.FloatRange(min=1.0), multiple=True,
              help="Offered orders/s (repeatable; default 1000 and 10000).")
@click.option("--rtt-trips", type=click.IntRange(min=0), default=None,
              help="Round trips of the machine's ipc baseline, run first (default 2000, "
                   "--quick 500; 0 skips it).")
def orders_cmd(as_json: bool, quick: bool, seconds: float | None, rates: tuple[float, ...],
               rtt_trips: int | None) -> None:
    """The machine's ipc round trip, then order -> ack through the simulator gateway, raw and
    through the engine's leg executors, paced open loop; what each adds, and whether the rate
    is sustained."""
    from scripts.bench.orders.bench import format_table, run_orders_bench

    result = run_orders_bench(quick=quick, rates=rates or None, seconds=seconds,
                              progress=None if not as_json else False,
                              baseline_trips=rtt_trips)
    if as_json:
        sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    else:
        sys.stdout.write(format_table(result))


@click.command("soak")
@click.option("--minutes", type=click.FloatRange(min=0.01), required=True,
              help="How long the demo market runs (minutes; fractions allowed).")
@click.option("--rate", type=click.FloatRange(min=1.0), default=None,
              help="Book updates/s of all simulated venues together (default: the demo's).")
@click.option("--interval", "interval_s", type=click.FloatRange(min=0.2), default=None,
              help="Seconds between RSS samples (default 2, or 5 past 5 minutes).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def soak_cmd(minutes: float, rate: float | None, interval_s: float | None, as_json: bool) -> None:
    """Run the demo market for N minutes and report the engine's memory (RSS) over time, with a
    verdict: does it grow after warm-up?"""
    from scripts.bench.soak import format_table, run_soak

    result = run_soak(minutes, rate, interval_s, progress=None if not as_json else False)
    if as_json:
        sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    else:
        sys.stdout.write(format_table(result))


ORDERS_CMD = orders_cmd
SOAK_CMD = soak_cmd

__all__ = ["ORDERS_CMD", "SOAK_CMD"]
