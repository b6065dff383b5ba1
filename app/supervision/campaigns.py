"""证后监督检查 (post-license inspection campaigns, §4.5.1): the expert pool, the campaign draft with its
reproducible random draw of inspected units and of the supervising official, the post_license_inspection
process (review → assign → inspect → summary report → closing), the annual declaration of experts, the
entry per inspected unit with rectification review/return, issues forwarded to the supervision department
and pulled back, and the inspected unit's evaluation."""
from __future__ import annotations

import json
import random
import secrets
from datetime import date

from sqlalchemy import and_, false, func, or_, select, update

from ..cases.models import Case
from ..cases.widgets import option_provider
from ..core.clock import DISPLAY_TZ, today_local, utcnow
from ..core.importer import Column, ImportKind, register_kind
from ..core.models import Attachment, Organization, User
from ..core.params import contains
from ..core.regions import region_full_name, region_prefix
from ..core.scope import in_region
from ..engine import runtime
from ..engine.services import ServiceContext, StartContext, case_facts, case_panel, service, start_hook
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..security.audit import audit
from ..taskops.services import notify_org
from . import checklists, services
from .services import as_id, as_text
from .models import Campaign, CampaignUnit, ChecklistTemplate, Declaration, Expert, Finding, InspectionSection

PROCESS_KEY = "post_license_inspection"
# Unit types the draw filters on; 许可类别 maps to the unit kinds that hold such a licence.
LICENCE_KINDS = {"production": ("manufacturer", "installer"), "filling": ("filling_unit",),
                 "inspection": ("inspection_agency",)}
LICENCE_LABELS = {"production": "特种设备生产（制造、安装改造修理）许可", "filling": "充装许可",
                  "inspection": "检验检测机构核准"}
DECLARATION_TITLE = "全区特种设备证后监督检查技术专家公正性、保密及廉洁自律声明"
# The wording of the declaration: the reference data holds no official text; this is the platform's
# commitment text, replaceable by the administrator's official one (docs/监督检查.md).
DECLARATION_TEXT = [
    "本人自愿作为技术专家参加本年度全区特种设备证后监督检查工作，郑重声明如下：",
    "一、公正性：本人将依据法律法规、安全技术规范和检查依据客观、公正地开展检查，如与被检查单位存在利害关系，主动申请回避。",
    "二、保密：对检查中知悉的被检查单位商业秘密、技术秘密和个人信息严格保密，不泄露、不用于检查以外的用途。",
    "三、廉洁自律：不接受被检查单位的宴请、礼品、礼金及其他利益，不从事与检查工作相冲突的有偿服务。",
    "如有违反，本人愿意承担相应责任。",
]
MAX_DRAW = 100


def _loads(text: str | None, default):
    try:
        value = json.loads(text or "")
    except ValueError:
        return default
    return value if isinstance(value, type(default)) else default


# ---------------------------------------------------------------- the expert pool

def _pool_admin(user: User) -> None:
    if user.role not in ("city_supervisor", "province_supervisor"):
        raise Forbidden("评审专家库由市局、自治区局维护")


def expert_scope(user: User):
    if user.is_regulator:
        return in_region(Expert.region_code, region_prefix(user.region_code)[:4] if user.role == "county_supervisor"
                         else user.scope_prefix)
    if user.role == "sys_admin":
        return Expert.id.is_not(None)
    if user.role == "undertaking_unit" and user.org_id:
        return Expert.org_id == user.org_id
    return false()


def expert_query(user: User, q: str | None = None, kind: str | None = None, active: str | None = None):
    query = select(Expert).where(expert_scope(user))
    if q:
        query = query.where(or_(contains(Expert.name, q), Expert.cert_no == q, contains(Expert.specialty, q)))
    if kind in Expert.KINDS:
        query = query.where(Expert.kind == kind)
    if active in ("1", "0"):
        query = query.where(Expert.active.is_(active == "1"))
    return query.order_by(Expert.kind, Expert.name, Expert.id)


def visible_expert(user: User, expert_id: int) -> Expert:
    row = db.session.scalar(select(Expert).where(Expert.id == expert_id, expert_scope(user)))
    if row is None:
        raise NotFound("专家不存在或不在您的查看范围内")
    return row


def save_expert(user: User, values: dict, expert: Expert | None = None) -> Expert:
    _pool_admin(user)
    errors = {}
    name = as_text(values.get("name")).strip()
    kind = as_text(values.get("kind")) or (expert.kind if expert else None)
    if not name:
        errors["name"] = "此项为必填项"
    elif len(name) > 64:
        errors["name"] = "姓名不超过64字"
    if kind not in Expert.KINDS:
        errors["kind"] = "请选择人员类别"
    region = as_text(values.get("region_code")).strip() or user.region_code
    if not region.startswith(user.scope_prefix):
        errors["region_code"] = "属地不在您的管辖范围内"
    cert_no = as_text(values.get("cert_no")).strip()[:40] or None
    cert_expiry = None
    if kind == "supervisor":
        if not cert_no:
            errors["cert_no"] = "监察人员须填写证书编号"
        try:
            cert_expiry = date.fromisoformat(as_text(values.get("cert_expiry")))
        except ValueError:
            errors["cert_expiry"] = "监察人员须填写证书有效期（YYYY-MM-DD）"
    else:
        cert_no = None              # 证书信息仅收录监察人员 (§4.5.1.1)
    org_id = values.get("org_id") or None
    if org_id not in (None, ""):
        org_id = as_id(org_id)
        if org_id is None or db.session.get(Organization, org_id) is None:
            errors["org_id"] = "所在单位无效"
            org_id = None
    account = None
    username = as_text(values.get("username")).strip()[:64]
    if username:
        account = db.session.scalar(select(User).where(User.username == username))
        if account is None or account.role != "expert":
            errors["username"] = "个人账号不存在或不是评审专家/检查人员账号"
        elif db.session.scalar(select(Expert.id).where(Expert.user_id == account.id,
                                                       Expert.id != (expert.id if expert else 0))):
            errors["username"] = "该账号已关联其他专家"
    if errors:
        raise ValidationFailed(errors)
    created = expert is None
    if created:
        expert = Expert(kind=kind, active=True)
        db.session.add(expert)
    expert.name, expert.kind, expert.region_code, expert.org_id = name, kind, region, org_id
    expert.specialty = as_text(values.get("specialty")).strip()[:100] or None
    expert.title = as_text(values.get("title")).strip()[:64] or None
    expert.cert_no, expert.cert_expiry = cert_no, cert_expiry
    if username:
        expert.user_id = account.id
    db.session.flush()
    audit("record.change", f"{'新增' if created else '修改'}评审专家 {name}（{Expert.KINDS[kind]}）",
          object_type="sv_expert", object_id=expert.id)
    return expert


def set_expert_active(user: User, expert: Expert, active: bool) -> None:
    _pool_admin(user)
    expert.active = active
    audit("record.change", f"{'启用' if active else '停用'}评审专家 {expert.name}", object_type="sv_expert",
          object_id=expert.id)


class ExpertKind(ImportKind):
    key, title = "sv_experts", "评审专家库"
    description = "监察人员须填写证书编号和有效期；检查人员不收录证书信息。按姓名+属地识别。"
    columns = [
        Column("name", "姓名", required=True, max_length=64, example="韦某某"),
        Column("kind", "人员类别", required=True, kind="choice",
               choices={label: key for key, label in Expert.KINDS.items()}, example="检查人员"),
        Column("region", "属地", required=True, kind="region", example="450102"),
        Column("specialty", "专业方向", max_length=100, example="起重机械"),
        Column("title", "职称", max_length=64, example="高级工程师"),
        Column("cert_no", "证书编号", max_length=40, example="TS-JC-0001"),
        Column("cert_expiry", "证书有效期", kind="date", future_ok=True, example="2028-12-31"),
    ]
    key_columns = ("name", "region")

    def allowed(self, user):
        _pool_admin(user)

    def check(self, row, ctx):
        errors = {}
        v = row.values
        if v.get("region") and not v["region"].startswith(ctx.user.scope_prefix):
            errors["region"] = "属地不在您的管辖范围内"
        if v.get("kind") == "supervisor":
            if not v.get("cert_no"):
                errors["cert_no"] = "监察人员须填写证书编号"
            if not v.get("cert_expiry"):
                errors["cert_expiry"] = "监察人员须填写证书有效期"
        return errors

    def existing(self, row, ctx):
        return db.session.scalar(select(Expert).where(Expert.name == row.values["name"],
                                                      Expert.region_code == row.values["region"]))

    def same(self, row, stored, ctx):
        v = row.values
        return (stored.kind, stored.specialty, stored.title) == (v["kind"], v.get("specialty"), v.get("title"))

    def describe(self, stored):
        return f"专家库中已有同属地的{stored.name}（{stored.kind_label}）"

    def write(self, rows, ctx):
        for row in rows:
            v = row.values
            supervisor = v["kind"] == "supervisor"
            db.session.add(Expert(name=v["name"], kind=v["kind"], region_code=v["region"], specialty=v.get("specialty"),
                                  title=v.get("title"), cert_no=v.get("cert_no") if supervisor else None,
                                  cert_expiry=v.get("cert_expiry") if supervisor else None, active=True))
        db.session.flush()

    def finish(self, ctx):
        audit("record.change", "Excel 导入评审专家库", object_type="sv_expert")


register_kind(ExpertKind())


# ---------------------------------------------------------------- campaign scope

def campaign_scope(user: User):
    if user.is_regulator:
        return in_region(Campaign.region_code, user.scope_prefix)
    if user.role == "undertaking_unit" and user.org_id:
        return and_(Campaign.undertaking_org_id == user.org_id, Campaign.status != "draft")
    if user.role == "expert":
        return Campaign.id.in_(select(CampaignUnit.campaign_id).where(CampaignUnit.id.in_(_expert_unit_ids(user) or [0])))
    # An inspected unit sees its own inspection (unit_scope_for), not the campaign with the other units.
    return false()


def _expert_unit_ids(user: User) -> list[int]:
    """The inspected units an expert is assigned to (expert_ids holds a short JSON list)."""
    expert_id = db.session.scalar(select(Expert.id).where(Expert.user_id == user.id))
    if expert_id is None:
        return []
    rows = db.session.execute(select(CampaignUnit.id, CampaignUnit.expert_ids)
                              .where(CampaignUnit.expert_ids.like(f"%{expert_id}%")))
    return [uid for uid, ids in rows if expert_id in _loads(ids, [])]


def visible_campaign(user: User, campaign_id: int) -> Campaign:
    row = db.session.scalar(select(Campaign).where(Campaign.id == campaign_id, campaign_scope(user)))
    if row is None:
        raise NotFound("证后监督检查任务不存在或不在您的查看范围内")
    return row


def campaign_query(user: User, q: str | None = None, status: str | None = None):
    query = select(Campaign).where(campaign_scope(user))
    if q:
        query = query.where(or_(contains(Campaign.name, q), Campaign.campaign_no == q))
    if status in Campaign.STATUS_LABELS:
        query = query.where(Campaign.status == status)
    return query.order_by(Campaign.created_at.desc(), Campaign.id.desc())


def progress(c: Campaign) -> tuple[int, int]:
    return sum(1 for u in c.units if u.status == "done"), len(c.units)


# ---------------------------------------------------------------- draft and draw

def _creator(user: User) -> None:
    if user.role != "city_supervisor":
        raise Forbidden("证后监督检查任务由市局监察人员创建")


def editable_campaign(user: User, campaign_id: int) -> Campaign:
    _creator(user)
    row = visible_campaign(user, campaign_id)
    if row.creator_id != user.id:
        raise Forbidden("只有创建人可以修改该任务")
    if row.status not in ("draft", "rejected"):
        raise ValidationFailed({"status": "任务已提交审核，不能修改"})
    return row


def create_campaign(user: User, values: dict) -> Campaign:
    _creator(user)
    errors = {}
    name = as_text(values.get("name")).strip()
    if len(name) < 4:
        errors["name"] = "请填写任务名称（至少4个字）"
    elif len(name) > 200:
        errors["name"] = "任务名称不超过200字"
    org = None
    org = db.session.scalar(select(Organization).where(Organization.id == (as_id(values.get("undertaking_org_id")) or 0),
                                                       Organization.kind == "undertaking_unit"))
    if org is None:
        errors["undertaking_org_id"] = "请选择项目承担单位"
    licence = as_text(values.get("licence_kind")) or None
    if licence not in (None, *LICENCE_LABELS):
        errors["licence_kind"] = "请选择有效的许可类别"
    template = _campaign_template(values.get("template_id"))
    if template is None:
        errors["template_id"] = "请选择有检查项目的检查项目表"
    if errors:
        raise ValidationFailed(errors)
    row = Campaign(name=name, licence_kind=licence, region_code=user.region_code, creator_id=user.id,
                   undertaking_org_id=org.id, template_id=template.id, status="draft")
    db.session.add(row)
    db.session.flush()
    audit("record.change", f"新建证后监督检查任务 {name}", object_type="sv_campaign", object_id=row.id)
    return row


def _campaign_template(value) -> ChecklistTemplate | None:
    template = db.session.get(ChecklistTemplate, as_id(value)) if as_id(value) else None
    if template is None or not template.is_current or not template.items or template.kind not in ("unit", "post_license"):
        return None
    return template


def campaign_templates() -> list[ChecklistTemplate]:
    return [t for t in checklists.current_templates() if t.kind in ("unit", "post_license")]


def draw_filters(values: dict, user: User) -> tuple[dict, dict]:
    errors, f = {}, {}
    region = as_text(values.get("region")).strip()
    if region:
        if not region.startswith(user.scope_prefix):
            errors["region"] = "抽查地市/区县不在您的管辖范围内"
        f["region"] = region
    kind = as_text(values.get("kind"))
    if kind:
        if kind not in Organization.KIND_LABELS:
            errors["kind"] = "请选择有效的单位类型"
        f["kind"] = kind
    licence = as_text(values.get("licence"))
    if licence:
        if licence not in LICENCE_KINDS:
            errors["licence"] = "请选择有效的许可类别"
        f["licence"] = licence
    q = as_text(values.get("q")).strip()[:50]
    if q:
        f["q"] = q
    return f, errors


def candidates(user: User, f: dict, exclude: set[int] = frozenset()) -> list[int]:
    """Units matching the filters in the creator's jurisdiction, ordered by id (the draw's input)."""
    query = select(Organization.id).where(in_region(Organization.region_code, user.scope_prefix),
                                          Organization.kind != "undertaking_unit")
    if f.get("region"):
        query = query.where(in_region(Organization.region_code, region_prefix(f["region"])))
    if f.get("kind"):
        query = query.where(Organization.kind == f["kind"])
    if f.get("licence"):
        query = query.where(Organization.kind.in_(LICENCE_KINDS[f["licence"]]))
    if f.get("q"):
        query = query.where(contains(Organization.name, f["q"]))
    return [i for i in db.session.scalars(query.order_by(Organization.id)) if i not in exclude]


def draw_sample(seed: str, pool: list[int], count: int) -> list[int]:
    """The draw: Python's Mersenne Twister seeded with the recorded seed, sampling from the ordered pool —
    the same seed and pool always give the same units."""
    return sorted(random.Random(seed).sample(pool, count))


def random_draw(user: User, campaign: Campaign, values: dict) -> list[int]:
    f, errors = draw_filters(values, user)
    count = as_id(values.get("count")) or 0
    if not 1 <= count <= MAX_DRAW:
        errors["count"] = f"抽取数量应为1–{MAX_DRAW}"
    seed = as_text(values.get("seed")).strip() or secrets.token_hex(8)
    if len(seed) > 40:
        errors["seed"] = "随机种子不超过40个字符"
    manual = {u.org_id for u in campaign.units if u.picked == "manual"}
    pool = candidates(user, f, manual) if not errors else []
    if not errors and len(pool) < count:
        errors["count"] = f"符合条件的单位只有{len(pool)}家，少于抽取数量{count}"
    if errors:
        raise ValidationFailed(errors)
    result = draw_sample(seed, pool, count)
    for unit in [u for u in campaign.units if u.picked == "random"]:
        db.session.delete(unit)
    db.session.flush()
    for org_id in result:
        db.session.add(CampaignUnit(campaign_id=campaign.id, org_id=org_id, picked="random"))
    campaign.draw_seed, campaign.draw_count = seed, count
    campaign.draw_filters = json.dumps(f, ensure_ascii=False, sort_keys=True)
    campaign.draw_candidates, campaign.draw_result = json.dumps(pool), json.dumps(result)
    db.session.flush()
    db.session.refresh(campaign)
    audit("record.change", f"证后监督检查随机抽取：候选{len(pool)}家，抽取{count}家（种子 {seed}）",
          object_type="sv_campaign", object_id=campaign.id)
    return result


def verify_draw(campaign: Campaign) -> bool:
    """Repeat the recorded draw from its seed and candidate list."""
    pool = _loads(campaign.draw_candidates, [])
    if not campaign.draw_seed or not pool:
        return False
    return draw_sample(campaign.draw_seed, pool, campaign.draw_count) == _loads(campaign.draw_result, [])


def pick_unit(user: User, campaign: Campaign, org_id) -> CampaignUnit:
    org = db.session.scalar(select(Organization).where(Organization.id == (as_id(org_id) or 0),
                                                       in_region(Organization.region_code, user.scope_prefix)))
    if org is None:
        raise ValidationFailed({"org_id": "请选择本辖区的单位"})
    existing = next((u for u in campaign.units if u.org_id == org.id), None)
    if existing:
        raise ValidationFailed({"org_id": f"{org.name}已在被抽查单位列表中"})
    unit = CampaignUnit(campaign_id=campaign.id, org_id=org.id, picked="manual")
    db.session.add(unit)
    db.session.flush()
    db.session.refresh(campaign)
    return unit


def remove_unit(campaign: Campaign, unit_id: int) -> None:
    unit = next((u for u in campaign.units if u.id == unit_id), None)
    if unit is None:
        raise NotFound("被抽查单位不存在")
    db.session.delete(unit)
    db.session.flush()
    db.session.refresh(campaign)


def draw_supervisor(user: User, campaign: Campaign, seed: str | None = None) -> Expert:
    """Draw the supervising official (监督人) at random among active 监察人员 with a valid certificate."""
    pool = list(db.session.scalars(select(Expert.id).where(
        Expert.kind == "supervisor", Expert.active.is_(True), Expert.cert_expiry >= today_local(),
        in_region(Expert.region_code, user.scope_prefix)).order_by(Expert.id)))
    if not pool:
        raise ValidationFailed({"supervisor": "专家库中没有证书有效的监察人员"})
    seed = as_text(seed).strip()[:40] or secrets.token_hex(8)
    chosen = random.Random(seed).choice(pool)
    campaign.supervisor_expert_id = chosen
    campaign.supervisor_seed, campaign.supervisor_candidates = seed, json.dumps(pool)
    db.session.flush()
    db.session.refresh(campaign)
    return campaign.supervisor_expert


def draw_summary(c: Campaign) -> str:
    f = _loads(c.draw_filters, {})
    parts = []
    if f.get("region"):
        parts.append(f"属地{region_full_name(f['region'])}")
    if f.get("kind"):
        parts.append(f"单位类型{Organization.KIND_LABELS.get(f['kind'], f['kind'])}")
    if f.get("licence"):
        parts.append(f"许可类别{LICENCE_LABELS.get(f['licence'])}")
    if f.get("q"):
        parts.append(f"名称含“{f['q']}”")
    random_units = [u.org.name for u in c.units if u.picked == "random"]
    manual = [u.org.name for u in c.units if u.picked == "manual"]
    text = (f"随机抽取：种子 {c.draw_seed}，筛选条件 {'、'.join(parts) or '无'}，候选 {len(_loads(c.draw_candidates, []))} 家，"
            f"抽取 {c.draw_count} 家：{'、'.join(random_units)}" if c.draw_seed else "未随机抽取")
    if manual:
        text += f"；指定抽取：{'、'.join(manual)}"
    if c.supervisor_expert:
        text += (f"；监督人随机抽取：种子 {c.supervisor_seed}，候选 {len(_loads(c.supervisor_candidates, []))} 人，"
                 f"抽中 {c.supervisor_expert.name}")
    return text


# ---------------------------------------------------------------- process

def _own_campaign(user: User, value) -> Campaign | None:
    campaign_id = as_id(value)
    if campaign_id is None:
        return None
    return db.session.scalar(select(Campaign).where(Campaign.id == campaign_id, Campaign.creator_id == user.id,
                                                    Campaign.status == "draft"))


def _ready_errors(c: Campaign) -> dict:
    errors = {}
    if not c.units:
        errors["campaign_id"] = "请先随机抽取或指定被抽查单位"
    elif c.supervisor_expert_id is None:
        errors["campaign_id"] = "请先随机抽取检查任务监督人"
    return errors


@start_hook(PROCESS_KEY)
def prepare_create(user: User, data: dict) -> StartContext:
    c = _own_campaign(user, data.get("campaign_id"))
    if c is None:
        raise ValidationFailed({"campaign_id": "请选择本人创建的草稿任务"})
    errors = _ready_errors(c)
    if errors:
        raise ValidationFailed(errors)
    return StartContext(title=f"证后监督检查：{c.name}", region_code=c.region_code, org_id=c.undertaking_org_id,
                        extra_data={"undertaking_org_id": c.undertaking_org_id, "campaign_name": c.name,
                                    "draw_summary": draw_summary(c), "unit_count": len(c.units)})


def _campaign(ctx: ServiceContext) -> Campaign:
    return db.session.get(Campaign, int(ctx.task_data["campaign_id"]))


@service("campaign.submit")
def submit(ctx: ServiceContext) -> dict:
    c = _campaign(ctx)
    if c.status == "rejected":
        errors = _ready_errors(c)
        if errors:
            raise ValidationFailed({"opinion": next(iter(errors.values()))})
    claimed = db.session.execute(update(Campaign).where(
        Campaign.id == c.id, Campaign.status.in_(("draft", "rejected")),
        or_(Campaign.case_id.is_(None), Campaign.case_id == ctx.case.id))
        .values(status="reviewing", case_id=ctx.case.id, campaign_no=ctx.case.case_no)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:       # submitted twice at the same moment: the second start fails whole
        raise Conflict("该任务已提交审核")
    db.session.refresh(c)
    ctx.task_data["draw_summary"] = draw_summary(c)
    ctx.task_data["unit_count"] = len(c.units)
    return {"status": "reviewing"}


@service("campaign.rejected")
def rejected(ctx: ServiceContext) -> dict:
    c = _campaign(ctx)
    c.status = "rejected"
    c.reject_reason = ctx.task_data.get("opinion")
    return {"status": "rejected"}


@service("campaign.approved")
def approved(ctx: ServiceContext) -> dict:
    c = _campaign(ctx)
    c.status, c.reject_reason = "assigning", None
    notify_org(c.undertaking_org_id, "undertaking_unit", "notice",
               f"证后监督检查任务“{c.name}”已审核通过，请分配检查人员（{ctx.case.case_no}）", case=ctx.case,
               sender=ctx.actor)
    return {"status": "assigning"}


@service("campaign.start_inspection")
def start_inspection(ctx: ServiceContext) -> dict:
    c = _campaign(ctx)
    missing = [u.org.name for u in c.units if not u.expert_id_list]
    if missing:
        raise ValidationFailed({"opinion": "以下被抽查单位尚未分配检查人员：" + "、".join(missing)})
    c.status = "inspecting"
    for u in c.units:
        u.status = "assigned" if u.status == "pending" else u.status
    return {"status": "inspecting"}


@service("campaign.report")
def report(ctx: ServiceContext) -> dict:
    c = _campaign(ctx)
    open_units = [u.org.name for u in c.units if u.status != "done"]
    if open_units:
        raise ValidationFailed({"opinion": "以下被抽查单位的检查或整改尚未完成：" + "、".join(open_units)})
    c.status = "reporting"
    c.report_generated_at = utcnow()
    return {"status": "reporting"}


@service("campaign.close")
def close(ctx: ServiceContext) -> dict:
    c = _campaign(ctx)
    c.status = "closed"
    c.closing_info = ctx.task_data.get("closing_info")
    c.closed_at = utcnow()
    return {"status": "closed"}


@option_provider("sv_campaign_draft")
def _campaign_widget(user) -> list[tuple[str, str]]:
    rows = db.session.scalars(select(Campaign).where(Campaign.creator_id == user.id, Campaign.status == "draft")
                              .order_by(Campaign.id.desc()).limit(50))
    return [(str(r.id), r.name) for r in rows]


def campaign_for_case(case: Case) -> Campaign | None:
    return db.session.scalar(select(Campaign).where(Campaign.case_id == case.id))


@case_panel(PROCESS_KEY)
def campaign_panel(case: Case) -> dict:
    c = campaign_for_case(case)
    return {"template": "supervision/_campaign_panel.html", "campaign": c, "progress": progress(c) if c else (0, 0),
            "summary": draw_summary(c) if c else "", "verified": verify_draw(c) if c and c.draw_seed else None}


@case_facts(PROCESS_KEY)
def campaign_facts(case: Case) -> dict:
    c = campaign_for_case(case)
    return {"docNo": c.campaign_no} if c else {}


# ---------------------------------------------------------------- assignment

def assign(user: User, campaign: Campaign, unit_id: int, expert_ids: list) -> CampaignUnit:
    if user.role != "undertaking_unit" or user.org_id != campaign.undertaking_org_id:
        raise Forbidden("由项目承担单位分配检查人员")
    if campaign.status not in ("assigning", "inspecting"):
        raise ValidationFailed({"status": "任务当前不在分配阶段"})
    unit = next((u for u in campaign.units if u.id == unit_id), None)
    if unit is None:
        raise NotFound("被抽查单位不存在")
    if unit.status not in ("pending", "assigned"):
        raise ValidationFailed({"experts": "该单位已开始检查，不能再调整检查人员"})
    ids = []
    for value in expert_ids if isinstance(expert_ids, list) else []:
        if as_id(value) is None:
            raise ValidationFailed({"experts": "检查人员无效"})
        ids.append(as_id(value))
    if not ids:
        raise ValidationFailed({"experts": "请至少选择一名检查人员"})
    valid = set(db.session.scalars(select(Expert.id).where(Expert.id.in_(ids), Expert.active.is_(True),
                                                           Expert.kind == "inspector")))
    if set(ids) - valid:
        raise ValidationFailed({"experts": "只能选择专家库中在用的检查人员"})
    added = set(ids) - set(unit.expert_id_list)
    unit.expert_ids = json.dumps(sorted(set(ids)))
    if campaign.status == "inspecting" and unit.status == "pending":
        unit.status = "assigned"
    db.session.flush()
    from ..taskops.services import notify
    for expert in experts_by_ids(sorted(added)):
        if expert.user_id:
            notify(expert.user_id, "notice", f"您被分配为“{unit.org.name}”的证后监督检查检查人员（{campaign.name}）",
                   case=campaign.case, sender=user)
    audit("record.change", f"证后监督检查 {campaign.campaign_no} 分配 {unit.org.name} 的检查人员",
          object_type="sv_campaign_unit", object_id=unit.id)
    return unit


def inspectors(campaign_or_none=None) -> list[Expert]:
    return list(db.session.scalars(select(Expert).where(Expert.kind == "inspector", Expert.active.is_(True))
                                   .order_by(Expert.name)))


# ---------------------------------------------------------------- declaration

def declaration_year() -> int:
    return utcnow().astimezone(DISPLAY_TZ).year


def declaration_of(user: User, year: int | None = None) -> Declaration | None:
    return db.session.scalar(select(Declaration).where(Declaration.user_id == user.id,
                                                       Declaration.year == (year or declaration_year())))


def needs_declaration(user: User) -> bool:
    return user.role == "expert" and declaration_of(user) is None


def sign_declaration(user: User, signature, agree) -> Declaration:
    from werkzeug.datastructures import FileStorage
    import io
    from ..core.storage import save_upload
    from ..taskops.services import decode_signature
    if user.role != "expert":
        raise Forbidden("年度声明由评审专家/检查人员以个人账号签署")
    if declaration_of(user):
        raise ValidationFailed({"signature": "本年度声明已签署"})
    if agree not in ("1", True, "true", "on"):
        raise ValidationFailed({"agree": "请阅读并勾选同意声明内容"})
    png = decode_signature(signature)
    att = save_upload(FileStorage(io.BytesIO(png), filename="declaration-signature.png"), user, field="signature")
    row = Declaration(user_id=user.id, year=declaration_year(), signature_id=att.id,
                      text="\n".join([DECLARATION_TITLE, *DECLARATION_TEXT]))
    db.session.add(row)
    db.session.flush()
    audit("record.change", f"签署{declaration_year()}年度{DECLARATION_TITLE}", object_type="sv_declaration",
          object_id=row.id)
    return row


def declared_expert(user: User) -> Expert:
    """The expert record of a signed-in expert who has signed this year's declaration."""
    if user.role != "expert":
        raise Forbidden("该页面供评审专家/检查人员使用")
    if needs_declaration(user):
        raise Forbidden("请先签署本年度公正性、保密及廉洁自律声明", code="declaration_required")
    expert = db.session.scalar(select(Expert).where(Expert.user_id == user.id))
    if expert is None:
        raise Forbidden("您的账号未关联评审专家库，请联系专家库管理部门")
    return expert


# ---------------------------------------------------------------- entry, rectification, evaluation

def unit_scope_for(user: User):
    """Inspected units a user may see: regulators in the campaign's region, the undertaking unit, the
    assigned experts, the inspected unit itself (once its inspection has started)."""
    if user.is_regulator:
        return CampaignUnit.campaign_id.in_(select(Campaign.id).where(in_region(Campaign.region_code, user.scope_prefix)))
    if user.role == "undertaking_unit" and user.org_id:
        return CampaignUnit.campaign_id.in_(select(Campaign.id).where(Campaign.undertaking_org_id == user.org_id))
    if user.role == "expert":
        return CampaignUnit.id.in_(_expert_unit_ids(user) or [0])
    if user.is_enterprise and user.org_id:
        return and_(CampaignUnit.org_id == user.org_id, CampaignUnit.status.in_(("rectifying", "reviewing", "done")))
    return false()


def visible_unit(user: User, unit_id: int) -> CampaignUnit:
    if user.role == "expert" and needs_declaration(user):
        raise Forbidden("请先签署本年度公正性、保密及廉洁自律声明", code="declaration_required")
    row = db.session.scalar(select(CampaignUnit).where(CampaignUnit.id == unit_id, unit_scope_for(user)))
    if row is None:
        raise NotFound("被抽查单位不存在或不在您的查看范围内")
    return row


def may_enter(user: User, unit: CampaignUnit) -> bool:
    if unit.campaign.status != "inspecting":
        return False
    if user.role == "undertaking_unit":
        return user.org_id == unit.campaign.undertaking_org_id
    if user.role == "expert":
        expert = db.session.scalar(select(Expert).where(Expert.user_id == user.id))
        return expert is not None and expert.id in unit.expert_id_list and not needs_declaration(user)
    return False


def entry_unit(user: User, unit_id: int) -> CampaignUnit:
    unit = visible_unit(user, unit_id)
    if not may_enter(user, unit):
        raise Forbidden("只有分配的检查人员或项目承担单位可以录入检查结果")
    if unit.status not in ("assigned",):
        raise ValidationFailed({"status": "该单位的检查结果已提交"})
    return unit


def ensure_section(user: User, unit: CampaignUnit) -> InspectionSection:
    if unit.sections:
        return unit.sections[0]
    return services.add_section(user, unit, unit.campaign.template_id, campaign=True)


def _log(unit: CampaignUnit, user: User, summary: str, comment: str | None = None) -> None:
    if unit.campaign.case is not None:
        runtime.append_event(unit.campaign.case, user, "log", summary, comment=comment)


def forward_finding(user: User, unit: CampaignUnit, finding_id: int) -> Finding:
    """上报监察: an issue that needs the supervision department goes to the campaign's department."""
    finding = next((f for s in unit.sections for f in s.findings if f.id == finding_id), None)
    if finding is None:
        raise NotFound("检查项不存在")
    if not finding.is_problem:
        raise ValidationFailed({"finding": "只有存在问题的检查项可以上报监察"})
    if finding.forwarded_region:
        raise ValidationFailed({"finding": "该问题已上报监察"})
    finding.forwarded_region = unit.campaign.region_code
    _log(unit, user, f"{unit.org.name}：问题上报监察部门处理", finding.item.text if finding.item else None)
    from ..taskops.services import notify
    department = db.session.scalars(select(User.id).where(User.role == "city_supervisor",
                                                          User.region_code == unit.campaign.region_code,
                                                          User.is_active_flag.is_(True)))
    for user_id in department:      # 消息提醒 in the department's task centre
        notify(user_id, "notice", f"证后监督检查上报监察：{unit.org.name}（{unit.campaign.name}），请处理并填写处理结果",
               case=unit.campaign.case, body=finding.item.text if finding.item else None, sender=user)
    audit("record.change", f"证后监督检查问题上报监察（{unit.org.name}）", object_type="sv_finding", object_id=finding.id)
    return finding


def forwarded_query(user: User, pending_only: bool = False):
    if not user.is_regulator:
        return select(Finding).where(false())
    query = select(Finding).where(Finding.forwarded_region.is_not(None),
                                  in_region(Finding.forwarded_region, user.scope_prefix))
    if pending_only:
        query = query.where(Finding.forward_outcome.is_(None))
    return query.order_by(Finding.forward_done_at.is_not(None), Finding.id.desc())


def visible_forwarded(user: User, finding_id: int) -> Finding:
    row = db.session.scalar(forwarded_query(user).where(Finding.id == finding_id))
    if row is None:
        raise NotFound("上报的问题不存在或不在您的处理范围内")
    return row


def record_outcome(user: User, finding: Finding, text: str) -> None:
    text = (text or "").strip()
    if len(text) < 4:
        raise ValidationFailed({"outcome": "请填写处理结果（至少4个字）"})
    if len(text) > 2000:
        raise ValidationFailed({"outcome": "不超过2000字"})
    finding.forward_outcome, finding.forward_done_at = text, utcnow()
    unit = finding.section.campaign_unit
    if unit is not None:
        _log(unit, user, f"{unit.org.name}：监察部门处理结果", text)
    audit("record.change", "证后监督检查上报问题的处理结果", object_type="sv_finding", object_id=finding.id)


def pending_forwards(unit: CampaignUnit) -> list[Finding]:
    return [f for s in unit.sections for f in s.findings if f.forwarded_region and not f.forward_outcome]


def submit_entry(user: User, unit: CampaignUnit, values: dict) -> None:
    errors = {}
    try:
        day = date.fromisoformat(as_text(values.get("inspected_on")))
        if day > today_local():
            errors["inspected_on"] = "检查日期不能晚于今天"
    except ValueError:
        errors["inspected_on"] = "日期格式应为 YYYY-MM-DD"
    summary = as_text(values.get("summary")).strip()
    if len(summary) < 5:
        errors["summary"] = "请填写检查情况（至少5个字）"
    missing = services.unanswered(unit)
    if not unit.sections or missing:
        errors["results"] = "以下检查项目尚未填写结果：" + "、".join(missing[:5]) if missing else "请先填写检查结果"
    pending = pending_forwards(unit)
    if pending:
        errors["forwarded"] = f"有{len(pending)}个上报监察的问题尚未拉取到处理结果，不能提交"
    if errors:
        raise ValidationFailed(errors)
    unit.inspected_on, unit.summary = day, summary
    unit.entered_by_id, unit.entered_at = user.id, utcnow()
    problems = services.problems_of(unit)
    unit.status = "rectifying" if problems else "done"
    if unit.status == "done":
        unit.done_at = utcnow()
    else:
        notify_org(unit.org_id, "use_unit", "notice",
                   f"证后监督检查发现{len(problems)}个问题，请整改并上传整改照片（{unit.campaign.campaign_no}）",
                   case=unit.campaign.case, sender=user)
    _log(unit, user, f"{unit.org.name}：检查结果录入，发现问题{len(problems)}个")
    audit("record.change", f"证后监督检查录入 {unit.org.name}", object_type="sv_campaign_unit", object_id=unit.id)


def rectify(user: User, unit: CampaignUnit, values: dict, photo_ids: list[int]) -> None:
    if not (user.is_enterprise and user.org_id == unit.org_id):
        raise Forbidden("由被抽查单位提交整改")
    if unit.status != "rectifying":
        raise ValidationFailed({"status": "当前不在整改阶段"})
    errors = {}
    measures = as_text(values.get("measures")).strip()
    if len(measures) < 5:
        errors["measures"] = "请填写整改措施及结果（至少5个字）"
    photos = []
    for att_id in photo_ids:
        att = db.session.get(Attachment, att_id)
        if att is None or att.uploaded_by_id != user.id or att.mime not in ("image/jpeg", "image/png"):
            errors["photos"] = "整改照片须是本人上传的 JPEG/PNG 图片"
            break
        photos.append(att_id)
    if not photos and "photos" not in errors:
        errors["photos"] = "请至少上传1张整改照片"
    if errors:
        raise ValidationFailed(errors)
    unit.rectify_measures, unit.rectify_photos, unit.rectified_at = measures, json.dumps(photos), utcnow()
    unit.status = "reviewing"
    case = unit.campaign.case
    if case is not None:
        for att in db.session.scalars(select(Attachment).where(Attachment.id.in_(photos), Attachment.case_id.is_(None))):
            att.case_id = case.id
    _log(unit, user, f"{unit.org.name}：提交整改", measures)
    from ..taskops.services import notify
    for expert in experts_by_ids(unit.expert_id_list):
        if expert.user_id:
            notify(expert.user_id, "notice", f"“{unit.org.name}”已提交证后监督检查整改，请复核", case=case, sender=user)
    audit("record.change", f"证后监督检查整改提交（{unit.org.name}）", object_type="sv_campaign_unit", object_id=unit.id)


def review_rectification(user: User, unit: CampaignUnit, decision: str, note: str) -> None:
    if not may_review(user, unit):
        raise Forbidden("由分配的检查人员或项目承担单位复核整改")
    if unit.status != "reviewing":
        raise ValidationFailed({"decision": "当前没有待复核的整改"})
    note = (note or "").strip()
    if decision not in ("pass", "return"):
        raise ValidationFailed({"decision": "请选择复核结论"})
    if len(note) < 2:
        raise ValidationFailed({"note": "请填写复核意见"})
    unit.review_note = note
    if decision == "pass":
        unit.status, unit.done_at = "done", utcnow()
        _log(unit, user, f"{unit.org.name}：整改复核通过", note)
    else:
        unit.status, unit.return_count = "rectifying", unit.return_count + 1
        notify_org(unit.org_id, "use_unit", "rework", f"证后监督检查整改复核不通过，请继续整改（{unit.campaign.campaign_no}）",
                   case=unit.campaign.case, body=note, sender=user)
        _log(unit, user, f"{unit.org.name}：整改退回", note)
    audit("record.change", f"证后监督检查整改复核（{unit.org.name}：{'通过' if decision == 'pass' else '退回'}）",
          object_type="sv_campaign_unit", object_id=unit.id)


def may_review(user: User, unit: CampaignUnit) -> bool:
    if user.role == "undertaking_unit":
        return user.org_id == unit.campaign.undertaking_org_id
    if user.role == "expert":
        expert = db.session.scalar(select(Expert).where(Expert.user_id == user.id))
        return expert is not None and expert.id in unit.expert_id_list and not needs_declaration(user)
    return False


EVAL_LEVELS = {"good": "满意", "fair": "基本满意", "poor": "不满意"}


def evaluate(user: User, unit: CampaignUnit, values: dict) -> None:
    """§4.5.1.9: the inspected unit evaluates the inspection once it is complete (the evaluation table of the
    requirements is not given; these items are the platform's: overall score, punctuality, conduct, remarks)."""
    if not (user.is_enterprise and user.org_id == unit.org_id):
        raise Forbidden("由被抽查单位填写评价")
    if unit.status != "done":
        raise ValidationFailed({"score": "检查完成后才能评价"})
    if unit.evaluated_at:
        raise ValidationFailed({"score": "已提交评价"})
    errors = {}
    score = as_id(values.get("score")) or 0
    if not 1 <= score <= 5:
        errors["score"] = "请选择1–5分"
    for key, label in (("punctual", "检查人员守时守纪"), ("conduct", "检查人员廉洁自律")):
        if as_text(values.get(key)) not in EVAL_LEVELS:
            errors[key] = f"请评价{label}"
    comment = as_text(values.get("comment")).strip()
    if len(comment) > 1000:
        errors["comment"] = "不超过1000字"
    if errors:
        raise ValidationFailed(errors)
    unit.eval_score, unit.eval_punctual, unit.eval_conduct = score, as_text(values["punctual"]), as_text(values["conduct"])
    unit.eval_comment, unit.evaluated_at = comment or None, utcnow()
    _log(unit, user, f"{unit.org.name}：提交检查评价（{score}分）", comment or None)
    audit("record.change", f"证后监督检查评价（{unit.org.name}）", object_type="sv_campaign_unit", object_id=unit.id)


def my_units(user: User):
    """The units an expert or an inspected unit works on."""
    query = select(CampaignUnit).where(unit_scope_for(user))
    return query.order_by(CampaignUnit.id.desc())


def unit_json(u: CampaignUnit) -> dict:
    return {"id": u.id, "org": {"id": u.org.id, "name": u.org.name}, "picked": u.picked, "status": u.status,
            "status_label": u.status_label, "expert_ids": u.expert_id_list,
            "inspected_on": u.inspected_on.isoformat() if u.inspected_on else None, "summary": u.summary,
            "problem_count": len(services.problems_of(u)), "hazard_count": services.hazard_count(u),
            "return_count": u.return_count, "evaluated": u.evaluated_at is not None, "eval_score": u.eval_score,
            "sections": [services.section_json(s) for s in u.sections]}


def campaign_json(c: Campaign, detail: bool = False) -> dict:
    done, total = progress(c)
    body = {"id": c.id, "campaign_no": c.campaign_no, "name": c.name, "status": c.status, "status_label": c.status_label,
            "undertaking_org": {"id": c.undertaking_org.id, "name": c.undertaking_org.name},
            "reject_reason": c.reject_reason, "progress": {"done": done, "total": total}, "case_id": c.case_id,
            "supervisor": c.supervisor_expert.name if c.supervisor_expert else None}
    if detail:
        body["draw"] = {"seed": c.draw_seed, "filters": _loads(c.draw_filters, {}),
                        "candidates": _loads(c.draw_candidates, []), "count": c.draw_count,
                        "result": _loads(c.draw_result, []), "verified": verify_draw(c) if c.draw_seed else None,
                        "supervisor_seed": c.supervisor_seed,
                        "supervisor_candidates": _loads(c.supervisor_candidates, [])}
        body["units"] = [unit_json(u) for u in c.units]
        body["closing_info"] = c.closing_info
    return body


def experts_by_ids(ids: list[int]) -> list[Expert]:
    if not ids:
        return []
    return list(db.session.scalars(select(Expert).where(Expert.id.in_(ids)).order_by(Expert.name)))


def expert_json(e: Expert) -> dict:
    return {"id": e.id, "name": e.name, "kind": e.kind, "kind_label": e.kind_label, "region_code": e.region_code,
            "specialty": e.specialty, "title": e.title, "cert_no": e.cert_no,
            "cert_expiry": e.cert_expiry.isoformat() if e.cert_expiry else None, "active": e.active,
            "username": e.user.username if e.user else None}
