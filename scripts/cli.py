"""The ``cmc`` command line."""

from __future__ import annotations

import sys

import click
import msgspec

from transports.errors import CmcError


@click.group()
@click.version_option(package_name="cross-market-connect", prog_name="cmc",
                      message="%(prog)s %(version)s")
def main() -> None:
    """cross_market_connect: cross-market arbitrage engine."""


@main.command()
@click.option("--duration", "duration_s", type=float, default=None,
              help="Seconds to trade (default: the config's run.duration_s, 30).")
@click.option("--seed", type=int, default=None, help="Simulator seed (same seed, same market).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--out", "out_dir", default=None, help="Directory for run folders (default runs/).")
@click.option("--conf", default=None, help="Config TOML (default: the embedded conf/demo.toml).")
@click.option("--faults", default=None,
              help="Simulator fault preset (conf/faults/NAME.toml): md-chaos, oe-chaos.")
@click.option("--scenario", default=None,
              help="A strategy kind's market (conf/scenarios/NAME.toml): gold, gold-competitor, "
                   "basis, funding, multi-venue, stat-arb.")
def demo(duration_s: float | None, seed: int | None, as_json: bool, out_dir: str | None,
         conf: str | None, faults: str | None, scenario: str | None) -> None:
    """Run the simulated venues and the engine; print a summary."""
    from scripts.demo.demo import print_human, run_demo
    from scripts.demo.scenarios import scenario_conf

    if duration_s is not None and duration_s <= 0:
        raise click.BadParameter(f"must be > 0, got {duration_s}", param_hint="--duration")
    if scenario is not None:
        if conf is not None:
            raise click.UsageError("--scenario names its own config; drop --conf")
        try:
            conf = scenario_conf(scenario)
        except CmcError as exc:
            raise click.BadParameter(str(exc), param_hint="--scenario") from None
    try:
        summary, failure = run_demo(conf, duration_s, seed, out_dir, quiet=as_json,
                                    faults=faults)
    except CmcError as exc:
        click.echo(f"cmc demo: {exc}", err=True)
        sys.exit(2)
    if as_json:
        sys.stdout.write(msgspec.json.encode(summary).decode() + "\n")
    else:
        print_human(summary)
    if failure:
        click.echo(f"cmc demo: FAILED: {failure}", err=True)
        sys.exit(1)


@main.group()
def bench() -> None:
    """Benchmarks (numbers, not pass/fail)."""


@bench.command("tick-to-trade")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quick", is_flag=True, help="Short runs (smoke test).")
def bench_tick_to_trade(as_json: bool, quick: bool) -> None:
    """Floor (direct calls) against the actor pipeline, in two placements and three rates."""
    from scripts.bench.tick_to_trade import run_tick_to_trade

    result = run_tick_to_trade(quick=quick, progress=not as_json)
    if as_json:
        sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    else:
        from scripts.bench.tick_to_trade import print_table

        print_table(result)


@bench.command("gateway")
@click.option("--venue", type=click.Choice(["ccxt-fake"]), default="ccxt-fake", show_default=True,
              help="The real-venue gateway to measure (beside the simulator gateway).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quick", is_flag=True, help="Short runs (smoke test).")
def bench_gateway(venue: str, as_json: bool, quick: bool) -> None:
    """What a gateway adds per md update and per order round trip, beside the simulator's."""
    from scripts.bench.venue_gateways import print_table, run_gateway_bench
    from scripts.launch.process import configure_logging

    configure_logging(None, "WARNING", quiet=True)
    result = run_gateway_bench(venue, quick=quick, progress=not as_json)
    if as_json:
        sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    else:
        print_table(result)


@bench.command("risk")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quick", is_flag=True, help="Fewer repetitions (smoke test).")
def bench_risk(as_json: bool, quick: bool) -> None:
    """Repair decision time, and halt → every executor HALTED, in process."""
    from scripts.bench.risk import run_risk_bench
    from scripts.launch.process import configure_logging

    configure_logging(None, "WARNING", quiet=True)
    result = run_risk_bench(quick=quick, progress=not as_json)
    if as_json:
        sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    else:
        for name, r in result.items():
            click.echo(f"{name:<20} p50 {r['p50_us']} µs  p99 {r['p99_us']} µs  "
                       f"p99.9 {r['p999_us']} µs  max {r['max_us']} µs  (n={r['n']})")


from scripts.bench.cmd_orders import ORDERS_CMD, SOAK_CMD  # noqa: E402

# cmc bench orders [--json] [--quick] [--seconds S] [--rate R ...] [--rtt-trips N]
bench.add_command(ORDERS_CMD)
bench.add_command(SOAK_CMD)  # cmc bench soak --minutes N [--rate R] [--interval S] [--json]


@main.command()
@click.option("--conf", required=True, help="Config TOML with a [placement].")
@click.option("--node", "node_name", required=True, help="Which node of the placement to run.")
@click.option("--sock", "sock_dir", required=True, help="Socket directory ({sock}).")
@click.option("--run-dir", required=True, help="Directory for the journal and latency files.")
def node(conf: str, node_name: str, sock_dir: str, run_dir: str) -> None:
    """Run one node (process) of a placement until SIGTERM."""
    from scripts.launch.node_main import run_node

    try:
        sys.exit(run_node(conf, node_name, sock_dir, run_dir))
    except CmcError as exc:
        click.echo(f"cmc node: {exc}", err=True)
        sys.exit(2)


#: The command groups, one module each (``scripts/<group>/cmd*.py``), registered in this order.
COMMAND_MODULES = ("scripts.launch.cmd", "scripts.config_new.cmd", "scripts.admin.cmd",
                   "scripts.admin.cmd_top", "scripts.replay.cmd", "scripts.audit.cmd",
                   "scripts.report.cmd", "scripts.drill.cmd", "scripts.gateway.cmd",
                   "scripts.fake.cmd", "scripts.calendars.cmd", "scripts.summary.cmd",
                   "scripts.launch.ha.cmd")


def _register_plugins() -> None:
    """Add the commands of every module in ``COMMAND_MODULES`` (each exports ``COMMANDS``)."""
    import importlib

    for name in COMMAND_MODULES:
        for cmd in importlib.import_module(name).COMMANDS:
            main.add_command(cmd)


_register_plugins()

if __name__ == "__main__":
    main()
