"""Noticing at once that a launched command ended, instead of polling its exit file.

Every command the engine starts on a node runs under a supervisor process that writes the
exit file and then exits. ``ExitWatch`` holds a pidfd per supervisor in one epoll set and
calls ``on_exit`` as soon as any of them ends, so the scheduler ticks right then rather
than up to a polling interval later. The exit files stay the truth: a missed or spurious
wake-up only costs a tick, and the scheduler still polls slowly as a safety net.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class ExitWatch:
    """Calls ``on_exit`` from its own thread whenever a watched pid ends."""

    def __init__(self, on_exit: Callable[[], None]) -> None:
        self._on_exit = on_exit
        self._epoll = select.epoll()
        self._wake_r, self._wake_w = os.pipe()
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._lock = threading.Lock()
        self._fds: dict[int, int] = {}  # fd -> pid
        self._pids: set[int] = set()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="exit-watch", daemon=True)
        self._thread.start()

    def watch(self, pid: int) -> None:
        """Watch ``pid`` until it ends; idempotent. A pid already gone wakes at once."""
        with self._lock:
            if self._closed or pid in self._pids:
                return
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                fd = -1
            except OSError as exc:  # no pidfd support: the scheduler's polling remains
                log.debug("cannot watch pid %d: %s", pid, exc)
                return
            if fd >= 0:
                self._fds[fd] = pid
                self._pids.add(pid)
                self._epoll.register(fd, select.EPOLLIN)
        if fd < 0:
            self._on_exit()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        with self._lock:
            for fd in self._fds:
                os.close(fd)
            self._fds.clear()
            self._pids.clear()
        self._epoll.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _run(self) -> None:
        while True:
            events = self._epoll.poll()
            with self._lock:
                if self._closed:
                    return
                ended = [fd for fd, _ in events if fd != self._wake_r]
                for fd in ended:
                    self._forget(fd)
            if any(fd == self._wake_r for fd, _ in events):
                os.read(self._wake_r, 64)
            if ended:
                self._on_exit()

    def _forget(self, fd: int) -> None:
        pid = self._fds.pop(fd, None)
        if pid is None:
            return
        self._pids.discard(pid)
        self._epoll.unregister(fd)
        os.close(fd)
