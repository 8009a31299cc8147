"""A lease contender in its own process, for kill/freeze tests: ``python -m tests.ha.holder_proc
URL HOLDER ROLE``. Prints ``acquired <epoch>`` and ``deposed <reason>`` lines; exits when its
stdin closes."""

from __future__ import annotations

import sys

from transports.config.ha import HaConfig, check_ha
from transports.ha.service import LeaseService


def main() -> None:
    url, holder, role = sys.argv[1:4]
    cfg = check_ha(HaConfig(servers=[url], role=role, op_timeout_ms=500))  # type: ignore[arg-type]

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    svc = LeaseService(cfg, holder=holder, node="proc",
                       on_acquired=lambda e: say(f"acquired {e}"),
                       on_deposed=lambda r: say(f"deposed {r}"))
    svc.start()
    say("ready")
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        svc.stop()


if __name__ == "__main__":
    main()
