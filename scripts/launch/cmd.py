"""``cmc launch CONF``: run a placement on this machine (see ``scripts.launch.launcher``)."""

from __future__ import annotations

import json
import sys

import click

from transports.errors import CmcError, ConfigError


@click.command()
@click.argument("conf", type=click.Path(dir_okay=False))
@click.option("--quiet", is_flag=True, help="Only warnings on stderr (the log file has all).")
@click.option("--child", "child", default=None, hidden=True,
              help="Run only this node (the launcher starts its child nodes this way).")
@click.option("--sock", "sock_dir", default=None, hidden=True)
@click.option("--run-dir", default=None, hidden=True)
@click.option("--epoch", type=int, default=None, hidden=True)
@click.option("--params", "params_json", default=None, hidden=True,
              help="JSON {section: {field: value}}: live parameters set so far (a restart).")
@click.option("--duration", "duration", default=None, metavar="SECONDS|config",
              help="Stop (the orderly shutdown of SIGTERM) this many seconds after READY; "
                   "`config`: after the config's [run] duration_s. Without it the launch runs "
                   "until stopped and [run] duration_s (the demo's length) does not apply.")
@click.option("--role", type=click.Choice(["primary", "standby", "auto"]), default=None,
              help="With [ha]: start as the primary, as a hot standby that takes over when "
                   "the primary's lease expires, or auto (default: the config's ha.role).")
def launch(conf: str, quiet: bool, child: str | None, sock_dir: str | None, run_dir: str | None,
           epoch: int | None, params_json: str | None, duration: str | None,
           role: str | None) -> None:
    """Start the nodes CONF places, supervised, until SIGTERM or SIGINT (or the admin
    ``shutdown``, or --duration); then flatten and exit.

    A launch runs until it is stopped: `[run] duration_s` bounds it only when asked with
    `--duration config` (`--duration SECONDS` gives the length itself). Its stop is the same
    orderly shutdown as SIGTERM's (reason ``duration``).

    Exit code 0 after an orderly shutdown; 2 on a configuration error (the message names the
    field, e.g. a CPU this machine does not have) or a bad --duration; 1 if a process failed to
    start.
    """
    from scripts.launch.launcher import run_child, run_launch

    try:
        if child is not None:
            if sock_dir is None or run_dir is None or epoch is None:
                raise click.UsageError("--child needs --sock, --run-dir and --epoch")
            params = json.loads(params_json) if params_json else None
            sys.exit(run_child(conf, child, sock_dir, run_dir, epoch, params))
        sys.exit(run_launch(conf, quiet, duration=duration, role=role))
    except ConfigError as exc:
        click.echo(f"cmc launch: configuration error: {exc}", err=True)
        sys.exit(2)
    except CmcError as exc:
        click.echo(f"cmc launch: {exc}", err=True)
        sys.exit(1)


COMMANDS = [launch]
