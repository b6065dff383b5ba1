"""gunicorn's threaded worker with the client connections spread evenly over the worker processes.

With keep-alive a connection stays with the worker process that accepted it, and gunicorn's
threaded workers all accept from one listening socket: whichever process wakes first takes the
connection, and when many connections open at once one process often takes nearly all of them
(seen: 45 of 50, and 84 of 84). A process runs Python on at most one core (the GIL), so the other
processes then idle while that one queues every request: at 50 clients the same server measured
anything from 100 to 236 requests/s from one run to the next.

BalancedThreadWorker keeps the connection counts level:
- each worker publishes its number of open connections in a small shared-memory table (made in
  the master before the workers are forked);
- a worker listens for new connections only while it holds no more than the mean over the live
  workers (rounded down), unless no other worker is listening; one that does not listen looks
  again every 50 ms. Taking one connection then never lifts a worker above the new mean rounded up;
- a worker holding more than the mean rounded up plus one closes a keep-alive connection after the
  response (``Connection: close``); the client reconnects and a worker at or below the mean takes it.
  A worker added or restarted while the others hold every connection gets its share this way. The
  margin of one keeps a worker that took one connection too many (its view of the others was a
  moment old, as under heavy load) from sending it away again.
No worker ends up holding more than the mean rounded up plus one, and connections do not move back
and forth.

Within a process, RunningLimit lets only GUNICORN_RUNNING requests (default 1) run at once; the
process's other threads wait for their turn before they start. Requests that run side by side in
one process fight over the GIL, and more of them in flight on the machine means more PostgreSQL
backends sharing the cores: on 2 cores with PostgreSQL beside it, 2 processes × 3 threads served the
API loop of bench/journey.py at 264.6 requests/s with every thread running and at 305–307 with one
running per process, and PostgreSQL spent 12.6–12.8 instead of 16.5 ms of CPU per loop
(docs/性能与规模.md §5.15). The spare threads are still there for what takes long: a request stops
counting once it has run GUNICORN_RUNNING_BUDGET_MS (default 200: an export, a large page) or when it
announces a wait that uses no CPU here (app/core/waits.py: a password hash in the KDF process, a call
to an external system), and the next request starts.

Each worker also freezes the objects of the loaded application (gc.freeze) before it serves: they
live as long as the process, and left in the collector's oldest generation a full collection walked
all ~300,000 of them while holding the GIL, about 100 ms in which no thread of the process ran.

It relies on two attributes of gunicorn's ThreadWorker that are read where the decisions are made
(``nr_conns``, ``max_keepalived``) and on ``murder_keepalived`` running once per turn of its main
loop; gunicorn is pinned (requirements.lock) and tests/test_serving.py checks the behaviour.
"""
from __future__ import annotations

import ctypes
import errno
import gc
import multiprocessing
import os
import selectors
import threading
import time

from gunicorn.workers.gthread import ThreadWorker

from .core import waits

SLOTS = 256
_pids = multiprocessing.RawArray(ctypes.c_long, SLOTS)           # 0: a free slot
_conns = multiprocessing.RawArray(ctypes.c_int, SLOTS)           # open connections of that worker
_listening = multiprocessing.RawArray(ctypes.c_byte, SLOTS)      # 1: accepting new connections
_used = multiprocessing.RawValue(ctypes.c_int, 0)                # slots below this may be taken
_claim = multiprocessing.Lock()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_slot(pid: int) -> int:
    """A free table slot for worker `pid`; slots of workers that died without clearing theirs are freed first."""
    with _claim:
        for i in range(_used.value):
            if _pids[i] and not _alive(_pids[i]):
                _pids[i], _conns[i], _listening[i] = 0, 0, 0
        for i in range(SLOTS):
            if not _pids[i]:
                _pids[i], _conns[i], _listening[i] = pid, 0, 1
                _used.value = max(_used.value, i + 1)
                return i
    raise RuntimeError(f"more than {SLOTS} gunicorn workers")


def release_slot(slot: int) -> None:
    with _claim:
        _pids[slot], _conns[slot], _listening[slot] = 0, 0, 0


def shares() -> tuple[int, int]:
    """The mean number of open connections over the live workers, rounded down and up."""
    total = workers = 0
    for i in range(_used.value):
        if _pids[i]:
            total += _conns[i]
            workers += 1
    if not workers:
        return 0, 0
    return total // workers, -(-total // workers)


def taking_part() -> int:
    """How many workers have joined the table: loaded, serving and sharing the connections."""
    return sum(1 for i in range(_used.value) if _pids[i])


def another_listening(slot: int, low: int) -> bool:
    return any(_pids[i] and _listening[i] and _conns[i] <= low for i in range(_used.value) if i != slot)


class _WakingSelector:
    """The worker's selector, waking at least every 50 ms while its worker does not listen: the main
    loop then looks again whether the worker is back below its share (others took connections)."""

    def __init__(self, selector: selectors.BaseSelector, worker: "BalancedThreadWorker"):
        self._selector, self._worker = selector, worker

    def select(self, timeout=None):
        if not _listening[self._worker._slot]:
            timeout = 0.05 if timeout is None else min(timeout, 0.05)
        return self._selector.select(timeout)

    def __getattr__(self, name):
        return getattr(self._selector, name)


class RunningLimit:
    """At most `limit` requests of a process run at once (0: no limit); the others wait in `enter`.

    A request stops counting once it has run `budget` seconds, or when its thread calls `leave`
    early (a wait announced through app/core/waits.py); then the next waiting request starts.
    A waiting request has not started: it holds no database connection and no lock, and a request
    that started never waits here again. So nothing a counted request waits for can be waiting
    here, and no request waits here longer than `budget` after the one before it started."""

    def __init__(self, limit: int, budget: float):
        self.limit, self.budget = limit, budget
        self._changed = threading.Condition()
        self._started: dict[int, float] = {}       # thread -> when its request started, while counted

    def enter(self) -> None:
        if not self.limit:
            return
        me = threading.get_ident()
        with self._changed:
            while True:
                now = time.monotonic()
                counted = [t for t in self._started.values() if now - t < self.budget]
                if len(counted) < self.limit:
                    self._started[me] = now
                    return
                self._changed.wait(min(counted) + self.budget - now)

    def leave(self) -> None:
        """The calling thread's request no longer counts (it ended, or it waits without CPU)."""
        if not self.limit:
            return
        with self._changed:
            if self._started.pop(threading.get_ident(), None) is not None:
                self._changed.notify()


def running_limit_from_env() -> RunningLimit:
    return RunningLimit(int(os.environ.get("GUNICORN_RUNNING", "1")),
                        int(os.environ.get("GUNICORN_RUNNING_BUDGET_MS", "200")) / 1000)


class BalancedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker that takes and keeps only its fair share of the connections and runs
    only a few of its requests at once."""

    def __init__(self, *args, **kwargs):
        self._slot: int | None = None
        self._open = 0
        super().__init__(*args, **kwargs)

    def run(self):
        self.running = running_limit_from_env()
        waits.on_long_wait(self.running.leave)
        gc.collect()
        gc.freeze()
        # Counted only from here, once the application is loaded: a worker still importing it must
        # not draw connections the others shed toward it while it cannot accept them.
        self._acceptors: list | None = None
        self._slot = claim_slot(os.getpid())
        try:
            self.poller = _WakingSelector(self.poller, self)
            super().run()
        finally:
            release_slot(self._slot)

    def handle_request(self, req, conn):
        self.running.enter()
        try:
            return super().handle_request(req, conn)
        finally:
            self.running.leave()

    # Every change of the count is published (gunicorn changes it on accept, close and keep-alive timeout).
    @property
    def nr_conns(self) -> int:
        return self._open

    @nr_conns.setter
    def nr_conns(self, value: int) -> None:
        self._open = value
        if self._slot is not None:
            _conns[self._slot] = value

    # gunicorn closes the connection after the response when len(self._keep) >= max_keepalived.
    @property
    def max_keepalived(self) -> int:
        if self._slot is not None and self._open > shares()[1] + 1:
            return 0
        return self._keep_limit

    @max_keepalived.setter
    def max_keepalived(self, value: int) -> None:
        self._keep_limit = value

    def murder_keepalived(self):
        super().murder_keepalived()
        self._gate_listeners()

    def _gate_listeners(self) -> None:
        """Listen for new connections only while holding no more than the mean (or nobody else listens)."""
        if self._acceptors is None:
            self._acceptors = [(sock, self.poller.get_key(sock).data) for sock in self.sockets]
        low = shares()[0]
        listen = self._open <= low or not another_listening(self._slot, low)
        if listen == bool(_listening[self._slot]):
            return
        with self._lock:
            for sock, acceptor in self._acceptors:
                try:
                    if listen:
                        self.poller.register(sock, selectors.EVENT_READ, acceptor)
                    else:
                        self.poller.unregister(sock)
                except (KeyError, ValueError):
                    pass
                except OSError as err:
                    if err.errno != errno.EBADF:
                        raise
        _listening[self._slot] = 1 if listen else 0
