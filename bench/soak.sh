#!/usr/bin/env bash
# Soak test: ORIGINS origins on loopback (healthy and broken mixed: TLS good/expired/self-signed,
# garbage after the hello, resets, closed and silent ports, HTTP 200/503, DNS found/NXDOMAIN;
# examples/soak_lab.rs) probed every INTERVAL for DURATION seconds, with a config reload every
# RELOAD_EVERY samples alternating between all origins and 90% of them. Samples the exporter's
# RSS, open file descriptors, threads and tokio tasks (origin_exporter_runtime_tasks), prints
# them as a table, and fails if any grows after warm-up: the mean of the last third of the
# samples may exceed the mean of the second third by at most TOLERANCE percent (plus a small
# absolute slack for the small counts).
#
#   bench/soak.sh                      # 1000 origins, 2s interval, 240 s
#   ORIGINS=300 DURATION=90 bench/soak.sh
#
# Loopback only; everything it starts is stopped on exit. Not part of the test command (long).
set -euo pipefail

ORIGINS=${ORIGINS:-1000}
INTERVAL=${INTERVAL:-2s}
DURATION=${DURATION:-240}
SAMPLE=${SAMPLE:-5}
RELOAD_EVERY=${RELOAD_EVERY:-3}
TOLERANCE=${TOLERANCE:-10}
PROFILE=${PROFILE:-debug}
PORT=${PORT:-19599}

cd "$(dirname "$0")/.."
work=$(mktemp -d)
lab_pid="" exporter_pid=""
cleanup() {
    set +e
    if [[ -n $exporter_pid ]]; then kill "$exporter_pid" 2>/dev/null; wait "$exporter_pid" 2>/dev/null; fi
    # Closing the lab's stdin stops it; killed if it has not stopped by then.
    exec 3>&- 2>/dev/null
    if [[ -n $lab_pid ]]; then sleep 0.5; kill "$lab_pid" 2>/dev/null; wait "$lab_pid" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

release=()
[[ $PROFILE == release ]] && release=(--release)
cargo build -q "${release[@]}" --bin origin_exporter --example soak_lab
bin=target/$PROFILE

# The lab: reads nothing but stdin's end, so a FIFO kept open here holds it up.
mkfifo "$work/lab.in"
"$bin/examples/soak_lab" "$work" "$ORIGINS" "$INTERVAL" <"$work/lab.in" >"$work/lab.out" 2>"$work/lab.err" &
lab_pid=$!
exec 3>"$work/lab.in"
for _ in $(seq 100); do grep -q ready "$work/lab.out" 2>/dev/null && break; sleep 0.2; done
grep -q ready "$work/lab.out" || { echo "soak lab did not start:"; cat "$work/lab.err"; exit 1; }

cp "$work/full.yaml" "$work/config.yaml"
"$bin/origin_exporter" --config.file="$work/config.yaml" --web.listen-address="127.0.0.1:$PORT" \
    --log.level=warn >"$work/exporter.log" 2>&1 &
exporter_pid=$!
url="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$url/-/healthy" >/dev/null && break; sleep 0.2; done

metric() { # NAME: value of an unlabelled series from /metrics
    curl -sf --max-time 10 "$url/metrics" | awk -v n="$1" '$1 == n {v = $2} END {print v}'
}

echo "soak: $ORIGINS origins, interval $INTERVAL, $DURATION s, a sample every $SAMPLE s, a reload every $RELOAD_EVERY samples"
printf '%6s %8s %6s %8s %6s %8s %8s\n' t_s rss_kib fds threads tasks origins reloads
samples="$work/samples"
: >"$samples"
start=$(date +%s)
n=0 reloads=0
while (($(date +%s) - start < DURATION)); do
    sleep "$SAMPLE"
    kill -0 "$exporter_pid" 2>/dev/null || { echo "exporter died:"; tail -20 "$work/exporter.log"; exit 1; }
    n=$((n + 1))
    if ((n % RELOAD_EVERY == 0)); then
        if ((reloads % 2 == 0)); then src=less; else src=full; fi
        cp "$work/$src.yaml" "$work/config.yaml"
        curl -sf -X POST "$url/-/reload" >/dev/null || { echo "reload failed"; exit 1; }
        reloads=$((reloads + 1))
    fi
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$exporter_pid/status")
    threads=$(awk '/^Threads/ {print $2}' "/proc/$exporter_pid/status")
    fds=$(find "/proc/$exporter_pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
    tasks=$(metric origin_exporter_runtime_tasks)
    origins=$(metric origin_exporter_origins)
    t=$(($(date +%s) - start))
    printf '%6s %8s %6s %8s %6s %8s %8s\n' "$t" "$rss" "$fds" "$threads" "$tasks" "$origins" "$reloads"
    echo "$t $rss $fds $threads $tasks" >>"$samples"
done

# What the exporter saw at the end: the mix of healthy and broken is real, and probing kept up.
curl -sf --max-time 10 "$url/metrics" >"$work/last.prom"
echo "active causes at the end (origins):"
grep -E '^origin_problem\{' "$work/last.prom" | awk '$NF == 1' |
    sed -E 's/.*cause="([^"]*)".*/\1/' | sort | uniq -c | sed 's/^/  /'
awk '/^origin_exporter_probes_total\{/ {n += $NF} END {printf "checks run: %d\n", n}' "$work/last.prom"

# Growth after warm-up: the first third is warm-up, then last third vs second third.
status=0
python3 - "$samples" "$TOLERANCE" <<'EOF' || status=$?
import sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
tol = float(sys.argv[2]) / 100
if len(rows) < 6:
    sys.exit(f"soak: only {len(rows)} samples; run longer")
third = len(rows) // 3
mid, last = rows[third:2 * third], rows[len(rows) - third:]
# Small absolute slack: a few tasks or descriptors in flight differ from one sample to the next.
slack = {"rss_kib": 4096, "fds": 16, "threads": 2, "tasks": 32}
failed = False
print(f"{'':10} {'start':>10} {'mid mean':>10} {'last mean':>10} {'end':>10}")
for i, name in enumerate(["rss_kib", "fds", "threads", "tasks"], start=1):
    m = sum(r[i] for r in mid) / len(mid)
    l = sum(r[i] for r in last) / len(last)
    grew = l > m * (1 + tol) + slack[name]
    failed |= grew
    print(f"{name:10} {rows[0][i]:10.0f} {m:10.1f} {l:10.1f} {rows[-1][i]:10.0f}{'  GREW' if grew else ''}")
sys.exit(1 if failed else 0)
EOF
echo "soak: $([[ $status == 0 ]] && echo "no growth after warm-up" || echo "FAILED: growth after warm-up")"
exit $status
