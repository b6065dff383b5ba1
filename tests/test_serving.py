"""The production worker (app/serving.py): gunicorn threaded workers that share the keep-alive
connections evenly. Each test runs a real gunicorn on a free port with a WSGI app that answers with
its process id, and talks HTTP/1.1 keep-alive on raw sockets."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = "app.serving.BalancedThreadWorker"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Conn:
    """One keep-alive client connection; reconnects when the server said Connection: close."""

    def __init__(self, port: int):
        self.port, self.sock = port, None
        self.connect()

    def connect(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def _recv(self) -> bytes:
        chunk = self.sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed by the server")
        return chunk

    def get(self) -> tuple[int, bool]:
        """(the serving process id, whether the server closes this connection)."""
        self.sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
        while len(body) < length:
            body += self._recv()
        closes = b"connection: close" in head.lower()
        if closes:
            self.sock.close()
            self.connect()
        return int(body), closes


@pytest.fixture
def gunicorn():
    procs = []

    def start(workers: int, threads: int = 2, worker_class: str = WORKER):
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--chdir", ROOT, "-k", worker_class, "-w", str(workers),
             "--threads", str(threads), "--keep-alive", "30", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
             "tests.serving_app:app"], start_new_session=True)
        procs.append(proc)
        _wait_for_workers(proc.pid, workers)
        return proc, port
    yield start
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def _wait_for_workers(master: int, count: int) -> None:
    """Until `count` workers run and a fresh connection gets an answer."""
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if len(_children(master)) >= count:
                break
        except OSError:
            pass
        time.sleep(0.1)
    time.sleep(1.0)          # the workers import the application and start listening


def _settle(conns: list[Conn], rounds: int = 20) -> tuple[Counter, int]:
    """Requests on every connection, round after round, until a round in which no connection moved:
    (connections per serving process in that round, connections closed by the server before it)."""
    closed = 0
    for _ in range(rounds):
        answers = [conn.get() for conn in conns]
        moved = sum(closes for _pid, closes in answers)
        if not moved:
            return Counter(pid for pid, _closes in answers), closed
        closed += moved
    raise AssertionError(f"still moving after {rounds} rounds ({closed} connections closed)")


def test_connections_opened_at_once_are_shared_evenly(gunicorn):
    _proc, port = gunicorn(3)
    conns = [Conn(port) for _ in range(30)]            # all opened before any request
    served, closed = _settle(conns)                     # a worker holding too many closes some after answering
    assert len(served) == 3 and max(served.values()) <= 30 // 3 + 1, served     # none above the mean plus one
    assert closed <= 30, closed                         # moved once or so: no churn


def test_a_new_worker_gets_its_share_of_the_existing_connections(gunicorn):
    proc, port = gunicorn(1)
    conns = [Conn(port) for _ in range(12)]
    first = {conn.get()[0] for conn in conns}
    assert len(first) == 1                              # one worker: it holds all twelve
    os.kill(proc.pid, signal.SIGTTIN)                   # the master starts a second worker
    _wait_for_workers(proc.pid, 2)
    served, closed = _settle(conns)
    assert len(served) == 2 and max(served.values()) <= 12 // 2 + 1, served
    assert 5 <= closed <= 24, closed                    # five had to move (7 / 5); on a busy machine a few twice
