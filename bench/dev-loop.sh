#!/bin/bash
# bench/dev-loop.sh [rounds]: how long the development loop takes, in one run (the machine's load
# changes between runs: compare the ratios). Needs Redis and PostgreSQL as for npm start.
#   start, rebuild all:  `npm start` that rebuilds everything (FORCE_BUILD=1, as every start did
#                        before build.sh skipped what had not changed), spawn to /health 200;
#   start, no change:    a second `npm start` with nothing changed;
#   dev restart:         under `npm run dev`, from writing a change to src/ to /health 200 from the
#                        new server, on PostgreSQL and on the embedded database.
# Leaves src/ as it found it. Prints one line per measurement, then the medians.
set -u
cd "$(dirname "$0")/.."
rounds=${1:-3}
export DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/gatehouse_bench}
export REDIS_KEY_PREFIX=${REDIS_KEY_PREFIX:-gatehouse-bench:} EXPIRED_EVENTS=listen MAIL_TRANSPORT=off SHUTDOWN_DRAIN_SECONDS=0 LOG_FORMAT=json
log=$(mktemp)
trap 'rm -f "$log"' EXIT
now() { date +%s.%N; }
free_port() { node -e "const s = require('net').createServer().listen(0, () => { console.log(s.address().port); s.close() })"; }
up() { curl -sf -o /dev/null "http://127.0.0.1:$1/health"; }
# until_true <command...>: polls it every 50 ms, for two minutes at most.
until_true() { for _ in $(seq 2400); do "$@" && return 0; sleep 0.05; done; echo "gave up waiting for: $*" >&2; exit 1; }
restarted() { [ "$(grep -c 'Server listening' "$log")" -gt "$1" ] && up "$2"; }

# start <label> [env...]: npm start, timed from spawn to /health 200, then Ctrl-C.
start() {
  local label=$1 port; shift
  port=$(free_port)
  local t0; t0=$(now)
  env "$@" PORT="$port" setsid npm start >"$log" 2>&1 &
  local pid=$!
  until_true up "$port"
  echo "$label $(echo "$(now) - $t0" | bc)"
  kill -INT -- -"$pid"; wait "$pid" 2>/dev/null
}

# dev_restarts <label> [env...]: under npm run dev, each change to src/ timed to /health 200 from the new server.
dev_restarts() {
  local label=$1 port; shift
  port=$(free_port)
  env "$@" PORT="$port" setsid npm run dev >"$log" 2>&1 &
  local dev=$!
  until_true up "$port"
  local file=src/telemetry/metrics.ts original starts t0
  original=$(mktemp); cp "$file" "$original"
  for i in $(seq $((rounds * 2))); do
    sleep 1
    starts=$(grep -c 'Server listening' "$log")
    t0=$(now)
    echo "export const devLoopBench$i = $i" >> "$file"
    until_true restarted "$starts" "$port"
    echo "$label $(echo "$(now) - $t0" | bc)"
  done
  cp "$original" "$file"; rm -f "$original"
  sleep 2
  kill -INT -- -"$dev"; wait "$dev" 2>/dev/null
}

results=$(
  for _ in $(seq "$rounds"); do
    start "start-rebuild-all" FORCE_BUILD=1
    start "start-no-change"
  done

  dev_restarts dev-restart
  embedded=$(mktemp -d)
  dev_restarts dev-restart-embedded DATABASE_URL= EMBEDDED_DATABASE_DIR="$embedded/db"
  rm -rf "$embedded"
)
echo "$results"
echo "medians (s):"
echo "$results" | sort -k1,1 -k2,2n | awk '{ v[$1] = v[$1] " " $2; n[$1]++ } END { for (k in v) { split(substr(v[k], 2), a, " "); print "  " k, a[int((n[k] + 1) / 2)] } }'
