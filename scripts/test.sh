#!/usr/bin/env bash
# Sets up (Debian packages, NuGet restore) and runs every test. The last line is "N passed, N failed".
# Each test project writes its own result file; a project without one (its test host crashed, or it never
# ran) counts as a failure, and a test that hangs is stopped after FLOWLINE_HANG_TIMEOUT (default 15m)
# with a dump, instead of running until CI's time is up.
#
# FLOWLINE_TEST_PROJECTS (paths, space-separated) runs those projects instead of every tests/*.Tests project,
# building each; FLOWLINE_SKIP_SETUP=1 skips the set-up. The script's own tests use both with the fixtures in
# tests/fixtures (a project that writes no result file, a test that hangs), which the full run leaves out.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${FLOWLINE_SKIP_SETUP:-0}" != 1 ]; then
  "$root/scripts/setup.sh" || { echo "0 passed, 1 failed"; exit 1; }
fi

results="${FLOWLINE_TEST_RESULTS:-$root/.build/test-results}"
rm -rf "$results"
mkdir -p "$results"
hang=${FLOWLINE_HANG_TIMEOUT:-15m}

passed=0
failed=0
status=0
if [ -n "${FLOWLINE_TEST_PROJECTS:-}" ]; then
  read -r -a projects <<<"$FLOWLINE_TEST_PROJECTS"
  for project in "${projects[@]}"; do
    dotnet build "$project" -c Release --nologo -v quiet || { echo "0 passed, 1 failed"; exit 1; }
  done
else
  dotnet build "$root/Flowline.slnx" -c Release --nologo -v quiet || { echo "0 passed, 1 failed"; exit 1; }
  # The Debian package, which tests/Flowline.Cli.Tests/PackageTests.cs installs into a scratch root and runs.
  FLOWLINE_DEB_XZ_LEVEL=2 "$root/scripts/package.sh" >/dev/null || { echo "test.sh: scripts/package.sh failed" >&2; echo "0 passed, 1 failed"; exit 1; }
  mapfile -t projects < <(find "$root/tests" -name '*.Tests.csproj' -not -path '*/fixtures/*' | sort)
fi
if [ "${#projects[@]}" -eq 0 ]; then
  echo "test.sh: no test projects found under tests/" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
for project in "${projects[@]}"; do
  name=$(basename "$project" .csproj)
  dotnet test "$project" -c Release --no-build --nologo \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=minimal" \
    --results-directory "$results" --blame-hang-timeout "$hang" || status=1
  trx="$results/$name.trx"
  if [ ! -s "$trx" ]; then
    echo "test.sh: $name wrote no result file: counted as a failure" >&2
    failed=$((failed + 1))
    status=1
    continue
  fi
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  e=$(sed -n 's/.* error="\([0-9]*\)".*/\1/p' <<<"$counters")
  if [ -z "$p" ]; then
    echo "test.sh: $name's result file has no counters: counted as a failure" >&2
    failed=$((failed + 1))
    status=1
    continue
  fi
  passed=$((passed + p))
  failed=$((failed + ${f:-0} + ${e:-0}))
done
# A test host that crashed may leave counters that look clean: a failing run is never reported as all passed.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
if [ "$passed" -eq 0 ]; then
  echo "test.sh: no test ran" >&2
  failed=$((failed > 0 ? failed : 1))
fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
