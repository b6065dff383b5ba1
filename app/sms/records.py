"""短信预警记录: the data scope and the filters shared by the list page and the Excel export."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import false, func, or_, select, true
from sqlalchemy.orm import joinedload

from ..core.clock import local_day_start, to_local
from ..core.models import User
from ..core.params import contains, date_arg, int_arg, text_arg
from ..core.regions import region_prefix
from ..extensions import db
from .models import AUDIENCES, SmsMessage

_BIDX = re.compile(r"^[0-9a-f]{32}$")
_MASK = re.compile(r"^1\d{2}\*{4}\d{4}$")
# Query arguments of the list; the phone itself never travels in a URL, only its blind index.
FILTER_KEYS = ("tab", "template", "status", "date_from", "date_to", "q", "region", "per_page")


def message_scope(user: User):
    """SQL condition on SmsMessage for `user`, or None when the user may not see SMS records."""
    if user.role == "sys_admin":
        return true()
    if user.is_regulator:
        return SmsMessage.region_code.startswith(user.scope_prefix, autoescape=True)
    if user.is_enterprise:
        return SmsMessage.org_id == user.org_id if user.org_id else false()
    return None


def tabs_for(user: User) -> list[tuple[str, str]]:
    if user.is_enterprise:
        return [("enterprise", "企业预警短信记录")]
    return [("enterprise", "企业预警短信记录"), ("regulator", "监察预警短信记录")]


@dataclass
class RecordFilter:
    tab: str = "enterprise"
    pidx: str | None = None          # blind index of the phone searched for
    pmask: str | None = None         # its masked form, for display only
    template: str | None = None
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None
    region: str | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> RecordFilter:
        pidx = (args.get("pidx") or "").strip().lower()
        pmask = (args.get("pmask") or "").strip()
        region = (args.get("region") or "").strip()
        return cls(tab=args.get("tab") if args.get("tab") in AUDIENCES else "enterprise",
                   pidx=pidx if _BIDX.match(pidx) else None,
                   pmask=pmask if _BIDX.match(pidx) and _MASK.match(pmask) else None,
                   template=text_arg(args, "template", 40), status=args.get("status") or None,
                   date_from=date_arg(args, "date_from"), date_to=date_arg(args, "date_to"),
                   q=text_arg(args, "q"), region=region if len(region) == 6 and region.isdigit() else None,
                   page=int_arg(args, "page", 1, 1, 100000), per_page=int_arg(args, "per_page", 20, 5, 100))




def filtered(user: User, f: RecordFilter, *, with_tab: bool = True):
    scope = message_scope(user)
    query = select(SmsMessage).where(scope if scope is not None else false())
    if with_tab:
        query = query.where(SmsMessage.audience == f.tab)
    if f.pidx:
        query = query.where(SmsMessage.phone_bidx == f.pidx)
    if f.template:
        query = query.where(SmsMessage.template_code == f.template)
    if f.status:
        query = query.where(SmsMessage.status == f.status)
    if f.date_from:
        query = query.where(SmsMessage.created_at >= local_day_start(f.date_from))
    if f.date_to:
        query = query.where(SmsMessage.created_at < local_day_start(f.date_to + timedelta(days=1)))
    if f.q:
        query = query.where(or_(contains(SmsMessage.recipient_name, f.q), contains(SmsMessage.content, f.q)))
    if f.region:
        query = query.where(SmsMessage.region_code.startswith(region_prefix(f.region), autoescape=True))
    return query


def records_query(user: User, f: RecordFilter):
    return (filtered(user, f).options(joinedload(SmsMessage.template), joinedload(SmsMessage.case),
                                      joinedload(SmsMessage.created_by))
            .order_by(SmsMessage.created_at.desc(), SmsMessage.id.desc()))


def tab_counts(user: User, f: RecordFilter) -> dict[str, int]:
    query = filtered(user, f, with_tab=False).with_only_columns(SmsMessage.audience, func.count(SmsMessage.id))
    return dict(db.session.execute(query.group_by(SmsMessage.audience)).all())


EXPORT_HEADERS = ["记录号", "生成时间", "短信类别", "模板", "收件人", "手机号", "对象", "属地代码", "短信内容", "状态",
                  "发送次数", "提交网关时间", "送达时间", "来源", "操作人", "案件编号", "说明"]


def _fmt(value: datetime | None) -> str:
    return to_local(value).strftime("%Y-%m-%d %H:%M") if value else ""


def export_rows(user: User, f: RecordFilter):
    """Rows for the Excel export: masked phones only."""
    for m in db.session.scalars(records_query(user, f).execution_options(yield_per=500)):
        yield [m.id, _fmt(m.created_at), m.template.category_label, m.template.name, m.recipient_name,
               m.phone_masked, m.audience_label, m.region_code or "", m.content, m.status_label, m.attempts,
               _fmt(m.sent_at), _fmt(m.delivered_at), m.source_label,
               m.created_by.display_name if m.created_by else "", m.case.case_no if m.case else "", m.error or ""]
