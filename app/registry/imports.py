"""Excel import of units and devices (app/core/importer.py): supervisors import into their region."""
from __future__ import annotations

from sqlalchemy import insert, select

from ..core.clock import utcnow
from ..core.importer import Column, ImportKind, iter_values, register_kind
from ..core.models import Equipment, OrgContact, Organization, User
from ..core.movable import is_movable_category
from ..core.pii import PiiError, normalize_phone
from ..errors import Forbidden
from ..extensions import db
from . import due, life
from .catalogue import is_device_level, lineage
from .services import device_code_problem, reg_code_problem

YES_NO = {"是": True, "否": False}


def _regulator(user: User, what: str) -> None:
    if not user.is_regulator:
        raise Forbidden(f"只有监察人员可以导入{what}")


def _in_scope(user: User, region: str | None) -> bool:
    return region is not None and region.startswith(user.scope_prefix)


CONTACTS = (("principal", "主要负责人"), ("safety_director", "安全总监"), ("safety_officer", "安全员"))


class UnitKind(ImportKind):
    key, title = "units", "单位"
    description = "单位按统一社会信用代码识别；三类人员的手机号用于短信预警（加密存储）。"
    columns = [
        Column("uscc", "统一社会信用代码", required=True, kind="uscc", example="91450102MA5K000008"),
        Column("name", "单位名称", required=True, max_length=200, example="南宁市某某物业服务有限公司"),
        Column("kind", "单位类型", required=True, kind="choice",
               choices={label: key for key, label in Organization.KIND_LABELS.items()}, example="使用单位"),
        Column("region", "属地", required=True, kind="region", example="450102"),
        Column("address", "地址", max_length=300, example="南宁市兴宁区某某路1号"),
        Column("lat", "纬度", kind="float", minimum=20.0, maximum=27.0, example="22.8170"),
        Column("lng", "经度", kind="float", minimum=104.0, maximum=113.0, example="108.3665"),
    ] + [c for duty, label in CONTACTS for c in (
        Column(f"{duty}_name", label, max_length=64), Column(f"{duty}_phone", f"{label}手机号", max_length=20))]
    key_columns = ("uscc",)

    def allowed(self, user):
        _regulator(user, "单位")

    def prepare(self, rows, ctx):
        codes = iter_values(rows, "uscc")
        found = ctx.cache.setdefault("orgs", {})
        missing = [c for c in codes if c not in found]
        if missing:
            for org in db.session.scalars(select(Organization).where(Organization.uscc.in_(missing))):
                found[org.uscc] = org

    def check(self, row, ctx):
        errors = {}
        if not _in_scope(ctx.user, row.values.get("region")):
            errors["region"] = "属地不在您的管辖范围内"
        for duty, label in CONTACTS:
            phone, name = row.values.get(f"{duty}_phone"), row.values.get(f"{duty}_name")
            if phone:
                try:
                    row.values[f"{duty}_phone"] = normalize_phone(phone)
                except PiiError:
                    errors[f"{duty}_phone"] = "请填写11位手机号码"
                if not name:
                    errors[f"{duty}_name"] = f"填写了{label}手机号时须填写{label}姓名"
        return errors

    def existing(self, row, ctx):
        return ctx.cache["orgs"].get(row.values["uscc"])

    def same(self, row, org, ctx):
        v = row.values
        return (org.name, org.kind, org.region_code, org.address, org.lat, org.lng) == (
            v["name"], v["kind"], v["region"], v.get("address"), v.get("lat"), v.get("lng"))

    def describe(self, org):
        return f"统一社会信用代码已登记为“{org.name}”"

    def write(self, rows, ctx):
        now = utcnow()
        for row in rows:
            v = row.values
            org = Organization(uscc=v["uscc"], name=v["name"], kind=v["kind"], region_code=v["region"],
                               address=v.get("address"), lat=v.get("lat"), lng=v.get("lng"), kinds="",
                               contact_name=v.get("principal_name"), created_at=now)
            db.session.add(org)
            ctx.cache["orgs"][org.uscc] = org
            for duty, _label in CONTACTS:
                if v.get(f"{duty}_name"):
                    contact = OrgContact(org=org, duty=duty, name=v[f"{duty}_name"])
                    if v.get(f"{duty}_phone"):
                        contact.set_phone(v[f"{duty}_phone"])
                    db.session.add(contact)
        db.session.flush()


STATUSES = {"在用": "in_use", "停用": "stopped", "报废": "scrapped", "注销": "cancelled"}
# The columns compared on re-import (a stored device equal on all of them is "unchanged").
DEVICE_FACTS = ("name", "category", "reg_code", "registration_no", "factory_no", "model", "maker_name",
                "designer_name", "use_org", "maintenance_org", "region", "address", "lat", "lng", "status",
                "manufacture_date", "commissioning_date", "design_life_years", "simple")


class DeviceKind(ImportKind):
    key, title = "devices", "设备"
    description = ("设备按设备代码识别；使用单位、维保单位须先在系统中登记（可先导入单位）。"
                   "检验信息请用“检验报告”导入，设备的下次检验日期由检验报告得出。")
    columns = [
        Column("code", "设备代码", required=True, max_length=32, example="311045001202300001",
               help="18位：品种代码4位 + 制造单位代号5位 + 制造年份4位 + 制造顺序号5位，如 311045001202300001"),
        Column("name", "设备名称", required=True, max_length=200, example="1号客梯"),
        Column("category", "品种代码", required=True, max_length=4, example="3110",
               help="《特种设备目录》品种代码（无品种的类别填类别代码），须与设备代码前4位一致"),
        Column("reg_code", "注册代码", max_length=20, help="20位：分类码4位 + 登记机关区划6位 + 注册年月6位 + 顺序码4位"),
        Column("registration_no", "使用登记证编号", max_length=40, example="梯11桂A00001(23)"),
        Column("factory_no", "产品编号", max_length=64),
        Column("model", "规格型号", max_length=100),
        Column("maker_name", "制造单位", max_length=200),
        Column("designer_name", "设计单位", max_length=200),
        Column("use_org", "使用单位统一社会信用代码", required=True, kind="uscc"),
        Column("maintenance_org", "维保单位统一社会信用代码", kind="uscc"),
        Column("region", "属地", required=True, kind="region", example="450102"),
        Column("address", "使用地点", max_length=300),
        Column("lat", "纬度", kind="float", minimum=20.0, maximum=27.0),
        Column("lng", "经度", kind="float", minimum=104.0, maximum=113.0),
        Column("status", "设备状态", kind="choice", choices=STATUSES, example="在用",
               help="在用、停用、报废或注销；不填为在用（公告注销须经超期未检处置流程）"),
        Column("manufacture_date", "制造日期", kind="date"),
        Column("commissioning_date", "投入使用日期", kind="date"),
        Column("design_life_years", "设计使用年限（年）", kind="int", minimum=1, maximum=100,
               help="整数年；压力容器不填时按20年计（TSG 21-2016 7.1.7）"),
        Column("simple", "简单压力容器", kind="choice", choices=YES_NO, help="是 / 否；不填为否"),
    ]
    key_columns = ("code",)

    def allowed(self, user):
        _regulator(user, "设备")

    def prepare(self, rows, ctx):
        cache = ctx.cache.setdefault("devices", {})
        codes = [c for c in iter_values(rows, "code") if c not in cache]
        if codes:
            for e in db.session.scalars(select(Equipment).where(Equipment.code.in_(codes))):
                cache[e.code] = e
        orgs = ctx.cache.setdefault("orgs", {})
        usccs = [u for u in iter_values(rows, "use_org") | iter_values(rows, "maintenance_org") if u not in orgs]
        if usccs:
            for org_id, uscc, name in db.session.execute(select(Organization.id, Organization.uscc, Organization.name)
                                                         .where(Organization.uscc.in_(usccs))):
                orgs[uscc] = (org_id, name)
        taken = ctx.cache.setdefault("taken", {"reg_code": {}, "registration_no": {}})
        for column in ("reg_code", "registration_no"):
            values = [v for v in iter_values(rows, column) if v not in taken[column]]
            if values:
                field = getattr(Equipment, column)
                for code, value in db.session.execute(select(Equipment.code, field).where(field.in_(values))):
                    taken[column][value] = code

    def check(self, row, ctx):
        v, errors = row.values, {}
        problem = device_code_problem(v["code"])
        if problem:
            errors["code"] = problem
        category = v["category"].upper()
        v["category"] = category
        if not is_device_level(category):
            errors["category"] = "不是《特种设备目录》中的品种代码"
        elif not problem and v["code"][:4] != category:
            errors["category"] = f"与设备代码前4位（{v['code'][:4]}）不一致"
        orgs = ctx.cache["orgs"]
        if v["use_org"] not in orgs:
            errors["use_org"] = "该使用单位不在系统中，请先导入单位"
        if v.get("maintenance_org") and v["maintenance_org"] not in orgs:
            errors["maintenance_org"] = "该维保单位不在系统中，请先导入单位"
        if not _in_scope(ctx.user, v.get("region")):
            errors["region"] = "属地不在您的管辖范围内"
        if v.get("reg_code"):
            reg_problem = reg_code_problem(v["reg_code"])
            if reg_problem:
                errors["reg_code"] = reg_problem
        taken = ctx.cache["taken"]
        for column, label in (("reg_code", "注册代码"), ("registration_no", "使用登记证编号")):
            value = v.get(column)
            owner = taken[column].get(value) if value else None
            if owner and owner != v["code"]:
                errors[column] = f"{label}已被设备 {owner} 使用"
            elif value:
                taken[column][value] = v["code"]
        if v.get("manufacture_date") and v.get("commissioning_date") and v["commissioning_date"] < v["manufacture_date"]:
            errors["commissioning_date"] = "投入使用日期不能早于制造日期"
        if v.get("simple") and lineage(category)[0] != "2000":
            errors["simple"] = "只有压力容器可以标记为简单压力容器"
        if (v.get("lat") is None) != (v.get("lng") is None):
            errors["lat" if v.get("lat") is None else "lng"] = "纬度与经度须同时填写"
        return errors

    def existing(self, row, ctx):
        return ctx.cache["devices"].get(row.values["code"])

    def _facts(self, e: Equipment, orgs_by_id: dict) -> tuple:
        life_years = e.design_life_years if e.design_life_source != "default" else None
        return (e.name, e.category_code, e.reg_code, e.registration_no, e.factory_no, e.model, e.maker_name,
                e.designer_name, orgs_by_id.get(e.use_org_id), orgs_by_id.get(e.maintenance_org_id), e.region_code,
                e.address, e.lat, e.lng, e.status, e.manufacture_date, e.commissioning_date, life_years,
                bool(e.simple_pressure_vessel))

    def same(self, row, e, ctx):
        v = row.values
        ids = {org_id: uscc for uscc, (org_id, _name) in ctx.cache["orgs"].items()}
        for org_id in (e.use_org_id, e.maintenance_org_id):
            if org_id and org_id not in ids:
                ids[org_id] = db.session.scalar(select(Organization.uscc).where(Organization.id == org_id))
        wanted = tuple(v.get(k) if k not in ("status", "simple") else v.get(k) or ("in_use" if k == "status" else False)
                       for k in DEVICE_FACTS)
        return self._facts(e, ids) == wanted

    def describe(self, e):
        return f"设备代码已登记（{e.name}）"

    def write(self, rows, ctx):
        now = utcnow()
        orgs = ctx.cache["orgs"]
        values = []
        for row in rows:
            v = row.values
            kind, klass = lineage(v["category"])
            e = Equipment(code=v["code"], name=v["name"], category_code=v["category"], kind_code=kind, class_code=klass,
                          reg_code=v.get("reg_code"), registration_no=v.get("registration_no"),
                          factory_no=v.get("factory_no"), model=v.get("model"), maker_name=v.get("maker_name"),
                          designer_name=v.get("designer_name"), use_org_id=orgs[v["use_org"]][0],
                          maintenance_org_id=orgs[v["maintenance_org"]][0] if v.get("maintenance_org") else None,
                          region_code=v["region"], registered_region_code=v["region"],
                          movable=is_movable_category(v["category"]), address=v.get("address"), lat=v.get("lat"),
                          lng=v.get("lng"), status=v.get("status") or "in_use", manufacture_date=v.get("manufacture_date"),
                          commissioning_date=v.get("commissioning_date"), design_life_years=v.get("design_life_years"),
                          design_life_source="declared" if v.get("design_life_years") else None,
                          simple_pressure_vessel=bool(v.get("simple")), created_at=now)
            life.apply(e)
            due.refresh(e)
            values.append({c.key: getattr(e, c.key) for c in Equipment.__table__.columns if c.key != "id"})
            ctx.cache["devices"][e.code] = e
        db.session.execute(insert(Equipment), values)


register_kind(UnitKind())
register_kind(DeviceKind())
