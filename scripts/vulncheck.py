#!/usr/bin/env python3
"""Offline vulnerability check of the locked dependencies against a local copy of the OSV database.

    python scripts/vulncheck.py [--db PATH] [LOCK ...]

PATH is the OSV export for PyPI — the zip https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip
(or a directory of its JSON records) fetched on a machine with internet access and copied here
(docs/部署手册.md 依赖与漏洞检查). Default: $OSV_DB, else instance/osv/PyPI-all.zip. LOCK files default
to requirements.lock and requirements-dev.lock.

Every `name==version` of the locks is compared with each record's affected versions (explicit list
and ECOSYSTEM ranges: introduced / fixed / last_affected / limit); withdrawn records are skipped.
Exit status: 0 nothing found, 1 vulnerable packages listed, 2 database or lock missing."""
from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import re
import sys
import zipfile

from packaging.version import InvalidVersion, Version

ROOT = pathlib.Path(__file__).resolve().parent.parent


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(paths: list[pathlib.Path]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s\\;]+)", line)
            if m:
                pins[norm(m.group(1))] = m.group(2)
    return pins


def records(db: pathlib.Path):
    """The JSON records of the database (a zip or a directory)."""
    if db.is_dir():
        for path in sorted(db.rglob("*.json")):
            yield json.loads(path.read_text(encoding="utf-8"))
        return
    with zipfile.ZipFile(db) as archive:
        for name in archive.namelist():
            if name.endswith(".json"):
                with archive.open(name) as fh:
                    yield json.load(io.TextIOWrapper(fh, encoding="utf-8"))


def _v(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def in_range(version: Version, events: list[dict]) -> bool:
    def key(ev):
        value = next(iter(ev.values()))
        return (Version("0") if value == "0" else (_v(value) or Version("0")), 0 if "introduced" in ev else 1)
    affected = False
    for ev in sorted(events, key=key):
        if "introduced" in ev:
            start = ev["introduced"]
            if start == "0" or ((s := _v(start)) is not None and version >= s):
                affected = True
        elif "fixed" in ev and (f := _v(ev["fixed"])) is not None and version >= f:
            affected = False
        elif "last_affected" in ev and (last := _v(ev["last_affected"])) is not None and version > last:
            affected = False
        elif "limit" in ev and (lim := _v(ev["limit"])) is not None and version >= lim:
            affected = False
    return affected


def affects(affected: dict, version: str) -> bool:
    if version in affected.get("versions", []):
        return True
    parsed = _v(version)
    if parsed is None:
        return False
    return any(r.get("type") in ("ECOSYSTEM", "SEMVER") and in_range(parsed, r.get("events", []))
               for r in affected.get("ranges", []))


def fixed_in(affected: dict) -> list[str]:
    return sorted({ev["fixed"] for r in affected.get("ranges", []) for ev in r.get("events", []) if "fixed" in ev})


def check(db: pathlib.Path, pins: dict[str, str]) -> tuple[list[dict], int, str]:
    findings, count, newest = [], 0, ""
    for record in records(db):
        count += 1
        newest = max(newest, record.get("modified", ""))
        if record.get("withdrawn"):
            continue
        for affected in record.get("affected", []):
            package = affected.get("package", {})
            if package.get("ecosystem") != "PyPI":
                continue
            name = norm(package.get("name", ""))
            if name in pins and affects(affected, pins[name]):
                findings.append({"package": name, "version": pins[name], "id": record.get("id"),
                                 "aliases": record.get("aliases", []), "summary": record.get("summary", ""),
                                 "fixed": fixed_in(affected)})
    return findings, count, newest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="离线依赖漏洞检查（本地 OSV 数据库）")
    parser.add_argument("--db", default=os.environ.get("OSV_DB", str(ROOT / "instance" / "osv" / "PyPI-all.zip")))
    parser.add_argument("locks", nargs="*", default=[str(ROOT / "requirements.lock"), str(ROOT / "requirements-dev.lock")])
    args = parser.parse_args(argv)
    db = pathlib.Path(args.db)
    if not db.exists():
        print(f"找不到 OSV 数据库 {db}：在可访问互联网的机器上下载 "
              "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip，复制到本机后用 --db 或 OSV_DB 指定",
              file=sys.stderr)
        return 2
    locks = [pathlib.Path(p) for p in args.locks]
    missing = [str(p) for p in locks if not p.exists()]
    if missing:
        print(f"找不到锁文件：{'、'.join(missing)}（先运行 scripts/lock.sh）", file=sys.stderr)
        return 2
    pins = read_pins(locks)
    findings, count, newest = check(db, pins)
    print(f"检查 {len(pins)} 个锁定的包，OSV 记录 {count} 条（最新更新 {newest[:10] or '未知'}）")
    for f in sorted(findings, key=lambda f: (f["package"], f["id"] or "")):
        alias = f"（{'、'.join(f['aliases'])}）" if f["aliases"] else ""
        fix = f"；修复版本 {'、'.join(f['fixed'])}" if f["fixed"] else "；尚无修复版本"
        print(f"  {f['package']}=={f['version']}  {f['id']}{alias}  {f['summary'][:120]}{fix}")
    print(f"发现 {len(findings)} 个漏洞" if findings else "未发现已知漏洞")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
