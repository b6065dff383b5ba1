"""The /hazards blueprint, on which views, criteria and pages register their routes."""
from flask import Blueprint

bp = Blueprint("hazards", __name__, url_prefix="/hazards")
