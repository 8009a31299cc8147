"""``cmc audit``: verify, trace, export and anomalies over a run's journal."""

from __future__ import annotations

import sys
from typing import Any

import click
import msgspec

from scripts.launch.ha.cmd import JOURNAL_OR_STREAM
from transports.errors import CmcError

JOURNAL_ARG = click.argument("journal", type=JOURNAL_OR_STREAM)
JSON_OPT = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


def _emit(obj: Any, as_json: bool, text: str) -> None:
    if as_json:
        sys.stdout.write(msgspec.json.encode(obj).decode() + "\n")
    else:
        click.echo(text)


def _fail(cmd: str, exc: Exception) -> None:
    click.echo(f"cmc audit {cmd}: {exc}", err=True)
    sys.exit(2)


def _index(journal: str) -> Any:
    from scripts.audit.extract import build_index
    from scripts.replay.cmd import progress_bar

    with progress_bar(journal, "index") as bar:
        return build_index(journal, bar)


@click.group("audit")
def audit() -> None:
    """Audit a journal (JOURNAL = a journal file or a run directory)."""


@audit.command("verify")
@JOURNAL_ARG
@JSON_OPT
@click.option(
    "--repair",
    is_flag=True,
    help="Truncate at the first bad record (what is cut is lost and reported), then verify again.",
)
def verify(journal: str, as_json: bool, repair: bool) -> None:
    """Check every record's CRC and the hash chain; name the first bad record."""
    from scripts.audit.verify import format_verify, verify_journal
    from transports.journal.reader import repair_journal

    try:
        result = verify_journal(journal)
        if repair and not result["ok"]:
            fixed = repair_journal(journal)
            click.echo(
                f"repaired: cut {fixed.get('bytes_cut', 0)} bytes of {fixed.get('file')} "
                f"from record {fixed.get('record')} ({fixed.get('reason')}); set aside "
                f"{len(fixed.get('segments_set_aside', []))} later segment(s)",
                err=True,
            )
            result = verify_journal(journal)
            result["repair"] = fixed
    except CmcError as exc:
        _fail("verify", exc)
    _emit(result, as_json, format_verify(result))
    sys.exit(0 if result["ok"] else 1)


@audit.command("trace")
@JOURNAL_ARG
@click.argument("combo_id", type=int)
@JSON_OPT
def trace(journal: str, combo_id: int, as_json: bool) -> None:
    """Every step of one combo: timestamps, hop latencies, decision inputs, repairs."""
    from scripts.audit.extract import load_config_map
    from scripts.audit.trace import format_trace, intent_send_times, trace_combo

    try:
        t = trace_combo(
            _index(journal), combo_id, load_config_map(journal), intent_send_times(journal)
        )
    except CmcError as exc:
        _fail("trace", exc)
    _emit(t, as_json, format_trace(t))


@audit.command("export")
@JOURNAL_ARG
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for one file per table.",
)
@JSON_OPT
def export(journal: str, fmt: str, out_dir: str, as_json: bool) -> None:
    """Write orders, fills, combos, risk events, feed health, book events and decisions."""
    from scripts.audit.export import export_tables

    try:
        counts = export_tables(_index(journal), out_dir, fmt)
    except CmcError as exc:
        _fail("export", exc)
    text = "\n".join(f"  {k:<12} {v} rows" for k, v in counts.items())
    _emit(
        {"out": out_dir, "format": fmt, "rows": counts},
        as_json,
        f"wrote {fmt} tables to {out_dir}:\n{text}",
    )


@audit.command("anomalies")
@JOURNAL_ARG
@JSON_OPT
@click.option(
    "--stale-ms",
    type=float,
    default=1000.0,
    show_default=True,
    help="No market data from a venue for longer than this is a stale period.",
)
@click.option(
    "--slip-z",
    type=float,
    default=3.5,
    show_default=True,
    help="Robust z-score above which a fill's slippage is an outlier.",
)
def anomalies(journal: str, as_json: bool, stale_ms: float, slip_z: float) -> None:
    """Rejects, legging episodes, slippage outliers, gaps, stale periods, halts, alarms."""
    from scripts.audit.anomalies import find_anomalies, format_anomalies
    from scripts.audit.extract import load_config_map

    try:
        a = find_anomalies(_index(journal), load_config_map(journal), stale_ms, slip_z)
    except CmcError as exc:
        _fail("anomalies", exc)
    _emit(a, as_json, format_anomalies(a))


COMMANDS = [audit]
