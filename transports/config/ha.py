"""The ``[ha]`` section: hot standby on NATS JetStream (lease, fencing, journal replication).

Absent (``AppConfig.ha is None``) means single-engine use: nothing imports or needs NATS. A frozen
msgspec Struct with ``forbid_unknown_fields`` (``transports.config.base``): an unknown key, a wrong
type or an out-of-range value is a ``ConfigError`` naming the field. ``check_ha`` adds the
cross-field rules (renew interval below the TTL, names NATS accepts).
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from transports.config.base import PosInt, Section
from transports.errors import ConfigError

#: JetStream stream / KV bucket names: no spaces, dots, ``*``, ``>`` or path separators
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
#: a KV key: dots allowed as separators, no wildcards
_KEY_RE = re.compile(r"^[-/_=.A-Za-z0-9]+$")


class HaConfig(Section):
    """Hot standby: where NATS is, the lease's timing, this engine's role, replication policy."""

    #: NATS server URLs (a 3-server cluster in production; any one of them is enough to connect)
    servers: list[str] = msgspec.field(default_factory=lambda: ["nats://127.0.0.1:4222"])
    cluster: str = "cmc"  #: NATS cluster name (documentation and checks; the servers carry it)
    bucket: str = "cmc_lease"  #: JetStream key-value bucket holding the lease
    key: str = "primary"  #: the lease's key inside the bucket (one per engine pair)
    stream: str = "CMC_JOURNAL"  #: JetStream stream the primary replicates its journal to
    replicas: Literal[1, 3, 5] = 1  #: JetStream replicas of the bucket and the stream (3 in prod)
    #: the lease expires this long after its last renewal (holder: since it SENT the renewal;
    #: standby: since it SAW it); take-over happens after about TTL + one watch delivery
    lease_ttl_ms: PosInt = 300
    renew_ms: PosInt = 100  #: the holder renews this often (must be well below the TTL)
    #: "primary" tries to take the lease at start, "standby" only when it expires, "auto" both
    role: Literal["primary", "standby", "auto"] = "auto"
    #: "sync": an intent is acknowledged by JetStream before its order leaves (safer, slower);
    #: "async": intents are pipelined like every other record (faster, a crash may lose the tail)
    replicate_intents: Literal["sync", "async"] = "sync"
    #: what a deposed primary does: become a standby, or exit (the launcher decides what next)
    on_deposed: Literal["standby", "exit"] = "standby"
    connect_timeout_ms: PosInt = 2000  #: bound on (re)connecting to NATS
    op_timeout_ms: PosInt = 1000  #: bound on each JetStream request (publish ack, KV write)
    async_max_pending: PosInt = 4000  #: async publishes in flight before publish_async waits


def check_ha(ha: HaConfig, where: str = "$.ha") -> HaConfig:
    """Cross-field checks of an ``HaConfig``; ``ConfigError`` names the field. Returns ``ha``."""
    if not ha.servers:
        raise ConfigError(f"{where}.servers: at least one NATS server URL is needed")
    for i, url in enumerate(ha.servers):
        if not re.match(r"^(nats|tls|ws|wss)://[^\s/]+$", url):
            raise ConfigError(f"{where}.servers[{i}]: not a NATS URL (nats://host:port): {url!r}")
    for fld in ("bucket", "stream", "cluster"):
        value = getattr(ha, fld)
        if not _NAME_RE.match(value):
            raise ConfigError(f"{where}.{fld}: letters, digits, '_' and '-' only, got {value!r}")
    if not _KEY_RE.match(ha.key) or ha.key.startswith(".") or ha.key.endswith("."):
        raise ConfigError(f"{where}.key: not a valid key-value key: {ha.key!r}")
    if ha.renew_ms * 2 > ha.lease_ttl_ms:
        raise ConfigError(f"{where}.renew_ms: {ha.renew_ms} must be at most half of "
                          f"lease_ttl_ms {ha.lease_ttl_ms} (a lost renewal must not expire it)")
    if ha.op_timeout_ms > ha.lease_ttl_ms * 10:
        raise ConfigError(f"{where}.op_timeout_ms: {ha.op_timeout_ms} is more than ten "
                          f"lease TTLs ({ha.lease_ttl_ms} ms)")
    return ha


def ha_from_mapping(data: dict[str, Any], where: str = "$.ha") -> HaConfig:
    """Build and check an ``HaConfig`` from a plain mapping (tests, tools)."""
    try:
        ha = msgspec.convert(data, HaConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return check_ha(ha, where)


__all__ = ["HaConfig", "check_ha", "ha_from_mapping"]
