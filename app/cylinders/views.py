"""Pages of gas-cylinder traceability (filled in below)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("cylinders", __name__, url_prefix="/cylinders")
