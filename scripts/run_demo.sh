#!/usr/bin/env bash
# `make run`: the sandbox (Wistia and Upsales emulators with demo data) in the background, then
# the Dagster UI on port 3000 with the 20-minute schedule on, pointed at the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/.dagster_home}
export WISTIA_PIPELINE_DB=${WISTIA_PIPELINE_DB:-$PWD/data/demo.duckdb}
PORT=${PORT:-3000}
mkdir -p "$DAGSTER_HOME" .run
cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
rm -f .run/sandbox.env

"$VENV/bin/wistia-pipeline" sandbox --wistia-port "${SANDBOX_WISTIA_PORT:-8701}" \
  --upsales-port "${SANDBOX_UPSALES_PORT:-8702}" --env-file .run/sandbox.env > .run/sandbox.log 2>&1 &
SANDBOX_PID=$!
trap 'kill $SANDBOX_PID 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  [ -s .run/sandbox.env ] && break
  kill -0 "$SANDBOX_PID" 2>/dev/null || { cat .run/sandbox.log; exit 1; }
  sleep 0.1
done
set -a; . ./.run/sandbox.env; set +a
echo "Sandbox running (log: .run/sandbox.log). Dagster UI: http://127.0.0.1:$PORT"
echo "The schedule wistia_sync_every_20_minutes is on; materialize the group from the UI for a first sync now."
"$VENV/bin/dagster" dev -w workspace.yaml -h 127.0.0.1 -p "$PORT"
