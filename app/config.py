"""Settings read from the environment. Nothing secret lives in the repository."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _default_db_url(instance_dir: Path) -> str:
    return f"sqlite:///{instance_dir / 'app.sqlite'}"


def normalise_db_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and route both to psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    def __init__(self, **overrides):
        instance_dir = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance"))
        self.INSTANCE_DIR = str(instance_dir)
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or _dev_secret(instance_dir)
        self.SQLALCHEMY_DATABASE_URI = normalise_db_url(
            os.environ.get("DATABASE_URL") or _default_db_url(instance_dir))
        # PostgreSQL: a pooled connection idle longer than this is pinged before use (core/pool.py);
        # 0 pings before every use (SQLAlchemy's pool_pre_ping).
        self.DB_PING_IDLE_SECONDS = float(os.environ.get("DB_PING_IDLE_SECONDS", "10"))
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        if self.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
            # psycopg prepares a statement after 5 runs (and keeps it: core/pool.commit_read_only_requests);
            # PostgreSQL then reuses a generic plan where it costs no more than planning with the values,
            # which saves the planning of every run (about a third of PostgreSQL's CPU on the hazard loop,
            # docs/性能与规模.md 5.12). A generic plan can use a partial index only if the query states its
            # predicate literally: the status columns partial indexes are built on write theirs as
            # constants (core/columns.IndexedStatus). PG_PLAN_CACHE_MODE=force_custom_plan plans every run.
            # Parallel query spends a second process on a 20 ms inbox count: under 100 users on two
            # cores that CPU is what the other requests wait for (bench/web_load.py). Off by default
            # for the web and scheduler connections; PG_MAX_PARALLEL_WORKERS=2 for a reporting worker.
            parallel = int(os.environ.get("PG_MAX_PARALLEL_WORKERS", "0"))
            plan_cache_mode = os.environ.get("PG_PLAN_CACHE_MODE", "auto")
            if plan_cache_mode not in ("auto", "force_custom_plan", "force_generic_plan"):
                raise ValueError(f"PG_PLAN_CACHE_MODE={plan_cache_mode!r}: "
                                 "auto | force_custom_plan | force_generic_plan")
            # Connections per process: a threaded web worker (gunicorn.conf.py: 8 threads) holds one per
            # request, and a case start briefly a second one (core/sequences.py). The pool hands out the
            # connection returned last (LIFO): with one request running per process (app/serving.py) the
            # same one or two backends serve it, warm in the CPU caches, instead of all of them in turn
            # (PostgreSQL CPU per loop of bench/journey.py 13.3–13.4 instead of 13.9–14.4 ms).
            self.SQLALCHEMY_ENGINE_OPTIONS.update(pool_size=int(os.environ.get("DB_POOL_SIZE", "10")),
                                                  max_overflow=int(os.environ.get("DB_MAX_OVERFLOW", "10")),
                                                  pool_pre_ping=self.DB_PING_IDLE_SECONDS <= 0,
                                                  pool_use_lifo=True)
            from .core.pgcursor import LazyDescriptionCursor
            self.SQLALCHEMY_ENGINE_OPTIONS["connect_args"] = {
                "options": f"-c plan_cache_mode={plan_cache_mode} -c max_parallel_workers_per_gather={parallel}",
                "cursor_factory": LazyDescriptionCursor}
        self.UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(instance_dir / "uploads"))
        self.MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_BYTES", 10 * 1024 * 1024))
        # Whole request may carry several attachments.
        self.MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 60 * 1024 * 1024))
        # A JSON (or any non-multipart) request body: far below the upload limit (app/api/guard.py).
        self.JSON_MAX_BYTES = int(os.environ.get("JSON_MAX_BYTES", 1024 * 1024))
        self.WORKFLOWS_DIR = os.environ.get("WORKFLOWS_DIR", str(BASE_DIR / "workflows"))
        self.FORMS_DIR = os.environ.get("FORMS_DIR", str(BASE_DIR / "forms"))
        self.RULES_DIR = os.environ.get("RULES_DIR", str(BASE_DIR / "rules"))
        self.API_TOKEN_TTL_SECONDS = int(os.environ.get("API_TOKEN_TTL_SECONDS", 8 * 3600))
        self.WTF_CSRF_TIME_LIMIT = None
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
        self.DISPLAY_TZ = "Asia/Shanghai"
        self.PAGE_SIZE = 20
        # Password hashing in a pool of low-priority processes per web process (core/kdf_pool.py);
        # 0 hashes in the request thread. The shipped gunicorn.conf.py sets 1.
        self.PASSWORD_POOL_PROCESSES = int(os.environ.get("PASSWORD_POOL_PROCESSES", "0"))
        self.PASSWORD_POOL_NICE = int(os.environ.get("PASSWORD_POOL_NICE", "10"))
        self._configure_pii_keys(instance_dir)
        from .security.audit import configure_keys
        configure_keys(self)
        self._configure_security_policy()
        # Scheduler (issue 5): embedded in the dev server, `flask scheduler run` in production.
        self.SCHEDULER_EMBEDDED = os.environ.get("SCHEDULER_EMBEDDED", "0") == "1"
        self.SCHEDULER_INTERVAL_SECONDS = int(os.environ.get("SCHEDULER_INTERVAL_SECONDS", 30))
        # A timer backlog of SCHEDULER_PARALLEL_FROM or more cases is fired by this many processes.
        self.SCHEDULER_TIMER_WORKERS = int(os.environ.get("SCHEDULER_TIMER_WORKERS", min(os.cpu_count() or 1, 4)))
        self.SCHEDULER_PARALLEL_FROM = int(os.environ.get("SCHEDULER_PARALLEL_FROM", 1000))
        # SMS: provider "local" records messages only; "aliyun" posts to the gateway (docs/短信网关接入.md).
        self.SMS_PROVIDER = os.environ.get("SMS_PROVIDER", "local")
        self.SMS_SIGN_NAME = os.environ.get("SMS_SIGN_NAME", "广西市场监管")
        self.SMS_ENDPOINT = os.environ.get("SMS_ENDPOINT", "https://dysmsapi.aliyuncs.com/")
        self.SMS_ACCESS_KEY_ID = os.environ.get("SMS_ACCESS_KEY_ID", "")
        self.SMS_ACCESS_KEY_SECRET = os.environ.get("SMS_ACCESS_KEY_SECRET", "")
        self.SMS_TIMEOUT_SECONDS = float(os.environ.get("SMS_TIMEOUT_SECONDS", 5))
        self.SMS_MAX_ATTEMPTS = int(os.environ.get("SMS_MAX_ATTEMPTS", 5))
        self.SMS_RATE_PER_PHONE_HOUR = int(os.environ.get("SMS_RATE_PER_PHONE_HOUR", 5))
        self.SMS_DEDUP_HOURS = int(os.environ.get("SMS_DEDUP_HOURS", 24))
        # Shared token of the delivery-receipt push (POST /api/v1/sms/receipts); empty = endpoint off.
        self.SMS_RECEIPT_TOKEN = os.environ.get("SMS_RECEIPT_TOKEN", "")
        # Excel imports run in a background thread of the web process; "1" runs them within the upload
        # request (tests, single-shot scripts).
        self.IMPORT_INLINE = os.environ.get("IMPORT_INLINE", "") == "1"
        self.TESTING = False
        for key, value in overrides.items():
            setattr(self, key, value)

    def _configure_security_policy(self) -> None:
        """MLPS level-3 login controls (docs/安全设计.md); numbers agreed with the assessor, not the standard."""
        env = os.environ.get
        self.PASSWORD_MIN_LENGTH = int(env("PASSWORD_MIN_LENGTH", 8))
        self.PASSWORD_MIN_CLASSES = int(env("PASSWORD_MIN_CLASSES", 3))        # of upper/lower/digit/symbol
        self.PASSWORD_MAX_AGE_DAYS = int(env("PASSWORD_MAX_AGE_DAYS", 90))     # 0 = never expires
        self.PASSWORD_HISTORY = int(env("PASSWORD_HISTORY", 5))
        self.LOGIN_MAX_FAILURES = int(env("LOGIN_MAX_FAILURES", 5))
        self.LOCKOUT_MINUTES = int(env("LOCKOUT_MINUTES", 30))
        # Failures are counted per account *and* client address (security/throttle.py): from the
        # LOGIN_DELAY_AFTER-th failure on, the next attempt waits LOGIN_DELAY_SECONDS, doubling each time;
        # at LOGIN_MAX_FAILURES that address is locked out of that account. LOGIN_ACCOUNT_MAX_FAILURES
        # failures from all addresses together lock the account itself (and end its sessions and tokens).
        self.LOGIN_DELAY_AFTER = int(env("LOGIN_DELAY_AFTER", 2))
        self.LOGIN_DELAY_SECONDS = float(env("LOGIN_DELAY_SECONDS", 1))
        self.LOGIN_ACCOUNT_MAX_FAILURES = int(env("LOGIN_ACCOUNT_MAX_FAILURES", 20))
        # Signed audit checkpoints are also appended to this file, outside the database they protect
        # (security/anchor.py); put it on another host's mount or a WORM volume in production. "" = off.
        self.AUDIT_ANCHOR_PATH = env("AUDIT_ANCHOR_PATH", os.path.join(self.INSTANCE_DIR, "audit_anchor.jsonl"))
        self.SESSION_IDLE_MINUTES = int(env("SESSION_IDLE_MINUTES", 30))
        self.ADMIN_SESSION_IDLE_MINUTES = int(env("ADMIN_SESSION_IDLE_MINUTES", 10))
        self.SESSION_ABSOLUTE_HOURS = float(env("SESSION_ABSOLUTE_HOURS", 8))
        # Requests per minute and client address; counters are shared by all workers (database).
        self.RATELIMIT_ENABLED = env("RATELIMIT_ENABLED", "1") == "1"
        self.RATELIMIT_LOGIN_PER_MINUTE = int(env("RATELIMIT_LOGIN_PER_MINUTE", 20))
        self.RATELIMIT_PUBLIC_PER_MINUTE = int(env("RATELIMIT_PUBLIC_PER_MINUTE", 60))
        # Number of reverse proxies in front of the app that set X-Forwarded-For (0 = direct).
        self.TRUSTED_PROXIES = int(env("TRUSTED_PROXIES", 0))
        if self.SESSION_COOKIE_SECURE:
            self.SESSION_COOKIE_NAME = "__Host-gx"

    def _configure_pii_keys(self, instance_dir: Path) -> None:
        """SM4 keys for personal data and the blind-index key (16 and 32 bytes)."""
        from .core.pii import PiiError, parse_key_ring
        settings = _pii_settings(instance_dir)
        self.PII_KEYS = parse_key_ring(settings["PII_KEYS"])
        self.PII_ACTIVE_KEY_ID = int(settings["PII_ACTIVE_KEY_ID"])
        self.BLIND_INDEX_KEY = bytes.fromhex(settings["BLIND_INDEX_KEY"] or "")
        if self.PII_ACTIVE_KEY_ID not in self.PII_KEYS or len(self.BLIND_INDEX_KEY) < 32:
            raise PiiError("PII_ACTIVE_KEY_ID must name a key in PII_KEYS; BLIND_INDEX_KEY needs 32 bytes")


def _pii_settings(instance_dir: Path) -> dict:
    if os.environ.get("PII_KEYS"):
        return {"PII_KEYS": os.environ["PII_KEYS"], "PII_ACTIVE_KEY_ID": os.environ.get("PII_ACTIVE_KEY_ID", "1"),
                "BLIND_INDEX_KEY": os.environ.get("BLIND_INDEX_KEY", "")}
    from .core.pii import load_or_create_dev_keys
    return load_or_create_dev_keys(str(instance_dir))


def _dev_secret(instance_dir: Path) -> str:
    """A per-machine secret kept under instance/ so dev restarts keep sessions.

    Production sets SECRET_KEY in the environment."""
    path = instance_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        instance_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        path.write_text(key)
        return key
