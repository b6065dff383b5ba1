"""The dependency locks (scripts/lock.sh) cover every pinned requirement with hashes, and the
offline vulnerability check (scripts/vulncheck.py) finds affected versions in a local OSV export."""
from __future__ import annotations

import importlib.util
import json
import pathlib
import re
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("vulncheck", ROOT / "scripts" / "vulncheck.py")
vulncheck = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vulncheck)


def _pins(path: pathlib.Path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(\S+)$", line.split("#")[0].strip())
        if m:
            found[vulncheck.norm(m.group(1))] = m.group(2)
    return found


def test_every_pinned_requirement_is_in_the_lock_with_hashes():
    for source, lock in (("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")):
        locked = vulncheck.read_pins([ROOT / lock])
        wanted = _pins(ROOT / source)
        stale = {n: v for n, v in wanted.items() if locked.get(n) != v}
        assert stale == {}, f"{source} pins {stale} that {lock} lacks: run scripts/lock.sh and commit the locks"
        text = (ROOT / lock).read_text(encoding="utf-8")
        blocks = re.split(r"\n(?=[A-Za-z0-9._-]+==)", text.split("\n", 2)[2])
        assert all("--hash=sha256:" in b for b in blocks if "==" in b.split("\n")[0]), f"{lock}: a package without hashes"
    runtime, dev = vulncheck.read_pins([ROOT / "requirements.lock"]), vulncheck.read_pins([ROOT / "requirements-dev.lock"])
    assert {n: v for n, v in runtime.items() if dev.get(n) != v} == {}, "the dev lock holds the runtime versions"


def _osv(tmp_path, records) -> pathlib.Path:
    path = tmp_path / "PyPI-all.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for r in records:
            archive.writestr(f"{r['id']}.json", json.dumps(r))
    return path


def test_the_offline_check_reports_affected_locked_versions(tmp_path, capsys):
    lock = tmp_path / "x.lock"
    lock.write_text("flask==3.1.3 \\\n    --hash=sha256:00\npillow==13.0.0 \\\n    --hash=sha256:00\njinja2==3.1.6\n")
    db = _osv(tmp_path, [
        {"id": "PYSEC-T-1", "modified": "2026-11-30T00:00:00Z", "aliases": ["CVE-2099-1"], "summary": "affects flask",
         "affected": [{"package": {"ecosystem": "PyPI", "name": "Flask"},
                       "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "3.0.0"}, {"fixed": "3.1.4"}]}]}]},
        {"id": "PYSEC-T-2", "summary": "fixed before our pillow",
         "affected": [{"package": {"ecosystem": "PyPI", "name": "pillow"},
                       "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "12.0.0"}]}]}]},
        {"id": "PYSEC-T-3", "summary": "listed version", "affected": [
            {"package": {"ecosystem": "PyPI", "name": "jinja2"}, "versions": ["3.1.6"]}]},
        {"id": "PYSEC-T-4", "withdrawn": "2026-01-01", "summary": "withdrawn", "affected": [
            {"package": {"ecosystem": "PyPI", "name": "flask"}, "versions": ["3.1.3"]}]},
        {"id": "GHSA-T-5", "summary": "another ecosystem", "affected": [
            {"package": {"ecosystem": "npm", "name": "flask"}, "versions": ["3.1.3"]}]},
        {"id": "PYSEC-T-6", "summary": "last affected", "affected": [{"package": {"ecosystem": "PyPI", "name": "pillow"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "10.0"}, {"last_affected": "12.9"}]}]}]},
    ])
    assert vulncheck.main(["--db", str(db), str(lock)]) == 1
    out = capsys.readouterr().out
    assert "flask==3.1.3  PYSEC-T-1（CVE-2099-1）" in out and "修复版本 3.1.4" in out
    assert "jinja2==3.1.6  PYSEC-T-3" in out
    assert "PYSEC-T-2" not in out and "PYSEC-T-4" not in out and "GHSA-T-5" not in out and "PYSEC-T-6" not in out
    assert "发现 2 个漏洞" in out
    assert vulncheck.main(["--db", str(tmp_path / "none.zip"), str(lock)]) == 2


def test_the_check_runs_over_the_real_locks(tmp_path, capsys):
    db = _osv(tmp_path, [{"id": "PYSEC-T-8", "summary": "x", "affected": [
        {"package": {"ecosystem": "PyPI", "name": "nothing-we-use"}, "versions": ["1.0"]}]}])
    assert vulncheck.main(["--db", str(db)]) == 0
    assert "未发现已知漏洞" in capsys.readouterr().out
