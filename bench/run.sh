#!/usr/bin/env bash
# The benchmark in one command: installs wrk if missing, generates (or reuses) the data, and runs
# the load on SQLite and PostgreSQL. Arguments go to `python -m bench run` (see --help), e.g.
#   bash bench/run.sh                       # 1M customers, both engines
#   bash bench/run.sh --customers 20000     # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  apt-get update && apt-get install -y wrk
fi
PYTHON="${PYTHON:-.venv/bin/python}"
export BENCH_COMMAND="bash bench/run.sh${*:+ $*}"
exec "$PYTHON" -m bench run "$@"
