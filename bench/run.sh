#!/usr/bin/env bash
# Macro benchmark: origin_exporter against Debian's prometheus-blackbox-exporter on the same
# loopback TLS farm, in the same run. See bench/README.md.
#
#   bash bench/run.sh [--origins N] [--cycles K] [--blackbox-cycles K] [--interval SECONDS]
#                     [--only ours|blackbox] [--key ecdsa|rsa] [--blackbox-modules one|per-name]
#                     [--large-fleet] [--concurrency N]
#
# K defaults to 5. origin_exporter re-probes an origin's protocol matrix and CDN-profile handshake
# every 15th cycle (15 minutes at 60 s), each origin on its own cycle (a stable hash), so after
# the warm-up interval about 1/15 of the origins refresh in every cycle and any K averages it.
# blackbox_exporter keeps no state between probes: --blackbox-cycles (default K) may be smaller
# to save time.
#
# One nginx TLS listener on 127.0.0.1 (wildcard certificate *.bench.test with an ECDSA P-256 key,
# or RSA-2048 with --key rsa, issued by a lab intermediate; no session cache or tickets), N
# origins oN.bench.test pinned to it. First origin_exporter probes them with checks [tcp, tls]
# (one warm-up interval, then K measured intervals, /metrics scraped once per interval; with
# --large-fleet in large-fleet mode); then blackbox_exporter probes the same names driven by a
# loader that requests /probe once per origin per interval, spread evenly: by default configured
# as its users run it, one tcp+tls module with the SNI taken from the target name (the names
# resolve through a private /etc/hosts bind-mounted in blackbox's own mount namespace), or with
# --blackbox-modules per-name one module per SNI name (server_name). bench/measure.py measures
# both the same way and prints the figures and ratios. Everything listens on loopback and is
# stopped on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N=1000
CYCLES=5
BB_CYCLES=
INTERVAL=60
ONLY=both
KEY=ecdsa
BB_MODULES=one
LARGE_FLEET=false
CONCURRENCY=64
while (($#)); do
  case $1 in
    --origins) N=$2; shift 2 ;;
    --cycles) CYCLES=$2; shift 2 ;;
    --blackbox-cycles) BB_CYCLES=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --key) KEY=$2; shift 2 ;;
    --blackbox-modules) BB_MODULES=$2; shift 2 ;;
    --large-fleet) LARGE_FLEET=true; shift ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
BB_CYCLES=${BB_CYCLES:-$CYCLES}
[[ $KEY == ecdsa || $KEY == rsa ]] || { echo "--key ecdsa|rsa" >&2; exit 2; }
[[ $BB_MODULES == one || $BB_MODULES == per-name ]] || { echo "--blackbox-modules one|per-name" >&2; exit 2; }

# shellcheck source=deploy/validate/lib.sh
source "$ROOT/deploy/validate/lib.sh" # ensure_apt, free_port
# The figures go to stdout; progress and failures to stderr.
log() { printf '== %s\n' "$*" >&2; }
fail() { printf 'bench: %s\n' "$*" >&2; exit 1; }

ensure_apt nginx:nginx prometheus-blackbox-exporter:prometheus-blackbox-exporter \
  openssl:openssl curl:curl python3:python3

WORK="$(mktemp -d -t origin-exporter-bench.XXXXXX)"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 7 connections per origin probe at most; leave room.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"


# ---- the exporter, release build ---------------------------------------------------------------
EXPORTER="${EXPORTER_BIN:-$ROOT/target/release/origin_exporter}"
if [[ -z ${EXPORTER_BIN:-} ]]; then
  log "cargo build --release"
  (cd "$ROOT" && cargo build --release --quiet) || fail "cargo build --release"
fi

# ---- PKI: lab root -> intermediate (RSA-2048) -> *.bench.test (ECDSA P-256 or RSA-2048) ----------
log "PKI (openssl)"
cd "$WORK"
{
  openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days 30 \
    -subj "/CN=Bench Root CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
  openssl req -newkey rsa:2048 -nodes -keyout inter.key -out inter.csr -subj "/CN=Bench Intermediate CA"
  printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >inter.ext
  openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 \
    -extfile inter.ext -out inter.pem
  if [[ $KEY == ecdsa ]]; then
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr -subj "/CN=*.bench.test"
  else
    openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj "/CN=*.bench.test"
  fi
  printf 'subjectAltName=DNS:*.bench.test\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >leaf.ext
  openssl x509 -req -in leaf.csr -CA inter.pem -CAkey inter.key -CAcreateserial -days 30 \
    -extfile leaf.ext -out leaf.pem
} >"$WORK/openssl.log" 2>&1 || { cat "$WORK/openssl.log" >&2; fail "openssl"; }
cat leaf.pem inter.pem >fullchain.pem

# ---- nginx: one TLS listener for every name ------------------------------------------------------
TLS_PORT=$(free_port)
mkdir -p nginx/logs nginx/tmp
cat >nginx/nginx.conf <<EOF
user root;
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log crit;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp;
  proxy_temp_path $WORK/nginx/tmp;
  fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp;
  scgi_temp_path $WORK/nginx/tmp;
  server {
    listen 127.0.0.1:$TLS_PORT ssl backlog=4096;
    server_name *.bench.test;
    ssl_certificate $WORK/fullchain.pem;
    ssl_certificate_key $WORK/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    # No session reuse: every probe pays a full handshake, as in the issue's figures.
    ssl_session_cache off;
    ssl_session_tickets off;
    location / { return 200 "ok\n"; }
  }
}
EOF
nginx -t -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" >/dev/null 2>&1 || nginx -t -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'daemon off;' &
PIDS+=($!)
for _ in $(seq 50); do
  (echo >/dev/tcp/127.0.0.1/"$TLS_PORT") 2>/dev/null && break
  sleep 0.1
done
echo | openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername o1.bench.test -CAfile root.pem \
  -verify_return_error >/dev/null 2>&1 || fail "nginx does not serve a chain that verifies"

MACHINE="$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
log "machine: $MACHINE; load: $(cut -d' ' -f1-3 /proc/loadavg)"
log "N=$N origins, interval ${INTERVAL}s, $CYCLES measured cycles ($BB_CYCLES for blackbox) after one warm-up interval; leaf key $KEY; blackbox modules: $BB_MODULES; large_fleet: $LARGE_FLEET; concurrency: $CONCURRENCY"

# ---- origin_exporter -------------------------------------------------------------------------------
if [[ $ONLY != blackbox ]]; then
  {
    echo "global:"
    echo "  interval: ${INTERVAL}s"
    echo "  timeout: 5s"
    echo "  ca_file: $WORK/root.pem"
    echo "  checks: [tcp, tls]"
    echo "  large_fleet: $LARGE_FLEET"
    echo "  concurrency: $CONCURRENCY"
    echo "origins:"
    for ((i = 1; i <= N; i++)); do
      echo "  - {name: o$i, domain: o$i.bench.test, address: 127.0.0.1, https_port: $TLS_PORT}"
    done
  } >exporter.yaml
  "$EXPORTER" config check --config.file=exporter.yaml >/dev/null || fail "config check"
  EXP_PORT=$(free_port)
  "$EXPORTER" --config.file=exporter.yaml --web.listen-address="127.0.0.1:$EXP_PORT" \
    --log.level=warn >exporter.log 2>&1 &
  EXP_PID=$!
  PIDS+=("$EXP_PID")
  python3 "$ROOT/bench/measure.py" ours --pid "$EXP_PID" --origins "$N" --interval "$INTERVAL" \
    --cycles "$CYCLES" --metrics "http://127.0.0.1:$EXP_PORT/metrics" --out "$WORK/ours.json" ||
    { tail -20 exporter.log >&2; fail "measuring origin_exporter"; }
  kill "$EXP_PID" 2>/dev/null || true
  wait "$EXP_PID" 2>/dev/null || true
fi

# ---- blackbox_exporter -------------------------------------------------------------------------------
if [[ $ONLY != ours ]]; then
  BB_PORT=$(free_port)
  if [[ $BB_MODULES == one ]]; then
    # As blackbox's users run it: one module, the SNI name from the target (tcp prober, tls).
    # The names resolve through a hosts file bind-mounted over /etc/hosts in blackbox's own mount
    # namespace (Go's resolver reads /etc/hosts first): nothing changes outside it.
    printf 'modules:\n  tls_connect: {prober: tcp, timeout: 5s, tcp: {preferred_ip_protocol: ip4, tls: true, tls_config: {ca_file: %s}}}\n' \
      "$WORK/root.pem" >blackbox.yml
    { echo "127.0.0.1 localhost"; for ((i = 1; i <= N; i++)); do echo "127.0.0.1 o$i.bench.test"; done; } >hosts
    unshare --mount bash -c 'mount --bind "$1" /etc/hosts && exec "${@:2}"' _ "$WORK/hosts" \
      prometheus-blackbox-exporter --config.file=blackbox.yml --web.listen-address="127.0.0.1:$BB_PORT" \
      --log.level=warn >blackbox.log 2>&1 &
    PROBE_URL="http://127.0.0.1:$BB_PORT/probe?target=o{i}.bench.test:$TLS_PORT&module=tls_connect"
  else
    # blackbox 0.23 takes `hostname` for the http prober only: one module per SNI name.
    {
      echo "modules:"
      for ((i = 1; i <= N; i++)); do
        echo "  tls_o$i: {prober: tcp, timeout: 5s, tcp: {tls: true, tls_config: {ca_file: $WORK/root.pem, server_name: o$i.bench.test}}}"
      done
    } >blackbox.yml
    prometheus-blackbox-exporter --config.file=blackbox.yml --web.listen-address="127.0.0.1:$BB_PORT" \
      --log.level=warn >blackbox.log 2>&1 &
    PROBE_URL="http://127.0.0.1:$BB_PORT/probe?target=127.0.0.1:$TLS_PORT&module=tls_o{i}"
  fi
  BB_PID=$!
  PIDS+=("$BB_PID")
  python3 "$ROOT/bench/measure.py" blackbox --pid "$BB_PID" --origins "$N" --interval "$INTERVAL" \
    --cycles "$BB_CYCLES" --metrics "http://127.0.0.1:$BB_PORT/metrics" --probe "$PROBE_URL" \
    --out "$WORK/blackbox.json" || { tail -20 blackbox.log >&2; fail "measuring blackbox_exporter"; }
fi

python3 "$ROOT/bench/measure.py" report --machine "$MACHINE" "$WORK"/ours.json "$WORK"/blackbox.json
