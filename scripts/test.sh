#!/usr/bin/env bash
# The whole test suite: lint, then pytest on SQLite and PostgreSQL with branch coverage.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
bash scripts/ensure-postgres.sh || { echo "PostgreSQL is not available" >&2; exit 1; }
bash scripts/ensure-chromium.sh || { echo "Chromium is not available" >&2; exit 1; }
"$VENV/bin/ruff" check app workflows tests bench config.py || exit 1
"$VENV/bin/pytest" --cov --cov-report=term:skip-covered -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$rc"
