#!/usr/bin/env bash
# Regenerate the locks from the pinned top-level requirements:
#   requirements.lock      – requirements.txt and every package it pulls in, exact versions, sha256 of every file
#   requirements-dev.lock  – the same for requirements-dev.txt, held to the versions of requirements.lock
# scripts/bootstrap.sh installs from the locks with pip --require-hashes. Run this after changing requirements*.txt
# and commit the three files together. Needs the package index (PyPI, or UV_INDEX_URL / UV_FIND_LINKS for a mirror).
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-.venv/bin/uv}"
if [ ! -x "$UV" ]; then
  echo "缺少 uv：先运行 scripts/bootstrap.sh，或设置 UV=<uv 可执行文件>" >&2
  exit 1
fi
common=(--quiet --generate-hashes --python-version 3.11 --no-strip-markers --emit-index-annotation)
"$UV" pip compile "${common[@]}" requirements.txt -o requirements.lock
"$UV" pip compile "${common[@]}" -c requirements.lock requirements-dev.txt -o requirements-dev.lock
echo "» 已生成 requirements.lock（$(grep -c '==' requirements.lock) 个包）和 requirements-dev.lock（$(grep -c '==' requirements-dev.lock) 个包）"
