"""``cmc ha export``: a run rebuilt from the JetStream stream (``scripts.launch.ha.export``);
``JOURNAL_OR_STREAM``: the argument type of the commands that read a journal (a path, or a
``nats://HOST:PORT/STREAM[#RUN]`` URL exported first)."""

from __future__ import annotations

import sys
from typing import Any

import click

from transports.errors import CmcError


class JournalOrStream(click.ParamType):
    """An existing journal file or run directory, or a stream URL (exported to a temp dir)."""

    name = "JOURNAL|nats://HOST:PORT/STREAM[#RUN]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> str:
        from pathlib import Path

        from scripts.launch.ha.export import is_stream_url, resolve_journal

        text = str(value)
        if is_stream_url(text):
            try:
                return resolve_journal(text)
            except CmcError as exc:
                self.fail(str(exc), param, ctx)
        if not Path(text).exists():
            self.fail(f"{text!r} does not exist (a journal, a run directory, or a stream URL "
                      "nats://HOST:PORT/STREAM)", param, ctx)
        return text


JOURNAL_OR_STREAM = JournalOrStream()


@click.group()
def ha() -> None:
    """Hot standby tools (the stream a primary replicates its journal to)."""


@ha.command("export")
@click.argument("url")
@click.option("--out", "out_dir", required=True, help="Directory for the run directory.")
@click.option("--timeout", "timeout_s", type=float, default=60.0, show_default=True,
              help="Seconds to read the run in.")
def export(url: str, out_dir: str, timeout_s: float) -> None:
    """Write the run replicated to URL (nats://HOST:PORT/STREAM, the latest run, or #RUN) as a
    run directory: config.json, journal.cmcj, the intent WAL. Audit and replay read it like a
    local run."""
    from scripts.launch.ha.export import export_stream

    try:
        path = export_stream(url, out_dir, timeout_s)
    except CmcError as exc:
        click.echo(f"cmc ha export: {exc}", err=True)
        sys.exit(1)
    click.echo(str(path))


COMMANDS = [ha]
