"""``cmc replay``: verify a journal by re-running it, or replay it with changed parameters."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
import msgspec

from scripts.launch.ha.cmd import JOURNAL_OR_STREAM
from transports.clock import perf_ns
from transports.errors import CmcError


@contextmanager
def progress_bar(journal: str, label: str) -> Iterator[Callable[..., None]]:
    """A tqdm bar over the journal's bytes, shown only on a terminal (``disable=None``) and only
    once a run takes longer than half a second (a short journal prints no bar).

    It yields ``update(n, records=1)``: ``n`` record body bytes read, in ``records`` records
    (each record's 29-byte frame header is counted for it)."""
    from tqdm import tqdm

    from transports.journal.format import REC_HDR
    from transports.journal.writer import find_segments

    total = sum(p.stat().st_size for p in find_segments(journal))
    with tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc=label,
        disable=None,
        file=sys.stderr,
        leave=False,
        delay=0.5,
    ) as bar:
        hdr = REC_HDR.size
        yield lambda n, records=1: bar.update(n + hdr * records)


def _verify(journal: str, jobs: int = 1) -> dict[str, Any]:
    import kernels
    from scripts.replay.parallel import ParallelVerify

    kernels.warm_up()  # compile (or load) the kernels before the clock starts
    t0 = perf_ns()
    v = ParallelVerify(journal, jobs)  # every share's cores built before the clock starts
    # the replay allocates millions of short-lived, acyclic objects (decoded messages, their
    # level tuples): with the modules, config and cores frozen out of the collector's reach
    # and a larger young generation it spends ~5% less time collecting (cycles are still
    # collected; both are undone after, for a caller that goes on: a test's CliRunner)
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    t1 = perf_ns()
    try:
        with progress_bar(journal, "verify") as bar:
            result = v.run(bar)
    finally:
        t2 = perf_ns()
        gc.set_threshold(*threshold)
        gc.unfreeze()
    secs = (t2 - t1) / 1e9
    # the documented speed keys (``cmc replay --help``): an event is one journaled item read,
    # every group's, the journal's own included (``items``, kept under its old name too)
    result["events"] = result["items"]
    result["seconds"] = round(secs, 4)
    result["setup_seconds"] = round((t1 - t0) / 1e9, 4)
    result["events_per_s"] = round(result["items"] / secs) if secs > 0 else 0
    return result


def _print_verify(r: dict[str, Any]) -> None:
    lines = [
        f"replay --verify: {r['status']}  ({r['items']} events in {r['batches']} batches, "
        f"{r['external']} fed, {r['compared']} compared, {r['decisions']} decisions; "
        f"{r['events_per_s']:,} events/s"
        + (f" in {r['jobs']} processes)" if r.get("jobs", 1) > 1 else ")")
    ]
    d = r.get("divergence")
    if d:
        enc = msgspec.json.encode
        lines += [
            f"  first divergence at record {d['record']} (group {d['group']}, ts "
            f"{d['ts_ns']}): {d['reason']}",
            f"  expected (journal): {enc(d['expected']).decode()}",
            f"  got (replay):       {enc(d['got']).decode()}",
        ]
    if r.get("send_failures"):
        lines.append(f"  {r['send_failures']} recorded send failure(s) skipped")
    if r["cross_group"].get("unjournaled"):
        lines.append(
            f"  note: {r['cross_group']['unjournaled']} derived book messages went to "
            "other groups unjournaled; those groups were replayed without them"
        )
    if r.get("torn_tail"):
        lines.append(f"  note: torn tail of {r['torn_tail']['bytes']} bytes not replayed")
    click.echo("\n".join(lines))


def format_whatif(s: dict[str, Any]) -> str:
    """A what-if replay's summary, labelled as one: the run it replayed, the changes, orders
    filled against the recorded books; opportunities only when the run recorded its truth."""
    w = s["what_if"]
    changes = ", ".join(f"{k}={v}" for k, v in (w["set"] or {}).items()) or "no changes"
    run = w.get("run") or s["journal"]
    pnl = s["pnl"]
    lines = [
        f"cmc replay — what-if replay of {run} with {changes} "
        f"({s['duration_s']:.1f}s of recorded market data; orders filled against the recorded "
        f"books, {w['fill_model']} fill model)",
        f"  market data events  {s['md_events']}",
    ]
    if s.get("opportunities") is not None:
        lines += [
            f"  opportunities       {s['opportunities']} (the recorded run's ground truth: "
            f"{w.get('opportunities_from') or 'truth.json'})",
            f"  capture rate        {s['capture_rate']:.3f} of all windows, "
            f"{s['capture_rate_eligible']:.3f} of the {s['opportunities_eligible']} longer than "
            f"{s['eligible_min_window_ms']:.1f} ms",
        ]
    lines += [
        f"  combos              {s['combos']}  complete {s['combos_complete']}  "
        f"repaired {s['combos_repaired']}  failed {s.get('combos_failed', 0)}",
        f"  avg slippage        {s['avg_slippage_ticks']:.3f} ticks",
        f"  pnl ({pnl['currency']})          gross {pnl['gross']:.2f}  fees {pnl['fees']:.2f}  "
        f"funding {pnl.get('funding', 0.0):.2f}  net {pnl['net']:.2f}",
        f"  final exposure      {s['final_exposure']} {s.get('exposure_unit', '')}".rstrip(),
        f"  simulated venue     orders {s['venue']['orders']}  fills {s['venue']['fills']}  "
        f"duplicate client ids {s['venue']['duplicate_client_ids']}",
        f"  round trip µs       {w['rtt_us']} (the recorded run's, per venue)",
        f"  decisions           {w['intents']} (recorded {w['recorded_intents']}); "
        + (
            f"changed from decision {w['first_changed_decision']}"
            if w["decisions_changed"]
            else "unchanged"
        ),
    ]
    return "\n".join(lines)


def _print_whatif(s: dict[str, Any]) -> None:
    click.echo(format_whatif(s))


@click.command("replay")
@click.argument("journal", type=JOURNAL_OR_STREAM)
@click.option(
    "--verify",
    is_flag=True,
    help="Re-run the recorded events; report 'identical' or the first divergence.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change a parameter, e.g. pairs.au-gc.z_entry=3 or pairs[0].min_edge=0.5.",
)
@click.option(
    "--fill-model",
    type=click.Choice(["book"]),
    default=None,
    help="How what-if orders fill: 'book' = against the recorded books.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="--verify: processes to verify the run's groups in (default: the CPUs for a "
    "journal of 4 MiB or more, else 1).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object on stdout (--verify: the keys listed above).",
)
def replay(
    journal: str,
    verify: bool,
    sets: tuple[str, ...],
    fill_model: str | None,
    jobs: int | None,
    as_json: bool,
) -> None:
    """Replay JOURNAL (a journal file or a run directory) through the engine's cores.

    \b
    --verify --json keys (stable):
      status        identical | diverged
      events        journaled items read (every group's, the journal's own included)
      seconds       wall time of the replay (cores built, kernels warmed before it)
      events_per_s  events / seconds
      divergence    null, or the first divergence: record, group, ts_ns, reason,
                    expected (journal), got (replay)
      jobs          processes the groups were verified in (--jobs, at most one a group)
    A progress bar shows on stderr when it is a terminal and the replay takes over 0.5 s.
    """
    if verify and (sets or fill_model):
        raise click.UsageError(
            "--verify replays the run as recorded; it takes no --set or --fill-model"
        )
    if jobs is not None and not verify:
        raise click.UsageError("--jobs applies to --verify only")
    if not verify and not (sets or fill_model):
        raise click.UsageError("say --verify, or --set KEY=VALUE ... [--fill-model book]")
    try:
        if verify:
            from scripts.replay.parallel import auto_jobs

            result = _verify(journal, jobs or auto_jobs(journal))
            if as_json:
                sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
            else:
                _print_verify(result)
            sys.exit(0 if result["status"] == "identical" else 1)
        from scripts.replay.core import load_run_config
        from scripts.replay.params import apply_sets
        from scripts.replay.whatif import run_whatif

        cfg, changed = apply_sets(load_run_config(journal), list(sets))
        with progress_bar(journal, "what-if") as bar:
            summary = run_whatif(journal, cfg, changed, bar)
    except CmcError as exc:
        click.echo(f"cmc replay: {exc}", err=True)
        sys.exit(2)
    if as_json:
        sys.stdout.write(msgspec.json.encode(summary).decode() + "\n")
    else:
        _print_whatif(summary)


COMMANDS = [replay]
