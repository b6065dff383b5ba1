"""A WSGI application for tests/test_serving.py.

    /        the id of the worker process that served it
    /busy    spins 100 ms of CPU, then answers how many requests of this process ran at once at most
    /wait    announces a long wait (app/core/waits.py), then sleeps 3 s without CPU
    /frozen  how many objects the worker froze out of the garbage collector (gc.freeze)
    /workers how many workers share the connections (app/serving.py's table)"""
import gc
import os
import threading
import time

from app import serving
from app.core import waits

_lock = threading.Lock()
_running = {"now": 0, "max": 0}


def _busy() -> int:
    with _lock:
        _running["now"] += 1
        _running["max"] = max(_running["max"], _running["now"])
    try:
        end = time.thread_time() + 0.1
        while time.thread_time() < end:
            pass
    finally:
        with _lock:
            _running["now"] -= 1
    return _running["max"]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/busy":
        body = str(_busy())
    elif path == "/wait":
        waits.long_wait()
        time.sleep(3.0)
        body = "waited"
    elif path == "/workers":
        body = str(serving.taking_part())
    elif path == "/frozen":
        body = str(gc.get_freeze_count())
    else:
        body = str(os.getpid())
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
