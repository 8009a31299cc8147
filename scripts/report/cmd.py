"""``cmc report JOURNAL --out DIR``: an HTML page with PNG plots of what happened in a run."""

from __future__ import annotations

import html
import sys
from pathlib import Path
from typing import Any

import click

from transports.errors import CmcError


def _table(rows: list[dict[str, Any]], cols: list[str], limit: int = 200) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>"
        for r in rows[:limit]
    )
    more = f"<p>… {len(rows) - limit} more rows</p>" if len(rows) > limit else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def _replay_note(r: dict[str, Any]) -> str:
    d = r.get("divergence")
    if not d:
        return str(r.get("status", "?"))
    return (
        f"diverged at record {d['record']} ({d['reason']}); the spread plot stops there: "
        "this code does not reproduce the recorded run"
    )


def combo_counts(combos: list[dict[str, Any]]) -> str:
    """The combos by outcome: every final state counted (failed ones too), none left out."""
    by: dict[str, int] = {}
    for c in combos:
        st = c["final_state"] or "unfinished"
        by[st] = by.get(st, 0) + 1
    order = ["complete", "repaired", "failed"]
    parts = [f"{by.pop(k, 0)} {k}" for k in order] + [f"{n} {k}" for k, n in sorted(by.items())]
    return f"{len(combos)} ({', '.join(parts)})"


def exposure_text(final: dict[str, Any], cfg: Any) -> str:
    """The exposure at the end per underlying, in its base unit, from the fills."""
    from scripts.report.units import base_unit

    unit = {c.underlying: base_unit(cfg, c.underlying) for c in cfg.contracts if c.underlying}
    exp = final.get("exposure") or {}
    if not exp:
        return "none (no fills)"
    return ", ".join(f"{u} {v:+,.3f} {unit.get(u, '')}".rstrip() for u, v in sorted(exp.items()))


def pnl_text(final: dict[str, Any]) -> str:
    """The marked PnL at the end, taken apart (see ``exposure_and_pnl``)."""
    if not final:
        return "0.00 (no fills)"
    home = final["home"]
    return (
        f"{final['net']:,.2f} {home} = the fills' cash flows {final['gross']:,.2f} − fees "
        f"{final['fees']:,.2f} + positions still open marked at the last mid "
        f"{final['open_value']:,.2f}; foreign currency at the last FX rate {final['fx']:g}"
    )


def summary_rows(journal: str, final: dict[str, Any]) -> list[tuple[str, str]]:
    """The run's ``summary.json`` net PnL (the demo's, from the venue's record) beside the
    report's, and why they differ when they do."""
    import json

    from transports.journal.writer import base_path

    p = base_path(journal).parent / "summary.json"
    try:
        pnl = json.loads(p.read_bytes()).get("pnl") or {}
    except (OSError, ValueError):
        return []
    if "net" not in pnl or not final:
        return []
    from scripts.report.data import net_at

    net, ccy = float(pnl["net"]), pnl.get("currency", "")
    rate = float(pnl.get("fx_rate") or final["fx"])
    funding = float(pnl.get("funding") or 0.0)
    at_rate = net_at(final, rate, marked=False) + funding  # what the summary counts
    parts = []
    if abs(rate - final["fx"]) > 1e-12:
        parts.append(
            f"the summary converts at FX {rate:g} (the strategy's rate when the run's summary was "
            f"taken), this report at {final['fx']:g} (the last in the journal): at the "
            f"summary's rate the journal's fills give {at_rate:,.2f}"
        )
    if funding:
        parts.append(f"funding {funding:+,.2f} from the venue's record included")
    if abs(final["open_value"]) >= 0.005:
        parts.append(
            f"the report marks the positions still open at the last mid "
            f"({final['open_value']:+,.2f}); the summary counts cash flows only"
        )
    # the summary rounds gross, fees and net to cents each
    same = abs(at_rate - net) <= 0.015 + 1e-9 * abs(net)
    verdict = "agrees with the journal's fills" if same else (
        f"differs by {at_rate - net:+,.2f} from the journal's fills at its own rate: the "
        "journal and the venue's record disagree"
    )
    why = "; ".join([*parts, verdict])
    return [("summary net PnL", f"{net:,.2f} {ccy}: {why}")]


def signal_text(combos: list[dict[str, Any]], same: int) -> str:
    """What the latency plot's receive→signal shows, and why intents decided in their tick's
    own dispatch cycle are not in it (``scripts.report.data.same_cycle_signals``)."""
    timed = sum(1 for c in combos if c["ts_recv_ns"]) - same
    text = f"{timed} intents timed from the journal's stamps (plotted)"
    if same:
        text += (
            f"; {same} decided in the dispatch cycle that received their tick (one clock "
            "reading per cycle: not timeable from the journal, left out of the plot; the "
            "engine's recorder times that work as tick_to_order)"
        )
    return text


def fees_text(final: dict[str, Any]) -> str:
    """The fees paid, per currency they were charged in."""
    fees = final.get("fees_by_ccy") or {}
    if not fees:
        return "none (no fills)"
    return ", ".join(f"{v:,.2f} {k}" for k, v in sorted(fees.items()))


def _cells_table(rows: list[dict[str, str]], limit: int = 500) -> str:
    """A table of text cells; a cell's lines (one per leg) are kept as lines."""
    if not rows:
        return "<p>none</p>"
    cols = list(rows[0])
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(r.get(c, '')).replace(chr(10), '<br>')}</td>" for c in cols)
        + "</tr>"
        for r in rows[:limit]
    )
    more = f"<p>… {len(rows) - limit} more rows</p>" if len(rows) > limit else ""
    return f"<table class='combos'><tr>{head}</tr>{body}</table>{more}"


def build_report(journal: str, out_dir: str) -> dict[str, Any]:
    """Write ``out_dir/index.html`` and its PNGs; return what was written: ``index``,
    ``images`` (paths), ``plots`` (per image: each axes' title, axis labels, texts and legend:
    the units and the markers drawn), ``combos`` (``scripts.report.combos.combo_rows``) and
    ``markers`` (``scripts.report.markers.timeline_markers``)."""
    from scripts.audit.anomalies import find_anomalies
    from scripts.audit.extract import build_index, load_config_map
    from scripts.audit.trace import utc
    from scripts.audit.verify import verify_journal
    from scripts.report.combos import combo_cells, combo_rows, entry_slippages
    from scripts.report.data import (
        exposure_and_pnl,
        latency_percentiles,
        latency_samples,
        load_run_config,
        replay_series,
        same_cycle_signals,
        thin,
    )
    from scripts.report.markers import timeline_markers
    from scripts.report.plots import plot_exposure, plot_pnl, plot_spread
    from scripts.report.plots_dist import plot_latency, plot_slippage
    from scripts.report.units import base_unit, home_ccy, spread_unit

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check = verify_journal(journal)
    if not check["ok"]:
        b = check["first_bad"]
        raise CmcError(
            f"journal does not verify: {b['file']}: record {b['record']} at offset "
            f"{b['offset']}: {b['reason']}"
        )
    cfg = load_run_config(journal)
    idx = build_index(journal)
    series = replay_series(journal, cfg)
    markers = timeline_markers(idx)
    t0, t1 = idx.first_ts, idx.last_ts
    plots: list[tuple[str, dict[str, Any]]] = []
    for p in cfg.pairs:
        unit = spread_unit(cfg, p)
        info = plot_spread(
            out / f"spread-{p.name}.png",
            t0,
            t1,
            p.name,
            thin(series.spread.get(p.name, [])),
            p.z_entry,
            p.z_exit,
            idx.combos,
            unit,
            markers,
        )
        plots.append((f"Spread against thresholds: {p.name}, {unit} (▲ entries, ▼ exits)", info))
    hops = latency_samples(idx)
    plots.append(
        ("Latency per hop (µs; p50 and p99 marked)",
         plot_latency(out / "latency.png", hops, latency_percentiles(hops)))
    )
    final: dict[str, Any] = {}
    exposure, pnl = exposure_and_pnl(idx, cfg, series, final)
    units = {c.underlying: base_unit(cfg, c.underlying) for c in cfg.contracts if c.underlying}
    plots.append(
        (
            "Exposure timeline",
            plot_exposure(out / "exposure.png", t0, t1, exposure,
                          cfg.risk.max_net_exposure_base, units, markers),
        )
    )
    home = home_ccy(cfg)
    plots.append((f"PnL curve ({home})", plot_pnl(out / "pnl.png", t0, t1, thin(pnl), home,
                                                  markers)))
    plots.append(("Entry slippage per fill (each contract in its price unit)",
                  plot_slippage(out / "slippage.png", t0, t1, entry_slippages(idx, cfg),
                                markers)))
    rows = combo_rows(idx, cfg, final)
    anomalies = find_anomalies(idx, load_config_map(journal))
    summary = [
        ("run", check["run_id"]),
        ("config hash", check["config_hash"]),
        ("from", utc(t0)),
        ("to", utc(t1)),
        ("duration", f"{(t1 - t0) / 1e9:.1f} s"),
        (
            "journal",
            f"{check['records']} records, {check['items']} events, head hash "
            f"{check['head_hash']}, closed cleanly {check['closed_cleanly']}",
        ),
        ("replay of the strategy group", _replay_note(series.verify)),
        ("combos", combo_counts(idx.combos)),
        ("orders / fills", f"{len(idx.orders)} / {len(idx.fills)} (one fill per venue trade)"),
        ("final exposure", exposure_text(final, cfg)),
        ("PnL (marked)", pnl_text(final)),
        ("fees by currency", fees_text(final)),
        *summary_rows(journal, final),
        ("receive→signal", signal_text(idx.combos, same_cycle_signals(idx))),
        ("operator actions / alarms",
         f"{sum(m['count'] for m in markers if m['kind'] == 'operator')} / "
         f"{sum(m['count'] for m in markers if m['kind'] != 'operator')} "
         "(drawn on the timelines)"),
        ("anomalies", ", ".join(f"{k} {len(v)}" for k, v in anomalies.items())),
    ]
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>cmc report {esc(check['run_id'])}</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:1400px}"
        "table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top}"
        "table.combos td{white-space:nowrap}img{max-width:100%}</style></head><body>",
        f"<h1>Run {esc(check['run_id'])}</h1><table>",
        *(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in summary),
        "</table>",
    ]
    for title, info in plots:
        name = info["name"]
        parts.append(f"<h2>{esc(title)}</h2><img src='{esc(name)}' alt='{esc(title)}'>")
    total = sum(r["pnl"] for r in rows if r["pnl"] is not None)
    parts.append(
        "<h2>Combos</h2><p>Prices in each contract's price unit (ticks × tick size); slippage "
        "of the entry fills against the price the decision expected, + = worse; a combo's PnL "
        f"is its fills against the marks at the end less its fees, in {esc(home)} at the last "
        f"FX rate: together {total:+,.2f} {esc(home)} (the run's marked net PnL less fills "
        "outside any combo).</p>"
        + _cells_table([combo_cells(r) for r in rows])
    )
    parts.append(
        "<h2>Operator actions and alarms</h2>"
        + _table([{"time": utc(m["ts_ns"]), "t+ s": f"{(m['ts_ns'] - t0) / 1e9:.3f}",
                   "kind": m["kind"], "what": m["label"], "count": m["count"]}
                  for m in markers], ["time", "t+ s", "kind", "what", "count"])
    )
    for cat, arows in anomalies.items():
        if arows:
            cols = ["time", *[k for k in arows[0] if k not in ("ts_ns", "time")]]
            parts.append(f"<h2>Anomalies: {esc(cat)} ({len(arows)})</h2>" + _table(arows, cols))
    parts.append("</body></html>")
    (out / "index.html").write_text("\n".join(parts), encoding="utf-8")
    return {
        "index": str(out / "index.html"),
        "images": [str(out / info["name"]) for _, info in plots],
        "plots": {info["name"]: info for _, info in plots},
        "combos": rows,
        "markers": markers,
    }


@click.command("report")
@click.argument("journal", type=click.Path(exists=True))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for index.html and its images.",
)
def report(journal: str, out_dir: str) -> None:
    """Write an HTML report of JOURNAL's run: plots (spread, latency, exposure, PnL, slippage)
    with operator actions and alarms marked, and a table of every combo."""
    try:
        res = build_report(journal, out_dir)
    except CmcError as exc:
        click.echo(f"cmc report: {exc}", err=True)
        sys.exit(2)
    click.echo(f"wrote {res['index']} ({len(res['images'])} images)")


COMMANDS = [report]
