"""Gas-cylinder traceability at scale (PostgreSQL, database gx_cylinders):

    .venv/bin/python bench/cylinders.py [--cylinders 500000] [--fillings 5000000] [--import-rows 50000]

Generates makers, fillers, cylinders and a year of fillings (app/cylinders/generate.py; filler 0 holds 4 %,
i.e. the province's average filler even at a tenth of the province), then prints, through the real pages
and API (Flask test client, logged in):

- archive lookup by trace code (target < 10 ms): GET /api/v1/cylinders/trace/<code>, province supervisor;
- a filler's archive page (target < 300 ms): GET /cylinders, first and 50th page, with the total;
- a filler's fillings for a month (target < 500 ms): GET /cylinders/fillings?month=…, with the total;
- a county's archive page (GET /cylinders as 兴宁区's supervisor);
- Excel import of N cylinders with row errors (target 50,000 < 2 min): the importer run synchronously.
"""
from __future__ import annotations

import argparse
import io
import random
import statistics
import time

from common import use_database


def _timed(fn, n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1 if len(samples) > 1 else 0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cylinders", type=int, default=500_000)
    parser.add_argument("--fillings", type=int, default=5_000_000)
    parser.add_argument("--import-rows", type=int, default=50_000)
    args = parser.parse_args()
    use_database("cylinders", create=True)
    from app import create_app
    from app.config import Config
    app = create_app(Config(PASSWORD_ITERATIONS=1000, RATELIMIT_ENABLED=False))
    with app.app_context():
        from flask_migrate import upgrade
        from sqlalchemy import func, select, text

        from app.cli import deploy_all
        from app.core.gm import hash_password
        from app.core.models import Organization, User
        from app.cylinders.generate import generate
        from app.cylinders.models import Cylinder, CylinderFilling
        from app.demo import seed
        from app.extensions import db
        upgrade()
        deploy_all()
        seed(iterations=1000, with_cases=False)
        db.session.commit()
        have = db.session.scalar(select(func.count(Cylinder.id)))
        if have < args.cylinders:
            print(generate(args.cylinders - have, args.fillings, out=print))
        total_c = db.session.scalar(text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'cylinder'"))
        total_f = db.session.scalar(select(func.count()).select_from(CylinderFilling))
        biggest = db.session.scalar(select(Organization.id).where(Organization.name == "气瓶生成充装单位0000（演示）"))
        print(f"数据：气瓶 ≈{total_c:,} 只，充装记录 {total_f:,} 条；最大充装单位 id {biggest}")
        if db.session.scalar(select(User.id).where(User.username == "bench_filler")) is None:
            db.session.add(User(username="bench_filler", display_name="压测充装单位", role="filling_unit",
                                region_code=db.session.get(Organization, biggest).region_code, org_id=biggest,
                                password_hash=hash_password("Demo@2026", 1000)))
            db.session.commit()
        mine = db.session.scalar(select(func.count()).where(Cylinder.owner_org_id == biggest))
        codes = [f"GX{i:012d}" for i in random.Random(1).sample(range(1, total_c), 300)]
        month = db.session.scalar(text("SELECT to_char(date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') "
                                       "- interval '1 month', 'YYYY-MM')"))
        db.session.remove()

    def login(username):
        c = app.test_client()
        html = c.get("/login").get_data(as_text=True)
        token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        resp = c.post("/login", data={"username": username, "password": "Demo@2026", "csrf_token": token})
        assert resp.status_code == 302, resp.status_code
        return c

    province, filler, county = login("gx_province"), login("bench_filler"), login("xn_supervisor")
    it = iter(codes * 10)

    def trace():
        resp = province.get(f"/api/v1/cylinders/trace/{next(it)}")
        assert resp.status_code in (200, 404)
    for _ in range(20):
        trace()                                     # warm the pool and caches
    med, p95 = _timed(trace, 300)
    print(f"按溯源码查询（接口，浏览器会话，自治区局）：中位 {med:.1f} ms，P95 {p95:.1f} ms（目标 < 10 ms）")
    api = app.test_client()
    token = api.post("/api/v1/session", json={"username": "gx_province", "password": "Demo@2026"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def trace_token():
        resp = api.get(f"/api/v1/cylinders/trace/{next(it)}", headers=headers)
        assert resp.status_code in (200, 404)
    for _ in range(20):
        trace_token()
    med, p95 = _timed(trace_token, 300)
    print(f"按溯源码查询（接口，令牌，自治区局）：中位 {med:.1f} ms，P95 {p95:.1f} ms（目标 < 10 ms）")
    with app.app_context():
        from app.cylinders import services
        from app.extensions import db as _db
        user = _db.session.scalar(select(User).where(User.username == "gx_province"))
        it2 = iter(codes * 10)
        med, p95 = _timed(lambda: services.find_by_trace_code(user, next(it2)), 300)
        print(f"按溯源码查询（数据库，含数据范围）：中位 {med:.2f} ms，P95 {p95:.2f} ms")
        _db.session.remove()
    for label, url in (("充装单位档案首页", "/cylinders"), ("充装单位档案第 50 页", "/cylinders?page=50"),
                       ("充装单位档案按状态筛选", "/cylinders?status=in_use&reg_state=registered")):
        filler.get(url)
        med, p95 = _timed(lambda: filler.get(url), 15)
        print(f"{label}（{mine:,} 只）：中位 {med:.0f} ms，P95 {p95:.0f} ms（目标 < 300 ms）")
    url = f"/cylinders/fillings?month={month}"
    page = filler.get(url).get_data(as_text=True)
    shown = page.split('data-testid="pager-total">共 ', 1)[1].split(" ", 1)[0] if "pager-total" in page else "?"
    med, p95 = _timed(lambda: filler.get(url), 15)
    print(f"充装单位一个月的充装记录（{month}，{shown} 条）：中位 {med:.0f} ms，P95 {p95:.0f} ms（目标 < 500 ms）")
    api_url = f"/api/v1/cylinders/fillings?month={month}&per_page=100"
    med, p95 = _timed(lambda: filler.get(api_url), 15)
    print(f"同上（接口，每页 100 条）：中位 {med:.0f} ms，P95 {p95:.0f} ms")
    med, p95 = _timed(lambda: county.get("/cylinders"), 10)
    print(f"区县局气瓶档案首页（兴宁区）：中位 {med:.0f} ms，P95 {p95:.0f} ms")
    for label, url in (("自治区局气瓶档案首页（全区，总数计到 10 万）", "/cylinders"),
                       ("自治区局充装记录首页（全区，总数计到 10 万）", "/cylinders/fillings"),
                       (f"自治区局一个月的充装记录（{month}）", f"/cylinders/fillings?month={month}"),
                       ("自治区局按溯源码查询气瓶档案（登记验证）", f"/cylinders?q={codes[0]}")):
        province.get(url)
        med, p95 = _timed(lambda: province.get(url), 8)
        print(f"{label}：中位 {med:.0f} ms，P95 {p95:.0f} ms")
    if args.import_rows:
        _import(app, args.import_rows)


def _import(app, rows: int) -> None:
    from openpyxl import Workbook, load_workbook
    from sqlalchemy import delete, select
    from werkzeug.datastructures import FileStorage

    from app.core.importer import get_kind, run_job, start_import, template_bytes
    from app.core.models import User
    from app.cylinders.models import Cylinder
    from app.extensions import db
    with app.app_context():
        kind = get_kind("cylinders")
        headers = [c.value for c in load_workbook(io.BytesIO(template_bytes(kind))).active[1]]
        wb = Workbook(write_only=True)
        ws = wb.create_sheet()
        ws.append(headers)
        bad = 0
        for i in range(rows):
            volume = 35.5 if i % 100 else "大"            # 1 % of rows carry an error
            bad += 0 if i % 100 else 1
            ws.append([f"IMP{i:010d}", f"IMPF{i:08d}", "民用液化石油气瓶", "液化石油气", volume, 2.1, "2024-05-01", 8,
                       "演示气瓶制造有限公司", "PH202405", None, "2028-05-01"])
        buf = io.BytesIO()
        wb.save(buf)
        user = db.session.scalar(select(User).where(User.username == "bench_filler"))
        started = time.perf_counter()
        job = start_import("cylinders", user, FileStorage(io.BytesIO(buf.getvalue()), filename="气瓶导入.xlsx"))
        db.session.commit()
        job = run_job(job.id)
        seconds = time.perf_counter() - started
        print(f"Excel 导入 {rows:,} 行（{bad} 行有误）：{seconds:.1f} s，新增 {job.created:,}，错误 {job.failed}（目标 5 万行 < 2 分钟）")
        db.session.execute(delete(Cylinder).where(Cylinder.trace_code.like("IMP%")))
        db.session.commit()


if __name__ == "__main__":
    main()
