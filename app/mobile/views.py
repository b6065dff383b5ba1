"""The phone app shell (/m/): a phone-first layout with bottom navigation, installable (web app manifest +
service worker scoped to /m/), used by the elevator maintainers and safety managers today and by other
domains' phone pages later. Pages are server-rendered; the visit page runs in the browser
(static/js/mobile/visit.js) and queues work in IndexedDB while offline (static/js/mobile/queue.js).

A domain adds a home card with `@home_card(roles)` — a function (user) -> {"template": …, …} or None."""
from __future__ import annotations

import json
from typing import Callable

from flask import Blueprint, Response, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required



from ..cases.services import InboxFilter, inbox_query, paginate
from ..core.clock import today_local
from ..errors import Forbidden


bp = Blueprint("mobile", __name__, url_prefix="/m")

# The phone pages take photos in the page and read the position: allow both for this origin only (the rest of
# the site keeps camera=(), geolocation=() from app/security).
PERMISSIONS = "camera=(self), microphone=(), geolocation=(self), payment=()"


@bp.after_request
def _allow_camera_and_position(response):
    response.headers["Permissions-Policy"] = PERMISSIONS
    return response


_CARDS: list[tuple[tuple[str, ...], Callable]] = []

# Roles whose phone work starts with an identity check (人脸核验, core/face) once per login: a domain adds its
# roles (the elevator maintainers, §4.6.5). Until it passes, every /m/ page leads to the check.
IDENTITY_CHECK_ROLES: set[str] = set()
_UNGATED = {"mobile.identity_check", "mobile.manifest", "mobile.service_worker", "mobile.offline"}
IDENTITY_SESSION_KEY = "identity_checked"


@bp.before_request
def _identity_gate():
    if (request.endpoint not in _UNGATED and current_user.is_authenticated
            and current_user.role in IDENTITY_CHECK_ROLES and not session.get(IDENTITY_SESSION_KEY)):
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("mobile.identity_check", next=target))
    return None


@bp.route("/identity", methods=["GET", "POST"])
@login_required
def identity_check():
    from ..core.auth import _safe_next
    from ..core.face import check_identity
    from ..errors import ValidationFailed
    from ..extensions import db
    errors = {}
    if request.method == "POST":
        try:
            check_identity(current_user, request.form.get("face_photo"))
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
        else:
            session[IDENTITY_SESSION_KEY] = True
            return redirect(_safe_next(request.args.get("next")) if request.args.get("next") else url_for("mobile.home"))
    return render_template("mobile/identity.html", errors=errors), (422 if errors else 200)


def home_card(*roles: str):
    def register(fn):
        _CARDS.append((roles, fn))
        return fn
    return register


@bp.route("/")
@login_required
def home():
    cards = [c for roles, fn in _CARDS if current_user.role in roles for c in [fn(current_user)] if c]
    tasks, total = paginate(inbox_query(current_user, InboxFilter.from_args({})), 1, 20)
    return render_template("mobile/home.html", cards=cards, tasks=tasks, task_total=total, today=today_local())


@bp.route("/manifest.webmanifest")
def manifest():
    body = {"name": "特种设备安全监管 · 移动端", "short_name": "特设监管", "lang": "zh-CN", "start_url": "/m/",
            "scope": "/m/", "display": "standalone", "background_color": "#ffffff", "theme_color": "#1f4e8c",
            "icons": [{"src": url_for("static", filename="img/app-icon-192.png"), "sizes": "192x192",
                       "type": "image/png"},
                      {"src": url_for("static", filename="img/app-icon-512.png"), "sizes": "512x512",
                       "type": "image/png"}]}
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")


# The service worker must be served from /m/ for its scope to cover /m/ (Service-Worker-Allowed not needed).
@bp.route("/sw.js")
def service_worker():
    with open(current_app.static_folder + "/js/mobile/sw.js", encoding="utf-8") as fh:
        body = fh.read()
    version = current_app.config.get("ASSET_VERSION") or "1"
    body = body.replace("__SHELL_VERSION__", str(version))
    return Response(body, mimetype="application/javascript", headers={"Cache-Control": "no-cache"})


@bp.route("/offline")
def offline():
    """What the service worker shows for a page it has not cached while offline."""
    return render_template("mobile/offline.html")


def require_role(*roles: str) -> None:
    if current_user.role not in roles:
        raise Forbidden("手机端此页面仅供电梯维保相关人员使用")



