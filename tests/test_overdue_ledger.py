"""排查治理台账: counts per band, drill-down, filters, the streamed export, batch start (all or nothing),
误报纠正 (recomputation from the whole history, cleared flags logged), 超期未检处理记录 and the API."""
from __future__ import annotations

from sqlalchemy import func, select

from app.core.models import Equipment
from app.extensions import db
from app.inspections.models import InspectionReport
from app.overdue import ledger
from app.overdue.models import OverdueAction, OverdueDisposal
from app.registry import due

from .conftest import user
from .registry_helpers import agency, days, make_device, make_org, read_xlsx
from .test_openapi import check


def _fresh():
    due.recompute_all()
    db.session.commit()


def test_counts_drill_down_and_filters():
    _fresh()
    org = make_org("台账测试单位（测试）")
    made = [make_device(org=org, next_due=days(n)) for n in (-30, -2, 10, 50, 80, 400)]
    make_device(org=org, variety="2150", next_due=days(-5))
    make_device(org=org, next_due=days(-60), status="stopped")
    db.session.commit()
    sup, city, province = user("xn_supervisor"), user("nn_city"), user("gx_province")
    f = ledger.LedgerFilter(q=org.name[:6])
    counts = ledger.band_counts(sup, f)
    assert (counts["overdue"], counts["due_1m"], counts["due_2m"], counts["due_3m"], counts["valid"]) == (3, 1, 1, 1, 1)
    items = db.session.scalars(ledger.ledger_query(sup, f)).all()
    assert items[0].id == made[0].id                                          # most overdue first
    assert [e.next_inspection_date for e in items] == sorted(e.next_inspection_date for e in items)
    assert {e.due_state for e in items} == {"overdue", "due_1m", "due_2m", "due_3m"}
    lifts = ledger.LedgerFilter(q=org.name[:6], kind="3000", due_state="overdue")
    assert len(db.session.scalars(ledger.ledger_query(sup, lifts)).all()) == 2
    label, rows = ledger.drill_down(sup, f)                                  # a county: by 种类
    assert label == "种类" and {r["key"]: r["counts"]["overdue"] for r in rows} == {"2000": 1, "3000": 2}
    label, rows = ledger.drill_down(city, f)                                 # a city: by county
    assert label == "区县" and [r["region"] for r in rows] == ["450102"]
    label, rows = ledger.drill_down(province, ledger.LedgerFilter())         # the province: by city
    assert label == "市" and "450100" in {r["region"] for r in rows}
    assert ledger.band_counts(user("qx_supervisor"), f)["overdue"] == 0      # another county sees none of them
    assert db.session.scalars(ledger.ledger_query(user("unit_xn"), f)).all() == []
    assert ledger.band_counts(sup, ledger.LedgerFilter(q=org.name[:6], report="none"))["overdue"] == 3


def test_export_streams_the_whole_filter(web):
    _fresh()
    org = make_org("导出测试单位（测试）")
    for n in range(25):
        make_device(org=org, next_due=days(-1 - n))
    db.session.commit()
    resp = web("xn_supervisor").get(f"/overdue/export.xlsx?q={org.name[:6]}&per_page=10")
    rows = read_xlsx(resp.data)
    assert rows[0] == ledger.EXPORT_HEADERS and len(rows) == 26                 # every row, not a page
    assert rows[1][11] == "超期未检" and rows[1][12] == 25                        # most overdue first, days overdue
    assert web("unit_xn").get("/overdue/export.xlsx").status_code == 403


def test_batch_start_is_all_or_nothing(web):
    _fresh()
    org = user("unit_xn").org
    late = [make_device(org=org, next_due=days(-3 - n)) for n in range(3)]
    fine = make_device(org=org, next_due=days(100))
    db.session.commit()
    page = web("xn_supervisor")
    resp = page.post("/overdue/batch-start", data={"ids": [str(e.id) for e in late + [fine]], "note": "专项整治"})
    assert resp.status_code == 409 and fine.code in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count(OverdueDisposal.id))) == 0
    resp = page.post("/overdue/batch-start", data={"ids": [str(e.id) for e in late], "note": "专项整治"})
    assert resp.status_code == 302
    disposals = db.session.scalars(select(OverdueDisposal).order_by(OverdueDisposal.id)).all()
    assert [d.equipment_id for d in disposals] == [e.id for e in late]
    again = page.post("/overdue/batch-start", data={"ids": [str(late[0].id)]})
    assert again.status_code == 409 and "已有办理中的超期处置" in again.get_data(as_text=True)
    listed = page.get("/overdue?disposal=open").get_data(as_text=True)
    assert all(d.disposal_no in listed for d in disposals)


def test_false_alarm_correction_recomputes_from_history_and_logs_the_cleared(web):
    org = user("unit_xn").org
    stale = make_device(org=org, next_due=days(-15))
    still = make_device(org=org, next_due=days(-15))
    db.session.add(InspectionReport(report_no="MISSED-1", equipment_id=stale.id, agency_org_id=agency().id,
                                    region_code=stale.region_code, inspected_on=days(-10), conclusion="合格",
                                    next_due_date=days(355), source="import"))      # stored, never applied
    db.session.commit()
    assert stale.due_state == "overdue"
    page = web("xn_supervisor")
    resp = page.post("/overdue/correct", data={"scope": "selected", "ids": [str(stale.id), str(still.id)], "reason": ""})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Equipment, stale.id).due_state == "overdue"        # no reason: nothing done
    page.post("/overdue/correct", data={"scope": "selected", "ids": [str(stale.id), str(still.id)],
                                        "reason": "检验报告已补录，重新计算"})
    db.session.expire_all()
    assert (db.session.get(Equipment, stale.id).due_state, db.session.get(Equipment, still.id).due_state) == \
        ("valid", "overdue")
    [log] = db.session.scalars(select(OverdueAction).where(OverdueAction.action == "correction")).all()
    assert log.equipment_id == stale.id and log.actor_id == user("xn_supervisor").id
    assert log.reason == "检验报告已补录，重新计算" and "超期未检 → 在有效期内" in log.summary
    records = page.get(f"/overdue/records?action=correction&q={stale.code}").get_data(as_text=True)
    assert "误报纠正" in records and stale.code in records
    rows = read_xlsx(page.get("/overdue/records/export.xlsx?action=correction").data)
    assert rows[1][1] == stale.code and rows[1][5] == "误报纠正"
    # the whole filter: a second stale device found through the ledger's filter
    db.session.add(InspectionReport(report_no="MISSED-2", equipment_id=still.id, agency_org_id=agency().id,
                                    region_code=still.region_code, inspected_on=days(-5), conclusion="合格",
                                    next_due_date=days(360), source="import"))
    db.session.commit()
    result = ledger.correct(user("xn_supervisor"), None, ledger.LedgerFilter(q=still.code), "批量重新计算")
    assert result["cleared"] == [still.id]


def test_ledger_pages_and_api(app, web, api):
    for late in (5, 50, 500):       # the test's own overdue devices: other tests may change the demo ones
        make_device(org=user("unit_xn").org, next_due=days(-late))
    db.session.commit()
    _fresh()
    page = web("xn_supervisor").get("/overdue").get_data(as_text=True)
    assert "排查治理台账" in page and "批量发起处置" in page and "按种类分布" in page
    assert web("unit_xn").get("/overdue").status_code == 403
    sup = api("xn_supervisor")
    body = check(app, sup.get("/api/v1/overdue/ledger?per_page=5"), 200)
    assert body["counts"]["overdue"] >= 3 and body["drill_label"] == "种类" and body["items"]
    assert all(i["due_state"] in ("overdue", "due_1m", "due_2m", "due_3m") for i in body["items"])
    check(app, api("unit_xn").get("/api/v1/overdue/ledger"), 403)
    org = user("unit_xn").org
    late = make_device(org=org, next_due=days(-4))
    db.session.commit()
    check(app, sup.post("/api/v1/overdue/batch-start", json={"ids": []}), 422)
    started = check(app, sup.post("/api/v1/overdue/batch-start", json={"ids": [late.id]}), 201)
    assert started["count"] == 1
    check(app, sup.post("/api/v1/overdue/batch-start", json={"ids": [late.id]}), 409)
    check(app, api("qx_supervisor").post("/api/v1/overdue/batch-start", json={"ids": [late.id]}), 409)
    check(app, sup.post("/api/v1/overdue/correct", json={"ids": [late.id], "reason": "短"}), 422)
    corrected = check(app, sup.post("/api/v1/overdue/correct", json={"filter": {"q": late.code}, "reason": "重新核对检验信息"}), 200)
    assert corrected["checked"] == 1 and corrected["cleared"] == []
    records = check(app, sup.get(f"/api/v1/overdue/records?q={late.code}"), 200)
    assert [r["action"] for r in records["items"]] == ["started"]
    assert check(app, api("unit_xn").get(f"/api/v1/overdue/records?q={late.code}"), 200)["total"] == 1
    assert check(app, api("unit_qx").get(f"/api/v1/overdue/records?q={late.code}"), 200)["total"] == 0
