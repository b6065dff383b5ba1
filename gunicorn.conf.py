"""Production gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app` (docs/部署手册.md §4.4).

Threaded workers (app/serving.py) that share the keep-alive connections evenly over the processes
and run one request per process at a time; the other threads are places to wait. The choice and its
measurements (sync, gthread, process and thread counts, requests running at once, with
bench/journey.py) are in docs/性能与规模.md §5. Every value can be overridden by the environment
variable named beside it, or on the command line (`-b`, `--workers` … win over this file).
"""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "app.serving.BalancedThreadWorker"
# Processes: one per core. Threads: 8, of which one runs a request at a time (GUNICORN_RUNNING,
# default 1, and GUNICORN_RUNNING_BUDGET_MS, default 200, both read by app/serving.py): requests
# running side by side in one process fight over the GIL and, on the machine, over the cores with
# their PostgreSQL backends. On 2 cores this carried about 23% more of the API loop than 3 × 3 with
# every thread running (docs/性能与规模.md §5.15). The other threads take over while a request runs
# longer than the budget (an export, a document) or waits without CPU (a login's password hash, a
# call to an external system): waiting costs a thread nothing but its place, so there are enough for
# a burst of logins not to stop a process's other connections. With PostgreSQL on another machine
# requests wait longer on the network: measure with bench/journey.py before raising GUNICORN_WORKERS
# or GUNICORN_RUNNING (docs/部署手册.md §4.4).
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Idle keep-alive connections are closed after 5 s; a reverse proxy's idle timeout must be shorter.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# Workers are not recycled after a number of requests (0). A recycled worker closes its keep-alive
# connections while clients are sending on them: bench/journey.py at 50 clients saw requests reset
# mid-POST (a case start, an upload, a task completion the client cannot know happened or not) —
# 15 in 30 s with a recycle every 800 requests, 2–3 in 45 s every 3,000 — where 20,000 would mean one
# every few minutes at ~100 requests/s per worker. A new worker also starts with cold caches (parsed
# processes, prepared statements and their plans). Set GUNICORN_MAX_REQUESTS only to contain a memory
# leak, with a reverse proxy that retries what it may (docs/部署手册.md §4.4).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
# Password hashing (PBKDF2-HMAC-SM3, 0.25–2 s of CPU per login) runs in one low-priority process per
# worker (app/core/kdf_pool.py): a burst of logins waits for it instead of taking the CPU from pages.
os.environ.setdefault("PASSWORD_POOL_PROCESSES", "1")
