#!/usr/bin/env bash
# Print the sandbox's FHIR base URL and exit 0 if it is running and answers /metadata; else exit 1.
set -uo pipefail
RUN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/run"
if [[ -f "$RUN/sandbox.pid" ]] && kill -0 "$(cat "$RUN/sandbox.pid")" 2>/dev/null; then
  url="$(cat "$RUN/url" 2>/dev/null || true)"
  if [[ -n "$url" ]] && curl -sf -m 10 -o /dev/null "$url/metadata"; then
    echo "$url"; exit 0
  fi
  echo "status.sh: pid $(cat "$RUN/sandbox.pid") alive but not answering (starting?)" >&2; exit 1
fi
echo "status.sh: not running" >&2
exit 1
