"""The SMS centre's registry templates: each scheduled trigger reads the registry, texts the people concerned,
and is deduplicated per object and period; design-life and simple-pressure-vessel pages and statistics."""
from __future__ import annotations

from datetime import date

import time_machine
from sqlalchemy import select

from app.extensions import db
from app.registry import triggers
from app.registry.life import add_years
from app.registry.models import InspectorCertificate, UnitLicence
from app.sms.models import SmsMessage

from .conftest import user
from .registry_helpers import days, make_device, make_org
from .test_openapi import check
from .test_scheduler import local


def queued(template: str, equipment_id: int | None = None) -> list[SmsMessage]:
    query = select(SmsMessage).where(SmsMessage.template_code == template)
    if equipment_id is not None:
        query = query.where(SmsMessage.equipment_id == equipment_id)
    return list(db.session.scalars(query.order_by(SmsMessage.id)))


def test_every_trigger_sends_once_per_object_and_period():
    org = user("unit_xn").org
    unregistered = make_device(org=org, commissioning_date=days(-45))
    near = make_device(org=org, variety="2150", commissioning_date=add_years(days(200), -20))
    past = make_device(org=org, variety="2150", commissioning_date=date(2000, 1, 1))
    changed = make_device(org=org, variety="2150", commissioning_date=date(2000, 1, 1),
                          life_registration_changed_on=date(2021, 1, 1))
    simple = make_device(org=org, variety="2170", simple_pressure_vessel=True, commissioning_date=date(2010, 1, 1),
                         design_life_years=10)
    agency = user("agency_gx").org
    db.session.add_all([UnitLicence(org_id=org.id, kind="production", cert_no="TS-T-1", item="锅炉制造",
                                    expiry_date=days(80)),
                        InspectorCertificate(org_id=agency.id, person_name="测试检验员", cert_name="电梯检验员证",
                                             cert_no="JY-T-1", expiry_date=days(25))])
    db.session.commit()
    first = triggers.run_all()
    assert first["use_registration"] >= 3 and len(queued("USE_REGISTRATION_DUE", unregistered.id)) == 3
    assert len(queued("DESIGN_LIFE_NEAR", near.id)) == 3 and near.code in queued("DESIGN_LIFE_NEAR", near.id)[0].content
    assert len(queued("DESIGN_LIFE_PAST", past.id)) == 3 and queued("DESIGN_LIFE_PAST", changed.id) == []
    assert len(queued("SIMPLE_PV_LIFE_UNIT", simple.id)) == 3
    bureau = queued("SIMPLE_PV_LIFE_BUREAU", simple.id)
    assert {m.user_id for m in bureau} >= {user("xn_supervisor").id} and all(m.audience == "regulator" for m in bureau)
    assert any("TS-T-1" in m.content for m in queued("LICENSE_EXPIRY"))
    assert any("JY-T-1" in m.content for m in queued("INSPECTOR_CERT_EXPIRY"))
    assert any("DEMO" in m.content for m in queued("QUALIFICATION_EXPIRY"))      # the demo agency's approval
    # a second run the same day, or in the same month / quarter, queues nothing new
    again = triggers.run_all()
    assert sum(again.values()) == 0
    # the next stage (30 days before expiry) and the next period send again
    with time_machine.travel(local(days(52)), tick=False):
        later = triggers.run_all()
    assert any("TS-T-1" in m.content for m in queued("LICENSE_EXPIRY")[1:]) and later["licence"] >= 1
    assert len(queued("DESIGN_LIFE_PAST", past.id)) == 6                       # a new quarter


def test_operator_certificates_and_directive_deadlines(app):
    from app.operators.models import Operator, OperatorCertificate
    operator = db.session.scalar(select(Operator).where(Operator.user_id == user("op_lan").id))
    cert = OperatorCertificate(operator_id=operator.id, cert_no="GX2099SMS01", work_item="T", issue_date=days(-1400),
                               expiry_date=days(10), issuing_authority="南宁市市场监督管理局")
    db.session.add(cert)
    db.session.commit()
    triggers.operator_cert(days(0))
    db.session.commit()
    [msg] = [m for m in queued("OPERATOR_CERT_EXPIRY") if "GX2099SMS01" in m.content]
    assert msg.recipient_name == operator.name
    from .test_overdue_process import do, overdue_device, start
    case = start(overdue_device())
    do(case, "choose", "xn_supervisor", {"measure": "order", "order_kind": "rectify", "opinion": "责令整改",
                                         "requirements": "立即申报定期检验。", "rectify_deadline": days(3).isoformat()})
    assert triggers.directive_deadline(days(0)) == 3
    db.session.commit()
    assert triggers.directive_deadline(days(1)) == 0


def test_failing_imported_reports_are_warned_once():
    from app.inspections.models import InspectionReport
    from .registry_helpers import agency
    e = make_device(org=user("unit_xn").org, next_due=days(100))
    db.session.add(InspectionReport(report_no="IMP-FAIL-1", equipment_id=e.id, agency_org_id=agency().id,
                                    region_code=e.region_code, inspected_on=days(-2), conclusion="不合格", source="import"))
    e.last_inspected_on, e.last_conclusion = days(-2), "不合格"
    db.session.commit()
    assert triggers.nonconforming(days(0)) == 3
    db.session.commit()
    assert triggers.nonconforming(days(0)) == 0


def test_design_life_page_bands_and_registration_tag(web, app, api):
    org = make_org("年限测试单位（测试）")
    past = make_device(org=org, variety="2150", commissioning_date=date(2003, 1, 1), name="超年限未变更")
    done = make_device(org=org, variety="2150", commissioning_date=date(2003, 1, 1), name="超年限已变更",
                       life_registration_changed_on=date(2023, 3, 1))
    soon = make_device(org=org, variety="2150", commissioning_date=add_years(days(200), -20), name="一年内")
    made_only = make_device(org=org, variety="2150", manufacture_date=date(2004, 5, 1), name="按制造日期")
    make_device(org=org, variety="2310", manufacture_date=date(2000, 1, 1), name="气瓶不计")
    db.session.commit()
    page = web("xn_supervisor").get("/registry/design-life?q=").get_data(as_text=True)
    for e in (past, done, soon, made_only):
        assert e.code in page
    assert "气瓶不计" not in page and "未办理使用登记变更" in page and "已办理使用登记变更" in page
    body = check(app, api("xn_supervisor").get("/api/v1/registry/design-life?band=past&per_page=100"), 200)
    mine = {i["code"]: i for i in body["items"] if i["use_org"]["id"] == org.id}
    assert set(mine) == {past.code, done.code, made_only.code}
    assert mine[past.code]["registration_changed"] is False and mine[done.code]["registration_changed"] is True
    assert body["counts"]["past"] >= 3
    soon_band = check(app, api("xn_supervisor").get("/api/v1/registry/design-life?band=within_1y&per_page=100"), 200)
    assert soon.code in {i["code"] for i in soon_band["items"]}
    assert web("qx_supervisor").get("/registry/design-life").get_data(as_text=True).count(past.code) == 0


def test_simple_vessel_statistics(web, app, api):
    org = make_org("简单容器测试（测试）")
    make_device(org=org, variety="2170", simple_pressure_vessel=True, commissioning_date=date(2021, 1, 1), design_life_years=10)
    make_device(org=org, variety="2170", simple_pressure_vessel=True, commissioning_date=date(2010, 1, 1), design_life_years=10)
    make_device(org=org, variety="2170", simple_pressure_vessel=True, commissioning_date=date(2010, 1, 1),
                design_life_years=10, status="scrapped")
    db.session.commit()
    stats = check(app, api("nn_city").get("/api/v1/registry/simple-vessels/stats"), 200)
    row = next(r for r in stats["rows"] if r["region"] == "450102")
    assert row["status"]["scrapped"] >= 1 and row["life"]["within"] >= 1 and row["life"]["past"] >= 2
    page = web("xn_supervisor").get("/registry/simple-vessels").get_data(as_text=True)
    assert "统计分析" in page and "简单容器测试" in page
    assert web("unit_qx").get("/registry/simple-vessels").get_data(as_text=True).count(
        "简单容器测试") == 0
