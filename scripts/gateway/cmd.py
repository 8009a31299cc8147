"""``cmc gateway``: venue gateway processes. ``sim`` is defined here; every other gateway's
subcommand lives in its own module listed in ``SUBCOMMANDS`` (each exports one click command
named like the module's gateway), so an optional extra's import cost is paid only by its
gateway."""

from __future__ import annotations

import importlib
import sys

import click

from scripts.gateway.curve_opts import curve_options, use_curve

#: modules each exporting one click command to register under ``cmc gateway``; the attribute
#: is the module's last name segment (``ccxt_cmd`` -> ``ccxt``, ``paper`` -> ``paper``)
SUBCOMMANDS = (("scripts.gateway.ccxt_cmd", "ccxt"), ("scripts.gateway.paper", "paper"),
               ("scripts.gateway.ctp_cmd", "ctp"), ("scripts.gateway.ib_cmd", "ib"))


@click.group()
def gateway() -> None:
    """Venue gateway processes."""


@gateway.command("sim")
@click.option("--sock", "sock_dir", required=True, help="Directory for ipc sockets ({sock}).")
@click.option("--conf", default=None, help="Config TOML (default: the embedded demo).")
@click.option("--truth-out", default=None, help="Write the ground-truth JSON here at exit.")
@click.option("--duration", "duration_s", type=float, default=None, help="Stop after S seconds.")
@click.option("--seed", type=int, default=None, help="Override sim.seed.")
@click.option("--faults", default=None, help="Fault preset name or TOML path.")
@curve_options
def gateway_sim(sock_dir: str, conf: str | None, truth_out: str | None,
                duration_s: float | None, seed: int | None, faults: str | None,
                curve_secret: str | None, curve_allow: str | None) -> None:
    """Run the simulated venues behind the venue gateway protocol."""
    use_curve("sim", curve_secret, curve_allow)
    from transports.venues.sim.gateway import main as sim_main

    sys.exit(sim_main(conf, sock_dir, truth_out, duration_s, seed, faults=faults))


#: the optional extra that provides each gateway's libraries
EXTRAS = {"ccxt": "crypto", "paper": "", "ctp": "ctp", "ib": "ib"}


def missing_extra(name: str, exc: ModuleNotFoundError) -> None:
    """Exit 2 saying which extra provides the library gateway ``name`` could not import (its
    command imports the vendor library only when it runs, so ``cmc --help`` never needs it)."""
    extra = EXTRAS.get(name, "")
    hint = f" (pip install -e '.[{extra}]')" if extra else ""
    click.echo(f"cmc gateway {name}: {exc.name!r} is not installed{hint}", err=True)
    sys.exit(2)


def _missing(name: str, lib: str) -> click.Command:
    """A stand-in for a gateway whose optional libraries are not installed: it says which
    extra to install and exits 2."""

    @click.command(name, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def stand_in(args: tuple[str, ...]) -> None:
        extra = EXTRAS.get(name, "")
        hint = f" (pip install -e '.[{extra}]')" if extra else ""
        click.echo(f"cmc gateway {name}: {lib!r} is not installed{hint}", err=True)
        sys.exit(2)

    stand_in.help = f"(needs {lib!r}: not installed)"
    return stand_in


def _register() -> None:
    for module, attr in SUBCOMMANDS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:  # not written: nothing to register
                continue
            gateway.add_command(_missing(attr, exc.name or "?"))  # an optional library
            continue
        gateway.add_command(getattr(mod, attr))


_register()

COMMANDS = [gateway]
