"""通报 (§4.3.1): a city or the province generates a bulletin on the major hazards of a period and region
(counts by category, source and region, the overdue list, the units named), another supervisor of the
same jurisdiction approves it, and it is published to the regions below, each with a read receipt.
Documents (print, Word, PDF) through the shared documents service."""
from __future__ import annotations

import json
from collections import Counter
from datetime import date

from sqlalchemy import func, or_, select

from ..core.clock import to_local, today_local, utcnow
from ..core.documents import OfficialDocument, document_type
from ..core.models import Organization, Region, User
from ..core.regions import office_name, region_full_name, region_name, region_prefix
from ..core.scope import in_region
from ..core.sequences import next_value
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..security.audit import audit
from .models import Hazard, HazardBulletin, HazardBulletinReceipt, HazardCriterion

ISSUER_ROLES = ("city_supervisor", "province_supervisor")
OPEN_STATUSES = ("rectifying", "extension_pending", "verifying")


def may_issue(user: User) -> bool:
    return user.role in ISSUER_ROLES


def scope_options(user: User) -> list[tuple[str, str]]:
    """The regions a bulletin of `user` may cover: the own jurisdiction and each region directly below."""
    if not may_issue(user):
        return []
    below = db.session.scalars(select(Region).where(Region.parent_code == user.region_code).order_by(Region.code))
    return [(user.region_code, region_full_name(user.region_code) + "（全辖区）")] + \
        [(r.code, region_full_name(r.code)) for r in below]


def compute_content(scope_region: str, period_from: date, period_to: date, today: date | None = None) -> dict:
    """The figures of a bulletin: hazards found in the period within the region."""
    today = today or today_local()
    prefix = region_prefix(scope_region)
    base = (Hazard.deleted_at.is_(None), in_region(Hazard.region_code, prefix),
            Hazard.found_on >= period_from, Hazard.found_on <= period_to)
    by_status = dict(db.session.execute(select(Hazard.status, func.count()).where(*base).group_by(Hazard.status)).all())
    by_clause = db.session.execute(select(HazardCriterion.clause, HazardCriterion.equipment_type, func.count())
                                   .join(Hazard, Hazard.criterion_id == HazardCriterion.id).where(*base)
                                   .group_by(HazardCriterion.clause, HazardCriterion.equipment_type)).all()
    by_source = dict(db.session.execute(select(Hazard.source, func.count()).where(*base).group_by(Hazard.source)).all())
    level_len = {2: 4, 4: 6, 6: 6}[len(prefix)]
    by_region = Counter()
    for code, n in db.session.execute(select(Hazard.region_code, func.count()).where(*base).group_by(Hazard.region_code)):
        key = code[:level_len] + "0" * (6 - level_len)
        by_region[key] += n
    overdue_rows = db.session.execute(
        select(Hazard.hazard_no, Hazard.rectify_deadline, Hazard.region_code, Organization.name, HazardCriterion.citation)
        .join(Organization, Organization.id == Hazard.use_org_id).join(HazardCriterion, HazardCriterion.id == Hazard.criterion_id)
        .where(*base, Hazard.status.in_(OPEN_STATUSES), Hazard.rectify_deadline < today)
        .order_by(Hazard.rectify_deadline, Hazard.hazard_no).limit(200)).all()
    named = Counter(r.name for r in overdue_rows)
    key = lambda row: tuple(int(p) for p in row[0].split("."))  # noqa: E731
    return {
        "total": sum(by_status.values()), "closed": by_status.get("closed", 0),
        "open": sum(by_status.get(s, 0) for s in OPEN_STATUSES), "reported": by_status.get("reported", 0),
        "by_status": {Hazard.STATUS_LABELS.get(k, k): v for k, v in by_status.items()},
        "by_category": [[f"{clause} {kind}", n] for clause, kind, n in sorted(by_clause, key=key)],
        "by_source": {Hazard.SOURCE_LABELS.get(k, k): v for k, v in by_source.items()},
        "by_region": [[region_name(code), n] for code, n in sorted(by_region.items())],
        "overdue": [{"hazard_no": r.hazard_no, "unit": r.name, "region": region_full_name(r.region_code),
                     "citation": r.citation, "deadline": r.rectify_deadline.isoformat(),
                     "days": (today - r.rectify_deadline).days} for r in overdue_rows],
        "named_units": [[name, n] for name, n in named.most_common(20)],
        "as_of": today.isoformat(),
    }


def _validate(user: User, raw: dict) -> dict:
    errors, out = {}, {}
    title = (raw.get("title") or "").strip()
    if len(title) < 4:
        errors["title"] = "请填写通报标题（至少 4 个字）"
    elif len(title) > 200:
        errors["title"] = "通报标题不能超过 200 字"
    out["title"] = title
    if raw.get("kind") not in HazardBulletin.KIND_LABELS:
        errors["kind"] = "请选择通报类型"
    out["kind"] = raw.get("kind")
    if raw.get("scope_region") not in dict(scope_options(user)):
        errors["scope_region"] = "请选择本辖区或下级区划"
    out["scope_region"] = raw.get("scope_region")
    for name in ("period_from", "period_to"):
        value = (raw.get(name) or "").strip() if isinstance(raw.get(name), str) else ""
        try:
            out[name] = date.fromisoformat(value)
        except ValueError:
            errors[name] = "此项为必填项" if not value else "日期格式应为 YYYY-MM-DD"
    if "period_from" not in errors and "period_to" not in errors:
        if out["period_to"] < out["period_from"]:
            errors["period_to"] = "结束日期不能早于开始日期"
        elif out["period_to"] > today_local():
            errors["period_to"] = "结束日期不能晚于今天"
    remarks = (raw.get("remarks") or "").strip() if isinstance(raw.get("remarks"), str) else ""
    if len(remarks) > 4000:
        errors["remarks"] = "通报意见不能超过 4000 字"
    out["remarks"] = remarks or None
    if errors:
        raise ValidationFailed(errors)
    return out


def create_bulletin(user: User, raw: dict) -> HazardBulletin:
    if not may_issue(user):
        raise Forbidden("只有市局、自治区局监察人员可以发起通报")
    data = _validate(user, raw)
    year = today_local().year
    number = next_value(f"bulletin:{user.region_code}", str(year))
    bulletin = HazardBulletin(bulletin_no=f"特隐通〔{year}〕{user.region_code}-{number:03d}号", status="pending",
                              issuer_region=user.region_code, created_by_id=user.id,
                              content=json.dumps(compute_content(data["scope_region"], data["period_from"],
                                                                 data["period_to"]), ensure_ascii=False), **data)
    db.session.add(bulletin)
    db.session.flush()
    audit("record.change", f"生成通报 {bulletin.bulletin_no}：{bulletin.title}", object_type="hazard_bulletin",
          object_id=bulletin.id, actor=user)
    return bulletin


def bulletin_scope(user: User):
    """Issued in the user's jurisdiction (the issuer's office and those above it), or published to a region
    the user works in or above."""
    if not user.is_regulator:
        return HazardBulletin.id.is_(None)
    prefix = user.scope_prefix
    received = HazardBulletin.id.in_(select(HazardBulletinReceipt.bulletin_id).where(
        or_(HazardBulletinReceipt.region_code.in_(_own_and_above(user.region_code)),
            in_region(HazardBulletinReceipt.region_code, prefix))))
    return or_(in_region(HazardBulletin.issuer_region, prefix), (HazardBulletin.status == "published") & received)


def _own_and_above(code: str) -> list[str]:
    from ..core.regions import jurisdictions_over
    return jurisdictions_over(code)


def visible_bulletin(user: User, bulletin_id: int) -> HazardBulletin:
    row = db.session.scalar(select(HazardBulletin).where(HazardBulletin.id == bulletin_id, bulletin_scope(user)))
    if row is None:
        raise NotFound("通报不存在或不在您的查看范围内")
    return row


def approval_refusal(user: User, bulletin: HazardBulletin) -> str | None:
    if not user.is_regulator or not bulletin.issuer_region.startswith(user.scope_prefix):
        return "只有发文机关本级或上级的监管人员可以审核通报"
    if user.id == bulletin.created_by_id:
        return "通报须由拟稿人以外的人员审核"
    if bulletin.status != "pending":
        return f"通报{bulletin.status_label}，不能再审核"
    return None


def decide(user: User, bulletin_id: int, decision, opinion) -> HazardBulletin:
    """审核: approve publishes to the regions below (receipts, messages); return sends it back to the drafter."""
    from ..taskops.services import notify
    bulletin = visible_bulletin(user, bulletin_id)
    refusal = approval_refusal(user, bulletin)
    if refusal:
        raise (Conflict(refusal, code="not_editable") if bulletin.status != "pending" else Forbidden(refusal))
    opinion = (opinion or "").strip() if isinstance(opinion, str) else ""
    errors = {}
    if decision not in ("approve", "return"):
        errors["decision"] = "请选择审核结论"
    if len(opinion) < 2:
        errors["opinion"] = "请填写审核意见（至少 2 个字）"
    elif len(opinion) > 1000:
        errors["opinion"] = "审核意见不能超过 1000 字"
    if errors:
        raise ValidationFailed(errors)
    now = utcnow()
    bulletin.approved_by_id, bulletin.approved_at, bulletin.approval_opinion = user.id, now, opinion
    if decision == "return":
        bulletin.status = "returned"
        notify(bulletin.created_by_id, "return", f"通报 {bulletin.bulletin_no} 被退回：{opinion}"[:200], sender=user)
    else:
        bulletin.status, bulletin.published_at = "published", now
        targets = list(db.session.scalars(select(Region.code).where(Region.parent_code == bulletin.scope_region)
                                          .order_by(Region.code))) or [bulletin.scope_region]
        for code in targets:
            db.session.add(HazardBulletinReceipt(bulletin_id=bulletin.id, region_code=code))
        people = db.session.scalars(select(User.id).where(User.region_code.in_(targets), User.is_active_flag.is_(True),
                                                          User.role.in_(("city_supervisor", "county_supervisor",
                                                                         "approver"))))
        for person in people:
            notify(person, "notice", f"收到通报：{bulletin.title}（{bulletin.bulletin_no}），请阅读", sender=user)
    audit("record.change", f"审核通报 {bulletin.bulletin_no}：{'同意发布' if decision == 'approve' else '退回'}",
          object_type="hazard_bulletin", object_id=bulletin.id, detail={"opinion": opinion}, actor=user)
    db.session.flush()
    return bulletin


def mark_read(user: User, bulletin: HazardBulletin) -> HazardBulletinReceipt | None:
    """The first reader of a receiving region signs its receipt."""
    if bulletin.status != "published" or not user.is_regulator:
        return None
    receipt = next((r for r in bulletin.receipts if r.region_code == user.region_code and r.read_at is None), None)
    if receipt is not None:
        receipt.read_by_id, receipt.read_at = user.id, utcnow()
        db.session.flush()
    return receipt


def content_of(bulletin: HazardBulletin) -> dict:
    return json.loads(bulletin.content)


@document_type("hazard_bulletin", "重大事故隐患通报")
def bulletin_document(user, bulletin_id: int) -> OfficialDocument:
    b = visible_bulletin(user, bulletin_id)
    c = content_of(b)
    scope = region_full_name(b.scope_region)
    period = f"{b.period_from.strftime('%Y年%m月%d日')}至{b.period_to.strftime('%Y年%m月%d日')}"
    paragraphs = [f"{period}，{scope}共排查发现特种设备重大事故隐患 {c['total']} 起，其中已整改销号 {c['closed']} 起，"
                  f"正在整改 {c['open']} 起，待派单 {c['reported']} 起；截至{c['as_of']}，超期未整改 {len(c['overdue'])} 起。",
                  "一、按隐患类别（GB 45067-2024 条款）：" + ("；".join(f"{k} {n} 起" for k, n in c["by_category"]) or "无") + "。",
                  "二、按发现来源：" + ("；".join(f"{k} {n} 起" for k, n in c["by_source"].items()) or "无") + "。",
                  "三、按地区：" + ("；".join(f"{k} {n} 起" for k, n in c["by_region"]) or "无") + "。"]
    if c["overdue"]:
        paragraphs.append("四、超期未整改隐患清单：" + "；".join(
            f"{i + 1}. {o['unit']}（{o['region']}）{o['hazard_no']}，{o['citation']}，整改期限{o['deadline']}，已超期{o['days']}天"
            for i, o in enumerate(c["overdue"])) + "。")
    else:
        paragraphs.append("四、超期未整改隐患：无。")
    if c["named_units"]:
        paragraphs.append("五、点名通报单位：" + "、".join(f"{name}（超期 {n} 起）" for name, n in c["named_units"])
                          + "。请属地监管部门督促上述单位立即整改，逾期仍不整改的依法查处。")
    if b.remarks:
        paragraphs.append(b.remarks)
    regions = "、".join(office_name(r.region_code) for r in b.receipts) or f"{scope}各级市场监督管理局"
    return OfficialDocument(title=b.title, issuer=office_name(b.issuer_region), doc_no=b.bulletin_no,
                            salutation=f"{regions}：", paragraphs=paragraphs,
                            issued_on=to_local(b.published_at or b.created_at).date(),
                            receipt=None, note=None if b.status == "published" else f"（{b.status_label}，未发布）",
                            filename=f"通报-{b.bulletin_no}")
