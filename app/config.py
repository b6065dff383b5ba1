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
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(instance_dir / "uploads"))
        self.MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_BYTES", 10 * 1024 * 1024))
        # Whole request may carry several attachments.
        self.MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 60 * 1024 * 1024))
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
        self.TESTING = False
        for key, value in overrides.items():
            setattr(self, key, value)


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
