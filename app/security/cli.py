"""flask audit verify | checkpoint · flask pii rotate · flask security self-test."""
from __future__ import annotations

import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from ..extensions import db


def rotate_pii(batch: int = 500, table: str | None = None, echo=lambda _msg: None) -> dict[str, int]:
    """Re-encrypt every encrypted column whose key id is not the active one, in batches, each batch
    committed on its own: running cases keep working during the rotation (a row is readable under
    the old key until its batch commits, under the new one after), and a stopped run resumes."""
    from ..core.pii import ENCRYPTED_FIELDS, key_id_of, reencrypt
    from .audit import audit
    active = current_app.config["PII_ACTIVE_KEY_ID"]
    done: dict[str, int] = {}
    for model, enc_attr, ref_attr, column in ENCRYPTED_FIELDS:
        name = f"{model.__tablename__}.{column}"
        if table and model.__tablename__ != table:
            continue
        enc_col, ref_col = getattr(model, enc_attr), getattr(model, ref_attr)
        count, last_id = 0, 0
        while True:
            rows = db.session.execute(select(model.id, enc_col, ref_col).where(model.id > last_id, enc_col.isnot(None))
                                      .order_by(model.id).limit(batch)).all()
            if not rows:
                break
            last_id = rows[-1][0]
            stale = [(rid, blob, ref) for rid, blob, ref in rows if key_id_of(blob) != active]
            for rid, blob, ref in stale:
                new_blob = reencrypt(blob, table=model.__tablename__, column=column, ref=ref, key_id=active)
                db.session.execute(model.__table__.update().where(model.__table__.c.id == rid)
                                   .values({enc_col.key: new_blob}))
            db.session.commit()
            count += len(stale)
        done[name] = count
        echo(f"{name}: 重新加密 {count} 条")
    audit("pii.rotate", f"个人信息字段密钥轮换：当前密钥 {active}，重新加密 {sum(done.values())} 条",
          detail={"active_key_id": active, "columns": done})
    db.session.commit()
    return done


def remaining_under_old_keys() -> dict[str, int]:
    from ..core.pii import ENCRYPTED_FIELDS, key_id_of
    active = current_app.config["PII_ACTIVE_KEY_ID"]
    left = {}
    for model, enc_attr, _ref, column in ENCRYPTED_FIELDS:
        enc_col = getattr(model, enc_attr)
        n = sum(1 for (blob,) in db.session.execute(select(enc_col).where(enc_col.isnot(None))
                                                    .execution_options(yield_per=5000))
                if key_id_of(blob) != active)
        left[f"{model.__tablename__}.{column}"] = n
    return left


def register(app: Flask) -> None:
    audit_group = AppGroup("audit", help="安全审计: 校验审计链与检查点")

    @audit_group.command("verify")
    @click.option("--timelines/--no-timelines", default=True, help="同时校验每个案件的流转记录链")
    def verify_command(timelines: bool):
        """Check the whole audit chain (HMAC-SM3 links, SM2 checkpoints) and name the first broken entry."""
        from .audit import audit, verify_chain
        started = time.perf_counter()
        result = verify_chain()
        for problem in result.problems:
            click.echo(problem, err=True)
        for note in result.notes:
            click.echo("注意：" + note, err=True)
        click.echo(f"审计日志：校验 {result.checked} 条、{result.checkpoints} 个 SM2 检查点、"
                   f"{result.anchored} 个库外锚定检查点，"
                   + ("通过" if result.ok else f"失败（首个异常：第 {result.first_bad_id} 条）"))
        broken_cases = 0
        if timelines:
            from ..cases.models import Case
            from ..engine.runtime import verify_all_timelines
            for case_no, seq, reason in verify_all_timelines():
                broken_cases += 1
                click.echo(f"案件 {case_no} 的流转记录第 {seq} 条校验失败：{reason}", err=True)
            total = db.session.scalar(select(func.count(Case.id)))
            click.echo(f"流转记录：{total} 个案件，" + ("全部通过" if not broken_cases else f"{broken_cases} 个失败"))
        ok = result.ok and not broken_cases
        audit("audit.verify", "命令行校验审计链" + ("通过" if ok else "失败"), outcome="success" if ok else "failure",
              detail={"checked": result.checked, "anchored": result.anchored, "first_bad_id": result.first_bad_id,
                      "broken_cases": broken_cases,
                      "seconds": round(time.perf_counter() - started, 2)})
        db.session.commit()
        if not ok:
            raise SystemExit(1)

    @audit_group.command("checkpoint")
    def checkpoint_command():
        """Sign the current end of the audit chain with the SM2 audit key now."""
        from .audit import make_checkpoint
        cp = make_checkpoint()
        db.session.commit()
        click.echo(f"已签署检查点：截至第 {cp.upto_id} 条" if cp else "自上个检查点以来没有新记录（或未配置签名密钥）")

    pii_group = AppGroup("pii", help="个人信息字段加密")

    @pii_group.command("rotate")
    @click.option("--batch", default=500, show_default=True, help="每批重新加密的行数（每批单独提交）")
    @click.option("--table", default=None, help="只处理指定表")
    def rotate_command(batch: int, table: str | None):
        """Re-encrypt every personal-data field under PII_ACTIVE_KEY_ID (run after adding a new key)."""
        active = current_app.config["PII_ACTIVE_KEY_ID"]
        click.echo(f"当前加密密钥编号 {active}；逐批重新加密使用旧密钥的字段……")
        started = time.perf_counter()
        done = rotate_pii(batch, table, echo=click.echo)
        left = remaining_under_old_keys()
        click.echo(f"完成：{sum(done.values())} 条，用时 {time.perf_counter() - started:.1f} 秒；"
                   f"仍使用旧密钥的记录 {sum(left.values())} 条" + ("（可以停用旧密钥）" if not any(left.values()) else ""))

    @pii_group.command("status")
    def status_command():
        """How many encrypted values each key id still protects."""
        left = remaining_under_old_keys()
        for name, n in left.items():
            click.echo(f"{name}: 使用旧密钥 {n} 条")

    app.cli.add_command(audit_group)
    app.cli.add_command(pii_group)
