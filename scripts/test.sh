#!/usr/bin/env bash
# One command: install everything the tests need, then run the whole suite twice,
# on SQLite and on PostgreSQL (127.0.0.1:5432). Under CI=true a missing PostgreSQL fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "» 安装 chromium 与中文字体 (Debian 软件包)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  else
    echo "!! 需要 chromium 与 fonts-noto-cjk: sudo apt-get install chromium fonts-noto-cjk" >&2
  fi
fi
export TZ=UTC
PG_URL="${PG_TEST_URL:-postgresql://postgres@127.0.0.1:5432/test}"
# pytest-xdist: TEST_WORKERS processes (default: one per CPU plus one — tests wait on the database and
# the browser part of the time), each with its own database; work-stealing keeps the long browser
# tests from ending up queued behind each other. TEST_WORKERS=0 runs in this one process.
WORKERS="${TEST_WORKERS:-$(( $(nproc) + 1 ))}"
PYTEST=(.venv/bin/python -m pytest -q)
if [ "$WORKERS" != "0" ]; then PYTEST+=(-n "$WORKERS" --dist worksteal); fi
status=0
echo "===== SQLite ====="
TEST_DB=sqlite "${PYTEST[@]}" "$@" || status=$?
echo "===== PostgreSQL ($PG_URL) ====="
if .venv/bin/python -c "import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=5).close()" "$PG_URL" 2>/dev/null; then
  TEST_DB=postgres PG_TEST_URL="$PG_URL" "${PYTEST[@]}" "$@" || status=$?
elif [ "${CI:-}" = "true" ]; then
  echo "!! PostgreSQL 不可用 ($PG_URL)，CI 下视为失败" >&2
  status=1
else
  echo "!! PostgreSQL 不可用 ($PG_URL)，本地跳过 PostgreSQL 测试" >&2
fi
exit $status
