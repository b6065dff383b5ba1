"""The jobs. Each is idempotent, commits its own work in small transactions, and can be
re-run after a crash: work is either committed with its effects or not at all."""
from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from flask import current_app
from sqlalchemy import select, update

from ..cases.models import Case
from ..core.clock import as_utc, utcnow
from ..engine.runtime import fire_timers, refresh_warnings
from ..extensions import db
from ..hazards.services import refresh_hazard_warnings
from ..sms.services import dispatch_due
from .models import JobRun
from .parallel import due_count, fire_in_parallel
from .reminders import send_inspection_reminders

log = logging.getLogger(__name__)

TIMER_BATCH = 200
TIMER_RETRY_CAP = timedelta(hours=6)


@dataclass
class JobResult:
    items: int = 0
    failures: int = 0


@dataclass(frozen=True)
class Job:
    name: str
    label: str
    description: str
    interval_seconds: int
    fn: Callable[[], JobResult]

    @property
    def every(self) -> str:
        n = self.interval_seconds
        if n % 3600 == 0:
            return f"每 {n // 3600} 小时"
        if n % 60 == 0:
            return f"每 {n // 60} 分钟"
        return f"每 {n} 秒"


def _is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def _timer_backoff(failures: int) -> timedelta:
    return min(timedelta(minutes=2 ** min(failures, 12)), TIMER_RETRY_CAP)


def _due_batch(batch_size: int, seen: set[int]) -> list[Case]:
    query = (select(Case).where(Case.status == "running", Case.next_timer_at <= utcnow())
             .order_by(Case.next_timer_at, Case.id).limit(batch_size)
             .execution_options(populate_existing=True))
    if _is_postgres():
        query = query.with_for_update(skip_locked=True, of=Case)
    return [c for c in db.session.scalars(query) if c.id not in seen]


def _fire_one(case: Case) -> None:
    fire_timers(case)
    if case.timer_failures:
        case.timer_failures, case.timer_error = 0, None


def fire_due_timers(batch_size: int | None = None) -> JobResult:
    """Fire every case timer that is due (boundary/intermediate timers: deadlines, escalations,
    reminders). Cases are taken in batches with FOR UPDATE SKIP LOCKED on PostgreSQL and each
    batch commits once, so a crash leaves every case either fired with all its effects or
    untouched. If any case of a batch fails, the batch is rolled back and its cases are redone
    one transaction each, so one broken case cannot stop the others; the broken one keeps its
    error and is retried with back-off."""
    result = JobResult()
    seen: set[int] = set()
    while True:
        cases = _due_batch(batch_size or TIMER_BATCH, seen)
        if not cases:
            db.session.rollback()
            return result
        ids = [case.id for case in cases]
        seen.update(ids)
        try:
            for case in cases:
                _fire_one(case)
            db.session.commit()
            result.items += len(cases)
        except Exception:  # noqa: BLE001 - redo this batch case by case to isolate the culprit
            db.session.rollback()
            for case_id in ids:
                outcome = _fire_alone(case_id)
                if outcome is not None:
                    result.items += outcome
                    result.failures += not outcome


def _fire_alone(case_id: int) -> bool | None:
    """One case in its own transaction; a failure is recorded on the case with back-off.
    None: nothing to do any more (another worker took it, or it is no longer due)."""
    now = utcnow()
    query = select(Case).where(Case.id == case_id, Case.status == "running", Case.next_timer_at <= now)
    if _is_postgres():
        query = query.with_for_update(skip_locked=True)
    case = db.session.scalar(query.execution_options(populate_existing=True))
    if case is None:
        db.session.rollback()
        return None
    try:
        _fire_one(case)
        db.session.commit()
        return True
    except Exception as err:  # noqa: BLE001 - recorded on the case, retried with back-off
        db.session.rollback()
        log.exception("timer of case %s failed", case_id)
        failures = (db.session.scalar(select(Case.timer_failures).where(Case.id == case_id)) or 0) + 1
        db.session.execute(update(Case).where(Case.id == case_id).values(
            timer_failures=failures, timer_error=f"{type(err).__name__}: {err}"[:500],
            next_timer_at=now + _timer_backoff(failures)).execution_options(synchronize_session=False))
        db.session.commit()
        return False


def refresh_warning_levels() -> JobResult:
    changed = refresh_warnings() + refresh_hazard_warnings()
    db.session.commit()
    return JobResult(items=changed)


SMS_PASS_SECONDS = 20.0


def dispatch_sms() -> JobResult:
    """Send what is due, 500 at a time, until nothing is left or the pass has used its time
    (the next tick carries on): a backlog drains without one pass running for ever."""
    result, started = JobResult(), time.monotonic()
    while time.monotonic() - started < SMS_PASS_SECONDS:
        handled, failed = dispatch_due()
        result.items += handled
        result.failures += failed
        if handled == 0:
            break
    return result


def inspection_reminders() -> JobResult:
    queued, _considered = send_inspection_reminders()
    return JobResult(items=queued)


def timers_job() -> JobResult:
    """The scheduled pass: one process normally; several when a large backlog is due."""
    workers = current_app.config.get("SCHEDULER_TIMER_WORKERS", 1)
    if workers > 1 and _is_postgres() and due_count() >= current_app.config.get("SCHEDULER_PARALLEL_FROM", 1000):
        db.session.rollback()
        items, failures = fire_in_parallel(fire_due_timers, workers)
        return JobResult(items=items, failures=failures)
    return fire_due_timers()


def due_states() -> JobResult:
    """Inspection due states as of today (rules/inspection_due.dmn); only devices whose state changed are written."""
    from ..registry.due import recompute_all
    changed = recompute_all()
    db.session.commit()
    return JobResult(items=changed)


def registry_sms() -> JobResult:
    """The SMS centre's registry templates (app/registry/triggers.py), deduplicated per object and period."""
    from ..registry.triggers import run_all as run_triggers
    return JobResult(items=sum(run_triggers().values()))


def authority_messages() -> JobResult:
    from ..overdue.authority import send_pending
    sent, failed = send_pending()
    return JobResult(items=sent, failures=failed)


def resume_imports() -> JobResult:
    from ..core.importer import resume_stale
    return JobResult(items=resume_stale())


def hazard_checks() -> JobResult:
    """The current period's check task of every active hazard-checking plan (one per plan and period)."""
    from ..general_hazards.services import generate_checks
    made = generate_checks()
    db.session.commit()
    return JobResult(items=made)


def cylinder_partitions() -> JobResult:
    """Monthly partitions of the cylinder filling records, this month and three ahead (PostgreSQL)."""
    from ..cylinders.partitions import add_months
    return JobResult(items=len(add_months(3)))


def elevator_warnings() -> JobResult:
    """电梯维保异常预警 (rules/elevator_warning.dmn): 逾期未保 over all elevators, the visit rules over the last days."""
    from ..elevator_supervision.rules import nightly
    counts = nightly()
    return JobResult(items=sum(v for k, v in counts.items() if k != "sms"))


def elevator_stats() -> JobResult:
    """电梯维保统计: recompute the daily summary of the last days (late bulk writes; idempotent)."""
    from ..elevator_supervision.summary import rebuild_recent
    return JobResult(items=rebuild_recent()["rows"])


RUN_RETENTION = timedelta(days=30)          # successful runs
ERROR_RETENTION = timedelta(days=180)       # runs that failed: kept for the audit of incidents


SESSION_RETENTION = timedelta(days=180)     # ended login sessions (the audit log keeps logins for good)


def housekeeping() -> JobResult:
    """Drop old job-run records (a tick every 30 s writes ~9,000 a day), ended sessions past
    retention and expired rate-limit windows. The audit log is never purged by the application."""
    from sqlalchemy import delete, or_

    from ..security.models import UserSession
    from ..security.ratelimit import purge_old
    now = utcnow()
    result = db.session.execute(delete(JobRun).where(or_(
        (JobRun.status == "ok") & (JobRun.started_at < now - RUN_RETENTION),
        JobRun.started_at < now - ERROR_RETENTION)).execution_options(synchronize_session=False))
    sessions = db.session.execute(delete(UserSession).where(UserSession.ended_at < now - SESSION_RETENTION)
                                  .execution_options(synchronize_session=False))
    windows = purge_old()
    from ..security.throttle import purge_stale
    windows += purge_stale(now)
    from ..complaints.services import purge_old_checks
    windows += purge_old_checks(now)      # 投诉举报: expired captchas and SMS codes, old attempts
    db.session.commit()
    return JobResult(items=(result.rowcount or 0) + (sessions.rowcount or 0) + windows)


def audit_job() -> JobResult:
    """Sign an SM2 checkpoint over the audit chain when it grew; verify the whole chain once a day
    (the result is itself an audit entry, failure → the audit administrators see it first)."""
    from ..security.audit import audit, make_checkpoint, verify_chain
    from ..security.models import AuditLog
    items = 0
    if make_checkpoint() is not None:
        items += 1
    db.session.commit()
    last = db.session.scalar(select(AuditLog.at).where(AuditLog.event_type == "audit.verify",
                                                      AuditLog.actor_id.is_(None))
                             .order_by(AuditLog.id.desc()).limit(1))
    if last is None or utcnow() - as_utc(last) > timedelta(hours=24):
        result = verify_chain()
        audit("audit.verify", "每日审计链校验" + ("通过" if result.ok else "失败：" + result.problems[0]),
              outcome="success" if result.ok else "failure",
              detail={"checked": result.checked, "first_bad_id": result.first_bad_id})
        db.session.commit()
        items += 1
        if not result.ok:
            return JobResult(items=items, failures=1)
    return JobResult(items=items)


JOBS: dict[str, Job] = {job.name: job for job in [
    Job("timers", "定时器与超期升级", "触发到期的 BPMN 定时器（整改期限届满、超期升级督办等），按流程模型升级并生成督办任务与短信",
        30, timers_job),
    Job("warnings", "预警等级刷新", "按 rules/warning_level.dmn 重新计算待办任务、案件与隐患的蓝/黄/橙/红预警等级", 600,
        refresh_warning_levels),
    Job("inspections", "定期检验提醒", "下次检验日期30天内的在用设备发“定期检验提醒”（每个检验周期一次），超期未检的每周发一次“超期未检提醒”",
        3600, inspection_reminders),
    Job("due_states", "检验到期状态", "按 rules/inspection_due.dmn 重算每台设备的到期状态（超期 / 1、2、3个月内到期 / 有效 / 不需检验），只写入有变化的设备",
        3600, due_states),
    Job("registry_sms", "登记类短信预警", "使用登记、生产许可/资质、检验员与作业人员证书到期、临近/超过设计使用年限、简单压力容器、指令书期限临近、检验不合格：按模板给相关人员发短信，每个对象每个周期一次",
        6 * 3600, registry_sms),
    Job("authority", "推送使用登记机关", "把公告注销结果发送给使用登记机关（失败按退避重试）", 60, authority_messages),
    Job("imports", "导入任务恢复", "重新运行因进程退出而中断或未开始的 Excel 导入（已导入的行计为未变化，重跑安全）", 300,
        resume_imports),
    Job("housekeeping", "运行记录清理", "删除30天前成功的运行记录和180天前的出错记录、180天前结束的登录会话与过期的限频计数；审计日志不清理", 3600, housekeeping),
    Job("audit", "审计检查点与校验", "审计日志有新增时以 SM2 签署检查点（每 10 分钟）；每日校验整条 HMAC-SM3 审计链", 600,
        audit_job),
    Job("sms", "短信发送", "发送短信发件箱中到期的短信：限频、去重、失败重试（指数退避）", 30, dispatch_sms),
    Job("hazard_checks", "隐患排查任务生成", "按使用单位的隐患排查计划（年度/季度/月度）生成本周期的排查任务并提醒单位，每个计划每个周期一条",
        3600, hazard_checks),
    Job("cylinder_partitions", "气瓶充装记录分区", "按月建立气瓶充装记录的分区（本月及之后3个月，已有的跳过；PostgreSQL）",
        24 * 3600, cylinder_partitions),
    Job("elevator_warnings", "电梯维保异常预警", "按 rules/elevator_warning.dmn 计算逾期未保（全部在保电梯）、用时过短、超量、打卡位置、照片、持证、发现问题、机房与底坑照片间隔，同一原因只预警一次，并给维保单位和区县局发短信日报",
        24 * 3600, elevator_warnings),
    Job("elevator_stats", "电梯维保统计汇总", "按日重算最近 40 天的电梯维保统计汇总（日期 × 县区 × 维保单位 × 维保人员：记录数、用时、按类型、预警按类型），集合重算、可重复运行；更早的日期用 flask elevator-stats rebuild",
        24 * 3600, elevator_stats),
]}


def run_job(name: str, trigger: str = "schedule", user_id: int | None = None) -> JobRun:
    """Run one job and record it. Never raises for job errors: they are stored on the run."""
    job = JOBS[name]
    run = JobRun(job=name, trigger=trigger, started_at=utcnow(), status="running",
                 host=f"{socket.gethostname()}:{os.getpid()}", started_by_id=user_id)
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    started = time.perf_counter()
    try:
        result = job.fn()
        status, error = "ok", None
    except BaseException as err:  # noqa: BLE001 - even a crash is recorded before it propagates
        db.session.rollback()
        result, status = JobResult(), "error"
        error = "".join(traceback.format_exception_only(type(err), err)).strip()[:4000]
        _finish(run_id, started, result, status, error)
        if not isinstance(err, Exception):
            raise
        log.exception("job %s failed", name)
        return db.session.get(JobRun, run_id)
    _finish(run_id, started, result, status, error)
    return db.session.get(JobRun, run_id)


def _finish(run_id: int, started: float, result: JobResult, status: str, error: str | None) -> None:
    run = db.session.get(JobRun, run_id)
    run.finished_at = utcnow()
    run.duration_ms = int((time.perf_counter() - started) * 1000)
    run.items, run.failures, run.status, run.error = result.items, result.failures, status, error
    db.session.commit()


def run_all(trigger: str = "cli") -> list[JobRun]:
    return [run_job(name, trigger) for name in JOBS]
