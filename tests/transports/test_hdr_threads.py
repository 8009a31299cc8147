"""A histogram read by one thread while another records into it (a ``/metrics`` scrape or a
summary during a run): every read must answer, never raise."""

from __future__ import annotations

import threading

from transports.hdr import LatencyHist


def test_reads_while_another_thread_records_never_raise() -> None:
    h = LatencyHist()
    stop = threading.Event()
    errors: list[BaseException] = []

    def recorder() -> None:
        v = 1
        while not stop.is_set():
            h.record(v)  # a new bucket almost every time: the counts' non-zero set keeps growing
            v = v * 3 // 2 + 1 if v < 10**12 else 1
            if v == 1:
                h.reset()

    t = threading.Thread(target=recorder, daemon=True)
    t.start()
    try:
        for _ in range(1500):
            try:
                h.min_ns()
                h.max_ns()
                h.summary_us()
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
                break
    finally:
        stop.set()
        t.join(5)
    assert errors == []
