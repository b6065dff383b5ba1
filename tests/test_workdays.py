"""Working-day calendar: 2026 data, counting rule, admin edits change deadlines, dueIn "10WD"."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import delete, select

from app.calendar import services as cal
from app.calendar.models import WorkCalendarDay, WorkCalendarYear
from app.extensions import db

from .conftest import user


@pytest.fixture
def calendar_restored():
    """Tests that edit the calendar put the seeded 2026 days back (the cleanup removes added rows
    only, and the per-process cache must forget the edit)."""
    seeded = [(d.id, d.day, d.kind, d.name, d.source) for d in db.session.scalars(select(WorkCalendarDay))]
    years = [(y.id, y.year, y.status, y.source, y.source_url) for y in db.session.scalars(select(WorkCalendarYear))]
    yield
    db.session.rollback()
    db.session.execute(delete(WorkCalendarDay))
    db.session.execute(delete(WorkCalendarYear))
    for id_, day, kind, name, source in seeded:     # same ids: the cleanup removes rows above the seed mark
        db.session.add(WorkCalendarDay(id=id_, day=day, kind=kind, name=name, source=source))
    for id_, year, status, source, url in years:
        db.session.add(WorkCalendarYear(id=id_, year=year, status=status, source=source, source_url=url))
    db.session.commit()
    cal.invalidate()


def test_2026_notice_is_loaded_and_2027_is_unpublished():
    y2026, y2027 = cal.year_record(2026), cal.year_record(2027)
    assert y2026.status == "loaded" and "2026年部分节假日安排" in y2026.source
    assert y2027.status == "unpublished" and cal.year_status_label(2027) == "未发布（仅按周末计算）"
    # no invented 2027 holidays: 2027-10-01 (a Friday) counts as a working day until the notice is entered
    assert cal.is_working_day(date(2027, 10, 1))
    assert db.session.scalar(select(WorkCalendarDay).where(WorkCalendarDay.day >= date(2027, 1, 1))) is None
    holidays = [d for d in cal.days_of_year(2026) if d.kind == "holiday"]
    workdays = sorted(d.day.isoformat() for d in cal.days_of_year(2026) if d.kind == "workday")
    assert len(holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert workdays == ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]


def test_weekends_holidays_and_make_up_days():
    assert cal.is_working_day(date(2026, 9, 20))       # Sunday, 国庆节调休上班
    assert cal.is_working_day(date(2026, 10, 10))      # Saturday, 国庆节调休上班
    assert not cal.is_working_day(date(2026, 10, 11))  # ordinary Sunday
    assert not cal.is_working_day(date(2026, 9, 19))   # ordinary Saturday
    assert not cal.is_working_day(date(2026, 10, 1))   # 国庆节 (Thursday)
    assert not cal.is_working_day(date(2026, 10, 7))   # 国庆节 (Wednesday)
    assert not cal.is_working_day(date(2026, 9, 25))   # 中秋节 (Friday)
    assert cal.is_working_day(date(2026, 10, 8))       # Thursday after the holiday
    assert cal.is_working_day("2026-02-14") and not cal.is_working_day("2026-02-23")


def test_ten_working_days_across_national_day():
    # Rule: the day of the act is not counted; count working days from the next day.
    # From Mon 2026-09-28: 9-29 (1), 9-30 (2), 10-1…10-7 holiday, 10-8 (3), 10-9 (4),
    # Sat 10-10 调休 (5), Sun 10-11 rest, 10-12 (6), 10-13 (7), 10-14 (8), 10-15 (9), 10-16 (10).
    assert cal.add_working_days(date(2026, 9, 28), 10) == date(2026, 10, 16)
    assert cal.working_days_between(date(2026, 9, 28), date(2026, 10, 16)) == 10
    # From Fri 2026-09-18: Sat 9-19 rest, Sun 9-20 调休 (1), 9-21 (2), 9-22 (3), 9-23 (4), 9-24 (5),
    # 9-25…9-27 中秋, 9-28 (6), 9-29 (7), 9-30 (8), 10-8 (9), 10-9 (10).
    assert cal.add_working_days(date(2026, 9, 18), 10) == date(2026, 10, 9)
    # Ordinary weeks: weekends are skipped.
    assert cal.add_working_days(date(2026, 3, 6), 5) == date(2026, 3, 13)
    assert cal.add_working_days(date(2026, 3, 6), 0) == date(2026, 3, 6)
    assert cal.add_working_days(date(2026, 10, 16), -10) == date(2026, 9, 28)
    assert cal.working_days_between(date(2026, 10, 16), date(2026, 9, 28)) == -10
    # 2027 is unpublished: weekends only.
    assert cal.add_working_days(date(2027, 9, 30), 3) == date(2027, 10, 5)


def test_sandbox_helpers_and_working_day_due_rule(app):
    from app.engine import runtime
    from app.engine.scripting import SCRIPT_ENGINE
    env = SCRIPT_ENGINE.environment
    assert env.evaluate("working_days('2026-09-28', 10)", {}) == "2026-10-16"
    assert env.evaluate("working_days_between(start, '2026-10-16')", {"start": "2026-09-28"}) == 10
    assert env.evaluate("is_working_day('2026-10-10')", {}) is True
    # dueIn "10WD" / "P10WD": end of the 10th working day after today (Asia/Shanghai)
    now = datetime(2026, 9, 28, 2, 0, tzinfo=timezone.utc)          # 10:00 Beijing, Monday
    for expr in ("'10WD'", "'P10WD'", "str(n) + 'WD'"):
        due = runtime.due_from_expression(expr, {"n": 10}, now)
        assert due == datetime(2026, 10, 16, 15, 59, 59, tzinfo=timezone.utc), expr
    # ISO durations and dates keep working
    assert runtime.due_from_expression("'P10D'", {}, now) == datetime(2026, 10, 8, 2, 0, tzinfo=timezone.utc)
    assert runtime.due_from_expression("'2026-10-01'", {}, now) == datetime(2026, 10, 1, 15, 59, 59,
                                                                           tzinfo=timezone.utc)
    assert runtime.due_from_expression("working_days('2026-09-28', 3)", {}, now) == \
        datetime(2026, 10, 8, 15, 59, 59, tzinfo=timezone.utc)


def test_admin_edit_changes_the_deadline(calendar_restored):
    admin = user("sys_admin")
    assert cal.add_working_days(date(2026, 9, 28), 10) == date(2026, 10, 16)
    # The administrator adds a (hypothetical, test-only) extra rest day on Mon 2026-10-12 …
    row = cal.save_day({"day": "2026-10-12", "kind": "holiday", "name": "测试停工日"}, admin)
    db.session.commit()
    assert cal.add_working_days(date(2026, 9, 28), 10) == date(2026, 10, 19)
    # … turns it into a workday on Sun 10-11 instead (edit), then deletes it
    cal.save_day({"day": "2026-10-11", "kind": "workday", "name": "测试调休"}, admin, row.id)
    db.session.commit()
    assert cal.add_working_days(date(2026, 9, 28), 10) == date(2026, 10, 15)
    cal.delete_day(row.id, admin)
    db.session.commit()
    assert cal.add_working_days(date(2026, 9, 28), 10) == date(2026, 10, 16)
    from app.security.models import AuditLog
    entries = list(db.session.scalars(select(AuditLog).where(AuditLog.object_type == "work_calendar")
                                      .order_by(AuditLog.id)))
    assert [e.event_type for e in entries[-3:]] == ["config.change"] * 3
    assert "2026-10-12" in entries[-3].summary and "删除" in entries[-1].summary


def test_invalid_days_are_refused_per_field(calendar_restored):
    from app.errors import ValidationFailed
    admin = user("sys_admin")
    with pytest.raises(ValidationFailed) as err:
        cal.save_day({"day": "2026-13-01", "kind": "x", "name": ""}, admin)
    assert set(err.value.fields) == {"day", "kind", "name"}
    with pytest.raises(ValidationFailed) as err:
        cal.save_day({"day": "2026-10-12", "kind": "workday", "name": "周一调休"}, admin)
    assert "本来就是工作日" in err.value.fields["kind"]
    with pytest.raises(ValidationFailed) as err:
        cal.save_day({"day": "2026-10-01", "kind": "holiday", "name": "重复"}, admin)
    assert "已登记为放假" in err.value.fields["day"]


def test_import_year_replaces_days_all_or_nothing(calendar_restored):
    from app.errors import ValidationFailed
    admin = user("sys_admin")
    bad = "2027-10-01,2027-10-07,放假,国庆节\n2027-10-04,,上班,错误\n2027-02-30,,放假,无效日期\n".encode()
    with pytest.raises(ValidationFailed) as err:
        cal.import_year(2027, "2027.txt", bad, "测试通知", None, admin)
    assert "第 2 行" in err.value.fields["file"] and "第 3 行" in err.value.fields["file"]
    db.session.rollback()
    assert cal.days_of_year(2027) == [] and cal.year_record(2027).status == "unpublished"
    good = "# 测试数据\n2027-10-01,2027-10-07,放假,国庆节（测试）\n2027-10-09,,上班,国庆节调休（测试）\n".encode()
    assert cal.import_year(2027, "2027.txt", good, "测试通知（非真实数据）", "https://example.gov.cn/x", admin) == 8
    db.session.commit()
    assert cal.year_record(2027).status == "loaded"
    assert not cal.is_working_day(date(2027, 10, 1)) and cal.is_working_day(date(2027, 10, 9))


def test_seed_is_idempotent():
    assert db.session.scalar(select(db.func.count(WorkCalendarDay.id))) == 33 + 6   # the restore worked
    before = db.session.scalar(select(db.func.count(WorkCalendarDay.id)))
    assert cal.ensure_builtin_years() == []
    assert db.session.scalar(select(db.func.count(WorkCalendarDay.id))) == before
