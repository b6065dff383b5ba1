"""监督检查 and 证后监督检查 (see docs/监督检查.md)."""


def blueprints(app) -> None:
    from ..extensions import csrf
    from .api import bp as api_bp
    from . import campaign_views  # noqa: F401 - its routes are on views.bp
    from .views import bp as views_bp
    app.register_blueprint(views_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # same authentication as app/api
