"""Where actors run: dispatcher groups (threads) on nodes (processes) on CPUs."""

from __future__ import annotations

from typing import Annotated

import msgspec

from transports.config.base import NonNegInt, Section
from transports.errors import ConfigError


class NodeConfig(Section):
    """A node: one OS process; ``address`` is where its inbound PULL socket binds."""

    name: str
    address: str
    cpus: list[NonNegInt] = []  #: empty = the CPUs the launcher was given


class GroupConfig(Section):
    """A dispatcher group: one pykka actor thread hosting several actors that call each other
    directly (no thread wake per hop)."""

    name: str
    node: str
    actors: list[str]
    cpus: list[NonNegInt] = []
    #: the group's idle strategy, µs (0-10,000): with nothing to do, its host busy-polls its
    #: sockets, inbox and timers this long after its last input before it sleeps (0 = sleep at
    #: once, the default). Input soon after the last then finds the thread awake and its cache
    #: warm (a wake-up from sleep costs ~80 µs on the reference VM). Hazard: the spin burns its
    #: CPU, and other groups of the same node (risk, the journal) wait for the GIL, up to the
    #: switch interval per turn, while it spins: give a spinning group a node and an isolated
    #: core of its own (``cpus``); a warning at start names the groups that share its process.
    spin_us: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0


class PlacementConfig(Section):
    """Where actors run: groups (threads) on nodes (processes) on CPUs."""

    nodes: list[NodeConfig]
    groups: list[GroupConfig]


def check_placement(placement: PlacementConfig) -> None:
    """Every group is on a known node and no actor is placed twice (``ConfigError`` otherwise)."""
    nodes = {n.name for n in placement.nodes}
    seen: set[str] = set()
    for i, g in enumerate(placement.groups):
        if g.node not in nodes:
            raise ConfigError(f"$.placement.groups[{i}].node: unknown node {g.node!r}")
        for a in g.actors:
            if a in seen:
                raise ConfigError(f"$.placement.groups[{i}].actors: {a!r} placed twice")
            seen.add(a)


__all__ = ["GroupConfig", "NodeConfig", "PlacementConfig", "check_placement"]
