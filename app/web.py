"""Template filters, navigation and shared page context."""
from __future__ import annotations

from datetime import date, datetime

from flask import Flask, request, send_from_directory, url_for
from flask_login import current_user
from markupsafe import Markup, escape

from .cases.models import WARNING_LABELS
from .core.clock import to_local, today_local
from .core.roles import REGULATOR_ROLES

NAV = [
    # group, label, endpoint, roles (None = everyone logged in with case access)
    ("待办中心", "我的待办", "cases.inbox", None),
    ("待办中心", "发起事项", "cases.processes", None),
    ("待办中心", "抄送我的", "taskops.copies", None),
    ("待办中心", "消息提醒", "taskops.notifications", None),
    ("个人设置", "代理人设置", "taskops.deputies", None),
    ("隐患治理", "重大事故隐患台账", "hazards.ledger", None),
    ("隐患治理", "隐患管理", "hazards.manage_page", ("use_unit", "inspection_agency", "maintenance_unit")),
    ("隐患治理", "判定标准配置", "hazards.criteria", (*sorted(REGULATOR_ROLES),)),
    ("隐患治理", "隐患通报", "hazards.bulletins", (*sorted(REGULATOR_ROLES),)),
    ("隐患治理", "隐患统计分析", "hazards.stats", (*sorted(REGULATOR_ROLES),)),
    ("隐患治理", "检验不合格报告", "hazards.nonconforming", ("inspection_agency", *sorted(REGULATOR_ROLES))),
    ("隐患治理", "投诉举报", "complaints.index", (*sorted(REGULATOR_ROLES),)),
    ("移动式设备交接", "设备迁移管理", "transfers.index", None),
    ("设备与单位", "设备档案", "registry.devices", None),
    ("设备与单位", "单位名录", "registry.units", (*sorted(REGULATOR_ROLES),)),
    ("设备与单位", "录入检验报告", "inspections.new_report", ("inspection_agency", *sorted(REGULATOR_ROLES))),
    ("设备与单位", "Excel 导入", "imports.index", ("inspection_agency", *sorted(REGULATOR_ROLES))),
    ("设备与单位", "超设计使用年限查询", "registry.design_life", ("inspection_agency", "use_unit", *sorted(REGULATOR_ROLES))),
    ("设备与单位", "简单压力容器", "registry.simple_vessels", ("use_unit", *sorted(REGULATOR_ROLES))),
    ("超期未检专项整治", "排查治理台账", "overdue.index", (*sorted(REGULATOR_ROLES),)),
    ("超期未检专项整治", "超期未检处理记录", "overdue.records", ("use_unit", *sorted(REGULATOR_ROLES))),
    ("超期未检专项整治", "公告注销汇总", "overdue.announcements", (*sorted(REGULATOR_ROLES),)),
    ("监督检查", "监督检查记录", "supervision.inspections", ("use_unit", *sorted(REGULATOR_ROLES))),
    ("监督检查", "检查项目表", "supervision.templates", ("sys_admin", *sorted(REGULATOR_ROLES))),
    ("证后监督检查", "任务列表", "supervision.campaign_list", ("undertaking_unit", "expert", *sorted(REGULATOR_ROLES))),
    ("证后监督检查", "我的检查", "supervision.my_units", ("expert", "undertaking_unit", "use_unit")),
    ("证后监督检查", "评审专家库", "supervision.experts", ("sys_admin", "undertaking_unit", *sorted(REGULATOR_ROLES))),
    ("系统管理", "账号管理", "security.users", ("sys_admin",)),
    ("系统管理", "工作日历", "calendar.index", ("sys_admin",)),
    ("安全管理", "账号角色与数据范围", "security.users", ("sec_admin",)),
    ("安全管理", "审计管理员操作记录", "security.audit_log", ("sec_admin",)),
    ("安全审计", "审计日志", "security.audit_log", ("audit_admin",)),
    ("系统运维", "调度任务", "scheduler.jobs", ("sys_admin",)),
    ("流程管理", "流程与版本", "procadmin.index", ("process_admin",)),
    ("流程管理", "变更记录", "procadmin.changes", ("process_admin",)),
    ("流程管理", "隐患判定标准配置", "hazards.criteria", ("process_admin",)),
    ("短信预警", "短信预警记录", "sms.records", (*sorted(REGULATOR_ROLES), "sys_admin")),
    ("短信预警", "短信模板", "sms.templates", ("sys_admin",)),
    ("作业人员", "本单位作业人员", "operators.staff", ("use_unit",)),
    ("个人中心", "个人主页", "operators.me", ("operator",)),
    ("个人中心", "任职单位", "operators.employer", ("operator",)),
    ("个人中心", "我的待办", "cases.inbox", ("operator",)),
    ("个人中心", "发起事项", "cases.processes", ("operator",)),
    ("电梯无纸化维保", "手机端", "mobile.home", ("elevator_maintainer", "property_manager", "maintenance_quality")),
    ("电梯无纸化维保", "电梯档案", "elevators.index", ("elevator_maintainer", "property_manager", "maintenance_quality", "maintenance_unit", "use_unit", *sorted(REGULATOR_ROLES))),
    ("电梯无纸化维保", "维保计划", "elevators.plans", ("elevator_maintainer", "maintenance_quality", "maintenance_unit", "property_manager", "use_unit", *sorted(REGULATOR_ROLES))),
    ("电梯无纸化维保", "维保记录", "elevators.records", ("elevator_maintainer", "property_manager", "maintenance_quality", "maintenance_unit", "use_unit", *sorted(REGULATOR_ROLES))),
    ("电梯无纸化维保", "维修记录", "elevators.repairs", ("elevator_maintainer", "property_manager", "maintenance_quality", "maintenance_unit", "use_unit", *sorted(REGULATOR_ROLES))),
    ("电梯无纸化维保", "录入电梯与合同", "elevators.setup", ("maintenance_unit", "maintenance_quality")),
    ("电梯无纸化维保", "维保项目", "elevators.items", ("sys_admin", "process_admin", "province_supervisor")),
    ("电梯无纸化维保", "维保数据接入", "maintenance_platform.credentials", ("maintenance_unit", "maintenance_quality", *sorted(REGULATOR_ROLES))),
    ("电梯无纸化维保", "无需无纸化维保", "elevator_exemptions.index", ("use_unit", "maintenance_unit", "maintenance_quality", "elevator_maintainer", *sorted(REGULATOR_ROLES))),
    ("电梯无纸化维保", "工单补录", "elevator_exemptions.backfills", ("maintenance_unit", "maintenance_quality", "elevator_maintainer")),
    ("维保单位评价", "维保单位评价", "elevator_rating.units", ("maintenance_unit", "maintenance_quality", *sorted(REGULATOR_ROLES))),
    ("维保单位评价", "维保质量巡检", "elevator_rating.patrols", ("maintenance_unit", "maintenance_quality", *sorted(REGULATOR_ROLES))),
    ("维保单位评价", "96111救援记录", "elevator_rating.rescues", ("maintenance_unit", "maintenance_quality", *sorted(REGULATOR_ROLES))),
    ("维保单位评价", "星级评定", "elevator_rating.ratings", ("maintenance_unit", "maintenance_quality", *sorted(REGULATOR_ROLES))),
    ("电梯维保监管", "维保异常预警", "elevator_supervision.warnings", ("maintenance_unit", "maintenance_quality", "elevator_maintainer", *sorted(REGULATOR_ROLES))),
    ("电梯维保监管", "维保计划管理", "elevator_supervision.plans", (*sorted(REGULATOR_ROLES),)),
    ("电梯维保监管", "维保统计", "elevator_supervision.statistics", (*sorted(REGULATOR_ROLES),)),
    ("电梯维保监管", "本单位维保统计", "elevator_supervision.my_statistics", ("maintenance_unit", "maintenance_quality")),
    ("气瓶充装", "工作桌面", "cylinders.desk", ("filling_unit",)),
    ("气瓶充装", "气瓶管理", "cylinders.archive", ("filling_unit",)),
    ("气瓶充装", "充装记录", "cylinders.fillings", ("filling_unit",)),
    ("气瓶充装", "使用登记", "cylinders.applications", ("filling_unit",)),
    ("气瓶充装", "Excel 导入", "imports.index", ("filling_unit",)),
    ("气瓶制造", "出厂记录", "cylinders.batches", ("cylinder_maker",)),
    ("气瓶制造", "代办登记记录", "cylinders.applications", ("cylinder_maker",)),
    ("气瓶制造", "Excel 导入", "imports.index", ("cylinder_maker",)),
    ("气瓶安全监管", "气瓶制造管理", "cylinders.units", (*sorted(REGULATOR_ROLES),)),
    ("气瓶安全监管", "出厂记录", "cylinders.batches", (*sorted(REGULATOR_ROLES),)),
    ("气瓶安全监管", "气瓶登记", "cylinders.archive", (*sorted(REGULATOR_ROLES),)),
    ("气瓶安全监管", "登记记录", "cylinders.applications", (*sorted(REGULATOR_ROLES),)),
    ("气瓶安全监管", "气瓶充装", "cylinders.fillings", (*sorted(REGULATOR_ROLES),)),
    ("气瓶安全监管", "充装秤管理", "cylinders.scales", (*sorted(REGULATOR_ROLES),)),
]


# Where each platform administrator lands: their own domain's first page, whatever business pages
# (templates, vocabularies) the navigation also offers them.
ADMIN_HOME = {"sys_admin": "security.users", "sec_admin": "security.users", "process_admin": "procadmin.index"}


def nav_for(user) -> list:
    """Entries with roles=None are for everyone who works cases (regulators, enterprises)."""
    works_cases = user.is_regulator or user.is_enterprise
    return [item for item in NAV if (item[3] is None and works_cases) or (item[3] and user.role in item[3])]


def _fmt_dt(value: datetime | None) -> Markup:
    local = to_local(value)
    return _nowrap(local.strftime("%Y-%m-%d %H:%M") if local else "—")


def _fmt_date(value) -> Markup:
    if value is None:
        return _nowrap("—")
    if isinstance(value, datetime):
        return _nowrap(to_local(value).strftime("%Y-%m-%d"))
    if isinstance(value, date):
        return _nowrap(value.isoformat())
    return _nowrap(str(value))


def _nowrap(text: str) -> Markup:
    """Dates and times never break inside a table cell ("2027-01-/10")."""
    return Markup('<span class="nowrap">%s</span>') % text


def days_left(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        value = to_local(value).date()
    return (value - today_local()).days


def _days_left_text(value) -> str:
    n = days_left(value)
    if n is None:
        return ""
    if n < 0:
        return f"已超期 {-n} 天"
    if n == 0:
        return "今日到期"
    return f"剩余 {n} 天"


def warning_badge(level: str | None) -> Markup:
    level = level or "none"
    label = WARNING_LABELS.get(level, level)
    return Markup(f'<span class="warn warn-{escape(level)}"><i></i>{escape(label)}</span>')


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["dt"] = _fmt_dt
    app.jinja_env.filters["d"] = _fmt_date
    app.jinja_env.filters["days_left"] = _days_left_text
    app.jinja_env.filters["warning"] = warning_badge

    @app.context_processor
    def _context():
        nav = []
        todo_count = None            # None: this user works no cases (platform administrators), no badge
        if current_user.is_authenticated:
            from .cases.services import todo_count as count_todo
            nav = nav_for(current_user)
            if current_user.is_regulator or current_user.is_enterprise or current_user.role in ("operator", "expert"):
                todo_count = count_todo(current_user)   # personal roles: tasks assigned to them
        return {"nav": nav, "todo_count": todo_count, "warning_labels": WARNING_LABELS}

    def url_with(**changes):
        """The current URL with some query arguments replaced (pagination, sort, tabs)."""
        args = request.args.to_dict(flat=True)
        args.update({k: v for k, v in changes.items() if v is not None})
        for k, v in changes.items():
            if v is None:
                args.pop(k, None)
        return url_for(request.endpoint, **(request.view_args or {}), **args)

    app.jinja_env.globals["url_with"] = url_with
    from .core.roles import ROLES, role_label
    app.jinja_env.globals["role_label"] = role_label
    # BPMN lanes are named by role key: the diagram shows their Chinese names.
    app.jinja_env.globals["lane_labels"] = lambda: {key: role_label(key) for key in ROLES}

    @app.route("/favicon.ico")
    def favicon():
        """Browsers ask for /favicon.ico on pages without a <link rel=icon> (documents, API)."""
        return send_from_directory(app.static_folder, "favicon.svg", mimetype="image/svg+xml", max_age=86400)
