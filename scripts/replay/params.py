"""``--set KEY=VALUE`` for what-if replays: change config values by path, validated.

Keys are dotted paths into the run's config. List items are chosen by index (``pairs[0]``) or by
name (``pairs.au-gc``; contracts by ``venue:sym``). Values are JSON (``3``, ``0.5``, ``true``,
``"lead"``) or, if not JSON, plain strings. Only sections that the replay re-runs may change:
``pairs``, ``risk``, ``contracts`` (fees, limits) and ``venues`` (timeouts). Every error names
the key and what would have been valid.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from transports.config.engine import AppConfig, with_overrides
from transports.errors import CmcError, ConfigError

REPLAYABLE = ("pairs", "risk", "contracts", "venues")
#: fields that name things the journal refers to: changing them would break the replay
FROZEN_FIELDS = frozenset(
    {"name", "venue", "sym", "leg_a", "leg_b", "fx", "md", "ref", "oe", "account", "trading"}
)


class ParamError(CmcError):
    """A ``--set`` key or value is not valid; the message says which and why."""


_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_key(key: str) -> list[str | int]:
    """Split ``pairs[0].z_entry`` / ``pairs.au-gc.z_entry`` into path tokens."""
    tokens: list[str | int] = []
    pos = 0
    for m in _TOKEN.finditer(key):
        between = key[pos : m.start()]
        if between not in ("", "."):
            raise ParamError(f"--set {key!r}: cannot parse the key near {between!r}")
        tokens.append(int(m.group(2)) if m.group(2) is not None else m.group(1))
        pos = m.end()
    if not tokens or key[pos:] not in ("",):
        raise ParamError(f"--set {key!r}: cannot parse the key")
    return tokens


def _item_name(item: Any) -> str:
    if isinstance(item, dict):
        if "name" in item:
            return str(item["name"])
        if "venue" in item and "sym" in item:
            return f"{item['venue']}:{item['sym']}"
    return ""


def _pick(lst: list[Any], tok: str | int, where: str, key: str) -> Any:
    if isinstance(tok, int):
        if not 0 <= tok < len(lst):
            raise ParamError(f"--set {key!r}: {where} has {len(lst)} items; no index {tok}")
        return lst[tok]
    names = [_item_name(x) for x in lst]
    if tok in names:
        return lst[names.index(tok)]
    if tok.isdigit() and int(tok) < len(lst):
        return lst[int(tok)]
    raise ParamError(
        f"--set {key!r}: {where} has no item named {tok!r} (have: "
        f"{', '.join(n for n in names if n) or 'none'})"
    )


def parse_value(text: str) -> Any:
    """Return the JSON value of ``text``, or ``text`` itself when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def apply_sets(cfg: AppConfig, sets: list[str]) -> tuple[AppConfig, dict[str, Any]]:
    """Return the changed config and ``{key: value}`` of what changed; raise ``ParamError``."""
    data = msgspec.to_builtins(cfg)
    changed: dict[str, Any] = {}
    for s in sets:
        key, sep, text = s.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParamError(f"--set {s!r}: expected KEY=VALUE, e.g. pairs.au-gc.z_entry=3")
        path = parse_key(key)
        if path[0] not in REPLAYABLE:
            raise ParamError(
                f"--set {key!r}: section {path[0]!r} cannot change in a replay "
                f"(can: {', '.join(REPLAYABLE)})"
            )
        target: Any = data
        where = "$"
        for tok in path[:-1]:
            if isinstance(target, list):
                target = _pick(target, tok, where, key)
            elif isinstance(target, dict) and isinstance(tok, str) and tok in target:
                target = target[tok]
            else:
                raise ParamError(f"--set {key!r}: {where} has no {tok!r}")
            where = f"{where}.{tok}"
        last = path[-1]
        if not isinstance(target, dict):
            raise ParamError(f"--set {key!r}: {where} is a list; name an item, then a field")
        if last not in target:
            raise ParamError(
                f"--set {key!r}: unknown field {last!r} in {where} (fields: "
                f"{', '.join(sorted(target))})"
            )
        if last in FROZEN_FIELDS:
            raise ParamError(
                f"--set {key!r}: {last!r} names something the journal refers to; "
                "it cannot change in a replay"
            )
        target[last] = parse_value(text.strip())
        changed[key] = target[last]
    try:
        new = msgspec.convert(data, AppConfig)
        new = with_overrides(new, pairs=new.pairs)
    except msgspec.ValidationError as exc:
        raise ParamError(f"--set: invalid value: {exc}") from None
    except ConfigError as exc:
        raise ParamError(f"--set: {exc}") from None
    return new, changed


__all__ = ["ParamError", "apply_sets", "parse_key", "parse_value"]
