"""The ``[ha]`` section's validation, and the benches run (numbers are reported, not asserted)."""

from __future__ import annotations

import msgspec
import pytest

from transports.config.ha import HaConfig, check_ha, ha_from_mapping
from transports.errors import ConfigError
from transports.ha.bench import bench_replication, bench_takeover
from transports.ha.server import NatsServer


def test_defaults() -> None:
    ha = check_ha(HaConfig())
    assert (ha.lease_ttl_ms, ha.renew_ms, ha.role, ha.replicate_intents, ha.on_deposed) == \
        (300, 100, "auto", "sync", "standby")


@pytest.mark.parametrize(("data", "field"), [
    ({"lease_ttl_ms": 0}, "lease_ttl_ms"),
    ({"role": "leader"}, "role"),
    ({"replicate_intents": "maybe"}, "replicate_intents"),
    ({"on_deposed": "panic"}, "on_deposed"),
    ({"bogus": 1}, "bogus"),
    ({"renew_ms": 200}, "$.ha.renew_ms"),
    ({"servers": []}, "$.ha.servers"),
    ({"servers": ["127.0.0.1:4222"]}, "$.ha.servers[0]"),
    ({"bucket": "a.b"}, "$.ha.bucket"),
    ({"key": "a*"}, "$.ha.key"),
])
def test_errors_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace("$", r"\$").replace("[", r"\[")):
        ha_from_mapping(data)


def test_toml_round_trip() -> None:
    raw = b'servers = ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]\nreplicas = 3\n'
    ha = check_ha(msgspec.toml.decode(raw, type=HaConfig))
    assert ha.replicas == 3 and len(ha.servers) == 2


def test_benches_run(nats_server: NatsServer) -> None:
    rep = bench_replication(200, sync_n=50, servers=[nats_server.url])
    assert rep["sync_ack_us_p99"] >= rep["sync_ack_us_p50"] > 0 and rep["async_rate_per_s"] > 0
    tk = bench_takeover(2, servers=[nats_server.url])
    assert tk["kill_ms_max"] > 0 and tk["freeze_ms_max"] > 0
