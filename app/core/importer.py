"""The shared Excel importer: a domain declares an import kind; the importer gives it a downloadable
template, reads an uploaded workbook row by row, validates each row, imports the valid ones, and returns
an Excel error report naming row, column and reason. Large files run in the background with progress
(import_job); re-importing the same file changes nothing (rows equal to what is stored are "unchanged").

Declaring a kind (see app/registry/imports.py for units and devices, app/inspections/imports.py for
inspection reports):

    class CylinderKind(ImportKind):
        key, title = "cylinders", "气瓶"
        columns = [Column("code", "气瓶编号", required=True, max_length=32), Column("made_on", "制造日期", kind="date"), …]
        key_columns = ("code",)                  # the row's identity: duplicates in the file and the database
        def allowed(self, user): …               # who may import (raise Forbidden)
        def prepare(self, rows, ctx): …          # batch lookups for a chunk of parsed rows (existing rows by key …)
        def check(self, row, ctx): …             # business checks: {column key: reason}
        def existing(self, row, ctx): …          # the stored record with this row's key, or None
        def same(self, row, stored, ctx): …      # True when the row says what is stored (re-import: unchanged)
        def write(self, rows, ctx): …            # insert the valid new rows of a chunk (flush, no commit)

    register_kind(CylinderKind())

Generic checks done here for every kind: required cells, text length, dates (YYYY-MM-DD or Excel dates,
not in the future unless the column allows it), numbers, choices, Guangxi county regions (code or name,
with the replacement of a withdrawn code), USCC check characters (GB 32100) and duplicates of the key
within the file. The kind adds its own (device-code format, references, duplicates against the database).
"""
from __future__ import annotations

import io
import logging
import os
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable
from urllib.parse import quote

from flask import Response, current_app
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select

from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from .clock import today_local, utcnow
from .excel import _cell as spreadsheet_safe
from .gm import SM3Stream
from .models import ImportJob, Region, User
from .validators import is_valid_uscc

log = logging.getLogger(__name__)

CHUNK = 1000
MAX_ROWS = 200_000
MAX_BYTES = 50 * 1024 * 1024
STALE_AFTER = timedelta(minutes=10)      # a running job without progress for this long is resumed
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ---------------------------------------------------------------- declarations

@dataclass
class Column:
    key: str
    header: str
    required: bool = False
    kind: str = "text"                   # text | date | int | float | choice | region | uscc
    max_length: int | None = None
    choices: dict[str, str] | None = None    # cell text -> stored value
    minimum: float | None = None
    maximum: float | None = None
    future_ok: bool = False              # dates: may lie after today
    help: str = ""
    example: str = ""

    @property
    def title(self) -> str:
        return self.header + ("*" if self.required else "")


@dataclass
class Row:
    number: int                          # the Excel row number (header is row 1)
    raw: dict[str, Any]                  # column key -> cell value as read
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class Context:
    user: User
    job: ImportJob | None = None
    cache: dict = field(default_factory=dict)     # the kind's own lookups, kept across chunks


class ImportKind:
    key = ""
    title = ""
    description = ""
    columns: list[Column] = []
    key_columns: tuple[str, ...] = ()

    def allowed(self, user: User) -> None:
        raise Forbidden("您没有导入该类数据的权限")

    def prepare(self, rows: list[Row], ctx: Context) -> None:
        pass

    def check(self, row: Row, ctx: Context) -> dict[str, str]:
        return {}

    def existing(self, row: Row, ctx: Context):
        return None

    def same(self, row: Row, stored, ctx: Context) -> bool:
        return False

    def describe(self, stored) -> str:
        return "系统中已有该记录"

    def write(self, rows: list[Row], ctx: Context) -> None:
        raise NotImplementedError

    def finish(self, ctx: Context) -> None:
        """After the last chunk (e.g. one audit entry for the whole import)."""

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)

    def key_of(self, row: Row) -> tuple | None:
        values = tuple(row.values.get(k) for k in self.key_columns)
        return None if any(v in (None, "") for v in values) else values


_KINDS: dict[str, ImportKind] = {}


def register_kind(kind: ImportKind) -> ImportKind:
    _KINDS[kind.key] = kind
    return kind


def kinds() -> list[ImportKind]:
    return list(_KINDS.values())


def get_kind(key: str) -> ImportKind:
    kind = _KINDS.get(key)
    if kind is None:
        raise NotFound("没有这种导入类型")
    return kind


def kinds_for(user: User) -> list[ImportKind]:
    found = []
    for kind in _KINDS.values():
        try:
            kind.allowed(user)
        except Forbidden:
            continue
        found.append(kind)
    return found


# ---------------------------------------------------------------- template and error report

def template_bytes(kind: ImportKind) -> bytes:
    """The workbook users fill: the header row (required columns marked *), one example row, drop-down
    lists for choice columns, and a sheet explaining every column."""
    wb = Workbook()
    ws = wb.active
    ws.title = kind.title[:31]
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for i, col in enumerate(kind.columns, start=1):
        cell = ws.cell(row=1, column=i, value=col.title)
        cell.font, cell.fill = bold, fill
        ws.column_dimensions[cell.column_letter].width = max(12, len(col.title) * 2 + 2)
        if col.example:
            ws.cell(row=2, column=i, value=col.example)
        if col.kind == "choice" and col.choices:
            listed = ",".join(col.choices)
            if len(listed) < 250:
                dv = DataValidation(type="list", formula1=f'"{listed}"', allow_blank=not col.required)
                dv.error, dv.errorTitle = f"请从下拉列表中选择：{listed}", "选项无效"
                ws.add_data_validation(dv)
                dv.add(f"{cell.column_letter}2:{cell.column_letter}{MAX_ROWS}")
    ws.freeze_panes = "A2"
    notes = wb.create_sheet("填写说明")
    notes.append(["列名", "必填", "格式与要求", "示例"])
    for cell in notes[1]:
        cell.font = bold
    for col in kind.columns:
        notes.append([col.header, "是" if col.required else "否", _rule_text(col), col.example])
    notes.append([])
    notes.append([f"第一个工作表的第 1 行是列名，请勿修改；第 2 行为示例，导入前请删除或改写。{kind.description}"])
    notes.append(["同一文件可以重复导入：与系统中已有内容完全相同的行记为“未变化”，不会重复写入。"])
    for letter, width in zip("ABCD", (22, 6, 70, 30)):
        notes.column_dimensions[letter].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _rule_text(col: Column) -> str:
    if col.help:
        return col.help
    return {"date": "日期，格式 YYYY-MM-DD" + ("" if col.future_ok else "，不晚于今天"),
            "int": "整数", "float": "数字",
            "choice": "从以下选项中选择：" + "、".join(col.choices or {}),
            "region": "广西区县的6位行政区划代码或名称（如 450102 或 南宁市兴宁区）",
            "uscc": "18位统一社会信用代码（校验位按 GB 32100-2015 检查）"}.get(
        col.kind, f"文字{f'，最多 {col.max_length} 个字' if col.max_length else ''}")


def xlsx_response(body: bytes, filename: str) -> Response:
    return Response(body, mimetype=XLSX_MIME,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})


def _job_dir() -> str:
    path = os.path.join(current_app.config["INSTANCE_DIR"], "imports")
    os.makedirs(path, exist_ok=True)
    return path


def source_path(job: ImportJob) -> str:
    return os.path.join(_job_dir(), f"{job.id}-{job.sm3}.xlsx")


def report_path(job: ImportJob) -> str:
    return os.path.join(_job_dir(), f"{job.id}-errors.xlsx")


# ---------------------------------------------------------------- reading cells

_LEGACY: dict[str, str] | None = None


def _legacy_regions() -> dict[str, str]:
    """Withdrawn county codes → their replacement (divisions reference data, meta.legacy_code_map)."""
    global _LEGACY
    if _LEGACY is None:
        from .reference_data import _load
        _LEGACY = dict(_load("guangxi_divisions.json")["meta"].get("legacy_code_map") or {})
    return _LEGACY


def _regions(ctx: Context) -> tuple[dict[str, str], dict[str, str]]:
    """(county code -> full name, name -> code) of Guangxi's counties, read once per import."""
    if "regions" not in ctx.cache:
        rows = db.session.execute(select(Region.code, Region.name, Region.parent_code, Region.level)).all()
        names = {r.code: r.name for r in rows}
        by_code, by_name = {}, {}
        counts: dict[str, int] = {}
        for r in rows:
            if r.level == "county":
                full = names.get(r.parent_code or "", "") + r.name
                by_code[r.code] = full
                by_name[full] = r.code
                counts[r.name] = counts.get(r.name, 0) + 1
        for r in rows:
            if r.level == "county" and counts[r.name] == 1:
                by_name.setdefault(r.name, r.code)
        ctx.cache["regions"] = (by_code, by_name)
    return ctx.cache["regions"]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def parse_cell(col: Column, value, ctx: Context) -> tuple[Any, str | None]:
    """(parsed value, error) of one cell."""
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        return None, ("此项为必填项" if col.required else None)
    if col.kind == "date":
        if isinstance(value, datetime):
            day = value.date()
        elif isinstance(value, date):
            day = value
        else:
            text = _text(value).replace("/", "-").replace(".", "-")
            try:
                day = date.fromisoformat(text if len(text) == 10 else "-".join(
                    p.zfill(2) if i else p for i, p in enumerate(text.split("-"))))
            except ValueError:
                return None, "日期格式应为 YYYY-MM-DD，且是真实存在的日期"
        if not col.future_ok and day > today_local():
            return None, "日期不能晚于今天"
        if day.year < 1900:
            return None, "日期不合理"
        return day, None
    if col.kind in ("int", "float"):
        try:
            number = float(value) if not isinstance(value, (int, float)) else value
        except (TypeError, ValueError):
            return None, "请填写数字"
        if col.kind == "int":
            if float(number) != int(number):
                return None, "请填写整数"
            number = int(number)
        if col.minimum is not None and number < col.minimum or col.maximum is not None and number > col.maximum:
            return None, f"应在 {col.minimum:g}–{col.maximum:g} 之间"
        return number, None
    text = _text(value)
    if col.max_length and len(text) > col.max_length:
        return None, f"最多 {col.max_length} 个字符"
    if col.kind == "choice":
        if text not in (col.choices or {}):
            return None, "只能是：" + "、".join(col.choices or {})
        return col.choices[text], None
    if col.kind == "uscc":
        code = text.upper()
        if not is_valid_uscc(code):
            return None, "统一社会信用代码格式或校验位不正确（GB 32100-2015）"
        return code, None
    if col.kind == "region":
        by_code, by_name = _regions(ctx)
        if text.isdigit():
            if text in by_code:
                return text, None
            legacy = _legacy_regions().get(text)
            if legacy:
                return None, f"行政区划代码 {text} 已撤销，请改用 {legacy}（{by_code.get(legacy, '')}）"
            return None, "不是广西的区县行政区划代码"
        code = by_name.get(text)
        if code is None:
            return None, "不是广西的区县名称（如有重名请填写“市+区县”或6位代码）"
        return code, None
    return text, None


# ---------------------------------------------------------------- upload → job

def _check_workbook(path: str, kind: ImportKind, count_rows: bool = True) -> tuple[dict[int, str], int]:
    """Open the workbook by decoding it (not by its name or header bytes alone): {column index: key} of
    the header row and the number of data rows (0 unless counted). Raises ValidationFailed with the reason."""
    if not zipfile.is_zipfile(path):
        raise ValidationFailed({"file": "文件不是 Excel 工作簿（.xlsx）"})
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # noqa: BLE001 - any decoding failure means the same to the user
        raise ValidationFailed({"file": f"无法读取该 Excel 文件：{type(err).__name__}"}) from err
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None) or ()
        titles = {c.header: c.key for c in kind.columns}
        mapping: dict[int, str] = {}
        for i, value in enumerate(header):
            name = _text(value).rstrip("*").strip()
            if name in titles:
                mapping[i] = titles[name]
        missing = [c.header for c in kind.columns if c.required and c.key not in mapping.values()]
        if missing:
            raise ValidationFailed({"file": "第 1 行缺少必填列：" + "、".join(missing) + "（请使用下载的模板）"})
        if not count_rows:
            return mapping, 0
        count = sum(1 for row in rows if any(v not in (None, "") for v in row))
    finally:
        wb.close()
    if count == 0:
        raise ValidationFailed({"file": "文件中没有数据行"})
    if count > MAX_ROWS:
        raise ValidationFailed({"file": f"一次最多导入 {MAX_ROWS:,} 行，本文件有 {count:,} 行，请拆分后导入"})
    return mapping, count


def start_import(kind_key: str, user: User, upload) -> ImportJob:
    """Store the uploaded workbook, check it can be read and has the template's columns, and create the
    job (committed). The caller then runs it: `launch(job)`."""
    if not kinds_for(user):
        raise Forbidden("您的角色没有可导入的数据类型")
    if not kind_key:
        raise ValidationFailed({"kind": "请选择要导入的数据类型"})
    kind = get_kind(kind_key)
    kind.allowed(user)
    if upload is None or not getattr(upload, "filename", ""):
        raise ValidationFailed({"file": "请选择要导入的 Excel 文件"})
    filename = os.path.basename(upload.filename.replace("\\", "/"))[:200]
    if not filename.lower().endswith(".xlsx"):
        raise ValidationFailed({"file": "只能导入 .xlsx 格式的 Excel 文件（请使用下载的模板）"})
    digest, chunks, size = SM3Stream(), [], 0
    while chunk := upload.stream.read(1024 * 1024):
        size += len(chunk)
        if size > MAX_BYTES:
            raise ValidationFailed({"file": f"文件超过 {MAX_BYTES // (1024 * 1024)}MB 上限，请拆分后导入"})
        digest.update(chunk)
        chunks.append(chunk)
    job = ImportJob(kind=kind.key, user_id=user.id, filename=filename, sm3=digest.hexdigest(), status="queued",
                    total=0, processed=0, created=0, unchanged=0, failed=0, created_at=utcnow())
    db.session.add(job)
    db.session.flush()
    path = source_path(job)
    with open(path, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
    try:
        _mapping, count = _check_workbook(path, kind)
    except ValidationFailed:
        os.unlink(path)
        raise
    job.total = count
    db.session.commit()
    return job


def launch(job: ImportJob) -> None:
    """Run the job now (IMPORT_INLINE, tests) or in a background thread of this process."""
    if current_app.config.get("IMPORT_INLINE"):
        run_job(job.id)
        return
    app = current_app._get_current_object()

    def target(job_id=job.id):
        with app.app_context():
            try:
                run_job(job_id)
            finally:
                db.session.remove()
    threading.Thread(target=target, name=f"import-{job.id}", daemon=True).start()


def resume_stale() -> int:
    """Run jobs left queued or stuck (their process ended mid-way); re-running is safe because rows
    already imported come back unchanged. The scheduler calls this."""
    cutoff = utcnow() - STALE_AFTER
    ids = list(db.session.scalars(select(ImportJob.id).where(
        ImportJob.status.in_(("queued", "running")),
        ((ImportJob.updated_at.is_(None)) & (ImportJob.created_at < cutoff)) | (ImportJob.updated_at < cutoff))))
    db.session.rollback()
    for job_id in ids:
        run_job(job_id)
    return len(ids)


# ---------------------------------------------------------------- the run

def run_job(job_id: int) -> ImportJob:
    """Read, validate and import every row; commits per chunk (progress is visible while it runs)."""
    job = db.session.get(ImportJob, job_id)
    kind = get_kind(job.kind)
    ctx = Context(user=job.user, job=job)
    job.status, job.started_at, job.updated_at = "running", utcnow(), utcnow()
    job.processed = job.created = job.unchanged = job.failed = 0
    job.message = None
    db.session.commit()
    errors: list[tuple[int, str, str, list]] = []        # (row, column header, reason, raw values)
    headers = {c.key: c.header for c in kind.columns}
    seen: dict[tuple, int] = {}
    try:
        mapping, _count = _check_workbook(source_path(job), kind, count_rows=False)
        wb = load_workbook(source_path(job), read_only=True, data_only=True)
        try:
            batch: list[Row] = []
            for number, values in enumerate(wb.worksheets[0].iter_rows(min_row=2, values_only=True), start=2):
                if not any(v not in (None, "") for v in values):
                    continue
                raw = {key: values[i] if i < len(values) else None for i, key in mapping.items()}
                batch.append(Row(number, raw))
                if len(batch) >= CHUNK:
                    _run_chunk(kind, batch, ctx, seen, errors, headers, mapping)
                    batch = []
            if batch:
                _run_chunk(kind, batch, ctx, seen, errors, headers, mapping)
        finally:
            wb.close()
        kind.finish(ctx)
        _write_report(job, kind, errors, mapping)
        job.status, job.finished_at, job.updated_at = "done", utcnow(), utcnow()
        job.message = (f"共 {job.processed} 行：新增 {job.created} 行，未变化 {job.unchanged} 行，"
                       f"有误 {job.failed} 行" + ("（见错误报告）" if job.failed else ""))
        from ..security.audit import audit
        audit("record.change", f"Excel 导入{kind.title}：{job.message}", object_type="import_job", object_id=job.id,
              actor=job.user, detail={"kind": kind.key, "file": job.filename, "sm3": job.sm3, "created": job.created,
                                      "unchanged": job.unchanged, "failed": job.failed})
        db.session.commit()
    except Exception as err:  # noqa: BLE001 - the job records why it stopped
        db.session.rollback()
        log.exception("import job %s failed", job_id)
        job = db.session.get(ImportJob, job_id)
        job.status, job.finished_at, job.updated_at = "failed", utcnow(), utcnow()
        job.message = (err.fields.get("file") if isinstance(err, ValidationFailed) and err.fields.get("file")
                       else f"导入中断：{type(err).__name__}: {err}")[:2000]
        db.session.commit()
    return job


def _run_chunk(kind: ImportKind, rows: list[Row], ctx: Context, seen: dict, errors: list, headers: dict,
               mapping: dict) -> None:
    for row in rows:
        for col in kind.columns:
            value, error = parse_cell(col, row.raw.get(col.key), ctx)
            if error:
                row.errors[col.key] = error
            else:
                row.values[col.key] = value
    kind.prepare(rows, ctx)
    fresh: list[Row] = []
    unchanged = 0
    for row in rows:
        key = kind.key_of(row)
        if key is not None:
            first = seen.get(key)
            if first is not None:
                row.errors.setdefault(kind.key_columns[0], f"与本文件第 {first} 行重复")
            else:
                seen[key] = row.number
        if row.ok:
            row.errors.update(kind.check(row, ctx))
        if row.ok:
            stored = kind.existing(row, ctx)
            if stored is not None:
                if kind.same(row, stored, ctx):
                    unchanged += 1
                    continue
                row.errors[kind.key_columns[0]] = (f"{kind.describe(stored)}，且内容与本行不同；"
                                                   "导入只新增记录，修改已有记录请在系统中办理")
        if row.ok:
            fresh.append(row)
    if fresh:
        kind.write(fresh, ctx)
    order = list(mapping.values())
    for row in rows:
        for key, reason in row.errors.items():
            errors.append((row.number, headers.get(key, key), reason, [row.raw.get(k) for k in order]))
    job = ctx.job
    job.processed += len(rows)
    job.created += len(fresh)
    job.unchanged += unchanged
    job.failed += sum(1 for r in rows if not r.ok)
    job.updated_at = utcnow()
    db.session.commit()


def _write_report(job: ImportJob, kind: ImportKind, errors: list, mapping: dict) -> None:
    path = report_path(job)
    if not errors:
        if os.path.exists(path):
            os.unlink(path)
        return
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("错误明细")
    headers = {c.key: c.header for c in kind.columns}
    title = ["行号", "列", "原因"] + [headers[k] for k in mapping.values()]
    cells = []
    for text in title:
        cell = WriteOnlyCell(ws, value=text)
        cell.font = Font(bold=True)
        cells.append(cell)
    ws.append(cells)
    for number, column, reason, raw in errors:
        ws.append([number, column, reason] + [spreadsheet_safe(v) for v in raw])
    summary = wb.create_sheet("说明")
    summary.append([f"{kind.title}导入：{job.filename}"])
    summary.append([f"有误 {job.failed} 行（共 {len(errors)} 处错误）；改正后可将整个文件重新导入，已导入的行不会重复写入。"])
    wb.save(path)


def job_json(job: ImportJob) -> dict:
    from .clock import to_local
    def iso(value):
        local = to_local(value)
        return local.isoformat() if local else None
    return {"id": job.id, "kind": job.kind, "filename": job.filename, "status": job.status,
            "status_label": job.status_label, "total": job.total, "processed": job.processed,
            "created": job.created, "unchanged": job.unchanged, "failed": job.failed, "message": job.message,
            "has_error_report": job.status == "done" and job.failed > 0, "created_at": iso(job.created_at),
            "finished_at": iso(job.finished_at)}


def visible_job(user: User, job_id: int) -> ImportJob:
    job = db.session.get(ImportJob, job_id)
    if job is None or job.user_id != user.id:
        raise NotFound("导入记录不存在")
    return job


def iter_values(rows: Iterable[Row], key: str) -> set:
    return {r.values.get(key) for r in rows if r.values.get(key) not in (None, "")}
