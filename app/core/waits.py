"""Waits that take no CPU of this process announce themselves: `long_wait()` runs right before a
password hash in the KDF process (kdf_pool.py) or a call to an external system (external.py).

The web worker (app/serving.py) lets only a few requests of a process run at once and listens here:
a request that is about to wait that long stops counting, and the next request starts meanwhile.
Outside gunicorn (tests, the CLI, the scheduler) nobody listens and a call does nothing."""
from __future__ import annotations

from typing import Callable

_listeners: list[Callable[[], None]] = []


def on_long_wait(listener: Callable[[], None]) -> None:
    """Call `listener` in the waiting thread whenever code of this process announces a long wait."""
    _listeners.append(listener)


def long_wait() -> None:
    for listener in _listeners:
        listener()
