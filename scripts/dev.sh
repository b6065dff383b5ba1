#!/usr/bin/env bash
# One command: install, migrate, deploy processes, seed demo data, start the app on SQLite.
#   bash scripts/dev.sh            -> http://127.0.0.1:5000
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export FLASK_APP=wsgi TZ=UTC
.venv/bin/flask db upgrade
.venv/bin/flask workflows deploy
.venv/bin/flask demo seed
.venv/bin/flask cases refresh-warnings
.venv/bin/flask demo accounts
echo
echo "» 打开 http://${HOST:-127.0.0.1}:${PORT:-5000}  (Ctrl+C 停止)"
SCHEDULER_EMBEDDED=1 exec .venv/bin/flask run --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
