"""Excel import of 96111 rescue records through the shared importer (app/core/importer.py): the
rescue platform's export, one row per rescue, identified by its 救援单号. Regulators import rescues of
elevators in their region; each row is checked like an API record (services.check_rescue)."""
from __future__ import annotations

from sqlalchemy import select

from ..core.importer import Column, ImportKind, iter_values, register_kind
from ..errors import Forbidden
from ..extensions import db
from . import services
from .models import Rescue


class RescueKind(ImportKind):
    key, title = "rescues", "96111救援记录"
    description = ("96111 应急救援平台导出的救援记录，按救援单号识别；电梯按救援码（或设备代码）匹配，"
                   "按报警当天的维保合同归属维保单位。时间按北京时间填写。")
    columns = [
        Column("rescue_no", "救援单号", required=True, max_length=40, example="JY96111-2026-000001"),
        Column("rescue_code", "96111救援码", max_length=20, example="4501000123",
               help="与设备代码二选一；两者都填时按救援码匹配"),
        Column("equipment_code", "设备代码", max_length=32),
        Column("alarm_at", "报警时间", required=True, max_length=25, example="2026-05-01 10:02",
               help="YYYY-MM-DD HH:MM（北京时间）或 Excel 日期时间"),
        Column("arrived_at", "到达时间", max_length=25, example="2026-05-01 10:20"),
        Column("released_at", "解救时间", max_length=25, example="2026-05-01 10:31", help="无人被困时可不填"),
        Column("trapped", "被困人数", kind="int", minimum=0, maximum=100, example="2"),
        Column("cause", "困人原因", max_length=200, example="停电"),
    ]
    key_columns = ("rescue_no",)

    def allowed(self, user):
        if not services.can_record_rescues(user):
            raise Forbidden("只有监管人员可以导入96111救援记录")

    def prepare(self, rows, ctx):
        stored = ctx.cache.setdefault("stored", {})
        numbers = [n for n in iter_values(rows, "rescue_no") if n not in stored]
        if numbers:
            for r in db.session.scalars(select(Rescue).where(Rescue.rescue_no.in_(numbers))):
                stored[r.rescue_no] = r

    def check(self, row, ctx):
        clean, errors = services.check_rescue(ctx.user, row.values, ctx.cache.setdefault("lookup", {}))
        ctx.cache.setdefault("clean", {})[row.number] = clean
        return errors

    def existing(self, row, ctx):
        return ctx.cache["stored"].get(row.values["rescue_no"])

    def same(self, row, stored, ctx):
        return services.same_rescue(stored, ctx.cache["clean"][row.number])

    def describe(self, stored):
        return "救援单号已录入"

    def write(self, rows, ctx):
        for row in rows:
            rescue = services._rescue_row(ctx.cache["clean"].pop(row.number), ctx.user, "import")
            db.session.add(rescue)
            ctx.cache["stored"][rescue.rescue_no] = rescue
        db.session.flush()


register_kind(RescueKind())
