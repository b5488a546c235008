#!/usr/bin/env bash
# Runs the futex_rehash reproducer N times under PUSh and counts the runs
# that abort. Usage: [LIBPUSH=path/libpush.so] benchmarks/repro/run_futex_rehash.sh [RUNS] [PUSH_OPTIONS]
set -u
cd "$(dirname "$0")/../.."
runs=${1:-20}
opts=${2:-}
gcc -O2 -g -rdynamic -pthread -Iinclude -o target/futex_rehash benchmarks/repro/futex_rehash.c || exit 2
bad=0
for i in $(seq 1 "$runs"); do
  if ! PUSH_OPTIONS="$opts" LD_PRELOAD="${LIBPUSH:-target/release/libpush.so}" target/futex_rehash 2 8192 2000000 \
      >/dev/null 2>target/futex_rehash.err; then
    bad=$((bad + 1))
    cp target/futex_rehash.err target/futex_rehash.last-failure
  fi
done
echo "futex_rehash: $bad of $runs runs failed (PUSH_OPTIONS='$opts')"
[ "$bad" -eq 0 ] || { echo "last failure's stderr: target/futex_rehash.last-failure"; head -20 target/futex_rehash.last-failure; exit 1; }
