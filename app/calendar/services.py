"""Working-day arithmetic on the Chinese calendar (weekends, statutory holidays, 调休 make-up days).

Counting rule (documented in docs/法定时限.md): a limit of "n个工作日" starting on day S ends on the
n-th working day AFTER S — the day of the triggering act is not counted (期间开始的当日不计入), as
in administrative practice. Special days are few (~40 per year): all of them are kept in a process
cache, reloaded at most every CACHE_TTL seconds and at once after an edit in this process.
"""
from __future__ import annotations

import io
import json
import os
import re
import time
from datetime import date, timedelta

from sqlalchemy import delete, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from ..core.clock import utcnow
from ..errors import NotFound, ValidationFailed
from ..extensions import db
from .models import KIND_LABELS, YEAR_STATUS_LABELS, WorkCalendarDay, WorkCalendarYear

DATA_FILE = os.path.join(os.path.dirname(__file__), "data", "cn_holidays.json")
CACHE_TTL = 60.0
MAX_WORKING_DAYS = 3660

_CACHE: dict = {}


def invalidate() -> None:
    _CACHE.clear()


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session, _previous) -> None:
    if session.info.pop("work_calendar_dirty", False):
        invalidate()


def _mark_dirty() -> None:
    db.session.info["work_calendar_dirty"] = True
    invalidate()


def _special() -> tuple[dict[date, str], dict[date, str]]:
    """(holidays, make-up workdays): day → name."""
    now = time.monotonic()
    if not _CACHE or now - _CACHE["at"] > CACHE_TTL:
        holidays, workdays = {}, {}
        for day, kind, name in db.session.execute(select(WorkCalendarDay.day, WorkCalendarDay.kind,
                                                         WorkCalendarDay.name)):
            (holidays if kind == "holiday" else workdays)[day] = name
        _CACHE.update(at=now, holidays=holidays, workdays=workdays)
    return _CACHE["holidays"], _CACHE["workdays"]


def _as_date(value) -> date:
    if isinstance(value, date):
        return value if type(value) is date else value.date()
    return date.fromisoformat(str(value)[:10])


def is_working_day(day) -> bool:
    day = _as_date(day)
    holidays, workdays = _special()
    if day in workdays:
        return True
    if day in holidays:
        return False
    return day.weekday() < 5


def add_working_days(start, n: int) -> date:
    """The n-th working day after `start` (start itself not counted); n < 0 counts backwards;
    n == 0 returns start."""
    start, n = _as_date(start), int(n)
    if abs(n) > MAX_WORKING_DAYS:
        raise ValueError(f"工作日数 {n} 超出范围（最多 {MAX_WORKING_DAYS}）")
    holidays, workdays = _special()
    step = timedelta(days=1 if n >= 0 else -1)
    day, left = start, abs(n)
    while left:
        day += step
        if day in workdays or (day not in holidays and day.weekday() < 5):
            left -= 1
    return day


def working_days_between(a, b) -> int:
    """Working days in (a, b] — so working_days_between(s, add_working_days(s, n)) == n;
    negative when b is before a."""
    a, b = _as_date(a), _as_date(b)
    if b < a:
        return -working_days_between(b, a)
    holidays, workdays = _special()
    count, day = 0, a
    while day < b:
        day += timedelta(days=1)
        if day in workdays or (day not in holidays and day.weekday() < 5):
            count += 1
    return count


def day_info(day: date) -> dict:
    holidays, workdays = _special()
    if day in workdays:
        return {"working": True, "kind": "workday", "name": workdays[day]}
    if day in holidays:
        return {"working": False, "kind": "holiday", "name": holidays[day]}
    weekend = day.weekday() >= 5
    return {"working": not weekend, "kind": "weekend" if weekend else "normal", "name": ""}


# ---------------------------------------------------------------- years

def year_record(year: int) -> WorkCalendarYear | None:
    return db.session.scalar(select(WorkCalendarYear).where(WorkCalendarYear.year == year))


def year_status_label(year: int) -> str:
    record = year_record(year)
    return record.status_label if record else "未录入（仅按周末计算）"


def years_overview() -> list[dict]:
    records = {r.year: r for r in db.session.scalars(select(WorkCalendarYear))}
    this_year = date.today().year
    years = sorted(set(records) | {this_year, this_year + 1})
    out = []
    for y in years:
        r = records.get(y)
        out.append({"year": y, "status": r.status if r else "missing",
                    "label": r.status_label if r else "未录入（仅按周末计算）", "record": r})
    return out


def days_of_year(year: int) -> list[WorkCalendarDay]:
    return list(db.session.scalars(select(WorkCalendarDay).where(
        WorkCalendarDay.day >= date(year, 1, 1), WorkCalendarDay.day <= date(year, 12, 31))
        .order_by(WorkCalendarDay.day)))


def _set_year(year: int, status: str, source: str | None, url: str | None, actor) -> WorkCalendarYear:
    record = year_record(year)
    if record is None:
        record = WorkCalendarYear(year=year, status=status)
        db.session.add(record)
    record.status, record.source, record.source_url = status, source, url
    record.updated_by_id, record.updated_at = actor.id if actor else None, utcnow()
    return record


def ensure_builtin_years() -> list[int]:
    """Idempotent seed from data/cn_holidays.json: a year already recorded in the database
    (loaded by the data file or maintained by an administrator) is left untouched.
    Returns the years loaded now."""
    with open(DATA_FILE, encoding="utf-8") as fh:
        data = json.load(fh)
    loaded = []
    for entry in data["years"]:
        if year_record(entry["year"]) is not None:
            continue
        _set_year(entry["year"], entry["status"], entry.get("source"), entry.get("source_url"), None)
        rows = _expand(entry)
        for day, kind, name in rows:
            if db.session.scalar(select(WorkCalendarDay.id).where(WorkCalendarDay.day == day)) is None:
                db.session.add(WorkCalendarDay(day=day, kind=kind, name=name, source=entry.get("source")))
        loaded.append(entry["year"])
    db.session.flush()
    invalidate()
    return loaded


def _expand(entry: dict) -> list[tuple[date, str, str]]:
    rows = []
    for h in entry.get("holidays", []):
        day, end = date.fromisoformat(h["from"]), date.fromisoformat(h["to"])
        while day <= end:
            rows.append((day, "holiday", h["name"]))
            day += timedelta(days=1)
    for w in entry.get("workdays", []):
        rows.append((date.fromisoformat(w["day"]), "workday", w["name"]))
    return rows


# ---------------------------------------------------------------- administration (audited)

def _audit(summary: str, detail: dict) -> None:
    from ..security.audit import audit
    audit("config.change", summary, object_type="work_calendar", object_id=str(detail.get("day") or detail.get("year")),
          detail=detail)


def _clean_text(value, limit: int) -> str:
    return re.sub(r"\s+", " ", str(value or "")).strip()[:limit + 1]


def validate_day(raw: dict, *, existing_id: int | None = None) -> tuple[date, str, str, str | None]:
    errors = {}
    day = None
    try:
        day = date.fromisoformat(str(raw.get("day") or "").strip())
    except ValueError:
        errors["day"] = "请填写有效日期，格式如 2026-10-10"
    kind = str(raw.get("kind") or "").strip()
    if kind not in KIND_LABELS:
        errors["kind"] = "请选择类型：放假 或 调休上班"
    name = _clean_text(raw.get("name"), 50)
    if not name:
        errors["name"] = "请填写名称，如 国庆节 或 国庆节调休上班"
    elif len(name) > 50:
        errors["name"] = "名称不能超过 50 个字"
    source = _clean_text(raw.get("source"), 500) or None
    if source and len(source) > 500:
        errors["source"] = "依据不能超过 500 个字"
    if day is not None and not errors.get("kind"):
        if kind == "workday" and day.weekday() < 5:
            errors["kind"] = f"{day.isoformat()} 是周{'一二三四五'[day.weekday()]}，本来就是工作日，无需登记为调休上班"
        if day.year < 2000 or day.year > 2100:
            errors["day"] = "日期应在 2000 至 2100 年之间"
    if day is not None and "day" not in errors:
        other = db.session.scalar(select(WorkCalendarDay).where(WorkCalendarDay.day == day))
        if other is not None and other.id != existing_id:
            errors["day"] = f"{day.isoformat()} 已登记为{other.kind_label}（{other.name}），请修改该条记录"
    if errors:
        raise ValidationFailed(errors)
    return day, kind, name, source


def save_day(raw: dict, actor, day_id: int | None = None) -> WorkCalendarDay:
    row = None
    if day_id is not None:
        row = db.session.get(WorkCalendarDay, day_id)
        if row is None:
            raise NotFound("该特殊日期不存在")
    day, kind, name, source = validate_day(raw, existing_id=day_id)
    before = {"day": row.day.isoformat(), "kind": row.kind, "name": row.name, "source": row.source} if row else None
    if row is None:
        row = WorkCalendarDay(day=day)
        db.session.add(row)
    row.day, row.kind, row.name, row.source = day, kind, name, source
    row.updated_by_id, row.updated_at = actor.id, utcnow()
    db.session.flush()
    after = {"day": day.isoformat(), "kind": kind, "name": name, "source": source}
    verb = "修改" if before else "新增"
    _audit(f"工作日历{verb}特殊日期 {day.isoformat()} {KIND_LABELS[kind]}（{name}）",
           {"day": day.isoformat(), "before": before, "after": after})
    _mark_dirty()
    return row


def delete_day(day_id: int, actor) -> date:
    row = db.session.get(WorkCalendarDay, day_id)
    if row is None:
        raise NotFound("该特殊日期不存在")
    detail = {"day": row.day.isoformat(), "before": {"kind": row.kind, "name": row.name, "source": row.source},
              "after": None}
    day = row.day
    db.session.delete(row)
    db.session.flush()
    _audit(f"工作日历删除特殊日期 {day.isoformat()}（{detail['before']['name']}）", detail)
    _mark_dirty()
    return day


def save_year(year: int, raw: dict, actor) -> WorkCalendarYear:
    errors = {}
    status = str(raw.get("status") or "")
    if status not in YEAR_STATUS_LABELS:
        errors["status"] = "请选择年度状态"
    source = _clean_text(raw.get("source"), 500) or None
    url = _clean_text(raw.get("source_url"), 500) or None
    if status == "loaded" and not source:
        errors["source"] = "标记为已发布时须填写通知名称（数据来源）"
    if source and len(source) > 500:
        errors["source"] = "数据来源不能超过 500 个字"
    if url and (len(url) > 500 or not re.match(r"^https?://[^\s<>\"']+$", url)):
        errors["source_url"] = "请填写以 http:// 或 https:// 开头的网址"
    if not 2000 <= year <= 2100:
        errors["year"] = "年份应在 2000 至 2100 之间"
    if errors:
        raise ValidationFailed(errors)
    before = year_record(year)
    before_d = {"status": before.status, "source": before.source, "source_url": before.source_url} if before else None
    record = _set_year(year, status, source, url, actor)
    db.session.flush()
    _audit(f"工作日历 {year} 年状态设为：{YEAR_STATUS_LABELS[status]}",
           {"year": year, "before": before_d, "after": {"status": status, "source": source, "source_url": url}})
    _mark_dirty()
    return record


KIND_WORDS = {"放假": "holiday", "休息": "holiday", "holiday": "holiday",
              "上班": "workday", "调休上班": "workday", "补班": "workday", "workday": "workday"}


def _parse_rows(rows: list[tuple[int, list]], year: int) -> tuple[list[tuple[date, str, str]], list[str]]:
    """Rows of (line number, [起始日期, 结束日期, 类型, 名称])."""
    out, errors = [], []
    for lineno, cells in rows:
        cells = [str(c).strip() if c is not None else "" for c in cells] + ["", "", "", ""]
        start_s, end_s, kind_s, name = cells[:4]
        if not any((start_s, end_s, kind_s, name)):
            continue
        try:
            start = date.fromisoformat(start_s[:10])
            end = date.fromisoformat(end_s[:10]) if end_s else start
        except ValueError:
            errors.append(f"第 {lineno} 行：日期无效（应为 2026-10-01 这样的格式）")
            continue
        kind = KIND_WORDS.get(kind_s)
        if kind is None:
            errors.append(f"第 {lineno} 行：类型应为“放假”或“上班”")
            continue
        if not name or len(name) > 50:
            errors.append(f"第 {lineno} 行：名称必填且不超过 50 个字")
            continue
        if start.year != year or end.year != year or end < start or (end - start).days > 40:
            errors.append(f"第 {lineno} 行：日期须在 {year} 年内，结束日期不早于开始日期")
            continue
        day = start
        while day <= end:
            if kind == "workday" and day.weekday() < 5:
                errors.append(f"第 {lineno} 行：{day.isoformat()} 是工作日（周一至周五），不能登记为调休上班")
                break
            out.append((day, kind, name))
            day += timedelta(days=1)
    seen: dict[date, str] = {}
    for day, kind, _ in out:
        if day in seen:
            errors.append(f"{day.isoformat()} 重复出现")
        seen[day] = kind
    return out, errors


def read_import_file(filename: str, content: bytes) -> list[tuple[int, list]]:
    """A .xlsx (columns 开始日期/结束日期/类型/名称, header row skipped) or UTF-8 text
    (one line each: 开始日期,结束日期,类型,名称; '#' starts a comment). Type by content."""
    if content[:4] == b"PK\x03\x04":
        from openpyxl import load_workbook
        try:
            wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable workbook is the user's file problem
            raise ValidationFailed({"file": "无法读取该 Excel 文件，请使用导入模板"}) from err
        ws = wb.worksheets[0]
        rows = []
        for i, row in enumerate(ws.iter_rows(values_only=True), start=1):
            if i == 1 and row and str(row[0] or "").strip() in ("开始日期", "日期"):
                continue
            cells = [(c.date().isoformat() if hasattr(c, "date") and callable(c.date) else c) for c in row[:4]]
            rows.append((i, list(cells)))
            if i > 2000:
                break
        return rows
    if b"\x00" in content:
        raise ValidationFailed({"file": "文件类型不支持：请上传 .xlsx 或 UTF-8 文本文件"})
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValidationFailed({"file": "文本文件须为 UTF-8 编码"}) from err
    rows = []
    for i, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if line:
            rows.append((i, [c.strip() for c in re.split(r"[,，\t]", line)]))
    return rows


def import_year(year: int, filename: str, content: bytes, source: str, source_url: str | None, actor) -> int:
    """Replace the special days of `year` with the file's and mark the year loaded — all or nothing."""
    if not 2000 <= year <= 2100:
        raise ValidationFailed({"year": "年份应在 2000 至 2100 之间"})
    if not content:
        raise ValidationFailed({"file": "请选择要导入的文件"})
    if len(content) > 1024 * 1024:
        raise ValidationFailed({"file": "文件不能超过 1 MB"})
    if not _clean_text(source, 500):
        raise ValidationFailed({"source": "请填写数据来源（通知名称、文号或发布机关）"})
    rows, errors = _parse_rows(read_import_file(filename, content), year)
    if not errors and not rows:
        errors.append("文件中没有任何日期行")
    if errors:
        raise ValidationFailed({"file": "；".join(errors[:20]) + ("……" if len(errors) > 20 else "")})
    before = [(d.day.isoformat(), d.kind, d.name) for d in days_of_year(year)]
    db.session.execute(delete(WorkCalendarDay).where(WorkCalendarDay.day >= date(year, 1, 1),
                                                     WorkCalendarDay.day <= date(year, 12, 31)))
    src = _clean_text(source, 500)
    for day, kind, name in rows:
        db.session.add(WorkCalendarDay(day=day, kind=kind, name=name, source=src, updated_by_id=actor.id))
    _set_year(year, "loaded", src, _clean_text(source_url, 500) or None, actor)
    db.session.flush()
    _audit(f"工作日历导入 {year} 年节假日安排（{len(rows)} 天）",
           {"year": year, "before": before, "after": [(d.isoformat(), k, n) for d, k, n in rows], "source": src})
    _mark_dirty()
    return len(rows)


TEMPLATE_TEXT = """# 工作日历导入模板（UTF-8 文本；Excel 文件请用同样的四列：开始日期、结束日期、类型、名称）
# 每行：开始日期,结束日期,类型,名称   类型为“放假”或“上班”（调休上班）；单日可不填结束日期
# 导入会替换该年度全部特殊日期，并把该年度标记为“已发布并录入”
2026-10-01,2026-10-07,放假,国庆节
2026-10-10,,上班,国庆节调休上班
"""
