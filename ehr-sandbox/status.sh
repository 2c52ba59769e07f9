#!/usr/bin/env bash
# Print the sandbox's FHIR base URL and exit 0 if it is running and answers /metadata; else exit 1.
set -uo pipefail
# is_sandbox PID: that pid is alive and is our java process (a stale pid file must never make us
# wait for, or signal, an unrelated process that reused the number)
is_sandbox() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null && grep -qa 'ehr-sandbox.jar' "/proc/$1/cmdline" 2>/dev/null; }
RUN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/run"
if [[ -f "$RUN/sandbox.pid" ]] && is_sandbox "$(cat "$RUN/sandbox.pid")"; then
  url="$(cat "$RUN/url" 2>/dev/null || true)"
  if [[ -n "$url" ]] && curl -sf -m 10 -o /dev/null "$url/metadata"; then
    echo "$url"; exit 0
  fi
  echo "status.sh: pid $(cat "$RUN/sandbox.pid") alive but not answering (starting?)" >&2; exit 1
fi
echo "status.sh: not running" >&2
exit 1
