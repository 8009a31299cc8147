"""Off-host audit: what a primary replicated is read back from the JetStream stream alone --
``cmc ha export`` writes the run directory and ``cmc audit verify`` takes the stream URL -- with
the same journal records and intents the primary wrote, and the config the run carried."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from click.testing import CliRunner

from scripts.audit.cmd import audit
from scripts.launch.ha.cmd import ha as ha_cmd
from scripts.launch.ha.runtime import HaRuntime
from transports.clock import LiveClock
from transports.config.engine import load_config
from transports.config.ha import HaConfig
from transports.journal.format import T_BATCH, encode_batch
from transports.journal.intent_wal import read_intents
from transports.journal.reader import read_journal
from transports.wire.codec import encode
from transports.wire.venue_msgs import NewOrder


def test_a_run_is_read_back_from_the_stream(nats_server: object, tmp_path: Path) -> None:
    url = nats_server.url  # type: ignore[attr-defined]
    cfg = msgspec.structs.replace(load_config(None), ha=HaConfig(
        servers=[url], op_timeout_ms=500, connect_timeout_ms=1000))
    ha = HaRuntime(cfg, "primary", LiveClock(), "r1").start()
    try:
        assert ha.lease.wait_holding(5.0)
        cfg_json = msgspec.json.encode(cfg)
        ha.become_primary(1, True, "r1", cfg_json)
        items = [("@feed", "book.shfe:au2606", b"\x90")]
        bodies = [encode_batch(ts, "hot", items) for ts in (10, 11, 12)]
        for ts, body in zip((10, 11, 12), bodies, strict=True):
            ha.replicate_record(T_BATCH, body, ts)
        order = NewOrder("1.5.0.0", "au2606", "B", 100, 2, "IOC", 9)
        ha.replicate_intents([encode((9, "shfe-acct", order))])
        ha.replication.flush(2.0)
    finally:
        ha.stop()

    res = CliRunner().invoke(ha_cmd, ["export", f"{url}/CMC_JOURNAL", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    run = Path(res.output.strip())
    assert run.name == "r1"
    assert json.loads((run / "config.json").read_bytes()) == json.loads(cfg_json)
    got = [(ts, g, d) for ts, g, d, _m in read_journal(run)]
    assert got == [(10, "hot", "book.shfe:au2606"), (11, "hot", "book.shfe:au2606"),
                   (12, "hot", "book.shfe:au2606")]
    intents = list(read_intents(run / "intents-engine.cmcw"))
    assert [(ts, acct, o["cl"]) for ts, acct, o in intents] == [(9, "shfe-acct", "1.5.0.0")]

    res = CliRunner().invoke(audit, ["verify", f"{url}/CMC_JOURNAL", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["ok"] is True


def test_an_unknown_run_is_named(nats_server: object, tmp_path: Path) -> None:
    url = nats_server.url  # type: ignore[attr-defined]
    res = CliRunner().invoke(ha_cmd, ["export", f"{url}/CMC_JOURNAL#nope", "--out",
                                      str(tmp_path), "--timeout", "5"])
    assert res.exit_code == 1 and "no run 'nope'" in res.output
