"""The simulator's fault switches: one seeded decision point per kind of event.

Every switch is a rate (probability per event) in ``FaultsConfig``; a switch at 0 draws no random
number, so a run with every switch off behaves as if there were no fault code. A new switch gets
a field in ``FaultsConfig``, a method here and one call where its event happens (``venue.py`` or
``core.py``); every time a switch fires it is counted (``fault_<name>``) and the truth reports it.
"""

from __future__ import annotations

import numpy as np

from transports.config import FaultsConfig


class FaultInjector:
    """Seeded fault decisions; ``counts`` records how often each switch fired."""

    def __init__(self, cfg: FaultsConfig, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self._rng = rng
        self.counts: dict[str, int] = {
            "fault_md_drop": 0,
            "fault_md_duplicate": 0,
            "fault_oe_reject": 0,
            "fault_oe_partial": 0,
        }

    def _hit(self, name: str, rate: float) -> bool:
        if rate <= 0.0 or self._rng.random() >= rate:
            return False
        self.counts[f"fault_{name}"] += 1
        return True

    def md_copies(self) -> int:
        """How many times to send the next delta: 0 (dropped, seq still used), 1 or 2."""
        if self._hit("md_drop", self.cfg.md_drop):
            return 0
        if self._hit("md_duplicate", self.cfg.md_duplicate):
            return 2
        return 1

    def reject_order(self) -> bool:
        """True: reject this otherwise valid order (code ``sim_fault``)."""
        return self._hit("oe_reject", self.cfg.oe_reject)

    def partial_cap(self, qty: int) -> int | None:
        """A cap below ``qty`` on what this IOC may fill, or None (no fault)."""
        if qty < 2 or not self._hit("oe_partial", self.cfg.oe_partial):
            return None
        return int(self._rng.integers(1, qty))
