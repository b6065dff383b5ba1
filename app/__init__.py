"""Application factory: an ordered list of configure_* steps."""
from __future__ import annotations

import os

from flask import Flask

from .config import Config


def create_app(config: Config | None = None) -> Flask:
    os.environ.setdefault("TZ", "UTC")  # naive timer dates must never be read in a local zone
    app = Flask(__name__, instance_path=(config or Config()).INSTANCE_DIR)
    app.config.from_object(config or Config())
    configure_crypto_self_test(app)
    configure_extensions(app)
    configure_domains()
    configure_request_guard(app)
    configure_blueprints(app)
    configure_templates(app)
    configure_security_headers(app)
    configure_errors(app)
    configure_cli(app)
    configure_scheduler(app)
    return app


def configure_crypto_self_test(app: Flask) -> None:
    from .core import kdf_pool
    from .core.gm import self_test
    self_test()
    kdf_pool.configure(app.config["PASSWORD_POOL_PROCESSES"], app.config["PASSWORD_POOL_NICE"])


def configure_extensions(app: Flask) -> None:
    from .extensions import csrf, db, login_manager, migrate
    os.makedirs(app.config["INSTANCE_DIR"], exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录"
    csrf.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") and app.config["DB_PING_IDLE_SECONDS"] > 0:
        from .core.pool import ping_after_idle
        with app.app_context():
            ping_after_idle(db.engine, app.config["DB_PING_IDLE_SECONDS"])
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        from .core.pool import commit_read_only_requests
        with app.app_context():
            commit_read_only_requests(app, db)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        from sqlalchemy import event
        with app.app_context():
            @event.listens_for(db.engine, "connect")
            def _sqlite_pragmas(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA busy_timeout=10000")
                cur.close()


def configure_domains() -> None:
    """Import every model module (so metadata is complete) and every domain that registers
    BPMN service functions and start hooks."""
    from .calendar import models as _calendar_models  # noqa: F401
    from .cases import clock as _clock  # noqa: F401
    from .cases import escalation as _escalation  # noqa: F401
    from .cases import models as _cases  # noqa: F401
    from .core import external as _external  # noqa: F401
    from .core import models as _core  # noqa: F401
    from .engine import models as _engine  # noqa: F401
    from .hazards import models as _hazard_models  # noqa: F401
    from .inspections import models as _inspection_models  # noqa: F401
    from .hazards import services as _hazard_services  # noqa: F401
    from .operators import models as _operator_models  # noqa: F401
    from .operators import services as _operator_services  # noqa: F401
    from .procadmin import models as _procadmin_models  # noqa: F401
    from .scale import models as _scale_models  # noqa: F401
    from .scheduler import models as _scheduler_models  # noqa: F401
    from .security import models as _security_models  # noqa: F401
    from .sms import models as _sms_models  # noqa: F401
    from .transfers import models as _transfer_models  # noqa: F401
    from .transfers import services as _transfer_services  # noqa: F401
    from .taskops import deputies as _deputies  # noqa: F401 - registers who acts for whom (core.scope, engine)
    from .taskops import models as _taskops_models  # noqa: F401
    from .taskops import services as _taskops_services  # noqa: F401 - registers its engine hooks
    from .review import models as _review_models  # noqa: F401
    from .inbox import models as _inbox_models  # noqa: F401
    from .registry import imports as _registry_imports  # noqa: F401
    from .registry import models as _registry_models  # noqa: F401
    from .overdue import models as _overdue_models  # noqa: F401
    from .overdue import services as _overdue_services  # noqa: F401
    from .overdue import documents as _overdue_documents  # noqa: F401
    from .registry import sections as _registry_sections  # noqa: F401
    from .inspections import imports as _inspection_imports  # noqa: F401
    from .hazards import documents as _hazard_documents  # noqa: F401
    from .hazards import profile as _hazard_profile  # noqa: F401
    from .elevators import models as _elevator_models  # noqa: F401
    from .elevators import services as _elevator_services  # noqa: F401
    from .elevators import profile as _elevator_profile  # noqa: F401
    from .elevators import scale as _elevator_scale  # noqa: F401 - registers the generator stage
    from .elevators import mobile as _elevator_mobile  # noqa: F401 - phone pages on the shared /m/ blueprint
    from .elevator_exemptions import models as _exemption_models  # noqa: F401
    from .elevator_exemptions import services as _exemption_services  # noqa: F401
    from .elevator_exemptions import profile as _exemption_profile  # noqa: F401
    from .elevator_supervision import rules as _elevator_supervision_rules  # noqa: F401 - models, submit hook
    from .general_hazards import models as _general_hazard_models  # noqa: F401
    from .general_hazards import services as _general_hazard_services  # noqa: F401
    from .complaints import models as _complaint_models  # noqa: F401
    from .complaints import services as _complaint_services  # noqa: F401
    from .complaints import profile as _complaint_profile  # noqa: F401
    from .cylinders import models as _cylinder_models  # noqa: F401
    from .cylinders import registration as _cylinder_registration  # noqa: F401
    from .cylinders import documents as _cylinder_documents  # noqa: F401
    from .cylinders import imports as _cylinder_imports  # noqa: F401
    from .supervision import register as _supervision  # noqa: F401 - models, services, documents
    from .maintenance_platform import models as _platform_models  # noqa: F401
    from .maintenance_platform import services as _platform_services  # noqa: F401 - registers the record source
    from .elevator_rating import register as _elevator_rating  # noqa: F401 - models, services, imports, adapter


def configure_request_guard(app: Flask) -> None:
    from .api.guard import init_app
    init_app(app)     # before the blueprints: it replaces the `int` URL converter their routes use


def configure_blueprints(app: Flask) -> None:
    from .api import bp as api_bp
    from .cases.views import bp as cases_bp
    from .core.auth import bp as auth_bp
    from .core.views import bp as core_bp
    from .hazards.views import bp as hazards_bp
    from .operators.views import bp as operators_bp
    from .operators.views import public_bp as operators_public_bp
    from .procadmin.api import bp as procadmin_api_bp
    from .procadmin.views import bp as procadmin_bp
    from .scheduler.views import bp as scheduler_bp
    from .security.views import bp as security_bp
    from .sms.api import bp as sms_api_bp
    from .sms.views import bp as sms_bp
    from .transfers.api import bp as transfers_api_bp
    from .transfers.views import bp as transfers_bp
    from .calendar.views import bp as calendar_bp
    from .cases.clock_views import api_bp as clock_api_bp
    from .cases.clock_views import bp as clock_bp
    from .taskops.api import bp as taskops_api_bp
    from .taskops.views import bp as taskops_bp
    from .inbox.api import bp as inbox_api_bp
    from .inbox.views import bp as inbox_bp
    from .extensions import csrf
    app.register_blueprint(auth_bp)
    app.register_blueprint(core_bp)
    app.register_blueprint(cases_bp)
    app.register_blueprint(hazards_bp)
    app.register_blueprint(operators_bp)
    app.register_blueprint(operators_public_bp)   # /public/operators: no login
    app.register_blueprint(scheduler_bp)
    app.register_blueprint(security_bp)
    app.register_blueprint(sms_bp)
    app.register_blueprint(sms_api_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(transfers_bp)
    app.register_blueprint(transfers_api_bp)
    app.register_blueprint(procadmin_bp)
    app.register_blueprint(procadmin_api_bp)
    app.register_blueprint(calendar_bp)
    app.register_blueprint(clock_bp)
    app.register_blueprint(clock_api_bp)
    csrf.exempt(clock_api_bp)  # same authentication as api_bp (bearer token, or session + X-CSRFToken)
    app.register_blueprint(taskops_bp)
    app.register_blueprint(taskops_api_bp)
    app.register_blueprint(inbox_bp)
    app.register_blueprint(inbox_api_bp)
    csrf.exempt(sms_api_bp)  # gateway receipts authenticate by a shared token
    csrf.exempt(api_bp)  # the API authenticates by bearer token; see api/__init__.py for session callers
    csrf.exempt(transfers_api_bp)  # same authentication as api_bp (bearer token, or session + X-CSRFToken)
    csrf.exempt(procadmin_api_bp)  # same authentication as api_bp
    csrf.exempt(taskops_api_bp)  # same authentication as api_bp
    from .review.views import api_bp as review_api_bp
    from .review.views import bp as review_bp
    app.register_blueprint(review_bp)
    app.register_blueprint(review_api_bp)
    csrf.exempt(review_api_bp)  # same authentication as api_bp
    csrf.exempt(inbox_api_bp)  # same authentication as api_bp
    from .core.documents import bp as documents_bp
    from .core.import_views import api_bp as imports_api_bp
    from .core.import_views import bp as imports_bp
    from .inspections.api import bp as inspections_api_bp
    from .inspections.views import bp as inspections_bp
    from .registry.api import bp as registry_api_bp
    from .registry.views import bp as registry_bp
    from .overdue.api import bp as overdue_api_bp
    from .overdue.views import bp as overdue_bp
    from .overdue.views import public_bp as overdue_public_bp
    for blueprint in (documents_bp, imports_bp, inspections_bp, registry_bp, overdue_bp, overdue_public_bp):
        app.register_blueprint(blueprint)
    for blueprint in (imports_api_bp, inspections_api_bp, registry_api_bp, overdue_api_bp):
        app.register_blueprint(blueprint)
        csrf.exempt(blueprint)  # same authentication as api_bp
    from .elevators.api import bp as elevators_api_bp
    from .elevators.views import bp as elevators_bp
    from .elevators.views import public_bp as elevators_public_bp
    from .mobile.views import bp as mobile_bp
    app.register_blueprint(elevators_bp)
    app.register_blueprint(elevators_public_bp)   # /p/elevators: the 96111 QR page, no login
    app.register_blueprint(mobile_bp)             # /m/: the phone app shell (PWA)
    app.register_blueprint(elevators_api_bp)
    csrf.exempt(elevators_api_bp)  # same authentication as api_bp
    from .elevator_exemptions.api import bp as elevator_exemptions_api_bp
    from .elevator_exemptions.views import bp as elevator_exemptions_bp
    app.register_blueprint(elevator_exemptions_bp)
    app.register_blueprint(elevator_exemptions_api_bp)
    csrf.exempt(elevator_exemptions_api_bp)  # same authentication as api_bp
    from .elevator_supervision.api import bp as elevator_supervision_api_bp
    from .elevator_supervision.views import bp as elevator_supervision_bp
    app.register_blueprint(elevator_supervision_bp)
    app.register_blueprint(elevator_supervision_api_bp)
    csrf.exempt(elevator_supervision_api_bp)  # same authentication as api_bp
    from .general_hazards.views import api_bp as general_hazards_api_bp
    from .general_hazards.views import bp as general_hazards_bp
    from .hazards.api import bp as hazards_api_bp
    app.register_blueprint(general_hazards_bp)
    for blueprint in (hazards_api_bp, general_hazards_api_bp):
        app.register_blueprint(blueprint)
        csrf.exempt(blueprint)  # same authentication as api_bp
    from .complaints.api import bp as complaints_api_bp
    from .complaints.views import bp as complaints_bp
    from .complaints.views import public_bp as complaints_public_bp
    app.register_blueprint(complaints_bp)
    app.register_blueprint(complaints_public_bp)   # /public/complaints: no login
    app.register_blueprint(complaints_api_bp)
    csrf.exempt(complaints_api_bp)  # public calls carry no session; signed-in calls authenticate as api_bp
    from .cylinders.api import bp as cylinders_api_bp
    from .cylinders.views import bp as cylinders_bp
    app.register_blueprint(cylinders_bp)
    app.register_blueprint(cylinders_api_bp)
    csrf.exempt(cylinders_api_bp)  # same authentication as api_bp; the authority's callback is signed
    from .supervision import blueprints as supervision_blueprints
    supervision_blueprints(app)
    from .maintenance_platform import blueprints as maintenance_platform_blueprints
    maintenance_platform_blueprints(app)
    from .elevator_rating.register import blueprints as elevator_rating_blueprints
    elevator_rating_blueprints(app)


def configure_templates(app: Flask) -> None:
    from .web import register_template_helpers
    register_template_helpers(app)


def configure_security_headers(app: Flask) -> None:
    from .security import init_app
    init_app(app)


def configure_errors(app: Flask) -> None:
    from .errors import register_error_handlers
    register_error_handlers(app)


def configure_cli(app: Flask) -> None:
    from .cli import register_cli
    register_cli(app)


def configure_scheduler(app: Flask) -> None:
    """Development start (scripts/dev.sh) embeds the scheduler; production runs `flask scheduler run`."""
    if app.config.get("SCHEDULER_EMBEDDED") and not app.config.get("TESTING"):
        from .scheduler.runner import start_embedded
        start_embedded(app)
