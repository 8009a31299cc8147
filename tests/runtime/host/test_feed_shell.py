"""The feed's shell turns md frames into venue messages on a short path (msgspec's typed decode
straight away) and falls back to the codec's full path for everything that path refuses: the
messages, ``BadFrame``s, lenient decodes and ``md_wire`` samples are what the codec gives.
And a pass-through shell calls its current core directly, also after the core is replaced."""

from __future__ import annotations

from typing import Any

import msgspec

from actors.core import Core, Out
from actors.feed import FeedCore
from actors.runtime.shells.feed_shell import FeedShell
from actors.runtime.shells.shell import Shell
from transports.latency import LatencyRecorder
from transports.wire.codec import MAX_FRAME_BYTES, Codec, encode
from transports.wire.messages import BadFrame
from transports.wire.venue_msgs import Delta, Heartbeat, MdMessage, Snapshot


def _shell(latency: LatencyRecorder | None) -> FeedShell:
    core = FeedCore("feed.v", "v", ["X"], {"X": "book.v:X"}, [], [])
    return FeedShell(core, "ipc://md", "ipc://ref", latency)


def test_md_frames_decode_as_the_codec_does_and_deltas_are_stamped() -> None:
    lat = LatencyRecorder()
    sh = _shell(lat)
    d = Delta(sym="X", seq=3, ts=1_000, b=[(10, 2)], a=[])
    assert sh.decode("md", [b"md.X", encode(d)], 5_000) == d
    hb = Heartbeat(ts=2_000, seqs={"X": 3})
    assert sh.decode("md", [b"hb", encode(hb)], 9_000) == hb  # not a delta: not stamped
    assert lat.samples("md_wire").tolist() == [4_000]
    # a variant only the lenient pass accepts (nil as absent) decodes, and is stamped
    raw = msgspec.msgpack.encode({"t": "delta", "sym": "X", "seq": 4, "ts": 1_500,
                                  "b": [[11, 1]], "a": None})
    codec = Codec[Any](MdMessage)
    assert sh.decode("md", [b"md.X", raw], 6_000) == codec.decode(raw)
    assert lat.samples("md_wire").tolist() == [4_000, 4_500]


def test_frames_the_fast_path_refuses_become_the_codecs_bad_frames() -> None:
    sh = _shell(LatencyRecorder())
    for frame in (b"\xc1not msgpack", msgspec.msgpack.encode({"t": "delta", "sym": "X"}),
                  b"\x90" * (MAX_FRAME_BYTES + 1)):
        msg = sh.decode("md", [b"md.X", frame], 1)
        assert type(msg) is BadFrame and msg.key == "md", msg
    bad_ref = sh.decode("ref", [b"\xc1"], 1)
    assert type(bad_ref) is BadFrame and bad_ref.key == "ref"
    snap = Snapshot(sym="X", seq=1, ts=1, b=[], a=[])
    assert sh.decode("ref", [encode(snap)], 1) == snap
    assert sh.latency is not None and sh.latency.hops() == []  # nothing stamped


def test_without_a_recorder_nothing_is_stamped() -> None:
    sh = _shell(None)
    d = Delta(sym="X", seq=1, ts=1, b=[], a=[])
    assert sh.decode("md", [b"md.X", encode(d)], 2) == d


class _Echo(Core):
    def __init__(self, name: str, tag: str) -> None:
        super().__init__(name)
        self.tag = tag

    def on_delta(self, d: Delta, now_ns: int) -> Out:
        return [(self.tag, d)]


def test_a_pass_through_shell_reaches_the_current_core() -> None:
    sh = Shell(_Echo("a", "first"))
    d = Delta(sym="X", seq=1, ts=1, b=[], a=[])
    assert sh.handle(d, 0) == [("first", d)]
    sh.core = _Echo("a", "second")  # a restart or a rebuild replaces the core
    assert sh.handle(d, 0) == [("second", d)]

    class Stamping(Shell):
        def handle(self, msg: Any, now_ns: int) -> Out:
            return [("stamped", msg), *self.core.handle(msg, now_ns)]

    st = Stamping(_Echo("b", "inner"))
    st.core = _Echo("b", "inner2")
    assert st.handle(d, 0) == [("stamped", d), ("inner2", d)]  # its own handle is kept
