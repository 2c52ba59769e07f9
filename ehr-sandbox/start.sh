#!/usr/bin/env bash
# Start the EHR sandbox (HAPI FHIR JPA server, R4) in the background on 127.0.0.1 and wait until
# GET /fhir/metadata answers. Prints the FHIR base URL (e.g. http://127.0.0.1:8080/fhir) on stdout.
#   ./start.sh [--port P]        (default: $EHRGEN_SANDBOX__PORT or 8080)
# Env: EHRGEN_GENOMICS_IG or EHRGEN_SANDBOX__IG_PACKAGE (IG .tgz; default the project's pinned copy
#      ig/hl7.fhir.uv.genomics-reporting-3.0.0.tgz, fetched by build.sh),
#      SANDBOX_START_TIMEOUT (seconds, default 180), SANDBOX_XMX (default 1536m).
# Pid, URL and log live in run/; the H2 database in data/. Builds first if needed (build.sh).
set -euo pipefail
# is_sandbox PID: that pid is alive and is our java process (a stale pid file must never make us
# wait for, or signal, an unrelated process that reused the number)
is_sandbox() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null && grep -qa 'ehr-sandbox.jar' "/proc/$1/cmdline" 2>/dev/null; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

PORT="${EHRGEN_SANDBOX__PORT:-8080}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) PORT="${2:?--port needs a value}"; shift 2 ;;
    --port=*) PORT="${1#--port=}"; shift ;;
    *) echo "start.sh: unknown argument $1 (usage: start.sh [--port P])" >&2; exit 2 ;;
  esac
done
[[ "$PORT" =~ ^[0-9]+$ ]] || { echo "start.sh: port must be a number, got '$PORT'" >&2; exit 2; }

command -v curl >/dev/null || { echo "start.sh: curl not found on PATH" >&2; exit 1; }
IG="${EHRGEN_GENOMICS_IG:-${EHRGEN_SANDBOX__IG_PACKAGE:-$HERE/ig/hl7.fhir.uv.genomics-reporting-3.0.0.tgz}}"
TIMEOUT="${SANDBOX_START_TIMEOUT:-180}"
RUN="$HERE/run"
mkdir -p "$RUN" "$HERE/data"

answers() { curl -sf -m 10 -o /dev/null "$1/metadata"; }

# one starter at a time (parallel test sessions share this tree): a second caller waits here, then
# finds the first one's server running and just prints its URL
exec 9>"$RUN/start.lock"
if command -v flock >/dev/null; then
  flock -w $(( TIMEOUT + 900 )) 9 || { echo "start.sh: another start.sh holds $RUN/start.lock" >&2; exit 1; }
fi

# already running? then just report where
if [[ -f "$RUN/sandbox.pid" ]] && is_sandbox "$(cat "$RUN/sandbox.pid")"; then
  url="$(cat "$RUN/url" 2>/dev/null || true)"
  if [[ -n "$url" ]] && answers "$url"; then
    [[ "$url" == "http://127.0.0.1:$PORT/fhir" ]] || echo "start.sh: already running at $url (not on port $PORT)" >&2
    echo "$url"; exit 0
  fi
  echo "start.sh: pid $(cat "$RUN/sandbox.pid") is alive but not answering yet; waiting" >&2
else
  rm -f "$RUN/sandbox.pid" "$RUN/url"
  if curl -s -m 3 -o /dev/null "http://127.0.0.1:$PORT/"; then
    echo "start.sh: port $PORT on 127.0.0.1 is taken by another process; use --port" >&2; exit 1
  fi
  "$HERE/build.sh"
  [[ -f "$IG" ]] || { echo "start.sh: Genomics Reporting IG package not found: $IG (set EHRGEN_GENOMICS_IG)" >&2; exit 1; }
  url="http://127.0.0.1:$PORT/fhir"
  # run a private copy so that a rebuild (build.sh rewrites target/) never pulls jars from under the
  # running server; libs are hard links when possible (build.sh replaces, never rewrites, lib/ files)
  APP="$RUN/app"
  rm -rf "$APP" && mkdir -p "$APP"
  cp "$HERE/target/ehr-sandbox.jar" "$APP/"
  cp -al "$HERE/target/lib" "$APP/lib" 2>/dev/null || cp -r "$HERE/target/lib" "$APP/lib"
  # setsid: the server outlives the calling shell (pytest, CI step) until stop.sh
  setsid nohup java -Xms256m -Xmx"${SANDBOX_XMX:-1536m}" -XX:+UseSerialGC \
    -jar "$APP/ehr-sandbox.jar" --host 127.0.0.1 --port "$PORT" \
    --data "$HERE/data" --ig "$IG" --packages "$HERE/packages" \
    >"$RUN/sandbox.log" 2>&1 </dev/null 9>&- &
  echo $! >"$RUN/sandbox.pid"
  echo "$url" >"$RUN/url"
fi

pid="$(cat "$RUN/sandbox.pid")"
t0=$(date +%s)
until answers "$url"; do
  if ! is_sandbox "$pid"; then
    echo "start.sh: sandbox exited during start; last log lines:" >&2
    tail -n 25 "$RUN/sandbox.log" >&2 || true
    rm -f "$RUN/sandbox.pid" "$RUN/url"
    exit 1
  fi
  if (( $(date +%s) - t0 >= TIMEOUT )); then
    echo "start.sh: no answer from $url/metadata after ${TIMEOUT}s (log: $RUN/sandbox.log)" >&2
    exit 1
  fi
  sleep 1
done
echo "start.sh: ready after $(( $(date +%s) - t0 )) s" >&2
echo "$url"
