#!/usr/bin/env bash
# End-to-end proof: the exporter probes a loopback lab, a real Prometheus (Debian `prometheus`)
# scrapes it with deploy/prometheus/alerts.yml loaded, a real Alertmanager (Debian
# `prometheus-alertmanager`) sends to a webhook receiver here, and we assert:
#   - the expected alerts arrive for the broken origins, and none for the healthy one;
#   - no alert about the exporter itself (down, late probes) fires while it runs; a rejected config
#     reload raises OriginExporterConfigReloadFailed, and stopping the exporter OriginExporterDown;
#   - the example's /probe jobs (deploy/prometheus/prometheus.yml relabeling, configured and ad-hoc)
#     scrape and report the right verdicts;
#   - every dashboard panel query, variables substituted, evaluates without error against that
#     Prometheus, with data wherever the series it reads exist.
# Everything listens on 127.0.0.0/8. When it can (root, unshare), the test runs in its own
# network namespace with only a loopback interface, and /etc/resolv.conf points at a lab DNS stub,
# so that nothing can leave the machine. Bounded: about 30 s, hard limit E2E_TIMEOUT (170 s).
# E2E_KEEP=1 keeps the work directory (configs, logs, webhook.jsonl) for a look afterwards.
# E2E_LARGE_FLEET=1 runs the exporter in large-fleet mode (global.large_fleet: true): every
# assertion must hold in both modes.
# E2E_DEMO=1 runs it against `origin_exporter demo` instead of the lab below: the demo's origins
# and the exporter in one process (its own certificates and DNS servers, all on 127.0.0.0/8), and
# for every origin the alert naming the cause the demo says it shows must arrive; the /probe jobs,
# the healthy origin, the reload, the dashboards and the exporter going away are checked as here.
#
# Lab origins (global.resolvers and the system resolver both point at the lab DNS stub):
#   healthy       TLS server with a certificate from the lab CA (global.ca_file), valid 1 year
#   closed        nobody listens on its port                 -> port_unreachable
#   unresolvable  NXDOMAIN from the lab resolver             -> dns_resolution_failed
#   expired       TLS server with an expired certificate     -> cert_expired       (TLS check)
#   lame          one authoritative and one lame nameserver  -> dns_lame_delegation (DNS check)
# The lame nameserver (on 127.0.0.3/4:53) and the unresolvable name (NXDOMAIN must come from the
# lab resolver, not the host's) need the network namespace; without it (not root, or no unshare)
# they are reported as SKIP.
set -euo pipefail
# shellcheck source=deploy/validate/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/validate/lib.sh"
E2E_DIR="$ROOT/deploy/e2e"
E2E_TIMEOUT=${E2E_TIMEOUT:-170}

# ---- outside the namespace: install, build, then re-run this script inside it ----------------
if [[ -z ${E2E_INSIDE:-} ]]; then
  ensure_base_tools
  ensure_apt prometheus-alertmanager:prometheus-alertmanager openssl:openssl ip:iproute2 unshare:util-linux
  ensure_exporter
  export EXPORTER_BIN="$EXPORTER"
  if [[ $(id -u) -eq 0 ]] && unshare --net --mount true 2>/dev/null; then
    log "e2e: running in a private network namespace (loopback only)"
    E2E_INSIDE=netns exec timeout --kill-after=10 "$E2E_TIMEOUT" unshare --net --mount bash "$0" "$@"
  fi
  log "e2e: no network namespace available; running on the host's loopback (unresolvable origin skipped)"
  E2E_INSIDE=host exec timeout --kill-after=10 "$E2E_TIMEOUT" bash "$0" "$@"
fi
export E2E_INSIDE
EXPORTER="$EXPORTER_BIN"
started=$SECONDS
[[ ${E2E_LARGE_FLEET:-0} == 1 ]] && log "e2e: large-fleet mode (global.large_fleet: true)"
DEMO=${E2E_DEMO:-0}
[[ $DEMO == 1 ]] && log "e2e: against origin_exporter demo"

WORK="$(mktemp -d -t origin-exporter-e2e.XXXXXX)"
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if ((rc != 0)); then
    echo "---- e2e failed; logs ----" >&2
    for f in "$WORK"/*.log; do [[ -s $f ]] && { echo "== $f" >&2; tail -n 20 "$f" >&2; }; done
  fi
  if [[ -n ${E2E_KEEP:-} ]]; then echo "e2e: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start() { # start NAME CMD...: runs CMD in the background, logging to $WORK/NAME.log
  local name=$1
  shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}

PASSED=0
FAILED=0
SKIPPED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
failed() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP: $*"; }

# ---- network: loopback only ------------------------------------------------------------------
LAB_DNS=127.0.0.1
if [[ $E2E_INSIDE == netns ]]; then
  ip link set lo up
  echo "nameserver $LAB_DNS" >"$WORK/resolv.conf"
  mount --bind "$WORK/resolv.conf" /etc/resolv.conf
fi

EXPORTER_PORT=$(free_port)
PROM_PORT=$(free_port)
AM_PORT=$(free_port)
HOOK_PORT=$(free_port)
if [[ $DEMO == 1 ]]; then
  # ---- the demo: its origins and the exporter, one process ------------------------------------
  # Large-fleet mode through the environment (ORIGIN_EXPORTER_<KEY> overrides global keys).
  fleet=()
  [[ ${E2E_LARGE_FLEET:-0} == 1 ]] && fleet=(env ORIGIN_EXPORTER_LARGE_FLEET=true)
  start exporter "${fleet[@]}" "$EXPORTER" demo --web.listen-address="127.0.0.1:$EXPORTER_PORT"
  EXPORTER_PID=${PIDS[-1]}
  deadline=$((SECONDS + 30))
  until grep -q '^Landing page:' "$WORK/exporter.log"; do
    ((SECONDS < deadline)) || fail "the demo printed no guide within 30s"
    sleep 0.2
  done
  CONFIG=$(sed -n 's/^Config: *\([^ ]*\) .*/\1/p' "$WORK/exporter.log")
  # What it shows, from the table it printed ("  ORIGIN  CAUSE  what its server does"; the
  # healthy one's cause reads "(none: ready)"): "ORIGIN CAUSE" per line.
  mapfile -t DEMO_SHOWS < <(awk '/^  origin +cause/ {t = 1; next} t && NF == 0 {exit} t {print $1, $2}' "$WORK/exporter.log")
  ((${#DEMO_SHOWS[@]} >= 15)) || fail "the demo's table lists ${#DEMO_SHOWS[@]} origins: $(cat "$WORK/exporter.log")"
  ORIGINS=("${DEMO_SHOWS[@]%% *}")
  CLOSED_ORIGIN=closed-port
  HEALTHY_PORT="" # no ad-hoc /probe?target= job: the demo allows none
else
# The lab, written by this script (not indented: as it was before the demo mode).
CONFIG="$WORK/config.yaml"
CLOSED_ORIGIN=closed
# ---- lab PKI: a CA, a valid leaf, an expired leaf --------------------------------------------
pki="$WORK/pki"
mkdir -p "$pki"
(
  cd "$pki"
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 3650 -subj "/CN=origin_exporter e2e lab CA"
  for name in healthy expired; do
    openssl req "${ec[@]}" -keyout "$name.key" -out "$name.csr" -subj "/CN=$name.lab.test" \
      -addext "subjectAltName=DNS:$name.lab.test"
  done
  openssl x509 -req -in healthy.csr -CA ca.pem -CAkey ca.key -set_serial 1001 -days 365 \
    -copy_extensions copy -out healthy.pem
  printf '[ca]\ndefault_ca=lab\n[lab]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=pol\ncopy_extensions=copy\nunique_subject=no\n[pol]\ncommonName=supplied\n' >ca.cnf
  : >index.txt
  echo 2001 >serial
  openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
    -startdate 20250101000000Z -enddate 20250201000000Z -notext
) >"$WORK/pki.log" 2>&1 || fail "lab PKI: openssl failed (see $WORK/pki.log)"
# The fake CloudFront edge (deploy/e2e/fake_edge.py) serves edge.lab.test with a leaf of the lab CA.
(
  cd "$pki"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout edge.key -out edge.csr \
    -subj "/CN=edge.lab.test" -addext "subjectAltName=DNS:edge.lab.test"
  openssl x509 -req -in edge.csr -CA ca.pem -CAkey ca.key -set_serial 1002 -days 365 -copy_extensions copy -out edge.pem
) >>"$WORK/pki.log" 2>&1 || fail "lab PKI: openssl failed for the edge (see $WORK/pki.log)"

# ---- lab servers -----------------------------------------------------------------------------
HEALTHY_PORT=$(free_port)
EXPIRED_PORT=$(free_port)
CLOSED_PORT=$(free_port) # nobody will listen here
EDGE_PORT=$(free_port)   # the fake CloudFront edge
RESOLVER_PORT=$(free_port)
[[ $E2E_INSIDE == netns ]] && DNS_PORT=53 || DNS_PORT=$(free_port)

# Recursive resolver stand-in (global.resolvers, and /etc/resolv.conf inside the namespace):
# knows the lab names, NXDOMAIN for the rest. The lab zone's nameservers: ns1 authoritative,
# ns2 lame (REFUSED), both on dns_port.
resolver_zone=$(
  cat <<EOF
{"authoritative": false, "records": {
  "healthy.lab.test.": {"A": ["127.0.0.1"]}, "expired.lab.test.": {"A": ["127.0.0.1"]},
  "lame.lab.test.": {"A": ["127.0.0.1"]},
  "lab.test.": {"NS": ["ns1.lab.test.", "ns2.lab.test."], "SOA": 2026112401},
  "ns1.lab.test.": {"A": ["127.0.0.3"]}, "ns2.lab.test.": {"A": ["127.0.0.4"]}}}
EOF
)
auth_zone=$(
  cat <<EOF
{"authoritative": true, "records": {
  "lame.lab.test.": {"A": ["127.0.0.1"]},
  "lab.test.": {"NS": ["ns1.lab.test.", "ns2.lab.test."], "SOA": 2026112401},
  "ns1.lab.test.": {"A": ["127.0.0.3"]}, "ns2.lab.test.": {"A": ["127.0.0.4"]}}}
EOF
)
resolver_addrs=("127.0.0.1:$RESOLVER_PORT")
[[ $E2E_INSIDE == netns ]] && resolver_addrs+=("$LAB_DNS:53")
start dns-resolver python3 "$E2E_DIR/dns_stub.py" "$resolver_zone" "${resolver_addrs[@]}"
start dns-ns1 python3 "$E2E_DIR/dns_stub.py" "$auth_zone" "127.0.0.3:$DNS_PORT"
start dns-ns2 python3 "$E2E_DIR/dns_stub.py" '{"refuse": true}' "127.0.0.4:$DNS_PORT"

for name in healthy expired; do
  port_var="${name^^}_PORT"
  start "tls-$name" openssl s_server -quiet -www -accept "127.0.0.1:${!port_var}" \
    -cert "$pki/$name.pem" -key "$pki/$name.key"
done

# The edge check: origin `lambda` is the healthy TLS server, but its edge URL is served by a fake
# CloudFront edge answering a Lambda@Edge validation error (502, X-Cache: LambdaValidationError
# from cloudfront) -> edge_lambda_error, alert OriginEdgeLambdaError.
start fake-edge python3 "$E2E_DIR/fake_edge.py" --cert "$pki/edge.pem" --key "$pki/edge.key" \
  --listen "127.0.0.1:$EDGE_PORT" --x-cache "LambdaValidationError from cloudfront" --status 502 \
  --lifetime "$E2E_TIMEOUT"
edge_origin="  - name: lambda
    domain: healthy.lab.test
    address: 127.0.0.1
    https_port: $HEALTHY_PORT
    checks: [tcp, tls, http, edge]
    http: {path: /, expect_status: [2xx]}
    edge: {url: \"https://edge.lab.test:$EDGE_PORT/healthz\", address: 127.0.0.1}"

# ---- the exporter ----------------------------------------------------------------------------
resolvable_origins=""
if [[ $E2E_INSIDE == netns ]]; then
  resolvable_origins="  - {name: unresolvable, domain: unresolvable.lab.test, checks: [dns, tcp]}
  - {name: lame, domain: lame.lab.test, https_port: $HEALTHY_PORT, checks: [dns, tcp]}"
fi
cat >"$WORK/config.yaml" <<EOF
global:
  interval: 5s
  timeout: 3s
  large_fleet: $([[ ${E2E_LARGE_FLEET:-0} == 1 ]] && echo true || echo false)
  resolvers: ["127.0.0.1:$RESOLVER_PORT"]
  allow_adhoc_targets: true
  adhoc_allowed_domains: ["*.lab.test"]
  adhoc_allowed_networks: [127.0.0.0/8]
  dns_port: $DNS_PORT
  ca_file: $pki/ca.pem
origins:
  - name: healthy
    domain: healthy.lab.test
    address: 127.0.0.1
    https_port: $HEALTHY_PORT
    checks: [tcp, tls, http]
    http: {path: /, expect_status: [2xx]}
    labels: {team: lab}
  - {name: closed, domain: closed.lab.test, address: 127.0.0.1, https_port: $CLOSED_PORT, checks: [tcp, tls]}
  - {name: expired, domain: expired.lab.test, address: 127.0.0.1, https_port: $EXPIRED_PORT, checks: [tcp, tls]}
$resolvable_origins
$edge_origin
EOF
"$EXPORTER" config check --config.file="$WORK/config.yaml" >"$WORK/config-check.log" 2>&1 ||
  fail "lab config rejected: $(cat "$WORK/config-check.log")"
start exporter "$EXPORTER" --config.file="$WORK/config.yaml" --web.listen-address="127.0.0.1:$EXPORTER_PORT"
EXPORTER_PID=${PIDS[-1]}
ORIGINS=(healthy closed expired)
[[ $E2E_INSIDE == netns ]] && ORIGINS+=(unresolvable lame)
ORIGINS+=(lambda)
fi

# ---- Alertmanager and its webhook receiver -----------------------------------------------------
touch "$WORK/webhook.jsonl"
start webhook python3 "$E2E_DIR/webhook.py" 127.0.0.1 "$HOOK_PORT" "$WORK/webhook.jsonl"
cat >"$WORK/alertmanager.yml" <<EOF
route:
  receiver: webhook
  group_by: [alertname, origin, instance]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: http://127.0.0.1:$HOOK_PORT/alerts
        send_resolved: true
EOF
start alertmanager prometheus-alertmanager --config.file="$WORK/alertmanager.yml" \
  --storage.path="$WORK/alertmanager" --web.listen-address="127.0.0.1:$AM_PORT" \
  --cluster.listen-address= --log.level=warn

# ---- Prometheus with alerts.yml ------------------------------------------------------------------
# The rules as shipped, with every `for:` cut to 3s so that the test takes seconds, not minutes.
sed -E 's/^( +)for: [0-9]+[smh]$/\1for: 3s/' "$ROOT/deploy/prometheus/alerts.yml" >"$WORK/alerts.yml"
cmp -s "$ROOT/deploy/prometheus/alerts.yml" "$WORK/alerts.yml" && fail "no for: found to shorten in alerts.yml"
# The scrape jobs: /metrics every second, plus the two /probe jobs of the shipped example
# deploy/prometheus/prometheus.yml with their relabeling as they are, pointed at the lab.
# Without a healthy port (the demo) no ad-hoc job.
python3 - "$ROOT/deploy/prometheus/prometheus.yml" "$WORK/prometheus.yml" "127.0.0.1:$EXPORTER_PORT" \
  "127.0.0.1:$AM_PORT" "$CLOSED_ORIGIN" "$HEALTHY_PORT" <<'PY' || fail "cannot derive the e2e prometheus.yml from the example"
import sys, yaml
example, out, exporter, am, closed, healthy_port = sys.argv[1:]
jobs = {j["job_name"]: j for j in yaml.safe_load(open(example))["scrape_configs"]}
def lab(job, static):
    j = dict(jobs[job], scrape_interval="5s", scrape_timeout="4s", static_configs=static)
    for r in j["relabel_configs"]:
        if r.get("target_label") == "__address__":
            assert r["replacement"] == "origin-exporter:19502", r
            r["replacement"] = exporter
    return j
def lab_sd(job):
    # The exporter's own target list: every origin name from /sd, as the example relabels it.
    j = lab(job, None)
    del j["static_configs"]
    j["http_sd_configs"] = [dict(c, url=f"http://{exporter}/sd", refresh_interval="5s")
                            for c in jobs[job]["http_sd_configs"]]
    return j
cfg = {
    "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
    "rule_files": ["alerts.yml"],
    "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am]}]}]},
    "scrape_configs": [
        {"job_name": "origin_exporter", "static_configs": [{"targets": [exporter]}]},
        lab("origin_exporter_probe", [{"targets": ["healthy", closed]}]),
        lab_sd("origin_exporter_sd"),
    ] + ([lab("origin_exporter_adhoc", [{"targets": ["healthy.lab.test"],
                                         "labels": {"__param_address": "127.0.0.1", "__param_https_port": healthy_port}}])]
         if healthy_port else []),
}
yaml.safe_dump(cfg, open(out, "w"), sort_keys=False)
PY
promtool check config "$WORK/prometheus.yml" >"$WORK/promtool.log" 2>&1 || fail "e2e prometheus.yml: $(cat "$WORK/promtool.log")"
start prometheus prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn

PROM="http://127.0.0.1:$PROM_PORT"
wait_http "http://127.0.0.1:$EXPORTER_PORT/-/ready" 20 || fail "exporter not ready within 20s"
wait_http "$PROM/-/ready" 30 || fail "Prometheus not ready within 30s"
wait_http "http://127.0.0.1:$AM_PORT/-/ready" 30 || fail "Alertmanager not ready within 30s"
log "e2e: lab up in $((SECONDS - started))s (exporter :$EXPORTER_PORT, Prometheus :$PROM_PORT, Alertmanager :$AM_PORT)"

# ---- the lab itself works as intended (so that a failure below is the exporter's, not the lab's) ----
# (The demo's origins are the library's lab, tested by tests/demo.rs.)
if [[ $DEMO != 1 ]]; then
lab_ok=1
openssl_probe() { # openssl_probe PORT NAME: verification result of the served chain against the lab CA
  timeout 5 openssl s_client -connect "127.0.0.1:$1" -servername "$2" -CAfile "$pki/ca.pem" \
    -verify_hostname "$2" -verify_return_error </dev/null 2>&1 || true
}
out=$(openssl_probe "$HEALTHY_PORT" healthy.lab.test)
[[ $out == *"Verify return code: 0 (ok)"* ]] || { lab_ok=0; echo "lab: healthy TLS server does not verify: $out" >&2; }
out=$(openssl_probe "$EXPIRED_PORT" expired.lab.test)
[[ $out == *"certificate has expired"* ]] || { lab_ok=0; echo "lab: expired TLS server does not fail as expired: $out" >&2; }
(echo >"/dev/tcp/127.0.0.1/$CLOSED_PORT") 2>/dev/null && { lab_ok=0; echo "lab: something listens on the closed port" >&2; }
dnsq() { python3 "$E2E_DIR/dns_stub.py" --query "$@" 2>&1 || true; }
[[ $(dnsq "127.0.0.1:$RESOLVER_PORT" unresolvable.lab.test A) == "rcode=3 "* ]] ||
  { lab_ok=0; echo "lab: the resolver does not answer NXDOMAIN for unresolvable.lab.test" >&2; }
[[ $(dnsq "127.0.0.3:$DNS_PORT" lame.lab.test A) == "rcode=0 aa=1 answers=1" ]] ||
  { lab_ok=0; echo "lab: ns1 does not answer authoritatively" >&2; }
[[ $(dnsq "127.0.0.4:$DNS_PORT" lab.test SOA) == "rcode=5 aa=0 answers=0" ]] ||
  { lab_ok=0; echo "lab: ns2 is not lame (REFUSED)" >&2; }
if [[ $E2E_INSIDE == netns ]]; then
  python3 -c 'import socket,sys; socket.getaddrinfo("unresolvable.lab.test", 443)' 2>/dev/null &&
    { lab_ok=0; echo "lab: the system resolver resolves unresolvable.lab.test" >&2; }
  python3 -c 'import socket,sys; socket.getaddrinfo("healthy.lab.test", 443)' 2>/dev/null ||
    { lab_ok=0; echo "lab: the system resolver does not reach the lab resolver" >&2; }
fi
edge_status=$(curl -s -m 5 -o /dev/null -w '%{http_code} %header{x-cache}' --cacert "$pki/ca.pem" \
  --resolve "edge.lab.test:$EDGE_PORT:127.0.0.1" "https://edge.lab.test:$EDGE_PORT/healthz" 2>&1 || true)
[[ $edge_status == "502 LambdaValidationError from cloudfront" ]] ||
  { lab_ok=0; echo "lab: the fake edge does not answer a Lambda validation error: $edge_status" >&2; }
((lab_ok)) && pass "lab: TLS servers (valid / expired chain), closed port, resolver, ns1 authoritative, ns2 lame" ||
  failed "lab self-test (above)"
fi

# ---- helpers over the webhook log and Prometheus' API ----------------------------------------------
# firing_at_webhook ALERTNAME ORIGIN: prints the annotations (JSON) of the first firing alert of
# that name and origin from the /metrics job (the /probe jobs repeat the same alerts per instance).
firing_at_webhook() {
  python3 - "$WORK/webhook.jsonl" "$1" "$2" <<'EOF'
import json, sys
path, name, origin = sys.argv[1:]
for line in open(path):
    for a in json.loads(line).get("alerts", []):
        l = a.get("labels", {})
        if (a.get("status") == "firing" and l.get("alertname") == name and l.get("origin", "") == origin
                and l.get("job") == "origin_exporter"):
            print(json.dumps(a["annotations"]))
            sys.exit(0)
EOF
}
# wait_alert ALERTNAME ORIGIN SECONDS EXPECTED_SUBSTRING...: waits for it at the webhook.
wait_alert() {
  local name=$1 origin=$2 secs=$3 deadline=$((SECONDS + $3)) got want
  shift 3
  while ((SECONDS < deadline)); do
    got=$(firing_at_webhook "$name" "$origin")
    if [[ -n $got ]]; then
      for want in "$@"; do
        if [[ $got != *"$want"* ]]; then
          failed "$name{origin=\"$origin\"} arrived but its annotations lack '$want': $got"
          return
        fi
      done
      pass "$name{origin=\"$origin\"} arrived at the webhook after $((SECONDS - started))s ($*)"
      return
    fi
    sleep 0.5
  done
  failed "$name{origin=\"$origin\"} did not arrive at the webhook within ${secs}s"
}
promql() { # promql EXPR: the JSON answer of an instant query
  curl -sf -m 5 --get "$PROM/api/v1/query" --data-urlencode "query=$1"
}

# wait_cause_alert ORIGIN CAUSE SECONDS: waits for a firing alert of ORIGIN (from the /metrics job)
# that names CAUSE (its cause label, or its description) and links to CAUSE's runbook.
wait_cause_alert() {
  local origin=$1 cause=$2 secs=$3 deadline=$((SECONDS + $3)) got
  while ((SECONDS < deadline)); do
    got=$(
      python3 - "$WORK/webhook.jsonl" "$origin" "$cause" <<'EOF'
import json, sys
path, origin, cause = sys.argv[1:]
for line in open(path):
    for a in json.loads(line).get("alerts", []):
        l, ann = a.get("labels", {}), a.get("annotations", {})
        text = ann.get("description", "")
        if (a.get("status") == "firing" and l.get("origin") == origin and l.get("job") == "origin_exporter"
                and (l.get("cause") == cause or f" {cause}." in text or f"cause {cause}" in text)
                and ann.get("runbook_url", "").endswith("#" + cause)):
            print(l["alertname"])
            sys.exit(0)
EOF
    )
    if [[ -n $got ]]; then
      pass "$got{origin=\"$origin\"} naming $cause arrived at the webhook after $((SECONDS - started))s"
      return
    fi
    sleep 0.5
  done
  failed "no alert for origin $origin naming $cause arrived at the webhook within ${secs}s"
}

# ---- assertions: alerts for the broken origins ------------------------------------------------------
if [[ $DEMO == 1 ]]; then
  for shown in "${DEMO_SHOWS[@]}"; do
    [[ ${shown#* } == "("* ]] || wait_cause_alert "${shown%% *}" "${shown#* }" 45
  done
else
wait_alert OriginNotCDNReady closed 45 "Active critical causes: port_unreachable." "#port_unreachable"
if [[ $E2E_INSIDE == netns ]]; then
  wait_alert OriginNotCDNReady unresolvable 20 "Active critical causes: dns_resolution_failed." "#dns_resolution_failed"
else
  skip "unresolvable origin: needs a network namespace so that no query leaves the machine"
fi
wait_alert OriginNotCDNReady expired 20 "Active critical causes: cert_expired." "#cert_expired"
if [[ $E2E_INSIDE != netns ]]; then
  skip "lame nameserver: needs a network namespace (nameservers on 127.0.0.3/4:53)"
else
  wait_alert OriginDNSLameDelegation lame 20 "dns_lame_delegation" "ns2.lab.test"
fi
wait_alert OriginEdgeLambdaError lambda 30 "cause edge_lambda_error" "status 502" "lambda_validation_error" "#edge_lambda_error"
fi

# ---- the multi-target pattern: the example's /probe jobs ------------------------------------------------
value_of() { # value_of EXPR: the value of the single series of an instant query, or "none"
  promql "$1" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if len(r) == 1 else "none")'
}
# Prometheus hands static and /sd targets to its scrape loops on a 5 s tick, offsets each target
# within its 5 s interval and waits up to the 4 s scrape timeout: a target's first sample can come
# 14 s after start. Poll (up to 30 s) instead of asking once.
closed=$CLOSED_ORIGIN
probe_checks=('up{job="origin_exporter_probe",instance="healthy"}=1' "up{job=\"origin_exporter_probe\",instance=\"$closed\"}=1"
  'origin_cdn_ready{job="origin_exporter_probe",instance="healthy",origin="healthy"}=1'
  "origin_cdn_ready{job=\"origin_exporter_probe\",instance=\"$closed\",origin=\"$closed\"}=0"
  'up{job="origin_exporter_sd",instance="healthy"}=1'
  'origin_cdn_ready{job="origin_exporter_sd",instance="healthy",origin="healthy"}=1'
  "origin_cdn_ready{job=\"origin_exporter_sd\",instance=\"$closed\",origin=\"$closed\"}=0")
[[ -n $HEALTHY_PORT ]] && probe_checks+=('up{job="origin_exporter_adhoc",instance="healthy.lab.test"}=1'
  'origin_cdn_ready{job="origin_exporter_adhoc",instance="healthy.lab.test"}=1')
probe_deadline=$((SECONDS + 30))
while :; do
  probe_ok=1 probe_report=""
  for check in "${probe_checks[@]}"; do
    got=$(value_of "${check%=*}")
    [[ $got == "${check##*=}" ]] || { probe_ok=0; probe_report+="  /probe: ${check%=*} is $got, expected ${check##*=}"$'\n'; }
  done
  ((probe_ok)) || ((SECONDS >= probe_deadline)) && break
  sleep 1
done
[[ -z $probe_report ]] || printf '%s' "$probe_report" >&2
((probe_ok)) && pass "/probe?origin= (static and from /sd)$([[ -n $HEALTHY_PORT ]] && echo " and /probe?target=") through the example's relabeling: up, and the verdicts of healthy and $closed" ||
  failed "the multi-target pattern (above)"

# ---- assertions: nothing for the healthy origin, nothing about the exporter ---------------------------
# Give the healthy origin as long as the broken ones needed, plus a few evaluation cycles.
sleep 4
python3 - "$WORK/webhook.jsonl" <<'EOF' && pass "no alert for the healthy origin and none about the exporter reached the webhook" || failed "unexpected alerts at the webhook (above)"
import json, sys
bad = []
for line in open(sys.argv[1]):
    for a in json.loads(line).get("alerts", []):
        l = a["labels"]
        if l.get("origin") == "healthy" or l["alertname"] in ("OriginExporterDown", "OriginExporterAbsent", "OriginProbesLate",
                                                              "OriginExporterConfigReloadFailed", "OriginFlapping"):
            bad.append(l)
for l in bad:
    print("unexpected:", l, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
active=$(promql 'ALERTS{origin="healthy"}' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["result"]))')
((active == 0)) && pass "Prometheus has no pending or firing alert for the healthy origin" ||
  failed "Prometheus has $active pending/firing alerts for the healthy origin"
# Its only critical cause is an edge cause: OriginEdgeLambdaError pages, OriginNotCDNReady does not.
if [[ $DEMO != 1 ]]; then
  [[ -z $(firing_at_webhook OriginNotCDNReady lambda) ]] &&
    pass "no OriginNotCDNReady for the origin whose only cause is edge_lambda_error (one page per origin)" ||
    failed "OriginNotCDNReady arrived for origin lambda, whose only critical cause is an edge cause"
fi
ready=$(promql 'origin_cdn_ready{origin="healthy"}' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")')
[[ $ready == 1 ]] && pass "origin_cdn_ready{origin=\"healthy\"} is 1" || failed "origin_cdn_ready{origin=\"healthy\"} is $ready"
# The healthy origin's series in /metrics: at most 20 in large-fleet mode (no origin_problem 0
# series, no details), every one otherwise.
healthy_series=$(value_of 'count({job="origin_exporter",origin="healthy"})')
healthy_problems=$(value_of 'count(origin_problem{job="origin_exporter",origin="healthy"})')
if [[ ${E2E_LARGE_FLEET:-0} == 1 ]]; then
  [[ $healthy_series != none && $healthy_series -le 20 && $healthy_problems == none ]] &&
    pass "large-fleet mode: the healthy origin has $healthy_series series, no origin_problem series" ||
    failed "large-fleet mode: the healthy origin has $healthy_series series and $healthy_problems origin_problem series"
else
  [[ $healthy_series != none && $healthy_series -gt 20 && $healthy_problems != none ]] &&
    pass "full mode: the healthy origin has $healthy_series series, $healthy_problems of them origin_problem" ||
    failed "full mode: the healthy origin has $healthy_series series and $healthy_problems origin_problem series"
fi

# ---- assertion: a rejected config reload alerts --------------------------------------------------------
cp "$CONFIG" "$WORK/config.good"
printf 'global:\n  interval: 0s\norigins: []\n' >"$CONFIG"
kill -HUP "$EXPORTER_PID"
wait_alert OriginExporterConfigReloadFailed "" 20 "config check"
cp "$WORK/config.good" "$CONFIG"
kill -HUP "$EXPORTER_PID"

# ---- dashboards: every panel query against this Prometheus ---------------------------------------------
python3 - "$PROM" "$ROOT" "${ORIGINS[@]}" <<'EOF' && pass "dashboard queries evaluated (counts above)" || failed "dashboard queries (above)"
import json, re, sys, time, urllib.parse, urllib.request
sys.path.insert(0, sys.argv[2] + "/deploy/validate")
from checks import metric_names, panels_of, substitute

prom, root, origins = sys.argv[1], sys.argv[2], sys.argv[3:]

def api(path, **params):
    url = f"{prom}/api/v1/{path}?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)

def has_series(name, origin):
    sel = f'{name}{{origin="{origin}"}}' if origin else name
    res = api("query", query=f"count({sel})")
    return res.get("status") == "success" and bool(res["data"]["result"])

def strip(expr):
    s = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    return re.sub(r"\{[^}]*\}", "", s)

errors, total, with_data, no_data_ok = [], 0, 0, 0
absent = set()
now = time.time()
for board, runs in (("origin-fleet.json", [None]), ("origin-detail.json", origins)):
    dash = json.load(open(f"{root}/dashboards/{board}"))
    # Template variables first: their queries must answer too.
    for v in dash["templating"]["list"]:
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.match(r"label_values\((.*),\s*(\w+)\)$", q)
            sel = substitute(m.group(1), {"job": ".*", "distribution_id": ".*"})
            res = api("series", **{"match[]": sel, "start": now - 300, "end": now})
            values = sorted({s.get(m.group(2)) for s in res.get("data", [])} - {None})
            total += 1
            # A variable with an "All" value (.*) works without values of its own: the lab has
            # no discovered origins, so no distribution_id.
            optional = v.get("includeAll") and v.get("allValue") == ".*"
            if res.get("status") == "success" and not values and optional:
                no_data_ok += 1
            elif res.get("status") != "success" or not values:
                errors.append(f"{board} variable {v['name']}: {q} -> {res.get('error', 'no values')}")
            else:
                with_data += 1
                if v["name"] == "origin" and not set(origins) <= set(values):
                    errors.append(f"{board} variable origin lists {values}, missing some of {origins}")
    for origin in runs:
        values = {"job": ".*", "distribution_id": ".*", "origin": origin or "", "__rate_interval": "15s", "datasource": "prometheus"}
        for panel in panels_of(dash):
            for t in panel.get("targets", []):
                expr = substitute(t["expr"], values)
                total += 1
                if t.get("instant"):
                    res = api("query", query=expr, time=now)
                else:
                    res = api("query_range", query=expr, start=now - 60, end=now, step=2)
                where = f"{board} [{origin or 'fleet'}] {panel['title']!r} {t['refId']}: {expr}"
                if res.get("status") != "success":
                    errors.append(f"{where}: {res.get('errorType')}: {res.get('error')}")
                    continue
                got = bool(res["data"]["result"])
                names = metric_names(t["expr"])
                filtered = re.search(r"(==|!=|<|>)", strip(expr)) is not None
                expect = "vector(" in expr or (not filtered and all(has_series(n, origin) for n in names))
                if got:
                    with_data += 1
                elif expect:
                    errors.append(f"{where}: no data, but its series exist")
                else:
                    no_data_ok += 1
                    absent.update(n for n in names if not has_series(n, None))
for e in errors:
    print("  dashboard:", e, file=sys.stderr)
print(f"  dashboards: {total} queries (panels x origins, and variables): {with_data} with data, "
      f"{no_data_ok} empty because their series do not exist for that origin yet or a filter matched nothing, "
      f"{len(errors)} errors")
if absent:
    print("  dashboards: series no lab origin has yet (TLS/DNS/HTTP checks): " + ", ".join(sorted(absent)))
sys.exit(1 if errors else 0)
EOF

# ---- assertion: the exporter going away alerts ------------------------------------------------------------
kill -TERM "$EXPORTER_PID"
wait "$EXPORTER_PID" 2>/dev/null || true
wait_alert OriginExporterDown "" 20 "Prometheus cannot scrape 127.0.0.1:$EXPORTER_PORT" "#exporter_down"

echo "e2e: $PASSED passed, $FAILED failed, $SKIPPED skipped in $((SECONDS - started))s"
((FAILED == 0))
