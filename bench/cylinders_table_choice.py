"""Why cylinders have their own table: the same N cylinders written into a copy of the registry's
`equipment` table (its 37 columns and 15 indexes) and into a copy of `cylinder` (24 columns, 7 indexes),
then the storage per row, the write time and the two read paths compared (PostgreSQL, gx_cylinders, after
bench/cylinders.py generated the cylinders):

    .venv/bin/python bench/cylinders_table_choice.py [--rows 200000]
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

import psycopg

from common import database_url

EQUIPMENT_INSERT = """
INSERT INTO probe_equipment (code, name, category_code, use_org_id, region_code, registered_region_code, status,
    created_at, factory_no, maker_name, manufacture_date, design_life_years, next_inspection_date, registration_no)
SELECT trace_code, '气瓶', '2300', owner_org_id, region_code, region_code, status, created_at, factory_no,
    maker_name, manufacture_date, design_life_years, next_inspection_date, registration_no
FROM cylinder WHERE owner_org_id IS NOT NULL ORDER BY id LIMIT %s"""
CYLINDER_INSERT = """
INSERT INTO probe_cylinder (trace_code, factory_no, maker_org_id, maker_name, batch_no, kind, medium, volume_l,
    nominal_pressure_mpa, manufacture_date, design_life_years, owner_org_id, region_code, reg_state,
    registration_no, last_inspection_date, next_inspection_date, status, created_at)
SELECT trace_code, factory_no, maker_org_id, maker_name, batch_no, kind, medium, volume_l, nominal_pressure_mpa,
    manufacture_date, design_life_years, owner_org_id, region_code, reg_state, registration_no,
    last_inspection_date, next_inspection_date, status, created_at
FROM cylinder WHERE owner_org_id IS NOT NULL ORDER BY id LIMIT %s"""


def _median_ms(conn, sql: str, params: list) -> float:
    samples = []
    for p in params:
        t = time.perf_counter()
        conn.execute(sql, p).fetchall()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    url = database_url("cylinders").replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        for table, like in (("probe_equipment", "equipment"), ("probe_cylinder", "cylinder")):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE TABLE {table} (LIKE {like} INCLUDING DEFAULTS INCLUDING INDEXES)")
        results = {}
        for table, sql, key, owner in (("probe_equipment", EQUIPMENT_INSERT, "code", "use_org_id"),
                                       ("probe_cylinder", CYLINDER_INSERT, "trace_code", "owner_org_id")):
            indexes = conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", (table,)).fetchone()[0]
            columns = conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = %s",
                                   (table,)).fetchone()[0]
            t = time.perf_counter()
            conn.execute(sql, (args.rows,))
            seconds = time.perf_counter() - t
            conn.execute(f"VACUUM ANALYZE {table}")
            size = conn.execute("SELECT pg_relation_size(%s), pg_total_relation_size(%s)", (table, table)).fetchone()
            codes = [r[0] for r in conn.execute(f"SELECT {key} FROM {table} TABLESAMPLE SYSTEM (5) LIMIT 300")]
            random.Random(1).shuffle(codes)
            lookup = _median_ms(conn, f"SELECT * FROM {table} WHERE {key} = %s", [(c,) for c in codes])
            owners = [r[0] for r in conn.execute(f"SELECT {owner} FROM {table} GROUP BY {owner} "
                                                 f"ORDER BY count(*) DESC LIMIT 5")]
            page = _median_ms(conn, f"SELECT * FROM {table} WHERE {owner} = %s ORDER BY id DESC LIMIT 20",
                              [(o,) for o in owners * 4])
            count = _median_ms(conn, f"SELECT count(*) FROM {table} WHERE {owner} = %s", [(o,) for o in owners * 4])
            results[table] = (columns, indexes, seconds, size[0] / args.rows, size[1] / args.rows, lookup, page, count)
        print(f"同样 {args.rows:,} 只气瓶写入两种表结构（PostgreSQL）：")
        print("| 表结构 | 列 | 索引 | 写入 | 表 字节/行 | 含索引 字节/行 | 按编码查询 | 单位首页 20 条 | 单位计数 |")
        print("|---|---|---|---|---|---|---|---|---|")
        for table, label in (("probe_equipment", "设备登记 equipment"), ("probe_cylinder", "气瓶 cylinder")):
            c, i, s, row, total, lookup, page, count = results[table]
            print(f"| {label} | {c} | {i} | {s:.1f} s | {row:.0f} | {total:.0f} | {lookup:.2f} ms | {page:.2f} ms | "
                  f"{count:.1f} ms |")
        for table in ("probe_equipment", "probe_cylinder"):
            conn.execute(f"DROP TABLE {table}")


if __name__ == "__main__":
    main()
