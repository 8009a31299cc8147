"""One error hierarchy: every exception class the project defines derives from ``CmcError``."""

from __future__ import annotations

import importlib
import pkgutil

from transports.errors import CmcError

PACKAGES = ("actors", "transports", "kernels", "scripts")


def _project_exceptions() -> dict[str, type]:
    found: dict[str, type] = {}
    for pkg_name in PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for info in pkgutil.walk_packages(pkg.__path__, pkg_name + "."):
            mod = importlib.import_module(info.name)
            for obj in vars(mod).values():
                if (isinstance(obj, type) and issubclass(obj, BaseException)
                        and obj.__module__ == mod.__name__):
                    found[f"{mod.__name__}.{obj.__qualname__}"] = obj
    return found


def test_every_project_exception_is_a_cmc_error() -> None:
    found = _project_exceptions()
    # the walk sees the classes defined outside transports.errors too
    assert {"actors.runtime.checkpoint.CheckpointError",
            "actors.runtime.rebuild.rebuild.RebuildUnavailable",
            "transports.journal.recovery.JournalCorrupt"} <= set(found)
    assert sorted(n for n, cls in found.items() if not issubclass(cls, CmcError)) == []
