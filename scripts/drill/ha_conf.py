"""The configs of a fail-over drill: one simulator, a primary and a standby on one machine.

``failover_confs`` writes, from a single-node config (default: the embedded ``conf/demo.toml``),
the drill's config: venue addresses moved out of ``{sock}`` into the gateway's own directory
(both engines reach the same simulator; each engine keeps its own socket directory for its
node, admin and control sockets), ``[launch]`` without gateway children, and ``[ha]`` pointing
at the drill's NATS server.
"""

from __future__ import annotations

import re
from pathlib import Path

from transports.errors import ConfigError


def default_base_conf() -> Path:
    """The embedded demo config (one node: the HA shape)."""
    import conf

    return Path(conf.__file__).parent / "demo.toml"


def tcp_links(base: str) -> str:
    """``base`` with every venue link (``md``/``ref``/``oe``) on its own loopback TCP port: the
    production shape (gateways on other hosts) on one machine."""
    from transports.ha.server import free_ports

    names = re.findall(r'^\s*(?:md|ref|oe)\s*=\s*"(ipc://\{sock\}/[^"]+)"', base, re.M)
    ports = dict(zip(dict.fromkeys(names), free_ports(len(set(names))), strict=True))
    for addr, port in ports.items():
        base = base.replace(f'"{addr}"', f'"tcp://127.0.0.1:{port}"')
    return base


def with_curve(text: str, server_key: str, client_secret: str) -> str:
    """``text`` with every venue link encrypted: each ``[[venues]]`` names the gateway's public
    key and the engine's secret key (CURVE, docs/venue-protocol.md §14)."""
    keys = f'curve_server_key = "{server_key}"\ncurve_client_secret = "{client_secret}"\n'
    return re.sub(r'^(\s*oe\s*=\s*"tcp://[^"]+"\n)', lambda m: m.group(1) + keys, text,
                  flags=re.M)


def failover_conf_text(base: str, gw_dir: str, nats_urls: list[str], *, ttl_ms: int,
                       renew_ms: int, sync: bool = True, on_deposed: str = "standby",
                       out_dir: str = "runs", replicas: int = 1, extra: str = "") -> str:
    """The drill's config text from ``base`` (a config without ``[launch]``/``[ha]``)."""
    if re.search(r"^\[(launch|ha)\]", base, re.M):
        raise ConfigError("the drill's base config must not have [launch] or [ha] (it adds them)")
    text = re.sub(r'^(\s*(?:md|ref|oe)\s*=\s*")ipc://\{sock\}/', rf"\1ipc://{gw_dir}/", base,
                  flags=re.M)
    text = re.sub(r'^out_dir\s*=.*$', f'out_dir = "{out_dir}"', text, count=1, flags=re.M)
    servers = ", ".join(f'"{u}"' for u in nats_urls)
    return (f"{text}\n\n[launch]\nshutdown = \"flatten\"\nflatten_timeout_s = 10.0\n"
            f"cancel_timeout_s = 3.0\n\n"
            f"[ha]\nservers = [{servers}]\nlease_ttl_ms = {ttl_ms}\nrenew_ms = {renew_ms}\n"
            f"replicas = {replicas}\n"
            f"replicate_intents = \"{'sync' if sync else 'async'}\"\n"
            f"on_deposed = \"{on_deposed}\"\n{extra}")


__all__ = ["default_base_conf", "failover_conf_text", "tcp_links", "with_curve"]
