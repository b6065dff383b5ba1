"""The shared Excel importer with the units, devices and reports kinds: templates, per-row validation, a
mixed good/bad file and its error report, re-importing changing nothing, decoding checks, chunked progress,
the pages and the API."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app.core import importer
from app.core.models import Equipment, ImportJob, OrgContact, Organization
from app.errors import Forbidden, ValidationFailed
from app.extensions import db
from app.inspections.models import InspectionReport

from .conftest import user
from .registry_helpers import days, device_code, read_xlsx, uscc, xlsx
from .test_openapi import check


@pytest.fixture(autouse=True)
def inline_imports(app, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_INLINE", True)


def run(kind: str, username: str, body: bytes, name: str = "data.xlsx") -> ImportJob:
    job = importer.start_import(kind, user(username), FileStorage(io.BytesIO(body), filename=name))
    return importer.run_job(job.id)


def error_rows(job: ImportJob) -> list[tuple]:
    rows = read_xlsx(open(importer.report_path(job), "rb").read())
    assert rows[0][:3] == ["行号", "列", "原因"]
    return [tuple(r[:3]) for r in rows[1:]]


DEVICE_HEADERS = ["设备代码*", "设备名称*", "品种代码*", "使用单位统一社会信用代码*", "属地*", "制造日期", "投入使用日期",
                  "纬度", "经度", "使用登记证编号"]


def unit_uscc(username: str) -> str:
    return user(username).org.uscc


def test_templates_name_every_column_with_rules():
    for kind in ("units", "devices", "reports"):
        body = importer.template_bytes(importer.get_kind(kind))
        header = read_xlsx(body)[0]
        assert header == [c.title for c in importer.get_kind(kind).columns]
        notes = read_xlsx(body, sheet=1)
        assert notes[0] == ["列名", "必填", "格式与要求", "示例"] and len(notes) > len(header)
    assert "设备代码*" in read_xlsx(importer.template_bytes(importer.get_kind("devices")))[0]


def test_a_mixed_device_file_imports_the_good_rows_and_reports_the_bad_ones():
    good1, good2, good3 = device_code("3110"), device_code("2150"), device_code("4110")
    dup = device_code("3110")
    rows = [
        [good1, "1号客梯", "3110", unit_uscc("unit_xn"), "450102", "2019-03-01", "2019-09-01", 22.81, 108.36, "梯11桂A90001(19)"],
        [good2, "储气罐", "2150", unit_uscc("unit_xn"), "南宁市兴宁区", "2015-01-01", None, None, None, None],
        [good3, "桥式起重机", "4110", unit_uscc("unit_xn"), "兴宁区", None, None, None, None, None],
        ["311045001", "短代码", "3110", unit_uscc("unit_xn"), "450102", None, None, None, None, None],      # row 5
        [device_code("3110"), "单位不存在", "3110", uscc(990001), "450102", None, None, None, None, None],  # row 6
        [device_code("3110"), "日期有误", "3110", unit_uscc("unit_xn"), "450102", "2019-02-30", None, None, None, None],
        [device_code("3110"), "越界", "3110", unit_uscc("unit_xn"), "450202", None, None, None, None, None],      # 柳州
        [device_code("3110"), "旧区划", "3110", unit_uscc("unit_xn"), "450127", None, None, None, None, None],
        [dup, "重复一", "3110", unit_uscc("unit_xn"), "450102", None, None, None, None, None],               # row 10
        [dup, "重复二", "3110", unit_uscc("unit_xn"), "450102", None, None, None, None, None],               # row 11
        [device_code("3110"), "只有纬度", "3110", unit_uscc("unit_xn"), "450102", None, None, 22.8, None, None],
        [device_code("3110"), "品种不符", "3120", unit_uscc("unit_xn"), "450102", None, None, None, None, None],
        [device_code("3110"), "登记证重复", "3110", unit_uscc("unit_xn"), "450102", None, None, None, None, "梯11桂A90001(19)"],
        [device_code("3110"), "校验位", "3110", "91450102MA5K00000X", "450102", None, None, None, None, None],
    ]
    before = db.session.scalar(select(func.count(Equipment.id)))
    job = run("devices", "xn_supervisor", xlsx(DEVICE_HEADERS, rows))
    assert (job.status, job.total, job.created, job.unchanged, job.failed) == ("done", 14, 4, 0, 10), job.message
    assert db.session.scalar(select(func.count(Equipment.id))) == before + 4
    errors = error_rows(job)
    by_row = {r: (col, reason) for r, col, reason in errors}
    assert by_row[5][0] == "设备代码" and "18位" in by_row[5][1]
    assert by_row[6] == ("使用单位统一社会信用代码", "该使用单位不在系统中，请先导入单位")
    assert by_row[7][0] == "制造日期" and "YYYY-MM-DD" in by_row[7][1]
    assert by_row[8] == ("属地", "属地不在您的管辖范围内")
    assert by_row[9][0] == "属地" and "450181" in by_row[9][1]               # 横县 → 横州市
    assert by_row[11] == ("设备代码", "与本文件第 10 行重复")
    assert by_row[12][0] == "经度"
    assert by_row[13][0] == "品种代码" and "不一致" in by_row[13][1]
    assert by_row[14][0] == "使用登记证编号" and good1 in by_row[14][1]
    assert by_row[15][0] == "使用单位统一社会信用代码" and "校验位" in by_row[15][1]
    assert 10 not in by_row                                                 # the first of the duplicates imported
    vessel = db.session.scalar(select(Equipment).where(Equipment.code == good2))
    assert (vessel.kind_code, vessel.design_life_years, vessel.design_life_source) == ("2000", 20, "default")
    assert vessel.design_life_end.isoformat() == "2035-01-01" and vessel.due_state == "no_record"
    lift = db.session.scalar(select(Equipment).where(Equipment.code == good1))
    assert (lift.lat, lift.lng, lift.registration_no) == (22.81, 108.36, "梯11桂A90001(19)")

    # the same file again: nothing changes; the good rows are "unchanged", the bad ones reported again
    again = run("devices", "xn_supervisor", xlsx(DEVICE_HEADERS, rows))
    assert (again.created, again.unchanged, again.failed) == (0, 4, 10)
    assert db.session.scalar(select(func.count(Equipment.id))) == before + 4
    # a stored device with different content is refused, not overwritten
    rows[0][1] = "改名的客梯"
    third = run("devices", "xn_supervisor", xlsx(DEVICE_HEADERS, rows[:1]))
    assert (third.created, third.unchanged, third.failed) == (0, 0, 1)
    assert "内容与本行不同" in error_rows(third)[0][2]
    db.session.refresh(lift)
    assert lift.name == "1号客梯"


def test_units_import_checks_uscc_phones_and_scope():
    headers = ["统一社会信用代码*", "单位名称*", "单位类型*", "属地*", "主要负责人", "主要负责人手机号", "安全员", "安全员手机号"]
    rows = [
        [uscc(880001), "甲物业（测试）", "使用单位", "450102", "张甲", "139 0000 0001", "李乙", "13900000002"],
        [uscc(880002), "乙电梯（测试）", "维护保养单位", "450102", None, None, None, None],
        [uscc(880003)[:-1] + ("0" if uscc(880003)[-1] != "0" else "1"), "校验位错", "使用单位", "450102", None, None, None, None],
        [uscc(880004), "号码有误", "使用单位", "450102", "王丙", "1234", None, None],
        [uscc(880005), "类型有误", "物业公司", "450102", None, None, None, None],
        [uscc(880006), "越界", "使用单位", "450103", None, None, None, None],
    ]
    job = run("units", "xn_supervisor", xlsx(headers, rows))
    assert (job.created, job.failed) == (2, 4)
    reasons = {r: (c, why) for r, c, why in error_rows(job)}
    assert reasons[4][0] == "统一社会信用代码" and reasons[5][0] == "主要负责人手机号"
    assert reasons[6][0] == "单位类型" and "使用单位" in reasons[6][1] and reasons[7][0] == "属地"
    org = db.session.scalar(select(Organization).where(Organization.uscc == uscc(880001)))
    contacts = db.session.scalars(select(OrgContact).where(OrgContact.org_id == org.id).order_by(OrgContact.id)).all()
    assert [(c.duty, c.name, c.phone) for c in contacts] == [("principal", "张甲", "13900000001"),
                                                             ("safety_officer", "李乙", "13900000002")]
    assert (run("units", "xn_supervisor", xlsx(headers, rows)).created, ) == (0, )
    with pytest.raises(Forbidden):
        run("units", "agency_gx", xlsx(headers, rows))


def test_reports_import_moves_next_dates_and_is_idempotent():
    from .registry_helpers import make_device
    lift = make_device(org=user("unit_xn").org, next_due=days(-30))
    db.session.commit()
    headers = ["报告编号*", "设备代码*", "检验类别*", "检验日期*", "检验结论*", "下次检验日期", "不符合项"]
    rows = [["IMP-1", lift.code, "定期检验", days(-3), "合格", days(362), None],
            ["IMP-2", lift.code, "定期检验", days(-2), "符合要求", days(363), None],            # wrong vocabulary
            ["IMP-3", "311099999202300001", "定期检验", days(-2), "合格", days(363), None],      # no such device
            ["IMP-4", lift.code, "年度检查", days(-2), "合格", days(363), None]]                # bad type
    job = run("reports", "agency_gx", xlsx(headers, rows))
    assert (job.created, job.failed) == (1, 3), job.message
    db.session.expire_all()
    lift = db.session.get(Equipment, lift.id)
    assert (lift.next_inspection_date, lift.due_state, lift.last_conclusion) == (days(362), "valid", "合格")
    report = db.session.scalar(select(InspectionReport).where(InspectionReport.report_no == "IMP-1"))
    assert (report.agency_org_id, report.source) == (user("agency_gx").org_id, "import")
    again = run("reports", "agency_gx", xlsx(headers, rows))
    assert (again.created, again.unchanged, again.failed) == (0, 1, 3)
    # a supervisor must name the agency
    job = run("reports", "xn_supervisor", xlsx(headers, [["IMP-9", lift.code, "定期检验", days(-1), "合格", days(364), None]]))
    assert job.failed == 1 and error_rows(job)[0][1] == "检验机构统一社会信用代码"


def test_files_are_checked_by_decoding():
    with pytest.raises(ValidationFailed) as err:
        importer.start_import("devices", user("xn_supervisor"), FileStorage(io.BytesIO(b"%PDF-1.4 not excel"),
                                                                            filename="x.xlsx"))
    assert "不是 Excel" in err.value.fields["file"]
    with pytest.raises(ValidationFailed) as err:
        importer.start_import("devices", user("xn_supervisor"),
                              FileStorage(io.BytesIO(xlsx(["设备代码", "设备名称"], [["x", "y"]])), filename="x.xlsx"))
    assert "缺少必填列" in err.value.fields["file"] and "使用单位统一社会信用代码" in err.value.fields["file"]
    with pytest.raises(ValidationFailed):
        importer.start_import("devices", user("xn_supervisor"), FileStorage(io.BytesIO(b"a,b"), filename="x.csv"))
    with pytest.raises(ValidationFailed) as err:
        importer.start_import("devices", user("xn_supervisor"),
                              FileStorage(io.BytesIO(xlsx(DEVICE_HEADERS, [])), filename="x.xlsx"))
    assert "没有数据行" in err.value.fields["file"]


def test_large_files_are_imported_in_chunks_with_progress(monkeypatch):
    monkeypatch.setattr(importer, "CHUNK", 250)
    seen = []
    original = importer._run_chunk

    def spy(kind, rows, ctx, *args):
        original(kind, rows, ctx, *args)
        db.session.expire(ctx.job)
        seen.append(db.session.scalar(select(ImportJob.processed).where(ImportJob.id == ctx.job.id)))
    monkeypatch.setattr(importer, "_run_chunk", spy)
    rows = [[device_code("5110"), f"叉车{i}号", "5110", unit_uscc("unit_xn"), "450102", None, None, None, None, None]
            for i in range(1, 1001)]
    job = run("devices", "xn_supervisor", xlsx(DEVICE_HEADERS, rows))
    assert (job.total, job.created, job.failed) == (1000, 1000, 0)
    assert seen == [250, 500, 750, 1000]                   # progress committed after each chunk


def test_pages_and_api(app, web, api):
    page = web("xn_supervisor")
    assert "设备导入模板" in page.get("/imports").get_data(as_text=True)
    template = page.get("/imports/templates/devices.xlsx")
    assert template.status_code == 200 and read_xlsx(template.data)[0][0] == "设备代码*"
    body = xlsx(DEVICE_HEADERS, [[device_code("3110"), "页面导入客梯", "3110", unit_uscc("unit_xn"), "450102"] + [None] * 5,
                                 ["bad", "坏行", "3110", unit_uscc("unit_xn"), "450102"] + [None] * 5])
    resp = page.post("/imports", data={"kind": "devices", "file": (io.BytesIO(body), "设备.xlsx")},
                     content_type="multipart/form-data")
    assert resp.status_code == 302
    job_url = resp.location
    text = page.get(job_url).get_data(as_text=True)
    assert "新增 1 行" in text and "有误 1 行" in text
    report = page.get(job_url + "/errors.xlsx")
    assert report.status_code == 200 and read_xlsx(report.data)[1][:2] == [3, "设备代码"]
    resp = page.post("/imports", data={"kind": "devices", "file": (io.BytesIO(b"plain"), "x.xlsx")},
                     content_type="multipart/form-data")
    assert resp.status_code == 422 and "不是 Excel" in resp.get_data(as_text=True)

    sup = api("xn_supervisor")
    kinds = check(app, sup.get("/api/v1/imports/kinds"), 200)["items"]
    assert {k["key"] for k in kinds} == {"units", "devices", "reports", "rescues"}   # rescues: 96111 records
    assert [k["key"] for k in check(app, api("agency_gx").get("/api/v1/imports/kinds"), 200)["items"]] == ["reports"]
    assert sup.get("/api/v1/imports/kinds/devices/template").status_code == 200
    check(app, api("agency_gx").get("/api/v1/imports/kinds/devices/template"), 403)
    check(app, sup.get("/api/v1/imports/kinds/nothing/template"), 404)
    started = check(app, sup.post("/api/v1/imports", data={"kind": "devices", "file": (io.BytesIO(body), "设备.xlsx")},
                                  content_type="multipart/form-data"), 202)
    assert (started["status"], started["created"], started["unchanged"], started["failed"]) == ("done", 0, 1, 1)
    assert check(app, sup.get(f"/api/v1/imports/{started['id']}"), 200)["has_error_report"]
    assert sup.get(f"/api/v1/imports/{started['id']}/errors").status_code == 200
    check(app, api("xn_colleague").get(f"/api/v1/imports/{started['id']}"), 404)
    check(app, sup.post("/api/v1/imports", data={"kind": "devices", "file": (io.BytesIO(b"x"), "a.xlsx")},
                        content_type="multipart/form-data"), 422)
    check(app, api("unit_xn").post("/api/v1/imports", data={"kind": "devices"}, content_type="multipart/form-data"), 403)
