"""Excel import of cylinders on the shared importer (app/core/importer.py: template, per-row errors,
progress, unchanged rows on re-import):

- `cylinders`: a filler's archive (气瓶管理 批量导入) — the cylinders become the filler's, unregistered;
- `cylinder_factory`: a maker's factory records (出厂记录导入) — each row names an existing batch of the maker
  by its 生产批号; the cylinders go to the batch's commissioning filler.
Trace codes are unique for life: a code already in the archive with other facts is refused row by row."""
from __future__ import annotations

from sqlalchemy import insert, select

from ..core.clock import utcnow
from ..core.importer import Column, ImportKind, iter_values, register_kind
from ..core.models import Organization
from ..errors import Forbidden
from ..extensions import db
from .models import KIND_LABELS, Cylinder, CylinderBatch
from .services import FACTORY_NO, TRACE_CODE, _audit, is_filler, is_maker

KINDS = {label: key for key, label in KIND_LABELS.items()}
FACTS = ("factory_no", "kind", "medium", "volume_l", "nominal_pressure_mpa", "manufacture_date", "design_life_years")


def _columns(with_batch: bool) -> list[Column]:
    cols = [
        Column("trace_code", "溯源码", required=True, max_length=32, example="GXQP2026000001",
               help="6–32 位字母、数字或短横线；终身唯一，报废注销的气瓶也不能重复使用"),
        Column("factory_no", "出厂编号", required=True, max_length=40, example="A2026000001"),
    ]
    if with_batch:
        cols.append(Column("batch_no", "生产批号", required=True, max_length=40, example="PH2026-01",
                           help="本单位已新增的出厂记录的批号；气瓶的规格可不填，按批次填写"))
        cols += [Column("kind", "气瓶品种", kind="choice", choices=KINDS, help="不填按批次"),
                 Column("medium", "充装介质", max_length=40), Column("volume_l", "公称容积（L）", kind="float", minimum=0.1,
                                                                    maximum=3000),
                 Column("nominal_pressure_mpa", "公称工作压力（MPa）", kind="float", minimum=0.1, maximum=100),
                 Column("manufacture_date", "制造日期", kind="date"),
                 Column("design_life_years", "设计使用年限（年）", kind="int", minimum=1, maximum=50)]
        return cols
    return cols + [
        Column("kind", "气瓶品种", required=True, kind="choice", choices=KINDS, example="民用液化石油气瓶"),
        Column("medium", "充装介质", required=True, max_length=40, example="液化石油气"),
        Column("volume_l", "公称容积（L）", required=True, kind="float", minimum=0.1, maximum=3000, example="35.5"),
        Column("nominal_pressure_mpa", "公称工作压力（MPa）", required=True, kind="float", minimum=0.1, maximum=100,
               example="2.1"),
        Column("manufacture_date", "制造日期", required=True, kind="date", example="2025-06-01"),
        Column("design_life_years", "设计使用年限（年）", required=True, kind="int", minimum=1, maximum=50, example="8"),
        Column("maker_name", "制造单位", max_length=200, example="某某气瓶制造有限公司"),
        Column("batch_no", "生产批号", max_length=40),
        Column("last_inspection_date", "上次检验日期", kind="date"),
        Column("next_inspection_date", "下次检验日期", kind="date", future_ok=True),
    ]


class _CylinderKind(ImportKind):
    key_columns = ("trace_code",)

    def prepare(self, rows, ctx):
        codes = iter_values(rows, "trace_code")
        found = ctx.cache.setdefault("cylinders", {})
        missing = [c for c in codes if c not in found]
        if missing:
            for c in db.session.scalars(select(Cylinder).where(Cylinder.trace_code.in_(missing))):
                found[c.trace_code] = c

    def _check_codes(self, v) -> dict:
        errors = {}
        if v.get("trace_code") and not TRACE_CODE.match(v["trace_code"]):
            errors["trace_code"] = "溯源码为 6–32 位字母、数字或短横线"
        if v.get("factory_no") and not FACTORY_NO.match(v["factory_no"]):
            errors["factory_no"] = "出厂编号为字母、数字、短横线或斜线"
        return errors

    def existing(self, row, ctx):
        return ctx.cache["cylinders"].get(row.values["trace_code"])

    def describe(self, c):
        return "溯源码已被使用（溯源码终身唯一）"

    def _write(self, rows, ctx, fill) -> None:
        now = utcnow()
        values = []
        for row in rows:
            v = fill(row.values)
            values.append({**v, "created_at": now, "reg_state": "unregistered", "status": "in_use"})
        if values:
            db.session.execute(insert(Cylinder), values)
            for code in (v["trace_code"] for v in values):
                ctx.cache["cylinders"][code] = True        # a later duplicate row is "exists"
        ctx.cache["written"] = ctx.cache.get("written", 0) + len(values)

    def finish(self, ctx):
        if ctx.cache.get("written"):
            _audit(f"Excel 导入气瓶 {ctx.cache['written']} 只（{self.title}）", "cylinder", None, actor=ctx.user)


class ArchiveKind(_CylinderKind):
    key, title = "cylinders", "气瓶档案（充装单位）"
    description = "充装单位批量导入本单位的气瓶档案；导入的气瓶为“待登记”，须办理使用登记。"
    columns = _columns(False)

    def allowed(self, user):
        if not is_filler(user):
            raise Forbidden("只有气瓶充装单位可以导入气瓶档案")

    def check(self, row, ctx):
        errors = self._check_codes(row.values)
        v = row.values
        if v.get("last_inspection_date") and v.get("manufacture_date") and v["last_inspection_date"] < v["manufacture_date"]:
            errors["last_inspection_date"] = "上次检验日期不能早于制造日期"
        return errors

    def same(self, row, c, ctx):
        if c is True or c.owner_org_id != ctx.user.org_id:
            return False
        return all(getattr(c, k) == row.values.get(k) for k in FACTS)

    def write(self, rows, ctx):
        org = ctx.cache.get("org") or ctx.cache.setdefault("org", db.session.get(Organization, ctx.user.org_id))

        def fill(v):
            return {k: v.get(k) for k in ("trace_code", "factory_no", "kind", "medium", "volume_l",
                                          "nominal_pressure_mpa", "manufacture_date", "design_life_years",
                                          "maker_name", "batch_no", "last_inspection_date", "next_inspection_date")} | {
                "owner_org_id": org.id, "region_code": org.region_code}
        self._write(rows, ctx, fill)


class FactoryKind(_CylinderKind):
    key, title = "cylinder_factory", "气瓶出厂记录（制造单位）"
    description = "制造单位按生产批号导入出厂气瓶：批次须先在“出厂记录”中新增；规格不填时取批次的，所属充装单位为批次的委托充装单位。"
    columns = _columns(True)

    def allowed(self, user):
        if not is_maker(user):
            raise Forbidden("只有气瓶制造单位可以导入出厂记录")

    def prepare(self, rows, ctx):
        super().prepare(rows, ctx)
        batches = ctx.cache.setdefault("batches", {})
        wanted = [b for b in iter_values(rows, "batch_no") if b not in batches]
        if wanted:
            for b in db.session.scalars(select(CylinderBatch).where(CylinderBatch.maker_org_id == ctx.user.org_id,
                                                                    CylinderBatch.batch_no.in_(wanted))):
                batches[b.batch_no] = b

    def check(self, row, ctx):
        errors = self._check_codes(row.values)
        if row.values.get("batch_no") and row.values["batch_no"] not in ctx.cache["batches"]:
            errors["batch_no"] = "本单位没有该生产批号的出厂记录，请先新增出厂记录"
        return errors

    def same(self, row, c, ctx):
        if c is True or c.maker_org_id != ctx.user.org_id:
            return False
        b = ctx.cache["batches"].get(row.values.get("batch_no"))
        return b is not None and c.batch_id == b.id and c.factory_no == row.values.get("factory_no")

    def write(self, rows, ctx):
        maker = ctx.cache.get("maker") or ctx.cache.setdefault("maker", db.session.get(Organization, ctx.user.org_id))
        regions = ctx.cache.setdefault("client_regions", {})

        def fill(v):
            b = ctx.cache["batches"][v["batch_no"]]
            if b.client_org_id and b.client_org_id not in regions:
                regions[b.client_org_id] = db.session.get(Organization, b.client_org_id).region_code
            return {"trace_code": v["trace_code"], "factory_no": v["factory_no"], "kind": v.get("kind") or b.kind,
                    "medium": v.get("medium") or b.medium, "volume_l": v.get("volume_l") or b.volume_l,
                    "nominal_pressure_mpa": v.get("nominal_pressure_mpa") or b.nominal_pressure_mpa,
                    "manufacture_date": v.get("manufacture_date") or b.manufacture_date,
                    "design_life_years": v.get("design_life_years") or b.design_life_years,
                    "maker_org_id": maker.id, "maker_name": maker.name, "batch_id": b.id, "batch_no": b.batch_no,
                    "owner_org_id": b.client_org_id,
                    "region_code": regions.get(b.client_org_id) or b.region_code}
        self._write(rows, ctx, fill)


register_kind(ArchiveKind())
register_kind(FactoryKind())
