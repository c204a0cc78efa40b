#!/usr/bin/env bash
# `make run`: the sandbox (Wistia and Upsales emulators with demo data) in the background, then
# the Dagster UI on port $PORT (3000) with the 20-minute schedule on, pointed at the sandbox.
#
# Every setting of the demo is in one file, $RUN_DIR/sandbox.env (.run/sandbox.env): the sandbox's
# URLs and tokens, the demo's settings, every other setting at its default, and
# WISTIA_PIPELINE_DB and DAGSTER_HOME as absolute paths. `dagster dev` gets exactly that file, and
# a shell that sources it (`set -a; . .run/sandbox.env; set +a`, see README) runs
# `wistia-pipeline` on the same DuckDB file and the same Dagster instance.
# Ctrl-C stops both. Ports: PORT (UI, 3000), SANDBOX_WISTIA_PORT (8701), SANDBOX_UPSALES_PORT (8702).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$(cd "${VENV:-.venv}" && pwd)
RUN_DIR=${RUN_DIR:-$ROOT/.run}
mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
DEMO_HOME=${DAGSTER_HOME:-$ROOT/.dagster_home}
DEMO_DB=${WISTIA_PIPELINE_DB:-$ROOT/data/demo.duckdb}
PORT=${PORT:-3000}
ENV_FILE=$RUN_DIR/sandbox.env
mkdir -p "$DEMO_HOME"
cp dagster.yaml "$DEMO_HOME/dagster.yaml"
rm -f "$ENV_FILE"

"$VENV/bin/wistia-pipeline" sandbox --wistia-port "${SANDBOX_WISTIA_PORT:-8701}" \
  --upsales-port "${SANDBOX_UPSALES_PORT:-8702}" --env-file "$ENV_FILE" \
  --db "$DEMO_DB" --dagster-home "$DEMO_HOME" > "$RUN_DIR/sandbox.log" 2>&1 &
SANDBOX_PID=$!
trap 'kill $SANDBOX_PID 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  [ -s "$ENV_FILE" ] && break
  kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$RUN_DIR/sandbox.log"; exit 1; }
  sleep 0.1
done
[ -s "$ENV_FILE" ] || { echo "the sandbox wrote no $ENV_FILE in 10 s:"; cat "$RUN_DIR/sandbox.log"; exit 1; }
set -a; . "$ENV_FILE"; set +a

SHOWN_ENV=${ENV_FILE#"$ROOT"/}
cat <<EOF
Sandbox running (log: $RUN_DIR/sandbox.log). Dagster UI: http://127.0.0.1:$PORT  (Ctrl-C stops both)
The schedule wistia_sync_every_20_minutes is on; materialize the group from the UI for a first sync now.
$(sed -n 's/^# \(late views arrive.*\)/The demo'"'"'s \1./p' "$RUN_DIR/sandbox.log")
DuckDB file: $WISTIA_PIPELINE_DB, DAGSTER_HOME: $DAGSTER_HOME (every setting: $ENV_FILE).
The command line, in another shell, from this folder:
  set -a; . $SHOWN_ENV; set +a
  .venv/bin/wistia-pipeline explain anna.berg@acme.se
EOF
# Started in DAGSTER_HOME, dagster dev reads no `.env` of the project folder (the file above is
# the demo's whole configuration), and does not warn that the project's dagster.yaml "will not be
# used": it warns so for a dagster.yaml in its working folder, while the copy it does use is the
# one in DAGSTER_HOME.
# `dagster dev` also warns that it is superseded by `dg dev` (which must start in the project
# folder, so it cannot do the above): that one message is silenced.
export PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore:Function \`dev_command\` is superseded"
cd "$DAGSTER_HOME"
"$VENV/bin/dagster" dev -w "$ROOT/workspace.yaml" -h 127.0.0.1 -p "$PORT"
