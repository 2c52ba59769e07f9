#!/usr/bin/env bash
# Build the EHR sandbox jar (skipped when target/ehr-sandbox.jar is newer than pom.xml and src/)
# and fetch the Genomics Reporting IG (ig/) and its dependency packages (packages/) with `npm pack`
# when missing; every tarball is checked against the SHA-256 pinned in packages.txt.
# Uses Maven's normal ~/.m2 cache. Exit code non-zero with a one-line reason on failure.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "build.sh: '$tool' not found on PATH" >&2; exit 1; }
done

# one build at a time in this tree (parallel test sessions, validator and start.sh may all ask)
mkdir -p run
exec 8>run/build.lock
if command -v flock >/dev/null; then
  flock -w 1800 8 || { echo "build.sh: another build.sh holds run/build.lock" >&2; exit 1; }
fi

JAR=target/ehr-sandbox.jar
if [[ -f "$JAR" && -d target/lib && -z "$(find pom.xml src -newer "$JAR" -print -quit)" ]]; then
  echo "build.sh: $JAR is up to date" >&2
else
  echo "build.sh: building $JAR (mvn package)" >&2
  t0=$(date +%s)
  # clean lib/ so a changed dependency set leaves no stale jars on the manifest class path
  rm -rf target/lib
  # Maven's output goes to run/build.log (stdout is kept for start.sh's URL line); shown on failure
  mkdir -p run
  if ! mvn -q -B package -DskipTests >run/build.log 2>&1; then
    echo "build.sh: mvn package failed; last lines of run/build.log:" >&2
    tail -n 40 run/build.log >&2
    exit 1
  fi
  echo "build.sh: built in $(( $(date +%s) - t0 )) s" >&2
fi

# npm packages (packages.txt: name@version sha256 [folder]); a file already present is checked too, so a
# corrupted or swapped tarball stops the build instead of loading unknown profiles
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
while read -r spec sha folder _; do
  [[ -z "$spec" || "$spec" == \#* ]] && continue
  [[ -n "${sha:-}" ]] || { echo "build.sh: packages.txt: $spec has no sha256" >&2; exit 1; }
  folder="${folder:-packages}"
  name="${spec%@*}"; version="${spec##*@}"
  mkdir -p "$folder"
  tgz="$folder/${name}-${version}.tgz"
  if [[ ! -s "$tgz" ]]; then
    command -v npm >/dev/null || { echo "build.sh: npm not found on PATH (needed to fetch $spec)" >&2; exit 1; }
    echo "build.sh: fetching $spec" >&2
    (cd "$folder" && npm pack --silent "$spec" >/dev/null)
    [[ -s "$tgz" ]] || { echo "build.sh: npm pack $spec did not produce $tgz" >&2; exit 1; }
  fi
  got="$(sha256_of "$tgz")"
  if [[ "$got" != "$sha" ]]; then
    echo "build.sh: $tgz has sha256 $got, packages.txt pins $sha (delete it to re-fetch)" >&2; exit 1
  fi
done < packages.txt
