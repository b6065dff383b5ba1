"""Excel import of inspection reports (app/core/importer.py): inspection agencies import their own
reports for any registered device; supervisors import reports of devices in their region, naming the agency."""
from __future__ import annotations

from sqlalchemy import insert, select

from ..core.clock import utcnow
from ..core.importer import Column, ImportKind, iter_values, register_kind
from ..core.models import Equipment, Organization
from ..errors import Forbidden
from ..extensions import db
from ..registry.services import device_scope
from . import conclusions, services
from .models import InspectionReport

TYPES = {label: key for key, label in InspectionReport.TYPE_LABELS.items()}


class ReportKind(ImportKind):
    key, title = "reports", "检验报告"
    description = "报告按报告编号识别；设备须已登记；设备的下次检验日期与到期状态按全部检验报告重新得出。"
    columns = [
        Column("report_no", "报告编号", required=True, max_length=40, example="JY2026-000001"),
        Column("code", "设备代码", required=True, max_length=32, example="311045001202300001"),
        Column("agency", "检验机构统一社会信用代码", kind="uscc",
               help="监察人员导入时必填；检验机构导入本机构的报告时可不填（填写则须为本机构）"),
        Column("inspection_type", "检验类别", required=True, kind="choice", choices=TYPES, example="定期检验"),
        Column("inspected_on", "检验日期", required=True, kind="date", example="2026-03-01"),
        Column("conclusion", "检验结论", required=True, max_length=12, example="合格",
               help="按设备种类：锅炉、压力容器、压力管道填 符合要求 / 基本符合要求 / 不符合要求（管道另有 不允许使用）；"
                    "电梯、起重机械、场车、游乐设施填 合格 / 复检合格 / 不合格（客运索道另有 复检不合格）"),
        Column("next_due_date", "下次检验日期", kind="date", future_ok=True, example="2027-03-01",
               help="结论为合格类时必填，不合格类不填"),
        Column("nonconformities", "不符合项", max_length=4000),
    ]
    key_columns = ("report_no",)

    def allowed(self, user):
        if not (user.is_regulator or (user.role == "inspection_agency" and user.org_id)):
            raise Forbidden("只有检验检测机构和监察人员可以导入检验报告")

    def prepare(self, rows, ctx):
        reports = ctx.cache.setdefault("reports", {})
        numbers = [n for n in iter_values(rows, "report_no") if n not in reports]
        if numbers:
            for r in db.session.scalars(select(InspectionReport).where(InspectionReport.report_no.in_(numbers))):
                reports[r.report_no] = r
        devices = ctx.cache.setdefault("devices", {})
        codes = [c for c in iter_values(rows, "code") if c not in devices]
        if codes:
            for e in db.session.scalars(select(Equipment).where(Equipment.code.in_(codes), device_scope(ctx.user))):
                devices[e.code] = e
        agencies = ctx.cache.setdefault("agencies", {})
        usccs = [u for u in iter_values(rows, "agency") if u not in agencies]
        if usccs:
            for org in db.session.scalars(select(Organization).where(Organization.uscc.in_(usccs))):
                agencies[org.uscc] = org

    def _agency(self, row, ctx):
        user = ctx.user
        uscc = row.values.get("agency")
        if user.role == "inspection_agency":
            own = ctx.cache.get("own") or ctx.cache.setdefault("own", db.session.get(Organization, user.org_id))
            return own if uscc in (None, own.uscc) else None
        return ctx.cache["agencies"].get(uscc) if uscc else None

    def check(self, row, ctx):
        v, errors = row.values, {}
        device = ctx.cache["devices"].get(v["code"])
        if device is None:
            errors["code"] = "设备不存在或不在您的管辖范围内"
        agency = self._agency(row, ctx)
        if agency is None or agency.kind != "inspection_agency":
            errors["agency"] = ("检验机构只能导入本机构的报告" if ctx.user.role == "inspection_agency"
                                else "请填写系统中已登记的检验检测机构的统一社会信用代码")
        if device is not None:
            found = services.validate(device, self._input(v), agency)
            for key, reason in found.items():
                if key != "agency" and key != "report_no":
                    errors.setdefault(key, reason)
        return errors

    @staticmethod
    def _input(v) -> services.ReportInput:
        return services.ReportInput(report_no=v["report_no"], inspected_on=v["inspected_on"], conclusion=v["conclusion"],
                                    next_due_date=v.get("next_due_date"), inspection_type=v["inspection_type"],
                                    nonconformities=v.get("nonconformities"))

    def existing(self, row, ctx):
        return ctx.cache["reports"].get(row.values["report_no"])

    def same(self, row, r, ctx):
        v = row.values
        device = ctx.cache["devices"].get(v["code"])
        agency = self._agency(row, ctx)
        return (r.equipment_id, r.agency_org_id, r.inspection_type, r.inspected_on, r.conclusion, r.next_due_date,
                r.nonconformities) == (device.id if device else None, agency.id if agency else None,
                                       v["inspection_type"], v["inspected_on"], v["conclusion"],
                                       v.get("next_due_date") if conclusions.is_passing(v["conclusion"]) else None,
                                       v.get("nonconformities"))

    def describe(self, r):
        return f"报告编号已录入（{r.inspected_on} {r.conclusion}）"

    def write(self, rows, ctx):
        now = utcnow()
        values, devices = [], {}
        for row in rows:
            v = row.values
            device = ctx.cache["devices"][v["code"]]
            devices[device.id] = device
            values.append({"report_no": v["report_no"], "equipment_id": device.id,
                           "agency_org_id": self._agency(row, ctx).id, "region_code": device.region_code,
                           "inspection_type": v["inspection_type"], "inspected_on": v["inspected_on"],
                           "conclusion": v["conclusion"], "nonconformities": v.get("nonconformities"),
                           "next_due_date": v.get("next_due_date") if conclusions.is_passing(v["conclusion"]) else None,
                           "pdf_attachment_id": None, "source": "import", "created_by_id": ctx.user.id,
                           "created_at": now})
        db.session.execute(insert(InspectionReport), values)
        services.refresh_devices(list(devices.values()))


register_kind(ReportKind())
