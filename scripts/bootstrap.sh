#!/usr/bin/env bash
# Create .venv and install the locked requirements (again only when the lock changes).
# The locks (scripts/lock.sh) pin every package, direct or pulled in, with the sha256 of its files:
# pip refuses a file whose hash differs, wherever it comes from (PyPI or the local wheel mirror).
#   LOCK=requirements.lock        production: runtime packages only
#   LOCK=requirements-dev.lock    default: with the test tools
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
LOCK="${LOCK:-requirements-dev.lock}"
if [ ! -x .venv/bin/python ]; then
  echo "» 创建虚拟环境 .venv"
  "$PYTHON" -m venv .venv
fi
# A requirement pinned in requirements*.txt but missing from the lock (added without re-locking):
# install the unlocked files instead of failing, and say what to run.
stale=$("$PYTHON" - "$LOCK" <<'PY'
import re, sys
lock = open(sys.argv[1], encoding="utf-8").read().lower()
locked = set(re.findall(r"^([a-z0-9._-]+==[^\s\\;]+)", lock, re.M))
norm = lambda name: re.sub(r"[-_.]+", "-", name.lower())
locked = {norm(p.split("==")[0]) + "==" + p.split("==")[1] for p in locked}
files = ["requirements.txt"] + (["requirements-dev.txt"] if "dev" in sys.argv[1] else [])
for path in files:
    for line in open(path, encoding="utf-8"):
        line = line.split("#")[0].strip()
        m = re.match(r"^([A-Za-z0-9._-]+)(\[[^\]]*\])?==(\S+)$", line)
        if m and norm(m.group(1)) + "==" + m.group(3).lower() not in locked:
            print(line)
PY
)
stamp=.venv/.requirements.sha256
if [ -n "$stale" ]; then
  want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
  source="requirements-dev.txt（锁文件未包含：$(echo $stale)；请运行 scripts/lock.sh 后提交锁文件）"
  install=(-r requirements-dev.txt)
  [ "$LOCK" = "requirements.lock" ] && install=(-r requirements.txt)
else
  want=$(sha256sum "$LOCK" | cut -d' ' -f1)
  source="$LOCK（逐个文件校验 sha256）"
  install=(--require-hashes -r "$LOCK")
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "» 安装依赖：$source"
  .venv/bin/pip install --quiet --disable-pip-version-check "${install[@]}"
  echo "$want" > "$stamp"
fi
