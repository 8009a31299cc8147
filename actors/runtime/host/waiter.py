"""How a host waits for its sockets: one OS ``poll`` over their descriptors, and a socket's
ZeroMQ state read only when it may have changed.

``zmq.Poller`` (``zmq_poll``) reads every registered socket's state (``ZMQ_EVENTS``: the
socket's command mailbox processed under its lock) before it sleeps and again after it wakes,
and a host's wake polls two or three times (``PollingInbox.get``): the hot group of the bench
has eleven sockets (three market-data SUBs, eight DEALERs), and one of them is busy.

``SocketWaiter`` keeps the contract of ``zmq.Poller`` (``register``, ``unregister``,
``poll(timeout_ms) -> [(socket or fd, POLLIN)]``) and reads a socket's ``ZMQ_EVENTS`` only when
it may have changed since it was last read:

- its descriptor (``ZMQ_FD``) signalled: libzmq signals it when a command reaches the socket's
  mailbox (a message arrived on a pipe that was empty);
- this thread used the socket: it was returned as readable (the caller reads it, maybe not to
  the end: ``MAX_FRAMES_PER_POLL``), or sent on (``TrackedSocket.send``; a send processes the
  mailbox too, and with it the signal of a message that arrived meanwhile);
- it was just registered.

The rule libzmq documents for ``ZMQ_FD`` is that its signal is consumed by any operation on the
socket, so a socket used without being read again could hold a message no descriptor will ever
announce. The waiter is built so that cannot happen unnoticed: a socket that can send and is not
a ``TrackedSocket`` is read before every wait, and a wait that times out reads every socket; one
found readable after the longest wait (``MAX_WAIT_MS``) is a lost wake-up: served at once,
counted (``lost_wakeups``, the host's ``io.lost_wakeups``) and logged. An unforeseen use of a
socket would cost at most that wait, once, and show.
"""

from __future__ import annotations

import select
from typing import Any

import zmq
from loguru import logger

_POLLIN = zmq.POLLIN
_EVENTS = zmq.EVENTS
#: the longest a host waits (``PollingInbox``): a lost wake-up costs at most this, once
MAX_WAIT_MS = 100
#: socket types that never send (their state changes only by what arrives, or by a read)
_RECV_ONLY = frozenset({zmq.SUB, zmq.PULL})


class TrackedSocket(zmq.Socket):  # type: ignore[type-arg]
    """A ``zmq.Socket`` that tells its ``SocketWaiter`` it was sent on (``send_multipart`` and
    the other senders go through ``send``), so the waiter reads its state before it sleeps."""

    #: the waiter's set of sockets to read before the next wait (None: not registered)
    _cmc_touched: set[Any] | None = None

    def send(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        touched = self._cmc_touched
        if touched is not None:
            touched.add(self)
        return super().send(*args, **kwargs)


class SocketWaiter:
    """``zmq.Poller``'s interface over ZeroMQ sockets and plain descriptors (an eventfd), with
    each socket's state read only when it may have changed (module docstring). One thread
    uses it and its sockets (the host's). ``poll`` lists what is ready in the order it was
    registered, as ``zmq.Poller`` does."""

    def __init__(self) -> None:
        self._os = select.poll()
        #: every socket and plain descriptor -> its registration rank (the order ``poll`` keeps)
        self._rank: dict[Any, int] = {}
        self._next_rank = 0
        self._sock_by_fd: dict[int, Any] = {}
        self._plain: set[int] = set()  #: plain descriptors (the eventfd): returned as they are
        #: sockets whose state is read before the next wait (then forgotten until they change)
        self._touched: set[Any] = set()
        #: sockets read before every wait (they may be sent on without telling: not tracked)
        self._always: set[Any] = set()
        #: sockets readable after a wait of ``MAX_WAIT_MS`` that nothing had signalled
        self.lost_wakeups = 0
        #: sockets readable when a shorter wait (a timer's) ran out: mostly a message that came
        #: just then
        self.found_on_timeout = 0

    @property
    def sockets(self) -> list[Any]:
        """Every registered socket and descriptor, in registration order."""
        return list(self._rank)

    def register(self, sock: Any, flags: int = _POLLIN) -> None:
        """Wait for ``sock`` (a ZeroMQ socket, or a plain descriptor) to be readable."""
        if sock in self._rank:
            return
        self._rank[sock] = self._next_rank
        self._next_rank += 1
        if isinstance(sock, int):
            self._plain.add(sock)
            self._os.register(sock, select.POLLIN)
            return
        fd = sock.getsockopt(zmq.FD)
        self._sock_by_fd[fd] = sock
        self._os.register(fd, select.POLLIN)
        if isinstance(sock, TrackedSocket):
            sock._cmc_touched = self._touched
        elif sock.getsockopt(zmq.TYPE) not in _RECV_ONLY:
            self._always.add(sock)
        self._touched.add(sock)  # its state before anything signalled

    def unregister(self, sock: Any) -> None:
        """Stop waiting for ``sock`` (before it is closed)."""
        if self._rank.pop(sock, None) is None:
            return
        if isinstance(sock, int):
            self._plain.discard(sock)
            self._os.unregister(sock)
            return
        fd = next(f for f, s in self._sock_by_fd.items() if s is sock)
        del self._sock_by_fd[fd]
        self._os.unregister(fd)
        self._touched.discard(sock)
        self._always.discard(sock)
        if isinstance(sock, TrackedSocket):
            sock._cmc_touched = None

    def poll(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        """Return the readable sockets (and descriptors) as ``zmq.Poller.poll`` does, waiting up
        to ``timeout`` ms (None or < 0: until one is; 0: not at all). What the descriptors
        signalled is always looked at, even when a touched socket is ready (a busy socket must
        not hide the others)."""
        touched = self._touched
        check = touched | self._always if self._always else set(touched)
        touched.clear()
        found = []
        for s in check:
            if s.getsockopt(_EVENTS) & _POLLIN:
                found.append(s)
                touched.add(s)  # its reader uses it next
        # something to serve: only look (no wait) at what the descriptors signalled
        wait = 0 if found else (-1 if timeout is None or timeout < 0 else int(timeout))
        events = self._os.poll(wait)
        if not events and not found:
            return self._timed_out(wait) if wait > 0 else []
        by_fd, plain = self._sock_by_fd, self._plain
        for fd, _ in events:
            if fd in plain:
                found.append(fd)
                continue
            s = by_fd.get(fd)
            if s is None or s in touched:  # found readable above
                continue
            if s.getsockopt(_EVENTS) & _POLLIN:
                found.append(s)
                touched.add(s)
        if len(found) > 1:
            found.sort(key=self._rank.__getitem__)
        return [(s, _POLLIN) for s in found]

    def _timed_out(self, waited_ms: int) -> list[tuple[Any, int]]:
        """A wait of ``waited_ms`` ran to its end: read every socket (a message may have come
        just then). One readable after the longest wait (``MAX_WAIT_MS``: nothing else woke
        the host) is a lost wake-up: counted and logged; after a shorter one (a timer's) it is
        more likely a message that came while the wait ended, counted apart."""
        touched = self._touched
        found = []
        for s in self._rank:
            if not isinstance(s, int) and s.getsockopt(_EVENTS) & _POLLIN:
                found.append(s)
                touched.add(s)
        if found:
            if waited_ms >= MAX_WAIT_MS:
                self.lost_wakeups += len(found)
                logger.warning("host: {} socket(s) readable that nothing signalled in {} ms "
                               "(lost wake-ups so far: {}): served now", len(found), waited_ms,
                               self.lost_wakeups)
            else:
                self.found_on_timeout += len(found)
        return [(s, _POLLIN) for s in found]


__all__ = ["MAX_WAIT_MS", "SocketWaiter", "TrackedSocket"]
