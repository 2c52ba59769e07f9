#!/usr/bin/env bash
# Stop the sandbox started by start.sh (SIGTERM, then SIGKILL after 30 s). Idempotent.
set -euo pipefail
# is_sandbox PID: that pid is alive and is our java process (a stale pid file must never make us
# wait for, or signal, an unrelated process that reused the number)
is_sandbox() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null && grep -qa 'ehr-sandbox.jar' "/proc/$1/cmdline" 2>/dev/null; }
RUN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/run"
PIDFILE="$RUN/sandbox.pid"
if [[ ! -f "$PIDFILE" ]]; then
  echo "stop.sh: not running" >&2; exit 0
fi
pid="$(cat "$PIDFILE")"
if is_sandbox "$pid"; then
  kill -TERM "$pid"
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "stop.sh: pid $pid ignored SIGTERM for 30 s; killing" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
fi
rm -f "$PIDFILE" "$RUN/url"
echo "stop.sh: stopped" >&2
