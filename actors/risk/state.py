"""How the RiskSupervisor's objects come back from a checkpoint (``pickle``).

CPython 3.11 keeps a fresh object's attributes inline (a shared-keys values array that the
interpreter's specialised attribute reads index directly). Pickle's default restore, like any
``obj.__dict__.update(state)``, first makes the object a real ``__dict__``, and every attribute
read of that object is then about twice as slow for the rest of the run: a node rebuilt from a
checkpoint (a restart, a standby taking over) would run its risk core slower than the one it
replaced. Setting the state attribute by attribute keeps them inline.
"""

from __future__ import annotations

from typing import Any


def restore(obj: Any, state: dict[str, Any]) -> None:
    """Set every ``name -> value`` of a pickled ``state`` on ``obj`` with ``setattr`` (the same
    attributes and values as ``obj.__dict__.update(state)``; see the module docstring)."""
    for name, value in state.items():
        setattr(obj, name, value)


__all__ = ["restore"]
