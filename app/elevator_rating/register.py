"""Imported by create_app: the models, the BPMN functions, the Excel import kind and the rescue-platform
adapter of the domain; `blueprints(app)` adds its pages, public page and API."""
from . import models  # noqa: F401
from . import services  # noqa: F401
from . import imports  # noqa: F401 - the 96111 rescue import kind
from . import rescue_platform  # noqa: F401 - its adapter


def blueprints(app) -> None:
    from ..extensions import csrf
    from .api import bp as api_bp
    from .views import bp, public_bp, unit_star_rating
    app.register_blueprint(bp)
    app.register_blueprint(public_bp)     # /public/elevator-ratings: no login
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)                   # same authentication as api_bp
    app.jinja_env.globals["unit_star_rating"] = unit_star_rating   # the registry's unit page
