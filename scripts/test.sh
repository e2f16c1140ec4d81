#!/usr/bin/env bash
# Sets up (Debian packages, NuGet restore) and runs every test. The last line is "N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" || { echo "0 passed, 1 failed"; exit 1; }

results="$root/.build/test-results"
rm -rf "$results"
mkdir -p "$results"
dotnet test "$root/Flowline.slnx" -c Release --nologo \
  --logger "trx;LogFilePrefix=results" --logger "console;verbosity=minimal" \
  --results-directory "$results"
status=$?

passed=0
failed=0
shopt -s nullglob
for trx in "$results"/*.trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  e=$(sed -n 's/.* error="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0}))
done
trx_count=$(ls "$results"/*.trx 2>/dev/null | wc -l)
# A test host that crashed leaves no result file: count it as a failure rather than a silent pass.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
if [ "$trx_count" -eq 0 ]; then
  failed=$((failed > 0 ? failed : 1))
fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
