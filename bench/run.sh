#!/usr/bin/env bash
# Switchyard request-overhead benchmark: the mock upstream alone ("direct") against the same
# mock behind a release build of Switchyard, in one run, on loopback only.
#
#   bash bench/run.sh                      # or: make bench
#   DURATION=5 WARMUP=1 bash bench/run.sh  # quicker
#   PEERS=1 bash bench/run.sh              # then the peer gateways (../shared/bench/run.sh)
#
# A measurement, not a test: it prints a Markdown table and PASS/MISS against the targets of
# the issue, and exits 0 either way (non-zero only when it could not measure). See
# bench/README.md for the method. Every process it starts is stopped by PID at exit.
#
# Settings (environment):
#   CONCURRENCY=64  DURATION=15 (s)  WARMUP=3 (s)  ROUNDS=1  SCENARIOS="chat stream"
#   (also `messages`: an Anthropic-dialect request translated to the OpenAI-format mock, against
#   the same request in OpenAI's form sent direct)
#   MOCK_LATENCY_MS=20  MOCK_CHUNK_DELAY_MS=1  MOCK_THREADS=1  WRK_THREADS=1  SETTLE=1 (s)
#   SWITCHYARD_BIN / MOCK_BIN (default: <repo>/target/release/{switchyard,switchyard-mock},
#   built with cargo when missing; BUILD=1 runs cargo build even when they exist)
#   BENCH_WORK (default ~/.cache/switchyard-bench): results go to $BENCH_WORK/own/<timestamp>
#   PEERS=1, PEER_TARGETS="direct nginx switchyard portkey litellm1", PEER_SCENARIOS (theirs),
#   PEER_DIR=<repo>/../shared/bench; DURATION, WARMUP, ROUNDS, WRK_THREADS, MOCK_THREADS reach it too
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"

CONCURRENCY="${CONCURRENCY:-64}"
DURATION="${DURATION:-15}"
WARMUP="${WARMUP:-3}"
ROUNDS="${ROUNDS:-1}"
SCENARIOS="${SCENARIOS:-chat stream}"
# nginx (proxy_pass with upstream keep-alive, no logging) is the cheapest proxy hop there is:
# its row shows what any proxy costs on this machine under the same load. `floor` is the
# smallest proxy made of Switchyard's own parts (examples/floor_proxy.rs): what the stack
# costs before Switchyard does any work.
TARGETS="${TARGETS:-direct nginx floor switchyard}"
SETTLE="${SETTLE:-1}"
MOCK_LATENCY_MS="${MOCK_LATENCY_MS:-20}"
MOCK_CHUNK_DELAY_MS="${MOCK_CHUNK_DELAY_MS:-1}"
MOCK_THREADS="${MOCK_THREADS:-1}"
WRK_THREADS="${WRK_THREADS:-1}"
PEERS="${PEERS:-0}"
PEER_TARGETS="${PEER_TARGETS:-direct nginx switchyard portkey litellm1}"
PEER_DIR="${PEER_DIR:-$REPO/../shared/bench}"
BUILD="${BUILD:-0}"
# The targets of the issue: non-streaming chat at concurrency 64, key auth + metering + logging on.
TARGET_ADDED_P50_US=100
TARGET_CPU_US=60
TARGET_CONCURRENCY=64

BENCH_WORK="${BENCH_WORK:-$HOME/.cache/switchyard-bench}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
WORK="$BENCH_WORK/own/$STAMP"
UPSTREAM_KEY="bench-upstream-key"   # the mock's key, known to the gateway via api_key_env
CLK_TCK="$(getconf CLK_TCK)"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------ processes ---
PIDS=()
stop_all() {
  local p i alive
  [ "${#PIDS[@]}" -eq 0 ] && return 0
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for i in $(seq 1 60); do # up to 15 s for a clean exit (Switchyard drains its request log)
    alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.25
  done
  for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

forget_pid() { # drop a PID that ended by itself from the list
  local p keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local i p
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    port_free "$p" && { echo "$p"; return 0; }
  done
  die "no free loopback port found"
}

cpu_ticks() { # utime + stime of one process (all its threads), in clock ticks
  local f
  f="$(cat "/proc/$1/stat")" || die "process $1 is gone"
  f="${f##*) }" # drop "pid (comm) ": field 3 (state) becomes $1, utime (14) ${12}, stime (15) ${13}
  # shellcheck disable=SC2086
  set -- $f
  echo $((${12} + ${13}))
}

tree_ticks() { # cpu_ticks of a process and its children (nginx's workers)
  local total child
  total="$(cpu_ticks "$1")"
  for child in $(pgrep -P "$1" || true); do
    total=$((total + $(cpu_ticks "$child" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

wants() { # target: whether TARGETS names it
  [[ " $TARGETS " == *" $1 "* ]]
}

answers() { # url pid what log: waits up to 30 s for a started server to answer url with a 2xx
  local i
  for i in $(seq 1 120); do
    curl -fs -m 1 -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || { tail -20 "$4" >&2; die "$3 exited during start-up"; }
    sleep 0.25
  done
  die "$3 did not answer $1 within 30 s (see $4)"
}

printed_url() { # file pid pattern what: waits up to 10 s for a started process to print its URL
  local url=""
  for _ in $(seq 1 100); do
    url="$(grep -m1 -oE "$3" "$1" 2>/dev/null || true)"
    [ -n "$url" ] && break
    kill -0 "$2" 2>/dev/null || die "$4 exited during start-up (see ${1%.*}.log)"
    sleep 0.1
  done
  [ -n "$url" ] || die "$4 printed no URL within 10 s (see ${1%.*}.log)"
  echo "$url"
}

host_cpu() { # "busy total" jiffies of the whole machine, from /proc/stat
  awk '/^cpu /{t=0; for(i=2;i<=NF;i++) t+=$i; print t-$5-$6, t; exit}' /proc/stat
}

# ----------------------------------------------------------- preflight ---
if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk (apt)"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
if wants nginx && ! command -v nginx >/dev/null 2>&1; then
  log "installing nginx (apt)"
  apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null || die "cannot install nginx (or leave it out of TARGETS)"
fi

SWITCHYARD_BIN="${SWITCHYARD_BIN:-$REPO/target/release/switchyard}"
MOCK_BIN="${MOCK_BIN:-$REPO/target/release/switchyard-mock}"
FLOOR_BIN="${FLOOR_BIN:-$REPO/target/release/examples/floor_proxy}"
need_build="$BUILD"
# The repo's own binaries are built when missing; a binary named by the caller never is.
[ "$SWITCHYARD_BIN" = "$REPO/target/release/switchyard" ] && [ ! -x "$SWITCHYARD_BIN" ] && need_build=1
[ "$MOCK_BIN" = "$REPO/target/release/switchyard-mock" ] && [ ! -x "$MOCK_BIN" ] && need_build=1
wants floor && [ "$FLOOR_BIN" = "$REPO/target/release/examples/floor_proxy" ] \
  && [ ! -x "$FLOOR_BIN" ] && need_build=1
if [ "$need_build" = 1 ]; then
  log "building the release binaries (cargo build --release -p switchyard -p switchyard-testkit --bins --example floor_proxy)"
  (cd "$REPO" && cargo build --release -p switchyard -p switchyard-testkit --bins --example floor_proxy)
fi
if wants floor; then
  [ -x "$FLOOR_BIN" ] || die "no floor proxy at $FLOOR_BIN (set FLOOR_BIN, BUILD=1, or leave floor out of TARGETS)"
fi
[ -x "$SWITCHYARD_BIN" ] || die "no Switchyard binary at $SWITCHYARD_BIN (set SWITCHYARD_BIN)"
[ -x "$MOCK_BIN" ] || die "no mock binary at $MOCK_BIN (set MOCK_BIN)"
SWITCHYARD_BIN="$(cd "$(dirname "$SWITCHYARD_BIN")" && pwd)/$(basename "$SWITCHYARD_BIN")"
MOCK_BIN="$(cd "$(dirname "$MOCK_BIN")" && pwd)/$(basename "$MOCK_BIN")"

mkdir -p "$WORK/data"
TSV="$WORK/results.tsv"
SUMMARY="$WORK/summary.md"
printf 'round\tscenario\ttarget\trequests\tduration_s\trps\tp50_us\tp90_us\tp99_us\tmean_us\tmax_us\tnon2xx\tsocket_errors\tgw_cpu_us_per_req\tmock_cpu_us_per_req\thost_busy_pct\n' >"$TSV"

# ---------------------------------------------------------------- mock ----
log "starting the mock (latency ${MOCK_LATENCY_MS} ms, chunk delay ${MOCK_CHUNK_DELAY_MS} ms, ${MOCK_THREADS} thread(s))"
"$MOCK_BIN" --listen 127.0.0.1:0 --latency-ms "$MOCK_LATENCY_MS" --chunk-delay-ms "$MOCK_CHUNK_DELAY_MS" \
  --threads "$MOCK_THREADS" --api-key "$UPSTREAM_KEY" >"$WORK/mock.url" 2>"$WORK/mock.log" &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
MOCK_URL="$(printed_url "$WORK/mock.url" "$MOCK_PID" '^http://127\.0\.0\.1:[0-9]+/v1' "the mock")" || exit 1
log "mock pid=$MOCK_PID at $MOCK_URL"

# --------------------------------------------------------------- nginx ----
NGINX_PID=""
if wants nginx; then
  NGINX_PORT="$(free_port)"
  MOCK_HOSTPORT="${MOCK_URL#http://}"; MOCK_HOSTPORT="${MOCK_HOSTPORT%%/*}"
  mkdir -p "$WORK/nginx"
  cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body; proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fcgi; uwsgi_temp_path $WORK/nginx/uwsgi; scgi_temp_path $WORK/nginx/scgi;
  upstream mock { server $MOCK_HOSTPORT; keepalive 256; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location = /nginx-health { return 204; }
    location / {
      proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
  nginx -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" 2>"$WORK/nginx/stderr.log" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  answers "http://127.0.0.1:$NGINX_PORT/nginx-health" "$NGINX_PID" nginx "$WORK/nginx/stderr.log"
  log "nginx pid=$NGINX_PID at http://127.0.0.1:$NGINX_PORT"
fi

# --------------------------------------------------------------- floor ----
FLOOR_PID=""
if wants floor; then
  "$FLOOR_BIN" 127.0.0.1:0 "$MOCK_URL" >"$WORK/floor.url" 2>"$WORK/floor.log" &
  FLOOR_PID=$!
  PIDS+=("$FLOOR_PID")
  FLOOR_BASE="$(printed_url "$WORK/floor.url" "$FLOOR_PID" '^http://127\.0\.0\.1:[0-9]+' "the floor proxy")" || exit 1
  log "floor proxy pid=$FLOOR_PID at $FLOOR_BASE"
fi

# ---------------------------------------------------------- switchyard ----
# Operator defaults everywhere except the addresses: key auth (every request needs a key of a
# user), metering (usage read from every answer, priced), the request log ([log] defaults,
# SQLite in the work dir), Prometheus metrics, tracing at its default level (info).
SY_PORT="$(free_port)"
cat >"$WORK/switchyard.toml" <<TOML
listen = "127.0.0.1:$SY_PORT"
database_url = "sqlite://$WORK/data/switchyard.db"
data_dir = "$WORK/data"

[log]
batch_size = 2048
flush_ms = 200

[[providers]]
name = "mock"
kind = "openai"
base_url = "$MOCK_URL"
api_key_env = "BENCH_UPSTREAM_KEY"
jurisdiction = "local"

[[models]]
name = "gpt-4o-mini"
provider = "mock"
upstream_model = "gpt-4o-mini"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.60
cached_input_usd_per_mtok = 0.075
TOML
# A clean environment, so no SWITCHYARD_* / DATABASE_URL of the caller's shell changes the setup.
SY_ENV=(env -i "PATH=$PATH" "HOME=$HOME" "BENCH_UPSTREAM_KEY=$UPSTREAM_KEY")
"${SY_ENV[@]}" "$SWITCHYARD_BIN" user create --email bench@example.com --config "$WORK/switchyard.toml" \
  >"$WORK/user.id" 2>>"$WORK/cli.log" || { cat "$WORK/cli.log" >&2; die "switchyard user create failed"; }
SY_KEY="$("${SY_ENV[@]}" "$SWITCHYARD_BIN" key create --user bench@example.com --name bench \
  --config "$WORK/switchyard.toml" 2>>"$WORK/cli.log")" || { cat "$WORK/cli.log" >&2; die "switchyard key create failed"; }
[[ "$SY_KEY" == sk-* ]] || die "switchyard key create printed no key: '$SY_KEY'"
# Prepaid balances are on (the default): the bench user needs money for every request.
"${SY_ENV[@]}" "$SWITCHYARD_BIN" credit --user bench@example.com --usd 1000000 --reason "benchmark" \
  --config "$WORK/switchyard.toml" >/dev/null 2>>"$WORK/cli.log" || { cat "$WORK/cli.log" >&2; die "switchyard credit failed"; }
echo "$SY_KEY" >"$WORK/switchyard.key"

"${SY_ENV[@]}" "$SWITCHYARD_BIN" serve --config "$WORK/switchyard.toml" >"$WORK/switchyard.out" 2>"$WORK/switchyard.log" &
SY_PID=$!
PIDS+=("$SY_PID")
SY_BASE="http://127.0.0.1:$SY_PORT"
answers "$SY_BASE/healthz" "$SY_PID" switchyard "$WORK/switchyard.log"
log "switchyard pid=$SY_PID at $SY_BASE ($("$SWITCHYARD_BIN" --version 2>/dev/null))"

# ------------------------------------------------------------- targets ----
target_setup() { # target scenario; sets URL, AUTH, GW_PID (empty for direct), and BODY/DIALECT for messages
  case "$1" in
    direct) URL="${MOCK_URL}/chat/completions"; AUTH="Authorization: Bearer $UPSTREAM_KEY"; GW_PID="" ;;
    nginx) URL="http://127.0.0.1:$NGINX_PORT/v1/chat/completions"; AUTH="Authorization: Bearer $UPSTREAM_KEY"; GW_PID="$NGINX_PID" ;;
    floor) URL="$FLOOR_BASE/v1/chat/completions"; AUTH="Authorization: Bearer $UPSTREAM_KEY"; GW_PID="$FLOOR_PID" ;;
    switchyard) URL="$SY_BASE/v1/chat/completions"; AUTH="Authorization: Bearer $SY_KEY"; GW_PID="$SY_PID" ;;
    *) die "unknown target $1" ;;
  esac
  DIALECT=openai
  if [ "$2" = messages ] && [ "$1" = switchyard ]; then
    URL="$SY_BASE/v1/messages"; BODY="$HERE/body_messages.json"; DIALECT=anthropic
  fi
}

scenario_setup() { # sets BODY, STREAM
  case "$1" in
    chat) BODY="$HERE/body_chat.json"; STREAM=0 ;;
    stream) BODY="$HERE/body_stream.json"; STREAM=1 ;;
    messages) BODY="$HERE/body_chat.json"; STREAM=0 ;; # the switchyard target sends body_messages.json
    *) die "unknown scenario $1 (chat, stream, messages)" ;;
  esac
}

check_response() { # one request through the current target must look like a real answer
  local out="$WORK/check_${1}_${2}.txt" code
  code="$(curl -sS -m 30 -o "$out" -w '%{http_code}' -X POST "$URL" -H 'Content-Type: application/json' \
    -H "$AUTH" --data-binary @"$BODY")" || die "$2/$1: the check request failed"
  [ "$code" = 200 ] || { cat "$out" >&2; die "$2/$1: the check request got HTTP $code"; }
  if [ "$STREAM" = 1 ]; then
    grep -q '"chat.completion.chunk"' "$out" && grep -q '^data: \[DONE\]' "$out" \
      && grep -q '"total_tokens"' "$out" \
      || { cat "$out" >&2; die "$2/$1: the stream lacks chunks, usage or [DONE] (above)"; }
  elif [ "$DIALECT" = anthropic ]; then
    grep -q '"type":"message"' "$out" && grep -q '"output_tokens"' "$out" \
      || { cat "$out" >&2; die "$2/$1: the answer lacks an Anthropic message or usage (above)"; }
  else
    grep -q '"chat.completion"' "$out" && grep -q '"total_tokens"' "$out" \
      || { cat "$out" >&2; die "$2/$1: the answer lacks chat.completion or usage (above)"; }
  fi
}

run_wrk() { # seconds output-file: wrk in the background, so an interrupt can stop it by PID
  local thr="$WRK_THREADS"
  [ "$CONCURRENCY" -lt "$thr" ] && thr="$CONCURRENCY"
  BODY_FILE="$BODY" HDR_1="$AUTH" wrk -t"$thr" -c"$CONCURRENCY" -d"${1}s" --timeout 30s \
    -s "$HERE/post.lua" "$URL" >"$2" 2>&1 &
  local wpid=$!
  PIDS+=("$wpid")
  local rc=0
  wait "$wpid" || rc=$?
  forget_pid "$wpid"
  return "$rc"
}

measure() { # round scenario target
  local round="$1" sc="$2" tg="$3"
  scenario_setup "$sc"
  target_setup "$tg" "$sc"
  check_response "$sc" "$tg"
  if [ "$WARMUP" -gt 0 ]; then
    run_wrk "$WARMUP" "$WORK/warmup_${round}_${sc}_${tg}.txt" || die "wrk failed (warm-up $sc/$tg)"
  fi
  sleep "$SETTLE" # the warm-up's log rows are flushed (flush_ms=200) before the window opens
  local gw0=0 gw1=0 mock0 mock1 host0 host1
  [ -n "$GW_PID" ] && gw0="$(tree_ticks "$GW_PID")"
  mock0="$(cpu_ticks "$MOCK_PID")"
  host0="$(host_cpu)"
  local out="$WORK/wrk_${round}_${sc}_${tg}.txt"
  run_wrk "$DURATION" "$out" || { cat "$out" >&2; die "wrk failed ($sc/$tg)"; }
  host1="$(host_cpu)"
  sleep "$SETTLE" # the window's log rows are written (and counted) before it closes
  [ -n "$GW_PID" ] && gw1="$(tree_ticks "$GW_PID")"
  mock1="$(cpu_ticks "$MOCK_PID")"
  local line
  line="$(grep '^RESULT ' "$out" | tail -1)" || true
  [ -n "$line" ] || { cat "$out" >&2; die "wrk printed no RESULT line ($sc/$tg)"; }
  # shellcheck disable=SC2086
  awk -v round="$round" -v sc="$sc" -v tg="$tg" -v tck="$CLK_TCK" \
      -v gw="$((gw1 - gw0))" -v mock="$((mock1 - mock0))" -v has_gw="${GW_PID:+1}" \
      -v h0="$host0" -v h1="$host1" -v line="${line#RESULT }" 'BEGIN {
    n = split(line, kv, " ")
    for (i = 1; i <= n; i++) { split(kv[i], p, "="); r[p[1]] = p[2] }
    split(h0, a, " "); split(h1, b, " ")
    busy = (b[2] > a[2]) ? 100 * (b[1] - a[1]) / (b[2] - a[2]) : 0
    req = r["requests"] + 0
    gwc = (has_gw && req) ? sprintf("%.1f", gw * 1e6 / tck / req) : "-"
    mc = req ? sprintf("%.1f", mock * 1e6 / tck / req) : "-"
    printf "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%.0f\n", round, sc, tg,
      req, r["duration_s"], r["rps"], r["p50_us"], r["p90_us"], r["p99_us"], r["mean_us"],
      r["max_us"], r["non2xx"], r["socket_errors"], gwc, mc, busy
  }' >>"$TSV"
  log "$(tail -1 "$TSV" | awk -F'\t' '{printf "%-6s %-10s rps=%s p50=%sus p99=%sus non2xx=%s gw_cpu=%sus/req mock_cpu=%sus/req host_busy=%s%%", $2, $3, $6, $7, $9, $12, $14, $15, $16}')"
}

# ---------------------------------------------------------------- run -----
{
  echo "date_utc: $STAMP"
  echo "host: $(uname -sr), $(nproc) cpus, load avg before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "switchyard: $("$SWITCHYARD_BIN" --version 2>/dev/null) ($SWITCHYARD_BIN, built $(date -u -r "$SWITCHYARD_BIN" +%Y-%m-%dT%H:%MZ))"
  echo "git: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $WRK_THREADS thread(s)"
  echo "settings: CONCURRENCY=$CONCURRENCY DURATION=${DURATION}s WARMUP=${WARMUP}s ROUNDS=$ROUNDS MOCK_LATENCY_MS=$MOCK_LATENCY_MS MOCK_CHUNK_DELAY_MS=$MOCK_CHUNK_DELAY_MS MOCK_THREADS=$MOCK_THREADS"
} | tee "$WORK/env.txt" >&2

for round in $(seq 1 "$ROUNDS"); do
  for sc in $SCENARIOS; do
    for tg in $TARGETS; do
      # Only Switchyard translates the Anthropic dialect.
      [ "$sc" = messages ] && [ "$tg" != direct ] && [ "$tg" != switchyard ] && continue
      measure "$round" "$sc" "$tg"
    done
  done
done

# Evidence that the request log and metering were on: rows written, money counted.
sleep "$SETTLE"
curl -fs -m 5 "$SY_BASE/metrics" >"$WORK/metrics.txt" || true
LOG_ROWS="$(awk '/^switchyard_log_rows_written_total/{s+=$NF} END{printf "%d", s}' "$WORK/metrics.txt")"
SERVED="$(awk '/^switchyard_requests_total\{/{s+=$NF} END{printf "%d", s}' "$WORK/metrics.txt")"
COST="$(awk '/^switchyard_cost_nanousd_total\{/{s+=$NF} END{printf "%d", s}' "$WORK/metrics.txt")"
TRANSFERS="$(awk '/^switchyard_ledger_transfers_written_total/{s+=$NF} END{printf "%d", s}' "$WORK/metrics.txt")"
BALANCE="$("${SY_ENV[@]}" "$SWITCHYARD_BIN" balance --user bench@example.com --config "$WORK/switchyard.toml" 2>>"$WORK/cli.log" || echo "?")"

# --------------------------------------------------------------- report ---
{
  echo "## Switchyard vs direct (mock), c=$CONCURRENCY, ${DURATION}s per run, mock latency ${MOCK_LATENCY_MS} ms"
  echo
  sed 's/^/    /' "$WORK/env.txt"
  echo
  echo "| round | scenario | target | req/s | p50 µs | p90 µs | p99 µs | failed | gateway CPU µs/req | mock CPU µs/req | host CPU busy | added p50 µs | added p99 µs | req/s ratio |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' 'NR > 1 {
    key = $1 FS $2
    if ($3 == "direct") { d50[key] = $7; d99[key] = $9; drps[key] = $6 }
    a50 = a99 = ratio = "-"
    if ($3 != "direct" && (key in d50)) {
      a50 = sprintf("%+d", $7 - d50[key]); a99 = sprintf("%+d", $9 - d99[key])
      ratio = drps[key] > 0 ? sprintf("%.3f", $6 / drps[key]) : "-"
    }
    printf "| %s | %s | %s | %.0f | %d | %d | %d | %d | %s | %s | %s%% | %s | %s | %s |\n",
      $1, $2, $3, $6, $7, $8, $9, $12 + $13, $14, $15, $16, a50, a99, ratio
  }' "$TSV"
  echo
  echo "Request-log rows written by Switchyard: $LOG_ROWS; requests it counted: $SERVED; metered cost: $COST nano-USD."
  echo "Ledger transfers written (one per paid request; a hold is written only if its request outlives billing.hold_write_delay_ms): $TRANSFERS; the bench user's balance after 1,000,000 USD of credit: $BALANCE."
  echo
  echo "### Targets (non-streaming chat at c=$TARGET_CONCURRENCY, key auth + metering + logging on)"
  echo
  if [ "$CONCURRENCY" != "$TARGET_CONCURRENCY" ]; then
    echo "Not judged: the targets are defined at concurrency $TARGET_CONCURRENCY; this run used $CONCURRENCY."
  elif [[ " $SCENARIOS " != *" chat "* ]]; then
    echo "Not judged: the chat scenario did not run."
  else
    awk -F'\t' -v t50="$TARGET_ADDED_P50_US" -v tcpu="$TARGET_CPU_US" 'NR > 1 && $2 == "chat" {
      if ($3 == "direct") d50[$1] = $7
      else if ($3 == "switchyard") { s50[$1] = $7; cpu[$1] = $14; bad[$1] = $12 + $13 }
      else if ($3 == "nginx") { n50[$1] = $7; ncpu[$1] = $14 }
      else if ($3 == "floor") { fcpu[$1] = $14 }
    } END {
      for (r in s50) {
        added = s50[r] - d50[r]
        ref = (r in ncpu && ncpu[r] + 0 > 0) ? sprintf("; against nginx in the same round: CPU %.2f×, p50 %+d µs", cpu[r] / ncpu[r], s50[r] - n50[r]) : ""
        if (r in fcpu && fcpu[r] + 0 > 0) ref = ref sprintf("; against the floor proxy: CPU %.2f× (+%.1f µs)", cpu[r] / fcpu[r], cpu[r] - fcpu[r])
        printf "- round %s: added p50 %+d µs (target ≤ %d): **%s**; gateway CPU %s µs/req (target ≤ %d): **%s**%s%s\n",
          r, added, t50, (added <= t50 ? "PASS" : "MISS"), cpu[r], tcpu, (cpu[r] + 0 <= tcpu ? "PASS" : "MISS"), ref,
          (bad[r] > 0 ? sprintf(" (warning: %d failed requests)", bad[r]) : "")
      }
    }' "$TSV" | sort
  fi
  echo
  echo "Raw results: $TSV (wrk output, checks and logs beside it)."
} | tee "$SUMMARY"

stop_all

# --------------------------------------------------------------- peers ----
if [ "$PEERS" = 1 ]; then
  [ -f "$PEER_DIR/run.sh" ] || die "PEERS=1 but there is no $PEER_DIR/run.sh (set PEER_DIR)"
  log "peer run: TARGETS='$PEER_TARGETS' bash $PEER_DIR/run.sh (its summary lands in $BENCH_WORK/results/<timestamp>/summary.md)"
  peer_rc=0
  # SCENARIOS means other things there (chat_c32, ...): pass PEER_SCENARIOS, never ours.
  peer_env=(env -u SCENARIOS SWITCHYARD_BIN="$SWITCHYARD_BIN" TARGETS="$PEER_TARGETS" BENCH_WORK="$BENCH_WORK")
  [ -n "${PEER_SCENARIOS:-}" ] && peer_env+=(SCENARIOS="$PEER_SCENARIOS")
  (cd "$REPO" && "${peer_env[@]}" bash "$PEER_DIR/run.sh") || peer_rc=$?
  latest="$(ls -1d "$BENCH_WORK"/results/*/ 2>/dev/null | tail -1)"
  echo
  echo "Peer run (exit $peer_rc): summary ${latest:+$latest}summary.md"
  echo "Own run: $SUMMARY"
  exit "$peer_rc"
fi
log "summary: $SUMMARY"
