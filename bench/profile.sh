#!/usr/bin/env bash
# Where Switchyard's CPU goes under the benchmark's load (bench/README.md, "Where the CPU
# goes"): runs bench/run.sh for non-streaming chat through Switchyard alone and, inside its
# measured window, samples the CPU of each of the gateway's threads from /proc, then (in a
# window of its own, since perf's stack copies cost the sampled threads CPU) a perf profile
# with call stacks. Prints µs per request by thread, then the tokio workers' samples by what
# they were doing (system calls by name, then the innermost component on the stack).
#
#   bash bench/profile.sh          # SAMPLE=8 (s); other run.sh settings pass through
#
# A measurement, not a test. Needs `perf` (Debian: linux-perf) and python3.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SAMPLE="${SAMPLE:-8}"
die() { printf 'profile: %s\n' "$*" >&2; exit 1; }
command -v perf >/dev/null || die "perf is needed (apt install linux-perf)"
command -v python3 >/dev/null || die "python3 is needed"

OUT="$(mktemp -d /tmp/switchyard-profile.XXXXXX)"
# The run lasts long enough for a warm-up, the sample and a margin on either side.
DURATION=$((SAMPLE * 2 + 8)) WARMUP=2 SCENARIOS=chat TARGETS=switchyard \
  bash "$HERE/run.sh" >"$OUT/bench.md" 2>"$OUT/bench.log" &
BENCH=$!
trap 'kill "$BENCH" 2>/dev/null || true' EXIT

# The gateway starts once the release build and the mock are up; then wait out the warm-up.
PID=""
for _ in $(seq 1 1200); do
  PID="$(pgrep -x switchyard | head -1 || true)"
  [ -n "$PID" ] && break
  kill -0 "$BENCH" 2>/dev/null || die "bench/run.sh ended early; see $OUT/bench.log"
  sleep 0.5
done
[ -n "$PID" ] || die "the gateway never started; see $OUT/bench.log"
sleep 5

threads() { # tid comm ticks(user+system) switches, one line per thread
  for t in /proc/"$PID"/task/*; do
    local stat
    stat="$(cat "$t/stat" 2>/dev/null)" || continue
    stat="${stat##*) }"
    # shellcheck disable=SC2086
    set -- $stat
    printf '%s %s %s %s\n' "${t##*/}" "$(tr ' ' '_' <"$t/comm")" "$((${12} + ${13}))" \
      "$(awk '/ctxt_switches/ {s += $2} END {print s}' "$t/status")"
  done | sort
}
threads >"$OUT/threads.before"
sleep "$SAMPLE"
threads >"$OUT/threads.after"
perf record -F 997 --call-graph dwarf,32768 -o "$OUT/perf.data" -p "$PID" -- sleep "$SAMPLE" \
  >/dev/null 2>&1
wait "$BENCH" || die "bench/run.sh failed; see $OUT/bench.log"
trap - EXIT
perf script -i "$OUT/perf.data" --no-inline -F comm,tid,ip,sym >"$OUT/stacks.txt" 2>/dev/null

RPS="$(awk -F'|' '$4 ~ /switchyard/ {gsub(/ /, "", $5); print $5; exit}' "$OUT/bench.md")"
[ -n "$RPS" ] || die "no Switchyard row in $OUT/bench.md"
cat "$OUT/bench.md"
printf '\n## Profile (%s s sample at %s requests/s; files in %s)\n\n' "$SAMPLE" "$RPS" "$OUT"
python3 - "$OUT" "$SAMPLE" "$RPS" "$(getconf CLK_TCK)" <<'PY'
import collections, re, sys

out, sample, rps, tck = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
requests = rps * sample

def table(name):
    rows = {}
    for line in open(f"{out}/{name}"):
        tid, comm, ticks, switches = line.split()
        rows[tid] = (comm, int(ticks), int(switches))
    return rows

before, after = table("threads.before"), table("threads.after")
by_kind = collections.defaultdict(lambda: [0.0, 0.0])
for tid, (comm, ticks, switches) in after.items():
    _, ticks0, switches0 = before.get(tid, (comm, 0, 0))
    kind = re.sub(r"[-_]?\d+$", "", comm)
    by_kind[kind][0] += (ticks - ticks0) * 1e6 / tck / requests
    by_kind[kind][1] += (switches - switches0) / requests
print("| threads | CPU µs/request | context switches/request |\n|---|---:|---:|")
for kind, (us, cs) in sorted(by_kind.items(), key=lambda kv: -kv[1][0]):
    if us > 0.05 or cs > 0.01:
        print(f"| {kind} | {us:.1f} | {cs:.2f} |")

# The workers' samples: a system call by its name, else the innermost known component.
components = [
    ("log writer", r"switchyard_gateway::logwriter|switchyard_store|sqlx"),
    ("gateway (pipeline, wire, core)", r"switchyard_gateway|switchyard_wire|switchyard_core"),
    ("server handlers", r"switchyard_server"),
    ("axum and tower (routing, layers, extractors)", r"axum::|tower::"),
    ("hyper (server and upstream client)", r"hyper::|hyper_util::|httparse|http::"),
    ("tokio runtime", r"tokio::runtime"),
]
counts, total = collections.Counter(), 0
for sample_text in open(f"{out}/stacks.txt").read().split("\n\n"):
    lines = [l.strip() for l in sample_text.strip().split("\n") if l.strip()]
    if len(lines) < 2 or not lines[0].startswith("tokio-rt"):
        continue
    total += 1
    frames = [l.split(" ", 1)[-1] for l in lines[1:]]
    what = None
    for i, frame in enumerate(frames):
        if frame.startswith("entry_SYSCALL_64"):
            call = frames[i + 1] if i + 1 < len(frames) else "?"
            call = re.sub(r"^(__GI_+|__libc_|_+)", "", call)
            what = "system call " + ("futex (via syscall)" if call == "syscall" else call)
            break
    if what is None:
        allocating = re.search(r"mi_|malloc|free", frames[0])
        for frame in frames:
            hit = next((n for n, p in components if re.search(p, frame)), None)
            if hit:
                what = hit + (" (allocating)" if allocating else "")
                break
    counts[what or "other"] += 1
print(f"\n| tokio workers: {total} samples | share |\n|---|---:|")
for what, n in counts.most_common(16):
    print(f"| {what} | {100 * n / total:.1f} % |")
PY
