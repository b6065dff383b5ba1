"""Inspection reports: each 种类's conclusions, the device's next date from its latest passing report,
late-entered older reports, failing reports (SMS), recomputation from the whole history, page and API."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.errors import ValidationFailed
from app.inspections import conclusions, services
from app.inspections.models import InspectionReport
from app.sms.models import SmsMessage

from .conftest import PDF, user
from .registry_helpers import agency, days, make_device
from .test_openapi import check


def report(no, on, conclusion, next_due=None, kind="periodic"):
    return services.ReportInput(report_no=no, inspected_on=on, conclusion=conclusion, next_due_date=next_due,
                                inspection_type=kind)


def test_conclusions_follow_the_kind_of_device():
    assert conclusions.for_kind("3000") == ("合格", "复检合格", "不合格")
    assert conclusions.for_kind("2000") == ("符合要求", "基本符合要求", "不符合要求")
    assert "不允许使用" in conclusions.for_kind("8000") and "复检不合格" in conclusions.for_kind("9000")
    lift = make_device(variety="3110")
    errors = services.validate(lift, report("R-1", days(-1), "符合要求", days(300)), agency())
    assert "conclusion" in errors and "合格、复检合格、不合格" in errors["conclusion"]
    vessel = make_device(variety="2150")
    assert services.validate(vessel, report("R-2", days(-1), "基本符合要求", days(1000)), agency()) == {}


def test_report_validation_is_per_field():
    lift = make_device(variety="3110")
    errors = services.validate(lift, report("", days(1), "合格", None, kind="yearly"), None)
    assert set(errors) == {"report_no", "agency", "inspection_type", "inspected_on", "next_due_date"}
    errors = services.validate(lift, report("R-3", days(-3), "不合格", days(300)), agency())
    assert "不填写下次检验日期" in errors["next_due_date"]
    errors = services.validate(lift, report("R-4", days(-3), "合格", days(-3)), agency())
    assert errors == {"next_due_date": "下次检验日期应晚于检验日期"}


def test_latest_passing_report_gives_the_next_date_and_a_failing_one_keeps_it():
    lift = make_device(variety="3110", org=user("unit_xn").org)
    services.record_report(lift, agency(), report("R-10", days(-400), "合格", days(-35)))
    assert (lift.next_inspection_date, lift.due_state) == (days(-35), "overdue")
    services.record_report(lift, agency(), report("R-11", days(-20), "不合格"))
    db.session.commit()
    assert (lift.next_inspection_date, lift.last_conclusion, lift.due_state) == (days(-35), "不合格", "overdue")
    warned = db.session.scalars(select(SmsMessage).where(SmsMessage.template_code == "INSPECTION_NONCONFORMING",
                                                         SmsMessage.equipment_id == lift.id)).all()
    assert len(warned) == 3 and "不合格" in warned[0].content           # the unit's three responsible people
    services.record_report(lift, agency(), report("R-12", days(-5), "复检合格", days(360)))
    assert (lift.next_inspection_date, lift.due_state, lift.last_conclusion) == (days(360), "valid", "复检合格")
    # an older report entered late changes nothing: the latest passing one still decides
    services.record_report(lift, agency(), report("R-13", days(-200), "合格", days(165)))
    assert (lift.next_inspection_date, lift.last_inspected_on) == (days(360), days(-5))
    with pytest.raises(ValidationFailed) as err:
        services.record_report(lift, agency(), report("R-12", days(-1), "合格", days(300)))
    assert "已存在" in err.value.fields["report_no"]


def test_recompute_from_history_corrects_a_stale_device():
    lift = make_device(variety="3110")
    services.record_report(lift, agency(), report("R-20", days(-100), "合格", days(265)))
    lift.next_inspection_date = days(-10)         # a stale date (an earlier system's import, say)
    lift.due_state = "overdue"
    assert services.recompute_from_history(lift) is True
    assert (lift.next_inspection_date, lift.due_state) == (days(265), "valid")
    assert services.recompute_from_history(lift) is False


def test_record_on_the_page_with_a_pdf_and_through_the_api(app, web, api):
    lift = make_device(variety="3110", org=user("unit_xn").org, next_due=days(-3))
    db.session.commit()
    pdf = ("报告.pdf", PDF)
    page = web("agency_gx")
    form = {"equipment_code": lift.code, "report_no": "WEB-1", "inspection_type": "periodic",
            "inspected_on": days(-1).isoformat(), "conclusion": "符合要求", "next_due_date": days(360).isoformat()}
    resp = page.post("/inspections/reports/new", data=form)
    assert resp.status_code == 422 and "合格、复检合格、不合格" in resp.get_data(as_text=True)
    import io
    resp = page.post("/inspections/reports/new", data={**form, "conclusion": "合格", "pdf": (io.BytesIO(pdf[1]), pdf[0])},
                     content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    db.session.expire_all()
    saved = db.session.scalar(select(InspectionReport).where(InspectionReport.report_no == "WEB-1"))
    assert saved.pdf is not None and saved.agency_org_id == user("agency_gx").org_id and saved.source == "web"
    assert web("unit_xn").get(f"/inspections/reports/{saved.id}/pdf").data.startswith(b"%PDF")

    sup, unit = api("xn_supervisor"), api("unit_xn")
    body = {"equipment_code": lift.code, "report_no": "API-1", "inspection_type": "supervision",
            "inspected_on": days(-1).isoformat(), "conclusion": "合格", "next_due_date": days(500).isoformat()}
    check(app, unit.post("/api/v1/inspections/reports", json=body), 403)
    errors = check(app, sup.post("/api/v1/inspections/reports", json=body), 422)["error"]["fields"]
    assert "agency_id" in errors                                        # a supervisor names the agency
    created = check(app, sup.post("/api/v1/inspections/reports", json={**body, "agency_id": agency().id}), 201)
    assert created["passing"] and created["inspection_type_label"] == "监督检验"
    listed = check(app, unit.get(f"/api/v1/inspections/reports?device_id={lift.id}"), 200)
    assert [r["report_no"] for r in listed["items"]] == ["API-1", "WEB-1"]
    check(app, unit.get(f"/api/v1/inspections/reports/{created['id']}"), 200)
    check(app, api("unit_qx").get(f"/api/v1/inspections/reports/{created['id']}"), 404)
    db.session.expire_all()
    assert db.session.get(type(lift), lift.id).next_inspection_date == days(500)


def test_agency_may_inspect_any_device_of_guangxi():
    from app.inspections.views import record_for
    far = make_device(variety="4110", org=user("unit_lz").org)
    r = record_for(user("agency_gx"), far.code, None, report("AG-1", days(-2), "合格", days(700)), "api")
    assert r.agency_org_id == user("agency_gx").org_id
    with pytest.raises(ValidationFailed):
        record_for(user("xn_supervisor"), far.code, agency().id, report("AG-2", days(-2), "合格", days(700)), "api")
