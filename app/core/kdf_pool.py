"""Password hashing off the request threads: a small pool of low-priority processes.

PBKDF2-HMAC-SM3 at the production work factor costs 0.25–2 s of CPU per login and holds the GIL the
whole time, so inside a threaded web worker a login stalls every other request of that process, and
a burst of logins takes both cores from the pages. With PASSWORD_POOL_PROCESSES > 0 (the shipped
gunicorn.conf.py sets 1) each web process hands the derivation to its own pool of that many spawned
processes, niced (PASSWORD_POOL_NICE, default 10) so that the kernel serves page requests first:
logins queue and slow down under load, pages do not. 0 (the default: tests, the development server,
CLI commands) derives in the calling thread.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor

from . import waits

_settings = {"processes": 0, "nice": 10}
_pool: dict[int, ProcessPoolExecutor] = {}     # pid -> pool: a forked web worker makes its own
_lock = threading.Lock()


def configure(processes: int, nice: int = 10) -> None:
    _settings.update(processes=max(0, int(processes)), nice=int(nice))


def _lower_priority(nice: int) -> None:
    os.nice(nice)


def _executor() -> ProcessPoolExecutor | None:
    if not _settings["processes"]:
        return None
    pid = os.getpid()
    with _lock:
        if pid not in _pool:
            _pool[pid] = ProcessPoolExecutor(_settings["processes"], mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_lower_priority, initargs=(_settings["nice"],))
        return _pool[pid]


def run(fn, *args):
    """fn(*args) in the pool when one is configured, else here. `fn` must be a module-level function."""
    executor = _executor()
    if executor is None:
        return fn(*args)
    waits.long_wait()           # the hash takes this process no CPU: another request may run meanwhile
    return executor.submit(fn, *args).result()


def shutdown() -> None:
    """Stop this process's pool (tests; a web worker's pool ends with the worker)."""
    with _lock:
        executor = _pool.pop(os.getpid(), None)
    if executor is not None:
        executor.shutdown(wait=True)
