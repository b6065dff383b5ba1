"""The device registry: identifiers, derived facts (种类/类别, design life, due state), audited status and
design-life changes, data scope, the device profile page with its extension hook, and /api/v1/registry."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from app.core.models import Equipment, EquipmentChange
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.registry import life, services
from app.registry.profile import _SECTIONS, profile_section
from app.security.models import AuditLog

from .conftest import equipment_of, make_case, user
from .registry_helpers import days, make_device, make_org
from .test_openapi import check


# ------------------------------------------------------------------ identifiers and derived facts

@pytest.mark.parametrize("code, problem", [
    ("311045001202300001", None),
    ("2150100892015A0001", None),                  # a pinyin letter for the sequence's first digit
    ("31104500120230001", "18位"),                   # 17 characters
    ("999945001202300001", "不是《特种设备目录》中的品种代码"),
    ("300045001202300001", "不是《特种设备目录》中的品种代码"),   # a 种类 is not a device's code
    ("311045001209900001", "制造年份"),
    ("4D0045001202300001", None),                  # a 类别 without 品种 (机械式停车设备)
])
def test_device_code_format(code, problem):
    found = services.device_code_problem(code)
    assert (found is None) if problem is None else (problem in found), found


def test_kind_class_and_design_life_are_derived():
    lift = make_device(variety="3110", commissioning_date=date(2010, 5, 1))
    assert (lift.kind_code, lift.class_code) == ("3000", "3100")
    assert lift.design_life_years is None and lift.design_life_end is None     # no default outside pressure vessels
    vessel = make_device(variety="2150", commissioning_date=date(2006, 2, 1), manufacture_date=date(2005, 6, 1))
    assert (vessel.kind_code, vessel.class_code) == ("2000", "2100")
    assert (vessel.design_life_years, vessel.design_life_source) == (20, "default")      # TSG 21-2016 7.1.7
    assert vessel.design_life_end == date(2026, 2, 1)                                     # from commissioning
    made_only = make_device(variety="2170", manufacture_date=date(2008, 2, 29))
    assert made_only.design_life_end == date(2028, 2, 29)                                 # from manufacture
    cylinder = make_device(variety="2310", manufacture_date=date(2008, 2, 29))
    assert cylinder.design_life_years is None            # cylinders follow TSG 23-2021, not the 20-year rule
    assert life.add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)


def test_design_life_correction_is_validated_and_audited():
    vessel = make_device(variety="2150", commissioning_date=date(2006, 2, 1))
    sup = user("xn_supervisor")
    with pytest.raises(ValidationFailed) as err:
        services.edit_device(vessel, {"design_life_years": 0, "commissioning_date": days(3).isoformat()},
                             actor=sup, reason="核对出厂资料")
    assert set(err.value.fields) == {"design_life_years", "commissioning_date"}
    with pytest.raises(ValidationFailed) as err:
        services.edit_device(vessel, {"design_life_years": 25}, actor=sup, reason="")
    assert "reason" in err.value.fields
    audits = db.session.scalar(select(func.count(AuditLog.id)))
    rows = services.edit_device(vessel, {"design_life_years": "25", "manufacture_date": "2005-11-01"}, actor=sup,
                                reason="按出厂资料修正")
    db.session.commit()
    assert {r.field for r in rows} == {"design_life_years", "manufacture_date"}
    assert (vessel.design_life_years, vessel.design_life_source, vessel.design_life_end) == (25, "edited", date(2031, 2, 1))
    assert db.session.scalar(select(func.count(AuditLog.id))) == audits + 1
    row = next(r for r in rows if r.field == "design_life_years")
    assert (row.old_value, row.new_value, row.actor_id, row.reason) == ("20", "25", sup.id, "按出厂资料修正")
    assert services.edit_device(vessel, {"design_life_years": 25}, actor=sup, reason="再次保存") == []


def test_status_changes_follow_the_flow_and_are_audited():
    e = make_device(next_due=days(-5))
    assert e.due_state == "overdue"
    sup = user("xn_supervisor")
    row = services.change_status(e, "stopped", actor=sup, reason="使用单位报停")
    db.session.commit()
    assert (e.status, e.due_state, row.old_value, row.new_value) == ("stopped", "exempt", "in_use", "stopped")
    # TSG 08-2026: stopped beyond the inspection validity → re-enabled only after an inspection
    with pytest.raises(Conflict) as err:
        services.change_status(e, "in_use", actor=sup, reason="恢复使用")
    assert err.value.code == "inspection_required"
    services.change_status(e, "scrapped", actor=sup, reason="已报废")
    with pytest.raises(Conflict):
        services.change_status(e, "in_use", actor=sup, reason="恢复使用")
    services.change_status(e, "cancelled", actor=sup, reason="注销登记")
    with pytest.raises(Conflict):
        services.change_status(e, "scrapped", actor=sup, reason="已注销的不能再改")
    db.session.commit()
    changes = db.session.scalars(select(EquipmentChange).where(EquipmentChange.equipment_id == e.id)
                                 .order_by(EquipmentChange.id)).all()
    assert [(c.old_value, c.new_value) for c in changes] == [("in_use", "stopped"), ("stopped", "scrapped"),
                                                           ("scrapped", "cancelled")]


def test_scope_of_devices_and_units():
    lift = equipment_of("unit_xn")
    assert services.visible_device(user("xn_supervisor"), lift.id) is lift
    assert services.visible_device(user("nn_city"), lift.id) is lift
    assert services.visible_device(user("unit_xn"), lift.id) is lift
    assert services.visible_device(user("agency_gx"), lift.id) is lift       # agencies inspect across units
    for outsider in ("qx_supervisor", "unit_qx", "op_wei", "sys_admin"):
        with pytest.raises(NotFound):
            services.visible_device(user(outsider), lift.id)
    maintained = db.session.scalar(select(Equipment).where(Equipment.maintenance_org_id.is_not(None)))
    maintainer = maintained.maintenance_org
    assert maintained.id in {e.id for e in db.session.scalars(
        select(Equipment).where(services.device_scope(type("U", (), {"is_regulator": False, "role": "maintenance_unit",
                                                                     "org_id": maintainer.id, "is_enterprise": True})())))}
    agency_org = user("agency_gx").org
    assert services.visible_unit(user("unit_qx"), agency_org.id) is agency_org     # agencies are listed to everyone
    with pytest.raises(NotFound):
        services.visible_unit(user("unit_qx"), user("unit_xn").org_id)


# ------------------------------------------------------------------ the profile page

def test_profile_page_shows_facts_tags_and_every_section(web):
    lift = equipment_of("unit_xn")
    case = make_case()                                  # a hazard case on this lift
    page = web("xn_supervisor").get(f"/registry/devices/{lift.id}").get_data(as_text=True)
    for text in (lift.code, "检验报告", "相关案件", "重大事故隐患", "短信预警记录", "档案变更记录", case.case_no,
                 "登记状态变更", "设计使用年限与日期修正", "JY-DEMO-" + lift.code):
        assert text in page, text
    unit_page = web("unit_xn").get(f"/registry/devices/{lift.id}").get_data(as_text=True)
    assert case.case_no in unit_page and "登记状态变更" not in unit_page     # the unit reads, does not change status
    overdue = make_device(org=user("unit_xn").org, next_due=days(-9))
    db.session.commit()
    assert "超期未检" in web("unit_xn").get(f"/registry/devices/{overdue.id}").get_data(as_text=True)
    assert web("qx_supervisor").get(f"/registry/devices/{lift.id}").status_code == 404


def test_a_domain_adds_a_profile_section_without_touching_the_page(web):
    @profile_section("test_extra", "测试扩展栏目", order=5)
    def extra(device, viewer):
        return {"template": "registry/_section_changes.html", "rows": [], "labels": {}, "sources": {}} \
            if viewer.is_regulator else None
    try:
        lift = equipment_of("unit_xn")
        assert "测试扩展栏目" in web("xn_supervisor").get(f"/registry/devices/{lift.id}").get_data(as_text=True)
        assert "测试扩展栏目" not in web("unit_xn").get(f"/registry/devices/{lift.id}").get_data(as_text=True)
    finally:
        _SECTIONS.pop("test_extra")


def test_status_and_life_forms_on_the_page(web):
    e = make_device(variety="2150", org=user("unit_xn").org, commissioning_date=date(2004, 1, 1), next_due=days(90))
    db.session.commit()
    unit = web("unit_xn")
    assert unit.post(f"/registry/devices/{e.id}/status", data={"status": "stopped", "reason": "越权"}).status_code == 403
    assert unit.post(f"/registry/devices/{e.id}/life", data={"design_life_years": "30", "reason": "越权"}).status_code == 403
    agency = web("agency_gx")
    resp = agency.post(f"/registry/devices/{e.id}/life", data={"design_life_years": "30", "reason": "检验核实出厂资料"})
    assert resp.status_code == 302
    sup = web("xn_supervisor")
    resp = sup.post(f"/registry/devices/{e.id}/status", data={"status": "stopped", "reason": ""})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Equipment, e.id).status == "in_use"           # no reason: refused with a message
    assert "变更原因" in sup.get(f"/registry/devices/{e.id}").get_data(as_text=True)
    sup.post(f"/registry/devices/{e.id}/status", data={"status": "stopped", "reason": "使用单位报停"})
    db.session.expire_all()
    e = db.session.get(Equipment, e.id)
    assert (e.status, e.design_life_years, e.design_life_source) == ("stopped", 30, "edited")


# ------------------------------------------------------------------ API

def test_registry_api(app, api, client):
    sup, unit, outsider = api("xn_supervisor"), api("unit_xn"), api("qx_supervisor")
    lift = equipment_of("unit_xn")
    for n in range(3):
        make_device(org=user("unit_xn").org, next_due=days(-3 - n))
    db.session.commit()
    body = check(app, sup.get("/api/v1/registry/devices?per_page=100"), 200)
    assert lift.id in {d["id"] for d in body["items"]}
    assert all(d["region_code"].startswith("450102") for d in body["items"])
    body = check(app, sup.get("/api/v1/registry/devices?due_state=overdue&kind=3000"), 200)
    assert body["total"] >= 3 and {d["due_state"] for d in body["items"]} == {"overdue"}
    assert check(app, sup.get(f"/api/v1/registry/devices?q={lift.code}"), 200)["total"] == 1
    detail = check(app, sup.get(f"/api/v1/registry/devices/{lift.id}"), 200)
    assert detail["code"] == lift.code and detail["kind_code"] == "3000" and detail["maintenance_org"]
    check(app, outsider.get(f"/api/v1/registry/devices/{lift.id}"), 404)
    assert check(app, unit.get("/api/v1/registry/devices"), 200)["total"] == \
        db.session.scalar(select(func.count(Equipment.id)).where(Equipment.use_org_id == user("unit_xn").org_id))

    e = make_device(next_due=days(30), org=user("unit_xn").org)
    db.session.commit()
    check(app, unit.post(f"/api/v1/registry/devices/{e.id}/status", json={"status": "stopped", "reason": "越权"}), 403)
    check(app, sup.post(f"/api/v1/registry/devices/{e.id}/status", json={"status": "nope", "reason": "测试"}), 422)
    check(app, sup.post(f"/api/v1/registry/devices/{e.id}/status", json={"status": "in_use", "reason": "测试"}), 409)
    assert check(app, sup.post(f"/api/v1/registry/devices/{e.id}/status",
                               json={"status": "stopped", "reason": "使用单位报停"}), 200)["status"] == "stopped"
    changed = check(app, sup.post(f"/api/v1/registry/devices/{e.id}/life",
                                  json={"commissioning_date": "2015-01-01", "reason": "核对登记资料"}), 200)
    assert changed["changes"][0]["field"] == "commissioning_date"
    check(app, sup.post(f"/api/v1/registry/devices/{e.id}/life", json={"reason": "空"}), 422)
    changes = check(app, sup.get(f"/api/v1/registry/devices/{e.id}/changes"), 200)["items"]
    assert [c["field"] for c in changes] == ["commissioning_date", "status"]

    units = check(app, sup.get("/api/v1/registry/units?kind=inspection_agency"), 200)
    assert units["items"] and all(u["kind"] == "inspection_agency" for u in units["items"])
    assert check(app, unit.get(f"/api/v1/registry/units/{user('unit_xn').org_id}"), 200)["uscc"]
    check(app, unit.get(f"/api/v1/registry/units/{user('unit_qx').org_id}"), 404)
    cats = check(app, sup.get("/api/v1/registry/categories?parent=3100"), 200)["items"]
    assert {c["code"] for c in cats} >= {"3110", "3120"}
    regions = check(app, sup.get("/api/v1/registry/regions?parent=450100"), 200)["items"]
    assert len(regions) == 12 and regions[0]["level"] == "county"
    check(app, client.get("/api/v1/registry/devices"), 401)


def test_a_new_org_with_devices_is_counted_on_its_unit_page(web):
    org = make_org("测试物业（测试）")
    make_device(org=org, next_due=days(-1))
    make_device(org=org, next_due=days(400))
    db.session.commit()
    page = web("xn_supervisor").get(f"/registry/units/{org.id}").get_data(as_text=True)
    assert "测试物业（测试）" in page and "超期未检" in page and "在有效期内" in page
