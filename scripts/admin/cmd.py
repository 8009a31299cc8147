"""``cmc admin``: key generation and the admin socket's client commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click
import msgspec

from transports.errors import CmcError

_SIMPLE = {
    "status": "Launcher, nodes and trading state.",
    "actors": "Every actor: node, group, supervision state, restarts.",
    "resume": "Trade again (risk ACTIVE, strategies resume).",
    "flatten": "Close every pair's position (strategies flatten; risk flattens orphans).",
    "positions": "Positions, exposure and PnL (risk) and each leg's positions.",
    "latency": "Latency per hop and node (µs).",
    "rotate-journal": "Seal the journal's segment and start the next; prints its path.",
    "shutdown": "Orderly shutdown of the launch (flatten, halt, stop).",
    "pairs": "Everything `cmc top` shows.",
}


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--json", "as_json", is_flag=True, help="Print the reply as JSON.")(fn)
    fn = click.option("--endpoint", default=None,
                      help="Admin endpoint (default: --status file, $CMC_ADMIN_ENDPOINT, "
                           "tcp://127.0.0.1:7301).")(fn)
    fn = click.option("--status", "status_file", default=None,
                      help="A launch's status.json: take the endpoint from it.")(fn)
    fn = click.option("--keys", "keys_dir", default="keys", show_default=True,
                      envvar="CMC_ADMIN_KEYS", help="Directory from `cmc admin keygen`.")(fn)
    fn = click.option("--client", default="client", show_default=True,
                      help="Client key name in --keys.")(fn)
    fn = click.option("--timeout", "timeout_s", type=float, default=5.0, show_default=True)(fn)
    return fn


def _print(result: Any, indent: int = 0) -> None:
    pad = "  " * indent
    if isinstance(result, dict):
        for k, v in result.items():
            if isinstance(v, dict | list) and v:
                click.echo(f"{pad}{k}:")
                _print(v, indent + 1)
            else:
                click.echo(f"{pad}{k}: {v}")
    elif isinstance(result, list):
        for v in result:
            click.echo(f"{pad}- {v}")
    else:
        click.echo(f"{pad}{result}")


def run(cmd: str, args: dict[str, Any], opts: dict[str, Any]) -> None:
    """Send one command and print the reply; exit 1 on an error reply, 2 if unreachable."""
    from scripts.admin.client import request, resolve_endpoint

    try:
        endpoint = resolve_endpoint(opts["endpoint"], opts["status_file"])
        reply = request(endpoint, opts["keys_dir"], cmd, args, opts["timeout_s"],
                        client=opts["client"])
    except CmcError as exc:
        click.echo(f"cmc admin: {exc}", err=True)
        sys.exit(2)
    if opts["as_json"]:
        sys.stdout.write(msgspec.json.encode(msgspec.to_builtins(reply, str_keys=True)).decode()
                         + "\n")
    elif reply.get("ok"):
        _print(reply.get("result"))
    else:
        click.echo(f"error: {reply.get('error')}", err=True)
    if not reply.get("ok"):
        sys.exit(1)


@click.group()
def admin() -> None:
    """Steer a running launch through its authenticated admin socket."""


@admin.command("keygen")
@click.option("--out", "out_dir", required=True, help="Directory for the keys (created, 0700).")
@click.option("--client", "clients", multiple=True, default=["client"], show_default=True,
              help="Client key names to create and allow (repeatable).")
@click.option("--force", is_flag=True,
              help="Replace keys that exist (clients holding the old ones are locked out).")
def keygen_cmd(out_dir: str, clients: tuple[str, ...], force: bool) -> None:
    """Write a CURVE server key pair, client key pairs and the allowlist directory.

    Refuses, exit 2 naming the files, when any of the keys exists already (unless --force)."""
    from scripts.admin.client import KeysExist, keygen

    try:
        paths = keygen(out_dir, list(clients), force=force)
    except KeysExist as exc:
        click.echo(f"cmc admin keygen: {exc}", err=True)
        sys.exit(2)
    click.echo(f"server secret key  {paths['server_secret']}   ([admin] server_secret)")
    click.echo(f"allowlist          {paths['allowlist']}   ([admin] allowlist)")
    click.echo(f"client keys        {paths['keys']}   (cmc admin --keys)")


def _simple(name: str, help_text: str) -> click.Command:
    @_common
    def cb(**opts: Any) -> None:
        run(name, {}, opts)

    return click.Command(name, callback=cb, help=help_text, params=cb.__click_params__)


for _name, _help in _SIMPLE.items():
    admin.add_command(_simple(_name, _help))


@admin.command("halt")
@click.argument("reason", required=False, default="")
@_common
def halt_cmd(reason: str, **opts: Any) -> None:
    """Halt trading: no new orders; every executor cancels what is working."""
    run("halt", {"reason": reason}, opts)


@admin.command("reduce")
@click.argument("reason", required=False, default="")
@_common
def reduce_cmd(reason: str, **opts: Any) -> None:
    """Only exposure-reducing orders from now on."""
    run("reduce", {"reason": reason}, opts)


@admin.command("get")
@click.argument("key", required=False)
@_common
def get_cmd(key: str | None, **opts: Any) -> None:
    """Show a parameter (pairs.<pair>.<field>, risk.<field>), or all settable ones."""
    run("get", {"key": key} if key else {}, opts)


@admin.command("set")
@click.argument("key")
@click.argument("value")
@_common
def set_cmd(key: str, value: str, **opts: Any) -> None:
    """Set a parameter; VALUE is JSON (2.5, true, null) or else a string. Validated."""
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value
    run("set", {"key": key, "value": parsed}, opts)


@admin.command("orders")
@click.option("--limit", type=int, default=50, show_default=True)
@_common
def orders_cmd(limit: int, **opts: Any) -> None:
    """Open and recent orders of every leg executor."""
    run("orders", {"limit": limit}, opts)


@admin.command("combos")
@click.option("--limit", type=int, default=20, show_default=True)
@_common
def combos_cmd(limit: int, **opts: Any) -> None:
    """Recent combos and the ComboExecutor's counters."""
    run("combos", {"limit": limit}, opts)


@admin.command("restart")
@click.argument("actor")
@_common
def restart_cmd(actor: str, **opts: Any) -> None:
    """Restart one actor now (fresh core; executors reconcile with the venue)."""
    run("restart", {"actor": actor}, opts)


COMMANDS = [admin]
