"""The result and the table of ``cmc bench orders`` (``scripts.bench.orders.bench``): what the
engine adds over the raw path, the verdict against the product's targets, the aligned table."""

from __future__ import annotations

import os
from typing import Any

TARGET_P99_US = 800.0  #: the product's promise: p99 new -> ack at ``TARGET_RATE``
TARGET_RATE = 1_000.0
SUSTAINED_RATE = 10_000.0  #: orders/s per node, sustained without queue growth


def assemble(raw_rows: list[dict[str, Any]], eng_rows: dict[str, list[dict[str, Any]]],
             machine: dict[str, Any] | None = None) -> dict[str, Any]:
    """The result object from the paths' rows (``engine_added`` and the verdict); ``machine``:
    the machine's baseline (``{"ipc_rtt_us": {n, p50_us, p99_us, p999_us} or None}``)."""
    machine = machine or {"ipc_rtt_us": None}
    rtt_p50 = (machine.get("ipc_rtt_us") or {}).get("p50_us")
    added = []
    for label, rows in eng_rows.items():
        for r, e in zip(raw_rows, rows, strict=True):
            d: dict[str, Any] = {"path": label, "rate": r["rate"]}
            for p in ("p50_us", "p99_us"):
                a, b = r["latency"][p], e["latency"][p]
                d[p] = round(b - a, 1) if a is not None and b is not None else None
            # where the time goes: the gateway alone (the raw client's service), then the
            # engine's two halves, cut where the executor took each order
            d["gateway_p50_us"] = r["service"]["p50_us"]
            # in the machine's own unit: how many bare ipc round trips (two processes woken
            # from sleep) the engine's extra hops cost
            d["p50_over_rtt"] = (round(d["p50_us"] / rtt_p50, 2)
                                 if d["p50_us"] is not None and rtt_p50 else None)
            parts = e.get("split", {})
            for part in ("to_executor", "executor_to_ack"):
                d[f"{part}_p50_us"] = parts.get(part, {}).get("p50_us")
            added.append(d)
    paths = {"raw": raw_rows, **eng_rows}

    def at(rows: list[dict[str, Any]], rate: float) -> dict[str, Any] | None:
        return next((r for r in rows if r["rate"] == rate), None)

    main = at(eng_rows.get("engine", []), TARGET_RATE)
    p99 = main["latency"]["p99_us"] if main else None
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "machine": machine,
        "target": {"p99_us": TARGET_P99_US, "rate": TARGET_RATE, "sustained_rate": SUSTAINED_RATE},
        "raw": raw_rows,
        "engine": eng_rows.get("engine", []),
        "engine_nosync": eng_rows.get("engine_nosync", []),
        "engine_added": added,
        "verdict": {
            "p99_at_target_rate_us": p99,
            "p99_ok": None if p99 is None else bool(p99 <= TARGET_P99_US),
            "sustained_at_target": {k: (r["sustained"] if r else None) for k, rows in
                                    paths.items() for r in [at(rows, SUSTAINED_RATE)]},
        },
    }


PATHS = ("raw", "engine", "engine_nosync")
_COLUMNS = (("path", "<"), ("rate", ">"), ("achieved", ">"), ("acked", ">"), ("p50 µs", ">"),
            ("p99 µs", ">"), ("p99.9 µs", ">"), ("send lag p99", ">"), ("backlog 1st/last", ">"),
            ("cpu% gw/own", ">"), ("sustained", "<"))


def _cell(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.0f}" if x.is_integer() or abs(x) >= 1000 else f"{x:.1f}"
    return str(x)


def format_table(result: dict[str, Any]) -> str:
    """The bench as an aligned table: one row per path and rate (paths in ``PATHS`` order, rates
    lowest first), then what the engine adds and the verdict against the product's targets."""
    rows = []
    for path in PATHS:
        for r in sorted(result.get(path, []), key=lambda r: r["rate"]):
            lat, cpu = r["latency"], r.get("cpu_pct", {})
            own = cpu.get("engine", cpu.get("bench"))
            rows.append([path, _cell(r["rate"]), _cell(r["achieved_rate"]),
                         f"{r['acked']}/{r['scheduled']}", _cell(lat["p50_us"]),
                         _cell(lat["p99_us"]), _cell(lat["p999_us"]),
                         _cell(r["send_lag"]["p99_us"]),
                         f"{r['backlog_first_s']:.1f}/{r['backlog_last_s']:.1f}",
                         f"{_cell(cpu.get('gateway'))}/{_cell(own)}", str(r["sustained"])])
    head = [c for c, _ in _COLUMNS]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(f"{c:{al}{w}}" for c, (_, al), w in
                         zip(cells, _COLUMNS, widths, strict=True)).rstrip()

    out = ["order -> ack through the simulator gateway (venue latency 0), µs from each order's "
           "scheduled send time"]
    rtt = result.get("machine", {}).get("ipc_rtt_us")
    if rtt:
        out.append(f"machine: ipc round trip, both sides sleeping: p50 {_cell(rtt['p50_us'])} µs "
                   f"p99 {_cell(rtt['p99_us'])} µs ({rtt['n']} round trips)")
    out += ["", line(head), *[line(r) for r in rows], ""]
    engine_rows = {(p, r["rate"]): r for p in PATHS[1:] for r in result.get(p, [])}
    for a in result["engine_added"]:
        e = engine_rows[(a["path"], a["rate"])]
        h = e["hops"]
        cpu, idle = e.get("cpu_pct", {}), e.get("cpu_pct_idle", {})
        threads = "  ".join(f"{k[5:]} {_cell(v)}% (idle {_cell(idle.get(k))}%)"
                            for k, v in sorted(cpu.items()) if k.startswith("host-"))
        over = a.get("p50_over_rtt")
        rtts = f" ({over:.1f} ipc round trips)" if over is not None else ""
        out.append(f"{a['path']} adds at {a['rate']:.0f}/s: p50 {_cell(a['p50_us'])} µs{rtts}, "
                   f"p99 {_cell(a['p99_us'])} µs  (node: send_to_ack p50 "
                   f"{_cell(h['send_to_ack']['p50_us'])} µs, intent_fsync p50 "
                   f"{_cell(h['intent_fsync']['p50_us'])} µs; not acked: "
                   f"{e['denied'] or 'none'})")
        drv = e.get("driver", {})
        out.append(f"    where (p50 µs): driver send lag {_cell(e['send_lag']['p50_us'])}, "
                   f"link -> executor {_cell(a.get('to_executor_p50_us'))}, executor -> ack "
                   f"{_cell(a.get('executor_to_ack_p50_us'))} (the gateway alone: "
                   f"{_cell(a.get('gateway_p50_us'))}); driver {_cell(drv.get('cpu_pct'))}% "
                   f"of a CPU, {_cell(drv.get('frames'))} frames")
        if threads:
            out.append(f"    engine threads, % of a CPU: {threads}")
    v, t = result["verdict"], result["target"]
    out.append(f"target p99 <= {t['p99_us']:.0f} µs at {t['rate']:.0f}/s (engine): "
               f"{_cell(v['p99_at_target_rate_us'])} µs -> {'ok' if v['p99_ok'] else 'MISSED'}")
    out.append(f"{t['sustained_rate']:.0f}/s sustained: " + "  ".join(
        f"{k} {x}" for k, x in v["sustained_at_target"].items()))
    return "\n".join(out) + "\n"


__all__ = ["PATHS", "SUSTAINED_RATE", "TARGET_P99_US", "TARGET_RATE", "assemble", "format_table"]
